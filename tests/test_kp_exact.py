"""The k.p solver against closed-form spectra, symmetries and perturbation theory."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as la
from skfem import Basis, BilinearForm, ElementTriP1, asm

from femvalley.eigen import solve
from femvalley.kp import KPModel, QuadraticTerm, assemble, single_band_model, two_valley_model
from femvalley.units import HBAR2_OVER_2M0_MEV_NM2
from femvalley.valley_map import ValleyMapSpec, valley_map_on_nodes

from .conftest import C_T, box_levels, box_mesh, ho_levels, ho_potential, square_mesh

HW_ISO = (4.0, 4.0)
HW_ANISO = (4.0, 6.0)
HALF_WIDTH = 60.0  # 6 oscillator lengths for hbar w = 4 meV, m_t = 0.19


def _ho_errors(hw, element, sizes):
    exact = ho_levels(hw, 6)
    u = ho_potential(hw, (C_T, C_T))
    errs, hs = [], []
    for n in sizes:
        ops = assemble(
            single_band_model(dim=2, potential_meV=u), square_mesh(n, HALF_WIDTH), element=element
        )
        res = solve(ops, k=6, backend="superlu")
        errs.append(np.abs(res.energies_meV - exact).max())
        hs.append(2 * HALF_WIDTH / n)
    return np.array(hs), np.array(errs), res


@pytest.mark.parametrize("hw", [HW_ISO, HW_ANISO], ids=["isotropic", "anisotropic"])
@pytest.mark.parametrize(
    "element, sizes, rate, final_tol",
    [("P1", (16, 32, 64), 2.0, 0.05), ("P2", (16, 32, 64), 4.0, 1e-3)],
)
def test_harmonic_oscillator_2d_levels_and_rate(hw, element, sizes, rate, final_tol):
    hs, errs, res = _ho_errors(hw, element, sizes)
    measured = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert measured == pytest.approx(rate, abs=0.3), (errs, measured)
    # finest mesh: the lowest 6 levels match hbar w (nx + ny + 1) closely
    exact = ho_levels(hw, 6)
    assert np.abs(res.energies_meV - exact).max() < final_tol * exact[0]
    # FEM is a Ritz method: every level is an upper bound of the exact one
    assert np.all(res.energies_meV > exact - 1e-9)


def test_box_3d_anisotropic_mass_levels_and_rate():
    size = (40.0, 30.0, 10.0)
    m_t, m_l = 0.19, 0.916
    c = (HBAR2_OVER_2M0_MEV_NM2 / m_t, HBAR2_OVER_2M0_MEV_NM2 / m_t, HBAR2_OVER_2M0_MEV_NM2 / m_l)
    exact = box_levels(size, c, 4)
    model = single_band_model(dim=3, materials="strained_Si")
    for element, ns, rate, final in (("P1", (2, 4, 8), 2.0, 0.1), ("P2", (3, 4, 5), 4.0, 3e-3)):
        errs, hs = [], []
        for n in ns:
            ops = assemble(model, box_mesh((4 * n, 3 * n, n), size), element=element)
            res = solve(ops, k=4, backend="superlu")
            errs.append(np.abs(res.energies_meV - exact).max() / exact[0])
            hs.append(1.0 / n)
        measured = np.polyfit(np.log(hs), np.log(errs), 1)[0]
        assert measured == pytest.approx(rate, abs=0.4), (element, errs, measured)
        assert errs[-1] < final
    # the lowest level has nz = 1 and uses the light in-plane masses: m_l matters
    assert exact[1] - exact[0] < c[2] * 3 * (np.pi / size[2]) ** 2


@pytest.fixture(scope="module")
def ho_single():
    mesh = square_mesh(24, HALF_WIDTH)
    u = ho_potential(HW_ANISO, (C_T, C_T))
    ops = assemble(single_band_model(dim=2, potential_meV=u), mesh)
    return mesh, u, ops, solve(ops, k=6, backend="superlu")


def test_constant_delta_splits_every_level_by_2_abs_delta(ho_single):
    mesh, u, _, single = ho_single
    delta = 0.3 * np.exp(0.7j)
    ops = assemble(two_valley_model(dim=2, delta_meV=delta, potential_meV=u), mesh)
    res = solve(ops, k=8, backend="superlu")
    e1 = single.energies_meV[:4]
    expected = np.sort(np.concatenate([e1 - abs(delta), e1 + abs(delta)]))
    np.testing.assert_allclose(res.energies_meV, expected, rtol=1e-10, atol=1e-10)
    pairs = res.energies_meV.reshape(4, 2)
    np.testing.assert_allclose(pairs[:, 1] - pairs[:, 0], 2 * abs(delta), rtol=1e-8)
    # each state is an equal mixture of both valleys
    np.testing.assert_allclose(res.weights, 0.5, atol=1e-8)


def test_zero_delta_reproduces_single_band(ho_single):
    mesh, u, _, single = ho_single
    ops = assemble(two_valley_model(dim=2, delta_meV=None, potential_meV=u), mesh)
    res = solve(ops, k=6, backend="superlu")
    np.testing.assert_allclose(res.energies_meV, np.repeat(single.energies_meV[:3], 2), rtol=1e-10)


def _random_delta(mesh, mean_ueV, seed):
    spec = ValleyMapSpec(
        mean_valley_splitting_ueV=mean_ueV, lx_nm=15.0, ly_nm=25.0, nx=30, ny=30, seed=seed
    )
    d, _ = valley_map_on_nodes(spec, mesh.p)
    return d


def test_global_valley_phase_and_conjugation_leave_spectrum_unchanged(ho_single):
    mesh, u, _, _ = ho_single
    d = _random_delta(mesh, 300.0, seed=3)
    spectra = []
    for variant in (d, d * np.exp(1.234j), np.conj(d), -d):
        ops = assemble(two_valley_model(dim=2, delta_meV=variant, potential_meV=u), mesh)
        spectra.append(solve(ops, k=8, backend="superlu").energies_meV)
    for s in spectra[1:]:
        np.testing.assert_allclose(s, spectra[0], rtol=1e-10)
    # but the map does matter: a non-trivial check that the spectrum is not that of |Delta| = 0
    assert spectra[0][1] - spectra[0][0] > 1e-3


def test_small_delta_first_order_splitting(ho_single):
    mesh, u, _, single = ho_single
    d = _random_delta(mesh, 20.0, seed=11)
    ops = assemble(two_valley_model(dim=2, delta_meV=d, potential_meV=u), mesh)
    res = solve(ops, k=2, backend="superlu")
    # independent first-order estimate: 2 |<psi0 | Delta | psi0>| with psi0 real, M-normalised
    basis = Basis(mesh, ElementTriP1())
    form = BilinearForm(lambda u_, v_, w: w["d"] * u_ * v_, dtype=np.complex128)
    b = asm(form, basis, d=basis.interpolate(d))
    psi0 = single.components[0, 0]
    expected = 2 * abs(psi0 @ (b @ psi0))
    assert res.energies_meV[1] - res.energies_meV[0] == pytest.approx(expected, rel=0.02)
    assert expected > 1e-3  # meaningful (>= 1 ueV)


def test_n4_valley_spin_zeeman_shifts_are_exact(ho_single):
    mesh, u, _, _ = ho_single
    d = _random_delta(mesh, 150.0, seed=5)
    ez = 0.05  # Zeeman energy g mu_B B, meV
    sz = np.diag([0.5, -0.5])
    nodes = np.zeros((mesh.nvertices, 4, 4), dtype=complex)
    for i in range(mesh.nvertices):
        cv = np.array([[0, d[i]], [np.conj(d[i]), 0]])
        nodes[i] = np.kron(cv, np.eye(2)) + np.kron(np.eye(2), ez * sz)
    model = KPModel(
        n_components=4,
        quadratic=[QuadraticTerm(axes=(a, a), coefficient=C_T) for a in range(2)],
        potential=u,
        constant=nodes,
    )
    res4 = solve(assemble(model, mesh), k=8, backend="superlu")
    res2 = solve(
        assemble(two_valley_model(dim=2, delta_meV=d, potential_meV=u), mesh),
        k=4,
        backend="superlu",
    )
    expected = np.sort(np.concatenate([res2.energies_meV - ez / 2, res2.energies_meV + ez / 2]))
    np.testing.assert_allclose(res4.energies_meV, expected, rtol=1e-10)
    # spin weights of the lowest state: spin down (component 1 and 3) for positive ez
    spin_up = res4.weights[0, 0] + res4.weights[0, 2]
    assert spin_up == pytest.approx(0.0, abs=1e-8)


def test_sparse_solver_matches_dense_eigh_on_tiny_mesh():
    mesh = square_mesh(8, 30.0)
    d = 0.2 * np.exp(1j * mesh.p[0] / 7.0) * (1 + 0.1 * mesh.p[1] / 30.0)
    u = ho_potential(HW_ANISO, (C_T, C_T))
    for element in ("P1", "P2"):
        ops = assemble(two_valley_model(dim=2, delta_meV=d, potential_meV=u), mesh, element=element)
        h = ops.hamiltonian().toarray()
        m = ops.mass.toarray()
        np.testing.assert_allclose(h, h.conj().T, atol=1e-12)
        ref = la.eigh(h, m, eigvals_only=True)[:6]
        res = solve(ops, k=6, backend="superlu")
        np.testing.assert_allclose(res.energies_meV, ref, rtol=1e-9)
        # M-orthonormal eigenvectors
        x = res.vectors
        np.testing.assert_allclose(x.conj().T @ m @ x, np.eye(6), atol=1e-9)


def test_separable_pieces_equal_reassembly():
    mesh = square_mesh(12, 40.0)
    u0 = ho_potential(HW_ISO, (C_T, C_T))

    def u1(x):
        return 0.1 * x[0]

    ops = assemble(
        two_valley_model(dim=2, delta_meV=0.05, potential_meV=u0, potential_terms={"field": u1}),
        mesh,
    )
    s = 0.37

    def u_total(x):
        return u0(x) + s * u1(x)

    direct = assemble(two_valley_model(dim=2, delta_meV=0.05, potential_meV=u_total), mesh)
    diff = (ops.hamiltonian(field=s) - direct.hamiltonian()).toarray()
    assert np.abs(diff).max() < 1e-12 * np.abs(direct.hamiltonian().toarray()).max()
    # lower bound of the spectrum is below the true ground state
    res = solve(ops, k=1, scales={"field": s}, backend="superlu")
    assert ops.spectrum_lower_bound_meV(field=s) <= res.energies_meV[0]


def test_p2_constant_term_and_region_coefficients():
    """Per-region masses: a uniform material given per region equals the scalar model."""
    mesh = square_mesh(10, 40.0)
    left = np.nonzero(mesh.p[0, mesh.t].mean(axis=0) < 0)[0]
    right = np.nonzero(mesh.p[0, mesh.t].mean(axis=0) >= 0)[0]
    mesh = mesh.with_subdomains({"left": left, "right": right})
    u = ho_potential(HW_ISO, (C_T, C_T))
    a = assemble(two_valley_model(dim=2, delta_meV=0.1j, potential_meV=u), mesh, element="P2")
    b = assemble(
        two_valley_model(
            dim=2, delta_meV=0.1j, potential_meV=u, materials={"left": "Si", "right": "strained_Si"}
        ),
        mesh,
        element="P2",
    )
    ea = solve(a, k=4, backend="superlu").energies_meV
    eb = solve(b, k=4, backend="superlu").energies_meV
    np.testing.assert_allclose(ea, eb, rtol=1e-12)


def test_off_diagonal_quadratic_terms_rotated_mass_tensor():
    """k^T A k with a rotated anisotropic inverse-mass tensor in an isotropic oscillator.

    U = k_s r^2 / 2 is rotation invariant, so the levels are those of the principal axes:
    hbar w_i = 2 sqrt(c_i * kappa) with U = kappa r^2 (c_i = hbar^2 / 2 m_i), whatever the angle.
    """
    c1, c2, kappa = C_T, 2.5 * C_T, 0.01  # meV nm^2, meV nm^2, meV / nm^2
    theta = 0.6
    r = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a = r @ np.diag([c1, c2]) @ r.T
    model = KPModel(
        n_components=1,
        quadratic=[
            QuadraticTerm(axes=(0, 0), coefficient=a[0, 0]),
            QuadraticTerm(axes=(1, 1), coefficient=a[1, 1]),
            # (k_x c k_y + k_y c k_x) / 2 with c = 2 A_xy gives the cross terms of k^T A k
            QuadraticTerm(axes=(0, 1), coefficient=2 * a[0, 1]),
        ],
        potential=lambda x: kappa * (x[0] ** 2 + x[1] ** 2),
    )
    hw = (2 * np.sqrt(c1 * kappa), 2 * np.sqrt(c2 * kappa))
    res = solve(assemble(model, square_mesh(48, 80.0), element="P2"), k=5, backend="superlu")
    np.testing.assert_allclose(res.energies_meV, ho_levels(hw, 5), rtol=2e-3)
    # without the cross terms the answer is different (the test can fail)
    wrong = KPModel(n_components=1, quadratic=model.quadratic[:2], potential=model.potential)
    res_w = solve(assemble(wrong, square_mesh(48, 80.0), element="P2"), k=5, backend="superlu")
    assert np.abs(res_w.energies_meV - ho_levels(hw, 5)).max() > 1e-2


def test_component_matrix_gives_valley_dependent_mass():
    """A quadratic term acting on one component only: two decoupled oscillators."""
    extra = 0.44 * C_T  # component 0 gets c = 1.44 c_t along x
    model = KPModel(
        n_components=2,
        quadratic=[
            QuadraticTerm(axes=(0, 0), coefficient=C_T),
            QuadraticTerm(axes=(1, 1), coefficient=C_T),
            QuadraticTerm(axes=(0, 0), coefficient=extra, components=np.diag([1.0, 0.0])),
        ],
        potential=lambda x: 0.01 * (x[0] ** 2 + x[1] ** 2),
    )
    ops = assemble(model, square_mesh(48, 80.0), element="P2")
    assert not ops.kinetic_is_scalar
    res = solve(ops, k=6, backend="superlu")
    # U = kappa r^2: hbar w_a = 2 sqrt(c_a kappa)
    kappa = 0.01
    w0 = (2 * np.sqrt(1.44 * C_T * kappa), 2 * np.sqrt(C_T * kappa))
    w1 = (2 * np.sqrt(C_T * kappa), 2 * np.sqrt(C_T * kappa))
    expected = np.sort(np.concatenate([ho_levels(w0, 6), ho_levels(w1, 6)]))[:6]
    np.testing.assert_allclose(res.energies_meV, expected, rtol=2e-3)
