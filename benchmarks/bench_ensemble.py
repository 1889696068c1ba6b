"""Variability at scale: a 201-point certified sweep, and 1000 seeds x 21 detunings.

1. The demo study (``StudyConfig.demo()``), 201 detuning points over +-10 mV, 8 states:
   the single-valley certified reduced basis (greedy snapshots + 201 Rayleigh-Ritz points)
   against full two-valley shift-invert solves (``femvalley.eigen.solve``, CHOLMOD). The full
   solves run at every 10th point (21 of the 201: at about 14 s each, all 201 would take 47
   minutes); their mean time gives the cost of 201 full solves, and the largest difference to
   the reduced energies is measured there. The certified bound is reported over all 201.
   Also: the two-valley snapshot basis (``solver.reduced_basis = "two_valley"``) build time,
   and the per-seed cost of the coupling block: ``CouplingAssembler`` against re-assembly.
2. An ensemble of 1000 valley-map seeds x 21 detunings on the demo device
   (:mod:`femvalley.ensemble`): wall time on a Dask LocalCluster of 2 worker processes, and
   the scaling from 1 to 2 workers on the first 200 seeds (same run, same machine). Peak
   memory of the client and of each worker.

Run: python benchmarks/bench_ensemble.py [--seeds 1000] [--scaling-seeds 200]
     (about 20 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def sweep_benchmark(out: dict) -> None:
    from _memory import PeakRSS

    from femvalley.config import StudyConfig
    from femvalley.eigen import solve
    from femvalley.kp import CouplingAssembler
    from femvalley.rb import build_single_valley_basis, build_two_valley_basis
    from femvalley.system import build_system
    from femvalley.valley_map import valley_map_on_nodes

    cfg = StudyConfig.demo()
    cfg = dataclasses.replace(cfg, detuning=dataclasses.replace(cfg.detuning, points=201))
    t0 = time.perf_counter()
    system = build_system(cfg)
    out["setup_s"] = time.perf_counter() - t0
    ops = system.operators
    out["complex_dofs"] = int(ops.ndof)
    eps = np.asarray(cfg.detuning.values_mV())
    points = [{"detuning": float(e)} for e in eps]
    k = cfg.solver.n_states

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        vb, bad = build_single_valley_basis(ops, points, delta_meV=system.delta_meV, k=k)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        sols = [vb.solve(p, vectors=False) for p in points]
        online = time.perf_counter() - t0
    out["reduced"] = {
        "build_s": build,
        "online_s": online,
        "total_s": build + online,
        "snapshots_mV": [s.scales["detuning"] for s in vb.snapshots],
        "size": vb.size,
        "uncertified": len(bad),
        "max_bound_ueV": 1e3 * max(s.error_bound_meV for s in sols),
        "peak_rss_mb": mem.peak_mb,
    }
    # full solves at every 10th point
    full_t, err = [], 0.0
    for i in range(0, eps.size, 10):
        t0 = time.perf_counter()
        ref = solve(ops, k=k, scales=points[i], backend=cfg.solver.backend)
        full_t.append(time.perf_counter() - t0)
        err = max(err, float(np.max(np.abs(sols[i].energies_meV - ref.energies_meV))))
        assert np.all(
            np.abs(sols[i].energies_meV - ref.energies_meV) <= sols[i].error_bound_meV + 1e-9
        )
    t_full = float(np.mean(full_t))
    out["full"] = {
        "points_solved": len(full_t),
        "per_point_s": t_full,
        "for_201_s": 201 * t_full,
        "max_error_ueV": 1e3 * err,
    }
    out["speedup"] = 201 * t_full / (build + online)
    # the two-valley snapshot basis of earlier sessions, same run
    t0 = time.perf_counter()
    rb2, _ = build_two_valley_basis(ops, points, k=k)
    t2 = time.perf_counter() - t0
    t0 = time.perf_counter()
    for p in points:
        rb2.solve(p, vectors=False)
    out["two_valley_basis"] = {
        "build_s": t2,
        "online_s": time.perf_counter() - t0,
        "size": rb2.size,
        "snapshots": len(rb2.snapshots),
    }
    # a new seed: the coupling block by the sparse map against a re-assembly
    spec = dataclasses.replace(cfg.valley_map.spec(), seed=9)
    d9, _ = valley_map_on_nodes(spec, system.quantum_mesh.p)
    t0 = time.perf_counter()
    CouplingAssembler(ops.basis, ops.interior)
    out["coupling_setup_s"] = time.perf_counter() - t0
    c = np.zeros((d9.size, 2, 2), dtype=complex)
    c[:, 0, 1], c[:, 1, 0] = d9, d9.conj()
    t0 = time.perf_counter()
    ops.with_constant(c)
    out["reassembly_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vb.coupling.matrix(d9)
    out["coupling_map_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vb.with_valley_coupling(d9)
    out["reproject_s"] = time.perf_counter() - t0


def _worker_peak_mb(client) -> list[float]:
    def peak() -> float:
        # VmHWM: the peak of this process image (ru_maxrss is inherited across exec, so a
        # worker spawned by a large parent would report the parent's peak)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    return sorted(client.run(peak).values())


def ensemble_benchmark(out: dict, seeds: int, scaling_seeds: int) -> None:
    from distributed import Client, LocalCluster

    from femvalley.config import demo_toml
    from femvalley.ensemble import EnsembleConfig, run_ensemble

    try:
        import tomllib
    except ImportError:  # pragma: no cover
        import tomli as tomllib

    data = tomllib.loads(demo_toml())
    data["output"] = {"figures": True, "vtu_states": 0}

    def config(n: int, scheduler: str | None) -> EnsembleConfig:
        d = dict(data)
        d["ensemble"] = {"seeds": n, "seed_start": 0, "chunk_realisations": 10}
        d["execution"] = {"scheduler": scheduler} if scheduler else {}
        return EnsembleConfig.from_dict(d)

    runs = {}
    plan = ((1, scaling_seeds), (2, scaling_seeds), (2, seeds)) if scaling_seeds else ((2, seeds),)
    for workers, n in plan:
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
            tempfile.TemporaryDirectory() as tmp,
        ):
            t0 = time.perf_counter()
            res = run_ensemble(config(n, cluster.scheduler_address), out_dir=tmp, progress=False)
            wall = time.perf_counter() - t0
            runs[f"{workers}w_{n}"] = {
                "workers": workers,
                "seeds": n,
                "wall_s": wall,
                "setup_s": sum(v for k, v in res["summary"]["timings_s"].items() if "setup" in k),
                "worker_peak_mb": _worker_peak_mb(client),
                "summary": res["summary"]["combinations"][0],
                "full_solves": int(np.sum(res["full_solve"])),
            }
            if n == seeds and workers == 2:
                Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
                import shutil

                shutil.copy(Path(tmp) / "ensemble.png", "benchmarks/out/ensemble_demo.png")
                shutil.copy(
                    Path(tmp) / "ensemble_summary.json", "benchmarks/out/ensemble_demo.json"
                )
        print(json.dumps({k: v for k, v in runs[f"{workers}w_{n}"].items() if k != "summary"}))
    out["ensemble"] = runs
    out["client_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--scaling-seeds", type=int, default=200)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument(
        "--skip-scaling", action="store_true", help="only the large run (SEEDS on 2 workers)"
    )
    args = parser.parse_args()
    out: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    if not args.skip_sweep:
        sweep_benchmark(out)
        print(json.dumps(out, indent=1, default=float))
        _table_sweep(out)
    ensemble_benchmark(out, args.seeds, 0 if args.skip_scaling else args.scaling_seeds)
    Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/out/bench_ensemble.json").write_text(json.dumps(out, indent=1, default=float))
    _table_ensemble(out)


def _table_sweep(o: dict) -> None:
    r, f = o["reduced"], o["full"]
    print("| quantity | value |\n|---|---|")
    print(f"| k.p problem | {o['complex_dofs']} complex unknowns, 8 states, 201 points |")
    print(
        f"| single-valley basis: build ({len(r['snapshots_mV'])} snapshots at "
        f"{', '.join(f'{x:g}' for x in r['snapshots_mV'])} mV) | {r['build_s']:.1f} s |"
    )
    print(f"| reduced size | {r['size']} |")
    print(f"| 201 reduced points (online) | {r['online_s']:.2f} s |")
    print(f"| full solve per point (mean of {f['points_solved']}) | {f['per_point_s']:.2f} s |")
    print(f"| 201 full solves (from that mean) | {f['for_201_s']:.0f} s |")
    print(f"| speed-up (201 full / reduced total) | {o['speedup']:.0f}x |")
    print(f"| largest certified bound over 201 points | {r['max_bound_ueV']:.3g} ueV |")
    print(f"| largest error against the full solves | {f['max_error_ueV']:.3g} ueV |")
    tv = o["two_valley_basis"]
    print(f"| two-valley snapshot basis: build, size | {tv['build_s']:.1f} s, {tv['size']} |")
    print(
        f"| new seed: coupling map / re-assembly / full re-projection | "
        f"{1e3 * o['coupling_map_s']:.0f} ms / {1e3 * o['reassembly_s']:.0f} ms / "
        f"{1e3 * o['reproject_s']:.0f} ms (map set-up once {o['coupling_setup_s']:.1f} s) |"
    )
    print(f"| peak RSS (reduced sweep) | {r['peak_rss_mb']:.0f} MB |")


def _table_ensemble(o: dict) -> None:
    print("| run | seeds | workers | wall | per realisation | worker peak RSS |")
    print("|---|---|---|---|---|---|")
    for name, r in o["ensemble"].items():
        peaks = ", ".join(f"{m:.0f}" for m in r["worker_peak_mb"])
        print(
            f"| {name} | {r['seeds']} | {r['workers']} | {r['wall_s']:.0f} s | "
            f"{r['wall_s'] / r['seeds']:.3f} s | {peaks} MB |"
        )


if __name__ == "__main__":
    main()
