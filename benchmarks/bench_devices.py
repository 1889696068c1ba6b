"""Meshing the shipped devices with the pygmsh description mesher.

For every shipped description (tunnel_falls, five_gate_dqd flat and stepped, triple_dot) at
its default mesh sizes and at coarser ones: wall time of meshing (best of ``--repeat``),
vertices, tetrahedra, and the measured volume of the quantum region against its exact value
(the dot regions' area times the quantum region's height). Prints a Markdown table.

The comparisons with the gmsh-API builders these descriptions replaced were made with this
script as it was when each builder still existed: commit 577d506 (Tunnel Falls-like device)
and commit ccd5cf4 (five-gate device, with ``--physics``: the barrier scan on both).

Run: python benchmarks/bench_devices.py [--repeat 3]   (about a minute)
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from geometries.catalog import load_description
from geometries.mesher import build

DEVICES = (
    ("tunnel_falls", {}),
    ("five_gate_dqd", {}),
    ("five_gate_dqd", {"stepped_interface": True}),
    ("triple_dot", {}),
)
COARSER = {"quantum_mesh_size_nm": 4.0, "device_mesh_size_nm": 15.0, "mesh_size_nm": 30.0}


def _volume(mesh, name):
    tets = mesh.cells[0].data[mesh.cell_sets[name][0]]
    p = mesh.points[tets]
    d = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    return float(np.abs(d).sum() / 6)


def _exact_quantum_volume(d):
    """The dot regions' areas times the quantum region's height, terrace by terrace."""
    total = 0.0
    for dot in d.dots:
        x0, x1, y0, y1 = dot.rectangle_nm
        for a, b, _ in d.sections_nm():
            lo, hi = max(a, x0), min(b, x1)
            if hi > lo:
                z0, z1 = d.quantum_z_at(0.5 * (lo + hi))
                total += (hi - lo) * (y1 - y0) * (z1 - z0)
    return total


def _timed(fn, arg, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print("| device | mesh sizes | meshing | vertices | tetrahedra | quantum volume error |")
    print("|---|---|---|---|---|---|")
    for name, params in DEVICES:
        for sizes, label in (({}, "default"), (COARSER, "coarser")):
            d = load_description(name, {**params, **sizes})
            t, m = _timed(build, d, args.repeat)
            exact = _exact_quantum_volume(d)
            err = abs(_volume(m, "quantum") / exact - 1)
            dev = name + (" stepped" if params else "")
            print(
                f"| {dev} | {label} | {t:.2f} s | {len(m.points)} | {len(m.cells[0].data)} | "
                f"{err:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
