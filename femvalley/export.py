"""ParaView output of a study: VTU files of chosen states and an XDMF series over the sweep.

VTK has no complex type, so every two-valley state becomes real point data (on the vertices of
the k.p mesh, nm; densities in nm^-3, M-normalised states):

- ``psi_plus_abs2``, ``psi_minus_abs2``: |psi_+z|^2 and |psi_-z|^2;
- ``density``: their sum;
- ``psi_plus_re``, ``psi_plus_im``, ``psi_minus_re``, ``psi_minus_im``: Re and Im of both
  components. The global phase of an eigenstate is arbitrary; it is fixed so that the
  largest +z amplitude is real and positive, which keeps the series smooth;
- ``band_edge_meV``: U at that detuning; ``valley_splitting_ueV``: the map E_V = 2 |Delta|.

:func:`export_study` writes, from a study directory (``results.h5`` and the per-point state
files of :func:`femvalley.sweep.save_point_states`):

- ``paraview/state{j}_first.vtu`` and ``paraview/state{j}_last.vtu`` for the lowest states at
  both ends of the sweep;
- ``paraview/sweep.xdmf`` (+ ``sweep.h5``): a time series with the detuning (mV) as the time,
  holding the fields above for every stored state (``state{j}_...``), in single precision
  (the states are stored as complex64 per point).

Every file is written under a temporary name (the XDMF pair in a temporary directory, as the
XDMF file refers to its HDF5 file by name) and then renamed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "export_study",
    "state_point_data",
    "write_vtu",
    "write_xdmf_series",
]


def _fix_phase(psi: NDArray[np.complexfloating[Any, Any]]) -> NDArray[np.complex128]:
    """Multiply a (2, N) state by the phase that makes its largest +z amplitude real > 0."""
    psi = np.asarray(psi, dtype=np.complex128)
    j = int(np.argmax(np.abs(psi[0])))
    a = psi[0, j]
    return np.asarray(psi * (np.conj(a) / abs(a)) if abs(a) > 0 else psi, dtype=np.complex128)


def state_point_data(components: ArrayLike, *, prefix: str = "") -> dict[str, NDArray[np.float64]]:
    """Real point data of one two-valley state (components of shape (2, N))."""
    psi = _fix_phase(np.asarray(components))
    if psi.ndim != 2 or psi.shape[0] != 2:
        raise ValueError(f"components has shape {psi.shape}; need (2, nvertices)")
    plus, minus = psi
    out = {
        "psi_plus_abs2": np.abs(plus) ** 2,
        "psi_minus_abs2": np.abs(minus) ** 2,
        "psi_plus_re": plus.real,
        "psi_plus_im": plus.imag,
        "psi_minus_re": minus.real,
        "psi_minus_im": minus.imag,
    }
    out["density"] = out["psi_plus_abs2"] + out["psi_minus_abs2"]
    return {prefix + k: np.ascontiguousarray(v, dtype=np.float64) for k, v in out.items()}


def _cells(points: NDArray[np.float64], cells: NDArray[np.int64]) -> list[tuple[str, Any]]:
    kind = {4: "tetra", 3: "triangle"}.get(cells.shape[0])
    if kind is None:
        raise ValueError(f"cells has shape {cells.shape}; need (4, n) tetrahedra or (3, n)")
    return [(kind, np.ascontiguousarray(cells.T))]


def _points3(points_nm: ArrayLike) -> NDArray[np.float64]:
    """Points as (3, N): VTK stores 3-D points (a plane gets z = 0 here, not a warning)."""
    pts = np.asarray(points_nm, dtype=np.float64)
    if pts.shape[0] == 2:
        pts = np.vstack([pts, np.zeros((1, pts.shape[1]))])
    return pts


def write_vtu(
    path: str | Path,
    points_nm: ArrayLike,
    cells: ArrayLike,
    point_data: Mapping[str, ArrayLike],
) -> Path:
    """Write one VTU file (points (dim, N), cells (4 or 3, n)) atomically."""
    import meshio

    out = Path(path)
    pts = _points3(points_nm)
    m = meshio.Mesh(
        pts.T,
        _cells(pts, np.asarray(cells)),
        point_data={k: np.asarray(v) for k, v in point_data.items()},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.vtu")
    meshio.write(tmp, m, file_format="vtu")
    tmp.replace(out)
    return out


def write_xdmf_series(
    path: str | Path,
    points_nm: ArrayLike,
    cells: ArrayLike,
    times: ArrayLike,
    point_data: list[Mapping[str, ArrayLike]],
) -> Path:
    """Write an XDMF time series (``path`` and its HDF5 file next to it) atomically.

    The point data are written in single precision (float32).
    """
    import meshio

    out = Path(path)
    if out.suffix != ".xdmf":
        raise ValueError(f"path = {str(path)!r} must end in .xdmf")
    t = np.asarray(times, dtype=np.float64)
    if len(point_data) != t.size:
        raise ValueError(f"{len(point_data)} sets of point data for {t.size} times")
    pts = _points3(points_nm)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".xdmf-") as tmpdir:
        tmp = Path(tmpdir) / out.name
        # meshio's TimeSeriesWriter puts the HDF5 file in the working directory
        cwd = os.getcwd()
        os.chdir(tmpdir)
        try:
            with meshio.xdmf.TimeSeriesWriter(out.name) as writer:
                writer.write_points_cells(pts.T, _cells(pts, np.asarray(cells)))
                for ti, data in zip(t, point_data):
                    writer.write_data(
                        float(ti),
                        point_data={k: np.asarray(v, dtype=np.float32) for k, v in data.items()},
                    )
        finally:
            os.chdir(cwd)
        tmp.with_suffix(".h5").replace(out.with_suffix(".h5"))
        tmp.replace(out)
    return out


def export_study(out_dir: str | Path, *, n_states: int | None = None) -> list[Path]:
    """Write the ParaView files of a finished (or partly finished) study directory.

    Parameters
    ----------
    out_dir : str or Path
        The study directory (with ``results.h5``).
    n_states : int, optional
        How many of the lowest states to export (default: the study's ``output.vtu_states``,
        limited to what was stored).

    Returns
    -------
    list of Path
        The written files (in ``out_dir/paraview``).
    """
    from femvalley.sweep import STORE_NAME, load_point_states, read_results

    out = Path(out_dir)
    store = out / STORE_NAME
    if not store.exists():
        raise ValueError(f"{store} does not exist: run the study first (femvalley run)")
    res = read_results(store)
    mesh = res["mesh"]
    points, cells = mesh["points_nm"], mesh["cells"]
    u0 = np.asarray(mesh["band_edge_meV"])
    d = np.asarray(mesh["detuning_meV_per_mV"])
    ev = 2e3 * np.abs(np.asarray(mesh["delta_meV"]))
    states = res.get("states", {})
    stored = min((v.shape[0] for v in states.values()), default=0)
    want = n_states if n_states is not None else int(res["attrs"].get("vtu_states", stored))
    if isinstance(want, bool) or not isinstance(want, (int, np.integer)) or want < 0:
        raise ValueError(f"n_states = {n_states!r} must be an integer >= 0")
    pv = out / "paraview"
    written: list[Path] = []
    eps = np.asarray(res["detuning_mV"])
    ends = {"first": 0, "last": eps.size - 1}
    for end, comps in states.items():
        i = int(ends[end])
        for j in range(min(want, comps.shape[0])):
            fields = state_point_data(comps[j])
            fields["band_edge_meV"] = u0 + eps[i] * d
            fields["valley_splitting_ueV"] = ev
            written.append(write_vtu(pv / f"state{j}_{end}.vtu", points, cells, fields))
    series: list[dict[str, Any]] = []
    times: list[float] = []
    for i in (int(v) for v in np.flatnonzero(np.asarray(res["done"]) == 1)):
        comps = load_point_states(out, i)
        if comps is None:
            continue
        data: dict[str, Any] = {
            "band_edge_meV": u0 + eps[i] * d,
            "valley_splitting_ueV": ev,
        }
        for j in range(min(want, comps.shape[0])):
            data.update(state_point_data(comps[j], prefix=f"state{j}_"))
        series.append(data)
        times.append(float(eps[i]))
    if series and want > 0:
        order = np.argsort(times)
        written.append(
            write_xdmf_series(
                pv / "sweep.xdmf",
                points,
                cells,
                np.asarray(times)[order],
                [series[k] for k in order],
            )
        )
    return written
