"""Heterostructure valley physics: two-band k.p in 3-D, and alloy ensembles of the 1-D models.

1. One realisation of the two-band k.p problem on ref. 3's box: 44 x 44 nm in plane (1 nm
   step), 160 monolayers, a plain Si well of 80 ML with 10 ML interfaces at 5 MV/m, an
   in-plane dot of 5 meV: 2 x 43 x 43 x 160 = 591 680 complex unknowns. Without and with
   alloy disorder: wall time, LOBPCG residual, peak memory, and the valley splitting against
   the 1-D two-band model of the in-plane-projected disorder (the valley-orbit mixing the
   1-D model leaves out).
2. 128 alloy realisations of the 1-D models (first order and two-band, same structure, same
   box): wall time (target: under 10 s) and the statistics.
3. The filtered 2k0 model against the local one: time per evaluation on the 0.01 nm grid.

Run: python benchmarks/bench_heterostructure.py      (about 2 minutes on 2 cores)
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from _memory import PeakRSS

    from femvalley.heterostructure import QuantumWell, solve_vertical
    from femvalley.heterostructure.alloy import (
        DotModel,
        sample_ge_fraction,
        valley_splitting_ensemble,
    )
    from femvalley.heterostructure.twoband import (
        V_INTER_GE_MEV,
        solve_two_band_1d,
        solve_two_band_3d,
    )
    from femvalley.heterostructure.valley import (
        filtered_valley_coupling_meV,
        local_valley_coupling_meV,
    )
    from femvalley.units import SI_MONOLAYER_NM

    well = QuantumWell(width_nm=80 * SI_MONOLAYER_NM, interface_width_nm=10 * SI_MONOLAYER_NM)
    model = DotModel(profile=well, field_MV_per_m=5.0, hbar_omega_meV=5.0)
    rows = {}

    # 1. the 3-D two-band problem
    w, y = model.weights(), model.mean_fraction()
    yk = sample_ge_fraction(y, shape_xy=w.shape, sites=model.sites, rng=np.random.default_rng(0))
    for label, v in (("no disorder", None), ("alloy disorder", V_INTER_GE_MEV * yk)):
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            sol = solve_two_band_3d(
                well, field_MV_per_m=5.0, hbar_omega_meV=5.0, v_inter_meV=v, n_states=2
            )
            dt = time.perf_counter() - t0
        v_bar = (
            None if v is None else np.tensordot(w, v, axes=([0, 1], [0, 1]))
        )  # in-plane projection
        one = solve_two_band_1d(well, field_MV_per_m=5.0, v_inter_meV=v_bar)
        rows[f"3-D two-band, {label}"] = {
            "unknowns": int(2 * w.size * model.grid.n_monolayers),
            "time_s": dt,
            "peak_rss_mb": mem.peak_mb,
            "rss_increase_mb": mem.delta_mb,
            "residual_meV": sol.residual_meV,
            "valley_splitting_ueV": 1e3 * sol.valley_splitting_meV,
            "valley_splitting_1d_projected_ueV": 1e3 * one.valley_splitting_meV,
        }
        print(label, rows[f"3-D two-band, {label}"], flush=True)

    # 2. 128 realisations of the 1-D models
    for method in ("first_order", "two_band"):
        t0 = time.perf_counter()
        ens = valley_splitting_ensemble(model, realisations=128, seed=1, method=method)
        dt = time.perf_counter() - t0
        rows[f"128 realisations, {method}"] = {"time_s": dt, **ens.statistics_ueV()}
        print(method, rows[f"128 realisations, {method}"], flush=True)

    # 3. local vs filtered 2k0 on the fine grid
    st = solve_vertical(well, field_MV_per_m=5.0)
    args = (st.z_nm, st.potential_meV, st.envelope)
    times = {}
    for name, fn in (
        ("local", local_valley_coupling_meV),
        ("filtered", filtered_valley_coupling_meV),
    ):
        fn(*args)
        t0 = time.perf_counter()
        for _ in range(50):
            fn(*args)
        times[name] = (time.perf_counter() - t0) / 50
    t0 = time.perf_counter()
    for _ in range(20):
        solve_vertical(well, field_MV_per_m=5.0)
    times["vertical solve"] = (time.perf_counter() - t0) / 20
    rows["2k0 evaluation (s)"] = {**times, "grid_points": int(st.z_nm.size)}
    print(rows["2k0 evaluation (s)"])

    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_heterostructure.json").write_text(
        json.dumps({"machine": platform.platform(), "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
