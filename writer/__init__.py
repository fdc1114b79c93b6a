"""Stream (CBOR over ZeroMQ) to NXmx HDF5 in every layout (shared/spec/hdf5-format.md).

Imports only :mod:`stream` of ours.

- :class:`RunWriter`: the writer core, one run from decoded messages (in process);
- :class:`RunReader`: images and per-image results of a written run, any layout;
- :class:`WriterService` / ``jfwriter``: the ZeroMQ PULL service (see :mod:`writer.service`);
- :mod:`writer.layout`: the plain-data plans; :mod:`writer.materialize`: the only h5py writer.
"""

from jfjoch_hil.writer._run import REJECT_REASONS, RunResult, RunWriter
from jfjoch_hil.writer.errors import (
    FileExistsRefusedError,
    LayoutError,
    PrefixError,
    ReaderError,
    RunInputError,
    WriteError,
    WriterError,
)
from jfjoch_hil.writer.reader import RunReader, image_sources
from jfjoch_hil.writer.service import ServiceStatistics, WriterService

__all__ = [
    "REJECT_REASONS",
    "FileExistsRefusedError",
    "LayoutError",
    "PrefixError",
    "ReaderError",
    "RunInputError",
    "RunReader",
    "RunResult",
    "RunWriter",
    "ServiceStatistics",
    "WriteError",
    "WriterError",
    "WriterService",
    "image_sources",
]
