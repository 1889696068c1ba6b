"""ParaView output of a study: VTU files of chosen states and an XDMF series over the sweep.

VTK has no complex type, so every two-valley state becomes real point data (on the vertices of
the k.p mesh, nm; densities in nm^-3 (nm^-2 for the 2-D models), M-normalised states):

- ``psi_plus_abs2``, ``psi_minus_abs2``: |psi_+z|^2 and |psi_-z|^2;
- ``density``: their sum;
- ``psi_plus_re``, ``psi_plus_im``, ``psi_minus_re``, ``psi_minus_im``: Re and Im of both
  components. The global phase of an eigenstate is arbitrary; it is fixed so that the
  largest +z amplitude is real and positive, which keeps the series smooth;
- ``band_edge_meV``: U at that detuning; ``valley_splitting_ueV``: the map E_V = 2 |Delta|.

:func:`export_study` writes, from a study directory (``results.h5`` and the per-point state
files of :func:`femvalley.io.results.save_point_states`):

- ``paraview/state{j}_first.vtu`` and ``paraview/state{j}_last.vtu`` for the lowest states at
  both ends of the sweep;
- ``paraview/sweep.xdmf`` (+ ``sweep.h5``): a time series with the detuning (mV) as the time,
  one grid per sweep point, holding the fields above for the requested states
  (``state{j}_...``), in single precision. The states of each point come from
  ``states/point_NNNNN.npy`` (the study's ``output.vtu_states`` lowest states); when more are
  requested and the study has a reduced basis (``basis.h5``), every state of the point comes
  from that basis (:class:`femvalley.states.StudyStates`).

Every file is written under a temporary name and then renamed
(:mod:`femvalley.io.paraview`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.io.paraview import write_vtu, write_xdmf_series

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


def export_study(
    out_dir: str | Path,
    *,
    n_states: int | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the ParaView files of a finished (or partly finished) study directory.

    Parameters
    ----------
    out_dir : str or Path
        The study directory (with ``results.h5``).
    n_states : int, optional
        How many of the lowest states to export (default: the study's ``output.vtu_states``).
        More states than each point stored come from the study's reduced basis
        (``basis.h5``); without one, the series holds what was stored and ``on_note`` says so.
    on_note : callable, optional
        Receives one-line notes for the user (the CLI prints them on stderr).

    Returns
    -------
    list of Path
        The written files (in ``out_dir/paraview``).
    """
    out = Path(out_dir)
    res = _read_study(out)
    mesh = res["mesh"]
    points, cells = mesh["points_nm"], mesh["cells"]
    u0 = np.asarray(mesh["band_edge_meV"])
    d = np.asarray(mesh["detuning_meV_per_mV"])
    ev = 2e3 * np.abs(np.asarray(mesh["delta_meV"]))
    states = res.get("states", {})
    want = _states_wanted(res, n_states)
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
    if want == 0:
        return written
    times, series = [], []
    for i, comps in _series_states(out, res, want, on_note):
        data: dict[str, Any] = {"band_edge_meV": u0 + eps[i] * d}
        for j in range(min(want, comps.shape[0])):
            data.update(state_point_data(comps[j], prefix=f"state{j}_"))
        series.append(data)
        times.append(float(eps[i]))
    if series:
        order = np.argsort(times)
        written.append(
            write_xdmf_series(
                pv / "sweep.xdmf",
                points,
                cells,
                np.asarray(times)[order],
                [series[k] for k in order],
                static_data={"valley_splitting_ueV": ev},
            )
        )
    return written


def _read_study(out: Path) -> dict[str, Any]:
    """Read the results store of a study directory, checked for what the export needs."""
    from femvalley.io.results import STORE_NAME, read_results

    store = out / STORE_NAME
    if not store.exists():
        raise ValueError(f"{store} does not exist: run the study first (femvalley run)")
    res = read_results(store)
    missing = [k for k in ("mesh", "detuning_mV", "done", "energies_meV") if k not in res]
    if not missing:
        needed = ("points_nm", "cells", "band_edge_meV", "detuning_meV_per_mV", "delta_meV")
        mesh_data = res["mesh"] if isinstance(res["mesh"], dict) else {}
        missing = [f"mesh/{k}" for k in needed if k not in mesh_data]
    if missing:
        raise ValueError(
            f"{store} is incomplete (no {missing[0]!r}); it may be damaged or from another "
            "program: move it away or start a new --out"
        )
    return res


def _states_wanted(res: dict[str, Any], n_states: int | None) -> int:
    """How many states to export: ``n_states``, else the study's ``vtu_states`` (checked)."""
    states = res.get("states", {})
    stored = min((v.shape[0] for v in states.values()), default=0)
    want = n_states if n_states is not None else int(res["attrs"].get("vtu_states", stored))
    if isinstance(want, bool) or not isinstance(want, (int, np.integer)) or want < 0:
        raise ValueError(f"n_states = {n_states!r} must be an integer >= 0")
    n_study = int(np.asarray(res["energies_meV"]).shape[1])
    if want > n_study:
        raise ValueError(
            f"n_states = {want}: the study computed {n_study} states; ask for at most {n_study}"
        )
    return int(want)


def _series_states(
    out: Path, res: dict[str, Any], want: int, on_note: Callable[[str], None] | None
) -> Iterator[tuple[int, NDArray[Any]]]:
    """``(point, states)`` of every done point: stored per point, else from ``basis.h5``."""
    from femvalley.io.results import load_point_states

    nvert = int(np.asarray(res["mesh"]["points_nm"]).shape[1])
    eps = np.asarray(res["detuning_mV"])
    basis: Any = None
    short = 0
    for i in (int(v) for v in np.flatnonzero(np.asarray(res["done"]) == 1)):
        comps = load_point_states(out, i)
        if comps is None or comps.shape[0] < want:
            if basis is None and (out / "basis.h5").exists():
                from femvalley.states import StudyStates

                basis = StudyStates.load(out)
            if basis is not None:
                comps = basis.at(float(eps[i]), n_states=want).states[:, :, :nvert]
            elif comps is None:
                continue
            else:
                short += 1
        yield i, comps
    if short and on_note is not None:
        on_note(
            f"the series holds fewer than {want} states at {short} point(s): the study "
            "stored fewer per point (output.vtu_states) and has no reduced basis (basis.h5)"
        )
