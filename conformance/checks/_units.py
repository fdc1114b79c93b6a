"""Units accepted per NeXus units category (nxmx-rules.md C10) and per extension unit (hdf5-format.md §5).

Declared once as tables; matching is exact after trimming, so ``mm`` is a length and ``mmm`` is not.
"""

from __future__ import annotations

__all__ = ["CATEGORY_UNITS", "EXTENSION_UNITS", "unit_fits", "PIXEL_FIELDS"]

_LENGTH = {
    "m",
    "mm",
    "um",
    "µm",
    "micron",
    "microns",
    "nm",
    "cm",
    "pm",
    "angstrom",
    "Angstrom",
    "A",
    "Å",
    "meter",
    "meters",
    "metre",
    "metres",
    "millimeter",
    "millimetre",
    "micrometer",
    "micrometre",
}
_ANGLE = {"deg", "degree", "degrees", "rad", "radian", "radians", "mrad", "urad", "µrad"}

CATEGORY_UNITS: dict[str, frozenset[str] | None] = {
    "NX_LENGTH": frozenset(_LENGTH),
    "NX_WAVELENGTH": frozenset({"angstrom", "Angstrom", "A", "Å", "nm", "m", "pm", "um"}),
    "NX_TIME": frozenset(
        {"s", "ms", "us", "µs", "ns", "ps", "second", "seconds", "sec", "min", "h"}
    ),
    "NX_ENERGY": frozenset({"eV", "keV", "MeV", "meV", "J"}),
    "NX_TEMPERATURE": frozenset({"K", "mK", "C", "degC", "celsius"}),
    "NX_FREQUENCY": frozenset({"Hz", "kHz", "MHz", "GHz", "1/s", "s^-1", "s-1"}),
    "NX_ANGLE": frozenset(_ANGLE),
    "NX_CURRENT": frozenset({"A", "mA", "uA", "µA", "nA"}),
    "NX_FLUX": frozenset(
        {
            "1/s/m^2",
            "1/s/mm^2",
            "s^-1 m^-2",
            "s-1 m-2",
            "s^-1.m^-2",
            "Hz/m^2",
            "Hz/mm^2",
            "photons/s/m^2",
            "photons/s/mm^2",
        }
    ),
    "NX_PER_AREA": frozenset({"1/m^2", "m^-2", "m-2", "1/mm^2", "mm^-2", "1/cm^2", "cm^-2"}),
    # Unitless categories need no units attribute (C10); any value is accepted when present.
    "NX_UNITLESS": None,
    "NX_DIMENSIONLESS": None,
}

# Fields whose NX_LENGTH may be expressed in pixels (nxmx-rules.md, beam_center_x/y notes).
PIXEL_FIELDS = frozenset({"beam_center_x", "beam_center_y"})

# Extension units of hdf5-format.md §4/§5, each with the spellings taken as the same unit.
EXTENSION_UNITS: dict[str, frozenset[str]] = {
    "pixel": frozenset({"pixel", "pixels", "px"}),
    "photons": frozenset({"photons", "photon", "counts"}),
    "Angstrom^-1": frozenset(
        {"Angstrom^-1", "angstrom^-1", "1/Angstrom", "1/angstrom", "A^-1", "Å^-1", "Angstrom-1"}
    ),
    "Angstrom^2": frozenset({"Angstrom^2", "angstrom^2", "A^2", "Å^2", "Angstrom2"}),
    "Angstrom": frozenset({"Angstrom", "angstrom", "A", "Å"}),
    "deg": frozenset({"deg", "degree", "degrees"}),
    "s": frozenset({"s", "second", "seconds"}),
    "eV": frozenset({"eV"}),
    "m": frozenset({"m"}),
}


def unit_fits(category: str, units: str | None, field_name: str = "") -> bool | None:
    """True/False when ``units`` fits ``category``; None when the category is unknown to this table."""
    if category not in CATEGORY_UNITS:
        return None
    allowed = CATEGORY_UNITS[category]
    if allowed is None:
        return True
    if units is None:
        return False
    u = units.strip()
    if category == "NX_LENGTH" and field_name in PIXEL_FIELDS and u in EXTENSION_UNITS["pixel"]:
        return True
    return u in allowed
