"""A whole study on a coarse Tunnel Falls device: physics acceptance, outputs, ParaView, workers.

Physics checked here (issue 4): the ground state lives in one dot far from zero detuning and
changes dot across the sweep; the smallest gap of the lowest anticrossing (found by solving
the model near it) is twice the fitted tunnel coupling; without valley coupling every level is
doubly degenerate and a uniform Delta splits every pair by exactly 2 |Delta|; energies move
no faster with detuning than the detuning operator allows (no jumps in the stored order), and
the reduced-basis points equal full solves within their certified bounds (the direct method's
points that reuse a factorisation equal full solves too).
"""

from __future__ import annotations

import dataclasses
import json
import os

import meshio
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from femvalley.config import StudyConfig
from femvalley.eigen import SweepSolver
from femvalley.io.results import read_results
from femvalley.study import run_study
from femvalley.sweep import run_sweep

from .conftest import COARSE_STUDY_PARAMS as COARSE


@pytest.fixture(scope="module")
def config():
    return StudyConfig.from_dict(
        {
            "device": {"params": COARSE},
            "detuning": {"points": 11, "start_mV": -10.0, "stop_mV": 10.0},
            "solver": {"n_states": 4, "chunk_points": 6},
            "output": {"figures": True, "vtu_states": 1},
        }
    )


