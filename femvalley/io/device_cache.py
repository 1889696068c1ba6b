"""A cache of device meshes and their gate potentials, shared by every run on this machine.

Meshing a device and solving its gates once per gate are the slowest steps of a small study
and depend only on the resolved device description and the degree of the electrostatics. A
geometry ensemble, a study run again, or a study of another model on the same device finds
them here instead of computing them again.

An entry is one ``.npz`` file named by its key: the SHA-256 of the resolved description's
tables, the degree, the format version, and the source of the code that makes meshes and
potentials (so editing the mesher or the solver invalidates every entry). It holds the
labelled meshio mesh (points, cells, groups) and the potentials' arrays; nothing in it is
executable (``allow_pickle=False``). Files are written to a temporary name and renamed, so
concurrent runs never read half an entry; an entry that cannot be read is rebuilt and
replaced, and a cache that cannot be written is skipped with a note: the cache never stops a
run.

Where: ``$FEMVALLEY_CACHE_DIR``, else ``$XDG_CACHE_HOME/femvalley``, else
``~/.cache/femvalley`` (the ``devices/`` folder in it). ``FEMVALLEY_NO_CACHE=1`` turns it off
(``femvalley run --no-cache``). An entry of the Tunnel Falls-like device at its default sizes
takes about 25 MB; delete the folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.electrostatics import GatePotentials
from femvalley.io.atomic import atomic_path

__all__ = [
    "CACHE_DIR_ENV",
    "CODE_MODULES",
    "FORMAT",
    "NO_CACHE_ENV",
    "cache_directory",
    "device_key",
    "load_device",
    "store_device",
]

CACHE_DIR_ENV = "FEMVALLEY_CACHE_DIR"
NO_CACHE_ENV = "FEMVALLEY_NO_CACHE"

#: bump when the layout of an entry changes
FORMAT = 1

#: the modules whose source decides the meshes and the potentials
CODE_MODULES = (
    "geometries.description",
    "geometries.mesher",
    "geometries._gmsh",
    "geometries._grid",
    "femvalley.mesh",
    "femvalley.forms",
    "femvalley.electrostatics",
    "femvalley.materials",
    "femvalley.io.device_cache",
)


def cache_directory() -> Path | None:
    """Return the folder of the device cache, or None when it is turned off."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    base = os.environ.get(CACHE_DIR_ENV, "").strip()
    if base:
        return Path(base) / "devices"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "femvalley" / "devices"


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """Return the SHA-256 of the code that makes meshes and potentials.

    The source of :data:`CODE_MODULES` (read from the files, nothing imported) and the
    versions of the libraries that mesh and solve.
    """
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    for name in CODE_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        h.update(name.encode())
        h.update(Path(origin).read_bytes() if origin else b"missing")
    for package in ("gmsh", "pygmsh", "scikit-fem", "numpy", "scipy", "meshio"):
        try:
            h.update(f"{package}={version(package)}".encode())
        except PackageNotFoundError:
            h.update(f"{package}=none".encode())
    return h.hexdigest()


def device_key(description: Mapping[str, Any], *, electrostatics_order: int) -> str:
    """Return the key of a device's entry.

    It hashes the description's tables (``DeviceDescription.to_dict()``), the degree of the
    electrostatics and the code that meshes and solves.
    """
    payload = {
        "format": FORMAT,
        "description": description,
        "electrostatics_order": electrostatics_order,
        "code": _code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _entry(key: str) -> Path | None:
    folder = cache_directory()
    return None if folder is None else folder / f"{key}.npz"


def load_device(
    key: str, *, convert: Callable[[Any], Any], note: Callable[[str], None] | None = None
) -> tuple[Any, GatePotentials] | None:
    """Return the cached ``(mesh, potentials)`` of ``key``, or None.

    ``convert`` turns the meshio mesh into the scikit-fem mesh the potentials live on
    (:func:`femvalley.mesh.from_meshio`). An entry that cannot be read is reported through
    ``note`` and treated as missing.
    """
    import meshio

    path = _entry(key)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["format"]) != FORMAT or str(f["key"]) != key:
                raise ValueError("another format or key")
            types = [str(t) for t in f["cell_types"]]
            cells = [meshio.CellBlock(t, f[f"cells_{i}"]) for i, t in enumerate(types)]
            sets = {
                str(name): [f[f"set_{j}_{i}"] for i in range(len(types))]
                for j, name in enumerate(f["set_names"])
            }
            m = meshio.Mesh(f["points"], cells, cell_sets=sets)
            mesh = convert(m)
            order = int(f["order"])
            gp = GatePotentials(
                mesh=mesh,
                gates=tuple(str(g) for g in f["gates"]),
                unit_V=f["unit_V"],
                offset_V=f["offset_V"],
                work_function_offset_V={
                    str(g): float(v) for g, v in zip(f["wf_gates"], f["wf_values"])
                },
                timings_s={},
                edge_unit_V=f["edge_unit_V"] if order == 2 else None,
                edge_offset_V=f["edge_offset_V"] if order == 2 else None,
                element_edges=f["element_edges"] if order == 2 else None,
            )
    except Exception as err:  # a damaged or foreign file: rebuild it
        if note is not None:
            note(f"device cache: {path} could not be read ({err}); meshing again")
        return None
    return mesh, gp


def store_device(
    key: str, meshio_mesh: Any, potentials: GatePotentials, *, note: Callable[[str], None]
) -> Path | None:
    """Write an entry (atomically) and return its path.

    Returns None if the cache is off or the write failed (reported through ``note``: the
    run goes on).
    """
    path = _entry(key)
    if path is None:
        return None
    m, gp = meshio_mesh, potentials
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "key": np.array(key),
        "points": np.asarray(m.points),
        "cell_types": np.array([b.type for b in m.cells]),
        "set_names": np.array(list(m.cell_sets), dtype=str),
        "order": np.array(gp.order),
        "gates": np.array(gp.gates, dtype=str),
        "unit_V": gp.unit_V,
        "offset_V": gp.offset_V,
        "wf_gates": np.array(list(gp.work_function_offset_V), dtype=str),
        "wf_values": np.array(list(gp.work_function_offset_V.values()), dtype=float),
    }
    for i, b in enumerate(m.cells):
        arrays[f"cells_{i}"] = np.asarray(b.data)
    for j, blocks in enumerate(m.cell_sets.values()):
        for i, ix in enumerate(blocks):
            arrays[f"set_{j}_{i}"] = np.asarray(ix if ix is not None else [], dtype=np.int64)
    if gp.order == 2:
        arrays["edge_unit_V"] = gp.edge_unit_V
        arrays["edge_offset_V"] = gp.edge_offset_V
        arrays["element_edges"] = gp.element_edges
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as err:
        note(f"device cache: could not write {path} ({err.strerror or err}); not cached")
        return None
    return path
