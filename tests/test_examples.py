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


def test_tunnel_falls_device(tmp_path):
    from geometries.tunnel_falls import TunnelFallsParams

    mod = _load("tunnel_falls_device")
    params = TunnelFallsParams(
        mesh_size_nm=30.0, device_mesh_size_nm=15.0, quantum_mesh_size_nm=5.0
    )
    out = mod.run(tmp_path, params)
    # one minimum per dot, in the well, under its plunger (x = -60 / +60 nm, 30 nm wide)
    for dot, sign in (("dot_L", -1), ("dot_R", 1)):
        x, y, z = out["minima"][dot]["position_nm"]
        assert abs(x - sign * 60.0) < 30.0 and abs(y) < 10.0 and abs(z) <= 2.3 + 1e-9
    # each plunger acts more on its own dot than on the other one; mirror-symmetric device
    arms = out["lever_arms_meV_per_mV"]
    assert arms["dot_L"]["P5"] > 1.5 * arms["dot_L"]["P6"]
    assert np.isclose(arms["dot_L"]["P5"], arms["dot_R"]["P6"], rtol=1e-9)
    # the channel-axis U has a barrier under B5 between the two minima
    x = np.array(out["channel_axis"]["x_nm"])
    u = np.array(out["channel_axis"]["U_meV"])
    assert u[np.argmin(np.abs(x))] > u[(x < 0) & (x > -100)].min() + 1.0
    for name in ("band_edge_channel.png", "band_edge_top_view.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 1000
