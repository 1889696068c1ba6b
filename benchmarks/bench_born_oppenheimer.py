"""Born-Oppenheimer column solves: a 200 x 80 in-plane grid with 60 vertical points.

Every column holds a Si/SiGe well (4.6 nm, band offset 160 meV on both sides), a vertical field
and a random in-plane variation. The vectorised solver (:func:`femvalley.born_oppenheimer.
column_ground_states`: Sturm bisection + inverse iteration over all columns at once) is timed
against a Python loop of dense generalized ``scipy.linalg.eigh`` calls on a sample of columns
(extrapolated to all of them), in the same run; the largest energy difference is printed.

Run: python benchmarks/bench_born_oppenheimer.py      (about 10 s)
"""

from __future__ import annotations

import platform
import time

import numpy as np
import scipy.linalg as la

from femvalley.born_oppenheimer import column_ground_states, column_matrices
from femvalley.units import HBAR2_OVER_2M0_MEV_NM2


def main() -> None:
    nx, ny, nz = 200, 80, 60
    rng = np.random.default_rng(0)
    z = np.linspace(-15.0, 15.0, nz)
    well = (z[:-1] >= -2.3 - 1e-9) & (z[1:] <= 2.3 + 1e-9)
    offset = np.where(well, 0.0, 160.0)
    c = HBAR2_OVER_2M0_MEV_NM2 / 0.92
    inplane = rng.normal(0.0, 2.0, nx * ny)
    u = inplane[:, None] - 5.0 * z[None, :]  # 5 meV/nm field towards +z
    t0 = time.perf_counter()
    cs = column_ground_states(z, u, inverse_mass_meV_nm2=c, offset_meV=offset)
    t_vec = time.perf_counter() - t0
    sample = rng.choice(nx * ny, 400, replace=False)
    ad, ao, bd, bo = column_matrices(z, u[sample], inverse_mass_meV_nm2=c, offset_meV=offset)
    t0 = time.perf_counter()
    ref = []
    for j in range(sample.size):
        a = np.diag(ad[j]) + np.diag(ao[j], 1) + np.diag(ao[j], -1)
        b = np.diag(bd[j]) + np.diag(bo[j], 1) + np.diag(bo[j], -1)
        ref.append(la.eigh(a, b, eigvals_only=True, subset_by_index=[0, 0])[0])
    t_loop = (time.perf_counter() - t0) * (nx * ny) / sample.size
    err = float(np.max(np.abs(np.array(ref) - cs.energy_meV[sample])))
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print()
    print("| quantity | value |")
    print("|---|---|")
    print(f"| columns x vertical points | {nx} x {ny} = {nx * ny} x {nz} |")
    print(f"| vectorised column solves | {t_vec:.3f} s |")
    print(f"| loop of dense eigh (extrapolated from 400 columns) | {t_loop:.1f} s |")
    print(f"| ratio loop / vectorised | {t_loop / t_vec:.0f}x |")
    print(f"| largest difference to dense eigh | {err:.1e} meV |")


if __name__ == "__main__":
    main()
