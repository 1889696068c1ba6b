"""The [spin] table of a study: configuration, files, reported numbers (femvalley.qubit_study)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import COARSE_STUDY_PARAMS

MU_B = 5.7883818060e-2  # meV/T
H_MEV_S = 4.135667696e-12


def _config(spin, **extra):
    from femvalley.config import StudyConfig

    return StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"params": COARSE_STUDY_PARAMS},
            "detuning": {"points": 3},
            "solver": {"n_states": 4},
            "output": {"vtu_states": 0, **extra.pop("output", {})},
            "spin": spin,
            **extra,
        }
    )


def test_a_study_with_a_spin_table_writes_the_qubit_against_the_field(tmp_path):
    """[spin] with a micro-magnet, across the spin-valley crossing: spin.h5 reads back equal;
    spin.csv and spin.png are written; the summary reports the Larmor and Rabi frequencies,
    T2* and Gamma_1 at the report field, the first three with their solver bounds; the
    anticrossing is found where g mu_B B equals the valley splitting (to 2 %, the magnet's
    field adds to the external one), and the Rabi frequency jumps past it (valley qubit)."""
    from femvalley.magnetic import QubitSweep
    from femvalley.study import run_study

    cfg = _config(
        {
            "field_T": [0.2, 3.0],
            "points": 8,
            "detuning_mV": -5.0,
            "report_field_T": 0.5,
            "micro_magnet": {
                "gradient_mT_per_nm": [[0, 0, 0.5], [0, 0, 0], [0.5, 0, 0]],
                "origin_nm": [52.5, 0.0, 0.0],
            },
        }
    )
    run_study(cfg, out_dir=tmp_path, progress=False)
    sweep = QubitSweep.load(tmp_path / "spin.h5")
    np.testing.assert_allclose(sweep.field_T, np.linspace(0.2, 3.0, 8))
    assert sweep.energies_meV.shape == (8, 4) and sweep.spin.shape == (8, 4, 3)
    assert sweep.attrs["drive_gate"] == "P5" and sweep.attrs["gates"][0] == "B4"
    assert np.all(sweep.larmor_bound_GHz < 1e-6 * sweep.larmor_GHz)
    rows = (tmp_path / "spin.csv").read_text().splitlines()
    assert (
        rows[0].startswith("field_T,larmor_GHz,rabi_MHz,t2star_us,gamma1_per_s") and len(rows) == 9
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    nums = summary["numbers"]
    for key, unit in (("larmor_frequency", "GHz"), ("rabi_frequency", "MHz"), ("t2_star", "us")):
        assert nums[key]["unit"] == unit and nums[key]["resolved"]
        assert nums[key]["at_field_T"] == 0.5
    assert nums["relaxation_rate"]["unit"] == "1/s"
    assert "spin.png" in summary["figures"] and (tmp_path / "spin.png").is_file()
    part = summary["spin"]
    field = nums["spin_valley_anticrossing"]["value"]
    assert field == pytest.approx(part["crossing_estimate_T"], rel=0.02)
    below = sweep.field_T < field
    assert np.min(sweep.rabi_MHz[~below]) > 10 * np.max(sweep.rabi_MHz[below])


def test_without_magnet_and_spin_orbit_the_larmor_frequency_is_g_mu_b_b(tmp_path, capsys):
    """A plain spin: f_L = g mu_B B / h exactly at every field, no gate drives it (Rabi 0),
    and the CLI prints the numbers."""
    from femvalley.cli import print_numbers
    from femvalley.magnetic import QubitSweep
    from femvalley.study import StudySummary, run_study

    cfg = _config(
        {
            "field_T": [0.1, 0.4],
            "points": 4,
            "dresselhaus_meV_nm": 0.0,
            "g_factor": 1.9,
            "detuning_mV": -5.0,
        },
        output={"figures": False},
    )
    run_study(cfg, out_dir=tmp_path, progress=False)
    sweep = QubitSweep.load(tmp_path / "spin.h5")
    want = 1.9 * MU_B * sweep.field_T / H_MEV_S * 1e-9
    np.testing.assert_allclose(sweep.larmor_GHz, want, rtol=1e-9)
    assert np.all(sweep.rabi_MHz < 1e-9)
    summary = json.loads((tmp_path / "summary.json").read_text())
    # no gate moves f_L: the slopes are below their bounds, T2* has only a lower bound
    t2 = summary["numbers"]["t2_star"]
    assert t2["text"].startswith("> ") and "solver_bound" not in t2 and t2["value"] > 1e3
    capsys.readouterr()
    print_numbers(StudySummary.from_dict(summary))
    out = capsys.readouterr().out
    assert "Larmor frequency (at 0.1 T): 2.6" in out and "spin-valley crossing expected" in out


def test_spin_table_errors_name_the_field(tmp_path):
    from femvalley.config import StudyConfig
    from femvalley.ensemble import EnsembleConfig

    for table, match in (
        ({"field_T": [0.0, 60.0]}, r"spin.field_T = \[0.0, 60.0\] must lie in \[0, 50\] T"),
        ({"points": 0}, "spin.points = 0"),
        ({"drive_gate": "Q1"}, "spin.drive_gate = 'Q1': no such gate"),
        ({"noise_uV": {"Q1": 1.0}}, r"spin.noise_uV: no gate\(s\) \['Q1'\]"),
        ({"noise_uV": -1.0}, "spin.noise_uV = -1.0 must be >= 0"),
        ({"direction": [0, 0, 0]}, "spin.direction = \\[0, 0, 0\\] has no direction"),
        ({"report_field_T": 9.0}, "spin.report_field_T = 9.0 is outside"),
        ({"temperature_K": -0.1}, "spin.temperature_K = -0.1 must be >= 0"),
        ({"bogus": 1}, r"\[spin\]: unknown key"),
        ({"micro_magnet": {"gradient_mT_per_nm": [[1, 0, 0], [0, 0, 0], [0, 0, 0]]}}, "trace"),
        ({"micro_magnet": {"gradient_mT_per_nm": [[0, 1, 0], [0, 0, 0], [0, 0, 0]]}}, "symmetric"),
        ({"micro_magnet": {"map": "m.npz", "field_T": [0, 0, 1]}}, "either a field map"),
        ({"micro_magnet": {"size": 2}}, r"\[spin.micro_magnet\]: unknown key"),
    ):
        with pytest.raises(ValueError, match=match):
            StudyConfig.from_dict({"model": "bo2d", "spin": table})
    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "spin": {"noise_uV": {"P5": 5.0}, "micro_magnet": {"origin_nm": [1, 2, 3]}},
        }
    )
    assert StudyConfig.from_dict(cfg.to_dict()).spin == cfg.spin
    from femvalley.io.toml import loads

    assert StudyConfig.from_dict(loads(cfg.to_toml())).spin == cfg.spin
    assert "spin" not in StudyConfig.from_dict({"model": "bo2d"}).to_dict()
    with pytest.raises(ValueError, match=r"\[spin\] is computed by single studies"):
        EnsembleConfig.from_dict({"spin": {}, "ensemble": {"seeds": 2}})


def test_a_missing_field_map_keeps_the_one_electron_study(tmp_path):
    """A field map that cannot be read fails the spin part only, with one clear line."""
    from femvalley.study import run_study

    cfg = _config(
        {"points": 2, "micro_magnet": {"map": str(tmp_path / "none.npz")}},
        output={"figures": False},
    )
    run_study(cfg, out_dir=tmp_path / "out", progress=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "cannot read the field map" in summary["spin"]["error"]
    assert "lever_arm" in summary["numbers"] and "larmor_frequency" not in summary["numbers"]
