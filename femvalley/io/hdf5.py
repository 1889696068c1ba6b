"""Reading femvalley's HDF5 stores with one clear error for a damaged file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CorruptStoreError", "read_csr", "read_store", "write_csr"]


class CorruptStoreError(ValueError):
    """A store exists but cannot be read (empty, truncated, not HDF5, or missing data)."""


@contextmanager
def read_store(path: str | Path, what: str) -> Iterator[Any]:
    """Open an HDF5 store for reading; a damaged file raises :class:`CorruptStoreError`.

    Any failure to open the file or to read what the ``with`` block reads (an empty or
    truncated file, another format, a missing dataset or attribute) becomes one error that
    names the file, the cause and what to do.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for the message (e.g. ``"results store"``).
    """
    import h5py

    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            yield f
    except (OSError, KeyError) as err:
        cause = str(err).strip().strip("\"'") or type(err).__name__
        if isinstance(err, KeyError):
            cause = f"missing {cause}"
        raise CorruptStoreError(
            f"{p} is not a readable {what} ({cause}); it may be damaged or from another "
            "program: move it away or start a new --out"
        ) from err


def write_csr(parent: Any, name: str, matrix: Any) -> Any:
    """Store a sparse matrix as the group ``name``: ``data``, ``indices``, ``indptr``, ``shape``."""
    m = matrix.tocsr()
    g = parent.create_group(name)
    g.create_dataset("data", data=m.data)
    g.create_dataset("indices", data=m.indices)
    g.create_dataset("indptr", data=m.indptr)
    g.attrs["shape"] = m.shape
    return g


def read_csr(group: Any) -> Any:
    """Read a matrix written by :func:`write_csr` (scipy.sparse.csr_matrix)."""
    import scipy.sparse as sp

    return sp.csr_matrix(
        (group["data"][...], group["indices"][...], group["indptr"][...]),
        shape=tuple(int(x) for x in group.attrs["shape"]),
    )
