"""Two-electron configuration interaction: cost against the basis size.

The harmonic two-electron dot of ``tests/test_two_electron.py`` (hw = 10 meV, m = 0.19,
eps_r = 40): oscillator shells 0..N as the one-electron basis (m = (N + 1)(N + 2) / 2 states)
on a square grid of n x n points over +-7 oscillator lengths. Printed per basis size: the time
of the Coulomb integrals (FFT convolutions and the table) and of the CI (S_z = 0 block of
size m^2 and the S_z = +1 block), the size of the integral table, the singlet and triplet
energies against the exact ones (the relative-motion radial equation) and J.

Run: python benchmarks/bench_two_electron.py [--grid 97 193]   (about a minute)
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from femvalley.twoelectron import grid_coulomb_integrals, two_electron_spectrum
    from tests import test_two_electron as harmonic

    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", type=int, nargs="+", default=[97, 193])
    ap.add_argument("--shells", type=int, default=7)
    args = ap.parse_args()
    singlet, triplet = harmonic._exact_levels()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, 2 cores")
    print(f"exact: singlet {singlet:.5f} meV, triplet {triplet:.5f} meV, J {triplet - singlet:.5f}")
    print(
        "| grid | shells | states m | integrals (s) | CI (s) | table (MB) | "
        "E_S - exact (meV) | E_T - exact (meV) | J (meV) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.grid:
        for shells in range(1, args.shells + 1):
            e, phi, h = harmonic._harmonic_states(shells, n, 7 * harmonic._length_nm())
            t0 = time.perf_counter()
            v = grid_coulomb_integrals(phi, step_nm=h, eps_r=harmonic.EPS_R)
            t1 = time.perf_counter()
            spec = two_electron_spectrum(e, v)
            t2 = time.perf_counter()
            print(
                f"| {n} x {n} | {shells} | {e.size} | {t1 - t0:.3f} | {t2 - t1:.3f} | "
                f"{v.nbytes / 1e6:.2f} | {spec.lowest_meV(0) - singlet:.5f} | "
                f"{spec.lowest_meV(1) - triplet:.5f} | {spec.exchange_meV():.5f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
