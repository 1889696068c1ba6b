"""The Dresselhaus spin-orbit term of two valleys against exact answers."""

from __future__ import annotations

import numpy as np
import pytest

HBAR2_OVER_2M0 = 38.09982
C_T = HBAR2_OVER_2M0 / 0.19  # hbar^2 / (2 m_t), meV nm^2


def _harmonic_dresselhaus_reference(hw: float, beta: float, count: int, n: int = 28):
    """Lowest levels of hw (n_x + n_y + 1) + beta (k_x sigma_x - k_y sigma_y), in a basis of
    harmonic-oscillator states (an independent solver: exact matrix elements of k)."""
    ell = np.sqrt(2 * C_T / hw)
    a = np.diag(np.sqrt(np.arange(1, n)), 1)  # annihilation
    k1 = 1j * (a.T - a) / (np.sqrt(2) * ell)  # -i d/dx
    one = np.eye(n)
    nums = np.diag(np.arange(n))
    h_orb = hw * (np.kron(nums, one) + np.kron(one, nums) + np.eye(n * n))
    kx, ky = np.kron(k1, one), np.kron(one, k1)
    sx = np.array([[0, 1], [1, 0]])
    sy = np.array([[0, -1j], [1j, 0]])
    h = np.kron(h_orb, np.eye(2)) + beta * (np.kron(kx, sx) - np.kron(ky, sy))
    return np.linalg.eigvalsh(h)[:count]


def _four_components(
    cells: int, delta: complex, hw: float = 3.0, half_width_nm: float = 70.0, potential=None
):
    from skfem import MeshTri

    from femvalley.kp import KPModel, QuadraticTerm, assemble

    x = np.linspace(-half_width_nm, half_width_nm, cells + 1)
    k = hw**2 / (4 * C_T)
    valley = np.array([[0.0, delta], [np.conj(delta), 0.0]])
    return assemble(
        KPModel(
            n_components=4,
            quadratic=[
                QuadraticTerm(axes=(0, 0), coefficient=C_T),
                QuadraticTerm(axes=(1, 1), coefficient=C_T),
            ],
            potential=potential or (lambda p: k * (p[0] ** 2 + p[1] ** 2)),
            constant=np.kron(valley, np.eye(2)),
        ),
        MeshTri.init_tensor(x, x),
        element="P2",
    )


def _levels(h, ops, count):
    from femvalley.eigen import solve_matrices

    return np.sort(solve_matrices(h, ops.mass, k=count, lower_bound_meV=-20.0).energies_meV)


def test_with_a_real_valley_coupling_each_valley_branch_is_a_dresselhaus_dot():
    """Uniform real Delta: the term -Delta_so tau_x (x) D(k) commutes with the valley
    coupling |Delta| tau_x, so the spectrum is that of a harmonic dot with a linear Dresselhaus
    coupling, shifted by -|Delta| and +|Delta|; the dot's levels come from an independent
    solver in a basis of oscillator states. A strong coupling (20 meV nm) makes it visible:
    the levels move by about 0.2 meV from hbar w (n + 1)."""
    from femvalley.magnetic import dresselhaus_term

    hw, beta, delta = 3.0, 20.0, 0.4
    dot = _harmonic_dresselhaus_reference(hw, beta, 12)
    assert np.abs(dot[:6] - hw * np.array([1, 1, 2, 2, 2, 2])).max() > 0.1  # not a weak effect
    want = np.sort(np.concatenate([dot - delta, dot + delta]))[:12]
    errors = []
    for cells in (20, 40):
        ops = _four_components(cells, delta)
        so = dresselhaus_term(ops, coupling_meV_nm=beta, valley_form_factor=1.0)
        e = _levels(ops.hamiltonian() + so.matrix, ops, 12)
        errors.append(np.abs(e - want).max())
    assert errors[1] < 2e-3 and errors[1] < errors[0] / 8  # P2: fourth order (13.8x measured)
    np.testing.assert_allclose(e[::2], e[1::2], atol=1e-8)  # Kramers pairs


