"""Valley-map sampling: dense multivariate normal (reference) vs the Kronecker sampler.

Run: python benchmarks/bench_valley_map.py            (prints a markdown table)
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _memory import PeakRSS  # noqa: E402 - after sys.path holds benchmarks/

from femvalley.valley_map import ValleyMapSpec, sample_grid  # noqa: E402 - after sys.path holds benchmarks/

TF = dict(mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=1000.0)


def time_sampler(nx, ny, method, repeats):
    spec = ValleyMapSpec(nx=nx, ny=ny, seed=8, **TF)
    best = np.inf
    with PeakRSS() as mem:
        for r in range(repeats):
            t0 = time.perf_counter()
            sample_grid(
                spec,
                x_range_nm=(-150.0, 150.0),
                y_range_nm=(-70.0, 70.0),
                method=method,
                rng=np.random.default_rng(r),
            )
            best = min(best, time.perf_counter() - t0)
    return best, mem.delta_mb


def main():
    rows = []
    cases = [
        (200, 15, True),
        (120, 60, True),
        (400, 100, False),  # dense: covariance alone 12.8 GB, O((nx ny)^3) = 6e13 flops
        (1000, 1000, False),
    ]
    for nx, ny, run_dense in cases:
        fast, fast_mb = time_sampler(nx, ny, "kronecker", 5)
        if run_dense:
            dense, dense_mb = time_sampler(nx, ny, "dense", 1)
            ratio = f"{dense / fast:,.0f}x"
            dense_s = f"{dense:.3f} / {dense_mb:.0f}"
        else:
            n = nx * ny
            dense_s = f"not run ({n * n * 8 / 2**30:.1f} GiB covariance)"
            ratio = "-"
        rows.append((f"{nx}x{ny}", dense_s, f"{fast * 1e3:.2f} / {fast_mb:.0f}", ratio))
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print("| grid | dense eigh (s / peak MB) | Kronecker (ms / peak MB) | speed-up |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
