"""Start-up of an ensemble against its number of realisations (must grow linearly).

Before any device is built, ``run_ensemble`` resolves the study of every realisation
(:meth:`femvalley.ensemble.EnsembleConfig.point_config`: the study with the realisation's
parameters and seed, validated) and makes the empty store (a digest of every resolved study).
This script times those two steps for R = 1000 .. 16000 seeds of the default study; the cost
per realisation should not grow with R (it grew linearly before, start-up was O(R^2)).

Run: python benchmarks/bench_ensemble_startup.py   (about 15 s)
"""

from __future__ import annotations

import platform
import time

from femvalley.ensemble import EnsembleConfig, _empty


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print("| realisations | resolve studies (s) | empty store (s) | per realisation (ms) |")
    print("|---:|---:|---:|---:|")
    for n in (1000, 2000, 4000, 8000, 16000):
        cfg = EnsembleConfig.from_dict({"ensemble": {"seeds": n}})
        t0 = time.perf_counter()
        configs = [cfg.point_config(i) for i in range(len(cfg.realisations()))]
        t1 = time.perf_counter()
        _empty(cfg, configs)
        t2 = time.perf_counter()
        print(f"| {n} | {t1 - t0:.2f} | {t2 - t1:.2f} | {1e3 * (t2 - t0) / n:.3f} |")


if __name__ == "__main__":
    main()
