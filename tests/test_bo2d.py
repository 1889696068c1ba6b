"""Born-Oppenheimer 2-D against 3-D on the study devices (ref. 1 section IV)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from femvalley.config import StudyConfig
from femvalley.study import barrier_scan, run_study
from femvalley.system import build_system

from .conftest import COARSE_STUDY_PARAMS

DETUNINGS_MV = (-10.0, -5.0, 5.0, 10.0)


def _config(model: str, **extra) -> StudyConfig:
    return StudyConfig.from_dict(
        {"model": model, "device": {"params": COARSE_STUDY_PARAMS}, **extra}
    )


@pytest.fixture(scope="module")
def systems():
    full = build_system(_config("3d"))
    return {"3d": full, "bo2d": build_system(_config("bo2d"), reuse=full)}


def test_tunnel_falls_bo2d_spectrum_matches_3d(systems):
    """Lowest 4 states relative to the ground state within 5 %, valley splittings within 5 ueV.

    Away from the interdot anticrossing (which sits near zero detuning, where E_2 - E_0 goes
    through zero and a relative error means nothing).
    """
    full, bo = systems["3d"], systems["bo2d"]
    assert bo.quantum_mesh.p.shape[0] == 2
    assert bo.operators.ndof < full.operators.ndof / 8
    for eps in DETUNINGS_MV:
        e3 = full.solve(eps).energies_meV[:4]
        e2 = bo.solve(eps).energies_meV[:4]
        rel3, rel2 = e3[1:] - e3[0], e2[1:] - e2[0]
        np.testing.assert_allclose(rel2, rel3, rtol=0.05, err_msg=f"detuning {eps} mV")
    # the valley splitting of the occupied dot at both ends (E_1 - E_0 there)
    for eps in (-10.0, 10.0):
        ev3 = np.diff(full.solve(eps).energies_meV[:2])[0]
        ev2 = np.diff(bo.solve(eps).energies_meV[:2])[0]
        assert abs(ev2 - ev3) < 5e-3, (eps, ev2, ev3)
    # the 2-D valley map is the 3-D one (z-independent) at the column positions
    np.testing.assert_allclose(np.abs(bo.delta_meV).max(), np.abs(full.delta_meV).max(), rtol=1e-9)


def test_bo2d_detuning_term_is_the_vertical_average(systems):
    bo = systems["bo2d"]
    red = bo.reduction
    d3 = red.grid.columns(systems["3d"].detuning_meV_per_mV)
    np.testing.assert_allclose(bo.detuning_meV_per_mV, red.columns.expectation(d3), rtol=1e-12)
    # within the range of each column
    assert np.all(bo.detuning_meV_per_mV <= d3.max(axis=1) + 1e-12)
    assert np.all(bo.detuning_meV_per_mV >= d3.min(axis=1) - 1e-12)


def test_five_gate_stepped_interface_bo2d_tunnel_coupling_follows_3d():
    """ref. 1 Fig. 3: BO-2D within a factor 1.5 of 3-D; a fixed-z slice off by > 3."""
    config = StudyConfig.from_dict(
        {
            "device": {
                "name": "five_gate_dqd",
                "params": {
                    "stepped_interface": True,
                    "quantum_mesh_size_nm": 3.0,
                    "kp_mesh_size_nm": 2.5,
                },
            }
        }
    )
    scan = barrier_scan(config, gate="P2", voltages_V=[-0.03, 0.03, 0.09])
    t = scan["tunnel_coupling_ueV"]
    assert np.all(np.diff(t["3d"]) > 0)  # the barrier opens with its voltage
    ratio = t["bo2d"] / t["3d"]
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5)), ratio
    worst = max(
        np.max(np.maximum(t[m] / t["3d"], t["3d"] / t[m]))
        for m in ("slice2d:interface", "slice2d:max_density")
    )
    assert worst > 3.0
    # the interface slice is at the deepest section (-0.5 nm), inside the silicon everywhere
    np.testing.assert_allclose(scan["slice_z_nm"]["slice2d:interface"], -0.5)
    # the anticrossings are far from zero detuning (the step makes the dots unequal); BO-2D
    # puts them within 15 % of 3-D (measured with P2 gate potentials: 1 %, 3 % and 12 % at
    # the three voltages; with P1 potentials all were within 10 %)
    assert np.all(np.abs(scan["anticrossing_mV"]["3d"]) > 10.0)
    np.testing.assert_allclose(
        scan["anticrossing_mV"]["bo2d"], scan["anticrossing_mV"]["3d"], rtol=0.15
    )


def _check_store_is_self_describing(f):
    """Every dataset says its units, meaning and axes; the stored states integrate to 1 with
    the stored mass matrix (exactly for P1: the mass matrix of the same elements)."""
    import scipy.sparse as sp

    seen = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith(("mesh/mass_matrix/", "states/")):
            seen.append(name)
            assert {"units", "description", "axes"} <= set(obj.attrs), name
            assert obj.attrs["description"], name

    f.visititems(visit)
    assert "energies_meV" in seen and "mesh/delta_meV" in seen
    for group in ("mesh/mass_matrix", "states"):
        assert {"units", "description", "axes"} <= set(f[group].attrs)
    g = f["mesh/mass_matrix"]
    mass = sp.csr_matrix(
        (g["data"][:], g["indices"][:], g["indptr"][:]), shape=tuple(g.attrs["shape"])
    )
    norms = []
    for end in ("first", "last"):
        for psi in f["states/" + end][:]:  # (2, N) per state
            norms.append(sum(np.real(np.vdot(c, mass @ c)) for c in psi))
    return np.asarray(norms)


def test_bo2d_study_runs_end_to_end(tmp_path, capfd):
    cfg = _config("bo2d", detuning={"points": 5})
    res = run_study(cfg, out_dir=tmp_path, progress=False)
    s = res["summary"]
    assert s["model"] == "bo2d"
    assert s["reduced_basis"]["points_solved_in_full"] == 0
    assert {"spectrum.png", "density_slices.png"} <= set(s["figures"])
    with h5py.File(tmp_path / "results.h5") as f:
        assert f.attrs["model"] == "bo2d"
        assert f["mesh/points_nm"].shape[0] == 2 and f["mesh/cells"].shape[0] == 3
        e = f["energies_meV"][:]
        bound = f["error_bound_meV"][:]
        norms = _check_store_is_self_describing(f)
        np.testing.assert_allclose(norms, 1.0, atol=1e-9)  # P1: the same elements
    # every stored point equals a full 2-D solve within its certified bound (<= 1 ueV)
    sys2 = res["system"]
    assert np.all(bound <= 1e-3)
    for i, eps in enumerate(res["detuning_mV"]):
        np.testing.assert_allclose(e[i], sys2.solve(eps).energies_meV, atol=bound[i] + 1e-9)
    import meshio

    vtu = meshio.read(tmp_path / "paraview" / "state0_first.vtu")
    assert "triangle" in vtu.cells_dict
    assert vtu.points.shape[1] == 3 and np.all(vtu.points[:, 2] == 0.0)  # the plane at z = 0
    assert "Warning" not in capfd.readouterr().err  # no "VTU requires 3D points" per file
    # the slice model writes its height
    sl = run_study(
        _config("slice2d", detuning={"points": 3}, output={"figures": False, "vtu_states": 0}),
        out_dir=tmp_path / "slice",
        progress=False,
    )
    assert sl["summary"]["slice_z_nm"] == pytest.approx(2.3)  # the top of the 4.6 nm well


def test_reuse_refuses_another_device(systems):
    other = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"params": {**COARSE_STUDY_PARAMS, "quantum_mesh_size_nm": 4.0}},
        }
    )
    with pytest.raises(ValueError, match="another device configuration"):
        build_system(other, reuse=systems["3d"])
    with pytest.raises(ValueError, match="another device configuration"):
        barrier_scan(other, gate="B5", voltages_V=[1.2], system=systems["3d"])
    # another k.p mesh only: the device mesh and gate potentials are shared
    finer_kp = StudyConfig.from_dict(
        {"model": "bo2d", "device": {"params": {**COARSE_STUDY_PARAMS, "kp_mesh_size_nm": 5.0}}}
    )
    shared = build_system(finer_kp, reuse=systems["3d"])
    assert shared.device_mesh is systems["3d"].device_mesh
    assert shared.gates is systems["3d"].gates
    assert shared.quantum_mesh.p.shape[1] > systems["bo2d"].quantum_mesh.p.shape[1]
    with pytest.raises(ValueError, match="gate = 'B9'"):
        barrier_scan(_config("3d"), gate="B9", voltages_V=[1.2], system=systems["3d"])


def test_a_p2_study_takes_the_valley_map_at_every_dof(systems, tmp_path):
    from femvalley.system import valley_map

    cfg = _config(
        "bo2d",
        solver={"element": "P2"},
        detuning={"points": 3},
        output={"figures": False, "vtu_states": 1},
    )
    sys2 = build_system(cfg, reuse=systems["3d"])
    basis, mesh = sys2.basis, sys2.quantum_mesh
    assert basis.N > mesh.nvertices and sys2.delta_meV.shape == (basis.N,)
    want, _ = valley_map(cfg, basis.doflocs, vertices_nm=mesh.p)
    np.testing.assert_array_equal(sys2.delta_meV, want)
    # the vertex values are the P1 study's map on the same plane
    np.testing.assert_array_equal(sys2.delta_vertices_meV, systems["bo2d"].delta_meV)
    # the observables and the reduced basis take the same DOF values
    assert sys2.observables.delta_meV is sys2.delta_meV
    res = run_study(cfg, out_dir=tmp_path, progress=False, system=sys2)
    with h5py.File(tmp_path / "results.h5") as f:
        np.testing.assert_array_equal(f["mesh/delta_meV"][:], sys2.delta_vertices_meV)
        e, bound = f["energies_meV"][:], f["error_bound_meV"][:]
        # P2 states at the vertices, integrated with P1: 1 up to the interpolation error of
        # this coarse mesh (measured 0.927..0.950)
        norms = _check_store_is_self_describing(f)
        assert np.all(np.abs(norms - 1.0) < 0.1) and np.any(np.abs(norms - 1.0) > 1e-9)
    for i, eps in enumerate(res["detuning_mV"]):
        np.testing.assert_allclose(e[i], sys2.solve(eps).energies_meV, atol=bound[i] + 1e-9)
