"""Spin-qubit figures of merit against closed forms (femvalley.magnetic.qubit)."""

from __future__ import annotations

import numpy as np
import pytest

HBAR2_OVER_2M0 = 38.09982
C_T = HBAR2_OVER_2M0 / 0.19  # hbar^2 / (2 m_t), meV nm^2
MU_B = 5.7883818060e-2  # meV/T
H_MEV_S = 4.135667696e-12  # Planck constant, meV s


def _dot_operators(cells=40, hw=3.0, half_width_nm=70.0, delta=None):
    """A 2-D harmonic dot (P2), one component, or two valleys with a coupling ``delta``
    (a number or a callable of the points)."""
    from skfem import MeshTri

    from femvalley.kp import KPModel, QuadraticTerm, assemble

    x = np.linspace(-half_width_nm, half_width_nm, cells + 1)
    k = hw**2 / (4 * C_T)
    kinetic = [
        QuadraticTerm(axes=(0, 0), coefficient=C_T),
        QuadraticTerm(axes=(1, 1), coefficient=C_T),
    ]
    mesh = MeshTri.init_tensor(x, x)
    if delta is None:
        model = KPModel(
            n_components=1, quadratic=kinetic, potential=lambda p: k * (p[0] ** 2 + p[1] ** 2)
        )
        return assemble(model, mesh, element="P2")
    from femvalley.kp import two_valley_model

    basis_ops = assemble(
        KPModel(n_components=1, quadratic=kinetic, potential=lambda p: 0 * p[0]),
        mesh,
        element="P2",
    )
    locs = basis_ops.basis.doflocs
    d = delta(locs) if callable(delta) else np.full(locs.shape[1], delta, dtype=complex)
    model = two_valley_model(
        dim=2,
        delta_meV=d,
        potential_meV=k * (locs[0] ** 2 + locs[1] ** 2),
        materials="Si",
    )
    return assemble(model, basis_ops.basis)


def _drive(force):
    """A gate whose unit potential energy is ``force * x`` (meV per mV)."""
    return {"G1": lambda p: force * p[0]}


def test_edsr_in_a_uniform_gradient_follows_the_displaced_dot():
    """A harmonic dot (hbar w = 3 meV) in an in-plane field B0 x, with a micro-magnet's
    transverse gradient dB_z/dx = dB_x/dz = G, driven by a gate that pushes it along x:
    to first order in G the Rabi frequency is
    (g mu_B / 2h) G |d<x>/dV| dV w^2 / (w^2 - w_Z^2), with d<x>/dV = -F / (m w^2) for the
    gate's force F. The gradient formula with d<x>/dV from two computed solves agrees
    to the factor w^2 / (w^2 - w_Z^2) (the dot's response at the Larmor frequency)."""
    from femvalley.magnetic import MicroMagnet, spin_qubit_from_operators

    hw, grad, force, b0 = 3.0, 0.5, -0.01, 0.5  # meV, mT/nm, meV/(nm mV), T
    magnet = MicroMagnet(gradient_mT_per_nm=((0, 0, grad), (0, 0, 0), (grad, 0, 0)))
    qubit = spin_qubit_from_operators(
        _dot_operators(),
        direction=(1.0, 0.0, 0.0),
        magnet=magnet,
        gate_terms_meV_per_mV=_drive(force),
    )
    point = qubit.point(b0)
    ez = 2.0 * MU_B * b0
    assert point.larmor_GHz == pytest.approx(ez / H_MEV_S * 1e-9, rel=1e-6)  # G^2: 1e-8
    m_w2 = hw**2 / (2 * C_T)  # m w^2 in meV/nm^2
    dx_dv = -force / m_w2  # nm per mV
    exact = (2.0 * MU_B / 2) * grad * 1e-3 * abs(dx_dv) * hw**2 / (hw**2 - ez**2) / H_MEV_S
    assert point.rabi_MHz("G1", 1.0) * 1e6 == pytest.approx(exact, rel=1e-4)
    assert point.rabi_MHz("G1", 2.0) == pytest.approx(2 * point.rabi_MHz("G1", 1.0), rel=1e-12)
    disp = qubit.displacement_nm_per_mV("G1", b0)
    assert disp[0] == pytest.approx(dx_dv, rel=1e-4) and abs(disp[1]) < 1e-6
    gradient_formula = (2.0 * MU_B / 2) * grad * 1e-3 * abs(disp[0]) / H_MEV_S * 1e-6
    assert point.rabi_MHz("G1") == pytest.approx(gradient_formula, rel=1e-3)
    assert abs(point.rabi_MHz("G1") / gradient_formula - 1) > 1e-4  # the w_Z correction
    with pytest.raises(ValueError, match="gate 'P9' is not a gate"):
        point.rabi_MHz("P9")


