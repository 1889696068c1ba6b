"""Mesh convergence of the demo study: the numbers a user takes away, with their errors.

For each model (``bo2d``, ``3d``) the demo study (``StudyConfig.demo()``: B5 = 1.45 V)
is run on a hierarchy of meshes by :func:`femvalley.refinement.converge_study`: every level
refines the k.p steps in-plane and across the well and the device mesh of the quantum region
by ``ratio``; the demo's own mesh is level 1 of 3 (one coarser, one finer), or the first
levels of a longer hierarchy with ``--levels``. Printed per model: the table (values per level,
wall time per level, Richardson extrapolation, observed order, estimated errors), the converged
numbers, the peak memory of the finest level, and the check of the demo's own coarser-level
estimate against the hierarchy (the error of the demo's value measured against the
extrapolated value, and the estimate a plain study reports).

Run: python benchmarks/bench_convergence.py [--models bo2d 3d] [--levels 3] [--points 21]
     [--refine kp_mesh_size_nm kp_vertical_mesh_size_nm]
(3-D with 3 levels: about 8 minutes and 6 GB on 2 cores; bo2d about 1 minute)
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from _memory import PeakRSS

    from femvalley.config import DetuningConfig, StudyConfig
    from femvalley.refinement import converge_study

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["bo2d", "3d"])
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--coarser-levels", type=int, default=1)
    ap.add_argument("--points", type=int, default=21)
    ap.add_argument(
        "--refine",
        nargs="+",
        default=None,
        help="mesh parameters to refine (default: the [convergence] default, all three)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    print(f"# machine: {platform.machine()}, {platform.python_version()}, 2 cores")
    base = StudyConfig.demo()
    base = dataclasses.replace(
        base,
        detuning=DetuningConfig(start_mV=-10.0, stop_mV=10.0, points=args.points),
        convergence=dataclasses.replace(
            base.convergence,
            levels=args.levels,
            coarser_levels=args.coarser_levels,
            estimate="none",
            **({"refine": tuple(args.refine)} if args.refine else {}),
        ),
    )
    root = Path(args.out or tempfile.mkdtemp(prefix="bench-convergence-"))
    for model in args.models:
        cfg = dataclasses.replace(base, model=model)
        t0 = time.perf_counter()
        with PeakRSS() as mem:
            res = converge_study(cfg, out_dir=root / model, progress=False, figures=True)
        total = time.perf_counter() - t0
        print(
            f"\n## model {model}: {res.table.n_levels} levels, {total:.0f} s in all, peak "
            f"RSS {mem.peak_mb:.0f} MB (above {mem.base_mb:.0f} MB at start)"
        )
        print(res.format())
        # the demo's own estimate (one coarser level) against the hierarchy
        k = args.coarser_levels
        if k >= 1:
            print(
                f"\n  the demo mesh is level {k}: its coarser-level estimate against the "
                "error measured from the extrapolation"
            )
            for name in (
                "tunnel_coupling_ueV",
                "valley_splitting_L_ueV",
                "valley_splitting_R_ueV",
                "lever_arm_meV_per_mV",
            ):
                v = res.table.observables[name]
                ex = res.table.extrapolations[name]
                estimate = abs(v[k] - v[k - 1])
                true = abs(v[k] - ex.value) if ex.status == "converging" else np.nan
                print(
                    f"    {name}: demo {v[k]:.6g}, estimate {estimate:.3g}, measured "
                    f"{true:.3g} ({ex.status})"
                )
    print(f"\n(levels written to {root})")


if __name__ == "__main__":
    main()
