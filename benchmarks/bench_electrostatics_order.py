"""Gate electrostatics of the Tunnel Falls-like device: P1 against P2 under mesh refinement.

The demo's biases (reference biases, B5 = 1.45 V) on meshes whose quantum-region and
gate-region element sizes are refined together by sqrt 2 (``quantum_mesh_size_nm`` 4 -> 2 nm,
``device_mesh_size_nm`` 10 -> 5 nm). Printed per degree and level: unknowns, mesh and solve
time, peak memory of the solve, and what the electron sees at the top of the well (z = 2 nm):
the potential energy U under the centre of the left plunger (x = -52.5 nm) and the interdot
barrier U(0) - U(-52.5 nm), and the vertical field in the well. The change from level to
level shows how converged each degree is; the numbers of the last level are the reference.

Run: python benchmarks/bench_electrostatics_order.py [--levels 3]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from _memory import PeakRSS

    from femvalley.electrostatics import solve_gates
    from femvalley.mesh import from_meshio
    from geometries.device import resolve_device

    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, default=3)
    args = ap.parse_args()
    biases = dict(resolve_device("tunnel_falls").reference_biases_V, B5=1.45)
    # top of the well under the plunger and under the barrier; 4 nm lower for the field
    pts = np.array([[-52.5, 0.0, 2.0], [0.0, 0.0, 2.0], [-52.5, 0.0, -2.0]]).T
    print(f"# machine: {platform.machine()}, Python {platform.python_version()}, 2 cores")
    print(
        "| order | quantum / gate-region mesh (nm) | unknowns | mesh (s) | solve (s) | "
        "solve peak (MB) | U dot (meV) | barrier (meV) | field (mV/nm) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    meshes = []
    for level in range(args.levels):
        q, d = 4.0 / 2 ** (level / 2), 10.0 / 2 ** (level / 2)
        t0 = time.perf_counter()
        dev = resolve_device("tunnel_falls", {"quantum_mesh_size_nm": q, "device_mesh_size_nm": d})
        mesh = from_meshio(dev.build(), dim=3)
        meshes.append((q, d, mesh, time.perf_counter() - t0))
    for order in (1, 2):
        for q, d, mesh, t_mesh in meshes:
            with PeakRSS() as mem:
                gp = solve_gates(mesh, permittivity=dev.materials, gates=dev.gates, order=order)
            u = -1000.0 * gp.potential_at_V(pts, biases)
            n = mesh.nvertices + (0 if gp.edge_offset_V is None else gp.edge_offset_V.size)
            print(
                f"| P{order} | {q:.2f} / {d:.2f} | {n} | {t_mesh:.1f} | {mem.seconds:.1f} | "
                f"{mem.peak_mb - mem.base_mb:.0f} | {u[0]:.3f} | {u[1] - u[0]:.4f} | "
                f"{(u[0] - u[2]) / 4.0:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
