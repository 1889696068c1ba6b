"""A study on a hierarchy of meshes: the discretisation error of every number it reports.

:func:`converge_study` is what ``femvalley converge STUDY.toml`` calls. It runs the same study
(same device, biases, valley map, detuning sweep) at the mesh levels of its
``[convergence]`` table (:meth:`femvalley.config.StudyConfig.mesh_levels`: every parameter of
``convergence.refine`` multiplied by ``ratio ** (coarser_levels - i)``), each level a complete
study in ``level_<i>/`` of the output directory, and collects per level:

- the headline numbers of the study (tunnel coupling, anticrossing position, valley
  splitting of each dot, detuning lever arm; :func:`femvalley.study.study_numbers`), NaN
  where a level does not resolve one;
- the two lowest energies and the ground state's centre ``<x>`` at both ends of the sweep
  (fixed detunings, so comparable across levels).

Every observable is Richardson-extrapolated over the levels
(:func:`femvalley.convergence.richardson`: observed order, extrapolated value, error of the
finest level, error of the extrapolated value, status). The converged numbers are the
extrapolated values (or the finest values where the levels do not converge regularly) with
the certified solver bound of the finest level and the estimated discretisation error; with
two levels (no observed order) they are the finest values with the change between the levels
as their error.

Outputs: ``convergence.csv`` and ``convergence.json`` (the table), ``convergence.png`` (the
deviation from the extrapolated value against the mesh size, log-log), and
``convergence_summary.json`` (the converged numbers). When only ``kp_*`` parameters are
refined, the device mesh and its gate potentials are computed once and shared by all levels.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.config import StudyConfig
from femvalley.convergence import ConvergenceTable, RichardsonOptions, converge
from femvalley.io import DirectoryLock
from femvalley.io.atomic import write_text
from femvalley.records import plain
from femvalley.reported import ReportedNumber, format_value

__all__ = [
    "CONVERGENCE_SUMMARY_NAME",
    "OBSERVABLES",
    "StudyConvergence",
    "converge_study",
    "level_observables",
]

CONVERGENCE_SUMMARY_NAME = "convergence_summary.json"

#: observables of every level: name -> (key of the study's numbers, unit)
_NUMBERS = {
    "tunnel_coupling_ueV": ("tunnel_coupling", "ueV"),
    "anticrossing_mV": ("anticrossing_detuning", "mV"),
    "valley_splitting_L_ueV": ("valley_splitting_dot_L", "ueV"),
    "valley_splitting_R_ueV": ("valley_splitting_dot_R", "ueV"),
    "lever_arm_meV_per_mV": ("lever_arm", "meV/mV"),
}
#: every observable of a level and its unit
OBSERVABLES: dict[str, str] = {
    **{name: unit for name, (_, unit) in _NUMBERS.items()},
    "E0_start_meV": "meV",
    "E1_start_meV": "meV",
    "E0_stop_meV": "meV",
    "E1_stop_meV": "meV",
    "x0_start_nm": "nm",
    "x0_stop_nm": "nm",
}


def level_observables(results: Mapping[str, Any]) -> dict[str, float]:
    """Return the observables of :data:`OBSERVABLES` from one finished study (``run_study``).

    A number the study does not resolve (or does not report) is NaN. ``results["summary"]``
    is the study's :class:`~femvalley.study.StudySummary` or the JSON object of its
    ``summary.json``.
    """
    # a StudySummary or the JSON object of summary.json: both read as that JSON object
    nums = (results["summary"] or {}).get("numbers") or {}
    out: dict[str, float] = {}
    for name, (key, _) in _NUMBERS.items():
        value = nums.get(key, {}).get("value")
        out[name] = math.nan if value is None else float(value)
    e = np.asarray(results["energies_meV"], dtype=float)
    x = np.asarray(results["x_mean_nm"], dtype=float)
    for j, end in ((0, "start"), (-1, "stop")):
        out[f"E0_{end}_meV"] = float(e[j, 0])
        out[f"E1_{end}_meV"] = float(e[j, 1]) if e.shape[1] > 1 else math.nan
        out[f"x0_{end}_nm"] = float(x[j, 0])
    return out


@dataclass(frozen=True, kw_only=True)
class StudyConvergence:
    """The result of :func:`converge_study`.

    Attributes
    ----------
    table : ConvergenceTable
        Every observable at every level, with its extrapolation.
    numbers : dict of str to ReportedNumber
        The converged headline numbers (as in a study's ``summary.json``: ``value``,
        ``solver_bound`` of the finest level, ``discretisation_error``, ``unit``, ``text``;
        its ``details``: ``status`` of the extrapolation, ``observed_order``,
        ``finest_level_value``, ``extrapolated``).
    level_dirs : list of Path
        The study directory of every level, coarse to fine.
    """

    table: ConvergenceTable
    numbers: dict[str, ReportedNumber]
    level_dirs: list[Path]

    def format(self) -> str:
        """Return the table and the converged numbers as plain text."""
        lines = [self.table.format(digits=8), "", "converged numbers:"]
        lines += [f"  {name}: {num.text}" for name, num in self.numbers.items()]
        return "\n".join(lines)


def _converged_numbers(
    table: ConvergenceTable, finest_numbers: Mapping[str, ReportedNumber]
) -> dict[str, ReportedNumber]:
    out: dict[str, ReportedNumber] = {}
    for name, (key, unit) in _NUMBERS.items():
        ex = table.extrapolations[name]
        finest = finest_numbers.get(key)
        bound = None if finest is None else finest.solver_bound
        bound_f = math.inf if bound is None else float(bound)
        if key == "anticrossing_detuning":
            bound_f = 0.0  # a position: no certified bound of its own
        # an extrapolation is used only when its order was observed (three levels or more)
        converging = ex.status == "converging" and not ex.order_assumed
        value = ex.value if converging else ex.finest
        disc = ex.extrapolation_error if converging else ex.error
        if not np.isfinite(value):
            text = "not resolved on the finest level"
        elif key == "anticrossing_detuning":
            text = f"{value:.4g} {unit}" + (
                f" +- {disc:.2g} {unit} (discretisation)" if np.isfinite(disc) else ""
            )
        elif not np.isfinite(disc):
            text = format_value(value, max(bound_f, 1e-300), unit) + " (one level only)"
        else:
            text = format_value(value, max(bound_f, 1e-300), unit, discretisation=disc)
        text += f" [{ex.status}" + (f", order {ex.order:.2g}]" if np.isfinite(ex.order) else "]")
        out[key] = ReportedNumber(
            value=float(value) if np.isfinite(value) else None,
            unit=unit,
            text=text,
            solver_bound=None if not np.isfinite(bound_f) else bound_f,
            discretisation_error=float(disc) if np.isfinite(disc) else None,
            details={
                "status": ex.status,
                "observed_order": float(ex.order) if np.isfinite(ex.order) else None,
                "finest_level_value": float(ex.finest) if np.isfinite(ex.finest) else None,
                "extrapolated": converging,
            },
        )
    return out


def converge_study(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    levels: int | None = None,
    ratio: float | None = None,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
    figures: bool = True,
) -> StudyConvergence:
    """Run a study on a hierarchy of meshes and extrapolate every observable.

    Parameters
    ----------
    config : StudyConfig
        The study; its ``[convergence]`` table gives the levels (``levels`` and ``ratio``
        override it).
    out_dir : str or Path
        Output directory: ``level_<i>/`` per level, the table, figure and summary.
    levels : int, optional
        Number of mesh levels (>= 2).
    ratio : float, optional
        Refinement ratio between levels.
    resume : bool
        Take finished levels from ``out_dir`` and resume an interrupted one.
    progress : bool
        Progress bars and one line per level on stderr.
    workers : int
        Worker processes of every level's sweep.
    figures : bool
        Write ``convergence.png``.

    Returns
    -------
    StudyConvergence
    """
    # the options and the size of every level are checked before anything is written
    conv = config.convergence
    changes: dict[str, Any] = {}
    if levels is not None:
        changes["levels"] = levels
        if conv.coarser_levels >= levels:
            changes["coarser_levels"] = max(0, levels - 2)
    if ratio is not None:
        changes["ratio"] = ratio
    if changes:
        try:
            conv = dataclasses.replace(conv, **changes)
        except (TypeError, ValueError) as err:
            raise ValueError(str(err)) from err
        config = dataclasses.replace(config, convergence=conv)
    from femvalley.resources import check_fits, estimate_study, size_fields
    from femvalley.study import level_config

    for sizes in config.mesh_levels():  # the finest level must fit before the coarsest starts
        level = level_config(config, sizes)
        check_fits(estimate_study(level), sizes=size_fields(level) + " or fewer levels")
    with DirectoryLock(out_dir):  # one run per output directory
        return _converge_locked(
            config,
            out_dir=out_dir,
            resume=resume,
            progress=progress,
            workers=workers,
            figures=figures,
        )


def _converge_locked(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    resume: bool,
    progress: bool,
    workers: int,
    figures: bool,
) -> StudyConvergence:
    import sys

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mesh_levels = config.mesh_levels()
    level_dirs = [out / f"level_{i}" for i in range(len(mesh_levels))]
    numbers: list[dict[str, ReportedNumber]] = []
    index = {"i": 0}
    previous: dict[str, Any] = {}

    def run_level(sizes: dict[str, float]) -> dict[str, float]:
        from femvalley.study import level_config, run_study
        from femvalley.system import build_system

        i = index["i"]
        index["i"] += 1
        cfg = level_config(config, sizes)
        if progress:
            shown = ", ".join(f"{k} = {v:.4g}" for k, v in sizes.items())
            print(f"level {i + 1}/{len(mesh_levels)}: {shown}", file=sys.stderr, flush=True)
        system = None
        reuse = previous.get("system")
        if reuse is not None and reuse.config.device.same_device_mesh(cfg.device):
            system = build_system(cfg, reuse=reuse)
        res = run_study(
            cfg,
            out_dir=level_dirs[i],
            resume=resume and (level_dirs[i] / "results.h5").exists(),
            progress=progress,
            workers=workers,
            system=system,
        )
        previous["system"] = res.system  # none when the level was already finished
        numbers.append(dict((res.summary.numbers if res.summary is not None else None) or {}))
        return level_observables(res)

    first = next(iter(mesh_levels[0]))
    table = converge(
        run_level,
        mesh_levels,
        refinement=first,
        units=OBSERVABLES,
        options=RichardsonOptions(assumed_order=2.0, roundoff_rtol=1e-10),
    )
    result = StudyConvergence(
        table=table,
        numbers=_converged_numbers(table, numbers[-1]),
        level_dirs=level_dirs,
    )
    table.to_csv(out / "convergence.csv")
    table.to_json(out / "convergence.json")
    summary = {
        "levels": table.levels(),
        "wall_time_s": [float(t) for t in table.wall_time_s],
        "level_dirs": [p.name for p in level_dirs],
        "numbers": plain(result.numbers),
        "per_level_numbers": plain(numbers),
    }
    write_text(out / CONVERGENCE_SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    if figures:
        from femvalley.plot import plot_convergence

        plot_convergence(table, out / "convergence.png", names=list(_NUMBERS))
    return result
