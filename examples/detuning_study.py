"""Detuning spectrum of the Tunnel Falls-like double dot, and its lever arm checked two ways.

Runs a study (``femvalley.study.run_study``: sweep, anticrossing fit, figures, ParaView files)
and compares the detuning lever arm of the fit, d(E_R - E_L)/d eps, with the Hellmann-Feynman
value from the states themselves: dE/d eps = <psi|D|psi> for the ground state at both ends of
the sweep, where it sits in one dot.

Run:  python examples/detuning_study.py --out out/detuning            (the demo study)
      python examples/detuning_study.py --study my_study.toml --out out/mine
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.config import StudyConfig
from femvalley.study import run_study


def hellmann_feynman_slopes(results: dict[str, Any]) -> dict[str, float]:
    """dE0/d eps (meV/mV) of the ground state at the first and last detuning."""
    system = results["system"]
    ops = system.operators
    out = {}
    for end in ("first", "last"):
        psi = results["states"][end][0]  # (2, N) vertex values, M-normalised
        x = np.concatenate([c[ops.interior] for c in psi])
        d = ops.terms["detuning"]
        out[end] = float(np.real(x.conj() @ (d @ x)) / np.real(x.conj() @ (ops.mass @ x)))
    return out


def run(config: StudyConfig, out_dir: Path, *, progress: bool = True) -> dict[str, Any]:
    """Run the study; return its summary with the Hellmann-Feynman lever arm added."""
    res = run_study(config, out_dir=out_dir, progress=progress)
    summary = res["summary"].to_dict()  # the JSON object of summary.json, to extend
    slopes = hellmann_feynman_slopes(res)
    dots = {end: int(np.argmax(res["dot_weight"][i, 0])) for end, i in (("first", 0), ("last", -1))}
    # E_R - E_L: the right-dot slope minus the left-dot slope
    right = next(e for e, d in dots.items() if d == 1)
    left = next(e for e, d in dots.items() if d == 0)
    summary["hellmann_feynman_lever_arm_meV_per_mV"] = slopes[right] - slopes[left]
    summary["ground_state_dot"] = {e: ("dot_L", "dot_R")[d] for e, d in dots.items()}
    (out_dir / "detuning_example.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", help="study TOML (default: the built-in demo study)")
    parser.add_argument("--out", default="out/detuning", help="output directory")
    args = parser.parse_args()
    config = StudyConfig.from_toml(args.study) if args.study else StudyConfig.demo()
    s = run(config, Path(args.out))
    for name, entry in s.get("numbers", {}).items():
        print(f"{name:28s} {entry['text']}")
    print(f"lever arm (H-F, sweep ends) {s['hellmann_feynman_lever_arm_meV_per_mV']:.5f} meV/mV")


if __name__ == "__main__":
    main()
