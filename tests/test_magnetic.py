"""The orbital effect of a magnetic field against exact answers (femvalley.magnetic)."""

from __future__ import annotations

import numpy as np
import pytest

HBAR2_OVER_2M0 = 38.09982
C_T = HBAR2_OVER_2M0 / 0.19  # hbar^2 / (2 m_t), meV nm^2
E_OVER_HBAR = 1.519267447e-3  # nm^-2 T^-1


def _fock_darwin_meV(hw0: float, field_T: float, count: int) -> np.ndarray:
    """The exact levels hbar Omega (2n + |l| + 1) - l hbar w_c / 2 of a 2-D harmonic dot."""
    hwc = 2 * C_T * E_OVER_HBAR * field_T  # hbar e B / m
    big = np.sqrt(hw0**2 + hwc**2 / 4)
    levels = [big * (2 * n + abs(m) + 1) - m * hwc / 2 for n in range(12) for m in range(-24, 25)]
    return np.sort(levels)[:count]


def _dot(cells: int, element: str, half_width_nm: float = 70.0, hw0: float = 3.0):
    from skfem import MeshTri

    from femvalley.kp import KPModel, QuadraticTerm, assemble

    x = np.linspace(-half_width_nm, half_width_nm, cells + 1)
    k = hw0**2 / (4 * C_T)  # (1/2) m w0^2 in meV / nm^2
    model = KPModel(
        n_components=1,
        quadratic=[
            QuadraticTerm(axes=(0, 0), coefficient=C_T),
            QuadraticTerm(axes=(1, 1), coefficient=C_T),
        ],
        potential=lambda p: k * (p[0] ** 2 + p[1] ** 2),
    )
    return assemble(model, MeshTri.init_tensor(x, x), element=element)


def _levels(ops, terms, field_T: float, count: int) -> np.ndarray:
    from femvalley.eigen import solve_matrices

    h = terms.hamiltonian(ops, field_T)
    return np.sort(solve_matrices(h, ops.mass, k=count, lower_bound_meV=0.0).energies_meV)


def test_a_harmonic_dot_in_a_perpendicular_field_has_the_fock_darwin_levels():
    """A 2-D harmonic dot (hbar w0 = 3 meV, m = 0.19 m0) at 3 T: the lowest eight levels
    are the Fock-Darwin ones, hbar Omega (2n + |l| + 1) - l hbar w_c / 2, with linear elements
    converging at second order and quadratic ones within 5e-4 (3.7e-4 measured)."""
    from femvalley.magnetic import UniformField, orbital_field_terms

    exact = _fock_darwin_meV(3.0, 3.0, 8)
    errors = []
    for cells in (40, 80):
        ops = _dot(cells, "P1")
        e = _levels(ops, orbital_field_terms(ops, UniformField()), 3.0, 8)
        errors.append(np.abs(e - exact).max())
    assert errors[1] < errors[0] / 3.0  # second order: 4 per halving of the step
    ops = _dot(40, "P2")
    e = _levels(ops, orbital_field_terms(ops, UniformField()), 3.0, 8)
    np.testing.assert_allclose(e, exact, rtol=5e-4)


def test_the_spectrum_is_gauge_invariant_and_even_in_the_field():
    """The symmetric and the Landau gauge (two vector potentials of one field) give the same
    levels; so do B and -B (time reversal maps l to -l); the field terms are Hermitian and a
    zero field changes nothing."""
    from femvalley.magnetic import UniformField, orbital_field_terms

    ops = _dot(40, "P2")
    sym = orbital_field_terms(ops, UniformField(gauge="symmetric"))
    landau = orbital_field_terms(ops, UniformField(gauge="landau", origin_nm=(5.0, -3.0, 0.0)))
    e_sym = _levels(ops, sym, 2.0, 8)
    np.testing.assert_allclose(_levels(ops, landau, 2.0, 8), e_sym, rtol=1e-4)
    np.testing.assert_allclose(_levels(ops, sym, -2.0, 8), e_sym, rtol=1e-9)
    lin = sym.linear
    assert abs(lin - lin.conj().T).max() < 1e-12 * abs(lin).max()
    assert np.allclose(lin.toarray().real, 0.0)  # purely imaginary
    assert (sym.hamiltonian(ops, 0.0) != ops.hamiltonian()).nnz == 0


def test_a_bad_field_is_refused_by_name():
    from femvalley.magnetic import UniformField

    with pytest.raises(ValueError, match="direction"):
        UniformField(direction=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="gauge = 'coulomb'"):
        UniformField(gauge="coulomb")
    with pytest.raises(ValueError, match="landau' needs a field along x, y or z"):
        UniformField(direction=(1.0, 1.0, 0.0), gauge="landau")


