"""The Tunnel Falls-like double dot: mesh, gate electrostatics, band edge, lever arms.

Meshes the Si/SiGe device of PHYSICS.md section 5 (``geometries.tunnel_falls``), solves the
gate electrostatics once per gate, and at the reference biases (B4 1.0, P5 2.5, B5 1.2,
P6 2.5, B6 1.0, SG -0.5, CS -0.5 V) finds the minimum of the conduction-band edge U in each dot
region, then writes

- ``band_edge_channel.png``: U along the channel axis (y = 0) in the middle of the well, at the
  reference biases and at detuning +-10 mV (P5 = 2.5 + eps/2, P6 = 2.5 - eps/2);
- ``band_edge_top_view.png``: U in the mid-well plane over both dot regions, gates outlined;
- ``summary.json``: node counts, timings, the minima and the lever-arm matrix.

Run:  python examples/tunnel_falls_device.py --out out/tunnel_falls
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.electrostatics import solve_gates
from femvalley.materials import get_material
from femvalley.mesh import from_meshio, probe_matrix
from femvalley.plot import plot_band_edge_line, plot_band_edge_top_view
from geometries.tunnel_falls import (
    FINGERS,
    GATES,
    MATERIALS,
    REFERENCE_BIASES_V,
    TunnelFallsParams,
    build,
    build_plane,
)

DETUNING_MV = 10.0


def _semiconductor_band_edge(mesh: Any, phi: np.ndarray) -> np.ndarray:
    """U (meV) at the semiconductor vertices; +inf elsewhere (the well's edge wins)."""
    u = np.full(mesh.nvertices, np.inf)
    for layer in ("buffer", "barrier", "cap", "well"):
        idx = np.unique(mesh.t[:, mesh.subdomains[layer]])
        u[idx] = get_material(MATERIALS[layer]).band_offset_meV - 1000.0 * phi[idx]
    return u


def run(out_dir: Path, params: TunnelFallsParams | None = None) -> dict[str, Any]:
    """Mesh, solve, plot; return the summary (also written to ``summary.json``)."""
    p = params or TunnelFallsParams()
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    mesh = from_meshio(build(p), dim=3)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    gp = solve_gates(mesh, permittivity=MATERIALS, gates=GATES)
    t_solve = time.perf_counter() - t0

    phi = gp.potential_V(REFERENCE_BIASES_V)
    u = _semiconductor_band_edge(mesh, phi)
    minima = {}
    for dot in ("dot_L", "dot_R"):
        idx = np.unique(mesh.t[:, mesh.subdomains[dot]])
        i = int(idx[np.argmin(u[idx])])
        minima[dot] = {"position_nm": mesh.p[:, i].tolist(), "U_meV": float(u[i])}

    # U along the channel axis in the middle of the well, at three detunings
    lx, _ = p.domain_nm
    x = np.linspace(-lx / 2, lx / 2, 541)
    line = probe_matrix(mesh, np.vstack([x, np.zeros_like(x), np.zeros_like(x)]))
    curves = []
    for eps_mV in (-DETUNING_MV, 0.0, DETUNING_MV):
        v = dict(REFERENCE_BIASES_V)
        v["P5"] += eps_mV / 2000.0
        v["P6"] -= eps_mV / 2000.0
        curves.append(-1000.0 * (line @ gp.potential_V(v)))
    outlines = p.gate_outlines_nm()
    plot_band_edge_line(
        out_dir / "band_edge_channel.png",
        position_nm=x,
        band_edge_meV=np.array(curves),
        gate_spans_nm={g: outlines[g][:2] for g in FINGERS},
        title=f"U at y = 0, mid-well; detuning -{DETUNING_MV:g}, 0, +{DETUNING_MV:g} mV",
    )

    # top view in the mid-well plane
    plane = from_meshio(build_plane(p), dim=2)
    gp_plane = gp.interpolated_to(plane, z_nm=0.0)
    plot_band_edge_top_view(
        out_dir / "band_edge_top_view.png",
        mesh=plane,
        band_edge_meV=-1000.0 * gp_plane.potential_V(REFERENCE_BIASES_V),
        gate_outlines_nm=outlines,
        title="U in the mid-well plane at the reference biases",
    )

    arms = gp.lever_arms({"dot_L": "dot_L", "dot_R": "dot_R"})
    summary = {
        "params": dataclasses.asdict(p),
        "nodes": int(mesh.nvertices),
        "tetrahedra": int(mesh.nelements),
        "quantum_nodes": int(np.unique(mesh.t[:, mesh.subdomains["quantum"]]).size),
        "mesh_s": t_mesh,
        "gate_solves_s": t_solve,
        "solver_timings_s": gp.timings_s,
        "minima": minima,
        "lever_arms_meV_per_mV": {
            d: dict(zip(arms.gates, row.tolist())) for d, row in zip(arms.dots, arms.meV_per_mV)
        },
        "channel_axis": {"x_nm": x.tolist(), "U_meV": curves[1].tolist()},
    }
    tmp = out_dir / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out_dir / "summary.json")
    return summary


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/tunnel_falls"))
    ap.add_argument("--quantum-mesh-size-nm", type=float, default=2.0)
    args = ap.parse_args()
    s = run(args.out, TunnelFallsParams(quantum_mesh_size_nm=args.quantum_mesh_size_nm))
    print(
        f"{s['nodes']} nodes ({s['quantum_nodes']} in the quantum region); "
        f"mesh {s['mesh_s']:.1f} s, {len(GATES)} gate solves {s['gate_solves_s']:.1f} s"
    )
    for dot, m in s["minima"].items():
        x, y, z = m["position_nm"]
        print(f"min U in {dot}: {m['U_meV']:.2f} meV at ({x:.1f}, {y:.1f}, {z:.2f}) nm")
    print("lever arms (meV/mV):")
    for dot, row in s["lever_arms_meV_per_mV"].items():
        print(f"  {dot}: " + ", ".join(f"{g} {a:.3f}" for g, a in row.items()))
    print(f"figures and summary.json in {args.out}")


if __name__ == "__main__":
    main()
