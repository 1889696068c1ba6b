"""Ensembles of studies: disorder seeds and parameter grids, on local processes or Dask.

An ensemble file is a study file (:mod:`femvalley.config`) with an ``[ensemble]`` table and an
optional ``[execution]`` table::

    [valley_map]
    mean_valley_splitting_ueV = 200.0

    [ensemble]
    seeds = 100                # valley-map seeds seed_start .. seed_start + 99, or a list
    seed_start = 0
    threshold_ueV = 50.0       # statistics report the fraction of valley splittings below it
    combine = "grid"           # "grid": every combination of the parameters; "zip": in step
    chunk_realisations = 4     # realisations per task (the unit of work and of loss)
    [ensemble.parameters]      # any study field by its dotted path: a list of values
    "biases_V.B5" = [1.15, 1.2, 1.25]
    "valley_map.mean_valley_splitting_ueV" = [100.0, 200.0]

    [execution]
    workers = 2                # local processes (Dask LocalCluster when > 1)
    # scheduler = "tcp://10.0.0.1:8786"   # a running Dask scheduler instead

A *realisation* is one detuning sweep of the study with one combination of the parameters and
one seed. Realisations that share everything but the valley map (its seed or its statistics)
share one device, one set of gate solves and one certified reduced basis of real single-valley
orbitals (:class:`femvalley.rb.SingleValleyBasis`): a new seed costs one projection of
its valley coupling and ``P`` dense ``2m x 2m`` problems. Every energy is certified to
``solver.tolerance_ueV``; a point the basis cannot certify is solved in full.

Results store: ``ensemble.h5`` (layout and writing in :mod:`femvalley.io.ensemble`), written
in place task by task.

The snapshots of every reduced basis are checkpointed in ``bases/``. A rerun with ``resume=True``
skips the finished realisations and rebuilds the same bases from their snapshots, so it ends
with the same numbers as an uninterrupted run. On a Dask cluster a killed worker loses only the
realisations it was computing: the scheduler runs them again elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.analysis import (
    FullSpectrum,
    Levels,
    ReducedSpectrum,
    StateObservables,
    analyse_sweep,
)
from femvalley.config import StudyConfig, ValleyMapConfig
from femvalley.config.ensemble import (
    EnsembleConfig,
    EnsembleSpec,
    ExecutionConfig,
    is_ensemble_file,
)
from femvalley.execution import Executor, make_executor
from femvalley.io import DirectoryLock
from femvalley.io.atomic import write_text
from femvalley.io.ensemble import ENSEMBLE_STORE, LAYOUT_VERSION, EnsembleStore, read_ensemble
from femvalley.io.snapshots import read_snapshots, write_snapshots
from femvalley.io.toml import dump_toml, text_digest
from femvalley.linalg import serial_blas
from femvalley.progress import Phases, progress_bar
from femvalley.rb import SingleValleyBasis, build_single_valley_basis
from femvalley.records import FieldMapping, JsonRecord
from femvalley.resources import check_fits, estimate_study, size_fields
from femvalley.system import StudySystem, build_system, valley_map

__all__ = [
    "COMBINATIONS_CSV",
    "ENSEMBLE_ARRAYS",
    "CombinationStatistics",
    "EnsembleResult",
    "EnsembleSummary",
    "Statistics",
    "DERIVED_EXTRA",
    "DEVICE_NUMBERS",
    "ENSEMBLE_STORE",
    "LAYOUT_VERSION",
    "QUANTITIES",
    "SUMMARY_NAME",
    "combinations_table",
    "device_numbers",
    "ensemble_statistics",
    "EnsembleConfig",
    "EnsembleSpec",
    "ExecutionConfig",
    "is_ensemble_file",
    "read_ensemble",
    "run_ensemble",
]

SUMMARY_NAME = "ensemble_summary.json"
#: one row per parameter combination: the device's numbers and the statistics
COMBINATIONS_CSV = "combinations.csv"
#: derived quantities of every realisation and the statistics reported for them
QUANTITIES = (
    "valley_splitting_L_ueV",
    "valley_splitting_R_ueV",
    "tunnel_coupling_ueV",
)
#: per-realisation numbers stored beside QUANTITIES: bounds, positions, the lever arm
DERIVED_EXTRA = (
    "valley_splitting_L_bound_ueV",
    "valley_splitting_R_bound_ueV",
    "tunnel_coupling_bound_ueV",
    "tunnel_coupling_resolved",
    "anticrossing_mV",
    "lever_arm_meV_per_mV",
    *(
        "dot_L_x_nm",
        "dot_R_x_nm",
        "orbital_spacing_L_meV",
        "orbital_spacing_R_meV",
    ),
)
#: the numbers of the device itself (equal for every seed of a combination): where each dot
#: is and its orbital spacing (:func:`device_numbers`)
DEVICE_NUMBERS = DERIVED_EXTRA[-4:]


#: the per-realisation arrays of an ensemble (the datasets of ``ensemble.h5``)
ENSEMBLE_ARRAYS = (
    "detuning_mV",
    "seed",
    "combination",
    "parameters",
    "point_config_sha256",
    "done",
    "energies_meV",
    "dot_weight",
    "error_bound_meV",
    "full_solve",
    "solve_s",
    "worker",
    "finished_utc",
    *QUANTITIES,
    *DERIVED_EXTRA,
)


@dataclass(frozen=True, eq=False)
class EnsembleResult(FieldMapping):
    """The results of an ensemble: what ``ensemble.h5`` holds, typed, and its summary.

    The arrays of :mod:`femvalley.io.ensemble` (R realisations, P detunings, k states; units
    in the names), the store's root attributes, the summary (``ensemble_summary.json``: the
    statistics per parameter combination) and the wall time. Also a read-only mapping of its
    fields (``result["valley_splitting_L_ueV"]``).
    """

    detuning_mV: NDArray[np.float64]
    seed: NDArray[np.int64]
    combination: NDArray[np.int64]
    #: dotted path of every varied study field -> its value per realisation (R,)
    parameters: Mapping[str, NDArray[Any]]
    point_config_sha256: NDArray[Any]
    done: NDArray[np.uint8]
    energies_meV: NDArray[np.float64]
    dot_weight: NDArray[np.float64]
    error_bound_meV: NDArray[np.float64]
    full_solve: NDArray[np.uint8]
    solve_s: NDArray[np.float64]
    worker: NDArray[Any]
    finished_utc: NDArray[Any]
    valley_splitting_L_ueV: NDArray[np.float64]
    valley_splitting_R_ueV: NDArray[np.float64]
    tunnel_coupling_ueV: NDArray[np.float64]
    valley_splitting_L_bound_ueV: NDArray[np.float64]
    valley_splitting_R_bound_ueV: NDArray[np.float64]
    tunnel_coupling_bound_ueV: NDArray[np.float64]
    tunnel_coupling_resolved: NDArray[np.float64]
    anticrossing_mV: NDArray[np.float64]
    lever_arm_meV_per_mV: NDArray[np.float64]
    #: the device numbers of every realisation's combination (NaN in stores of layout < 4)
    dot_L_x_nm: NDArray[np.float64]
    dot_R_x_nm: NDArray[np.float64]
    orbital_spacing_L_meV: NDArray[np.float64]
    orbital_spacing_R_meV: NDArray[np.float64]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    summary: EnsembleSummary | None = None
    wall_s: float = float("nan")

    def arrays(self) -> dict[str, Any]:
        """Return the per-realisation arrays by name (:data:`ENSEMBLE_ARRAYS`)."""
        return {name: getattr(self, name) for name in ENSEMBLE_ARRAYS}

    def save(self, path: str | Path) -> Path:
        """Write the result as an ensemble store (``ensemble.h5`` layout) at ``path``."""
        attrs = {k: v for k, v in self.attrs.items() if k != "layout_version"}
        EnsembleStore.create(path, attrs=attrs, results=self.arrays())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> EnsembleResult:
        """Read an ensemble store; ``ensemble_summary.json`` next to it gives the summary."""
        stored = dict(read_ensemble(path))
        for name in DEVICE_NUMBERS:  # added in layout 4
            if name not in stored and "seed" in stored:
                stored[name] = np.full(len(stored["seed"]), np.nan)
        missing = [k for k in ENSEMBLE_ARRAYS if k not in stored]
        if missing:
            raise ValueError(
                f"{path} is not a complete ensemble store (no {missing[0]!r}); it may be "
                "damaged or from another program"
            )
        summary_path = Path(path).with_name(SUMMARY_NAME)
        summary = EnsembleSummary.read(summary_path) if summary_path.is_file() else None
        return cls(
            **{k: stored[k] for k in ENSEMBLE_ARRAYS},
            attrs=dict(stored["attrs"]),
            summary=summary,
        )


# -- the work of one task ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _GroupKit:
    """What a worker needs for the realisations of one group (picklable)."""

    basis: SingleValleyBasis
    points_nm: NDArray[np.float64]  # the DOF locations of the k.p basis (Delta's nodes)
    vertices_nm: NDArray[np.float64]  # the k.p mesh vertices (the map's grid)
    detuning_mV: NDArray[np.float64]
    dot_mass: tuple[NDArray[np.float64], NDArray[np.float64]]
    observables: StateObservables
    backend: str
    #: :func:`device_numbers` of the group (the same for all its realisations)
    device: Mapping[str, float] = field(default_factory=dict)


def _solve_realisations(
    kit: _GroupKit, work: Sequence[tuple[int, ValleyMapConfig]]
) -> list[tuple[int, dict[str, Any]]]:
    """Solve whole sweeps for ``(index, valley map)`` pairs that share ``kit``'s group.

    A realisation differs from the others of its group only in its valley map: that table
    (its seed, its statistics) is all a worker receives per realisation.
    """
    with serial_blas():  # the thread limits under which the group's basis was built
        return [(i, _solve_one(kit, vm)) for i, vm in work]


def _solve_task(
    kit: _GroupKit, work: Sequence[tuple[int, ValleyMapConfig]]
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """One task of an executor: its realisations, delivered (and stored) together."""
    yield _solve_realisations(kit, work)


def _solve_one(kit: _GroupKit, vm: ValleyMapConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    delta, _ = valley_map(vm, kit.points_nm, vertices_nm=kit.vertices_nm)
    basis = kit.basis.with_valley_coupling(delta)
    p, k = kit.detuning_mV.size, basis.k
    rec: dict[str, Any] = {
        "energies_meV": np.full((p, k), np.nan),
        "dot_weight": np.full((p, k, 2), np.nan),
        "error_bound_meV": np.full(p, np.nan),
        "full_solve": np.zeros(p, dtype=np.uint8),
    }
    for j, eps in enumerate(kit.detuning_mV):
        sol = basis.solve({"detuning": float(eps)}, vectors=False)
        if sol.certified:
            y = sol.coefficients
            assert y is not None
            rec["energies_meV"][j] = sol.energies_meV
            rec["error_bound_meV"][j] = sol.error_bound_meV
            for d in (0, 1):
                rec["dot_weight"][j, :, d] = basis.expectation(kit.dot_mass[d], y)
        else:  # not certified: this point is solved in full (deterministic start vector)
            from femvalley.eigen import solve

            ops = basis.full_operators()
            res = solve(
                ops,
                k=k,
                scales={"detuning": float(eps)},
                backend=kit.backend,  # type: ignore[arg-type]
                warm_start=np.random.default_rng(0).standard_normal((ops.ndof, 1)),
            )
            rec["energies_meV"][j] = res.energies_meV
            rec["dot_weight"][j] = kit.observables(res)["dot_weight"]
            rec["full_solve"][j] = 1
    rec.update(_derived(kit, basis))
    rec.update(kit.device)
    rec["solve_s"] = time.perf_counter() - t0
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    rec["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return rec


class _LazyFull:
    """A full-solve fallback built on first use (its mass factorisation costs)."""

    def __init__(self, kit: _GroupKit, basis: SingleValleyBasis) -> None:
        self.kit, self.basis = kit, basis
        self.spectrum: FullSpectrum | None = None

    def __call__(self, detuning_mV: float) -> Levels:
        if self.spectrum is None:
            self.spectrum = FullSpectrum(
                self.basis.full_operators(),
                self.kit.observables,
                k=self.basis.k,
                backend=self.kit.backend,
            )
        return self.spectrum(detuning_mV)


def _derived(kit: _GroupKit, basis: SingleValleyBasis) -> dict[str, float]:
    """Numbers of one realisation by the resolved analysis of a study (NaN where none)."""
    out = {name: float("nan") for name in (*QUANTITIES, *DERIVED_EXTRA)}
    spectrum = ReducedSpectrum(
        basis, kit.observables, dot_mass=kit.dot_mass, fallback=_LazyFull(kit, basis)
    )
    try:
        an = analyse_sweep(spectrum, kit.detuning_mV)
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return out
    for dot, side in ((0, "L"), (1, "R")):
        d = an.doublets.get(dot)
        if d is not None:
            out[f"valley_splitting_{side}_ueV"] = d.valley_splitting_ueV
            out[f"valley_splitting_{side}_bound_ueV"] = d.bound_ueV
    tc = an.tunnel_coupling
    if tc is not None:
        out["tunnel_coupling_resolved"] = float(tc.resolved)
        out["anticrossing_mV"] = tc.detuning_mV
        if tc.resolved:
            out["tunnel_coupling_ueV"] = tc.tunnel_coupling_ueV
            out["tunnel_coupling_bound_ueV"] = tc.tunnel_coupling_bound_ueV
        else:
            out["tunnel_coupling_bound_ueV"] = tc.tunnel_coupling_bound_ueV + max(
                tc.tunnel_coupling_ueV, 0.0
            )
    out["lever_arm_meV_per_mV"] = an.lever_arm_meV_per_mV
    return out


# -- the ensemble ------------------------------------------------------------------------------
def _group_key(cfg: StudyConfig) -> str:
    """Realisations with equal keys share a system and a reduced basis (all but the map)."""
    data = cfg.to_dict()
    del data["valley_map"]
    return text_digest(dump_toml(data))


def run_ensemble(
    config: EnsembleConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    on_task: Callable[[list[int]], None] | None = None,
) -> EnsembleResult:
    """Run every realisation of an ensemble; return the results (as in ``ensemble.h5``).

    Parameters
    ----------
    config : EnsembleConfig
    out_dir : str or Path
        Output directory: ``ensemble.h5``, ``ensemble.toml``, ``ensemble_summary.json``, the
        figures and ``bases/`` (snapshot checkpoints).
    resume : bool
        Continue the ensemble stored in ``out_dir`` (same configuration; the execution settings
        may differ): finished realisations are not recomputed.
    progress : bool
        Progress bar (tqdm) on stderr.
    on_task : callable, optional
        Called with the realisation indices of every stored task (monitoring, tests).

    ``out_dir`` is locked while the ensemble runs (:class:`femvalley.io.DirectoryLock`).
    """
    estimate = estimate_study(config.study, realisations=config.n_realisations())
    check_fits(estimate, sizes=size_fields(config.study) + ", or fewer seeds")
    with DirectoryLock(out_dir):  # one run per output directory
        return _run_ensemble_locked(
            config, out_dir=out_dir, resume=resume, progress=progress, on_task=on_task
        )


def _run_ensemble_locked(
    config: EnsembleConfig,
    *,
    out_dir: str | Path,
    resume: bool,
    progress: bool,
    on_task: Callable[[list[int]], None] | None,
) -> EnsembleResult:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = out / ENSEMBLE_STORE
    if store.exists() and not resume:
        raise ValueError(
            f"{store} already exists; pass resume=True (--resume) to continue that ensemble, "
            "or choose another output directory (nothing is overwritten)"
        )
    results = _load(store, config) if resume and store.exists() else _empty(config)
    write_text(out / "ensemble.toml", config.to_toml())
    for c in range(config.n_combinations()):
        name = "device.toml" if config.n_combinations() == 1 else f"device_{c}.toml"
        write_text(out / name, config.combination_config(c).device.resolved_toml())
    EnsembleStore.create(store, attrs=_store_attrs(config), results=results)
    t_start = time.perf_counter()

    todo = [i for i, d in enumerate(results["done"]) if not d]
    # realisations of combinations that differ only in the valley map share a group
    keys = [_group_key(config.combination_config(c)) for c in range(config.n_combinations())]
    groups: dict[str, list[int]] = {}
    for i in todo:
        groups.setdefault(keys[config.realisation(i)[0]], []).append(i)
    phases = Phases(progress)
    bar: Any = None  # made after the first group's basis: no empty bar while bases are built
    executor: Executor | None = None
    systems: list[StudySystem] = []
    timings: dict[str, float] = {}
    try:
        with EnsembleStore(store) as writer:
            for key, members in groups.items():
                t0 = time.perf_counter()
                first = config.point_config(members[0])
                reuse = next((s for s in systems if s.config.device == first.device), None)
                # the device, its gate solves and the group's basis on one BLAS thread, as every
                # task runs, and before any worker process exists: the numbers are the same
                # bits whatever the worker count or scheduler
                phases.note(
                    f"group {len(systems) + 1}/{len(groups)} ({len(members)} realisations): "
                    "device, k.p model and certified basis"
                )
                with serial_blas():
                    system = build_system(first, reuse=reuse, phases=phases)
                    systems.append(system)
                    with phases.phase("certified reduced basis of the group"):
                        kit = _group_kit(
                            system, results["detuning_mV"], out / "bases" / f"{key[:16]}.h5"
                        )
                timings[f"group_{key[:8]}_setup"] = time.perf_counter() - t0
                if executor is None:
                    # in-process tasks get the kit exactly as a worker receives it (pickled):
                    # the numbers do not depend on where they run
                    executor = make_executor(
                        workers=config.execution.workers,
                        scheduler=config.execution.scheduler,
                        processes="dask",
                        as_workers_see_it=True,
                    )
                if bar is None:
                    bar = progress_bar(
                        len(results["done"]),
                        initial=len(results["done"]) - len(todo),
                        on=progress,
                        unit="realisation",
                        desc="ensemble",
                    )
                size = config.ensemble.chunk_realisations
                tasks = [
                    [(i, config.valley_map_config(i)) for i in members[a : a + size]]
                    for a in range(0, len(members), size)
                ]
                for done in executor.map_unordered(_solve_task, kit, tasks):
                    writer.write_task(done)
                    for i, rec in done:
                        for name, value in rec.items():
                            results[name][i] = value
                        results["done"][i] = 1
                    bar.update(len(done))
                    if on_task is not None:
                        on_task([i for i, _ in done])
    finally:
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.close()
    wall_s = time.perf_counter() - t_start
    summary = dataclasses.replace(
        ensemble_statistics(results, config),
        timings_s={"total": wall_s, **timings},
        execution={"workers": config.execution.workers, "scheduler": config.execution.scheduler},
    )
    summary.write(out / SUMMARY_NAME)
    write_text(out / COMBINATIONS_CSV, combinations_table(summary))
    if config.study.output.figures:
        from femvalley.plot import plot_ensemble_distributions, plot_ensemble_parameters

        plot_ensemble_distributions(results, config, out / "ensemble.png")
        if len(summary.combinations) > 1:
            plot_ensemble_parameters(summary, out / "parameters.png")
    return EnsembleResult(
        **{k: results[k] for k in ENSEMBLE_ARRAYS},
        attrs={"layout_version": LAYOUT_VERSION, **_store_attrs(config)},
        summary=summary,
        wall_s=wall_s,
    )


def _group_kit(system: StudySystem, detuning_mV: NDArray[np.float64], path: Path) -> _GroupKit:
    """Build the group's certified valley basis (snapshots checkpointed at ``path``)."""
    cfg = system.config
    path.parent.mkdir(parents=True, exist_ok=True)
    identity = text_digest(_basis_config(cfg).to_toml())
    snaps: list[Any] = read_snapshots(path, identity) if path.exists() else []

    def checkpoint(snap: Any) -> None:
        snaps.append(snap)
        write_snapshots(path, identity, snaps)

    basis, _ = build_single_valley_basis(
        system.operators,
        [{"detuning": float(e)} for e in detuning_mV],
        delta_meV=system.delta_meV,
        k=cfg.solver.n_states,
        orbitals=cfg.solver.orbitals_per_snapshot(),
        tolerance_meV=1e-3 * cfg.solver.tolerance_ueV,
        backend=cfg.solver.backend,
        max_snapshots=cfg.solver.max_snapshots,
        snapshots=list(snaps),
        on_snapshot=checkpoint,
    )
    obs = system.observables
    dot_mass = (
        basis.project_scalar(obs.matrix("dot_L")),
        basis.project_scalar(obs.matrix("dot_R")),
    )
    orbitals = basis.with_valley_coupling(np.zeros_like(system.delta_meV))
    return _GroupKit(
        basis=basis,
        points_nm=np.asarray(system.basis.doflocs),
        vertices_nm=np.asarray(system.quantum_mesh.p),
        detuning_mV=np.asarray(detuning_mV, dtype=float),
        dot_mass=dot_mass,
        observables=system.observables,
        backend=cfg.solver.backend,
        device=device_numbers(
            orbitals,
            dot_mass=dot_mass,
            x=basis.project_scalar(obs.matrix("x")),
            detuning_mV=(float(detuning_mV[0]), float(detuning_mV[-1])),
        ),
    )


