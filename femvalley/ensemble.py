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

Results store (``ensemble.h5``, layout version 2; R realisations, P detunings, k states)
-----------------------------------------------------------------------------------------
- ``detuning_mV`` (P,); ``seed`` (R,), ``combination`` (R,) and, for every parameter,
  ``parameters/<dotted path>`` (R,): what each realisation is;
- ``done`` (R,) uint8; ``energies_meV`` (R, P, k); ``dot_weight`` (R, P, k, 2);
  ``error_bound_meV`` (R, P) (NaN where a point was solved in full); ``full_solve`` (R, P);
- derived, all (R,), by the same resolved analysis as a study
  (:func:`femvalley.analysis.analyse_sweep` in the realisation's certified basis):
  ``valley_splitting_L_ueV``, ``valley_splitting_R_ueV`` (lowest doublet of each dot, paired
  by dot weight) with ``*_bound_ueV``; ``tunnel_coupling_ueV`` (half the smallest ``E1 - E0``
  of the lowest interdot anticrossing, located by root finding; NaN when the range brackets
  none or when it is not resolved), ``tunnel_coupling_bound_ueV`` (its certified bound, or,
  where ``tunnel_coupling_resolved`` is 0, the upper bound ``t < bound``),
  ``anticrossing_mV``, ``lever_arm_meV_per_mV`` (Hellmann-Feynman);
- provenance per realisation: ``point_config_sha256`` (R,) (of the realisation's resolved
  study TOML, which :meth:`EnsembleConfig.point_config` rebuilds), ``worker`` (R,) (host and
  process), ``finished_utc`` (R,), ``solve_s`` (R,);
- root attributes: ``layout_version``, ``ensemble_toml``, ``config_sha256``,
  ``femvalley_version``, ``n_states``.

Every finished task is written to ``ensemble.h5.tmp`` and renamed over ``ensemble.h5``; the
snapshots of every reduced basis are checkpointed in ``bases/``. A rerun with ``resume=True``
skips the finished realisations and rebuilds the same bases from their snapshots, so it ends
with the same numbers as an uninterrupted run. On a Dask cluster a killed worker loses only the
realisations it was computing: the scheduler runs them again elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.analysis import FullSpectrum, Levels, ReducedSpectrum, analyse_sweep
from femvalley.config import StudyConfig
from femvalley.config.ensemble import (
    EnsembleConfig,
    EnsembleSpec,
    ExecutionConfig,
    is_ensemble_file,
)
from femvalley.execution import Executor, make_executor
from femvalley.io import DirectoryLock
from femvalley.io.atomic import atomic_path, write_text
from femvalley.io.hdf5 import read_store
from femvalley.io.snapshots import read_snapshots, write_snapshots
from femvalley.io.toml import dump_toml, text_digest
from femvalley.linalg import serial_blas
from femvalley.progress import Phases, progress_bar
from femvalley.rb import SingleValleyBasis, build_single_valley_basis
from femvalley.resources import check_fits, estimate_study, size_fields
from femvalley.system import StudySystem, build_system, valley_map

__all__ = [
    "DERIVED_EXTRA",
    "ENSEMBLE_STORE",
    "LAYOUT_VERSION",
    "QUANTITIES",
    "SUMMARY_NAME",
    "ensemble_statistics",
    "EnsembleConfig",
    "EnsembleSpec",
    "ExecutionConfig",
    "is_ensemble_file",
    "read_ensemble",
    "run_ensemble",
]

ENSEMBLE_STORE = "ensemble.h5"
SUMMARY_NAME = "ensemble_summary.json"
LAYOUT_VERSION = 2
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
    observables: Any
    backend: str


def _solve_realisations(
    kit: _GroupKit, work: Sequence[tuple[int, StudyConfig]]
) -> list[tuple[int, dict[str, Any]]]:
    """Solve whole sweeps for ``(index, study)`` pairs that share ``kit``'s group."""
    with serial_blas():  # the thread limits under which the group's basis was built
        return [(i, _solve_one(kit, cfg)) for i, cfg in work]


def _solve_task(
    kit: _GroupKit, work: Sequence[tuple[int, StudyConfig]]
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """One task of an executor: its realisations, delivered (and stored) together."""
    yield _solve_realisations(kit, work)


def _solve_one(kit: _GroupKit, cfg: StudyConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    delta, _ = valley_map(cfg, kit.points_nm, vertices_nm=kit.vertices_nm)
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
) -> dict[str, Any]:
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
) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = out / ENSEMBLE_STORE
    if store.exists() and not resume:
        raise ValueError(
            f"{store} already exists; pass resume=True (--resume) to continue that ensemble, "
            "or choose another output directory (nothing is overwritten)"
        )
    configs = [config.point_config(i) for i in range(len(config.realisations()))]
    results = (
        _load(store, config, configs) if resume and store.exists() else _empty(config, configs)
    )
    write_text(out / "ensemble.toml", config.to_toml())
    _write_ensemble(store, config, results)
    t_start = time.perf_counter()

    todo = [i for i, d in enumerate(results["done"]) if not d]
    groups: dict[str, list[int]] = {}
    for i in todo:
        groups.setdefault(_group_key(configs[i]), []).append(i)
    phases = Phases(progress)
    bar: Any = None  # made after the first group's basis: no empty bar while bases are built
    executor: Executor | None = None
    systems: list[StudySystem] = []
    timings: dict[str, float] = {}
    try:
        for key, members in groups.items():
            t0 = time.perf_counter()
            first = configs[members[0]]
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
                [(i, configs[i]) for i in members[a : a + size]]
                for a in range(0, len(members), size)
            ]
            for done in executor.map_unordered(_solve_task, kit, tasks):
                for i, rec in done:
                    for name, value in rec.items():
                        results[name][i] = value
                    results["done"][i] = 1
                _write_ensemble(store, config, results)
                bar.update(len(done))
                if on_task is not None:
                    on_task([i for i, _ in done])
    finally:
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.close()
    results["wall_s"] = time.perf_counter() - t_start
    summary = ensemble_statistics(results, config)
    summary["timings_s"] = {"total": results["wall_s"], **timings}
    summary["execution"] = {
        "workers": config.execution.workers,
        "scheduler": config.execution.scheduler,
    }
    write_text(out / SUMMARY_NAME, json.dumps(summary, indent=2, default=_json_default) + "\n")
    if config.study.output.figures:
        from femvalley.plot import plot_ensemble_distributions

        plot_ensemble_distributions(results, config, out / "ensemble.png")
    results["summary"] = summary
    return results


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
    return _GroupKit(
        basis=basis,
        points_nm=np.asarray(system.basis.doflocs),
        vertices_nm=np.asarray(system.quantum_mesh.p),
        detuning_mV=np.asarray(detuning_mV, dtype=float),
        dot_mass=(
            basis.project_scalar(obs.matrix("dot_L")),
            basis.project_scalar(obs.matrix("dot_R")),
        ),
        observables=system.observables,
        backend=cfg.solver.backend,
    )


