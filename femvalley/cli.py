"""The ``femvalley`` command.

::

    femvalley demo [--out DIR] [--resume] [--workers N] [--model 3d|bo2d|slice2d]
    femvalley run STUDY.toml [--out DIR] [--resume] [--workers N] [--model ...]
    femvalley run ENSEMBLE.toml [--workers N | --scheduler tcp://HOST:8786] [--resume]
    femvalley converge STUDY.toml [--levels N] [--ratio R] [--out DIR] [--resume]
    femvalley mesh DEVICE [--out FILE] [--set NAME=VALUE ...]
    femvalley export DIR [--states N]
    femvalley valley-splitting PROFILE.toml

``femvalley <command> --help`` describes each. Errors in the input (a bad study file, an
unknown device, an output directory holding a run without ``--resume``) are reported in one
or two lines naming the field or file, and the exit status is 2; a failed computation exits
with 1, an interrupt with 130 (and the ``--resume`` command); ``--debug`` shows tracebacks.
Nothing already written is overwritten.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from femvalley.config import StudyConfig
    from femvalley.study import StudySummary

__all__ = [
    "RUN_MARKERS",
    "build_parser",
    "main",
    "main_exit",
    "print_numbers",
]


def _add_run_options(p: argparse.ArgumentParser, default_out: str | None) -> None:
    p.add_argument(
        "--out",
        metavar="DIR",
        default=default_out,
        help="output directory (created if needed; an existing study in it is never "
        "overwritten)"
        + (
            f"; default {default_out}"
            if default_out
            else "; default: the study file's name without .toml, next to it"
        ),
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run stored in DIR (same configuration only): finished points "
        "are not recomputed; DIR must hold a started run (a missing or empty DIR is an error, "
        "so a mistyped name does not silently start from scratch)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes for the sweep (default 1); the numbers do not depend on N",
    )
    p.add_argument(
        "--model",
        choices=("3d", "bo2d", "slice2d"),
        default=None,
        help="override the study's model: the 3-D k.p problem, its Born-Oppenheimer "
        "reduction to the plane (bo2d, about 20x cheaper per point), or a fixed-z slice",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="mesh the device and solve its gates even if the device cache holds them, and "
        "store nothing there (the cache: $FEMVALLEY_CACHE_DIR, else ~/.cache/femvalley; "
        "docs/devices.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``femvalley`` command."""
    parser = argparse.ArgumentParser(
        prog="femvalley",
        description="Finite-element two-valley k.p simulations of silicon quantum dots: "
        "detuning spectra of gate-defined double dots with a correlated valley-coupling map.",
    )
    from femvalley.version import __version__

    parser.add_argument("--version", action="version", version=f"femvalley {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full Python traceback of a failure (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the built-in reference study (Tunnel Falls-like double dot)",
        description="Run the built-in study: the Tunnel Falls-like Si/SiGe double dot with "
        "the barrier B5 at 1.45 V (t_c about 30 ueV), valley map 200 ueV / 19.2 nm / 1000 nm "
        "/ seed 8, 21 detuning points over +-10 mV, 8 states, and the same study on a mesh "
        "sqrt(2) coarser for the discretisation errors. Writes results.h5, spectrum.csv, "
        "summary.json (tunnel coupling, lever arm, valley splittings, each with its solver "
        "bound and discretisation error), basis.h5, spectrum.png, valley_map.png, "
        "density_slices.png, study.toml, coarser_level/ and ParaView files (paraview/). "
        "About one to two minutes on two cores.",
    )
    _add_run_options(demo, "femvalley-demo")

    run = sub.add_parser(
        "run",
        help="run a study from a TOML file",
        description="Run the detuning study described by STUDY.toml (see femvalley.config "
        "for every field; every field is checked before any computation) and write the "
        "same outputs as the demo.",
    )
    run.add_argument("study", metavar="STUDY.toml", help="the study or ensemble file")
    _add_run_options(run, None)
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="ensembles: run on the Dask scheduler at ADDRESS (e.g. tcp://10.0.0.1:8786) "
        "instead of local processes (overrides [execution] scheduler)",
    )

    conv = sub.add_parser(
        "converge",
        help="run a study on a hierarchy of meshes: discretisation error of every number",
        description="Run STUDY.toml at the mesh levels of its [convergence] table (default: "
        "three levels, each refining the k.p steps in-plane and across the well and the "
        "device mesh of the quantum region by sqrt(2); the study's own mesh is the middle "
        "one), Richardson-extrapolate every number (tunnel coupling, valley splittings, "
        "lever arm, energies and dot positions at the sweep ends) and write "
        "convergence.csv, convergence.json, convergence_summary.json, convergence.png and "
        "one study directory per level (level_<i>/).",
    )
    conv.add_argument("study", metavar="STUDY.toml", help="the study file")
    _add_run_options(conv, None)
    conv.add_argument(
        "--levels", type=int, default=None, metavar="N", help="number of mesh levels (>= 2)"
    )
    conv.add_argument(
        "--ratio", type=float, default=None, metavar="R", help="refinement ratio between levels"
    )

    mesh = sub.add_parser(
        "mesh",
        help="mesh a device and write it (for ParaView or gmsh)",
        description="Build the labelled 3-D mesh of a device (geometries/) and write it with "
        "meshio; print its size and its groups.",
    )
    mesh.add_argument(
        "device",
        metavar="DEVICE",
        help="a shipped device (femvalley devices: tunnel_falls, five_gate_dqd, ...) or a "
        "description file (*.toml)",
    )
    mesh.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="output file; the format follows the suffix (.vtu, .msh, .xdmf; default DEVICE.vtu)",
    )
    mesh.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="override a device parameter, e.g. --set quantum_mesh_size_nm=3 (repeatable)",
    )
    mesh.add_argument(
        "--kp", action="store_true", help="write the structured k.p mesh of the quantum region"
    )
    mesh.add_argument(
        "--show",
        action="store_true",
        help="also draw the layout (top view with the gates and dot regions, and the stack's "
        "cross-section) to OUT_layout.png, before meshing (descriptions only)",
    )

    sub.add_parser(
        "devices",
        help="list the shipped devices",
        description="List the device description files "
        "shipped in geometries/devices/ (any of them, or your own *.toml file, is a study's "
        "[device] name; docs/devices.md).",
    )

    export = sub.add_parser(
        "export",
        help="(re)write the ParaView files of a study directory",
        description="Write paraview/state{j}_first.vtu, paraview/state{j}_last.vtu and the "
        "series paraview/sweep.xdmf (detuning as time) from a study directory.",
    )
    export.add_argument("directory", metavar="DIR", help="the study directory")
    export.add_argument(
        "--states",
        type=int,
        default=None,
        metavar="N",
        help="number of lowest states to export (default: the study's output.vtu_states)",
    )
    ex = sub.add_parser(
        "exchange",
        help="exchange J against a gate voltage, for several models of one device",
        description="For every voltage of --gate (the other gates at the biases of "
        "STUDY.toml), compute the two-electron exchange J = E(T0) - E(S) at zero detuning in "
        "the orbital regime, for each model (3d, bo2d, slice2d:interface, "
        "slice2d:max_density), with the basis size, kernel and Poisson order of the study's "
        "[two_electron] table; write exchange_scan.csv, exchange_scan.json (with the ratios "
        "to 3-D) and exchange_scan.png (log scale).",
    )
    ex.add_argument("study", metavar="STUDY.toml", help="the study file (device and biases)")
    ex.add_argument("--gate", required=True, help="the scanned gate, e.g. P2 or B5")
    ex.add_argument(
        "--voltages",
        required=True,
        metavar="V1,V2,...",
        help="its voltages in V, comma-separated (write --voltages=-0.03,0.03 for negatives)",
    )
    ex.add_argument(
        "--models",
        default="3d,bo2d,slice2d:interface,slice2d:max_density",
        metavar="M1,M2,...",
        help="the models, comma-separated (default: all four)",
    )
    ex.add_argument("--out", metavar="DIR", default=None, help="output directory")
    ex.add_argument("--no-cache", action="store_true", help="do not use the device cache")

    vs = sub.add_parser(
        "valley-splitting",
        help="valley splitting of a heterostructure: 2k0 models and alloy-disorder statistics",
        description="Read a PROFILE.toml (Ge profile, field, dot, disorder; see "
        "femvalley.heterostructure.config), print the valley splitting of the mean profile by "
        "every model (local and filtered 2k0 theory, two-band k.p) and the statistics over "
        "alloy realisations (median, quartiles, mean, Rician law), and write "
        "valley_splitting.json, valley_splitting.png and the resolved profile.toml.",
    )
    vs.add_argument("profile", metavar="PROFILE.toml", help="the heterostructure file")
    vs.add_argument(
        "--out", metavar="DIR", default=None, help="output directory (default: PROFILE/)"
    )
    vs.add_argument("--realisations", type=int, default=None, metavar="N", help="override")
    vs.add_argument("--seed", type=int, default=None, metavar="S", help="override")
    vs.add_argument("--method", choices=("two_band", "first_order"), default=None, help="override")
    return parser


