"""The femvalley command: help, input errors, mesh, run and export."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import meshio
import numpy as np
import pytest

from femvalley.cli import build_parser, main
from femvalley.config import StudyConfig


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["run"], ["mesh"], ["export"], ["valley-splitting"]]
)
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "usage: femvalley" in text
    if command in (["demo"], ["run"]):
        assert "--resume" in text and "--workers" in text and "--out" in text


def test_version(capsys):
    from femvalley import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"femvalley {__version__}"


def test_every_subcommand_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {
        "demo",
        "run",
        "converge",
        "mesh",
        "export",
        "valley-splitting",
        "devices",
        "exchange",
    }
    for p in sub.choices.values():
        assert p.description


def test_devices_lists_the_shipped_descriptions_and_their_templates(capsys):
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    kinds = {tuple(line.split()[:3]) for line in lines}
    assert ("five_gate_dqd", "template", "five_gate") in kinds
    assert {
        ("triple_dot", "template", "linear_array"),
        ("tunnel_falls", "template", "linear_array"),
    } <= kinds
    triple = next(line for line in lines if line.startswith("triple_dot"))
    assert "dot_1 under P1, dot_2 under P2, dot_3 under P3" in triple


def test_demo_is_the_reference_study():
    c = StudyConfig.demo()
    assert c.device.name == "tunnel_falls"
    vm = c.valley_map
    assert (vm.mean_valley_splitting_ueV, vm.lx_nm, vm.ly_nm, vm.seed) == (200.0, 19.2, 1000.0, 8)
    assert c.detuning.points >= 21 and (c.detuning.start_mV, c.detuning.stop_mV) == (-10, 10)
    assert c.solver.n_states == 8
    assert c.detuning_weights() == {"P5": 0.5, "P6": -0.5}
    # the reference biases, except the barrier between the dots, opened for t_c ~ 30 ueV
    assert c.biases()["P5"] == 2.5 and c.biases()["B5"] == 1.45
    assert c.convergence.estimate == "coarser_level"
    reference = StudyConfig.from_toml(Path(__file__).parents[1] / "examples/reference_biases.toml")
    assert reference.biases()["B5"] == 1.2
    assert {g: v for g, v in c.biases().items() if g != "B5"} == {
        g: v for g, v in reference.biases().items() if g != "B5"
    }
    assert dataclasses.replace(
        c, biases_V={}, convergence=reference.convergence, output=reference.output
    ) == dataclasses.replace(reference, output=reference.output)


def test_bad_study_file_names_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[detuning]\npoints = 0\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "detuning.points" in err and "0" in err
    assert not (tmp_path / "o").exists()  # nothing computed, nothing written
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["mesh", "no_such_device"]) == 2
    assert "tunnel_falls" in capsys.readouterr().err


def test_mesh_command_writes_the_structured_kp_mesh(tmp_path, capsys):
    out = tmp_path / "kp.vtu"
    assert (
        main(["mesh", "tunnel_falls", "--kp", "--set", "kp_mesh_size_nm=10", "--out", str(out)])
        == 0
    )
    m = meshio.read(out)
    assert "tetra" in m.cells_dict
    well = m.cell_data["well"][0]
    assert set(np.unique(well)) == {0, 1}
    assert "groups: barrier, buffer, dot_L, dot_R, quantum, well" in capsys.readouterr().out
    assert main(["mesh", "tunnel_falls", "--set", "kp_mesh_size_nm=-1"]) == 2


def test_run_and_export_commands(tmp_path, capsys):
    study = tmp_path / "tiny.toml"
    study.write_text(
        """