def _basis_config(cfg: StudyConfig) -> StudyConfig:
    """Return the study a group's snapshots belong to (the valley map is not in them)."""
    return dataclasses.replace(cfg, valley_map=type(cfg.valley_map)())


# -- store -------------------------------------------------------------------------------------
def _empty(config: EnsembleConfig, configs: Sequence[StudyConfig]) -> dict[str, Any]:
    """Return an empty store of ``config``; ``configs`` are its resolved realisations."""
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
        "point_config_sha256": np.array([text_digest(c.to_toml()) for c in configs], dtype=object),
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


def _write_ensemble(path: Path, config: EnsembleConfig, results: dict[str, Any]) -> None:
    import h5py

    from femvalley.version import __version__

    strings = h5py.string_dtype()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["layout_version"] = LAYOUT_VERSION
        f.attrs["ensemble_toml"] = config.to_toml()
        f.attrs["config_sha256"] = config.identity()
        f.attrs["femvalley_version"] = __version__
        f.attrs["n_states"] = config.study.solver.n_states
        for name, value in results.items():
            if name == "parameters":
                g = f.create_group("parameters")
                for pname, arr in value.items():
                    if np.asarray(arr).dtype.kind in "UO":  # a varied string field
                        g.create_dataset(
                            pname, data=np.asarray(arr).astype(str).tolist(), dtype=strings
                        )
                    else:
                        g.create_dataset(pname, data=arr)
            elif isinstance(value, np.ndarray) and value.dtype == object:
                f.create_dataset(name, data=value.astype(str).tolist(), dtype=strings)
            elif isinstance(value, np.ndarray):
                f.create_dataset(name, data=value)


