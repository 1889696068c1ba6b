"""Meshing a device: the pygmsh description mesher against the gmsh-API builder it replaces.

For the Tunnel Falls-like double dot (the builder ``geometries/tunnel_falls.py`` and the
shipped description ``geometries/devices/tunnel_falls.toml``, the linear-array template) at
the same mesh sizes, in the same run: wall time of meshing (best of ``--repeat``), vertices,
tetrahedra, and the largest relative difference of the volume of any group. Also the
shipped triple dot. Prints a Markdown table.

Run: python benchmarks/bench_devices.py [--repeat 3]   (about a minute)
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from geometries import tunnel_falls
from geometries.catalog import load_description
from geometries.mesher import build

SIZES = (
    {},  # the defaults: quantum 2 nm, near gates 10 nm, far 25 nm
    {"quantum_mesh_size_nm": 4.0, "device_mesh_size_nm": 15.0, "mesh_size_nm": 30.0},
)


def _volume(mesh, name):
    tets = mesh.cells[0].data[mesh.cell_sets[name][0]]
    p = mesh.points[tets]
    d = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    return float(np.abs(d).sum() / 6)


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
    rows = []
    for sizes in SIZES:
        label = ", ".join(f"{k} {v:g}" for k, v in sizes.items()) or "default sizes"
        t_old, old = _timed(tunnel_falls.build, tunnel_falls.Params(**sizes), args.repeat)
        t_new, new = _timed(build, load_description("tunnel_falls", sizes), args.repeat)
        groups = [n for n in old.cell_sets if len(old.cell_sets[n][0])]
        worst = max(abs(_volume(new, n) / _volume(old, n) - 1) for n in groups)
        for name, t, m in (
            ("builder (gmsh API)", t_old, old),
            ("description (pygmsh)", t_new, new),
        ):
            rows.append((f"tunnel_falls, {label}", name, t, len(m.points), len(m.cells[0].data)))
        rows.append(
            (
                f"tunnel_falls, {label}",
                "description / builder",
                t_new / t_old,
                len(new.points) / len(old.points),
                worst,
            )
        )
    t, m = _timed(build, load_description("triple_dot"), args.repeat)
    rows.append(
        (
            "triple_dot, default sizes",
            "description (pygmsh)",
            t,
            len(m.points),
            len(m.cells[0].data),
        )
    )
    print("| device | mesher | meshing | vertices | tetrahedra |")
    print("|---|---|---|---|---|")
    for dev, name, t, nv, nt in rows:
        if name == "description / builder":
            print(f"| {dev} | {name} | {t:.2f}x | {nv:.3f}x | volumes within {nt:.1e} |")
        else:
            print(f"| {dev} | {name} | {t:.2f} s | {nv} | {nt} |")


if __name__ == "__main__":
    main()
