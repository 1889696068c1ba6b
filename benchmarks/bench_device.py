"""Tunnel Falls device: mesh generation and all gate solves at three refinement levels.

For each level (quantum / device / far mesh size in nm), in a fresh process: gmsh meshing of
the x >= 0 half plus the mirror (the shipped description ``tunnel_falls``, meshed by
``geometries.mesher.build``) and conversion to
scikit-fem, then the 7 unit-gate solves + offset solve with the direct method (one CHOLMOD
factorisation) and with AMG-preconditioned CG, each with wall time and peak resident memory
above the level at its start. Also the minimum of U under each plunger at the reference biases,
to show its convergence with refinement.

Run: python benchmarks/bench_device.py            (all three levels)
     python benchmarks/bench_device.py coarse     (one level, prints JSON)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

LEVELS = {
    "coarse": {"quantum_mesh_size_nm": 4.0, "device_mesh_size_nm": 15.0, "mesh_size_nm": 30.0},
    "default": {},  # the template's defaults: 2 / 10 / 25 nm
    "fine": {"quantum_mesh_size_nm": 1.4, "device_mesh_size_nm": 7.0, "mesh_size_nm": 20.0},
}


def run(level: str) -> dict:
    from _memory import PeakRSS

    from femvalley.electrostatics import solve_gates
    from femvalley.mesh import from_meshio
    from geometries.device import resolve_device

    dev = resolve_device("tunnel_falls", LEVELS[level])
    params = dev.params
    with PeakRSS() as m:
        mesh = from_meshio(dev.build(), dim=3)
    out = {
        "level": level,
        "sizes_nm": [
            params.quantum_mesh_size_nm,
            params.device_mesh_size_nm,
            params.mesh_size_nm,
        ],
        "nodes": int(mesh.nvertices),
        "tets": int(mesh.nelements),
        "quantum_nodes": int(np.unique(mesh.t[:, mesh.subdomains["quantum"]]).size),
        "mesh_s": m.seconds,
        "mesh_mb": m.delta_mb,
    }
    phis = {}
    for method in ("direct", "amg"):
        with PeakRSS() as s:
            gp = solve_gates(mesh, permittivity=dev.materials, gates=dev.gates, method=method)
        out[method] = {"s": s.seconds, "mb": s.delta_mb, "timings": gp.timings_s}
        phis[method] = gp.potential_V(dev.reference_biases_V)
    out["max_dphi_V"] = float(np.abs(phis["direct"] - phis["amg"]).max())
    u = -1000.0 * phis["direct"]
    well = np.unique(mesh.t[:, mesh.subdomains["well"]])
    dot = np.intersect1d(well, np.unique(mesh.t[:, mesh.subdomains["dot_R"]]))
    i = dot[np.argmin(u[dot])]
    out["min_U_meV"] = float(u[i])
    out["min_at_nm"] = mesh.p[:, i].round(2).tolist()
    return out


def main() -> None:
    if len(sys.argv) == 2:
        print(json.dumps(run(sys.argv[1])))
        return
    rows = []
    for level in LEVELS:
        proc = subprocess.run([sys.executable, __file__, level], capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        d, a = r["direct"], r["amg"]
        total = r["mesh_s"] + d["s"]
        rows.append(
            f"| {level} | {' / '.join(f'{v:g}' for v in r['sizes_nm'])} | {r['nodes']} | "
            f"{r['quantum_nodes']} | {r['mesh_s']:.1f} / {r['mesh_mb']:.0f} | "
            f"{d['s']:.1f} / {d['mb']:.0f} | {a['s']:.1f} / {a['mb']:.0f} | "
            f"{a['s'] / d['s']:.1f}x | {total:.1f} | {r['max_dphi_V']:.1e} | "
            f"{r['min_U_meV']:.2f} at x = {r['min_at_nm'][0]:.1f}, z = {r['min_at_nm'][2]:.2f} |"
        )
        print(rows[-1], flush=True)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, 2 cores")
    print(
        "| level | quantum / device / far size (nm) | nodes | quantum nodes | mesh s / peak MB | "
        "direct: 8 solves s / peak MB | AMG-CG s / peak MB | AMG/direct | mesh + solves s | "
        "max |dphi| direct vs AMG (V) | min U under P6 (meV) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
