"""Exchange J on the five-gate device: cost per J point, convergence in the basis, ref. 1 Fig. 4.

Part 1 (``--part cost``): at one barrier voltage (P2 = 0.03 V, flat interface), the orbital
exchange at zero detuning for BO-2D (bulk kernel; screened with linear and quadratic
elements) and 3-D (screened, linear and quadratic), for basis sizes m: J, its basis error,
seconds per J point (one-electron solve, Coulomb integrals, CI) after the one-off setup
(system and Poisson factorisation, printed separately), peak memory of a point, and the size
of the integral table.

Part 0 (``--part kernels``): the same device in BO-2D, the two lowest states localised in the
dots (the eigenvectors of the left dot's projector in their span): the on-site repulsions
``U_L = (LL|LL)``, ``U_R`` and the inter-dot ``V_LR = (LL|RR)`` with the bulk kernel and the
screened one (linear and quadratic elements), and the factorisation time of each Poisson
problem.

Part 2 (``--part scan``): J against the barrier voltage for 3-D, BO-2D and both fixed-z slices,
flat and stepped interface (:func:`femvalley.twoelectron.exchange_scan`), with the ratios to
3-D: the comparison of ref. 1 Fig. 4.

Run: python benchmarks/bench_exchange.py [--part kernels cost scan] [--kp-mesh-size-nm 2.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

VOLTAGES_V = (-0.06, -0.03, 0.0, 0.03, 0.06, 0.09)


def _config(kp_nm: float, stepped: bool, model: str = "3d"):
    from femvalley.config import StudyConfig, ValleyMapConfig

    cfg = StudyConfig.from_dict(
        {
            "model": model,
            "device": {
                "name": "five_gate_dqd",
                "params": {
                    "stepped_interface": stepped,
                    "kp_mesh_size_nm": kp_nm,
                    "quantum_mesh_size_nm": 3.0,
                },
            },
            "biases_V": {"P2": 0.03},
        }
    )
    # the orbital regime of exchange_scan: a uniform Delta of 50 meV splits off the upper branch
    return dataclasses.replace(
        cfg, valley_map=ValleyMapConfig(model="uniform", delta_ueV=(5e4, 0.0))
    )


def kernels(kp_nm: float) -> list[dict]:
    import numpy as np

    from femvalley.electrostatics import grounded_poisson
    from femvalley.system import build_system
    from femvalley.twoelectron import SystemStates, TwoElectronSolver, system_states

    cfg = _config(kp_nm, False, "bo2d")
    system = build_system(cfg)
    dev = cfg.device.resolved()
    one = system_states(system, detuning_mV=0.0, n_states=2)
    # the two lowest states localised: eigenvectors of the dot_L projector in their span
    comps = one.components
    proj = system.observables.matrix("dot_L")
    o = sum(comps[:, c].conj() @ (proj @ comps[:, c].T) for c in range(comps.shape[1]))
    _, u = np.linalg.eigh(o)
    local = np.einsum("ab,bcn->acn", u.T[::-1], comps)  # [dot_L-like, dot_R-like]
    states = SystemStates(0.0, one.energies_meV, local)
    rows = []
    print("| kernel | Poisson DOFs | factorisation (s) | U_L (meV) | U_R (meV) | V_LR (meV) |")
    print("|---|---|---|---|---|---|")
    for kernel, order in (("bulk", None), ("screened", 1), ("screened", 2)):
        poisson, t_fact, ndofs = None, 0.0, 0
        if order is not None:
            t0 = time.perf_counter()
            poisson = grounded_poisson(
                system.device_mesh, permittivity=dev.materials, gates=dev.gates, order=order
            )
            t_fact, ndofs = time.perf_counter() - t0, poisson.ndofs
        solver = TwoElectronSolver(
            system, n_states=2, kernel=kernel, poisson_order=order, poisson=poisson
        )
        v = solver.coulomb(states).real
        row = {
            "kernel": kernel if order is None else f"screened P{order}",
            "dofs": ndofs,
            "factorisation_s": t_fact,
            "U_L_meV": v[0, 0, 0, 0],
            "U_R_meV": v[1, 1, 1, 1],
            "V_LR_meV": v[0, 0, 1, 1],
        }
        rows.append(row)
        print(
            f"| {row['kernel']} | {ndofs or '-'} | {t_fact:.1f} | {row['U_L_meV']:.3f} | "
            f"{row['U_R_meV']:.3f} | {row['V_LR_meV']:.4f} |",
            flush=True,
        )
    return rows


def cost(kp_nm: float, sizes: list[int]) -> list[dict]:
    from _memory import PeakRSS

    from femvalley.electrostatics import grounded_poisson
    from femvalley.system import build_system
    from femvalley.twoelectron import TwoElectronSolver

    rows = []
    first = None
    poisson: dict[int, object] = {}
    print(
        "| model | kernel | Poisson elements | m | J (ueV) | basis error (ueV) | s per J point "
        "| one-electron / integrals / CI (s) | peak MB per point | table (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in ("bo2d", "3d"):
        cfg = _config(kp_nm, False, model)
        system = build_system(cfg, reuse=first)
        first = first or system
        dev = cfg.device.resolved()
        kernels = (
            [("bulk", None), ("screened", 1), ("screened", 2)]
            if model == "bo2d"
            else [
                ("screened", 1),
                ("screened", 2),
            ]
        )
        for kernel, order in kernels:
            if order is not None and order not in poisson:
                t0 = time.perf_counter()
                poisson[order] = grounded_poisson(
                    system.device_mesh, permittivity=dev.materials, gates=dev.gates, order=order
                )
                print(
                    f"(setup: Poisson factorisation, P{order}, {poisson[order].ndofs} DOFs: "
                    f"{time.perf_counter() - t0:.1f} s)"
                )
            for m in sizes:
                solver = TwoElectronSolver(
                    system,
                    n_states=m,
                    kernel=kernel,
                    n_levels=4,
                    poisson_order=order,
                    poisson=poisson.get(order) if kernel == "screened" else None,
                )
                solver.point(0.0)  # the first point builds the density nodes
                with PeakRSS() as mem:
                    pt = solver.point(0.0)
                conv = pt.exchange_convergence()
                t = pt.timings_s
                row = {
                    "model": model,
                    "kernel": kernel,
                    "poisson_order": order,
                    "m": m,
                    "J_ueV": 1e3 * conv.value_meV,
                    "error_ueV": 1e3 * conv.error_meV,
                    "seconds": mem.seconds,
                    "timings_s": t,
                    "peak_mb": mem.peak_mb - mem.base_mb,
                    "table_mb": pt.coulomb_meV.nbytes / 1e6,
                }
                rows.append(row)
                print(
                    f"| {model} | {kernel} | {'P' + str(order) if order else '-'} | {m} | "
                    f"{row['J_ueV']:.4f} | {row['error_ueV']:.2g} | {mem.seconds:.2f} | "
                    f"{t['one_electron']:.2f} / {t['coulomb']:.2f} / {t['ci']:.3f} | "
                    f"{row['peak_mb']:.0f} | {row['table_mb']:.2f} |",
                    flush=True,
                )
    return rows


def scan(kp_nm: float, n_states: int, order: int) -> dict:
    from femvalley.twoelectron import exchange_scan

    out = {}
    for stepped in (False, True):
        cfg = _config(kp_nm, stepped)
        t0 = time.perf_counter()
        s = exchange_scan(
            cfg, gate="P2", voltages_V=VOLTAGES_V, n_states=n_states, poisson_order=order
        )
        name = "stepped" if stepped else "flat"
        out[name] = {**s.to_dict(), "total_s": time.perf_counter() - t0}
        s.write(ROOT / "benchmarks" / "out" / f"exchange_scan_{name}", title=f"{name} interface")
        print(f"\n{name} interface ({out[name]['total_s']:.0f} s), P2 = {list(VOLTAGES_V)} V")
        print("| model | " + " | ".join(f"J at {v:+.2f} V (ueV)" for v in VOLTAGES_V) + " |")
        print("|---|" + "---|" * len(VOLTAGES_V))
        for model, j in s.exchange_ueV.items():
            err = s.exchange_error_ueV[model]
            print(
                f"| {model} | " + " | ".join(f"{a:.3g} +- {b:.1g}" for a, b in zip(j, err)) + " |"
            )
        print("| ratio to 3-D | " + " | ".join("" for _ in VOLTAGES_V) + " |")
        for model, r in s.ratios_to("3d").items():
            if model != "3d":
                print(f"| {model} / 3d | " + " | ".join(f"{x:.3g}" for x in r) + " |")
        print(
            "seconds per J point: "
            + ", ".join(f"{k} {v:.2f}" for k, v in s.seconds_per_point.items())
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--part",
        nargs="+",
        default=["kernels", "cost", "scan"],
        choices=["kernels", "cost", "scan"],
    )
    ap.add_argument("--kp-mesh-size-nm", type=float, default=2.0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16, 24])
    ap.add_argument("--scan-states", type=int, default=16)
    ap.add_argument("--scan-poisson-order", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, 2 cores")
    result: dict = {"kp_mesh_size_nm": args.kp_mesh_size_nm}
    if "kernels" in args.part:
        result["kernels"] = kernels(args.kp_mesh_size_nm)
    if "cost" in args.part:
        result["cost"] = cost(args.kp_mesh_size_nm, args.sizes)
    if "scan" in args.part:
        result["scan"] = scan(args.kp_mesh_size_nm, args.scan_states, args.scan_poisson_order)
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_exchange.json").write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