def test_zeeman_splits_every_valley_state_by_g_mu_b_b_and_crosses_the_valley_splitting():
    """A spin on each valley component (four components, spin fastest), a uniform Delta and an
    in-plane field (no orbital effect on a 2-D plane): every level is the orbital one plus
    +-|Delta| +- g mu_B B / 2, exactly; the lower valley's spin-up state crosses the upper
    valley's spin-down state where g mu_B B equals the valley splitting 2 |Delta|, with no
    gap (no spin-orbit coupling couples them)."""
    from skfem import MeshTri

    from femvalley.kp import KPModel, QuadraticTerm, assemble
    from femvalley.magnetic import UniformField, orbital_field_terms

    delta, g, mu_b = 0.1, 2.0, 5.7883818060e-2
    x = np.linspace(-60.0, 60.0, 31)
    kinetic = [
        QuadraticTerm(axes=(0, 0), coefficient=C_T),
        QuadraticTerm(axes=(1, 1), coefficient=C_T),
    ]

    def potential(p):
        return (3.0**2 / (4 * C_T)) * (p[0] ** 2 + p[1] ** 2)

    valley = np.array([[0.0, delta], [delta, 0.0]])
    four = assemble(
        KPModel(
            n_components=4,
            quadratic=kinetic,
            potential=potential,
            constant=np.kron(valley, np.eye(2)),
        ),
        MeshTri.init_tensor(x, x),
    )
    one = assemble(
        KPModel(n_components=1, quadratic=kinetic, potential=potential), MeshTri.init_tensor(x, x)
    )
    e_orb = _levels(one, orbital_field_terms(one, UniformField(direction=(1.0, 0.0, 0.0))), 0.0, 1)[
        0
    ]
    terms = orbital_field_terms(four, UniformField(direction=(1.0, 0.0, 0.0)), g_factor=g)
    for field_T in (0.5, 1.0):
        z = g * mu_b * field_T / 2
        want = np.sort([e_orb + v * delta + s * z for v in (-1, 1) for s in (-1, 1)])
        np.testing.assert_allclose(_levels(four, terms, field_T, 4), want, atol=1e-9)
    crossing_T = 2 * delta / (g * mu_b)
    e = _levels(four, terms, crossing_T, 4)
    assert abs(e[2] - e[1]) < 1e-9  # degenerate: an exact crossing without spin-orbit
    np.testing.assert_allclose([e[0], e[3]], [e_orb - 2 * delta, e_orb + 2 * delta], atol=1e-9)


def test_a_study_system_with_spin_in_an_in_plane_field():
    """The demo's Born-Oppenheimer system (coarse) with a spin on each valley component: at
    zero field every level is the spinless one twice; in an in-plane field (no orbital effect
    on the plane) the levels are the spinless ones +- g mu_B B / 2 exactly, so the lower
    state's spin-up level crosses the next state's spin-down level at
    B = (E1 - E0) / (g mu_B): for the lowest valley pair, the spin-valley crossing."""
    from femvalley.config import StudyConfig
    from femvalley.eigen import solve_matrices
    from femvalley.magnetic import UniformField, orbital_field_terms, with_spin
    from femvalley.system import build_system

    from .conftest import COARSE_STUDY_PARAMS

    system = build_system(
        StudyConfig.from_dict({"model": "bo2d", "device": {"params": COARSE_STUDY_PARAMS}})
    )
    ops = system.operators
    spinless = np.sort(system.solve(-5.0).energies_meV[:4])
    spin_ops = with_spin(ops)
    assert spin_ops.n_components == 4 and spin_ops.ndof == 2 * ops.ndof
    terms = orbital_field_terms(spin_ops, UniformField(direction=(1.0, 0.0, 0.0)), g_factor=2.0)
    bound = ops.spectrum_lower_bound_meV(detuning=-5.0)

    def levels(field_T):
        h = terms.hamiltonian(spin_ops, field_T, detuning=-5.0)
        return np.sort(solve_matrices(h, spin_ops.mass, k=8, lower_bound_meV=bound).energies_meV)

    np.testing.assert_allclose(levels(0.0)[::2], spinless, atol=1e-7)
    np.testing.assert_allclose(levels(0.0)[1::2], spinless, atol=1e-7)
    z = 2.0 * 5.7883818060e-2 * 0.5  # g mu_B B at 0.5 T
    want = np.sort(np.concatenate([spinless - z / 2, spinless + z / 2]))[:4]
    np.testing.assert_allclose(levels(0.5)[:4], want, atol=1e-7)
    crossing_T = (spinless[1] - spinless[0]) / (2.0 * 5.7883818060e-2)
    e = levels(crossing_T)
    assert abs(e[2] - e[1]) < 1e-6 < e[1] - e[0]


