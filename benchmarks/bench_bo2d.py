"""Born-Oppenheimer 2-D against 3-D: time per detuning point and the error, in one run.

1. The demo study (``femvalley demo``'s Tunnel Falls double dot, 8 states): the 3-D system
   is built, then the BO-2D system from the same device mesh and gate potentials.
   - A full eigensolve per point at four detunings (-10, -5, +5, +10 mV) in each model:
     time per point, their ratio, and the error of BO-2D against 3-D: energies of the lowest
     4 states relative to the ground state (relative error) and the valley splitting
     E_1 - E_0 at both ends (ueV).
   - The whole sweep (21 points, the default certified reduced basis) in each model: time
     per point amortised over the basis build, and the ratio.
   - Peak memory of each model's setup and sweep.
2. The five-gate stepped-interface barrier scan (``examples/barrier_scan.py``'s default, 2 nm
   in-plane): seconds per eigensolve of each model and the tunnel couplings' ratio to 3-D.

Run: python benchmarks/bench_bo2d.py      (about 5 minutes on 2 cores)
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

DETUNINGS_MV = (-10.0, -5.0, 5.0, 10.0)


def timed_solves(system) -> tuple[float, np.ndarray]:
    energies, times = [], []
    system.solve(DETUNINGS_MV[0])  # warm-up (imports, first factorisation of the backend)
    for eps in DETUNINGS_MV:
        t0 = time.perf_counter()
        energies.append(system.solve(eps).energies_meV)
        times.append(time.perf_counter() - t0)
    return float(np.mean(times)), np.asarray(energies)


def main() -> None:
    from _memory import PeakRSS

    from femvalley.config import StudyConfig
    from femvalley.study import barrier_scan
    from femvalley.sweep import run_sweep
    from femvalley.system import build_system

    base = StudyConfig.demo()
    rows = {}
    systems = {}
    for model in ("3d", "bo2d"):
        cfg = dataclasses.replace(base, model=model)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            systems[model] = build_system(cfg, reuse=systems.get("3d"))
            setup = time.perf_counter() - t0
            per_point, energies = timed_solves(systems[model])
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                res = run_sweep(cfg, out_dir=tmp, progress=False, system=systems[model])
                sweep = time.perf_counter() - t0
        rows[model] = {
            "setup_s": setup,
            "unknowns": int(systems[model].operators.ndof),
            "full_solve_per_point_s": per_point,
            "sweep_per_point_amortised_s": sweep / len(res["detuning_mV"]),
            "peak_rss_mb": mem.peak_mb,
            "energies_meV": energies,
            "sweep_energies_meV": np.asarray(res["energies_meV"]),
        }
    e3, e2 = rows["3d"]["energies_meV"][:, :4], rows["bo2d"]["energies_meV"][:, :4]
    rel3, rel2 = e3[:, 1:] - e3[:, :1], e2[:, 1:] - e2[:, :1]
    rel_err = np.abs(rel2 - rel3) / np.abs(rel3)
    ev_err = 1e3 * np.abs(rel2[[0, -1], 0] - rel3[[0, -1], 0])
    s3, s2 = rows["3d"]["sweep_energies_meV"], rows["bo2d"]["sweep_energies_meV"]
    sweep_rel = np.abs((s2[:, 1:4] - s2[:, :1]) - (s3[:, 1:4] - s3[:, :1]))
    summary = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}",
        "demo": {m: {k: v for k, v in r.items() if "energies" not in k} for m, r in rows.items()},
        "full_solve_speedup": rows["3d"]["full_solve_per_point_s"]
        / rows["bo2d"]["full_solve_per_point_s"],
        "sweep_speedup": rows["3d"]["sweep_per_point_amortised_s"]
        / rows["bo2d"]["sweep_per_point_amortised_s"],
        "max_relative_error_lowest4": float(rel_err.max()),
        "relative_error_per_detuning": {
            f"{e:+g}": rel_err[i].round(4).tolist() for i, e in enumerate(DETUNINGS_MV)
        },
        "valley_splitting_error_ueV": ev_err.tolist(),
        "sweep_max_abs_error_relative_energies_ueV": float(1e3 * sweep_rel.max()),
    }
    with PeakRSS() as mem:
        scan = barrier_scan(
            dataclasses.replace(
                base,
                device=dataclasses.replace(
                    base.device, name="five_gate_dqd", params={"stepped_interface": True}
                ),
            ),
            gate="P2",
            voltages_V=np.round(np.arange(-0.06, 0.1201, 0.03), 3),
        )
    ref = scan["tunnel_coupling_ueV"]["3d"]
    summary["barrier_scan"] = {
        "voltages_V": scan["voltages_V"].tolist(),
        "tunnel_coupling_3d_ueV": ref.tolist(),
        "ratio_to_3d": {
            m: (t / ref).round(3).tolist() for m, t in scan["tunnel_coupling_ueV"].items()
        },
        "seconds_per_eigensolve": scan["solve_s"],
        "unknowns": scan["unknowns"],
        "peak_rss_mb": mem.peak_mb,
    }
    print(json.dumps(summary, indent=2, default=float))
    print()
    print("| demo study (Tunnel Falls, 8 states) | 3-D | BO-2D | ratio |")
    print("|---|---|---|---|")
    r3, r2 = rows["3d"], rows["bo2d"]
    print(f"| complex unknowns | {r3['unknowns']} | {r2['unknowns']} | |")
    print(
        f"| setup (3-D: mesh, gates, assembly; BO-2D: columns + assembly) | {r3['setup_s']:.1f} s"
        f" | {r2['setup_s']:.2f} s | |"
    )
    print(
        f"| full solve per point | {r3['full_solve_per_point_s']:.2f} s | "
        f"{r2['full_solve_per_point_s']:.3f} s | {summary['full_solve_speedup']:.0f}x |"
    )
    print(
        f"| sweep per point, amortised (reduced basis) | {r3['sweep_per_point_amortised_s']:.2f} s"
        f" | {r2['sweep_per_point_amortised_s']:.3f} s | {summary['sweep_speedup']:.0f}x |"
    )
    print(
        f"| peak RSS of the process (BO-2D: the 3-D system still held) | "
        f"{r3['peak_rss_mb']:.0f} MB | {r2['peak_rss_mb']:.0f} MB | |"
    )
    print(
        "| largest relative error, E_1..E_3 - E_0 at -10/-5/+5/+10 mV | | "
        f"{100 * summary['max_relative_error_lowest4']:.1f} % | |"
    )
    print(
        "| valley splitting error at -10 / +10 mV | | "
        + " / ".join(f"{v:.1f}" for v in ev_err)
        + " ueV | |"
    )
    print()
    print("| barrier P2 (mV) | " + " | ".join(f"{1e3 * v:+.0f}" for v in scan["voltages_V"]) + " |")
    print("|---" * (1 + len(ref)) + "|")
    print("| t, 3-D (ueV) | " + " | ".join(f"{v:.3g}" for v in ref) + " |")
    for m, t in scan["tunnel_coupling_ueV"].items():
        if m != "3d":
            print(f"| {m} / 3-D | " + " | ".join(f"{v:.2f}" for v in t / ref) + " |")
    print(
        "| seconds per eigensolve | "
        + ", ".join(f"{m} {v:.3f}" for m, v in scan["solve_s"].items())
        + " |"
    )


if __name__ == "__main__":
    main()
