"""Detuning sweeps: the results store, checkpoints, resume, and refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from femvalley.config import StudyConfig
from femvalley.io.results import read_results
from femvalley.sweep import run_sweep
from femvalley.system import build_system

from .conftest import COARSE_STUDY_PARAMS as COARSE


@pytest.fixture(scope="module")
def config():
    return StudyConfig.from_dict(
        {
            "device": {"params": COARSE},
            "detuning": {"points": 4, "start_mV": -10.0, "stop_mV": 10.0},
            "solver": {"n_states": 4},
        }
    )


@pytest.fixture(scope="module")
def system(config):
    return build_system(config)


@pytest.fixture(scope="module")
def full_run(config, system, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, run_sweep(config, out_dir=out, system=system, progress=False)


def test_store_is_readable_with_plain_h5py(full_run, config):
    out, res = full_run
    with h5py.File(out / "results.h5", "r") as f:
        assert f.attrs["layout_version"] == 4
        assert f["detuning_slope_meV_per_mV"].shape == f["energies_meV"].shape
        assert f["valley_coupling_meV"].dtype.kind == "c"
        assert (
            StudyConfig.from_dict(__import__("tomllib").loads(f.attrs["config_toml"])).to_dict()
            == config.to_dict()
        )
        e = f["energies_meV"][()]
        assert e.shape == (4, 4) and np.all(np.isfinite(e))
        assert np.all(f["done"][()] == 1)
        np.testing.assert_allclose(f["detuning_mV"][()], [-10, -10 / 3, 10 / 3, 10])
        assert f["dot_weight"].shape == (4, 4, 2)
        assert f["states/first"].shape[:2] == (4, 2)
        assert f["mesh/points_nm"].shape[1] == f["states/first"].shape[2]
    # energies ascending per point; dot weights of each state sum to one
    assert np.all(np.diff(res["energies_meV"], axis=1) >= 0)
    np.testing.assert_allclose(res["dot_weight"].sum(axis=2), 1.0, atol=1e-9)
    lines = (out / "spectrum.csv").read_text().splitlines()
    assert lines[0] == "detuning_mV,E0_meV,E1_meV,E2_meV,E3_meV" and len(lines) == 5
    assert (out / "study.toml").read_text() == config.to_toml()


def test_killed_run_resumes_without_recomputing(full_run, config, system, tmp_path, monkeypatch):
    _, reference = full_run

    class Killed(Exception):
        pass

    def kill_after_two(i):
        if i == 1:
            raise Killed

    with pytest.raises(Killed):
        run_sweep(config, out_dir=tmp_path, system=system, progress=False, on_point=kill_after_two)
    stored = read_results(tmp_path / "results.h5")
    assert stored["done"].tolist() == [1, 1, 0, 0]  # both finished points were checkpointed
    # without --resume the store is never overwritten
    with pytest.raises(ValueError, match="already exists"):
        run_sweep(config, out_dir=tmp_path, system=system, progress=False)
    computed = []
    snapshots = _count_snapshots(monkeypatch)
    res = run_sweep(
        config,
        out_dir=tmp_path,
        system=system,
        progress=False,
        resume=True,
        on_point=computed.append,
    )
    assert computed == [2, 3]  # nothing done is recomputed
    assert snapshots == []  # nor the full solves of the reduced basis
    np.testing.assert_allclose(res["energies_meV"], reference["energies_meV"], rtol=1e-9)
    assert read_results(tmp_path / "results.h5")["done"].tolist() == [1, 1, 1, 1]


def _count_snapshots(monkeypatch, fail_at: int | None = None) -> list:
    """Record the reduced basis' full solves (and fail at call number ``fail_at``)."""
    import femvalley.rb.single_valley as single_valley
    import femvalley.rb.two_valley as two_valley

    calls: list = []

    def counting(original):
        def wrapped(*args, **kwargs):
            calls.append(kwargs.get("scales", args[1] if len(args) > 1 else None))
            if fail_at is not None and len(calls) == fail_at:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        return wrapped

    # both kinds of snapshot: two-valley full solves and single-valley orbitals
    for module, name in ((two_valley, "full_snapshot"), (single_valley, "orbital_snapshot")):
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    return calls


def test_killed_while_building_the_basis_resumes_with_the_same_basis(
    full_run, config, system, tmp_path, monkeypatch
):
    _, reference = full_run
    calls = _count_snapshots(monkeypatch, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, out_dir=tmp_path, system=system, progress=False)
    assert len(calls) == 2 and (tmp_path / "snapshots.h5").exists()
    monkeypatch.undo()
    calls = _count_snapshots(monkeypatch)
    res = run_sweep(config, out_dir=tmp_path, system=system, progress=False, resume=True)
    # the first snapshot was checkpointed; only the interrupted one is solved again
    assert len(calls) == len(reference["reduced"].snapshots) - 1
    assert res["reduced"].size == reference["reduced"].size
    np.testing.assert_allclose(res["energies_meV"], reference["energies_meV"], rtol=0, atol=1e-9)


def test_resuming_a_finished_study_rebuilds_its_basis_without_solving(
    full_run, config, system, tmp_path, monkeypatch
):
    import shutil

    out, reference = full_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    calls = _count_snapshots(monkeypatch)
    res = run_sweep(config, out_dir=copy, system=system, progress=False, resume=True)
    assert calls == []  # no full solve: the snapshots come from snapshots.h5
    assert res["reduced"] is not None and res["reduced"].size == reference["reduced"].size
    np.testing.assert_array_equal(res["energies_meV"], reference["energies_meV"])
    # the same basis: its reduced operators give the same spectrum at a new detuning
    a = res["reduced"].solve({"detuning": 1.234}, vectors=False).result.energies_meV
    b = reference["reduced"].solve({"detuning": 1.234}, vectors=False).result.energies_meV
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_resume_into_another_study_is_refused(full_run, config, system):
    out, _ = full_run
    other = StudyConfig.from_dict(
        {
            "device": {"params": COARSE},
            "detuning": {"points": 4, "start_mV": -10.0, "stop_mV": 10.0},
            "solver": {"n_states": 4},
            "valley_map": {"seed": 9},
        }
    )
    with pytest.raises(ValueError, match="different study configuration"):
        run_sweep(other, out_dir=out, system=system, progress=False, resume=True)
