"""Runs that cannot fit are refused before anything is meshed, with the estimate and the fields.

The structured k.p grids are counted exactly without building them (checked against the
built meshes); the estimate grows as the mesh sizes shrink; a study or ensemble far beyond the
machine's memory is refused at once by the API and by the command line (exit 2, the fields to
change named, no traceback), and the override variable lets it through.
"""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

from femvalley.cli import main
from femvalley.config import StudyConfig
from femvalley.ensemble import EnsembleConfig, run_ensemble
from femvalley.resources import (
    SKIP_ENV,
    ResourceLimitError,
    check_fits,
    estimate_study,
    machine_memory_bytes,
)
from femvalley.study import run_study
from geometries import _grid
from geometries.device import resolve_device

from .conftest import COARSE_STUDY_PARAMS


def test_step_counts_equal_the_axes_they_count():
    rng = random.Random(3)
    for _ in range(2000):
        length = rng.uniform(0.05, 80.0)
        fine = rng.uniform(0.02, 3.0)
        cap = rng.uniform(fine, 10.0)
        axis = _grid.graded_axis(0.0, length, fine_step_nm=fine, max_step_nm=cap)
        assert _grid.graded_steps(length, fine_step_nm=fine, max_step_nm=cap) == axis.size - 1
        assert _grid.uniform_steps(length, cap) == _grid.uniform_axis(0.0, length, cap).size - 1


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("tunnel_falls", {}),
        ("tunnel_falls", {"kp_mesh_size_nm": 3.0}),
        ("tunnel_falls", {"kp_mesh_size_nm": 4.1, "kp_vertical_mesh_size_nm": 0.37}),
        ("tunnel_falls", {"dot_width_nm": 50.0, "finger_pitch_nm": 45.0}),
        ("triple_dot", {"kp_mesh_size_nm": 3.3}),
        ("five_gate_dqd", {}),
        ("five_gate_dqd", {"stepped_interface": True, "kp_mesh_size_nm": 2.7}),
        ("five_gate_dqd", {"kp_box_nm": (90.0, 30.0), "kp_vertical_mesh_size_nm": 0.4}),
    ],
)
def test_structured_kp_meshes_are_counted_exactly_without_building_them(name, params):
    device = resolve_device(name, params)
    counts = device.vertex_estimate()
    mesh = device.build_quantum()
    assert counts["structured_kp"] == len(mesh.points)
    assert counts["plane"] * counts["columns_z"] == len(mesh.points)


def _study(**params):
    return StudyConfig.from_dict(
        {"device": {"params": {**COARSE_STUDY_PARAMS, **params}}, "detuning": {"points": 7}}
    )


def test_the_estimate_grows_as_the_mesh_is_refined():
    coarse = estimate_study(_study())
    fine = estimate_study(_study(kp_mesh_size_nm=COARSE_STUDY_PARAMS["kp_mesh_size_nm"] / 2))
    # halving the in-plane step: 3.5-4x the unknowns (the column count is unchanged)
    assert 3.5 <= fine.kp_unknowns / coarse.kp_unknowns <= 4.0
    assert fine.memory_bytes > coarse.memory_bytes and fine.time_s > coarse.time_s
    bo = estimate_study(dataclasses.replace(_study(), model="bo2d"))
    assert bo.kp_unknowns < coarse.kp_unknowns and bo.memory_bytes < coarse.memory_bytes
    p2 = estimate_study(
        StudyConfig.from_dict({**_study().to_dict(), "solver": {"element": "P2", "n_states": 8}})
    )
    assert p2.kp_unknowns > 5 * coarse.kp_unknowns
    many = estimate_study(_study(), realisations=10**6)
    assert many.memory_bytes > coarse.memory_bytes + 1e9
    assert "unknowns per valley" in coarse.describe() and "peak memory" in coarse.describe()


def test_a_study_that_fits_is_not_refused():
    total = machine_memory_bytes()
    assert total is not None and total > 1e9
    check_fits(estimate_study(_study()))  # the tests' coarse study fits anywhere


def test_check_fits_names_the_size_fields_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv(SKIP_ENV, raising=False)
    est = estimate_study(_study())
    with pytest.raises(ResourceLimitError, match=r"more than this machine's 1 MB; choose larger"):
        check_fits(est, sizes="kp_mesh_size_nm", memory_bytes=10**6)
    monkeypatch.setenv(SKIP_ENV, "1")
    check_fits(est, sizes="kp_mesh_size_nm", memory_bytes=10**6)  # let through


def test_a_huge_study_is_refused_at_once_by_the_api(tmp_path, monkeypatch):
    monkeypatch.delenv(SKIP_ENV, raising=False)
    cfg = _study(kp_mesh_size_nm=0.05, kp_vertical_mesh_size_nm=0.01)
    t0 = time.perf_counter()
    with pytest.raises(ResourceLimitError, match=r"kp_mesh_size_nm = 0.05"):
        run_study(cfg, out_dir=tmp_path / "out", progress=False)
    assert time.perf_counter() - t0 < 10  # nothing was meshed
    assert not (tmp_path / "out" / "results.h5").exists()


def test_a_huge_study_or_ensemble_is_refused_by_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(SKIP_ENV, raising=False)
    study = tmp_path / "huge.toml"
    study.write_text(_study(kp_mesh_size_nm=0.05).to_toml())
    assert main(["run", str(study), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "estimate:" in err  # the estimate is printed first
    assert "needs an estimated" in err and "kp_mesh_size_nm = 0.05" in err
    assert "Traceback" not in err
    ens = tmp_path / "many.toml"
    ens.write_text(
        EnsembleConfig.from_dict(
            {**_study().to_dict(), "ensemble": {"seeds": 10**9}, "output": {"figures": False}}
        ).to_toml()
    )
    assert main(["run", str(ens), "--quiet", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "1000000000 realisations" in err and "fewer seeds" in err
    assert "Traceback" not in err


def test_an_ensemble_counts_its_realisations_without_listing_them():
    cfg = EnsembleConfig.from_dict(
        {
            "ensemble": {
                "seeds": 7,
                "parameters": {"biases_V.B5": [1.1, 1.2, 1.3], "valley_map.lx_nm": [10.0, 20.0]},
            }
        }
    )
    assert cfg.n_realisations() == len(cfg.realisations()) == 42
    zipped = EnsembleConfig.from_dict(
        {"ensemble": {"seeds": [1, 5], "combine": "zip", "parameters": {"biases_V.B5": [1.1, 1.2]}}}
    )
    assert zipped.n_realisations() == len(zipped.realisations()) == 4
    huge = EnsembleConfig.from_dict({"ensemble": {"seeds": 10**9}})
    assert huge.n_realisations() == 10**9
    with pytest.raises(ResourceLimitError, match="fewer seeds"):
        run_ensemble(huge, out_dir="never-written", progress=False)
