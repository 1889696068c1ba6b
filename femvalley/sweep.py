"""Detuning sweeps: build once, solve per point with warm starts, checkpoint every point.

:func:`build_system` does everything that does not depend on the detuning, once: the device
mesh, one Poisson solve per gate, the quantum sub-mesh, the valley map, and the k.p operators
``H(eps) = H0 + eps D`` with ``D = -1000 sum_g w_g phi_g / 1000`` (meV per mV of detuning).
:func:`run_study` then solves the lowest states at every detuning point (no Poisson solve and
no assembly per point), each warm-started from the previous one, and writes every finished
point to the results store before the next starts.

Results store (``results.h5``, HDF5, readable with plain h5py; layout version 1)
-------------------------------------------------------------------------------
datasets (P points, k states):

- ``detuning_mV`` (P,), ``done`` (P,) uint8 (1 when the point is finished and stored);
- ``energies_meV`` (P, k), ascending per point (NaN where not done);
- ``valley_polarization`` (P, k): <tau_z> = w(+z) - w(-z);
- ``dot_weight`` (P, k, 2): probability in ``dot_L`` and ``dot_R``;
- ``x_mean_nm``, ``y_mean_nm``, ``x_std_nm``, ``y_std_nm`` (P, k): centre and size;
- ``solve_s`` (P,): wall time of each point;
- ``states/first`` and ``states/last`` (k, 2, N) complex: the states at both sweep ends, on
  the vertices of the quantum sub-mesh ``mesh/points_nm`` (3, N) / ``mesh/cells`` (4, ncells);
  ``mesh/band_edge_meV`` (N,) at zero detuning and ``mesh/delta_meV`` (N,) complex.

attributes of the root: ``layout_version``, ``config_toml`` (the resolved study), ``config_sha256``,
``femvalley_version``, ``seed``, ``n_states``, ``setup_s`` (mesh + Poisson + assembly).

Every write goes to ``results.h5.tmp`` and is renamed over ``results.h5``: a killed run leaves
the last complete checkpoint. ``spectrum.csv`` (``detuning_mV,E0_meV,E1_meV,...``) is written
the same way at the end.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.analysis import StateObservables
from femvalley.config import StudyConfig
from femvalley.eigen import EigenResult, solve
from femvalley.electrostatics import GatePotentials, solve_gates
from femvalley.kp import KPOperators, assemble, make_basis, two_valley_model
from femvalley.materials import get_material
from femvalley.mesh import SubMesh, from_meshio, submesh
from femvalley.valley_map import ValleyGrid, valley_map_on_nodes

__all__ = ["StudySystem", "build_system", "run_study", "read_results", "STORE_NAME"]

STORE_NAME = "results.h5"
LAYOUT_VERSION = 1
_PER_STATE = ("valley_polarization", "x_mean_nm", "y_mean_nm", "x_std_nm", "y_std_nm")


@dataclass(frozen=True, eq=False)
class StudySystem:
    """Everything of a study that does not depend on the detuning (built once)."""

    config: StudyConfig
    device_mesh: Any
    gates: GatePotentials
    sub: SubMesh
    basis: Any
    operators: KPOperators
    delta_meV: NDArray[np.complex128]
    valley_grid: ValleyGrid
    band_edge_meV: NDArray[np.float64]  # at zero detuning, at the sub-mesh vertices
    detuning_meV_per_mV: NDArray[np.float64]  # D at the sub-mesh vertices
    observables: StateObservables
    timings_s: dict[str, float]

    def solve(self, detuning_mV: float, *, warm_start: EigenResult | None = None) -> EigenResult:
        """Lowest ``n_states`` states at one detuning (mV)."""
        return solve(
            self.operators,
            k=self.config.solver.n_states,
            scales={"detuning": float(detuning_mV)},
            backend=self.config.solver.backend,  # type: ignore[arg-type]
            warm_start=warm_start,
        )


def build_system(config: StudyConfig) -> StudySystem:
    """Mesh, gate electrostatics, quantum region, valley map and k.p operators, once."""
    dev = config.device.module
    params = config.device.build_params()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    mesh = from_meshio(dev.build(params), dim=3)
    timings["mesh"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gp = solve_gates(mesh, permittivity=dev.MATERIALS, gates=dev.GATES)
    timings["electrostatics"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sub = submesh(mesh, "quantum")
    basis = make_basis(sub.mesh, element=config.solver.element)
    # material layers of the quantum region (the groups that are materials)
    layers = {r: m for r, m in dev.MATERIALS.items() if r in (sub.mesh.subdomains or {})}
    offsets = {r: get_material(m).band_offset_meV for r, m in layers.items()}
    volts = config.voltages(0.0)
    u_qp = gp.band_edge_meV(volts, band_offset_meV=offsets, basis=basis, node_map=sub.node_map)
    phi = gp.unit_V[:, sub.node_map]
    weights = config.detuning_weights()
    d_vertex = -sum(w * phi[gp.gates.index(g)] for g, w in weights.items())  # meV per mV
    d_vertex = np.asarray(d_vertex, dtype=np.float64)
    delta, grid = valley_map_on_nodes(config.valley_map.spec(), sub.mesh.p)
    model = two_valley_model(
        dim=3,
        delta_meV=delta,
        potential_meV=u_qp,
        materials=layers,
        potential_terms={"detuning": d_vertex},
    )
    ops = assemble(model, basis)
    # band edge at the vertices, for export (the well's offset wins at shared vertices)
    u_vertex = gp.band_edge_at_vertices_meV(
        volts, band_offset_meV=offsets, mesh=sub.mesh, node_map=sub.node_map
    )
    obs = StateObservables(basis, dots=("dot_L", "dot_R"))
    timings["assemble"] = time.perf_counter() - t0
    return StudySystem(
        config=config,
        device_mesh=mesh,
        gates=gp,
        sub=sub,
        basis=basis,
        operators=ops,
        delta_meV=np.asarray(delta, dtype=np.complex128),
        valley_grid=grid,
        band_edge_meV=u_vertex,
        detuning_meV_per_mV=d_vertex,
        observables=obs,
        timings_s=timings,
    )


# -- results store ---------------------------------------------------------------------------
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _empty_results(config: StudyConfig) -> dict[str, Any]:
    p = config.detuning.points
    k = config.solver.n_states
    out: dict[str, Any] = {
        "detuning_mV": np.asarray(config.detuning.values_mV()),
        "done": np.zeros(p, dtype=np.uint8),
        "energies_meV": np.full((p, k), np.nan),
        "dot_weight": np.full((p, k, 2), np.nan),
        "solve_s": np.full(p, np.nan),
    }
    for name in _PER_STATE:
        out[name] = np.full((p, k), np.nan)
    return out


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a results store into a dict of arrays (``attrs`` holds the root attributes)."""
    import h5py

    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            else:
                out[name] = {k: v[()] for k, v in obj.items()}
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out


