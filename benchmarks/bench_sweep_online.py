"""Where a 201-point demo study spends its time: setup, basis, the point loop, the outputs.

The demo study (``femvalley demo``'s configuration) with 201 detuning points over +-10 mV,
the fine level only (``convergence.estimate = "none"``) and then, in a second row, with the
coarser level of the demo (what ``femvalley demo`` runs). For the fine study:

- setup (device mesh, gate solves, k.p assembly), certified basis build, the online phase
  (the point loop: reduced solve, observables, results store), the outputs (analysis,
  figures, ParaView series, summary) and the total;
- the sum of the 201 certified reduced solves alone (the same basis, the same points, solved
  again after the study in the same process, on one BLAS thread, reduced coefficients only),
  and the ratio online / that sum;
- peak resident memory above the start.

``--save FILE.npz`` stores the per-point results and the summary numbers, ``--compare
FILE.npz`` reports the largest relative difference to a stored run (the restructuring of the
study layer must leave them identical to 1e-12).

Run: python benchmarks/bench_sweep_online.py [--save F | --compare F]   (2-4 minutes)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

COMPARED = (
    "energies_meV",
    "dot_weight",
    "valley_polarization",
    "valley_parity",
    "detuning_slope_meV_per_mV",
    "valley_coupling_meV",
    "x_mean_nm",
    "y_mean_nm",
    "x_std_nm",
    "y_std_nm",
    "error_bound_meV",
    "residual_meV",
)


def demo_201(coarser: bool):  # noqa: ANN201 - a StudyConfig
    from femvalley.config import StudyConfig

    cfg = StudyConfig.demo()
    cfg = dataclasses.replace(cfg, detuning=dataclasses.replace(cfg.detuning, points=201))
    if not coarser:
        cfg = dataclasses.replace(
            cfg, convergence=dataclasses.replace(cfg.convergence, estimate="none")
        )
    return cfg


def run(coarser: bool) -> tuple[dict, dict]:
    from _memory import PeakRSS

    from femvalley.study import run_study

    cfg = demo_201(coarser)
    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as mem:
        t0 = time.perf_counter()
        res = run_study(cfg, out_dir=Path(tmp) / "demo", progress=False)
        total = time.perf_counter() - t0
    s = res["summary"]
    t = s["timings_s"]
    setup = float(sum(t["setup"].values()))
    build = float(t["reduced_basis_build"])
    online = float(t["sweep_total"]) - setup - build
    eps = np.asarray(res["detuning_mV"])
    reduced = res["reduced"]
    try:
        from femvalley.linalg import serial_blas
    except ImportError:  # before the study layer was rebuilt (the baseline of RESULTS.md)
        from femvalley.eigen import serial_blas

    t0 = time.perf_counter()
    with serial_blas():
        for e in eps:
            reduced.solve({"detuning": float(e)}, vectors=False)
    solves = time.perf_counter() - t0
    # the point loop's computing alone (no file): observables only, then with the states
    # expanded for the per-point ParaView files as the demo stores them
    loop = {}
    try:
        from femvalley.sweep import solve_points, sweep_kit
    except ImportError:  # before the study layer was rebuilt
        solve_points = None
    if solve_points is not None:
        kit = sweep_kit(res["system"], reduced)
        for export in (0, cfg.output.vtu_states):
            k2 = dataclasses.replace(kit, export_states=export)
            t0 = time.perf_counter()
            with serial_blas():
                for _ in solve_points(k2, list(range(eps.size)), eps):
                    pass
            loop[export] = time.perf_counter() - t0
    row = {
        "total_s": total,
        "setup_s": setup,
        "basis_s": build,
        "online_s": online,
        "outputs_s": total - float(t["sweep_total"]),
        "reduced_solves_s": solves,
        "online_over_solves": online / solves,
        "loop_compute_no_export_s": loop.get(0, float("nan")),
        "loop_compute_with_export_s": loop.get(cfg.output.vtu_states, float("nan")),
        "peak_rss_mb": mem.peak_mb - mem.base_mb,
    }
    data = {k: np.asarray(res[k]) for k in COMPARED}
    for key, num in s.get("numbers", {}).items():
        if num.get("value") is not None:
            data["number/" + key] = np.asarray(num["value"], dtype=float)
    return row, data


def compare(data: dict, path: str) -> float:
    """Largest difference to a stored run, relative to each dataset's largest magnitude.

    Energies and the summary numbers are compared value by value; an observable (a dot
    weight, a centre, a parity) relative to the largest value of its dataset, since a value
    that is zero up to rounding (the parity of a state between two valley states, the centre
    of a symmetric state) has no relative accuracy. The value-by-value figure is printed too.
    """
    ref = np.load(path)
    worst = 0.0
    for key in ref.files:
        a, b = np.asarray(data[key]), ref[key]
        both = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            print(f"{key}: NaN pattern differs")
            worst = np.inf
            continue
        diff = np.abs(a[both] - b[both])
        each = float(np.max(diff / np.maximum(np.abs(b[both]), 1e-300), initial=0.0))
        scale = float(np.max(np.abs(b[both]), initial=0.0)) or 1.0
        by_scale = float(np.max(diff, initial=0.0)) / scale
        rel = each if key == "energies_meV" or key.startswith("number/") else by_scale
        print(f"{key}: value by value {each:.1e}, relative to the dataset's scale {by_scale:.1e}")
        worst = max(worst, rel)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--save")
    ap.add_argument("--compare")
    ap.add_argument("--fine-only", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    rows = {}
    fine, data = run(coarser=False)
    rows["demo, 201 points, fine level only"] = fine
    if args.save:
        np.savez(args.save, **data)
    if args.compare:
        print(f"largest relative difference to {args.compare}: {compare(data, args.compare):.2e}")
    if not args.fine_only:
        rows["femvalley demo with 201 points (with its coarser level)"], _ = run(coarser=True)
    print(json.dumps(rows, indent=2))
    print()
    print(
        "| study | total | setup | basis | online | outputs | 201 reduced solves | "
        "loop computing, no export / with export | online / solves | peak memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['total_s']:.1f} s | {r['setup_s']:.1f} s | {r['basis_s']:.1f} s | "
            f"{r['online_s']:.1f} s | {r['outputs_s']:.1f} s | {r['reduced_solves_s']:.2f} s | "
            f"{r['loop_compute_no_export_s']:.2f} / {r['loop_compute_with_export_s']:.2f} s | "
            f"{r['online_over_solves']:.1f} | {r['peak_rss_mb']:.0f} MB |"
        )


if __name__ == "__main__":
    main()
