"""A 5-pitch geometry study of the demo device, end to end from the command line.

Runs ``femvalley run examples/pitch_study.toml`` (finger pitch 60..80 nm, 10 seeds each, the
demo's 3-D study at each pitch) twice in fresh processes: first with an empty device cache
(every pitch meshed and its gates solved), then again into another directory (the meshes and
gate potentials read from the cache). Prints the wall time of each run, their ratio, and the
table of the first run (``combinations.csv``); copies its ``parameters.png`` to
``docs/pitch_study.png``.

Run: python benchmarks/bench_pitch_study.py   (about 5 minutes on 2 cores)
"""

from __future__ import annotations

import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "examples" / "pitch_study.toml"


def _run(out: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "femvalley.cli", "run", str(STUDY), "--out", str(out), "--quiet"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - t0


def _cell(row: dict[str, str], name: str, scale: float = 1.0, fmt: str = ".3g") -> str:
    v = row.get(name, "")
    return "-" if v == "" else format(float(v) * scale, fmt)


def main() -> None:
    print(f"machine: {platform.machine()}, python {platform.python_version()}, 2 cores")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FEMVALLEY_CACHE_DIR=str(Path(tmp) / "cache"))
        env.pop("FEMVALLEY_NO_CACHE", None)
        cold = _run(Path(tmp) / "cold", env)
        warm = _run(Path(tmp) / "warm", env)
        rows = list(csv.DictReader((Path(tmp) / "cold" / "combinations.csv").open()))
        shutil.copy(Path(tmp) / "cold" / "parameters.png", ROOT / "docs" / "pitch_study.png")
    print()
    print("| run | wall time |")
    print("|---|---|")
    print(f"| empty device cache (5 pitches meshed and solved) | {cold:.0f} s |")
    print(f"| the same study again (meshes and gate potentials from the cache) | {warm:.0f} s |")
    print(f"| ratio | {cold / warm:.2f}x |")
    print()
    print(
        "| pitch (nm) | dot L x (nm) | dot R x (nm) | orbital spacing L / R (meV) | "
        "lever arm (meV/mV) | t_c median [q25, q75] (ueV) | not resolved | "
        "E_V median [q25, q75] (ueV) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            f"{float(r['device.params.finger_pitch_nm']):g}",
            _cell(r, "dot_L_x_nm", fmt=".1f"),
            _cell(r, "dot_R_x_nm", fmt=".1f"),
            f"{_cell(r, 'orbital_spacing_L_meV')} / {_cell(r, 'orbital_spacing_R_meV')}",
            _cell(r, "lever_arm_meV_per_mV_median", fmt=".4f"),
            f"{_cell(r, 'tunnel_coupling_ueV_median')} [{_cell(r, 'tunnel_coupling_ueV_q25')}, "
            f"{_cell(r, 'tunnel_coupling_ueV_q75')}]",
            r["tunnel_coupling_not_resolved"],
            f"{_cell(r, 'valley_splitting_ueV_median', fmt='.0f')} "
            f"[{_cell(r, 'valley_splitting_ueV_q25', fmt='.0f')}, "
            f"{_cell(r, 'valley_splitting_ueV_q75', fmt='.0f')}]",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
