"""Reduced-basis points with one BLAS thread against the default pool (2 threads here).

A certified reduced-basis point is a ``2m x 2m`` Hermitian eigenproblem (m = 30-60 orbitals on
the demo) plus a few small dense products. This script times the 201 points of the demo's
BO-2D sweep (``StudyConfig.demo()`` with ``model = "bo2d"``), the same basis in the same run,
with the default BLAS thread pools and inside :func:`femvalley.linalg.serial_blas` (what
``run_sweep`` and the anticrossing analysis use), on an idle machine and with one core kept
busy by a spinning process (another job, a ParaView session). Also ``scipy.linalg.eigh`` of
random Hermitian matrices of the reduced sizes.

Run: python benchmarks/bench_blas_threads.py   (about 1 minute on 2 cores)
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import platform
import time

import numpy as np


def _spin() -> None:  # pragma: no cover - a busy core
    while True:
        pass


def _time_points(vb, points, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in points:
            vb.solve(p, vectors=False)
        best = min(best, time.perf_counter() - t0)
    return best / len(points)


def _time_eigh(n: int, repeat: int = 40) -> float:
    import scipy.linalg as sl

    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    a = a + a.conj().T
    sl.eigh(a)
    t0 = time.perf_counter()
    for _ in range(repeat):
        sl.eigh(a)
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    from threadpoolctl import threadpool_info

    from femvalley.config import StudyConfig
    from femvalley.linalg import serial_blas
    from femvalley.rb import build_single_valley_basis
    from femvalley.system import build_system

    cfg = dataclasses.replace(StudyConfig.demo(), model="bo2d")
    t0 = time.perf_counter()
    system = build_system(cfg)
    setup = time.perf_counter() - t0
    eps = np.linspace(cfg.detuning.start_mV, cfg.detuning.stop_mV, 201)
    points = [{"detuning": float(e)} for e in eps]
    vb, bad = build_single_valley_basis(
        system.operators,
        points,
        delta_meV=system.delta_meV,
        k=cfg.solver.n_states,
        orbitals=cfg.solver.orbitals_per_snapshot(),
    )
    pools = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"BLAS pools: {pools}")
    print(f"demo BO-2D: setup {setup:.1f} s, reduced size 2m = {vb.size}, uncertified {bad}")
    print()
    print("| load | default pool (ms/point) | one thread (ms/point) | ratio |")
    print("|---|---:|---:|---:|")
    sizes = (64, 96, 128, 192)
    rows_eigh = []
    for load in ("idle", "one busy core"):
        proc = None
        if load != "idle":
            proc = mp.get_context("spawn").Process(target=_spin, daemon=True)
            proc.start()
            time.sleep(1.0)
        try:
            default = _time_points(vb, points)
            with serial_blas():
                one = _time_points(vb, points)
            eigh = []
            for n in sizes:
                d = _time_eigh(n)
                with serial_blas():
                    s = _time_eigh(n)
                eigh.append((n, d, s))
            rows_eigh.append((load, eigh))
        finally:
            if proc is not None:
                proc.terminate()
                proc.join()
        print(f"| {load} | {1e3 * default:.2f} | {1e3 * one:.2f} | {default / one:.2f} |")
    print()
    print("scipy.linalg.eigh, complex Hermitian n x n (ms): default pool / one thread")
    print()
    print("| load | " + " | ".join(f"n = {n}" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for load, eigh in rows_eigh:
        cells = " | ".join(f"{1e3 * d:.2f} / {1e3 * s:.2f}" for _, d, s in eigh)
        print(f"| {load} | {cells} |")


if __name__ == "__main__":
    main()
