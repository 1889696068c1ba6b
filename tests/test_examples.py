"""Every example runs and reproduces a physical number."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_valley_dot_2d(tmp_path):
    mod = _load("valley_dot_2d")
    out = mod.run(tmp_path, cells=60, n_states=8)
    # orbital energies of the anisotropic oscillator, hbar w_x (nx + 1/2) + hbar w_y (ny + 1/2)
    np.testing.assert_allclose(out["orbital_meV"], out["exact_orbital_meV"], rtol=0.02)
    # ground-orbital valley splitting: first-order theory (|Delta| << orbital spacing)
    assert out["valley_splitting_meV"][0] == np.float64(out["valley_splitting_meV"][0])
    np.testing.assert_allclose(out["valley_splitting_meV"][0], out["first_order_meV"][0], rtol=0.05)
    assert (tmp_path / "valley_map.png").stat().st_size > 10_000
    lines = (tmp_path / "spectrum.csv").read_text().splitlines()
    assert lines[0].startswith("state,E_meV") and len(lines) == 9
    import json

    params = json.loads((tmp_path / "parameters.json").read_text())
    assert params["valley_map"]["mean_valley_splitting_ueV"] == 200.0
