"""Conformance checks of NXmx HDF5 files and CBOR streams against the specs.

Never imports :mod:`writer` or :mod:`simulator`: rules come from shared/spec, so a writer bug
cannot hide by agreeing with itself.
"""

__all__: list[str] = []