def test_the_valley_phase_sets_the_intra_valley_spin_orbit_coupling():
    """Delta = |Delta| e^(i phi): the lower valley branch sees the coupling Delta_so cos(phi),
    plus a second-order shift through the upper branch, -(Delta_so sin(phi))^2 <k^2> / (2 |Delta|)
    for the ground state (<k^2> = 1 / l^2 of the oscillator). On one mesh, the ground level with
    a complex Delta is that with a real Delta and the coupling Delta_so cos(phi) plus this shift
    (within 15 %: the upper branch's excitation energies enlarge the denominator); at
    phi = pi/2 the coupling drops out to first order."""
    from femvalley.magnetic import dresselhaus_term

    hw, beta, delta = 3.0, 12.0, 20.0
    k2 = hw / (2 * C_T)  # <k_x^2 + k_y^2> of the oscillator's ground state, 1/nm^2

    def levels(d, b):
        ops = _four_components(24, d)
        return _levels(
            ops.hamiltonian()
            + dresselhaus_term(ops, coupling_meV_nm=b, valley_form_factor=1.0).matrix,
            ops,
            6,
        )

    real = levels(delta, beta)
    for phi in (np.pi / 3, np.pi / 2):
        e = levels(delta * np.exp(1j * phi), beta)
        want = levels(delta, beta * np.cos(phi))
        second = -((beta * np.sin(phi)) ** 2) * k2 / (2 * delta)
        assert abs((e[0] - want[0]) / second - 1.0) < 0.15  # 0.93 measured at pi/2
        assert np.abs(real - want).max() > 10 * abs(second)  # the phase is seen


def test_kramers_pairs_without_field_and_gauge_invariance_with_one():
    """An asymmetric dot with a complex valley coupling: without field every level is a
    Kramers pair; in a perpendicular field with the Dresselhaus term's own minimal coupling
    the symmetric and the Landau gauge give the same levels, and the spin pairs split."""
    from femvalley.magnetic import UniformField, dresselhaus_term, orbital_field_terms

    k = 9.0 / (4 * C_T)
    ops = _four_components(
        36, 0.1 * np.exp(0.7j), potential=lambda p: k * (p[0] ** 2 + 2 * p[1] ** 2) + 0.01 * p[0]
    )
    so = dresselhaus_term(ops, coupling_meV_nm=8.0, valley_form_factor=1.0)
    e0 = _levels(ops.hamiltonian() + so.matrix, ops, 8)
    np.testing.assert_allclose(e0[::2], e0[1::2], atol=1e-8)
    levels = []
    for field in (UniformField(), UniformField(gauge="landau", origin_nm=(4.0, -2.0, 0.0))):
        terms = orbital_field_terms(ops, field, g_factor=2.0)
        so_b = dresselhaus_term(ops, coupling_meV_nm=8.0, valley_form_factor=1.0, field=field)
        levels.append(_levels(terms.hamiltonian(ops, 1.5) + so_b.at(1.5), ops, 8))
    np.testing.assert_allclose(levels[1], levels[0], atol=2e-4)
    assert np.min(np.diff(levels[0])[::2]) > 0.01  # no Kramers pairs in a field
    no_shift = orbital_field_terms(ops, UniformField(gauge="landau", origin_nm=(4.0, -2.0, 0.0)))
    wrong = _levels(no_shift.hamiltonian(ops, 1.5) + so.matrix, ops, 8)
    assert np.abs(wrong - levels[0]).max() > 10 * np.abs(levels[1] - levels[0]).max()


def test_the_dresselhaus_term_needs_two_valleys_with_spin():
    from femvalley.magnetic import dresselhaus_term, with_spin

    ops = _four_components(4, 0.1)
    with pytest.raises(ValueError, match="4 components"):
        dresselhaus_term(with_spin(ops), coupling_meV_nm=1.0)