def test_a_longitudinal_gradient_sets_the_larmor_slope_and_t2_star():
    """A longitudinal gradient dB_x/dx = -dB_y/dy = G along the field x: the Larmor frequency
    follows the dot, d f_L / dV = (g mu_B / h) G d<x>/dV; the slope from the matrix elements
    equals that and the finite difference of two solves, and
    T2* = 1 / (sqrt(2) pi dV |d f_L / d V|). Without any gradient there is no drive and no
    dephasing."""
    from femvalley.magnetic import MicroMagnet, spin_qubit_from_operators

    hw, grad, force, b0 = 3.0, 0.4, -0.01, 0.5
    magnet = MicroMagnet(gradient_mT_per_nm=((grad, 0, 0), (0, -grad, 0), (0, 0, 0)))
    qubit = spin_qubit_from_operators(
        _dot_operators(),
        direction=(1.0, 0.0, 0.0),
        magnet=magnet,
        gate_terms_meV_per_mV=_drive(force),
    )
    point = qubit.point(b0)
    dx_dv = -force / (hw**2 / (2 * C_T))
    slope = 2.0 * MU_B * grad * 1e-3 * dx_dv / H_MEV_S * 1e-6  # MHz per mV
    assert point.larmor_slope_MHz_per_mV("G1") == pytest.approx(slope, rel=1e-3)
    # the same from two solves with the gate moved by +-0.5 mV
    from femvalley.eigen import solve_matrices

    f = []
    for s in (-0.5, 0.5):
        res = solve_matrices(
            qubit.hamiltonian(b0) + s * qubit.gate_terms["G1"],
            qubit.operators.mass,
            k=2,
            lower_bound_meV=qubit.lower_bound_meV - 1.0,
        )
        e = np.sort(res.energies_meV)
        f.append((e[1] - e[0]) / H_MEV_S * 1e-6)
    assert (f[1] - f[0]) / 1.0 == pytest.approx(point.larmor_slope_MHz_per_mV("G1"), rel=1e-6)
    t2 = point.t2star_us(10.0)
    assert t2 == pytest.approx(1 / (np.sqrt(2) * np.pi * 10e-3 * abs(slope)), rel=1e-3)
    assert point.t2star_us({"G1": 20.0}) == pytest.approx(t2 / 2, rel=1e-12)
    assert point.rabi_MHz("G1") < 1e-6  # 1 Hz: a longitudinal gradient does not drive
    plain = spin_qubit_from_operators(
        _dot_operators(cells=16), direction=(1.0, 0.0, 0.0), gate_terms_meV_per_mV=_drive(force)
    ).point(b0)
    assert plain.t2star_us(10.0) == np.inf or plain.t2star_us(10.0) > 1e9
    with pytest.raises(ValueError, match="unknown gate"):
        point.t2star_us({"B7": 1.0})