def read_ensemble(path: str | Path) -> dict[str, Any]:
    """Read an ensemble store (``attrs``: the root attributes; strings decoded)."""
    import h5py

    out: dict[str, Any] = {}
    with read_store(path, "ensemble store") as f:
        for name, obj in f.items():
            if isinstance(obj, h5py.Group):
                out[name] = {
                    k: (
                        np.array(v.asstr()[()], dtype=object)
                        if h5py.check_string_dtype(v.dtype) is not None
                        else v[()]
                    )
                    for k, v in obj.items()
                }
            elif h5py.check_string_dtype(obj.dtype) is not None:
                out[name] = np.array(obj.asstr()[()], dtype=object)
            else:
                out[name] = obj[()]
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out


def _load(path: Path, config: EnsembleConfig, configs: Sequence[StudyConfig]) -> dict[str, Any]:
    stored = read_ensemble(path)
    if stored["attrs"].get("config_sha256") != config.identity():
        raise ValueError(
            f"{path} was made from a different ensemble configuration; refusing to resume "
            "into it. Use another --out directory, or run the original configuration (its TOML "
            "is stored in the file's ensemble_toml attribute)."
        )
    fresh = _empty(config, configs)
    return {k: stored.get(k, v) for k, v in fresh.items()}


# -- statistics --------------------------------------------------------------------------------
def _stats(values: NDArray[np.float64], threshold: float | None) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    ok = v[np.isfinite(v)]
    out: dict[str, Any] = {"count": int(ok.size), "missing": int(v.size - ok.size)}
    if ok.size:
        q25, med, q75 = np.percentile(ok, [25, 50, 75])
        out.update(
            median=float(med),
            q25=float(q25),
            q75=float(q75),
            iqr=float(q75 - q25),
            mean=float(ok.mean()),
            min=float(ok.min()),
            max=float(ok.max()),
        )
        if threshold is not None:
            out["fraction_below_threshold"] = float(np.mean(ok < threshold))
    return out


def ensemble_statistics(results: Mapping[str, Any], config: EnsembleConfig) -> dict[str, Any]:
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
        entry: dict[str, Any] = {"parameters": combo, "realisations": int(sel.sum())}
        for name in QUANTITIES:
            th = thr if name.startswith("valley_splitting") else None
            entry[name] = _stats(np.asarray(results[name])[sel], th)
        pooled = np.concatenate(
            [
                np.asarray(results["valley_splitting_L_ueV"])[sel],
                np.asarray(results["valley_splitting_R_ueV"])[sel],
            ]
        )
        entry["valley_splitting_ueV"] = _stats(pooled, thr)
        res_flag = np.asarray(results["tunnel_coupling_resolved"])[sel]
        entry["tunnel_coupling_not_resolved"] = int(np.sum(res_flag == 0))
        entry["no_anticrossing_in_range"] = int(np.sum(~np.isfinite(res_flag)))
        bounds = np.asarray(results["error_bound_meV"])[sel]
        entry["max_error_bound_ueV"] = (
            1e3 * float(np.nanmax(bounds)) if np.any(np.isfinite(bounds)) else None
        )
        entry["points_solved_in_full"] = int(np.asarray(results["full_solve"])[sel].sum())
        per.append(entry)
    return {
        "realisations": int(done.size),
        "done": int(done.sum()),
        "seeds": config.ensemble.seed_values(),
        "threshold_ueV": thr,
        "combinations": per,
    }


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")
