"""Valley-splitting maps of the Tunnel Falls model over the double-dot region: one map, and
the statistics of E_V = 2 |Delta| over many seeds against the Rayleigh law.

The map (docs/references.md) is a complex Gaussian field with sigma = <E_V> / sqrt(pi), so
E_V is Rayleigh distributed: mean <E_V>, P(E_V < e) = 1 - exp(-pi e^2 / (4 <E_V>^2)).

Run:  python examples/valley_map_statistics.py --out out/valley_map
Writes valley_map.png (seed 8) and valley_map_statistics.json; prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.plot import plot_valley_splitting_map
from femvalley.valley_map import ValleyMapSpec, sample_grid

#: the double-dot region of the Tunnel Falls-like device (nm): two 105 x 80 nm dot regions
REGION_NM = ((-105.0, 105.0), (-40.0, 40.0))


def run(out_dir: Path, *, seeds: int = 64, mean_ueV: float = 200.0) -> dict[str, Any]:
    """Sample ``seeds`` maps; return their pooled statistics and the Rayleigh predictions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = ValleyMapSpec(
        mean_valley_splitting_ueV=mean_ueV, lx_nm=19.2, ly_nm=1000.0, nx=200, ny=15, seed=8
    )
    values = []
    for seed in range(seeds):
        grid = sample_grid(
            dataclasses.replace(base, seed=seed), x_range_nm=REGION_NM[0], y_range_nm=REGION_NM[1]
        )
        values.append(grid.valley_splitting_ueV.ravel())
        if seed == base.seed:
            plot_valley_splitting_map(grid, out_dir / "valley_map.png")
    ev = np.concatenate(values)
    thresholds = [50.0, 100.0, 200.0, 400.0]
    out = {
        "seeds": seeds,
        "mean_ueV": float(ev.mean()),
        "median_ueV": float(np.median(ev)),
        "rayleigh_median_ueV": float(mean_ueV * np.sqrt(4 * np.log(2) / np.pi)),
        "fraction_below": {f"{t:g}": float(np.mean(ev < t)) for t in thresholds},
        "rayleigh_fraction_below": {
            f"{t:g}": float(1 - np.exp(-np.pi * t**2 / (4 * mean_ueV**2))) for t in thresholds
        },
    }
    (out_dir / "valley_map_statistics.json").write_text(json.dumps(out, indent=2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/valley_map", help="output directory")
    parser.add_argument("--seeds", type=int, default=64, help="number of realisations")
    args = parser.parse_args()
    s = run(Path(args.out), seeds=args.seeds)
    print(f"mean E_V   {s['mean_ueV']:.1f} ueV (Rayleigh: 200)")
    print(f"median E_V {s['median_ueV']:.1f} ueV (Rayleigh: {s['rayleigh_median_ueV']:.1f})")
    for t, f in s["fraction_below"].items():
        print(f"P(E_V < {t} ueV) = {f:.3f} (Rayleigh: {s['rayleigh_fraction_below'][t]:.3f})")


if __name__ == "__main__":
    main()
