"""Reading femvalley's HDF5 stores with one clear error for a damaged file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

__all__ = [
    "CorruptStoreError",
    "InPlaceStore",
    "read_csr",
    "read_datasets",
    "read_store",
    "write_csr",
    "write_datasets",
]


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


def write_datasets(
    path: str | Path,
    datasets: Mapping[str, tuple[str, str]],
    arrays: Mapping[str, Any],
    *,
    attrs: Mapping[str, Any],
    layout_version: int,
) -> Path:
    """Write a small store that is written once, atomically (a temporary file renamed).

    Every dataset of ``datasets`` (name -> (units, description), both written as the
    dataset's attributes), the root ``attrs`` and ``layout_version``.
    """
    import h5py
    import numpy as np

    from femvalley.io.atomic import atomic_path

    missing = sorted(set(datasets) - set(arrays))
    if missing:
        raise ValueError(f"arrays missing from the store: {missing}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["layout_version"] = layout_version
        for key, value in attrs.items():
            f.attrs[key] = value
        for name, (units, text) in datasets.items():
            ds = f.create_dataset(name, data=np.asarray(arrays[name]))
            ds.attrs["units"] = units
            ds.attrs["description"] = text
    return Path(path)


def read_datasets(
    path: str | Path, datasets: Mapping[str, tuple[str, str]], what: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the arrays and root attributes of a store of :func:`write_datasets`."""
    import numpy as np

    with read_store(path, what) as f:
        arrays = {name: np.asarray(f[name][()]) for name in datasets}
        attrs: dict[str, Any] = {}
        for key, value in f.attrs.items():
            if key == "layout_version":
                continue
            attrs[key] = value.tolist() if isinstance(value, np.ndarray) else value
            if isinstance(attrs[key], np.generic):
                attrs[key] = attrs[key].item()
            if isinstance(attrs[key], bytes):
                attrs[key] = attrs[key].decode()
    return arrays, attrs


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


_Store = TypeVar("_Store", bound="InPlaceStore")


class InPlaceStore:
    """An HDF5 store opened for writing in place, for the duration of a ``with`` block.

    The base of the result stores (:class:`femvalley.io.results.ResultsStore`,
    :class:`femvalley.io.ensemble.EnsembleStore`): created whole once, then only raw data are
    written. No HDF5 file lock is taken: the output directory's lock
    (:class:`femvalley.io.DirectoryLock`) keeps other writers out, and a reader (h5py in a
    notebook) must neither block the run nor be blocked by it; since the structure never
    changes after creation, a reader never sees it half-written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: Any = None

    @property
    def file(self) -> Any:
        """The open ``h5py.File`` (inside the ``with`` block only)."""
        if self._file is None:
            raise RuntimeError(f"{type(self).__name__} is written inside its with block only")
        return self._file

    def __enter__(self: _Store) -> _Store:
        import h5py

        self._file = h5py.File(self.path, "r+", locking=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()
