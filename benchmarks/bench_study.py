"""The demo study end to end, and its time per point against the naive approach.

1. ``femvalley demo``'s study (``femvalley.cli.demo_config``) through ``run_study``: total wall
   time, setup (mesh, gate solves, k.p assembly), time per point (full solves at the start of a
   chunk, and points that reuse the chunk's factorisation), the post-processing (fit with its
   reduced-basis refinement, figures, ParaView files) and the peak memory.
2. In the same process, the naive approach at two detunings: the gate electrostatics solved
   again, the band edge and the k.p operators assembled again, and a full eigensolve, at every
   point. Reported as the ratio to the mean time per point of the study.

Run: python benchmarks/bench_study.py      (about 4 minutes on 2 cores)
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def naive_point(system, detuning_mV: float) -> float:
    """Wall time of one point computed from scratch (Poisson, assembly, eigensolve)."""
    from femvalley.eigen import solve
    from femvalley.electrostatics import solve_gates
    from femvalley.kp import assemble, make_basis, two_valley_model
    from femvalley.materials import get_material

    cfg = system.config
    dev = cfg.device.module
    t0 = time.perf_counter()
    gp = solve_gates(system.device_mesh, permittivity=dev.MATERIALS, gates=dev.GATES)
    gq = gp.interpolated_to(system.quantum_mesh)
    basis = make_basis(system.quantum_mesh, element=cfg.solver.element)
    layers = {r: m for r, m in dev.MATERIALS.items() if r in system.quantum_mesh.subdomains}
    offsets = {r: get_material(m).band_offset_meV for r, m in layers.items()}
    u = gq.band_edge_meV(cfg.voltages(detuning_mV), band_offset_meV=offsets, basis=basis)
    ops = assemble(
        two_valley_model(dim=3, delta_meV=system.delta_meV, potential_meV=u, materials=layers),
        basis,
    )
    res = solve(ops, k=cfg.solver.n_states, backend=cfg.solver.backend)
    elapsed = time.perf_counter() - t0
    # same physics as the study's own point
    ref = system.solve(detuning_mV).energies_meV
    assert np.allclose(res.energies_meV, ref, atol=1e-6), (res.energies_meV, ref)
    return elapsed


def main() -> None:
    from _memory import PeakRSS

    from femvalley.cli import demo_config
    from femvalley.study import run_study

    config = demo_config()
    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as mem:
        t0 = time.perf_counter()
        res = run_study(config, out_dir=Path(tmp) / "demo", progress=False)
        total = time.perf_counter() - t0
    s = res["summary"]
    system = res["system"]
    t = s["timings_s"]
    naive = [naive_point(system, eps) for eps in (-10.0, 3.0)]
    per_point = t["per_point_mean"]
    out = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}",
        "total_s": total,
        "setup_s": t["setup"],
        "sweep_s": t["sweep_total"],
        "post_processing_s": total - t["sweep_total"],
        "points": s["points_done"],
        "per_point_mean_s": per_point,
        "per_point_full_solve_s": t["per_point_full_solve_mean"],
        "per_point_reused_factor_s": t["per_point_reused_factor_mean"],
        "naive_per_point_s": float(np.mean(naive)),
        "speedup_per_point": float(np.mean(naive)) / per_point,
        "peak_rss_mb": mem.peak_mb,
        "kp_mesh": s["kp_mesh"],
        "fit": {
            k: s["anticrossing_fit"][k]
            for k in (
                "tunnel_coupling_ueV",
                "lever_arm_meV_per_mV",
                "valley_splitting_ueV",
                "detuning_offset_mV",
                "rms_residual_ueV",
            )
        },
    }
    print(json.dumps(out, indent=2, default=float))
    print()
    print("| quantity | value |")
    print("|---|---|")
    print(f"| demo total (21 points, 8 states) | {total:.1f} s |")
    print(
        "| setup: mesh / gates / k.p assembly | "
        + " / ".join(f"{v:.1f}" for v in t["setup"].values())
        + " s |"
    )
    print(f"| per point, mean | {per_point:.2f} s |")
    print(f"| per point, full solve (chunk start) | {t['per_point_full_solve_mean']:.2f} s |")
    print(f"| per point, reused factorisation | {t['per_point_reused_factor_mean']:.2f} s |")
    print(
        "| post-processing (fit + refinement, figures, ParaView) | "
        f"{out['post_processing_s']:.1f} s |"
    )
    print(
        f"| naive per point (Poisson + assembly + full solve) | {out['naive_per_point_s']:.2f} s |"
    )
    print(f"| speed-up per point (naive / study mean) | {out['speedup_per_point']:.1f}x |")
    print(f"| peak memory above start | {mem.peak_mb:.0f} MB |")


if __name__ == "__main__":
    main()
