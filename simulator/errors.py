"""Errors of the simulator package (STYLE.md "Errors"). Each subclasses the builtin a caller catches."""

from __future__ import annotations

__all__ = [
    "HeaderFieldError",
    "DetectorModelError",
    "PacketLayoutError",
    "FaultPlanError",
    "CalibrationError",
    "TransportError",
    "SceneError",
    "AnalysisError",
]


class HeaderFieldError(ValueError):
    """A UDP header field is unknown or out of range (detectors.md §1, §2.5)."""


class DetectorModelError(ValueError):
    """A detector model or catalogue entry has an impossible setting (detectors.md §2, §3, §6.2)."""


class PacketLayoutError(ValueError):
    """Frame or packet buffers do not match the model's packet layout (detectors.md §2.3, §3.3)."""


class FaultPlanError(ValueError):
    """A fault plan setting is out of range (detectors.md §6.1 "Timing and loss")."""


class CalibrationError(ValueError):
    """Pedestal / gain arrays do not match the detector (detectors.md §4.3, §4.4)."""


class TransportError(OSError):
    """A UDP or direct transport could not be set up or used (detectors.md §2.9)."""


class SceneError(ValueError):
    """A scene setting (geometry, crystal, scan, background) is out of range (docs/physics.md)."""


class AnalysisError(ValueError):
    """An image or analysis setting does not fit the geometry (hdf5-format.md §4.1-4.6)."""
