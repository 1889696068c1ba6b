"""Files of femvalley runs: output-directory locks, damaged stores."""

from femvalley.io.atomic import DirectoryLock, OutputBusyError
from femvalley.io.hdf5 import CorruptStoreError, read_csr, read_store, write_csr

__all__ = [
    "CorruptStoreError",
    "DirectoryLock",
    "OutputBusyError",
    "read_csr",
    "read_store",
    "write_csr",
]