def test_a_field_gradient_along_the_spin_axis_shifts_each_spin_like_a_potential():
    """A micro-magnet-like field B_z(x) = B0 + G x (spin along z, no transverse part): each spin
    is the orbital problem with the potential +-(g mu_B / 2)(B0 + G x), exactly (the same
    discretisation solved as a single band); a uniform field map equals the uniform Zeeman
    term."""
    from skfem import MeshTri

    from femvalley.kp import KPModel, QuadraticTerm, assemble
    from femvalley.magnetic import UniformField, orbital_field_terms, with_spin, zeeman_field_term

    g, mu_b, b0, grad = 2.0, 5.7883818060e-2, 0.8, 0.5  # T, T/nm (exaggerated to be seen)
    x = np.linspace(-60.0, 60.0, 31)
    mesh = MeshTri.init_tensor(x, x)
    kinetic = [
        QuadraticTerm(axes=(0, 0), coefficient=C_T),
        QuadraticTerm(axes=(1, 1), coefficient=C_T),
    ]
    k = 3.0**2 / (4 * C_T)

    def harmonic(p):
        return k * (p[0] ** 2 + p[1] ** 2)

    spin_ops = with_spin(
        assemble(KPModel(n_components=1, quadratic=kinetic, potential=harmonic), mesh)
    )
    zeeman = zeeman_field_term(
        spin_ops, lambda p: np.stack([0 * p[0], 0 * p[0], b0 + grad * p[0]]), g_factor=g
    )
    from femvalley.eigen import solve_matrices

    e = np.sort(
        solve_matrices(
            spin_ops.hamiltonian() + zeeman, spin_ops.mass, k=4, lower_bound_meV=-1.0
        ).energies_meV
    )
    want = []
    for s in (1, -1):
        single = assemble(
            KPModel(
                n_components=1,
                quadratic=kinetic,
                potential=lambda p, s=s: harmonic(p) + s * 0.5 * g * mu_b * (b0 + grad * p[0]),
            ),
            mesh,
        )
        want += list(
            solve_matrices(
                single.hamiltonian(), single.mass, k=4, lower_bound_meV=-1.0
            ).energies_meV
        )
    np.testing.assert_allclose(e, np.sort(want)[:4], atol=1e-9)
    uniform = zeeman_field_term(spin_ops, lambda p: np.stack([0 * p[0], 0.6 + 0 * p[0], 0 * p[0]]))
    same = orbital_field_terms(spin_ops, UniformField(direction=(0.0, 1.0, 0.0)), g_factor=2.0)
    diff = uniform - 0.6 * same.linear  # the orbital part vanishes on the plane for B along y
    assert abs(diff).max() < 1e-12


def test_a_valley_dependent_g_factor_splits_each_valley_branch_by_its_own_g():
    """A g matrix over the valleys, g0 I + dg tau_x, with a uniform real Delta (valley states
    of tau_x = -+1): the lower valley's spins split by (g0 - dg) mu_B B, the upper one's by
    (g0 + dg) mu_B B, exactly; a g matrix that is not Hermitian is refused."""
    from skfem import MeshTri

    from femvalley.kp import KPModel, QuadraticTerm, assemble
    from femvalley.magnetic import UniformField, orbital_field_terms

    delta, g0, dg, mu_b, field_T = 0.1, 2.0, 0.01, 5.7883818060e-2, 1.0
    x = np.linspace(-60.0, 60.0, 25)
    four = assemble(
        KPModel(
            n_components=4,
            quadratic=[
                QuadraticTerm(axes=(0, 0), coefficient=C_T),
                QuadraticTerm(axes=(1, 1), coefficient=C_T),
            ],
            potential=lambda p: (9.0 / (4 * C_T)) * (p[0] ** 2 + p[1] ** 2),
            constant=np.kron(np.array([[0.0, delta], [delta, 0.0]]), np.eye(2)),
        ),
        MeshTri.init_tensor(x, x),
    )
    g = g0 * np.eye(2) + dg * np.array([[0.0, 1.0], [1.0, 0.0]])
    terms = orbital_field_terms(four, UniformField(direction=(1.0, 0.0, 0.0)), g_factor=g)
    e = _levels(four, terms, field_T, 4)
    assert e[1] - e[0] == pytest.approx((g0 - dg) * mu_b * field_T, abs=1e-9)
    assert e[3] - e[2] == pytest.approx((g0 + dg) * mu_b * field_T, abs=1e-9)
    with pytest.raises(ValueError, match="Hermitian"):
        orbital_field_terms(four, UniformField(), g_factor=np.array([[2.0, 0.1], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="expected a number or a finite 2 x 2 matrix"):
        orbital_field_terms(four, UniformField(), g_factor=np.eye(3))