def device_numbers(
    orbitals: SingleValleyBasis,
    *,
    dot_mass: tuple[NDArray[np.float64], NDArray[np.float64]],
    x: NDArray[np.float64],
    detuning_mV: tuple[float, float],
    localized: float = 0.9,
) -> dict[str, float]:
    """Where each dot is and its orbital spacing, from the orbital states of a device.

    ``orbitals``: the group's certified basis without valley coupling (every orbital level
    a valley pair); ``dot_mass`` and ``x``: the dot regions' and the position's matrices
    projected on it. At each end of the detuning range the ground state sits in one dot
    (dot weight >= ``localized``); that end gives the dot's centre ``dot_{L,R}_x_nm`` (the
    ground state's ``<x>``, nm) and its orbital spacing ``orbital_spacing_{L,R}_meV`` (the
    next orbital level with most of its weight in the same dot, above the ground level).
    NaN where the ends do not localise the ground state in that dot, the solve is not
    certified, or the ``k`` states hold no second orbital of that dot.
    """
    out = {name: float("nan") for name in DEVICE_NUMBERS}
    for eps in detuning_mV:
        sol = orbitals.solve({"detuning": eps}, vectors=False)
        if not sol.certified or sol.coefficients is None:
            continue
        y = sol.coefficients[:, ::2]  # one state of every valley pair: the orbital levels
        energies = np.asarray(sol.energies_meV)[::2]
        weights = np.stack([orbitals.expectation(m, y) for m in dot_mass])  # (2, levels)
        for d, side in ((0, "L"), (1, "R")):
            if weights[d, 0] < localized:
                continue
            out[f"dot_{side}_x_nm"] = float(orbitals.expectation(x, y[:, :1])[0])
            excited = [j for j in range(1, energies.size) if weights[d, j] > 0.5]
            if excited:
                out[f"orbital_spacing_{side}_meV"] = float(energies[excited[0]] - energies[0])
    return out


