"""A whole study: the sweep, then its analysis, figures and ParaView files.

:func:`run_study` is what ``femvalley run`` and ``femvalley demo`` call. It runs the detuning
sweep (:func:`femvalley.sweep.run_sweep`: results store, checkpoints, resume, workers) and
then writes, into the same directory:

- ``summary.json``: the headline numbers (:func:`study_numbers`: tunnel coupling, valley
  splitting and phase of each dot, detuning lever arm), each with its certified solver bound
  and its discretisation error (or "not estimated"); every anticrossing of the range,
  resolved (:func:`femvalley.analysis.resolve_anticrossings`); the two-dot model fit as a
  description only; timings and problem size;
- with ``convergence.estimate = "coarser_level"``: the same study one mesh level coarser in
  ``coarser_level/`` (:func:`run_coarser_level`), from which every number gets its
  discretisation error (:func:`discretisation_errors`);
- with ``output.figures``: ``spectrum.png`` (E - min(E0) against detuning, first 4 states,
  coloured by valley parity, with a panel on the resolved lowest anticrossing),
  ``valley_map.png`` (E_V in ueV) and ``density_slices.png`` (ground-state density at both
  ends of the sweep);
- with ``output.vtu_states`` > 0: the ParaView files of :func:`femvalley.export.export_study`.

:func:`barrier_scan` computes the tunnel coupling against one gate's voltage for several
models of the same device.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.analysis import (
    FullSpectrum,
    Levels,
    ReducedSpectrum,
    Spectrum,
    SweepAnalysis,
    analyse_sweep,
)
from femvalley.config import (
    SCAN_MODELS,
    OutputConfig,
    ReductionConfig,
    StudyConfig,
    check_scan,
)
from femvalley.io import DirectoryLock, read_store
from femvalley.io.results import STORE_NAME, read_results
from femvalley.linalg import serial_blas
from femvalley.progress import QUIET, Phases
from femvalley.rb import SingleValleyBasis, TwoValleyBasis
from femvalley.records import FieldMapping, JsonRecord
from femvalley.reported import ReportedNumber
from femvalley.resources import check_fits, estimate_study, size_fields
from femvalley.sweep import SweepResult, run_sweep
from femvalley.system import StudySystem, device_potentials, kp_input

__all__ = [
    "BarrierScan",
    "StudyResult",
    "StudySummary",
    "COARSER_DIR",
    "SCAN_MODELS",
    "SUMMARY_NAME",
    "TWO_ELECTRON_CSV",
    "TWO_ELECTRON_STORE",
    "attach_discretisation",
    "barrier_scan",
    "coarser_level_config",
    "discretisation_errors",
    "finish_study",
    "level_config",
    "number",
    "run_coarser_level",
    "run_study",
    "study_numbers",
    "study_spectrum",
    "stored_study",
    "sweep_levels",
    "two_electron_outputs",
]


SUMMARY_NAME = "summary.json"
#: sub-directory of a study holding the same study one mesh level coarser
COARSER_DIR = "coarser_level"


def run_study(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
    system: StudySystem | None = None,
) -> StudyResult:
    """Run a study and write all its outputs; return the results and the summary.

    Parameters are those of :func:`femvalley.sweep.run_sweep`. The returned
    :class:`StudyResult` is the sweep's results with the summary (the content of
    ``summary.json``). ``out_dir``
    is locked while the study runs (:class:`femvalley.io.DirectoryLock`): a second run into
    it raises :class:`femvalley.io.OutputBusyError`.
    """
    if resume:  # damaged checkpoints are named now, not after minutes of device setup
        for name in (STORE_NAME, "snapshots.h5"):
            if (Path(out_dir) / name).is_file():
                with read_store(Path(out_dir) / name, "checkpoint of the study"):
                    pass
    with DirectoryLock(out_dir):  # one run per output directory
        if resume:
            finished = stored_study(out_dir, config)
            if finished is not None:  # nothing left to do: no file is written
                return finished
        check_fits(estimate_study(config), sizes=size_fields(config))
        t0 = time.perf_counter()
        results = run_sweep(
            config,
            out_dir=out_dir,
            resume=resume,
            progress=progress,
            workers=workers,
            system=system,
        )
        sweep_s = time.perf_counter() - t0
        coarser = None
        if config.convergence.estimate == "coarser_level":
            Phases(progress).note(
                f"the same study on the mesh {config.convergence.ratio:.3g}x coarser "
                f"(in {COARSER_DIR}/), for the discretisation errors"
            )
            coarser = run_coarser_level(
                config, out_dir=out_dir, resume=resume, progress=progress, workers=workers
            )
        summary = finish_study(
            out_dir, results, sweep_s=sweep_s, coarser=coarser, phases=Phases(progress)
        )
    return StudyResult.from_sweep(results, summary)


@dataclass(frozen=True, kw_only=True, eq=False)
class StudySummary(JsonRecord):
    """The summary of a study (``summary.json``): its numbers with their bounds, and its cost.

    As a mapping it is exactly the JSON object of ``summary.json``
    (:class:`femvalley.records.JsonRecord`); the attributes are typed.

    Attributes
    ----------
    device, model : str
        The device and the k.p model (``"3d"``, ``"bo2d"``, ``"slice2d"``).
    points, points_done : int
        Detuning points of the sweep, and how many of them are done.
    n_states : int
        States solved per point.
    kp_mesh : mapping
        ``vertices``, ``elements`` and ``complex_dofs`` of the k.p problem.
    device_mesh_vertices : int
        Vertices of the electrostatic device mesh.
    method : str
        ``solver.method`` (``"reduced_basis"`` or ``"full"``).
    timings_s : mapping
        Seconds: ``setup`` (per phase), per point (mean, full solves, reused, amortised),
        ``sweep_total``, ``reduced_basis_build``.
    numbers : mapping of str to ReportedNumber, optional
        The headline numbers (:func:`study_numbers`): tunnel coupling, valley splitting and
        phase of each dot, lever arm, anticrossing detuning. Absent when the sweep was not
        analysed (fewer than 2 points or states, or the analysis failed).
    reduced_basis, discretisation, model_fit : mapping, optional
        The certified basis (size, snapshots, largest bound, points solved in full); how the
        discretisation errors were estimated; the two-dot model fit (a description only).
    anticrossings : list of mapping, optional
        Every resolved anticrossing of the range
        (:meth:`femvalley.analysis.Anticrossing.as_dict`).
    slice_z_nm : float, optional
        The height of a fixed-z slice model.
    note, analysis_error : str, optional
        Why no tunnel coupling is reported; why the sweep could not be analysed.
    two_electron : mapping, optional
        The ``[two_electron]`` part: basis size, kernel, points, files, the ground state's
        spin at the reported detuning, seconds per point (J itself is ``numbers["exchange"]``).
    spin : mapping, optional
        The ``[spin]`` part: fields, drive gate, files, the spin-valley crossing estimate and
        anticrossing (the qubit's numbers are ``numbers["larmor_frequency"]``,
        ``"rabi_frequency"``, ``"t2_star"``, ``"relaxation_rate"``,
        ``"spin_valley_anticrossing"``).
    figures, paraview : list of str
        Files written (relative to the study directory).
    extra : mapping
        Keys of the file this version does not know (kept, written back).
    """

    device: str
    model: str
    points: int
    points_done: int
    n_states: int
    kp_mesh: Mapping[str, int]
    device_mesh_vertices: int
    method: str
    timings_s: Mapping[str, Any]
    slice_z_nm: float | None = None
    reduced_basis: Mapping[str, Any] | None = None
    analysis_error: str | None = None
    numbers: Mapping[str, ReportedNumber] | None = None
    discretisation: Mapping[str, Any] | None = None
    anticrossings: Sequence[Mapping[str, Any]] | None = None
    note: str | None = None
    model_fit: Mapping[str, Any] | None = None
    two_electron: Mapping[str, Any] | None = None
    spin: Mapping[str, Any] | None = None
    figures: Sequence[str] = ()
    paraview: Sequence[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySummary:
        """Read the JSON object of ``summary.json``."""
        summary: StudySummary = super().from_dict(data)
        if summary.numbers is not None:
            numbers = {k: ReportedNumber.from_dict(v) for k, v in summary.numbers.items()}
            summary = dataclasses.replace(summary, numbers=numbers)
        return summary


@dataclass(frozen=True, eq=False)
class StudyResult(SweepResult):
    """The results of a study: its sweep (:class:`femvalley.sweep.SweepResult`) and summary.

    ``summary`` is the content of ``summary.json`` (:class:`StudySummary`: the numbers with
    their bounds and discretisation errors, the timings, the figures written; ``None`` when a
    stored study has no summary yet); ``already_finished`` is true when :func:`run_study`
    found the study finished in its directory and computed nothing.
    """

    summary: StudySummary | None = None
    already_finished: bool = False

    @classmethod
    def from_sweep(
        cls, sweep: SweepResult, summary: StudySummary | None, *, already_finished: bool = False
    ) -> StudyResult:
        """Return ``sweep`` with its summary."""
        fields = {f.name: getattr(sweep, f.name) for f in dataclasses.fields(SweepResult)}
        return cls(**fields, summary=summary, already_finished=already_finished)

    @classmethod
    def load(cls, path: str | Path) -> StudyResult:
        """Read a study directory (``results.h5`` and, when present, ``summary.json``).

        ``path`` may also be the ``results.h5`` file itself.
        """
        p = Path(path)
        out = p.parent if p.is_file() else p
        sweep = SweepResult.load(out / STORE_NAME)
        summary = None
        if (out / SUMMARY_NAME).is_file():
            summary = StudySummary.read(out / SUMMARY_NAME)
        return cls.from_sweep(sweep, summary)

    def save(self, path: str | Path) -> Path:
        """Write ``results.h5`` and ``summary.json`` into the study directory ``path``."""
        out = Path(path)
        if out.suffix == ".h5":  # the store's own name was given
            out = out.parent
        out.mkdir(parents=True, exist_ok=True)
        super().save(out / STORE_NAME)
        if self.summary is not None:
            self.summary.write(out / SUMMARY_NAME)
        return out


def stored_study(out_dir: str | Path, config: StudyConfig) -> StudyResult | None:
    """Return the results and summary of ``config``'s finished study in ``out_dir``, or None.

    A study is finished when ``results.h5`` holds ``config`` (the same resolved TOML) with
    every point done, ``summary.json`` was written after it for all those points, and its
    coarser level (when the study estimates one) is finished too. :func:`run_study` with
    ``resume=True`` then returns these stored numbers and writes nothing (only the lock file
    ``.femvalley.lock`` is taken and released). The result is read from the files, with
    ``already_finished`` true (and no system or basis).
    """
    out = Path(out_dir)
    store, summary_path = out / STORE_NAME, out / SUMMARY_NAME
    if not (store.is_file() and summary_path.is_file()):
        return None
    stored = read_results(store)  # a damaged store is reported (CorruptStoreError)
    if stored["attrs"].get("config_toml") != config.to_toml():
        return None  # run_sweep says why it cannot resume into it
    done = np.asarray(stored.get("done", []))
    if done.size == 0 or not np.all(done == 1):
        return None
    if summary_path.stat().st_mtime_ns < store.stat().st_mtime_ns:
        return None  # the run stopped between the sweep and its summary
    try:
        summary = StudySummary.read(summary_path)
    except (OSError, ValueError, TypeError):
        return None
    if summary.points_done != done.size:
        return None
    if config.convergence.estimate == "coarser_level" and (
        stored_study(out / COARSER_DIR, coarser_level_config(config)) is None
    ):
        return None
    return StudyResult.from_sweep(SweepResult.load(store), summary, already_finished=True)


def coarser_level_config(config: StudyConfig) -> StudyConfig:
    """Return the study on the mesh one ``convergence.ratio`` coarser, with no figures or files.

    Every parameter of ``convergence.refine`` is multiplied by ``convergence.ratio``.
    """
    r = config.convergence.ratio
    return level_config(config, {k: v * r for k, v in config.mesh_sizes_nm().items()})


def level_config(config: StudyConfig, sizes_nm: dict[str, float]) -> StudyConfig:
    """Return the study on other mesh sizes (nm), estimating nothing, with no figures or files.

    A level of a mesh hierarchy (:func:`coarser_level_config`, ``femvalley converge``).
    """
    cfg = config.with_mesh_sizes(sizes_nm)
    return dataclasses.replace(cfg, output=OutputConfig(figures=False, vtu_states=0))


def run_coarser_level(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
) -> StudySummary:
    """Run the study one level coarser (:func:`coarser_level_config`); return its summary.

    It is written to ``out_dir / "coarser_level"`` (resumed from there with ``resume``).
    """
    sub = Path(out_dir) / COARSER_DIR
    cfg = coarser_level_config(config)
    stored = sub / "results.h5"
    res = run_study(
        cfg, out_dir=sub, resume=resume and stored.exists(), progress=progress, workers=workers
    )
    if res.summary is None:  # run_study always writes one
        raise RuntimeError(f"the coarser level in {sub} has no summary")
    return res.summary


def discretisation_errors(
    fine: Mapping[str, ReportedNumber],
    coarse: Mapping[str, ReportedNumber],
    *,
    ratio: float,
) -> dict[str, float]:
    """Discretisation error of every number from the same number one level coarser.

    For a number resolved on both levels, the error of the fine value is estimated as
    ``|v_fine - v_coarse| / (ratio^2 - 1)`` (:func:`femvalley.convergence.richardson` on two
    levels with an assumed order 2; the change itself for the default ratio ``sqrt(2)``:
    conservative when the levels are in the asymptotic range, which the hierarchy of
    ``femvalley converge`` checks). Numbers not resolved on either level, and numbers without
    a solver bound (the valley phases), get no entry.
    """
    from femvalley.convergence import richardson

    out: dict[str, float] = {}
    for key, num in fine.items():
        other = coarse.get(key)
        v_f = num.value
        v_c = None if other is None else other.value
        if v_f is None or v_c is None or not num.certified:
            continue
        if num.unit == "rad":
            v_c = v_f + float(np.angle(np.exp(1j * (v_c - v_f))))
        ex = richardson([ratio, 1.0], [float(v_c), float(v_f)], assumed_order=2.0)
        out[key] = float(ex.error)
    return out


def attach_discretisation(
    numbers: Mapping[str, ReportedNumber], errors: Mapping[str, float], *, method: str
) -> dict[str, ReportedNumber]:
    """Return the numbers with the ``discretisation_error`` (and printed text) of ``errors``."""
    return {
        key: (
            num.with_discretisation(errors[key], method=method)
            if key in errors and num.certified
            else num
        )
        for key, num in numbers.items()
    }


def finish_study(
    out_dir: str | Path,
    results: SweepResult,
    *,
    sweep_s: float | None = None,
    coarser: StudySummary | None = None,
    phases: Phases = QUIET,
) -> StudySummary:
    """Analysis, figures, ParaView files and ``summary.json`` of a finished sweep.

    ``phases`` announces the analysis, the figures and the ParaView files on stderr.

    ``coarser``: the summary of the same study one mesh level coarser
    (:func:`run_coarser_level`), from which every number gets its discretisation error.
    """
    out = Path(out_dir)
    system = results.system
    if system is None:
        raise ValueError("finish_study needs the sweep's system (a result just computed)")
    cfg = system.config
    eps = np.asarray(results.detuning_mV)
    e = np.asarray(results.energies_meV)
    points_done = int(np.sum(results.done))
    timings: dict[str, Any] = {
        "setup": {k: round(v, 3) for k, v in system.timings_s.items()},
        "per_point_mean": float(np.nanmean(results.solve_s)),
        "per_point_full_solve_mean": _mean_where(results, 1),
        "per_point_reused_mean": _mean_where(results, 0),
        "sweep_total": sweep_s,
    }
    parts: dict[str, Any] = {}  # the optional parts of the summary
    if system.reduction is not None and system.reduction.slice_z_nm is not None:
        parts["slice_z_nm"] = system.reduction.slice_z_nm
    reduced = results.reduced
    if reduced is not None:
        build = float(results.reduced_build_s or 0.0)
        timings["reduced_basis_build"] = build
        timings["per_point_amortised"] = (build + float(np.nansum(results.solve_s))) / max(
            points_done, 1
        )
        bounds = np.asarray(results.error_bound_meV, dtype=float)
        parts["reduced_basis"] = {
            "size": reduced.size,
            "snapshot_detuning_mV": [s.scales["detuning"] for s in reduced.snapshots],
            "tolerance_ueV": cfg.solver.tolerance_ueV,
            "kind": cfg.solver.reduced_basis,
            # None when no point was certified (every point then had a full solve)
            "max_error_bound_ueV": (
                1e3 * float(np.nanmax(bounds)) if np.any(np.isfinite(bounds)) else None
            ),
            "points_solved_in_full": int(np.sum(results.full_solve)),
        }
    analysis = None
    if points_done >= 2 and cfg.solver.n_states >= 2 and bool(np.all(results.done)):
        spectrum = study_spectrum(system, reduced)
        # the reduced solves of the sweep points again, with per-state bounds: small dense
        # problems, one BLAS thread (two spinning pools on two cores slow each 2-5x)
        with serial_blas() if reduced is not None else nullcontext():
            levels = sweep_levels(results, spectrum)
        try:
            # root finding on reduced solves: small dense problems, one BLAS thread
            with (
                phases.phase("analysis: anticrossings, valley splittings, lever arm"),
                serial_blas() if reduced is not None else nullcontext(),
            ):
                analysis = analyse_sweep(spectrum, eps, levels=levels)
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
            parts["analysis_error"] = str(err)
    if analysis is not None:
        numbers = study_numbers(analysis)
        if coarser is not None:
            ratio = cfg.convergence.ratio
            coarse_numbers = coarser.numbers or {}
            errors = discretisation_errors(numbers, coarse_numbers, ratio=ratio)
            numbers = attach_discretisation(
                numbers, errors, method=f"change from the mesh {ratio:.4g}x coarser"
            )
            parts["discretisation"] = {
                "method": "coarser_level",
                "ratio": ratio,
                "coarser_mesh_nm": coarser_level_config(cfg).mesh_sizes_nm(),
                "coarser_dir": COARSER_DIR,
                "coarser_numbers": {k: v.value for k, v in coarse_numbers.items()},
            }
        parts["numbers"] = numbers
        parts["anticrossings"] = [c.as_dict() for c in analysis.anticrossings]
        if analysis.tunnel_coupling is None:
            parts["note"] = (
                f"the detuning range {eps.min():g} .. {eps.max():g} mV brackets no interdot "
                "anticrossing of the two lowest states: no tunnel coupling is reported"
            )
    if cfg.solver.n_states >= 4 and points_done >= 8:
        from femvalley.analysis import fit_anticrossing

        try:
            fit = fit_anticrossing(eps, e, results.dot_weight)
            parts["model_fit"] = fit.as_dict()
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
            parts["model_fit"] = {"error": str(err)}
    te_figures = (
        _two_electron_part(out, system, parts, coarser, phases)
        if cfg.two_electron is not None
        else []
    )
    te_figures += _spin_part(out, system, parts, coarser, phases) if cfg.spin is not None else []
    figures: list[str] = []
    if cfg.output.figures:
        with phases.phase("figures"):
            figures = [p.name for p in _figures(out, results, system, analysis, reduced)]
    figures += te_figures
    if cfg.output.vtu_states > 0:
        from femvalley.export import export_study

        with phases.phase("ParaView files"):
            parts["paraview"] = [str(p.relative_to(out)) for p in export_study(out)]
    summary = StudySummary(
        device=cfg.device.name,
        model=cfg.model,
        points=int(eps.size),
        points_done=points_done,
        n_states=cfg.solver.n_states,
        kp_mesh={
            "vertices": int(system.quantum_mesh.nvertices),
            "elements": int(system.quantum_mesh.nelements),
            "complex_dofs": int(system.operators.ndof),
        },
        device_mesh_vertices=int(system.device_mesh.nvertices),
        method=cfg.solver.method,
        timings_s=timings,
        figures=figures,
        **parts,
    )
    summary.write(out / SUMMARY_NAME)
    return summary


def _optional_part(
    name: str,
    label: str,
    run: Callable[[], tuple[dict[str, ReportedNumber], dict[str, Any], list[str]]],
    cfg: StudyConfig,
    parts: dict[str, Any],
    coarser: StudySummary | None,
    phases: Phases,
) -> list[str]:
    """Run an optional part of a study (``[two_electron]``, ``[spin]``) into ``parts``.

    ``run()`` returns the part's numbers, its summary entry and its figures. The numbers join
    the study's, with discretisation errors from the coarser level's same numbers. A failing
    part keeps the one-electron study: the summary records the failure under ``name``.
    """
    try:
        with phases.phase(label):
            numbers, parts[name], figures = run()
    except (ValueError, RuntimeError, np.linalg.LinAlgError, MemoryError) as err:
        # the one-electron study is complete and stays: its summary says what failed here
        text = "out of memory" if isinstance(err, MemoryError) else str(err)
        parts[name] = {"error": f"{type(err).__name__}: {text}"}
        what = name.replace("_", "-")
        phases.note(f"the {what} part failed ({text}); the one-electron study is kept")
        return []
    if coarser is not None and coarser.numbers:
        common = {k: v for k, v in numbers.items() if k in coarser.numbers}
        ratio = cfg.convergence.ratio
        errors = discretisation_errors(common, {k: coarser.numbers[k] for k in common}, ratio=ratio)
        method = f"change from the mesh {ratio:.4g}x coarser"
        numbers = {**numbers, **attach_discretisation(common, errors, method=method)}
    parts["numbers"] = {**(parts.get("numbers") or {}), **numbers}
    return figures


def _two_electron_part(
    out: Path,
    system: StudySystem,
    parts: dict[str, Any],
    coarser: StudySummary | None,
    phases: Phases,
) -> list[str]:
    """Run the ``[two_electron]`` part into ``parts`` (J among the numbers); return figures."""
    cfg = system.config
    te = cfg.two_electron
    assert te is not None

    def run() -> tuple[dict[str, ReportedNumber], dict[str, Any], list[str]]:
        exchange, part, figures = two_electron_outputs(
            out, system, figures=cfg.output.figures, paraview=cfg.output.vtu_states > 0
        )
        return {"exchange": exchange}, part, figures

    label = f"two electrons: {te.points} detunings, {te.n_states} states, {te.kernel} kernel"
    return _optional_part("two_electron", label, run, cfg, parts, coarser, phases)


def _spin_part(
    out: Path,
    system: StudySystem,
    parts: dict[str, Any],
    coarser: StudySummary | None,
    phases: Phases,
) -> list[str]:
    """Run the ``[spin]`` part into ``parts`` (its numbers among the numbers); return figures."""
    from femvalley.qubit_study import spin_outputs

    cfg = system.config
    sc = cfg.spin
    assert sc is not None

    def run() -> tuple[dict[str, ReportedNumber], dict[str, Any], list[str]]:
        return spin_outputs(out, system, figures=cfg.output.figures)

    return _optional_part(
        "spin", f"spin qubit: {sc.points} fields", run, cfg, parts, coarser, phases
    )


def _basis_note(sweep: Any, n_states: int) -> dict[str, str]:
    """Return a note naming the detunings where the basis holds under one state in a dot."""
    short = sweep.detuning_mV[np.nanmin(sweep.basis_dot_weight, axis=1) < 1.0]
    if not short.size:
        return {}
    where = ", ".join(f"{x:g} mV" for x in short)
    return {
        "basis_note": (
            f"at {where} the {n_states} one-electron states hold less than one state in a dot: "
            "the (1,1) configurations are missing there (excited levels and J are not "
            "those of the double dot); raise two_electron.n_states"
        )
    }


def _charge_anticrossings(solver: Any, sweep: Any) -> list[dict[str, Any]]:
    """Locate every (1,1) to (2,0)/(0,2) singlet anticrossing the sweep brackets.

    Between two points where the ground singlet's double occupancy crosses 1/2, the smallest
    singlet gap is found by root finding (:meth:`TwoElectronSolver.charge_anticrossing`).
    """
    occupied = []
    for p in range(sweep.detuning_mV.size):
        singlets = np.nonzero(sweep.spin[p] == 0)[0]
        occupied.append(
            float(sweep.double_occupancy[p, singlets[0]].sum()) if singlets.size else np.nan
        )
    found: list[dict[str, Any]] = []
    for p in range(len(occupied) - 1):
        a, b = occupied[p], occupied[p + 1]
        if not (np.isfinite(a) and np.isfinite(b)) or (a - 0.5) * (b - 0.5) >= 0:
            continue
        bracket = (float(sweep.detuning_mV[p]), float(sweep.detuning_mV[p + 1]))
        try:
            ca = solver.charge_anticrossing(tuple(sorted(bracket)))
        except (ValueError, RuntimeError) as err:
            found.append({"bracket_mV": list(bracket), "error": str(err)})
            continue
        found.append(
            {
                "detuning_mV": ca.detuning_mV,
                "singlet_gap_ueV": 1e3 * ca.gap_meV,
                "double_occupancy": list(ca.double_occupancy),
                "evaluations": ca.evaluations,
            }
        )
    return found


#: the files of a study's two-electron part
TWO_ELECTRON_STORE = "two_electron.h5"
TWO_ELECTRON_CSV = "two_electron.csv"


def two_electron_outputs(
    out: Path, system: StudySystem, *, figures: bool = True, paraview: bool = True
) -> tuple[ReportedNumber, dict[str, Any], list[str]]:
    """Run a study's ``[two_electron]`` part and write its files.

    Returns the reported J, the summary's ``two_electron`` part and the figures written.

    The exchange is computed at ``points`` detunings spread over ``two_electron.detuning_mV``
    (default: the study's range)
    (``two_electron.h5``, ``two_electron.csv``, the figure ``two_electron.png`` and the
    ground state's electron density at the reported point in
    ``paraview/two_electron_density.vtu``). The reported J is the one at the detuning
    nearest the middle of the range, with its basis error as the bound (an estimate from the
    change of J with the basis size, not a certificate): a J not larger than that is
    reported as not resolved.
    """
    from femvalley.twoelectron import TwoElectronSolver, two_electron_sweep

    cfg = system.config
    te = cfg.two_electron
    assert te is not None
    lo, hi = te.range_mV(cfg.detuning.start_mV, cfg.detuning.stop_mV)
    eps = np.linspace(lo, hi, te.points) if te.points > 1 else np.array([0.5 * (lo + hi)])
    report = int(np.argmin(np.abs(eps - 0.5 * (lo + hi))))
    solver = TwoElectronSolver(
        system,
        n_states=te.n_states,
        kernel=te.kernel,
        n_levels=te.n_levels,
        poisson_order=te.poisson_order or None,
    )
    kept: dict[str, Any] = {}

    def keep(i: int, point: Any) -> None:
        if i == report:
            kept["density"] = point.density(0)
            kept["convergence"] = point.convergence  # computed once, by the sweep

    sweep = two_electron_sweep(solver, eps, on_point=keep)
    sweep.save(out / TWO_ELECTRON_STORE)
    sweep.write_csv(out / TWO_ELECTRON_CSV)
    j, err = float(sweep.exchange_meV[report]), float(sweep.exchange_error_meV[report])
    conv = kept["convergence"]
    exchange = ReportedNumber.bounded(
        1e3 * j,
        1e3 * err if math.isfinite(err) else math.inf,
        "ueV",
        at_detuning_mV=float(eps[report]),
        method=(
            f"E(T0) - E(S) of the lowest triplet and singlet, configuration interaction over "
            f"{te.n_states} one-electron states, {te.kernel} Coulomb kernel"
        ),
        bound_method=f"basis error: {conv.method} (an estimate, not certified)",
        basis_sizes=list(conv.sizes),
        exchange_ueV_per_size=[1e3 * x for x in conv.exchange_meV],
    )
    crossings = _charge_anticrossings(solver, sweep)
    files = [TWO_ELECTRON_STORE, TWO_ELECTRON_CSV]
    if paraview:
        from femvalley.io.paraview import write_vtu

        mesh = system.quantum_mesh
        unit = "nm3" if mesh.p.shape[0] == 3 else "nm2"
        vtu = write_vtu(
            out / "paraview" / "two_electron_density.vtu",
            mesh.p,
            mesh.t,
            {f"two_electron_density_per_{unit}": np.asarray(kept["density"])[: mesh.nvertices]},
        )
        files.append(str(vtu.relative_to(out)))
    drawn: list[str] = []
    if figures:
        from femvalley.plot import plot_two_electron

        title = (
            f"{cfg.device.name}, model {cfg.model}: two electrons, {te.kernel} kernel, "
            f"m = {te.n_states}"
        )
        drawn.append(plot_two_electron(sweep, out / "two_electron.png", title=title).name)
    part = {
        "n_states": te.n_states,
        "kernel": te.kernel,
        "points": int(eps.size),
        "files": files,
        "ground_spin": int(sweep.spin[report, 0]),
        "charge_anticrossings": crossings,
        "basis_dot_weight_min": float(np.nanmin(sweep.basis_dot_weight)),
        **_basis_note(sweep, te.n_states),
        "seconds_per_point": float(sweep.attrs["seconds_per_point"]),
    }
    return exchange, part, drawn


def study_spectrum(
    system: StudySystem, reduced: SingleValleyBasis | TwoValleyBasis | None = None
) -> Spectrum:
    """Return the levels of a study at any detuning: its reduced basis, else full solves.

    With the single-valley reduced basis every evaluation is a certified reduced solve
    (a point it cannot certify falls back to a full solve); otherwise each evaluation is a
    full solve (:class:`~femvalley.analysis.FullSpectrum`).
    """
    cfg = system.config
    full = FullSpectrum(
        system.operators, system.observables, k=cfg.solver.n_states, backend=cfg.solver.backend
    )
    if isinstance(reduced, SingleValleyBasis):
        return ReducedSpectrum(reduced, system.observables, fallback=full)
    return full


def sweep_levels(results: Mapping[str, Any], spectrum: Spectrum | None = None) -> list[Levels]:
    """Return the :class:`~femvalley.analysis.Levels` at the sweep points of a study.

    Points certified by a reduced basis are evaluated again in ``spectrum`` when it is a
    :class:`~femvalley.analysis.ReducedSpectrum` (milliseconds each, with per-state bounds);
    the others are taken from the stored records (full solves: bounds not certified).
    """
    eps = np.asarray(results["detuning_mV"], dtype=float)
    out: list[Levels] = []
    for j, x in enumerate(eps):
        if isinstance(spectrum, ReducedSpectrum) and not results["full_solve"][j]:
            out.append(spectrum(float(x)))
            continue
        k = results["energies_meV"].shape[1]
        out.append(
            Levels(
                detuning_mV=float(x),
                energies_meV=np.asarray(results["energies_meV"][j], dtype=float),
                bounds_meV=np.full(k, np.inf),
                slopes_meV_per_mV=np.asarray(results["detuning_slope_meV_per_mV"][j], float),
                slope_bounds_meV_per_mV=np.full(k, np.inf),
                dot_weight=np.asarray(results["dot_weight"][j], dtype=float),
                valley_parity=np.asarray(results["valley_parity"][j], dtype=float),
                valley_coupling_meV=np.asarray(results["valley_coupling_meV"][j], complex),
            )
        )
    return out


def number(
    value: float,
    bound: float,
    unit: str,
    *,
    discretisation: float | None = None,
    **details: Any,
) -> ReportedNumber:
    """Return one reported number: value, certified solver bound, discretisation error.

    A value not larger than its bound is not resolved: ``value`` is then ``None`` and
    ``below`` holds what is known (``|value| + bound``). ``text`` is the printed form
    (:meth:`femvalley.reported.ReportedNumber.bounded`).
    """
    return ReportedNumber.bounded(value, bound, unit, discretisation=discretisation, **details)


def study_numbers(analysis: SweepAnalysis) -> dict[str, ReportedNumber]:
    """Return the headline numbers of a sweep, each with its bound (see :func:`number`)."""
    nums: dict[str, ReportedNumber] = {}
    tc = analysis.tunnel_coupling
    if tc is not None:
        nums["tunnel_coupling"] = number(
            tc.tunnel_coupling_ueV,
            tc.tunnel_coupling_bound_ueV,
            "ueV",
            at_detuning_mV=tc.detuning_mV,
            method="half the smallest E1 - E0, located by root finding (not a fit)",
        )
        nums["anticrossing_detuning"] = ReportedNumber.descriptive(
            tc.detuning_mV, "mV", f"{tc.detuning_mV:.6g} mV"
        )
    for dot, name in ((0, "dot_L"), (1, "dot_R")):
        d = analysis.doublets.get(dot)
        if d is None:
            continue
        nums[f"valley_splitting_{name}"] = number(
            d.valley_splitting_ueV,
            d.bound_ueV,
            "ueV",
            at_detuning_mV=d.detuning_mV,
            localisation=d.localisation,
            range_over_sweep_ueV=list(analysis.valley_splitting_range_ueV.get(dot, ())),
        )
        nums[f"valley_phase_{name}"] = ReportedNumber.descriptive(
            d.valley_phase_rad,
            "rad",
            f"{d.valley_phase_rad:.4f} rad (arg <Delta> over the doublet)",
        )
    if np.isfinite(analysis.lever_arm_meV_per_mV):
        nums["lever_arm"] = number(
            analysis.lever_arm_meV_per_mV,
            analysis.lever_arm_bound_meV_per_mV,
            "meV/mV",
            at_detuning_mV=analysis.lever_arm_detuning_mV,
            method="Hellmann-Feynman slopes of the lowest state of each dot",
        )
    return nums


def _mean_where(results: Mapping[str, Any], flag: int) -> float | None:
    sel = (np.asarray(results["done"]) == 1) & (np.asarray(results["full_solve"]) == flag)
    return float(np.mean(np.asarray(results["solve_s"])[sel])) if sel.any() else None


def _figures(
    out: Path,
    results: SweepResult,
    system: StudySystem,
    analysis: SweepAnalysis | None,
    reduced: SingleValleyBasis | TwoValleyBasis | None,
) -> list[Path]:
    from femvalley.plot import plot_density_slices, plot_spectrum, plot_valley_splitting_map

    cfg = system.config
    zoom = None
    tc = None if analysis is None else analysis.tunnel_coupling
    if tc is not None and isinstance(reduced, SingleValleyBasis):
        # reduced solves without a full-solve fallback: a figure needs no certificate, and
        # the analysis's spectrum would solve in full wherever the zoom leaves the basis's
        # certified range (minutes, measured: benchmarks/bench_sweep_online.py)
        spectrum = ReducedSpectrum(reduced, system.observables)
        w = 6.0 * tc.width_mV if np.isfinite(tc.width_mV) and tc.width_mV > 0 else 0.1

        def branches(x: Any) -> Any:
            return np.array([spectrum(float(v)).energies_meV[:2] for v in x])

        label = (
            f"2t = {tc.gap_ueV:.4g} +- {tc.gap_bound_ueV:.2g} ueV"
            if tc.resolved
            else f"2t < {tc.gap_bound_ueV + max(tc.gap_ueV, 0.0):.2g} ueV (not resolved)"
        )
        zoom = {
            "detuning_mV": tc.detuning_mV,
            "width_mV": w,
            "energies_meV": branches,
            "label": label,
        }
    with serial_blas() if zoom is not None else nullcontext():  # the zoom's reduced solves
        spectrum_png = plot_spectrum(
            out / "spectrum.png",
            detuning_mV=results.detuning_mV,
            energies_meV=results.energies_meV,
            valley_parity=results.valley_parity,
            n_states=4,
            title=f"{cfg.device.name}, model {cfg.model}: lowest states against detuning",
            zoom=zoom,
        )
    written = [spectrum_png, plot_valley_splitting_map(system.valley_grid, out / "valley_map.png")]
    states = results.states
    eps = np.asarray(results.detuning_mV)
    ends = {"first": eps[0], "last": eps[-1]}
    densities = {
        f"ground state, detuning {ends[name]:+.3g} mV": np.sum(np.abs(states[name][0]) ** 2, axis=0)
        for name in ("first", "last")
        if name in states
    }
    if densities:
        device = cfg.device.resolved()
        outlines = {g: o for g, o in device.gate_outlines_nm().items() if g in device.gates}
        written.append(
            plot_density_slices(
                out / "density_slices.png",
                mesh=system.quantum_mesh,
                densities=densities,
                outlines_nm=outlines,
            )
        )
    return written


@dataclass(frozen=True, eq=False)
class BarrierScan(FieldMapping):
    """Tunnel coupling against one gate's voltage, per model (:func:`barrier_scan`).

    Also a read-only mapping of its fields (``scan["tunnel_coupling_ueV"]["bo2d"]``).
    """

    #: the scanned gate
    gate: str
    #: its voltages (n,), V
    voltages_V: NDArray[np.float64]
    #: model -> tunnel coupling (n,), ueV: half the smallest E1 - E0 over the detuning
    tunnel_coupling_ueV: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    #: model -> the detuning of that smallest gap (n,), mV
    anticrossing_mV: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    #: model -> mean seconds per eigensolve
    solve_s: dict[str, float] = field(default_factory=dict)
    #: fixed-z slice models -> the height of the slice at every voltage (n,), nm
    slice_z_nm: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    #: model -> number of unknowns of its orbital problem
    unknowns: dict[str, int] = field(default_factory=dict)


def barrier_scan(
    config: StudyConfig,
    *,
    gate: str,
    voltages_V: ArrayLike,
    models: Sequence[str] = SCAN_MODELS,
    bracket_mV: tuple[float, float] = (-100.0, 100.0),
    system: StudySystem | None = None,
) -> BarrierScan:
    """Tunnel coupling against the voltage of one gate, for several models of the same device.

    For every voltage of ``gate`` (the other gates at the study's biases) and every model,
    the orbital (single-valley) problem is solved and the detuning is varied within
    ``bracket_mV`` to the smallest ``E1 - E0`` (:func:`femvalley.analysis.minimum_gap`);
    the tunnel coupling is half of it (ref. 1 section IV.1.2). The device mesh and
    the gate potentials are computed once (or taken from ``system``); every model is rebuilt
    at every voltage (the Born-Oppenheimer columns are solved again, they depend on it).

    Parameters
    ----------
    config : StudyConfig
        The device, biases and detuning weights (its ``model`` is not used).
    gate : str
        The scanned gate (e.g. the barrier).
    voltages_V : array_like
        Its voltages (V).
    models : sequence of str
        Any of :data:`SCAN_MODELS`: ``"3d"``, ``"bo2d"``, ``"slice2d:interface"``,
        ``"slice2d:max_density"``.
    bracket_mV : (float, float)
        Detuning interval searched for the anticrossing.
    system : StudySystem, optional
        A system of the same device whose mesh and potentials are reused.

    Returns
    -------
    BarrierScan
        ``voltages_V`` (n,), and per model (mappings keyed by model): ``tunnel_coupling_ueV``
        (n,), ``anticrossing_mV`` (n,), ``solve_s`` (mean seconds per eigensolve),
        ``slice_z_nm`` (slices), ``unknowns``.
    """
    from femvalley.analysis import minimum_gap
    from femvalley.eigen import solve
    from femvalley.kp import KPOperators, assemble, single_band_model

    check_scan(config, gate, models)
    volts_list = [float(v) for v in np.atleast_1d(np.asarray(voltages_V, dtype=float))]
    if system is not None:
        _, _, qmesh, gq = system.device_parts(config)
    else:
        _, _, qmesh, gq = device_potentials(config)
    out = BarrierScan(gate=gate, voltages_V=np.asarray(volts_list))
    for name in models:
        model, _, where = name.partition(":")
        cfg = dataclasses.replace(
            config,
            model=model,
            reduction=ReductionConfig(slice_at=where or "interface"),
        )
        t_ueV: list[float] = []
        at: list[float] = []
        times: list[float] = []
        zs: list[float] = []
        for v in volts_list:
            volts = config.voltages(0.0)
            volts[gate] = v
            kin = kp_input(cfg, volume_mesh=qmesh, potentials=gq, voltages_V=volts)
            ops = assemble(
                single_band_model(
                    dim=kin.mesh.p.shape[0],
                    potential_meV=kin.potential_meV,
                    materials=kin.materials,
                    potential_terms=kin.terms,
                ),
                kin.basis,
            )

            def gap(eps: float, ops: KPOperators = ops, times: list[float] = times) -> float:
                t0 = time.perf_counter()
                e = solve(ops, k=2, scales={"detuning": eps}).energies_meV
                times.append(time.perf_counter() - t0)
                return float(e[1] - e[0])

            mg = minimum_gap(gap, bracket_mV=bracket_mV)
            t_ueV.append(1e3 * mg.tunnel_coupling_meV)
            at.append(mg.at_mV)
            if kin.reduction is not None and kin.reduction.slice_z_nm is not None:
                zs.append(kin.reduction.slice_z_nm)
        out.tunnel_coupling_ueV[name] = np.asarray(t_ueV)
        out.anticrossing_mV[name] = np.asarray(at)
        out.solve_s[name] = float(np.mean(times))
        out.unknowns[name] = int(ops.ndof)
        if zs:
            out.slice_z_nm[name] = np.asarray(zs)
    return out