[device.params]
quantum_mesh_size_nm = 6.0
device_mesh_size_nm = 20.0
mesh_size_nm = 40.0
kp_mesh_size_nm = 8.0
kp_vertical_mesh_size_nm = 1.2
[detuning]
points = 3
[solver]
n_states = 2
[output]
figures = false
vtu_states = 1
"""
    )
    assert main(["run", str(study), "--quiet"]) == 0
    out = tmp_path / "tiny"
    assert (out / "results.h5").exists() and (out / "paraview/sweep.xdmf").exists()
    # the whole geometry of the run, as an explicit description that reads back the same
    from geometries.description import DeviceDescription

    cfg = StudyConfig.from_toml(study)
    assert DeviceDescription.from_toml(out / "device.toml") == cfg.device.resolved().description
    text = capsys.readouterr()
    assert "study (3d) written to" in text.out
    assert text.err == ""  # --quiet: no estimate, no phases, no bar
    # the Born-Oppenheimer model of the same study, from the command line, not quiet: the
    # estimate, then every phase announced and timed on stderr, the sweep's bar; the device
    # mesh and its gate potentials come from the device cache the first run filled
    assert main(["run", str(study), "--model", "bo2d", "--out", str(out) + "_bo"]) == 0
    text = capsys.readouterr()
    assert "study (bo2d) written to" in text.out
    lines = text.err.splitlines()
    assert lines[0].startswith("estimate: bo2d k.p problem")
    assert any("device mesh and gate potentials of" in line for line in lines)
    assert not any("meshing the device" in line for line in lines)
    for phase in (
        "k.p mesh of the quantum region",
        "bo2d k.p model",
        "certified reduced basis",
        "analysis",
        "ParaView files",
    ):
        started = [line for line in lines if line.startswith(f"femvalley: {phase}")]
        assert len(started) == 2 and started[1].endswith(" s"), phase  # start and time
    assert "detuning sweep" in text.err
    assert "Traceback" not in text.err
    assert (tmp_path / "tiny_bo" / "paraview/sweep.xdmf").exists()
    # a second run into the same directory is refused; --resume finds nothing to do
    assert main(["run", str(study), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["run", str(study), "--quiet", "--resume"]) == 0
    (out / "paraview/state0_first.vtu").unlink()
    assert main(["export", str(out), "--states", "1"]) == 0
    assert (out / "paraview/state0_first.vtu").exists()
    assert main(["export", str(tmp_path / "nothing")]) == 2


def test_valley_splitting_command(tmp_path, capsys):
    import json

    profile = tmp_path / "profile.toml"
    profile.write_text(
        '[[profile]]\nkind = "well"\nwidth_nm = 8.0\ninterface_width_nm = 0.5\n\n'
        '[[profile]]\nkind = "uniform"\nge = 0.02\n\n'
        "[vertical]\nfield_MV_per_m = 5.0\nn_monolayers = 100\n\n"
        "[dot]\nbox_nm = [30.0, 30.0]\n"
    )
    out = tmp_path / "vs"
    code = main(
        [
            "valley-splitting",
            str(profile),
            "--realisations",
            "40",
            "--method",
            "first_order",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "median" in text and "Rician" in text
    s = json.loads((out / "valley_splitting.json").read_text())
    st = s["disorder"]
    assert st["realisations"] == 40 and st["method"] == "first_order"
    assert st["q25_ueV"] <= st["median_ueV"] <= st["q75_ueV"]
    # the uniform 2 % Ge makes disorder dominate: the median is well above the mean profile's
    assert st["median_ueV"] > 3 * s["deterministic_ueV"]["first_order_monolayer_ueV"]
    assert {"valley_splitting.png", "profile.toml", "valley_splitting_ueV.npy"} <= {
        p.name for p in out.iterdir()
    }
    # bad input: a clear error naming the field, exit status 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[[profile]]\nkind = "well"\nbarrier_ge = 1.5\n')
    assert main(["valley-splitting", str(bad)]) == 2
    assert "barrier_ge" in capsys.readouterr().err


def test_exchange_scans_a_gate_and_refuses_bad_voltages_in_one_line(tmp_path, capsys):
    """femvalley exchange: J against the barrier for two models of the five-gate device
    (coarse), the CSV and JSON written; bad voltages, an unknown model or gate: exit 2 with a
    line naming the value."""
    import json

    study = tmp_path / "five.toml"
    study.write_text(
        '[device]\nname = "five_gate_dqd"\n[device.params]\nquantum_mesh_size_nm = 4.0\n'
        "kp_mesh_size_nm = 3.0\n[two_electron]\nn_states = 6\npoisson_order = 1\n"
    )
    out = tmp_path / "scan"
    code = main(
        [
            "exchange",
            str(study),
            "--gate",
            "P2",
            "--voltages=0.06,0.09",
            "--models",
            "bo2d,slice2d:interface",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    data = json.loads((out / "exchange_scan.json").read_text())
    assert data["n_states"] == 6 and data["poisson_order"] == 1
    j = data["exchange_ueV"]["bo2d"]
    assert len(j) == 2 and j[1] > j[0] > 0
    assert (out / "exchange_scan.csv").read_text().startswith("P2_V,J_bo2d_ueV")
    assert "bo2d" in capsys.readouterr().out
    for args, text in (
        (["--gate", "P2", "--voltages", "a,b"], "--voltages = 'a,b'"),
        (["--gate", "P9", "--voltages", "0.1"], "gate = 'P9' is not a gate"),
        (["--gate", "P2", "--voltages", "0.1", "--models", "4d"], "models ['4d']"),
    ):
        assert main(["exchange", str(study), *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err