def test_the_spin_valley_anticrossing_sits_where_zeeman_meets_the_valley_splitting():
    """Two valleys with a uniform Delta and a transverse gradient: the valley states share
    one envelope, so no dipole couples them and levels 1 and 2 cross at
    B = 2 |Delta| / (g mu_B) with no gap. A Delta that varies across the dot gives an
    intervalley dipole: the crossing opens into an anticrossing near the same field, and
    past it the qubit (levels 0 and 1) is a valley qubit with a large Rabi frequency."""
    from femvalley.magnetic import MicroMagnet, spin_qubit_from_operators

    grad = 1.0
    magnet = MicroMagnet(gradient_mT_per_nm=((0, 0, grad), (0, 0, 0), (grad, 0, 0)))
    delta = 0.05  # meV: E_V = 100 ueV, crossing at 0.864 T
    crossing = 2 * delta / (2.0 * MU_B)
    uniform = spin_qubit_from_operators(
        _dot_operators(cells=24, delta=delta),
        direction=(1.0, 0.0, 0.0),
        magnet=magnet,
        gate_terms_meV_per_mV=_drive(-0.01),
    )
    found = uniform.anticrossing((0.5, 1.2), xtol_T=1e-5)
    resolution_ueV = 1e3 * 2.0 * MU_B * 1e-5  # the gap's slope times the search tolerance
    assert found.crossing_estimate_T == pytest.approx(crossing, rel=1e-6)
    assert found.field_T == pytest.approx(crossing, abs=2e-5)
    assert found.gap_ueV < resolution_ueV
    assert uniform.point(1.5 * crossing).rabi_MHz("G1") < 1e-6  # no intervalley dipole
    varying = spin_qubit_from_operators(
        _dot_operators(cells=24, delta=lambda p: delta + 0.01j * p[0]),
        direction=(1.0, 0.0, 0.0),
        magnet=magnet,
        gate_terms_meV_per_mV=_drive(-0.01),
    )
    opened = varying.anticrossing((0.5, 1.5), xtol_T=1e-5)
    assert opened.gap_ueV > 20 * resolution_ueV  # 0.052 ueV measured
    assert opened.field_T == pytest.approx(opened.crossing_estimate_T, abs=2e-5)
    spin_regime = varying.point(0.5 * opened.field_T).rabi_MHz("G1")
    valley_regime = varying.point(1.5 * opened.field_T).rabi_MHz("G1")
    assert valley_regime > 100 * spin_regime  # 1079 MHz against 6.9 MHz


def test_bad_micro_magnets_and_field_maps_are_refused_by_name(tmp_path):
    from femvalley.magnetic import FieldMap, MicroMagnet

    with pytest.raises(ValueError, match="not symmetric"):
        MicroMagnet(gradient_mT_per_nm=((0, 1, 0), (0, 0, 0), (0, 0, 0)))
    with pytest.raises(ValueError, match="trace"):
        MicroMagnet(gradient_mT_per_nm=((1, 0, 0), (0, 0, 0), (0, 0, 0)))
    with pytest.raises(ValueError, match="field_T"):
        MicroMagnet(field_T=(0.0, 1.0))
    axis = np.linspace(-10.0, 10.0, 5)
    with pytest.raises(ValueError, match="field_T has shape"):
        FieldMap(x_nm=axis, y_nm=axis, z_nm=axis, field_T=np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match="x_nm must be a strictly increasing"):
        FieldMap(x_nm=axis[::-1], y_nm=axis, z_nm=axis, field_T=np.zeros((3, 5, 5, 5)))
    with pytest.raises(ValueError, match="cannot read the field map"):
        FieldMap.load(tmp_path / "missing.npz")