def _valley_splitting(args: argparse.Namespace) -> int:
    import dataclasses

    from femvalley.heterostructure.config import HeterostructureConfig
    from femvalley.heterostructure.report import valley_splitting_report

    cfg = HeterostructureConfig.from_toml(args.profile)
    changes = {
        k: getattr(args, k)
        for k in ("realisations", "seed", "method")
        if getattr(args, k) is not None
    }
    if changes:
        cfg = dataclasses.replace(cfg, **changes)
    out = Path(args.out) if args.out else Path(args.profile).with_suffix("")
    s = valley_splitting_report(cfg, out_dir=out)
    d, st = s["deterministic_ueV"], s["disorder"]
    print(f"valley splitting of {args.profile} (F = {cfg.field_MV_per_m:g} MV/m), in ueV")
    print("  mean profile, no disorder:")
    print(
        f"    local 2k0 (A = -0.26) {d['local_A_ueV']:.4g}, (C_n) {d['local_Cn_ueV']:.4g}; "
        f"filtered (A) {d['filtered_A_ueV']:.4g}, (C_n) {d['filtered_Cn_ueV']:.4g}; "
        f"2|R| = {d['ambiguity_2R_ueV_per_meV']:.3g} ueV per meV of shift"
    )
    print(
        f"    monolayers, V_inter = {cfg.v_inter_ge_meV:g} meV x Y: first order "
        f"{d['first_order_monolayer_ueV']:.4g}, two-band k.p {d['two_band_ueV']:.4g}"
    )
    print(
        f"  alloy disorder, {int(st['realisations'])} realisations ({st['method']}, seed "
        f"{st['seed']}): median {st['median_ueV']:.4g}, IQR [{st['q25_ueV']:.4g}, "
        f"{st['q75_ueV']:.4g}], mean {st['mean_ueV']:.4g}, min {st['min_ueV']:.3g}, "
        f"{100 * st['fraction_below_50_ueV']:.0f} % below 50 ueV"
    )
    print(
        f"    Rician law (ref. 3 eq. 28): nu {st['rician_nu_ueV']:.4g}, sigma "
        f"{st['rician_sigma_ueV']:.4g}; E|J|^2 measured {st['mean_J2_measured_meV2']:.4g} vs "
        f"expected {st['mean_J2_expected_meV2']:.4g} meV^2"
    )
    t = s["timings_s"]
    print(f"  written to {out}/ ({t['deterministic'] + t['ensemble']:.1f} s)")
    return 0


