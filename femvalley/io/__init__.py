"""Files of femvalley runs: output-directory locks, damaged stores, ParaView files."""

from femvalley.io.atomic import DirectoryLock, OutputBusyError
from femvalley.io.hdf5 import CorruptStoreError, read_csr, read_store, write_csr
from femvalley.io.paraview import write_vtu, write_xdmf_series

__all__ = [
    "CorruptStoreError",
    "DirectoryLock",
    "OutputBusyError",
    "read_csr",
    "read_store",
    "write_csr",
    "write_vtu",
    "write_xdmf_series",
]
