"""The alloy valley map (heterostructure -> FEM core) and the PROFILE.toml configuration."""

from __future__ import annotations

import numpy as np
import pytest

from femvalley.config import StudyConfig
from femvalley.heterostructure.bridge import alloy_valley_grid, column_phase
from femvalley.heterostructure.config import HeterostructureConfig
from femvalley.system import build_system

from .conftest import COARSE_STUDY_PARAMS

ALLOY = {
    "profile": [
        {"kind": "well", "width_nm": 4.6, "barrier_ge": 0.3, "interface_width_nm": 1.0},
        {"kind": "uniform", "ge": 0.01},
    ],
    "vertical": {"field_MV_per_m": 5.0, "n_monolayers": 80, "centre_nm": 0.0},
    "dot": {"step_nm": 1.0},
}


def test_profile_config_round_trip_and_errors(tmp_path):
    cfg = HeterostructureConfig.from_dict(ALLOY)
    assert HeterostructureConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.build_profile()(np.array([0.0]))[0] == pytest.approx(0.01, abs=1e-4)
    for bad, match in (
        ({**ALLOY, "profile": [{"kind": "ramp"}]}, r"profile\[0\]\.kind"),
        ({**ALLOY, "profile": [{"kind": "well", "width": 3.0}]}, r"unknown key\(s\) \['width'\]"),
        ({**ALLOY, "disorder": {"method": "exact"}}, "disorder.method"),
        ({**ALLOY, "dot": {"step_nm": 0.1}}, "step_nm"),
        ({"vertical": {}}, r"\[\[profile\]\]"),
    ):
        with pytest.raises(ValueError, match=match):
            HeterostructureConfig.from_dict(bad)
    with pytest.raises(ValueError, match="does not exist"):
        HeterostructureConfig.from_toml(tmp_path / "none.toml")
    # a study's valley map: model = "alloy" needs the tables, and the TOML round-trips
    study = StudyConfig.from_dict({"valley_map": {"model": "alloy", "seed": 3, "alloy": ALLOY}})
    again = StudyConfig.from_dict(__import__("tomllib").loads(study.to_toml()))
    assert again.valley_map.heterostructure() == study.valley_map.heterostructure()
    with pytest.raises(ValueError, match=r"valley_map.alloy"):
        StudyConfig.from_dict({"valley_map": {"model": "alloy"}})
    with pytest.raises(ValueError, match="valley_map.model"):
        StudyConfig.from_dict({"valley_map": {"model": "white"}})


def test_alloy_map_has_the_column_statistics_of_the_profile():
    """Mean and variance of Delta over 20 000 columns against the binomial formulas."""
    cfg = HeterostructureConfig.from_dict(ALLOY)
    xs, ys = np.arange(-100.0, 100.5), np.arange(-50.0, 49.5)
    grid = alloy_valley_grid(cfg, x_nm=xs, y_nm=ys, seed=4)
    assert grid.delta_meV.shape == (201, 100)
    assert grid.x_nm[1] - grid.x_nm[0] == pytest.approx(1.0)
    d = grid.delta_meV.ravel()
    phase = column_phase(cfg)
    y = cfg.dot_model().mean_fraction()
    mean = cfg.v_inter_ge_meV * np.sum(y * phase)
    var = cfg.v_inter_ge_meV**2 * np.sum(np.abs(phase) ** 2 * y * (1 - y)) / 7  # 7 sites
    n = d.size
    assert abs(d.mean() - mean) < 4 * np.sqrt(var / n)
    assert np.var(d) == pytest.approx(var, rel=4 * np.sqrt(2 / n) + 0.02)
    # same seed, same map; another seed, another map
    again = alloy_valley_grid(cfg, x_nm=xs, y_nm=ys, seed=4)
    np.testing.assert_array_equal(again.delta_meV, grid.delta_meV)
    other = alloy_valley_grid(cfg, x_nm=xs, y_nm=ys, seed=5)
    assert not np.allclose(other.delta_meV, grid.delta_meV)


def test_alloy_map_drives_a_study_at_first_order():
    """A BO-2D Tunnel Falls study on an alloy map: E_1 - E_0 of the occupied dot is
    2 |<phi|Delta|phi>| of its orbital (first order), and the map is the study's."""
    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"params": COARSE_STUDY_PARAMS},
            # a weaker inter-valley potential keeps the splitting perturbative
            "valley_map": {
                "model": "alloy",
                "seed": 2,
                "alloy": {**ALLOY, "dot": {"v_inter_ge_meV": 100.0}},
            },
        }
    )
    system = build_system(cfg)
    assert system.valley_grid.spec is None and "alloy" in system.valley_grid.label
    ops = system.operators
    n = ops.interior.size
    b = ops.constant[:n, n:]  # the Delta block between the valley components
    for eps in (-10.0, 10.0):
        res = system.solve(eps)
        phi = res.components[0, 0, ops.interior]  # the orbital: one valley component
        phi = phi / np.sqrt(np.real(phi.conj() @ (ops.mass_scalar @ phi)))
        first = 2 * abs(phi.conj() @ (b @ phi))
        ev = res.energies_meV[1] - res.energies_meV[0]
        assert ev == pytest.approx(first, rel=0.03), (eps, ev, first)
        assert 1e-3 < ev < 0.5