def _run(config: StudyConfig, args: argparse.Namespace, out: Path) -> int:
    import dataclasses

    from femvalley.study import run_study

    if args.model is not None:
        config = dataclasses.replace(config, model=args.model)
    if args.resume and (out / "ensemble.h5").exists() and not (out / "results.h5").exists():
        raise ValueError(
            f"--resume: {out} holds an ensemble (ensemble.h5), not a study; resume it with its "
            "ensemble file, or choose another --out for this study"
        )
    if not args.quiet:
        from femvalley.resources import estimate_study

        print(estimate_study(config).describe(), file=sys.stderr)
    t0 = time.perf_counter()
    res = run_study(
        config, out_dir=out, resume=args.resume, progress=not args.quiet, workers=args.workers
    )
    s = res.summary
    if s is None:  # run_study writes a summary at the end of every study
        raise RuntimeError(f"the study in {out} ended without a summary")
    if res.already_finished:
        print(f"study ({config.model}) in {out}/ is finished: nothing recomputed, no file changed")
    else:
        print(f"study ({config.model}) written to {out}/ in {time.perf_counter() - t0:.1f} s")
    t = s.timings_s
    print(
        f"  setup {sum(t['setup'].values()):.1f} s, {s.points_done} points, "
        f"{t.get('per_point_amortised', t['per_point_mean']):.2f} s per point; "
        f"k.p mesh {s.kp_mesh['vertices']} vertices"
    )
    rb = s.reduced_basis
    if rb is not None:
        worst = rb["max_error_bound_ueV"]
        kind = "single-valley" if rb.get("kind") == "single_valley" else "two-valley"
        print(
            f"  reduced basis of {rb['size']} states from {len(rb['snapshot_detuning_mV'])} "
            f"{kind} solves ({t['reduced_basis_build']:.1f} s); largest certified error "
            + ("none certified" if worst is None else f"{worst:.2g} ueV")
            + f"; {rb['points_solved_in_full']} points solved in full"
        )
    print_numbers(s)
    return 0