def _basis_config(cfg: StudyConfig) -> StudyConfig:
    """Return the study a group's snapshots belong to (the valley map is not in them)."""
    return dataclasses.replace(cfg, valley_map=type(cfg.valley_map)())


# -- store -------------------------------------------------------------------------------------
def _empty(config: EnsembleConfig) -> dict[str, Any]:
    """Return an empty store of ``config``."""
    study = config.study
    eps = np.asarray(study.detuning.values_mV())
    reals = config.realisations()
    r, p, k = len(reals), eps.size, study.solver.n_states
    combos = config.ensemble.combinations()
    out: dict[str, Any] = {
        "detuning_mV": eps,
        "seed": np.array([s for _, s in reals], dtype=np.int64),
        "combination": np.array([c for c, _ in reals], dtype=np.int64),
        "parameters": {name: np.array([combos[c][name] for c, _ in reals]) for name in combos[0]},
        "point_config_sha256": np.array(
            [text_digest(config.point_config(i).to_toml()) for i in range(r)], dtype=object
        ),
        "done": np.zeros(r, dtype=np.uint8),
        "energies_meV": np.full((r, p, k), np.nan),
        "dot_weight": np.full((r, p, k, 2), np.nan),
        "error_bound_meV": np.full((r, p), np.nan),
        "full_solve": np.zeros((r, p), dtype=np.uint8),
        "solve_s": np.full(r, np.nan),
        "worker": np.array([""] * r, dtype=object),
        "finished_utc": np.array([""] * r, dtype=object),
    }
    for name in (*QUANTITIES, *DERIVED_EXTRA):
        out[name] = np.full(r, np.nan)
    return out


