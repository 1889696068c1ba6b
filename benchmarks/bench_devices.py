"""Meshing a device: the pygmsh description mesher against the gmsh-API builder it replaces.

For the five-gate Si/SiO2 double dot (the builder ``geometries/five_gate_dqd.py`` and the
shipped description ``geometries/devices/five_gate_dqd.toml``, the ``five_gate`` template),
flat and stepped, at the same mesh sizes, in the same run: wall time of meshing (best of
``--repeat``), vertices, tetrahedra, and the volume of the quantum region. Also the shipped
descriptions alone (tunnel_falls, triple_dot). Prints a Markdown table.

With ``--physics``: the barrier scan of ref. 1 (tunnel coupling against the P2 voltage, 3-D,
BO-2D and two fixed-z slices) on the stepped device, built by the builder and by the
description, and the ratios of the two (the description must give the same physics within
the discretisation).

(The Tunnel Falls-like builder was compared the same way, with this script as it was at
commit 577d506, before that builder was removed.)

Run: python benchmarks/bench_devices.py [--repeat 3] [--physics]   (1 min; +10 min)
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from geometries import five_gate_dqd
from geometries.catalog import DEVICE_DIR, load_description
from geometries.mesher import build

FIVE_GATE = str(DEVICE_DIR / "five_gate_dqd.toml")
SIZES = (
    {},  # the defaults: quantum 2 nm, far 12 nm
    {"quantum_mesh_size_nm": 3.0},  # the barrier-scan test's
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


def meshing(repeat: int) -> None:
    """The table of meshing times and sizes."""
    rows = []
    for stepped in (False, True):
        for sizes in SIZES:
            label = ", ".join(f"{k} {v:g}" for k, v in sizes.items()) or "default sizes"
            label = f"five_gate_dqd{' stepped' if stepped else ''}, {label}"
            p = {**sizes, "stepped_interface": stepped}
            t_old, old = _timed(five_gate_dqd.build, five_gate_dqd.Params(**p), repeat)
            t_new, new = _timed(build, load_description(FIVE_GATE, p), repeat)
            for name, t, m, q in (
                ("builder (gmsh API)", t_old, old, _volume(old, "quantum")),
                ("description (pygmsh)", t_new, new, _volume(new, "Si")),
            ):
                rows.append((label, name, t, len(m.points), len(m.cells[0].data), q))
    for name in ("tunnel_falls", "triple_dot"):
        t, m = _timed(build, load_description(name), repeat)
        rows.append(
            (
                f"{name}, default sizes",
                "description (pygmsh)",
                t,
                len(m.points),
                len(m.cells[0].data),
            )
        )
    print(
        "| device | mesher | meshing | vertices | tetrahedra | silicon of the quantum layer (nm^3) |"
    )
    print("|---|---|---|---|---|---|")
    for dev, name, t, nv, nt, *q in rows:
        vol = f"{q[0]:.6g}" if q else ""
        print(f"| {dev} | {name} | {t:.2f} s | {nv} | {nt} | {vol} |")


def physics() -> None:
    """The stepped barrier scan on the builder and on the description."""
    from femvalley.config import StudyConfig
    from femvalley.study import barrier_scan

    params = {"stepped_interface": True, "quantum_mesh_size_nm": 3.0, "kp_mesh_size_nm": 2.5}
    voltages = [-0.03, 0.03, 0.09]
    scans = {}
    for label, name in (("builder", "five_gate_dqd"), ("description", FIVE_GATE)):
        config = StudyConfig.from_dict({"device": {"name": name, "params": params}})
        t0 = time.perf_counter()
        scans[label] = barrier_scan(config, gate="P2", voltages_V=voltages)
        print(f"{label}: {time.perf_counter() - t0:.1f} s", flush=True)
    print("| P2 (V) | model | t_c builder (ueV) | t_c description (ueV) | description / builder |")
    print("|---|---|---|---|---|")
    old, new = scans["builder"], scans["description"]
    for model in old["tunnel_coupling_ueV"]:
        for i, v in enumerate(voltages):
            a = old["tunnel_coupling_ueV"][model][i]
            b = new["tunnel_coupling_ueV"][model][i]
            print(f"| {v:+.2f} | {model} | {a:.4g} | {b:.4g} | {b / a:.4f} |")
    print()
    print("| P2 (V) | BO-2D / 3-D builder | BO-2D / 3-D description | change |")
    print("|---|---|---|---|")
    for i, v in enumerate(voltages):
        ra = old["tunnel_coupling_ueV"]["bo2d"][i] / old["tunnel_coupling_ueV"]["3d"][i]
        rb = new["tunnel_coupling_ueV"]["bo2d"][i] / new["tunnel_coupling_ueV"]["3d"][i]
        print(f"| {v:+.2f} | {ra:.4f} | {rb:.4f} | {rb / ra - 1:+.2%} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--physics", action="store_true", help="also the barrier scans (10 min)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    meshing(args.repeat)
    if args.physics:
        physics()


if __name__ == "__main__":
    main()