def _converge(config: StudyConfig, args: argparse.Namespace, out: Path) -> int:
    import dataclasses

    from femvalley.refinement import converge_study

    if args.model is not None:
        config = dataclasses.replace(config, model=args.model)
    t0 = time.perf_counter()
    res = converge_study(
        config,
        out_dir=out,
        levels=args.levels,
        ratio=args.ratio,
        resume=args.resume,
        progress=not args.quiet,
        workers=args.workers,
    )
    print(res.format())
    print(
        f"convergence study ({config.model}, {res.table.n_levels} levels) written to {out}/ "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def print_numbers(summary: StudySummary) -> None:
    """Print a study's headline numbers: value +- solver bound +- discretisation error."""
    names = {
        "tunnel_coupling": "tunnel coupling",
        "valley_splitting_dot_L": "valley splitting, left dot",
        "valley_splitting_dot_R": "valley splitting, right dot",
        "lever_arm": "detuning lever arm",
        "anticrossing_detuning": "anticrossing at detuning",
        "exchange": "exchange J",
        "larmor_frequency": "Larmor frequency",
        "rabi_frequency": "Rabi frequency",
        "t2_star": "dephasing time T2*",
        "relaxation_rate": "phonon relaxation rate",
        "spin_valley_anticrossing": "spin-valley anticrossing at field",
    }
    nums = summary.numbers or {}
    for key, label in names.items():
        if key in nums:
            at = nums[key].details.get("at_detuning_mV") if key == "exchange" else None
            where = f" (at {at:g} mV)" if at is not None else ""
            field = nums[key].details.get("at_field_T")
            where = f" (at {field:g} T)" if field is not None else where
            print(f"  {label}{where}: {nums[key].text}")
    sp = summary.spin or {}
    if "error" in sp:
        print(f"  spin part failed: {sp['error']}")
    if "note" in sp:
        print(f"  note: {sp['note']}")
    if "crossing_estimate_T" in sp:
        gap = sp.get("anticrossing_gap_ueV")
        extra = f"; the anticrossing's gap is {gap:.3g} ueV" if gap is not None else ""
        print(
            f"  spin-valley crossing expected at E_V / (g mu_B) = "
            f"{sp['crossing_estimate_T']:.4g} T{extra}"
        )
    te = summary.two_electron or {}
    if "error" in te:
        print(f"  two-electron part failed: {te['error']}")
    for c in te.get("charge_anticrossings", []):
        if "error" in c:
            print(f"  charge anticrossing in {c['bracket_mV']} mV not located: {c['error']}")
        else:
            pair = "(2,0)" if c["double_occupancy"][0] >= c["double_occupancy"][1] else "(0,2)"
            print(
                f"  (1,1)-{pair} singlet anticrossing at {c['detuning_mV']:.4g} mV, singlet gap "
                f"{c['singlet_gap_ueV']:.3g} ueV (basis error not estimated)"
            )
    if "basis_note" in te:
        print(f"  note: {te['basis_note']}")
    if summary.note is not None:
        print(f"  note: {summary.note}")
    if summary.analysis_error is not None:
        print(f"  the sweep could not be analysed: {summary.analysis_error}")


def _run_ensemble(args: argparse.Namespace, out: Path) -> int:
    import dataclasses

    from femvalley.ensemble import EnsembleConfig, run_ensemble

    cfg = EnsembleConfig.from_toml(args.study)
    if args.resume and (out / "results.h5").exists() and not (out / "ensemble.h5").exists():
        raise ValueError(
            f"--resume: {out} holds a study (results.h5), not an ensemble; resume it with its "
            "study file, or choose another --out for this ensemble"
        )
    if args.model is not None:
        cfg = dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, model=args.model))
    execution = cfg.execution
    if args.scheduler is not None:
        execution = dataclasses.replace(execution, scheduler=args.scheduler)
    if args.workers != 1:
        execution = dataclasses.replace(execution, workers=args.workers)
    cfg = dataclasses.replace(cfg, execution=execution)
    if not args.quiet:
        from femvalley.resources import estimate_study

        estimate = estimate_study(cfg.study, realisations=cfg.n_realisations())
        print(estimate.describe(), file=sys.stderr)
    t0 = time.perf_counter()
    res = run_ensemble(cfg, out_dir=out, resume=args.resume, progress=not args.quiet)
    s = res["summary"]
    where = (
        f"Dask scheduler {execution.scheduler}"
        if execution.scheduler
        else f"{execution.workers} local process(es)"
    )
    print(
        f"ensemble written to {out}/ ({s['done']} realisations, {time.perf_counter() - t0:.1f} s "
        f"on {where})"
    )
    for entry in s["combinations"]:
        ev = entry["valley_splitting_ueV"]
        tc = entry["tunnel_coupling_ueV"]
        label = ", ".join(f"{k} = {v}" for k, v in entry["parameters"].items()) or "all"
        if ev["count"]:
            print(
                f"  [{label}] valley splitting (both dots) median {ev['median']:.4g} ueV, IQR "
                f"{ev['iqr']:.3g} ueV, {100 * ev['fraction_below_threshold']:.0f} % below "
                f"{s['threshold_ueV']:g} ueV"
                + (f"; t_c median {tc['median']:.3g} ueV" if tc["count"] else "")
            )
    return 0