@pytest.fixture(scope="module")
def study(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    res = run_study(config, out_dir=out, progress=False)
    return out, res


def test_the_study_writes_every_output(study):
    out, res = study
    for name in (
        "results.h5",
        "spectrum.csv",
        "study.toml",
        "summary.json",
        "spectrum.png",
        "valley_map.png",
        "density_slices.png",
        "paraview/state0_first.vtu",
        "paraview/state0_last.vtu",
        "paraview/sweep.xdmf",
        "paraview/sweep.h5",
    ):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    nums = summary["numbers"]
    assert nums["tunnel_coupling"]["resolved"] and nums["tunnel_coupling"]["value"] > 0
    assert nums["lever_arm"]["value"] > 0
    assert "+-" in nums["tunnel_coupling"]["text"] and "ueV" in nums["tunnel_coupling"]["text"]
    assert "not estimated" in nums["tunnel_coupling"]["text"]
    assert summary["model_fit"]["note"].startswith("least-squares description")
    assert summary["points_done"] == 11
    # the reduced basis certifies every point: no point needed a full solve
    assert res["full_solve"].tolist() == [0] * 11
    assert np.all(res["error_bound_meV"] <= 1e-3)
    stored = read_results(out / "results.h5")
    assert stored["attrs"]["method"] == "reduced"
    assert stored["attrs"]["reduced_basis_size"] == res["reduced"].size
    assert len(stored["attrs"]["snapshot_detuning_mV"]) >= 2
    assert (out / "snapshots.h5").exists()


def test_run_study_returns_a_typed_result_that_is_what_the_directory_holds(study):
    from femvalley.study import StudyResult

    from .helpers import assert_same

    out, res = study
    assert isinstance(res, StudyResult) and res.system is not None and res.reduced is not None
    assert res.energies_meV is res["energies_meV"]
    # what was returned is what was stored: the same bits, read back from results.h5 and
    # summary.json (less the system and basis, which are not stored)
    back = StudyResult.load(out)
    assert_same(res, back, skip=("system", "reduced", "reduced_build_s", "summary"))
    assert back.summary["numbers"] == res.summary["numbers"]


def test_ground_state_is_in_one_dot_far_from_zero_and_changes_dot(study):
    _, res = study
    w = res["dot_weight"][:, 0, :]  # ground state, (points, [left, right])
    first, last = w[0], w[-1]
    assert first.max() >= 0.95 and last.max() >= 0.95
    assert np.argmax(first) != np.argmax(last)
    # eps > 0 raises P5 over P6: the electron ends in the left dot
    assert np.argmax(last) == 0


def test_reported_tunnel_coupling_equals_an_independent_dense_scan_within_its_bound(study):
    """t_c of the summary: half the smallest E1 - E0 of full solves, found by an independent
    dense scan (bounded minimisation over full finite-element solves near the reported
    position), within the certified bound; the position within a tenth of the width."""
    _, res = study
    tc = res["summary"]["numbers"]["tunnel_coupling"]
    system = res["system"]
    lever = res["summary"]["numbers"]["lever_arm"]["value"]
    t = 1e-3 * tc["value"]
    width = 2 * t / lever  # mV

    def gap(eps: float) -> float:
        e = system.solve(eps).energies_meV
        return float(e[1] - e[0])

    eps0 = tc["at_detuning_mV"]
    grid = np.linspace(eps0 - 3 * width, eps0 + 3 * width, 13)
    j = int(np.argmin([gap(x) for x in grid]))
    found = minimize_scalar(
        gap,
        bounds=(grid[max(j - 1, 0)], grid[min(j + 1, 12)]),
        method="bounded",
        options={"xatol": 1e-4 * width},
    )
    assert abs(0.5e3 * found.fun - tc["value"]) <= tc["solver_bound"] + 1e-6
    assert tc["solver_bound"] < 0.05 * tc["value"]  # resolved, with a sharp bound
    assert abs(found.x - eps0) < 0.1 * width


def test_valley_splittings_of_both_dots_equal_full_solves_paired_by_dot_weight(study):
    _, res = study
    system = res["system"]
    nums = res["summary"]["numbers"]
    for dot, name in ((0, "dot_L"), (1, "dot_R")):
        v = nums[f"valley_splitting_{name}"]
        full = system.solve(v["at_detuning_mV"])
        w = system.observables(full)["dot_weight"][:, dot]
        a, b = np.flatnonzero(w > 0.5)[:2]
        ev = 1e3 * (full.energies_meV[b] - full.energies_meV[a])
        assert abs(ev - v["value"]) <= v["solver_bound"] + 1e-6
        assert 0 < v["solver_bound"] < 0.1


def test_uniform_valley_coupling_splits_every_level_by_exactly_two_delta(study):
    """Delta = 0: every level doubly degenerate. Uniform Delta: the spectrum is exactly the
    Delta = 0 levels shifted by -|Delta| and +|Delta| (pairs 2 |Delta| apart; near the
    anticrossings the pairs of the two dots interleave in the sorted order)."""
    _, res = study
    system = res["system"]
    delta = 0.08 * np.exp(0.7j)
    zero = SweepSolver(system.operators.with_constant(np.zeros((2, 2))), k=10)
    c = np.array([[0.0, delta], [np.conj(delta), 0.0]])
    uniform = SweepSolver(system.operators.with_constant(c), k=6)
    reused = 0
    for n, eps in enumerate((-10.0, -9.5, -9.0, 0.0, 0.5, 7.0)):
        scales = {"detuning": eps}
        r0 = zero.start(scales) if n == 0 else zero.step(scales)
        r1 = uniform.start(scales) if n == 0 else uniform.step(scales)
        reused += r1.timings_s["full_solve"] == 0
        e0 = r0.energies_meV
        np.testing.assert_allclose(e0[1::2], e0[0::2], rtol=0, atol=1e-8)
        levels = e0[0::2]
        shifted = np.sort(np.concatenate([levels - abs(delta), levels + abs(delta)]))
        assert levels[-1] - abs(delta) > shifted[5]  # no level above those can come lower
        np.testing.assert_allclose(r1.energies_meV, shifted[:6], rtol=0, atol=1e-8)
    assert reused >= 2  # the small steps reuse the factorisation


def test_energies_are_continuous_and_reduced_points_equal_full_solves(study):
    _, res = study
    system = res["system"]
    eps = res["detuning_mV"]
    e = res["energies_meV"]
    # Weyl: sorted eigenvalues of H0 + eps D move at most max|D| per mV
    bound = np.max(np.abs(system.detuning_meV_per_mV)) * np.abs(np.diff(eps))
    assert np.all(np.abs(np.diff(e, axis=0)) <= bound[:, None] * (1 + 1e-9) + 1e-9)
    for i in (3, 5, 9):  # between the snapshots
        full = system.solve(float(eps[i])).energies_meV
        err = np.max(np.abs(e[i] - full))
        assert err <= res["error_bound_meV"][i] + 1e-9  # the certificate holds
        assert err <= 1e-4  # and the basis is far better than the 1 ueV tolerance


def test_direct_method_reuses_factorisations_and_equals_full_solves(study, config, tmp_path):
    _, res = study
    direct = dataclasses.replace(
        config,
        solver=dataclasses.replace(config.solver, method="direct"),
        output=dataclasses.replace(config.output, figures=False, vtu_states=0),
    )
    system = dataclasses.replace(res["system"], config=direct)
    out = run_sweep(direct, out_dir=tmp_path, system=system, progress=False)
    # two chunks of 6: two full solves, every other point reused its chunk's factorisation
    assert out["full_solve"].tolist() == [1] + [0] * 5 + [1] + [0] * 4
    assert np.all(np.isnan(out["error_bound_meV"]))
    for i in (3, 9):
        full = system.solve(float(out["detuning_mV"][i])).energies_meV
        np.testing.assert_allclose(out["energies_meV"][i], full, rtol=0, atol=1e-9)
    # the reduced-basis energies are within their certified bounds of the full solutions
    bound = np.nanmax(res["error_bound_meV"])
    assert bound <= 1e-3
    np.testing.assert_allclose(out["energies_meV"], res["energies_meV"], rtol=0, atol=bound + 1e-9)


def test_workers_give_the_same_numbers(study, config, tmp_path):
    _, res = study
    par = run_sweep(config, out_dir=tmp_path, system=res["system"], progress=False, workers=2)
    np.testing.assert_allclose(par["energies_meV"], res["energies_meV"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(par["dot_weight"], res["dot_weight"], rtol=0, atol=1e-8)
    assert par["full_solve"].tolist() == res["full_solve"].tolist()


def test_paraview_files_round_trip(study):
    out, res = study
    stored = read_results(out / "results.h5")
    psi = stored["states"]["first"][0]  # ground state at the first point, (2, N)
    m = meshio.read(out / "paraview/state0_first.vtu")
    np.testing.assert_allclose(m.points.T, stored["mesh"]["points_nm"])
    np.testing.assert_allclose(
        m.point_data["density"], np.sum(np.abs(psi) ** 2, axis=0), rtol=1e-12
    )
    np.testing.assert_allclose(m.point_data["psi_minus_abs2"], np.abs(psi[1]) ** 2, rtol=1e-12)
    re, im = m.point_data["psi_plus_re"], m.point_data["psi_plus_im"]
    np.testing.assert_allclose(re**2 + im**2, np.abs(psi[0]) ** 2, rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(
        m.point_data["valley_splitting_ueV"], 2e3 * np.abs(stored["mesh"]["delta_meV"])
    )
    eps = stored["detuning_mV"]
    np.testing.assert_allclose(
        m.point_data["band_edge_meV"],
        stored["mesh"]["band_edge_meV"] + eps[0] * stored["mesh"]["detuning_meV_per_mV"],
    )
    with meshio.xdmf.TimeSeriesReader(out / "paraview/sweep.xdmf") as reader:
        points, _ = reader.read_points_cells()
        assert points.shape[0] == psi.shape[1]
        times = []
        for k in range(reader.num_steps):
            t, data, _ = reader.read_data(k)
            times.append(t)
            # the stored states are complex64: the density is normalised to that precision
            assert set(data) >= {"state0_density", "state0_psi_plus_re", "band_edge_meV"}
        np.testing.assert_allclose(times, eps)


def test_the_sweep_series_is_one_grid_per_point_for_vtk_and_integrates_to_one(study):
    vtk = pytest.importorskip("vtk", reason="the vtk package is in the test extra")
    from vtk.util.numpy_support import vtk_to_numpy

    out, _ = study
    stored = read_results(out / "results.h5")
    points, cells = stored["mesh"]["points_nm"], stored["mesh"]["cells"]
    # the integral of the P1 interpolant of a nodal field, computed here independently
    corners = [points[:, cells[i]] for i in range(cells.shape[0])]
    if cells.shape[0] == 4:
        a, b, c, d = corners
        size = np.abs(np.einsum("in,in->n", b - a, np.cross(c - a, d - a, axis=0))) / 6
    else:
        a, b, c = corners
        size = np.abs(np.cross(b - a, c - a, axis=0)) / 2

    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(out / "paraview/sweep.xdmf"))
    reader.UpdateInformation()
    times = reader.GetOutputInformation(0).Get(vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS())
    np.testing.assert_allclose(times, stored["detuning_mV"])
    for t in times:
        reader.UpdateTimeStep(t)
        grid = reader.GetOutputDataObject(0)
        assert grid.IsA("vtkUnstructuredGrid"), grid.GetClassName()  # one block, no extra mesh
        integrate = vtk.vtkIntegrateAttributes()
        integrate.SetInputData(grid)
        integrate.Update()
        got = float(
            vtk_to_numpy(integrate.GetOutput().GetPointData().GetArray("state0_density"))[0]
        )
        rho = vtk_to_numpy(grid.GetPointData().GetArray("state0_density")).astype(float)
        own = float(np.sum(size * np.mean(rho[cells], axis=0)))
        assert got == pytest.approx(own, rel=1e-6)
        # M-normalised states: the interpolated density integrates to 1 up to interpolation
        assert abs(got - 1.0) < 0.1


def test_export_of_more_states_than_stored_takes_them_from_the_reduced_basis(study, tmp_path):
    import shutil

    from femvalley.export import export_study
    from femvalley.states import StudyStates

    src, _ = study
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    stored = read_results(out / "results.h5")
    nvert = stored["mesh"]["points_nm"].shape[1]
    notes = []
    export_study(out, n_states=3, on_note=notes.append)
    assert notes == []
    basis = StudyStates.load(out)
    with meshio.xdmf.TimeSeriesReader(out / "paraview/sweep.xdmf") as reader:
        reader.read_points_cells()
        assert reader.num_steps == stored["detuning_mV"].size
        for k in range(reader.num_steps):
            t, data, _ = reader.read_data(k)
            assert {f"state{j}_density" for j in range(3)} <= set(data)
            assert "state3_density" not in data
            ref = basis.at(t, n_states=3).states[:, :, :nvert]
            for j in range(3):
                rho = np.sum(np.abs(ref[j]) ** 2, axis=0)
                np.testing.assert_allclose(
                    data[f"state{j}_density"], rho, rtol=1e-5, atol=1e-6 * rho.max()
                )
    # the study computed 4 states: asking for more names the limit
    with pytest.raises(ValueError, match="n_states = 5: the study computed 4 states"):
        export_study(out, n_states=5)
    # without a reduced basis the series keeps what each point stored, and says so
    (out / "basis.h5").unlink()
    export_study(out, n_states=3, on_note=notes.append)
    assert len(notes) == 1 and "fewer than 3 states" in notes[0]
    with meshio.xdmf.TimeSeriesReader(out / "paraview/sweep.xdmf") as reader:
        reader.read_points_cells()
        _, data, _ = reader.read_data(0)
        assert "state0_density" in data and "state1_density" not in data


def _snapshot(folder):
    """Bytes and modification time of every file below ``folder`` but the lock file."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".femvalley.lock"
    }


def test_resuming_a_finished_study_changes_no_file(study, config, tmp_path, capsys):
    import shutil

    from femvalley.cli import main

    src, res = study
    out = tmp_path / "copy"
    shutil.copytree(src, out)  # keeps the modification times
    before = _snapshot(out)
    again = run_study(config, out_dir=out, resume=True, progress=False)
    assert again["already_finished"]
    assert again["summary"] == json.loads((out / "summary.json").read_text())
    np.testing.assert_array_equal(again["energies_meV"], res["energies_meV"])
    # the command line says so, prints the same numbers, and leaves every file as it was
    study_toml = tmp_path / "study.toml"
    study_toml.write_text(config.to_toml())
    assert main(["run", str(study_toml), "--out", str(out), "--resume", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "is finished: nothing recomputed" in text
    assert res["summary"]["numbers"]["tunnel_coupling"]["text"] in text
    assert _snapshot(out) == before
    assert (out / ".femvalley.lock").read_text() == ""  # released
    # a study whose summary is older than its store (stopped before the summary) is finished
    # again, not taken as finished
    os.utime(out / "summary.json", ns=(1, 1))
    assert not run_study(config, out_dir=out, resume=True, progress=False).get("already_finished")
