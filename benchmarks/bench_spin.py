"""A spin qubit in the demo's double dot against the field: the shape of refs/003 Fig. 16.

The demo device (``femvalley demo``'s Tunnel Falls-like double dot and meshes; its Gaussian
valley map, mean 200 ueV, seed 8) at the detuning -10 mV, where the right dot is the lower one
by far more than its valley splitting, is a one-electron spin-valley qubit with the field along
y and a micro-magnet's uniform gradient at the dot: the gradient of refs/003 eq. 36
(``dB_x/dy = dB_y/dx = -0.041``, ``dB_y/dz = dB_z/dy = 1.88`` mT/nm), centred on the dot, the
magnet's own field at the dot taken as zero (refs/003 does not give it). The drive is 1 mV on
the screening gate SG (it pushes the dot along y, like the screening gate of refs/003), the
noise 10 uV on every gate, the temperature 100 mK, the Dresselhaus constant 1.7 meV nm.

For each model of ``--models`` (default ``bo2d``) the table gives the valley splitting
``E_V`` at zero field, the crossing estimate ``E_V / (g mu_B)`` and the anticrossing found in
the sweep (with its gap), the Rabi frequency in the spin regime (0.5 T) beside the gradient
formula ``(g mu_B / 2h) |b x (G d<r>)|`` with ``d<r>`` from two solves, the Rabi frequency in the
valley regime (1.4 x the crossing), ``T2*`` in both regimes, ``Gamma_1`` at 0.5 T, and the
exponent of ``Gamma_1 ~ B^n`` at T = 0 over the decades 0.05-0.5 T and 0.1-1.0 T (the B^5 law
of a micro-magnet), with the exponent of the same qubit without magnet (Dresselhaus only,
B^7); the closer the Zeeman energy comes to ``E_V``, the more the upper valley state adds to
the spin's admixture and the steeper the rate.
Seconds per field point and the peak memory of the run are printed. ``--figure`` writes the
BO-2D sweep as docs/spin_qubit.png.

``--spot 3d`` runs a model at 0.5 T only (the spin regime's Rabi frequency against the
gradient formula, T2*, Gamma_1, the cost of a point): the 3-D sweep with its anticrossing
search did not finish within 50 minutes on this machine.

Run: python benchmarks/bench_spin.py [--models bo2d] [--spot 3d] [--points 41] [--figure]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GRADIENT_MT_PER_NM = ((0.0, -0.041, 0.0), (-0.041, 0.0, 1.88), (0.0, 1.88, 0.0))
DETUNING_MV = -10.0
DRIVE_GATE = "SG"
MU_B = 5.7883818060e-2  # meV/T


def _system(model: str):
    from femvalley.config import StudyConfig
    from femvalley.system import build_system

    return build_system(dataclasses.replace(StudyConfig.demo(), model=model))


def _exponent(qubit, fields: tuple[float, float]) -> float:
    from femvalley.phonons import SILICON_PHONONS

    rates = [
        qubit.point(b).relaxation(temperature_K=0.0, parameters=SILICON_PHONONS).rate_per_s
        for b in fields
    ]
    return math.log(rates[1] / rates[0]) / math.log(fields[1] / fields[0])


def run_spot(model: str) -> dict:
    """The spin regime at 0.5 T only (no sweep, no anticrossing search): for the 3-D model,
    whose sweep with the anticrossing search takes longer than a benchmark may run."""
    from femvalley.magnetic import MicroMagnet, spin_qubit

    t0 = time.perf_counter()
    system = _system(model)
    setup_s = time.perf_counter() - t0
    plain = spin_qubit(system, detuning_mV=DETUNING_MV)
    t1 = time.perf_counter()
    pos = plain.point(0.5).position_nm(0)
    per_point = time.perf_counter() - t1
    magnet = MicroMagnet(gradient_mT_per_nm=GRADIENT_MT_PER_NM, origin_nm=tuple(pos))
    qubit = spin_qubit(system, detuning_mV=DETUNING_MV, magnet=magnet)
    spin_point = qubit.point(0.5)
    nan = float("nan")
    return {
        "model": model + " (0.5 T only)",
        "E_V_ueV": 1e3 * float(spin_point.energies_meV[2] - spin_point.energies_meV[0]),
        "estimate_T": nan,
        "anticrossing_T": nan,
        "gap_ueV": nan,
        "rabi_spin_MHz": spin_point.rabi_MHz(DRIVE_GATE),
        "gradient_formula_MHz": qubit.gradient_rabi_MHz(DRIVE_GATE, 0.5),
        "dy_nm_per_mV": float(qubit.displacement_nm_per_mV(DRIVE_GATE, 0.5)[1]),
        "rabi_valley_MHz": nan,
        "t2_spin_us": spin_point.t2star_us(10.0),
        "t2_valley_us": nan,
        "gamma1_spin_per_s": spin_point.relaxation(temperature_K=0.1).rate_per_s,
        "exponent_magnet": nan,
        "exponent_magnet_high": nan,
        "exponent_intrinsic": nan,
        "exponent_intrinsic_high": nan,
        "setup_s": setup_s,
        "s_per_point": per_point,
        "dofs": qubit.operators.ndof,
    }


def run_model(model: str, points: int, figure: bool) -> dict:
    from femvalley.magnetic import MicroMagnet, qubit_sweep, spin_qubit

    t0 = time.perf_counter()
    system = _system(model)
    setup_s = time.perf_counter() - t0
    plain = spin_qubit(system, detuning_mV=DETUNING_MV)  # Dresselhaus only
    centre = np.zeros(3)
    pos = plain.point(0.5).position_nm(0)
    centre[: pos.size] = pos
    magnet = MicroMagnet(gradient_mT_per_nm=GRADIENT_MT_PER_NM, origin_nm=tuple(centre))
    qubit = spin_qubit(system, detuning_mV=DETUNING_MV, magnet=magnet)
    estimate = qubit.crossing_estimate_T()
    fields = np.linspace(0.05, 3.0, points)
    t1 = time.perf_counter()
    sweep = qubit_sweep(qubit, fields, drive_gate=DRIVE_GATE, noise_uV=10.0, temperature_K=0.1)
    per_point = (time.perf_counter() - t1) / fields.size
    along = sweep.spin[:, 1] @ np.asarray(qubit.direction)
    flip = int(np.nonzero((along[:-1] > 0) & (along[1:] < 0))[0][0])
    found = qubit.anticrossing((fields[flip], fields[flip + 1]), xtol_T=1e-5)
    spin_point = qubit.point(0.5)
    valley_point = qubit.point(1.4 * found.field_T)
    row = {
        "model": model,
        "E_V_ueV": 1e3 * estimate * 2.0 * MU_B,
        "estimate_T": estimate,
        "anticrossing_T": found.field_T,
        "gap_ueV": found.gap_ueV,
        "rabi_spin_MHz": spin_point.rabi_MHz(DRIVE_GATE),
        "gradient_formula_MHz": qubit.gradient_rabi_MHz(DRIVE_GATE, 0.5),
        "dy_nm_per_mV": float(qubit.displacement_nm_per_mV(DRIVE_GATE, 0.5)[1]),
        "rabi_valley_MHz": valley_point.rabi_MHz(DRIVE_GATE),
        "t2_spin_us": spin_point.t2star_us(10.0),
        "t2_valley_us": valley_point.t2star_us(10.0),
        "gamma1_spin_per_s": spin_point.relaxation(temperature_K=0.1).rate_per_s,
        "exponent_magnet": _exponent(qubit, (0.05, 0.5)),
        "exponent_magnet_high": _exponent(qubit, (0.1, 1.0)),
        "exponent_intrinsic": _exponent(plain, (0.05, 0.5)),
        "exponent_intrinsic_high": _exponent(plain, (0.1, 1.0)),
        "setup_s": setup_s,
        "s_per_point": per_point,
        "dofs": qubit.operators.ndof,
    }
    if figure:
        from femvalley.plot import plot_spin

        plot_spin(
            sweep,
            ROOT / "docs" / "spin_qubit.png",
            crossing_T=found.field_T,
            title=(
                f"demo double dot, {model}, right dot at {DETUNING_MV:g} mV: field along y, "
                "refs/003 gradient, 1 mV on SG"
            ),
        )
    return row


def main() -> None:
    import resource

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["bo2d"])
    ap.add_argument("--points", type=int, default=41)
    ap.add_argument("--figure", action="store_true")
    ap.add_argument("--spot", nargs="*", default=[], help="models run at 0.5 T only (e.g. 3d)")
    args = ap.parse_args()
    print(
        f"# {platform.node()}, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}"
    )
    rows = [run_model(m, args.points, args.figure and m == "bo2d") for m in args.models]
    rows += [run_spot(m) for m in args.spot]
    cols = [
        ("model", "{}"),
        ("E_V_ueV", "{:.1f}"),
        ("estimate_T", "{:.4f}"),
        ("anticrossing_T", "{:.4f}"),
        ("gap_ueV", "{:.3g}"),
        ("rabi_spin_MHz", "{:.4g}"),
        ("gradient_formula_MHz", "{:.4g}"),
        ("dy_nm_per_mV", "{:.4g}"),
        ("rabi_valley_MHz", "{:.4g}"),
        ("t2_spin_us", "{:.3g}"),
        ("t2_valley_us", "{:.3g}"),
        ("gamma1_spin_per_s", "{:.3g}"),
        ("exponent_magnet", "{:.3f}"),
        ("exponent_magnet_high", "{:.3f}"),
        ("exponent_intrinsic", "{:.3f}"),
        ("exponent_intrinsic_high", "{:.3f}"),
        ("setup_s", "{:.1f}"),
        ("s_per_point", "{:.2f}"),
        ("dofs", "{}"),
    ]
    print("| " + " | ".join(c for c, _ in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f.format(r[c]) for c, f in cols) + " |")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print(f"peak memory of the run {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()