def _parse_value(text: str) -> Any:
    from femvalley.io.toml import TOMLDecodeError, loads

    try:
        return loads(f"v = {text}")["v"]
    except TOMLDecodeError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``femvalley`` command; returns the exit status.

    Every failure becomes one or two lines on stderr (``--debug`` shows the traceback): exit
    status 2 for bad input, files and system failures, 1 for a failed computation, 130 for
    an interrupt (with the command that resumes the run).
    """
    args = build_parser().parse_args(argv)
    command = args.command
    if getattr(args, "no_cache", False):
        from femvalley.io.device_cache import NO_CACHE_ENV

        os.environ[NO_CACHE_ENV] = "1"  # workers inherit it
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"femvalley {command}: interrupted", file=sys.stderr)
        out = getattr(args, "resolved_out", None)
        if out is not None and any((Path(out) / m).exists() for m in RUN_MARKERS):
            again = " ".join(shlex.quote(a) for a in _resume_command(args, out))
            print(
                f"  what is finished is stored in {out}/; continue with: {again}",
                file=sys.stderr,
            )
        elif out is not None:
            again = " ".join(shlex.quote(a) for a in _resume_command(args, out, resume=False))
            print(f"  nothing was stored yet; start again with: {again}", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI reports every failure in one line
        if args.debug:
            raise
        code, text = _describe_failure(err)
        text = _cut_long_values(text)
        print(f"femvalley {command}: error: {text}", file=sys.stderr)
        if code == 1:
            print("  (run again with --debug for the traceback)", file=sys.stderr)
        return code


def _cut_long_values(text: str, limit: int = 300) -> str:
    """Shorten every run of more than ``limit`` characters without a space (a huge value)."""

    def cut(m: re.Match[str]) -> str:
        return f"{m[0][: limit // 2]}...({len(m[0])} characters)"

    text = re.sub(rf"\S{{{limit + 1},}}", cut, text)
    return text if len(text) <= 960 else text[:900] + f" ... ({len(text)} characters)"


def _describe_failure(err: BaseException) -> tuple[int, str]:
    """Exit status and one-line text of a failure (2: input, files, system; 1: computation)."""
    from femvalley.io import OutputBusyError

    if isinstance(err, ValueError | OutputBusyError):
        return 2, str(err)
    if isinstance(err, MemoryError):
        return 2, (
            "out of memory; coarsen the mesh (device.params, kp_mesh_size_nm), or lower "
            "solver.n_states or the number of points"
        )
    if isinstance(err, OSError):
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        if err.errno == errno.ENOSPC:
            return 2, f"{where}no space left on the device; free some space, then --resume"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return 2, f"{where}permission denied; choose an --out you can write to"
        if err.errno == errno.EISDIR:
            return 2, f"{where}is a directory, not a file"
        if err.errno == errno.ENOTDIR:
            return 2, f"{where}a part of this path is a file, not a directory"
        if err.errno == errno.ENOENT:
            return 2, f"{where}does not exist"
        text = err.strerror or str(err)
        return 2, f"{where}{text}"
    return 1, f"{type(err).__name__}: {err}"


def _resume_command(args: argparse.Namespace, out: Path, *, resume: bool = True) -> list[str]:
    cmd = ["femvalley", args.command]
    if args.command in ("run", "converge"):
        cmd.append(args.study)
    cmd += ["--out", str(out)] + (["--resume"] if resume else [])
    for flag in ("model", "workers", "levels", "ratio", "scheduler"):
        value = getattr(args, flag, None)
        if value is not None and not (flag == "workers" and value == 1):
            cmd += [f"--{flag}", str(value)]
    return cmd


#: what an output directory holds once a run has stored something that --resume continues
RUN_MARKERS = ("results.h5", "snapshots.h5", "ensemble.h5", "bases", "level_0")


def _study_file(path_text: str) -> Path:
    path = Path(path_text)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give the study's TOML file")
    if not path.exists():
        raise ValueError(f"{path} does not exist; give the study's TOML file")
    return path


def _output_dir(args: argparse.Namespace, default: Path, *, suffix: str = "") -> Path:
    """Return the output directory of a run, checked before anything is computed."""
    out = Path(args.out) if args.out else default
    if not args.out and out == Path(getattr(args, "study", "")):
        out = Path(str(out) + (suffix or "-results"))  # a study file without .toml
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory (it is created if needed)")
    if args.resume:
        if not out.is_dir():
            raise ValueError(
                f"--resume: {out} does not exist; nothing to resume (check the name, or run "
                "without --resume to start)"
            )
        if not any((out / m).exists() for m in RUN_MARKERS):
            raise ValueError(
                f"--resume: {out} holds no femvalley run to resume (no results.h5, "
                "snapshots.h5 or ensemble.h5); check the name, or run without --resume"
            )
    args.resolved_out = out  # for the interrupt message
    return out


def _check_workers(args: argparse.Namespace) -> None:
    workers = getattr(args, "workers", None)
    if workers is None:
        return
    if workers < 1:
        raise ValueError(f"--workers {workers}: need at least 1")
    cores = os.cpu_count() or 1
    if workers > cores:
        print(
            f"femvalley {args.command}: note: --workers {workers} capped at the {cores} CPU "
            "cores of this machine (the numbers do not depend on it)",
            file=sys.stderr,
        )
        args.workers = cores


def _dispatch(args: argparse.Namespace) -> int:
    _check_workers(args)
    if args.command == "demo":
        from femvalley.config import StudyConfig

        return _run(StudyConfig.demo(), args, _output_dir(args, Path("femvalley-demo")))
    if args.command == "run":
        from femvalley.config import StudyConfig
        from femvalley.ensemble import is_ensemble_file

        study = _study_file(args.study)
        out = _output_dir(args, study.with_suffix(""))
        if is_ensemble_file(study):
            return _run_ensemble(args, out)
        if args.scheduler is not None:
            raise ValueError(
                "--scheduler runs ensembles (a file with an [ensemble] table); "
                f"{args.study} is a single study: use --workers"
            )
        config = StudyConfig.from_toml(study)
        return _run(config, args, out)
    if args.command == "converge":
        from femvalley.config import StudyConfig

        study = _study_file(args.study)
        default = study.with_suffix("")
        if default == study:
            default = Path(str(study) + "-converge")
        config = StudyConfig.from_toml(study)
        return _converge(config, args, _output_dir(args, default, suffix="-converge"))
    if args.command == "mesh":
        return _mesh(args)
    if args.command == "devices":
        return _devices()
    if args.command == "valley-splitting":
        return _valley_splitting(args)
    if args.command == "exchange":
        return _exchange(args)
    if args.command == "export":
        from femvalley.export import export_study

        files = export_study(
            args.directory,
            n_states=args.states,
            on_note=lambda text: print(f"note: {text}", file=sys.stderr),
        )
        for f in files:
            print(f)
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


def _float_list(text: str, name: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{name} = {text!r}: give numbers separated by commas") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} = {text!r}: give finite numbers separated by commas")
    return values


def _exchange(args: argparse.Namespace) -> int:
    from femvalley.config import StudyConfig, TwoElectronConfig
    from femvalley.twoelectron import exchange_scan

    study = _study_file(args.study)
    config = StudyConfig.from_toml(study)
    volts = _float_list(args.voltages, "--voltages")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    te = config.two_electron or TwoElectronConfig()
    out = Path(args.out) if args.out else Path(str(study.with_suffix("")) + "-exchange")
    t0 = time.perf_counter()
    scan = exchange_scan(
        config,
        gate=args.gate,
        voltages_V=volts,
        models=models,
        n_states=te.n_states,
        kernel=te.kernel,
        poisson_order=te.poisson_order or None,
    )
    scan.write(out, title=f"{config.device.name}: exchange against {args.gate}")
    print(
        f"exchange against {args.gate} ({te.n_states} states, {te.kernel} kernel) written to "
        f"{out}/ in {time.perf_counter() - t0:.1f} s; J in ueV (basis error):"
    )
    for name, j in scan.exchange_ueV.items():
        err = scan.exchange_error_ueV[name]
        cells = ", ".join(f"{a:.4g} ({b:.2g})" for a, b in zip(j, err))
        print(f"  {name:20s} {cells}")
    return 0


def _devices() -> int:
    from femvalley.io.toml import read_toml
    from geometries.catalog import description_path, load_description, shipped_devices

    for name in shipped_devices():
        d = load_description(name)
        template = read_toml(description_path(name), what="device description").get("template")
        kind = f"template {template}" if template else "description"
        dots = ", ".join(f"{dot} under {g}" for dot, g in d.plungers.items())
        print(f"{name:14s} {kind:22s} gates {', '.join(d.gate_names)}; dots {dots}")
    return 0


def _mesh(args: argparse.Namespace) -> int:
    import meshio
    import numpy as np

    from femvalley.config import DeviceConfig
    from femvalley.io.atomic import atomic_path

    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        overrides[name.strip()] = _parse_value(value.strip())
    dev = DeviceConfig(name=args.device, params=overrides).resolved()
    out = Path(args.out or f"{Path(args.device).stem}{'_kp' if args.kp else ''}.vtu")
    if args.show:
        from femvalley.plot import plot_device_layout

        layout = plot_device_layout(dev.description, out.with_name(f"{out.stem}_layout.png"))
        print(f"layout of {dev.name} -> {layout}")
    t0 = time.perf_counter()
    if args.kp:
        if not dev.has_structured_mesh:
            raise ValueError(f"--kp: device {args.device!r} has no structured k.p mesh")
        m = dev.build_quantum()
    else:
        m = dev.build()
    elapsed = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    # every group as a 0/1 cell field (ParaView: Threshold), as not every format has sets
    m.cell_data = {
        name: [np.isin(np.arange(len(b.data)), ix).astype(np.uint8) for b, ix in zip(m.cells, sets)]
        for name, sets in m.cell_sets.items()
    }
    groups = sorted(m.cell_sets)
    m.cell_sets = {}
    with atomic_path(out, suffix=out.suffix) as tmp:
        meshio.write(tmp, m)
    cells = {k: len(v) for k, v in m.cells_dict.items()}
    print(f"{args.device}: {len(m.points)} nodes, {cells} in {elapsed:.1f} s -> {out}")
    print("groups: " + ", ".join(groups))
    return 0


def main_exit() -> None:
    """Console-script entry point: exit with :func:`main`'s status."""
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    main_exit()
