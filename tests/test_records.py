"""Typed results and every store they are saved to: write, read back, the same bits.

Each store of femvalley goes through the one round-trip helper (``tests/helpers.py``):
results.h5 (:class:`SweepResult`), a study directory (:class:`StudyResult`), ensemble.h5
(:class:`EnsembleResult`), the snapshot checkpoint, and the valley-map grid files.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from femvalley.ensemble import ENSEMBLE_ARRAYS, EnsembleResult
from femvalley.io.ensemble import TEXT_BYTES, read_ensemble
from femvalley.io.snapshots import read_snapshots, write_snapshots
from femvalley.rb import OrbitalSnapshot, Snapshot
from femvalley.reported import ReportedNumber
from femvalley.study import StudyResult, StudySummary
from femvalley.sweep import SWEEP_ARRAYS, SweepResult
from femvalley.valley_map import ValleyGrid, load_valley_grid, save_valley_grid

from .helpers import assert_same, write_read

RNG = np.random.default_rng(7)
P, K, N = 5, 3, 40


def _sweep(**extra) -> SweepResult:
    arrays = {
        "detuning_mV": np.linspace(-1.0, 1.0, P),
        "done": np.array([1, 1, 0, 1, 1], dtype=np.uint8),
        "energies_meV": RNG.standard_normal((P, K)),
        "dot_weight": RNG.random((P, K, 2)),
        "solve_s": RNG.random(P),
        "full_solve": np.array([0, 1, 0, 0, 0], dtype=np.uint8),
        "error_bound_meV": np.array([1e-7, np.nan, np.nan, 2e-7, 3e-9]),
        "residual_meV": RNG.random((P, K)),
        "valley_coupling_meV": RNG.standard_normal((P, K)) + 1j * RNG.standard_normal((P, K)),
    }
    for name in SWEEP_ARRAYS:
        arrays.setdefault(name, RNG.standard_normal((P, K)))
    arrays["energies_meV"][2] = np.nan  # a point not done
    mass = sp.random(N, N, density=0.1, random_state=3, format="csr")
    return SweepResult(
        **arrays,
        states={
            "first": RNG.standard_normal((K, 2, N)) + 1j * RNG.standard_normal((K, 2, N)),
            "last": RNG.standard_normal((K, 2, N)) + 0j,
        },
        attrs={
            "layout_version": 4,
            "config_toml": 'model = "3d"\n',
            "n_states": K,
            "setup_s": 1.5,
            "snapshot_detuning_mV": np.array([-1.0, 1.0]),
        },
        mesh={
            "points_nm": RNG.standard_normal((3, N)),
            "cells": RNG.integers(0, N, (4, 60)),
            "band_edge_meV": RNG.standard_normal(N),
            "detuning_meV_per_mV": RNG.standard_normal(N),
            "delta_meV": RNG.standard_normal(N) + 1j * RNG.standard_normal(N),
            "mass_matrix": mass + mass.T,
        },
        **extra,
    )


def test_a_sweep_result_survives_results_h5_bit_for_bit(tmp_path):
    a = _sweep(reduced_build_s=None)
    b = write_read(a, tmp_path / "results.h5")
    assert isinstance(b, SweepResult) and b.system is None and b.reduced is None
    assert_same(a, b)


def test_a_sweep_result_reads_as_a_mapping_of_its_fields():
    r = _sweep()
    assert r["energies_meV"] is r.energies_meV
    assert "states" in r and "summary" not in r and r.get("reduced") is None
    assert list(r)[: len(SWEEP_ARRAYS)] == list(SWEEP_ARRAYS)
    assert len(r) == len(SWEEP_ARRAYS) + 6
    with pytest.raises(KeyError):
        r["energy_meV"]  # a typo is a KeyError, and for mypy an unknown attribute


def test_an_unfinished_end_point_has_no_end_state_after_reading(tmp_path):
    a = _sweep()
    done = a.done.copy()
    done[-1] = 0
    b = SweepResult.load(
        SweepResult(
            **{**dict(a.items()), "done": done, "states": {"first": a.states["first"]}}
        ).save(tmp_path / "r.h5")
    )
    assert set(b.states) == {"first"}


def test_a_study_result_survives_its_directory(tmp_path):
    summary = StudySummary(
        device="tunnel_falls",
        model="3d",
        points=P,
        points_done=P - 1,
        n_states=2,
        kp_mesh={"vertices": 10},
        device_mesh_vertices=20,
        method="full",
        timings_s={"setup": {}},
        numbers={"lever_arm": ReportedNumber.bounded(0.05, 1e-6, "meV/mV")},
    )
    a = StudyResult.from_sweep(_sweep(), summary)
    b = write_read(a, tmp_path / "study")
    assert isinstance(b.summary, StudySummary) and b.summary.numbers["lever_arm"].value == 0.05
    assert (tmp_path / "study" / "results.h5").is_file()
    assert (tmp_path / "study" / "summary.json").is_file()
    assert_same(a, b)


def _ensemble() -> EnsembleResult:
    r, p, k = 6, 4, 2
    arrays = {
        "detuning_mV": np.linspace(-1, 1, p),
        "seed": np.arange(r, dtype=np.int64) + 10,
        "combination": np.array([0, 0, 0, 1, 1, 1], dtype=np.int64),
        "parameters": {
            "biases_V.B5": np.array([1.2] * 3 + [1.3] * 3),
            "device.name": np.array(["tunnel_falls"] * 3 + ["five_gate_dqd"] * 3, dtype=object),
        },
        "point_config_sha256": np.array([f"{i:064x}" for i in range(r)], dtype=object),
        "done": np.array([1, 1, 0, 1, 1, 1], dtype=np.uint8),
        "energies_meV": RNG.standard_normal((r, p, k)),
        "dot_weight": RNG.random((r, p, k, 2)),
        "error_bound_meV": RNG.random((r, p)),
        "full_solve": np.zeros((r, p), dtype=np.uint8),
        "solve_s": RNG.random(r),
        "worker": np.array(["höst-ä:12", "node7:99", "", "a:1", "b:2", "c:3"], dtype=object),
        "finished_utc": np.array(["2026-12-07T17:00:00Z"] * r, dtype=object),
    }
    for name in ENSEMBLE_ARRAYS:
        arrays.setdefault(name, RNG.standard_normal(r))
    return EnsembleResult(
        **arrays, attrs={"layout_version": 4, "n_states": k, "ensemble_toml": "[ensemble]\n"}
    )


def test_an_ensemble_result_survives_ensemble_h5_bit_for_bit(tmp_path):
    a = _ensemble()
    b = write_read(a, tmp_path / "ensemble.h5")
    assert_same(a, b, skip=("wall_s",))
    assert b["worker"][0] == "höst-ä:12"


def test_text_longer_than_its_field_is_cut_at_a_character_boundary(tmp_path):
    a = _ensemble()
    long = "ü" * 40 + ":1"  # 82 bytes of UTF-8
    a.worker[1] = long
    a.save(tmp_path / "e.h5")
    got = read_ensemble(tmp_path / "e.h5")["worker"][1]
    assert got == "ü" * (TEXT_BYTES["worker"] // 2)


def test_snapshots_survive_their_checkpoint_bit_for_bit(tmp_path):
    snaps = [
        OrbitalSnapshot(
            scales={"detuning": -10.0},
            energies_meV=RNG.standard_normal(4),
            vectors=RNG.standard_normal((30, 4)),
            residual_meV=RNG.random(4),
        ),
        Snapshot(
            scales={"detuning": 2.5},
            energies_meV=RNG.standard_normal(3),
            vectors=RNG.standard_normal((60, 3)) + 1j * RNG.standard_normal((60, 3)),
        ),
    ]
    back = write_read(
        snaps,
        tmp_path / "snapshots.h5",
        save=lambda s, p: write_snapshots(p, "id-1", s),
        load=lambda p: read_snapshots(p, "id-1"),
    )
    assert [type(s) for s in back] == [OrbitalSnapshot, Snapshot]
    for a, b in zip(snaps, back):
        assert_same(a, b)
    assert read_snapshots(tmp_path / "snapshots.h5", "another study") == []


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_a_valley_grid_survives_its_file(tmp_path, suffix):
    grid = ValleyGrid(
        x_nm=np.linspace(-50, 50, 7),
        y_nm=np.linspace(-20, 20, 5),
        delta_meV=RNG.standard_normal((7, 5)) + 1j * RNG.standard_normal((7, 5)),
    )
    back = write_read(
        grid,
        tmp_path / f"map{suffix}",
        save=lambda g, p: save_valley_grid(p, g),
        load=load_valley_grid,
    )
    assert_same(grid, back, skip=("spec", "label", "delta_meV"))
    # the file holds ueV: meV come back to the rounding of one multiplication and division
    np.testing.assert_allclose(back.delta_meV, grid.delta_meV, rtol=1e-15, atol=0)


def test_an_ensemble_store_of_layout_3_reads_with_nan_device_numbers(tmp_path):
    """Stores written before the device numbers existed still load (as NaN)."""
    import h5py

    from femvalley.ensemble import DEVICE_NUMBERS

    a = _ensemble()
    a.save(tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "a") as f:
        for name in DEVICE_NUMBERS:
            del f[name]
        f.attrs["layout_version"] = 3
    b = EnsembleResult.load(tmp_path / "old.h5")
    for name in DEVICE_NUMBERS:
        assert b[name].shape == a.seed.shape and np.all(np.isnan(b[name]))
    np.testing.assert_array_equal(b.energies_meV, a.energies_meV)
