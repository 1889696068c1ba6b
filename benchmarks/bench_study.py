"""The demo study end to end, and its time per point against the naive approach.

1. ``femvalley demo``'s study (``StudyConfig.demo()``) through ``run_study``: total wall
   time, setup (mesh, gate solves, k.p assembly), time per point, the post-processing (fit
   with its refinement, figures, ParaView files) and the peak memory. The default method is
   the certified reduced basis: its time per point is *amortised*, (basis build, i.e. the
   snapshot full solves, + all point solves) / points.
2. In the same process, the naive approach at two detunings: the gate electrostatics solved
   again, the band edge and the k.p operators assembled again, and a full eigensolve, at every
   point. Reported as the ratio to the study's time per point, with the largest difference
   between the study's energies and the naive ones at those points.
3. The same sweep with ``solver.method = "direct"`` (a full solve per chunk, LOBPCG on its
   factorisation in between), for the ratio of the two methods.

Run: python benchmarks/bench_study.py      (about 6 minutes on 2 cores)
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


def naive_point(system, detuning_mV: float) -> tuple[float, np.ndarray]:
    """Wall time of one point computed from scratch (Poisson, assembly, eigensolve)."""
    from femvalley.eigen import solve
    from femvalley.electrostatics import solve_gates
    from femvalley.kp import assemble, make_basis, two_valley_model
    from femvalley.materials import get_material

    cfg = system.config
    dev = cfg.device.resolved()
    t0 = time.perf_counter()
    gp = solve_gates(system.device_mesh, permittivity=dev.materials, gates=dev.gates)
    gq = gp.interpolated_to(system.quantum_mesh)
    basis = make_basis(system.quantum_mesh, element=cfg.solver.element)
    layers = {r: m for r, m in dev.materials.items() if r in system.quantum_mesh.subdomains}
    offsets = {r: get_material(m).band_offset_meV for r, m in layers.items()}
    u = gq.band_edge_meV(cfg.voltages(detuning_mV), band_offset_meV=offsets, basis=basis)
    ops = assemble(
        two_valley_model(dim=3, delta_meV=system.delta_meV, potential_meV=u, materials=layers),
        basis,
    )
    res = solve(ops, k=cfg.solver.n_states, backend=cfg.solver.backend)
    elapsed = time.perf_counter() - t0
    return elapsed, res.energies_meV


def main() -> None:
    import dataclasses

    from _memory import PeakRSS

    from femvalley.config import StudyConfig
    from femvalley.study import run_study
    from femvalley.sweep import run_sweep

    config = StudyConfig.demo()
    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as mem:
        t0 = time.perf_counter()
        res = run_study(config, out_dir=Path(tmp) / "demo", progress=False)
        total = time.perf_counter() - t0
    s = res["summary"]
    system = res["system"]
    t = s["timings_s"]
    eps = np.asarray(res["detuning_mV"])
    naive, errors = [], []
    for e in (-10.0, 3.0):
        dt, energies = naive_point(system, e)
        naive.append(dt)
        i = int(np.argmin(np.abs(eps - e)))
        errors.append(float(np.max(np.abs(res["energies_meV"][i] - energies))))
    per_point = t["per_point_amortised"]
    direct_cfg = dataclasses.replace(
        config, solver=dataclasses.replace(config.solver, method="direct")
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        direct = run_sweep(
            direct_cfg,
            out_dir=tmp,
            progress=False,
            system=dataclasses.replace(system, config=direct_cfg),
        )
        direct_per_point = (time.perf_counter() - t0) / eps.size
    direct_diff = float(np.max(np.abs(direct["energies_meV"] - res["energies_meV"])))
    out = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}",
        "total_s": total,
        "setup_s": t["setup"],
        "sweep_s": t["sweep_total"],
        "post_processing_s": total - t["sweep_total"],
        "points": s["points_done"],
        "reduced_basis": s["reduced_basis"],
        "reduced_basis_build_s": t["reduced_basis_build"],
        "per_point_online_mean_s": t["per_point_mean"],
        "per_point_amortised_s": per_point,
        "naive_per_point_s": float(np.mean(naive)),
        "speedup_per_point": float(np.mean(naive)) / per_point,
        "max_error_vs_naive_ueV": 1e3 * max(errors),
        "direct_per_point_s": direct_per_point,
        "direct_vs_reduced_max_diff_ueV": 1e3 * direct_diff,
        "peak_rss_mb": mem.peak_mb,
        "kp_mesh": s["kp_mesh"],
        "numbers": {k: v["text"] for k, v in s.get("numbers", {}).items()},
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
    rb = s["reduced_basis"]
    print(
        f"| reduced basis: {len(rb['snapshot_detuning_mV'])} snapshots, {rb['size']} vectors | "
        f"{t['reduced_basis_build']:.1f} s |"
    )
    print(f"| per point, online (reduced solve + observables) | {t['per_point_mean']:.3f} s |")
    print(f"| per point, amortised (build + online) | {per_point:.2f} s |")
    print(f"| largest certified error bound | {rb['max_error_bound_ueV']:.2e} ueV |")
    print(
        "| post-processing (fit + refinement, figures, ParaView) | "
        f"{out['post_processing_s']:.1f} s |"
    )
    print(
        f"| naive per point (Poisson + assembly + full solve) | {out['naive_per_point_s']:.2f} s |"
    )
    print(f"| speed-up per point (naive / study amortised) | {out['speedup_per_point']:.1f}x |")
    print(f"| largest difference to the naive energies | {out['max_error_vs_naive_ueV']:.1e} ueV |")
    print(
        f"| direct method per point (ratio direct / reduced) | {direct_per_point:.2f} s "
        f"({direct_per_point / per_point:.1f}x) |"
    )
    print(f"| peak memory above start | {mem.peak_mb:.0f} MB |")


if __name__ == "__main__":
    main()
