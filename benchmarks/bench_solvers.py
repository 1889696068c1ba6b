"""Assembly and eigensolver benchmark: time and peak memory per stage.

A two-valley quantum dot (harmonic in-plane confinement, vertical field in 3-D) with the
Tunnel Falls valley map (200 ueV, lx 19.2 nm, ly 1000 nm), lowest 8 states, on 2-D meshes of
about 10k/50k/200k nodes and 3-D meshes of about 10k/50k nodes. Every (case, backend) runs in
its own process so peak memory is not polluted by earlier cases.

Run: python benchmarks/bench_solvers.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

CASES = {
    "2d-10k": (2, 100),
    "2d-50k": (2, 224),
    "2d-200k": (2, 448),
    "3d-10k": (3, 22),
    "3d-50k": (3, 37),
}

# which backends to run per case (plain eigsh is the reference the default is measured against)
PLAN = {
    "2d-10k": ["auto", "superlu", "lobpcg", "eigsh"],
    "2d-50k": ["auto", "superlu", "lobpcg", "eigsh"],
    "2d-200k": ["auto", "eigsh"],
    "3d-10k": ["auto", "superlu", "lobpcg", "eigsh"],
    "3d-50k": ["auto", "superlu", "lobpcg", "eigsh"],
}


def build_mesh(dim, n):
    from skfem import MeshTet, MeshTri

    if dim == 2:
        return MeshTri.init_tensor(np.linspace(-100, 100, n), np.linspace(-60, 60, n))
    return MeshTet.init_tensor(
        np.linspace(-60, 60, n), np.linspace(-40, 40, n), np.linspace(-10, 10, n)
    )


def run_case(case, backend):
    from _memory import PeakRSS

    from femvalley.eigen import solve
    from femvalley.kp import assemble, two_valley_model
    from femvalley.units import HBAR2_OVER_2M0_MEV_NM2
    from femvalley.valley_map import ValleyMapSpec, valley_map_on_nodes

    dim, n = CASES[case]
    out = {"case": case, "backend": backend}
    with PeakRSS() as s:
        mesh = build_mesh(dim, n)
    out["nodes"] = int(mesh.nvertices)
    out["mesh_s"] = s.seconds
    spec = ValleyMapSpec(
        mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=1000.0, nx=200, ny=15, seed=8
    )
    with PeakRSS() as s:
        delta, _ = valley_map_on_nodes(spec, mesh.p)
    out["map_s"] = s.seconds
    c_t = HBAR2_OVER_2M0_MEV_NM2 / 0.19

    def potential(x):
        u = (2.0**2 * x[0] ** 2 + 3.0**2 * x[1] ** 2) / (4 * c_t)
        if dim == 3:
            u = u + 5.0 * x[2]  # 5 MV/m vertical field: 5 meV/nm
        return u

    with PeakRSS() as s:
        ops = assemble(two_valley_model(dim=dim, delta_meV=delta, potential_meV=potential), mesh)
    out["ndof"] = int(ops.ndof)
    out["assemble_s"] = s.seconds
    out["assemble_mb"] = s.delta_mb
    with PeakRSS() as s:
        res = solve(ops, k=8, backend=backend)
    out["solve_s"] = s.seconds
    out["solve_mb"] = s.delta_mb
    out["resolved_backend"] = res.backend
    out["timings"] = res.timings_s
    out["energies_meV"] = res.energies_meV.tolist()
    out["max_residual"] = float(res.residuals.max())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--backend")
    ap.add_argument("--quick", action="store_true", help="only the 10k cases")
    ap.add_argument("--json", default="benchmarks/out/solvers.json")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.backend)))
        return
    results = []
    cases = [c for c in PLAN if not args.quick or c.endswith("10k")]
    for case in cases:
        for backend in PLAN[case]:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--case", case, "--backend", backend],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                print(f"{case} {backend} FAILED:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["wall_s"] = time.perf_counter() - t0
            results.append(r)
            print(
                f"{case:8s} {r['resolved_backend']:8s} solve {r['solve_s']:8.2f} s "
                f"{r['solve_mb']:7.0f} MB  E0 {r['energies_meV'][0]:.9f}",
                file=sys.stderr,
                flush=True,
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"machine: {platform.machine()}, {platform.python_version()}, 2 cores")
    print(
        "| mesh | nodes | complex DOFs | assemble s / MB | backend | solve s / peak MB "
        "| factorize s | iterate s | max rel. dE vs default | speed-up vs eigsh |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        rows = [r for r in results if r["case"] == case]
        ref = next((r for r in rows if r["backend"] == "auto"), None)
        plain = next((r for r in rows if r["backend"] == "eigsh"), None)
        for r in rows:
            de = (
                np.abs(np.array(r["energies_meV"]) / np.array(ref["energies_meV"]) - 1).max()
                if ref
                else float("nan")
            )
            speed = f"{plain['solve_s'] / r['solve_s']:.1f}x" if plain else "-"
            name = r["resolved_backend"] + (" (default)" if r["backend"] == "auto" else "")
            name = "plain eigsh" if r["backend"] == "eigsh" else name
            t = r["timings"]
            print(
                f"| {case} | {r['nodes']} | {r['ndof']} | {r['assemble_s']:.2f} / "
                f"{r['assemble_mb']:.0f} | {name} | {r['solve_s']:.2f} / {r['solve_mb']:.0f} | "
                f"{t.get('factorize', float('nan')):.2f} | {t.get('iterate', float('nan')):.2f} "
                f"| {de:.1e} | {speed} |"
            )


if __name__ == "__main__":
    main()
