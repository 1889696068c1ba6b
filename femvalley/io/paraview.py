"""ParaView files: VTU meshes with point data, and XDMF time series over one mesh.

Both are written under temporary names and renamed, so a reader never sees half a file.

The XDMF series (version 3 XML next to one HDF5 file) has exactly one grid per time step: the
domain holds a single temporal collection whose uniform grids all refer to the same points and
cells in the HDF5 file (``/mesh/points``, ``/mesh/cells``) and to their own point data
(``/step{i}/{name}``). ParaView's and VTK's XDMF readers therefore see one block per step, and
meshio's ``TimeSeriesReader`` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.io.atomic import atomic_path

__all__ = ["points3", "write_vtu", "write_xdmf_series"]

#: VTK/meshio and XDMF names of the cells femvalley meshes have (by nodes per cell)
_MESHIO_CELL = {4: "tetra", 3: "triangle"}
_XDMF_CELL = {4: "Tetrahedron", 3: "Triangle"}


def points3(points_nm: ArrayLike) -> NDArray[np.float64]:
    """Points as (3, N): VTK stores 3-D points (a plane gets z = 0 here, not a warning)."""
    pts = np.asarray(points_nm, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] not in (2, 3):
        raise ValueError(f"points have shape {pts.shape}; need (2, N) or (3, N)")
    if pts.shape[0] == 2:
        pts = np.vstack([pts, np.zeros((1, pts.shape[1]))])
    return pts


def _cells(cells: ArrayLike, points: NDArray[np.float64]) -> NDArray[np.int64]:
    """Cells (4 or 3, n), tetrahedra turned positively (VTK integrates signed volumes)."""
    c = np.asarray(cells, dtype=np.int64)
    if c.ndim != 2 or c.shape[0] not in _MESHIO_CELL:
        raise ValueError(f"cells have shape {c.shape}; need (4, n) tetrahedra or (3, n) triangles")
    if c.shape[0] == 4:
        a, b, cc, d = (points[:, c[i]] for i in range(4))
        det = np.einsum("in,in->n", b - a, np.cross(cc - a, d - a, axis=0))
        flip = det < 0
        if np.any(flip):
            c = c.copy()
            c[2, flip], c[3, flip] = c[3, flip], c[2, flip].copy()
    return c


def write_vtu(
    path: str | Path,
    points_nm: ArrayLike,
    cells: ArrayLike,
    point_data: Mapping[str, ArrayLike],
) -> Path:
    """Write one VTU file (points (dim, N), cells (4 or 3, n)) atomically."""
    import meshio

    out = Path(path)
    pts = points3(points_nm)
    c = _cells(cells, pts)
    m = meshio.Mesh(
        pts.T,
        [(_MESHIO_CELL[c.shape[0]], np.ascontiguousarray(c.T))],
        point_data={k: np.asarray(v) for k, v in point_data.items()},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".vtu") as tmp:
        meshio.write(tmp, m, file_format="vtu")
    return out


def _data_item(parent: ET.Element, h5name: str, dataset: str, array: NDArray[Any]) -> None:
    kind = "Int" if np.issubdtype(array.dtype, np.integer) else "Float"
    item = ET.SubElement(
        parent,
        "DataItem",
        Dimensions=" ".join(str(n) for n in array.shape),
        NumberType=kind,
        Precision=str(array.dtype.itemsize),
        Format="HDF",
    )
    item.text = f"{h5name}:{dataset}"


def _point_values(values: ArrayLike, n: int, what: str) -> NDArray[np.float32]:
    v = np.asarray(values, dtype=np.float32)
    if v.shape != (n,):
        raise ValueError(f"{what} has shape {v.shape}; need ({n},), one value per point")
    return v


def write_xdmf_series(
    path: str | Path,
    points_nm: ArrayLike,
    cells: ArrayLike,
    times: ArrayLike,
    point_data: Sequence[Mapping[str, ArrayLike]],
    *,
    static_data: Mapping[str, ArrayLike] | None = None,
) -> Path:
    """Write an XDMF time series (``path`` and its HDF5 file next to it) atomically.

    Parameters
    ----------
    path : str or Path
        The ``.xdmf`` file; the data go to the ``.h5`` file of the same name.
    points_nm : array (dim, N)
    cells : array (4 or 3, n)
    times : array (T,)
        The time value of every step (femvalley: the detuning in mV).
    point_data : sequence of T mappings
        Name -> (N,) values at every step, written in single precision (float32).
    static_data : mapping, optional
        Name -> (N,) values that are the same at every step: written once (``/mesh/NAME``)
        and shown at every step.
    """
    import h5py

    out = Path(path)
    if out.suffix != ".xdmf":
        raise ValueError(f"path = {str(path)!r} must end in .xdmf")
    t = np.asarray(times, dtype=np.float64).ravel()
    if len(point_data) != t.size:
        raise ValueError(f"{len(point_data)} sets of point data for {t.size} times")
    pts3 = points3(points_nm)
    pts = np.ascontiguousarray(pts3.T)
    c = np.ascontiguousarray(_cells(cells, pts3).T)
    h5 = out.with_suffix(".h5")
    out.parent.mkdir(parents=True, exist_ok=True)

    root = ET.Element("Xdmf", Version="3.0")
    domain = ET.SubElement(root, "Domain")
    series = ET.SubElement(
        domain, "Grid", Name="series", GridType="Collection", CollectionType="Temporal"
    )
    # the heavy data first, then the XDMF that points to it: each appears whole
    with atomic_path(h5) as tmp_h5, h5py.File(tmp_h5, "w") as f:
        f.create_dataset("mesh/points", data=pts)
        f.create_dataset("mesh/cells", data=c)
        static: dict[str, NDArray[np.float32]] = {}
        for name, values in (static_data or {}).items():
            static[name] = _point_values(values, pts.shape[0], f"static data {name!r}")
            f.create_dataset(f"mesh/{name}", data=static[name])
        for i, (ti, data) in enumerate(zip(t, point_data)):
            grid = ET.SubElement(series, "Grid", Name=f"step{i}", GridType="Uniform")
            ET.SubElement(grid, "Time", Value=repr(float(ti)))
            topo = ET.SubElement(
                grid,
                "Topology",
                TopologyType=_XDMF_CELL[c.shape[1]],
                NumberOfElements=str(c.shape[0]),
            )
            _data_item(topo, h5.name, "/mesh/cells", c)
            geo = ET.SubElement(grid, "Geometry", GeometryType="XYZ")
            _data_item(geo, h5.name, "/mesh/points", pts)
            for name, sv in static.items():
                attr = ET.SubElement(
                    grid, "Attribute", Name=name, AttributeType="Scalar", Center="Node"
                )
                _data_item(attr, h5.name, f"/mesh/{name}", sv)
            for name, values in data.items():
                v = _point_values(values, pts.shape[0], f"point data {name!r} at step {i}")
                dataset = f"/step{i}/{name}"
                f.create_dataset(dataset, data=v)
                attr = ET.SubElement(
                    grid, "Attribute", Name=name, AttributeType="Scalar", Center="Node"
                )
                _data_item(attr, h5.name, dataset, v)
    ET.indent(root)
    with atomic_path(out) as tmp_xdmf:
        ET.ElementTree(root).write(tmp_xdmf, encoding="utf-8", xml_declaration=True)
    return out