def _store_attrs(config: EnsembleConfig) -> dict[str, Any]:
    from femvalley.version import __version__

    return {
        "ensemble_toml": config.to_toml(),
        "config_sha256": config.identity(),
        "femvalley_version": __version__,
        "n_states": config.study.solver.n_states,
    }


def _load(path: Path, config: EnsembleConfig) -> dict[str, Any]:
    stored = read_ensemble(path)
    if stored["attrs"].get("config_sha256") != config.identity():
        raise ValueError(
            f"{path} was made from a different ensemble configuration; refusing to resume "
            "into it. Use another --out directory, or run the original configuration (its TOML "
            "is stored in the file's ensemble_toml attribute)."
        )
    fresh = _empty(config)
    return {k: stored.get(k, v) for k, v in fresh.items()}


# -- statistics --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Statistics(JsonRecord):
    """Order statistics of one quantity over the finished realisations (NaN: missing).

    ``count`` finite values, ``missing`` NaN ones; the rest (in the quantity's unit) is
    ``None`` when no value is finite. ``fraction_below_threshold`` only for quantities that
    have a threshold (the valley splittings).
    """

    count: int
    missing: int
    median: float | None = None
    q25: float | None = None
    q75: float | None = None
    iqr: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    fraction_below_threshold: float | None = None

    @classmethod
    def of(cls, values: NDArray[np.float64], threshold: float | None = None) -> Statistics:
        """Return the statistics of the finite ``values`` (fraction below ``threshold``)."""
        v = np.asarray(values, dtype=float)
        ok = v[np.isfinite(v)]
        if not ok.size:
            return cls(count=0, missing=int(v.size))
        q25, med, q75 = (float(q) for q in np.percentile(ok, [25, 50, 75]))
        return cls(
            count=int(ok.size),
            missing=int(v.size - ok.size),
            median=med,
            q25=q25,
            q75=q75,
            iqr=q75 - q25,
            mean=float(ok.mean()),
            min=float(ok.min()),
            max=float(ok.max()),
            fraction_below_threshold=(
                None if threshold is None else float(np.mean(ok < threshold))
            ),
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class CombinationStatistics(JsonRecord):
    """The statistics of one parameter combination (see :func:`ensemble_statistics`)."""

    parameters: Mapping[str, Any]
    realisations: int
    valley_splitting_L_ueV: Statistics
    valley_splitting_R_ueV: Statistics
    tunnel_coupling_ueV: Statistics
    #: both dots pooled
    valley_splitting_ueV: Statistics
    tunnel_coupling_not_resolved: int
    no_anticrossing_in_range: int
    #: the largest certified error bound of any point (None: no point certified)
    max_error_bound_ueV: float | None
    points_solved_in_full: int
    #: the Hellmann-Feynman detuning lever arm over the realisations (meV/mV)
    lever_arm_meV_per_mV: Statistics | None = None
    #: the device's own numbers (:data:`DEVICE_NUMBERS`; None where not found)
    device: Mapping[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CombinationStatistics:
        """Read the JSON object of one combination."""
        record: CombinationStatistics = super().from_dict(data)
        names = [*QUANTITIES, "valley_splitting_ueV"]
        if record.lever_arm_meV_per_mV is not None:
            names.append("lever_arm_meV_per_mV")
        stats = {name: Statistics.from_dict(getattr(record, name)) for name in names}
        return dataclasses.replace(record, **stats)


@dataclass(frozen=True, kw_only=True, eq=False)
class EnsembleSummary(JsonRecord):
    """The summary of an ensemble (``ensemble_summary.json``), typed.

    As a mapping it is exactly the JSON object of the file
    (:class:`femvalley.records.JsonRecord`).
    """

    realisations: int
    done: int
    seeds: Sequence[int]
    threshold_ueV: float
    combinations: Sequence[CombinationStatistics]
    #: seconds: ``total`` and the setup of every group
    timings_s: Mapping[str, float] | None = None
    #: ``workers`` and ``scheduler`` of the run
    execution: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnsembleSummary:
        """Read the JSON object of ``ensemble_summary.json``."""
        record: EnsembleSummary = super().from_dict(data)
        combos = [CombinationStatistics.from_dict(c) for c in record.combinations]
        return dataclasses.replace(record, combinations=combos)


def combinations_table(summary: EnsembleSummary) -> str:
    """Return ``combinations.csv``: one row per parameter combination.

    Columns: every varied parameter (its dotted path), ``realisations``, the device's own
    numbers (:data:`DEVICE_NUMBERS`), the median lever arm, the median and quartiles of the
    resolved tunnel coupling with the count not resolved, and the median and quartiles of
    the valley splitting of both dots with the fraction below the threshold. Empty cells:
    not available.
    """
    import csv
    import io

    combos = list(summary.combinations)
    params = list(combos[0].parameters) if combos else []
    stats = (
        ("lever_arm_meV_per_mV", ("median",)),
        ("tunnel_coupling_ueV", ("median", "q25", "q75")),
        ("valley_splitting_ueV", ("median", "q25", "q75", "fraction_below_threshold")),
    )
    header = [*params, "realisations", *DEVICE_NUMBERS]
    header += [f"{name}_{key}" for name, keys in stats for key in keys]
    header.insert(header.index("tunnel_coupling_ueV_q75") + 1, "tunnel_coupling_not_resolved")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)

    def cell(v: Any) -> Any:
        return "" if v is None else (f"{v:.10g}" if isinstance(v, float) else v)

    for c in combos:
        row = [cell(c.parameters[p]) for p in params] + [c.realisations]
        row += [cell(c.device.get(n)) for n in DEVICE_NUMBERS]
        for name, keys in stats:
            s = getattr(c, name)
            row += [cell(None if s is None else getattr(s, k)) for k in keys]
            if name == "tunnel_coupling_ueV":
                row.append(c.tunnel_coupling_not_resolved)
        w.writerow(row)
    return buf.getvalue()


def ensemble_statistics(results: Mapping[str, Any], config: EnsembleConfig) -> EnsembleSummary:
    """Median, quartiles, IQR, mean and fraction below the threshold, per combination.

    Valley splittings (both dots, and both pooled) and the resolved tunnel coupling over the
    finished realisations of every parameter combination (a coupling that is not resolved
    counts as missing and is reported in ``tunnel_coupling_not_resolved``). The threshold
    (``ensemble.threshold_ueV``) applies to the valley splittings.
    """
    thr = float(config.ensemble.threshold_ueV)
    done = np.asarray(results["done"], dtype=bool)
    combos = config.ensemble.combinations()
    per = []
    for c, combo in enumerate(combos):
        sel = done & (np.asarray(results["combination"]) == c)
        stats = {
            name: Statistics.of(
                np.asarray(results[name])[sel],
                thr if name.startswith("valley_splitting") else None,
            )
            for name in QUANTITIES
        }
        pooled = np.concatenate(
            [
                np.asarray(results["valley_splitting_L_ueV"])[sel],
                np.asarray(results["valley_splitting_R_ueV"])[sel],
            ]
        )
        res_flag = np.asarray(results["tunnel_coupling_resolved"])[sel]
        bounds = np.asarray(results["error_bound_meV"])[sel]
        device = {}
        for name in DEVICE_NUMBERS:
            v = np.asarray(results[name])[sel]
            v = v[np.isfinite(v)]
            device[name] = float(v[0]) if v.size else None
        per.append(
            CombinationStatistics(
                parameters=combo,
                realisations=int(sel.sum()),
                **stats,
                valley_splitting_ueV=Statistics.of(pooled, thr),
                tunnel_coupling_not_resolved=int(np.sum(res_flag == 0)),
                no_anticrossing_in_range=int(np.sum(~np.isfinite(res_flag))),
                max_error_bound_ueV=(
                    1e3 * float(np.nanmax(bounds)) if np.any(np.isfinite(bounds)) else None
                ),
                points_solved_in_full=int(np.asarray(results["full_solve"])[sel].sum()),
                lever_arm_meV_per_mV=Statistics.of(
                    np.asarray(results["lever_arm_meV_per_mV"])[sel]
                ),
                device=device,
            )
        )
    return EnsembleSummary(
        realisations=int(done.size),
        done=int(done.sum()),
        seeds=config.ensemble.seed_values(),
        threshold_ueV=thr,
        combinations=per,
    )
