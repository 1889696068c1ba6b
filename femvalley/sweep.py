"""Detuning sweeps over one built system: the point loop, its checkpoints and its workers.

:func:`run_sweep` takes a :class:`femvalley.system.StudySystem` (built once:
:func:`femvalley.system.build_system`) and solves the lowest states at every detuning point,
with no Poisson solve and no assembly per point, writing every finished point to the results
store (:mod:`femvalley.io.results`) before the next starts. By default
(``solver.method = "reduced"``) a certified reduced basis is built first from a few full solves
(:mod:`femvalley.rb`; checkpointed in ``snapshots.h5``, :mod:`femvalley.io.snapshots`)
and every point is a small dense problem with an error bound, its observables computed from
matrices projected once onto the basis (:class:`femvalley.analysis.ProjectedObservables`);
``"direct"`` solves each point, warm-started from the previous one.

The loop itself (:func:`solve_points`) receives a :class:`SweepKit`: the operators, the
observables, the basis and the three numbers it needs, not the study's configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.analysis import ProjectedObservables, StateObservables
from femvalley.config import StudyConfig
from femvalley.eigen import EigenResult, SweepSolver, solve
from femvalley.execution import InProcess, make_executor
from femvalley.io.atomic import write_text
from femvalley.io.results import (
    LAYOUT_VERSION,
    PER_STATE,
    RECORD,
    STORE_NAME,
    SWEEP_ARRAYS,
    ResultsStore,
    empty_results,
    read_results,
    save_point_states,
    write_spectrum_csv,
)
from femvalley.io.snapshots import SNAPSHOTS_NAME, read_snapshots, write_snapshots
from femvalley.io.toml import text_digest
from femvalley.kp import KPOperators
from femvalley.linalg import serial_blas
from femvalley.progress import Phases, progress_bar
from femvalley.rb import (
    SingleValleyBasis,
    TwoValleyBasis,
    build_single_valley_basis,
    build_two_valley_basis,
)
from femvalley.records import FieldMapping
from femvalley.states import BASIS_NAME, write_basis
from femvalley.system import StudySystem, build_system

__all__ = [
    "SWEEP_ARRAYS",
    "SweepKit",
    "SweepResult",
    "chunks",
    "reduced_basis",
    "run_sweep",
    "solve_points",
    "sweep_kit",
]


@dataclass(frozen=True, eq=False)
class SweepKit:
    """What the point loop needs (sent to worker processes; no mesh, no configuration).

    Attributes
    ----------
    operators : KPOperators
    observables : StateObservables
        Full-mesh observables (full solves).
    reduced : TwoValleyBasis or SingleValleyBasis or None
        The certified basis (``solver.method = "reduced"``), else ``None``.
    projected : ProjectedObservables or None
        ``observables`` projected onto a single-valley ``reduced`` basis.
    n_states : int
        States per point.
    backend : str
        Eigensolver backend of full solves.
    export_states : int
        Lowest states stored at every point for the ParaView series (``output.vtu_states``).
    """

    operators: KPOperators
    observables: StateObservables
    reduced: TwoValleyBasis | SingleValleyBasis | None
    projected: ProjectedObservables | None
    n_states: int
    backend: str
    export_states: int

    def solve(self, detuning_mV: float, *, warm_start: EigenResult | None = None) -> EigenResult:
        """Lowest ``n_states`` states at one detuning (mV), by a full solve."""
        return solve(
            self.operators,
            k=self.n_states,
            scales={"detuning": float(detuning_mV)},
            backend=self.backend,  # type: ignore[arg-type]
            warm_start=warm_start,
        )

    def sweep_solver(self) -> SweepSolver:
        """Return a solver for consecutive detunings (one factorisation, warm starts)."""
        return SweepSolver(self.operators, k=self.n_states, backend=self.backend)  # type: ignore[arg-type]


def sweep_kit(
    system: StudySystem, reduced: TwoValleyBasis | SingleValleyBasis | None = None
) -> SweepKit:
    """Return the :class:`SweepKit` of a system (and its certified basis, if any)."""
    cfg = system.config
    projected = (
        ProjectedObservables.project(system.observables, reduced)
        if isinstance(reduced, SingleValleyBasis)
        else None
    )
    return SweepKit(
        operators=system.operators,
        observables=system.observables,
        reduced=reduced,
        projected=projected,
        n_states=cfg.solver.n_states,
        backend=cfg.solver.backend,
        export_states=cfg.output.vtu_states,
    )


def chunks(points: int, chunk_points: int) -> list[list[int]]:
    """Split point indices ``0 .. points-1`` into consecutive chunks of ``chunk_points``."""
    return [list(range(i, min(i + chunk_points, points))) for i in range(0, points, chunk_points)]


def solve_points(
    kit: SweepKit, indices: list[int], detuning_mV: NDArray[np.float64]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Solve consecutive points (one chunk); yield ``(index, record)`` as each finishes.

    With a reduced basis (``kit.reduced``) every point is a certified reduced solve, or a full
    solve where the basis cannot certify it. Otherwise (``solver.method = "direct"``) the
    first point is a full solve and the others reuse its factorisation and start from the
    previous point's states (:class:`femvalley.eigen.SweepSolver`). A record holds the
    energies, the observables, the certified error bound (reduced), the wall time and, at
    both ends of the sweep, the states. A certified point of a single-valley basis computes
    its observables from the reduced coefficients and expands to the mesh only the states
    that are stored (both ends, ``export_states``).
    """
    solver = kit.sweep_solver() if kit.reduced is None else None
    last = len(detuning_mV) - 1
    k = kit.n_states
    # files hold the states at the vertices of the k.p mesh (for P2 elements the nodal values
    # there; the edge DOFs are left out, like the mesh's edge midpoints)
    nv = kit.operators.basis.mesh.nvertices
    for n, i in enumerate(indices):
        t0 = time.perf_counter()
        scales = {"detuning": float(detuning_mV[i])}
        bound, residual = float("nan"), np.full(k, np.nan)
        comps: NDArray[Any] | None = None
        wanted = k if i in (0, last) else kit.export_states
        if solver is not None:
            res = solver.start(scales) if n == 0 else solver.step(scales)
            obs, comps = kit.observables(res), res.components
        else:
            assert kit.reduced is not None
            projected = kit.projected
            sol = kit.reduced.solve(scales, vectors=projected is None)
            if sol.certified:
                res, bound, residual = sol.result, sol.error_bound_meV, sol.residual_meV
                if projected is not None:
                    obs = projected(sol)
                    if wanted and sol.coefficients is not None:
                        assert isinstance(kit.reduced, SingleValleyBasis)
                        comps = kit.reduced.components(sol.coefficients[:, :wanted])
                else:
                    obs, comps = kit.observables(res), res.components
            else:  # not certified: solve this point in full
                res = kit.solve(scales["detuning"])
                obs, comps = kit.observables(res), res.components
        obs["detuning_slope_meV_per_mV"] = obs["slope_detuning"]
        rec: dict[str, Any] = {name: obs[name] for name in PER_STATE}
        rec["valley_coupling_meV"] = obs["valley_coupling_meV"]
        rec["energies_meV"] = res.energies_meV
        rec["dot_weight"] = obs["dot_weight"]
        rec["full_solve"] = int(res.timings_s.get("full_solve", 1.0))
        rec["error_bound_meV"] = bound
        rec["residual_meV"] = residual
        rec["solve_s"] = time.perf_counter() - t0
        if i in (0, last) and comps is not None:
            rec["states"] = comps[..., :nv]
        if kit.export_states and comps is not None:
            rec["export_states"] = comps[: kit.export_states, :, :nv]
        yield i, rec


