"""The device cache: a second study of the same device reads its mesh and gate potentials
instead of computing them (same numbers, to the bit), the key follows everything that decides
them, and a damaged, unwritable or switched-off cache never stops a run."""

from __future__ import annotations

import io

import numpy as np
import pytest

from femvalley.config import StudyConfig
from femvalley.io import device_cache
from femvalley.io.device_cache import CACHE_DIR_ENV, NO_CACHE_ENV, device_key
from femvalley.progress import Phases
from femvalley.system import build_system
from geometries.catalog import load_description
from geometries.device import Device

from .conftest import COARSE_STUDY_PARAMS


def _config(order: int = 2, **params) -> StudyConfig:
    return StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {
                "params": {**COARSE_STUDY_PARAMS, **params},
                "electrostatics_order": order,
            },
            "detuning": {"points": 3},
        }
    )


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    return tmp_path / "cache" / "devices"


@pytest.mark.parametrize("order", [1, 2])
def test_a_second_study_of_the_device_reads_the_cache_and_gives_the_same_numbers(
    cache, monkeypatch, order
):
    first = build_system(_config(order))
    assert "device_cache" not in first.timings_s
    assert len(list(cache.glob("*.npz"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("meshed or solved again")

    monkeypatch.setattr(Device, "build", refuse)
    monkeypatch.setattr("femvalley.system.solve_gates", refuse)
    second = build_system(_config(order))
    assert second.timings_s["device_cache"] == 1.0
    a, b = first.gates, second.gates
    np.testing.assert_array_equal(a.mesh.p, b.mesh.p)
    np.testing.assert_array_equal(a.mesh.t, b.mesh.t)
    assert {k: list(v) for k, v in a.mesh.subdomains.items()} == {
        k: list(v) for k, v in b.mesh.subdomains.items()
    }
    assert {k: list(v) for k, v in a.mesh.boundaries.items()} == {
        k: list(v) for k, v in b.mesh.boundaries.items()
    }
    assert a.gates == b.gates and a.order == b.order == order
    np.testing.assert_array_equal(a.unit_V, b.unit_V)
    np.testing.assert_array_equal(a.offset_V, b.offset_V)
    for eps in (-5.0, 5.0):  # the same operators: the eigensolver's round-off only
        np.testing.assert_allclose(
            first.solve(eps).energies_meV, second.solve(eps).energies_meV, rtol=1e-12
        )


def test_the_key_follows_the_geometry_and_the_degree():
    tf = load_description("tunnel_falls").to_dict()
    key = device_key(tf, electrostatics_order=2)
    assert key == device_key(load_description("tunnel_falls").to_dict(), electrostatics_order=2)
    assert key != device_key(tf, electrostatics_order=1)
    wider = load_description("tunnel_falls", {"finger_pitch_nm": 70.0}).to_dict()
    assert key != device_key(wider, electrostatics_order=2)
    finer = load_description("tunnel_falls", {"quantum_mesh_size_nm": 1.9}).to_dict()
    assert key != device_key(finer, electrostatics_order=2)
    # a template and the explicit description it expands to are the same device
    twin = load_description("tunnel_falls").to_dict()
    assert device_key(twin, electrostatics_order=2) == key


def test_a_damaged_entry_is_rebuilt_with_a_note(cache):
    build_system(_config())
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(b"not an npz file")
    log = io.StringIO()
    system = build_system(_config(), phases=Phases(stream=log))
    assert "could not be read" in log.getvalue() and "meshing the device" in log.getvalue()
    assert "device_cache" not in system.timings_s
    again = build_system(_config())  # the entry was written anew
    assert again.timings_s["device_cache"] == 1.0


def test_a_switched_off_or_unwritable_cache_never_stops_a_run(cache, tmp_path, monkeypatch):
    monkeypatch.setenv(NO_CACHE_ENV, "1")
    assert device_cache.cache_directory() is None
    build_system(_config())
    assert not cache.exists()
    # a file where the cache folder should be: nothing can be written there
    monkeypatch.delenv(NO_CACHE_ENV)
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker))
    log = io.StringIO()
    system = build_system(_config(), phases=Phases(stream=log))
    assert "could not write" in log.getvalue()
    assert np.isfinite(system.solve(0.0).energies_meV).all()
