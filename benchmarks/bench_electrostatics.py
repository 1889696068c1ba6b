"""Gate electrostatics: one reused factorisation vs AMG-preconditioned CG, time and memory.

A synthetic 3-D layered device on a structured tetrahedral mesh (Si 0..20 nm, SiO2 20..30 nm),
a back gate and seven finger gates on the top surface: 8 unit solves + 1 offset solve. The real
device meshes come from the device descriptions (geometries/); this measures the solver choice.

Run: python benchmarks/bench_electrostatics.py
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

SIZES = {"20k": (40, 25, 20), "80k": (64, 40, 31), "200k": (86, 54, 43)}


def build(nx, ny, nz):
    from skfem import MeshTet

    mesh = MeshTet.init_tensor(
        np.linspace(-150, 150, nx), np.linspace(-70, 70, ny), np.linspace(0, 30, nz)
    )
    mid = mesh.p[:, mesh.t].mean(axis=1)
    mesh = mesh.with_subdomains(
        {"si": np.nonzero(mid[2] < 20)[0], "oxide": np.nonzero(mid[2] >= 20)[0]}
    )
    fingers = {
        f"G{i}": (
            lambda x, c=c: np.isclose(x[2], 30.0) & (np.abs(x[0] - c) <= 15) & (np.abs(x[1]) <= 45)
        )
        for i, c in enumerate(np.arange(-120, 121, 40))
    }
    return mesh.with_boundaries({"back": lambda x: np.isclose(x[2], 0.0), **fingers})


def run(size, method):
    from _memory import PeakRSS

    from femvalley.electrostatics import solve_gates

    mesh = build(*SIZES[size])
    gates = ["back"] + sorted(k for k in mesh.boundaries if k.startswith("G"))
    with PeakRSS() as s:
        gp = solve_gates(
            mesh, permittivity={"si": "Si", "oxide": "SiO2"}, gates=gates, method=method
        )
    return {
        "size": size,
        "method": method,
        "nodes": int(mesh.nvertices),
        "seconds": s.seconds,
        "mb": s.delta_mb,
        "timings": gp.timings_s,
        "checksum": float(np.abs(gp.unit_V).sum()),
        "phi": gp.unit_V[3, ::97].tolist(),
    }


def main():
    if len(sys.argv) == 3:
        print(json.dumps(run(sys.argv[1], sys.argv[2])))
        return
    rows = []
    for size in SIZES:
        res = {}
        for method in ("direct", "amg"):
            out = subprocess.run(
                [sys.executable, __file__, size, method], capture_output=True, text=True
            )
            if out.returncode:
                print(out.stderr[-1500:], file=sys.stderr)
                continue
            res[method] = json.loads(out.stdout.strip().splitlines()[-1])
        if len(res) == 2:
            diff = np.abs(np.array(res["direct"]["phi"]) - np.array(res["amg"]["phi"])).max()
            for method, r in res.items():
                t = r["timings"]
                rows.append(
                    f"| {size} | {r['nodes']} | {method} | {r['seconds']:.2f} / {r['mb']:.0f} | "
                    f"{t.get('assemble', 0):.2f} | {t.get('factorize', 0):.2f} | "
                    f"{t['solve'] - t.get('factorize', 0):.2f} | "
                    f"{res['amg']['seconds'] / res['direct']['seconds']:.2f} | {diff:.1e} |"
                )
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, 2 cores")
    print(
        "| mesh | nodes | method | total s / peak MB | assemble s | factorize/setup s | "
        "solves s | amg/direct time | max |dphi| (V) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