# -- the run ---------------------------------------------------------------------------------
def _load_for_resume(path: Path, config: StudyConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    stored = read_results(path)
    want = text_digest(config.to_toml())
    if stored["attrs"].get("config_sha256") != want:
        raise ValueError(
            f"{path} was made from a different study configuration; refusing to resume into "
            "it. Use another --out directory, or run the original configuration (its TOML is "
            "stored in the file's config_toml attribute)."
        )
    fresh = empty_results(config.detuning.values_mV(), config.solver.n_states)
    missing = [k for k in fresh if k not in stored]
    if missing:
        raise ValueError(
            f"{path} was written by an older femvalley (layout version "
            f"{stored['attrs'].get('layout_version')}, no {missing[0]!r}); it cannot be "
            f"resumed: start a new --out directory"
        )
    results = {k: stored[k] for k in fresh}
    return results, dict(stored.get("states", {}))


def _store_attrs(system: StudySystem, meta: dict[str, Any]) -> dict[str, Any]:
    """Root attributes of a study's results store."""
    from femvalley.version import __version__

    cfg = system.config
    text = cfg.to_toml()
    attrs: dict[str, Any] = {
        "config_toml": text,
        "config_sha256": text_digest(text),
        "femvalley_version": __version__,
        "seed": cfg.valley_map.seed,
        "n_states": cfg.solver.n_states,
        "vtu_states": cfg.output.vtu_states,
        "setup_s": float(sum(system.timings_s.values())),
        "model": cfg.model,
    }
    if system.reduction is not None and system.reduction.slice_z_nm is not None:
        attrs["slice_z_nm"] = system.reduction.slice_z_nm
    attrs.update(meta)
    return attrs


def _mesh_record(system: StudySystem) -> dict[str, Any]:
    """Return the k.p mesh and its fields as stored (``mass_matrix``: P1 mass matrix, csr)."""
    mesh = system.quantum_mesh
    return {
        "points_nm": mesh.p,
        "cells": mesh.t,
        "band_edge_meV": system.band_edge_meV,
        "detuning_meV_per_mV": system.detuning_meV_per_mV,
        "delta_meV": system.delta_vertices_meV,
        "mass_matrix": system.vertex_mass_matrix,
    }


def _create_store(
    path: Path,
    results: Mapping[str, Any],
    states: Mapping[str, Any],
    attrs: Mapping[str, Any],
    mesh: Mapping[str, Any],
) -> ResultsStore:
    n_states = int(np.shape(results["energies_meV"])[1])
    nv = int(np.shape(mesh["points_nm"])[1])
    return ResultsStore.create(
        path,
        attrs={k: v for k, v in attrs.items() if k != "layout_version"},
        results={k: results[k] for k in SWEEP_ARRAYS},
        mesh={k: v for k, v in mesh.items() if k != "mass_matrix"},
        mass_matrix=mesh["mass_matrix"],
        states=states,
        state_shape=(n_states, 2, nv),
    )


@dataclass(frozen=True, eq=False)
class SweepResult(FieldMapping):
    """The results of a detuning sweep: what ``results.h5`` holds, typed.

    Arrays (P points, k states) of :mod:`femvalley.io.results` (units in the names), the end
    states, the store's root attributes and the mesh record; and, for a sweep just run, the
    system and the certified basis it used (``None`` for a loaded result). Also a read-only
    mapping of its fields (``result["energies_meV"]``).
    """

    detuning_mV: NDArray[np.float64]
    done: NDArray[np.uint8]
    energies_meV: NDArray[np.float64]
    dot_weight: NDArray[np.float64]
    solve_s: NDArray[np.float64]
    full_solve: NDArray[np.uint8]
    error_bound_meV: NDArray[np.float64]
    residual_meV: NDArray[np.float64]
    valley_coupling_meV: NDArray[np.complex128]
    valley_polarization: NDArray[np.float64]
    valley_parity: NDArray[np.float64]
    detuning_slope_meV_per_mV: NDArray[np.float64]
    x_mean_nm: NDArray[np.float64]
    y_mean_nm: NDArray[np.float64]
    x_std_nm: NDArray[np.float64]
    y_std_nm: NDArray[np.float64]
    #: ``first`` and ``last``: the states (k, 2, N) at the vertices, where that point is done
    states: Mapping[str, NDArray[np.complex128]]
    #: root attributes of the store (the resolved study TOML, version, timings, ...)
    attrs: Mapping[str, Any]
    #: ``points_nm``, ``cells``, ``band_edge_meV``, ``detuning_meV_per_mV``, ``delta_meV``,
    #: ``mass_matrix`` (scipy csr)
    mesh: Mapping[str, Any]
    system: StudySystem | None = None
    reduced: TwoValleyBasis | SingleValleyBasis | None = None
    reduced_build_s: float | None = None

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Return the per-point arrays by name (:data:`SWEEP_ARRAYS`)."""
        return {name: getattr(self, name) for name in SWEEP_ARRAYS}

    def save(self, path: str | Path) -> Path:
        """Write the result as a results store (``results.h5`` layout) at ``path``."""
        _create_store(Path(path), self.arrays(), self.states, self.attrs, self.mesh)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        """Read a results store (a damaged file raises ``CorruptStoreError``)."""
        return cls(**_loaded_fields(path))


def _loaded_fields(path: str | Path) -> dict[str, Any]:
    import scipy.sparse as sp

    stored = read_results(path)
    missing = [k for k in SWEEP_ARRAYS if k not in stored]
    if missing or not isinstance(stored.get("mesh"), dict):
        raise ValueError(
            f"{path} is not a complete results store (no {(missing or ['mesh'])[0]!r}); it may "
            "be damaged or from another program"
        )
    mesh = dict(stored["mesh"])
    nv = int(np.shape(mesh["points_nm"])[1])
    m = mesh.get("mass_matrix")
    if isinstance(m, dict):
        mesh["mass_matrix"] = sp.csr_matrix((m["data"], m["indices"], m["indptr"]), shape=(nv, nv))
    return {
        **{k: stored[k] for k in SWEEP_ARRAYS},
        "states": dict(stored.get("states", {})),
        "attrs": dict(stored["attrs"]),
        "mesh": mesh,
    }


def run_sweep(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
    system: StudySystem | None = None,
    on_point: Callable[[int], None] | None = None,
) -> SweepResult:
    """Run the detuning sweep of a study; return its results (as stored in ``results.h5``).

    :func:`femvalley.study.run_study` calls it and then writes the figures, the fit and the
    ParaView files.

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
    workers : int
        Worker processes; the chunks of ``solver.chunk_points`` points are shared out among
        them. Each chunk is computed the same way whatever the number of workers.
    system : StudySystem, optional
        A system already built for ``config`` (skips the setup).
    on_point : callable, optional
        Called with the index of every point once it is stored (for monitoring and tests).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r} must be an integer >= 1")
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
        results, states = empty_results(config.detuning.values_mV(), config.solver.n_states), {}
    write_text(out / "study.toml", config.to_toml())
    write_text(out / "device.toml", config.device.resolved_toml())

    phases = Phases(progress)
    if system is None:
        system = build_system(config, phases=phases)
    if system.config != config:
        raise ValueError("system was built for another configuration")
    meta: dict[str, Any] = {"method": config.solver.method}
    mesh = _mesh_record(system)
    _create_store(store, results, states, _store_attrs(system, meta), mesh)

    todo = [i for i, d in enumerate(results["done"]) if not d]
    reduced: TwoValleyBasis | SingleValleyBasis | None = None
    if config.solver.method == "reduced":
        # also for a finished study (resumed): the basis comes back from its checkpointed
        # snapshots without a new full solve, so the analysis uses the same basis as before
        t0 = time.perf_counter()
        with phases.phase("certified reduced basis (full solves at a few detunings)"):
            reduced = reduced_basis(system, results["detuning_mV"], out_dir=out)
        if isinstance(reduced, SingleValleyBasis):
            write_basis(out / BASIS_NAME, system, reduced)
        meta.update(
            reduced_basis_size=reduced.size,
            reduced_build_s=time.perf_counter() - t0,
            snapshot_detuning_mV=np.array([s.scales["detuning"] for s in reduced.snapshots]),
        )
        _create_store(store, results, states, _store_attrs(system, meta), mesh)
    # chunks of the whole sweep, restricted to what is left: the same work units on resume
    left = set(todo)
    tasks = [
        [i for i in c if i in left]
        for c in chunks(len(results["done"]), config.solver.chunk_points)
    ]
    tasks = [t for t in tasks if t]
    bar = progress_bar(
        len(results["done"]),
        initial=len(results["done"]) - len(todo),
        on=progress and bool(todo),
        unit="point",
        desc="detuning sweep",
    )
    last = len(results["done"]) - 1
    # the workers receive the assembled operators and the basis (pickled), not the device
    executor = make_executor(workers=workers if len(tasks) > 1 else 1)
    shared = (sweep_kit(system, reduced), results["detuning_mV"])
    # reduced points are small dense problems: one BLAS thread here (worker processes have
    # one anyway; the rare full solve of an uncertified point then runs on one thread too)
    serial = reduced is not None and isinstance(executor, InProcess)
    try:
        with executor, ResultsStore(store) as writer, serial_blas() if serial else nullcontext():
            for i, rec in executor.map_unordered(_solve_chunk, shared, tasks):
                if "export_states" in rec:  # before the point is flagged done in the store
                    save_point_states(out, i, rec["export_states"])
                ends = {}
                if "states" in rec:
                    for name, at in (("first", 0), ("last", last)):
                        if i == at:
                            ends[name] = states[name] = rec["states"]
                writer.write_point(i, rec, end_states=ends)
                for name in RECORD:
                    results[name][i] = rec[name]
                results["done"][i] = 1
                bar.update(1)
                if on_point is not None:
                    on_point(i)
    finally:
        bar.close()
    write_spectrum_csv(out / "spectrum.csv", results)
    return SweepResult(
        **{k: results[k] for k in SWEEP_ARRAYS},
        states=states,
        attrs={"layout_version": LAYOUT_VERSION, **_store_attrs(system, meta)},
        mesh=mesh,
        system=system,
        reduced=reduced,
        reduced_build_s=meta.get("reduced_build_s"),
    )


