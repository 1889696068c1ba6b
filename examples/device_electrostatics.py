"""A device's gate electrostatics: mesh, unit-gate solves, band edge, minima, lever arms.

For a device (``tunnel_falls``, the Si/SiGe double dot of docs/references.md section 5, by
default; ``five_gate_dqd``, the Si/SiO2 double dot of ref. 1; any shipped description, or the
path of your own description file, see docs/devices.md): meshes it,
solves the gate electrostatics once per gate, finds the minimum of the conduction-band edge U
in each dot region at the device's reference biases, and writes

- ``band_edge_channel.png``: U along the channel axis (y = 0) in the plane of the 2-D cut
  (mid-well for Tunnel Falls), at the reference biases and at detuning +-10 mV on the two
  plungers (left + eps/2, right - eps/2);
- ``band_edge_top_view.png``: U in that plane over both dot regions, gates outlined;
- ``summary.json``: node counts, timings, the minima and the lever-arm matrix.

Run:  python examples/device_electrostatics.py --device tunnel_falls --out out/tunnel_falls
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.electrostatics import solve_gates
from femvalley.materials import get_material
from femvalley.mesh import from_meshio, probe_matrix
from femvalley.plot import plot_band_edge_line, plot_band_edge_top_view
from geometries.device import Device, resolve_device

DETUNING_MV = 10.0


def run(out_dir: Path, device: str = "tunnel_falls", params: Any = None) -> dict[str, Any]:
    """Mesh, solve, plot; return the summary (also written to ``summary.json``).

    ``params`` override the device's parameters by name (e.g. ``{"quantum_mesh_size_nm": 4.0}``).
    """
    dev: Device = resolve_device(device, params)
    biases = dev.reference_biases_V
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    mesh = from_meshio(dev.build(), dim=3)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    gp = solve_gates(
        mesh,
        permittivity=dev.materials,
        gates=dev.gates,
        work_function_offset_V=dev.work_function_offset_V,
    )
    t_solve = time.perf_counter() - t0

    semiconductors = {
        r: get_material(m).band_offset_meV
        for r, m in dev.materials.items()
        if get_material(m).has_electrons
    }
    u = gp.band_edge_at_vertices_meV(biases, band_offset_meV=semiconductors)
    minima = {}
    for dot in ("dot_L", "dot_R"):
        idx = np.unique(mesh.t[:, mesh.subdomains[dot]])
        i = int(idx[np.argmin(u[idx])])
        minima[dot] = {"position_nm": mesh.p[:, i].tolist(), "U_meV": float(u[i])}

    # U along the channel axis in the plane of the 2-D cut, at three detunings
    z = dev.plane_z_nm
    x0, x1 = float(mesh.p[0].min()), float(mesh.p[0].max())
    x = np.linspace(x0, x1, 541)
    line = probe_matrix(mesh, np.vstack([x, np.zeros_like(x), np.full_like(x, z)]))
    left, right = dev.plungers["dot_L"], dev.plungers["dot_R"]
    curves = []
    for eps_mV in (-DETUNING_MV, 0.0, DETUNING_MV):
        v = dict(biases)
        v[left] += eps_mV / 2000.0
        v[right] -= eps_mV / 2000.0
        curves.append(-1000.0 * (line @ gp.potential_V(v)))
    outlines = dev.gate_outlines_nm()
    # gates that cross the channel axis (y = 0)
    crossing = {g: o[:2] for g, o in outlines.items() if o[2] <= 0.0 <= o[3]}
    plot_band_edge_line(
        out_dir / "band_edge_channel.png",
        position_nm=x,
        band_edge_meV=np.array(curves),
        gate_spans_nm=crossing,
        title=f"{dev.name}: U at y = 0, z = {z:g} nm; detuning -{DETUNING_MV:g}, 0, "
        f"+{DETUNING_MV:g} mV",
    )

    # top view in the plane of the 2-D cut
    plane = from_meshio(dev.build_plane(), dim=2)
    gp_plane = gp.interpolated_to(plane, z_nm=z)
    plot_band_edge_top_view(
        out_dir / "band_edge_top_view.png",
        mesh=plane,
        band_edge_meV=-1000.0 * gp_plane.potential_V(biases),
        gate_outlines_nm=outlines,
        title=f"{dev.name}: U at z = {z:g} nm, reference biases",
    )

    arms = gp.lever_arms({"dot_L": "dot_L", "dot_R": "dot_R"})
    summary = {
        "device": dev.name,
        "params": {k: v for k, v in vars(dev.params).items()},
        "biases_V": dict(biases),
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
    ap.add_argument(
        "--device", default="tunnel_falls", help="a device name or description file (*.toml)"
    )
    ap.add_argument("--out", type=Path, default=None, help="default: out/<device>")
    ap.add_argument("--quantum-mesh-size-nm", type=float, default=2.0)
    args = ap.parse_args()
    out = args.out or Path("out") / Path(args.device).stem
    s = run(out, args.device, {"quantum_mesh_size_nm": args.quantum_mesh_size_nm})
    print(
        f"{s['nodes']} nodes ({s['quantum_nodes']} in the quantum region); "
        f"mesh {s['mesh_s']:.1f} s, {len(s['biases_V'])} gate solves {s['gate_solves_s']:.1f} s"
    )
    for dot, m in s["minima"].items():
        x, y, z = m["position_nm"]
        print(f"min U in {dot}: {m['U_meV']:.2f} meV at ({x:.1f}, {y:.1f}, {z:.2f}) nm")
    print("lever arms (meV/mV):")
    for dot, row in s["lever_arms_meV_per_mV"].items():
        print(f"  {dot}: " + ", ".join(f"{g} {a:.3f}" for g, a in row.items()))
    print(f"figures and summary.json in {out}")


if __name__ == "__main__":
    main()