def _write_store(
    path: Path, system: StudySystem, results: dict[str, Any], states: dict[str, Any]
) -> None:
    import h5py

    from femvalley import __version__

    cfg = system.config
    text = cfg.to_toml()
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["layout_version"] = LAYOUT_VERSION
        f.attrs["config_toml"] = text
        f.attrs["config_sha256"] = _digest(text)
        f.attrs["femvalley_version"] = __version__
        f.attrs["seed"] = cfg.valley_map.seed
        f.attrs["n_states"] = cfg.solver.n_states
        f.attrs["setup_s"] = float(sum(system.timings_s.values()))
        for name, value in results.items():
            f.create_dataset(name, data=value)
        g = f.create_group("mesh")
        g.create_dataset("points_nm", data=system.sub.mesh.p)
        g.create_dataset("cells", data=system.sub.mesh.t)
        g.create_dataset("band_edge_meV", data=system.band_edge_meV)
        g.create_dataset("delta_meV", data=system.delta_meV)
        s = f.create_group("states")
        for name, comps in states.items():
            s.create_dataset(name, data=comps, compression="gzip", compression_opts=1)
    tmp.replace(path)


def _write_csv(path: Path, results: dict[str, Any]) -> None:
    k = results["energies_meV"].shape[1]
    lines = ["detuning_mV," + ",".join(f"E{i}_meV" for i in range(k))]
    for eps, e, done in zip(results["detuning_mV"], results["energies_meV"], results["done"]):
        if done:
            lines.append(f"{eps:.10g}," + ",".join(f"{x:.12g}" for x in e))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def _load_for_resume(path: Path, config: StudyConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    stored = read_results(path)
    want = _digest(config.to_toml())
    if stored["attrs"].get("config_sha256") != want:
        raise ValueError(
            f"{path} was made from a different study configuration; refusing to resume into "
            "it. Use another --out directory, or run the original configuration (its TOML is "
            "stored in the file's config_toml attribute)."
        )
    results = {k: stored[k] for k in _empty_results(config)}
    return results, dict(stored.get("states", {}))


def run_study(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    system: StudySystem | None = None,
    on_point: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run a detuning study; return the results (as stored in ``results.h5``).

    Parameters
    ----------
    config : StudyConfig
        The study (validated).
    out_dir : str or Path
        Output directory; created if needed.
    resume : bool
        Continue the study stored in ``out_dir`` (same configuration only): finished points
        are not recomputed. Without it an existing store is never overwritten.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    system : StudySystem, optional
        A system already built for ``config`` (skips the setup).
    on_point : callable, optional
        Called with the index of every point once it is stored (for monitoring and tests).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = out / STORE_NAME
    if store.exists() and not resume:
        raise ValueError(
            f"{store} already exists; pass resume=True (--resume) to continue that study, or "
            "choose another output directory (nothing is overwritten)"
        )
    if resume and store.exists():
        results, states = _load_for_resume(store, config)
    else:
        results, states = _empty_results(config), {}
    (out / "study.toml").write_text(config.to_toml())

    if system is None:
        system = build_system(config)
    if system.config != config:
        raise ValueError("system was built for another configuration")
    _write_store(store, system, results, states)

    todo = [i for i, d in enumerate(results["done"]) if not d]
    bar = _progress(len(results["done"]), initial=len(results["done"]) - len(todo), on=progress)
    last = len(results["done"]) - 1
    warm: EigenResult | None = None
    try:
        for i in todo:
            t0 = time.perf_counter()
            res = system.solve(float(results["detuning_mV"][i]), warm_start=warm)
            warm = res
            obs = system.observables(res)
            results["energies_meV"][i] = res.energies_meV
            for name in _PER_STATE:
                results[name][i] = obs[name]
            results["dot_weight"][i] = obs["dot_weight"]
            results["solve_s"][i] = time.perf_counter() - t0
            results["done"][i] = 1
            if i in (0, last):
                states["first" if i == 0 else "last"] = res.components
            _write_store(store, system, results, states)
            bar.update(1)
            if on_point is not None:
                on_point(i)
    finally:
        bar.close()
    _write_csv(out / "spectrum.csv", results)
    results["states"] = states
    results["system"] = system
    return results


def _progress(total: int, *, initial: int, on: bool) -> Any:
    if on:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, initial=initial, unit="point", desc="detuning sweep")
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass

    class _Null:
        def update(self, n: int) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()