def reduced_basis(
    system: StudySystem, detuning_mV: NDArray[np.float64], *, out_dir: str | Path | None = None
) -> TwoValleyBasis | SingleValleyBasis:
    """Build the certified reduced basis of a study's sweep (:mod:`femvalley.rb`).

    ``solver.reduced_basis = "single_valley"`` (default): real single-valley orbitals
    (``solver.orbitals`` per snapshot, default 4 x ``n_states``) in both valleys
    (:func:`~femvalley.rb.build_single_valley_basis`);
    ``"two_valley"``: full two-valley solves. With ``out_dir``, every snapshot is checkpointed
    to ``snapshots.h5`` there, and the snapshots already in that file (same configuration) are
    reused: a resumed study does not repeat them, and ends with the same basis.
    """
    cfg = system.config
    path = None if out_dir is None else Path(out_dir) / SNAPSHOTS_NAME
    identity = text_digest(cfg.to_toml())
    snaps: list[Any] = read_snapshots(path, identity) if path is not None and path.exists() else []

    def checkpoint(snap: Any) -> None:
        snaps.append(snap)
        if path is not None:
            write_snapshots(path, identity, snaps)

    points = [{"detuning": float(e)} for e in detuning_mV]
    common: dict[str, Any] = {
        "k": cfg.solver.n_states,
        "tolerance_meV": 1e-3 * cfg.solver.tolerance_ueV,
        "backend": cfg.solver.backend,
        "max_snapshots": cfg.solver.max_snapshots,
        "snapshots": list(snaps),
        "on_snapshot": checkpoint,
    }
    if cfg.solver.reduced_basis == "single_valley":
        vb, _ = build_single_valley_basis(
            system.operators,
            points,
            delta_meV=system.delta_meV,
            orbitals=cfg.solver.orbitals_per_snapshot(),
            **common,
        )
        return vb
    rb, _ = build_two_valley_basis(system.operators, points, **common)
    return rb


def _solve_chunk(
    shared: tuple[SweepKit, NDArray[np.float64]], task: list[int]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """One task of an executor: the points of one chunk (:func:`solve_points`)."""
    kit, detuning_mV = shared
    yield from solve_points(kit, task, detuning_mV)
