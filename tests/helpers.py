"""Test helpers shared by several test modules.

:func:`write_read` is the one round-trip helper for every store femvalley writes: save an
object, load it back, and let :func:`assert_same` compare them field by field (arrays bit for
bit, NaN where NaN, sparse matrices by their entries, mappings recursively).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp


def write_read(
    obj: Any,
    path: Path,
    *,
    save: Callable[[Any, Path], Any] | None = None,
    load: Callable[[Path], Any] | None = None,
) -> Any:
    """Write ``obj`` to ``path`` and read it back (``obj.save`` / ``type(obj).load`` by default)."""
    (save or (lambda o, p: o.save(p)))(obj, path)
    return (load or type(obj).load)(path)


def assert_same(a: Any, b: Any, where: str = "value", *, skip: tuple[str, ...] = ()) -> None:
    """Assert that two records, mappings, arrays or scalars hold the same data."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
        for f in dataclasses.fields(a):
            if f.name not in skip:
                assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping), f"{where}: mapping against {type(b).__name__}"
        assert set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif sp.issparse(a):
        assert sp.issparse(b) and a.shape == b.shape, f"{where}: sparse shapes differ"
        assert (sp.csr_matrix(a) != sp.csr_matrix(b)).nnz == 0, f"{where}: entries differ"
    elif isinstance(a, (np.ndarray, list, tuple)):
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape, f"{where}: shape {x.shape} != {y.shape}"
        if x.dtype.kind in "fc":
            np.testing.assert_array_equal(x, y, err_msg=where)  # NaN equals NaN here
        else:
            assert x.tolist() == y.tolist(), f"{where}: {x.tolist()} != {y.tolist()}"
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{where}: nan != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