def test_a_field_map_of_a_uniform_gradient_is_the_gradient():
    """Sampled on a grid, a linear field is interpolated exactly; points outside are refused."""
    from femvalley.magnetic import FieldMap, MicroMagnet

    magnet = MicroMagnet(
        field_T=(0.01, 0.02, -0.03),
        gradient_mT_per_nm=((0.1, 0.2, 0.0), (0.2, 0.3, 0.5), (0.0, 0.5, -0.4)),
        origin_nm=(1.0, 2.0, 3.0),
    )
    x, y, z = np.linspace(-20, 20, 5), np.linspace(-30, 30, 7), np.linspace(-5, 5, 3)
    grid = np.stack(np.meshgrid(x, y, z, indexing="ij"))
    fmap = FieldMap(x_nm=x, y_nm=y, z_nm=z, field_T=magnet.field_at_T(grid), plane_z_nm=1.5)
    pts = np.random.default_rng(1).uniform(-4.0, 4.0, (3, 50))
    np.testing.assert_allclose(fmap.field_at_T(pts), magnet.field_at_T(pts), atol=1e-14)
    plane = pts[:2]
    want = magnet.field_at_T(np.vstack([plane, np.full((1, 50), 1.5)]))
    np.testing.assert_allclose(fmap.field_at_T(plane), want, atol=1e-14)
    with pytest.raises(ValueError, match="covers z in"):
        fmap.field_at_T(np.array([[0.0], [0.0], [6.0]]))


def test_a_qubit_on_the_demo_device_plane():
    """The demo's Born-Oppenheimer system (coarse) as a spin qubit with the field along y:
    without micro-magnet and spin-orbit coupling the Larmor frequency is g mu_B B / h exactly
    and no gate drives the spin; with a micro-magnet's transverse gradient the plunger drives
    it at the gradient formula's rate (spin regime, E_Z well below E_V), within 2 %."""
    from femvalley.config import StudyConfig
    from femvalley.magnetic import MicroMagnet, spin_qubit
    from femvalley.system import build_system

    from .conftest import COARSE_STUDY_PARAMS

    system = build_system(
        StudyConfig.from_dict({"model": "bo2d", "device": {"params": COARSE_STUDY_PARAMS}})
    )
    plain = spin_qubit(system, detuning_mV=-5.0, dresselhaus_meV_nm=None)
    point = plain.point(0.2)
    assert point.larmor_GHz == pytest.approx(2.0 * MU_B * 0.2 / H_MEV_S * 1e-9, rel=1e-9)
    gates = sorted(plain.gate_terms)
    assert set(gates) == set(system.potentials.gates)
    assert max(point.rabi_MHz(g) for g in gates) < 1e-9
    spins = point.spin[:2]
    np.testing.assert_allclose(np.abs(spins[:, 1]), 1.0, atol=1e-9)  # spins along y
    grad = 0.5
    magnet = MicroMagnet(gradient_mT_per_nm=((0, 0, grad), (0, 0, 0), (grad, 0, 0)))
    qubit = spin_qubit(system, detuning_mV=-5.0, magnet=magnet, dresselhaus_meV_nm=None)
    plunger = max(gates, key=lambda g: abs(qubit.displacement_nm_per_mV(g, 0.2)[0]))
    rabi = qubit.point(0.2).rabi_MHz(plunger)
    assert rabi > 0.01
    assert rabi == pytest.approx(qubit.gradient_rabi_MHz(plunger, 0.2), rel=0.02)
    # phonons on the plane: the columns' form factor <chi|exp(2 i k0' z)|chi> is small (smooth
    # vertical states), so the shear term hardly matters; the dipole formula holds at 0.2 T
    from femvalley.phonons import PhononParameters

    point = qubit.point(0.2)
    eta = np.abs(qubit.phonon_inputs["valley_form_factor"])
    assert 0 < eta.max() < 0.05
    dipole = point.relaxation(temperature_K=0.1)
    exact = point.relaxation(temperature_K=0.1, method="exact")
    assert exact.rate_per_s == pytest.approx(dipole.rate_per_s, rel=0.02)
    no_shear = point.relaxation(temperature_K=0.1, parameters=PhononParameters().without_shear())
    assert no_shear.rate_per_s == pytest.approx(dipole.rate_per_s, rel=0.01)
