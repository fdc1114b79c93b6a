"""Stream (CBOR over ZeroMQ) to NXmx HDF5 in every layout (shared/spec/hdf5-format.md).

Imports only :mod:`stream` of ours.
"""

__all__: list[str] = []
