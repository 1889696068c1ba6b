"""Study configuration: defaults, TOML round trip, errors that name the field."""

from __future__ import annotations

import dataclasses

import pytest

from femvalley.config import StudyConfig


def test_defaults_are_the_reference_study():
    cfg = StudyConfig()
    assert cfg.device.name == "tunnel_falls"
    assert cfg.biases() == {
        "B4": 1.0,
        "P5": 2.5,
        "B5": 1.2,
        "P6": 2.5,
        "B6": 1.0,
        "SG": -0.5,
        "CS": -0.5,
    }
    # P5 = 2.5 + eps/2, P6 = 2.5 - eps/2, eps over -10..10 mV
    v = cfg.voltages(10.0)
    assert v["P5"] == pytest.approx(2.505) and v["P6"] == pytest.approx(2.495)
    assert cfg.detuning.values_mV()[0] == -10.0 and cfg.detuning.values_mV()[-1] == 10.0
    vm = cfg.valley_map
    assert (vm.mean_valley_splitting_ueV, vm.lx_nm, vm.ly_nm, vm.nx, vm.ny, vm.seed) == (
        200.0,
        19.2,
        1000.0,
        200,
        15,
        8,
    )
    assert cfg.solver.n_states == 8


def test_toml_round_trip(tmp_path):
    cfg = StudyConfig.from_dict(
        {
            "device": {"params": {"quantum_mesh_size_nm": 3.0}},
            "biases_V": {"B5": 1.1},
            "detuning": {"points": 5, "weights": {"P5": 1.0}},
            "solver": {"n_states": 4},
        }
    )
    path = tmp_path / "study.toml"
    path.write_text(cfg.to_toml())
    again = StudyConfig.from_toml(path)
    assert again.to_dict() == cfg.to_dict()
    assert again.voltages(2.0)["P5"] == pytest.approx(2.502)
    assert again.biases()["B5"] == 1.1


def test_every_field_of_a_study_reads_back_from_its_toml(tmp_path):
    """Not only what to_dict writes: the configuration objects are equal, field by field
    (electrostatics_order was once left out of the TOML, so a resumed run or an ensemble's
    realisations silently went back to P2 gate potentials)."""
    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {
                "electrostatics_order": 1,
                "kp_mesh": "structured",
                "params": {"quantum_mesh_size_nm": 3.0},
            },
            "detuning": {"points": 5, "start_mV": -4.0},
            "solver": {"n_states": 4},
            "valley_map": {"seed": 3},
        }
    )
    path = tmp_path / "study.toml"
    path.write_text(cfg.to_toml())
    again = StudyConfig.from_toml(path)
    for f in dataclasses.fields(cfg):  # biases and weights are written resolved
        if f.name not in ("biases_V", "detuning"):
            assert getattr(again, f.name) == getattr(cfg, f.name), f.name
    assert again.voltages(1.5) == cfg.voltages(1.5)
    written = cfg.to_dict()["device"]
    given = {
        f.name for f in dataclasses.fields(cfg.device) if getattr(cfg.device, f.name) is not None
    }
    assert given <= set(written)
    assert cfg.to_toml() != StudyConfig.from_dict({**cfg.to_dict(), "device": {}}).to_toml()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"detector": {}}, "unknown section"),
        ({"detuning": {"pionts": 3}}, r"\[detuning\]: unknown key"),
        ({"detuning": {"points": 0}}, "detuning.points = 0"),
        ({"detuning": {"start_mV": 1.0, "stop_mV": 1.0}}, "detuning.stop_mV"),
        ({"detuning": {"weights": {"P9": 1.0}}}, "detuning.weights.P9"),
        ({"biases_V": {"P9": 1.0}}, "biases_V.P9"),
        ({"biases_V": {"P5": "high"}}, "biases_V.P5"),
        ({"device": {"name": "tunnel_rises"}}, "device.name"),
        ({"device": {"params": {"well_thickness_nm": 5.0}}}, "device.params: unknown field"),
        ({"device": {"params": {"well_nm": -1.0}}}, "well_nm"),
        ({"valley_map": {"lx_nm": -1.0}}, "valley_map"),
        ({"solver": {"n_states": 1}}, "n_states"),
        ({"solver": {"element": "P3"}}, "solver.element"),
        ({"solver": {"backend": "magic"}}, "solver.backend"),
        ({"output": {"figures": "yes"}}, "output.figures"),
        ({"model": "4d"}, "model = '4d'"),
        ({"model": 2}, "model = 2"),
        ({"model": "bo2d", "device": {"kp_mesh": "device"}}, "structured k.p mesh"),
        ({"reduction": {"slice_at": "top"}}, "reduction.slice_at"),
        ({"reduction": {"slice_z_nm": "low"}}, "reduction.slice_z_nm"),
    ],
)
def test_bad_config_names_the_field(data, message):
    with pytest.raises(ValueError, match=message):
        StudyConfig.from_dict(data)


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        StudyConfig.from_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[detuning\npoints = 3")
    with pytest.raises(ValueError, match="not valid TOML"):
        StudyConfig.from_toml(bad)
