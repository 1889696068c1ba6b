"""Two electrons: configuration interaction and grid Coulomb integrals against exact answers.

- without interaction the levels are sums of one-electron energies, singlets and triplets
  where they should be;
- spin multiplets are exactly degenerate (the S_z = +1 block reproduces the triplets);
- a two-site Hubbard model gives the closed-form exchange, and 4 t^2 / (U - V) when t is
  small;
- the harmonic two-electron dot in 2-D: the centre of mass separates, so the exact singlet and
  triplet come from the relative-motion radial equation, solved here by an independent small
  finite-difference solver; the CI energies fall monotonically towards them as shells are
  added.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import eigh_tridiagonal
from scipy.special import eval_hermite

from femvalley.twoelectron import (
    COULOMB_MEV_NM,
    coulomb_kernel_meV,
    grid_coulomb_integrals,
    two_electron_spectrum,
)

HBAR2_OVER_M0 = 2 * 38.09982  # meV nm^2
M_T = 0.19


def test_without_interaction_the_levels_are_sums_of_one_electron_energies():
    e = np.array([0.0, 1.0, 2.5, 2.5])
    spec = two_electron_spectrum(e, np.zeros((4, 4, 4, 4)))
    singlets = sorted(e[a] + e[b] for a in range(4) for b in range(a, 4))
    triplets = sorted(e[a] + e[b] for a in range(4) for b in range(a + 1, 4))
    np.testing.assert_allclose(spec.energies_meV[spec.spin == 0], singlets, atol=1e-12)
    np.testing.assert_allclose(spec.energies_meV[spec.spin == 1], triplets, atol=1e-12)
    np.testing.assert_allclose(spec.triplet_partners_meV, triplets, atol=1e-12)
    assert spec.energies_meV[0] == 0.0 and spec.spin[0] == 0  # both in the lowest state
    np.testing.assert_allclose(spec.occupation(0), [2, 0, 0, 0], atol=1e-12)


def _random_states(m: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((m, n, n)) + 1j * rng.standard_normal((m, n, n))
    return phi / np.sqrt((np.abs(phi) ** 2).sum(axis=(1, 2), keepdims=True))


def test_spin_multiplets_are_exactly_degenerate_and_the_integrals_have_their_symmetries():
    v = grid_coulomb_integrals(_random_states(5, 12, 3), step_nm=1.0, eps_r=11.7)
    np.testing.assert_allclose(v, v.transpose(2, 3, 0, 1), atol=1e-10)  # (ab|cd) = (cd|ab)
    np.testing.assert_allclose(v, v.transpose(1, 0, 3, 2).conj(), atol=1e-10)
    for a in range(5):  # (aa|bb) is a repulsion: real and positive
        assert np.all(v[a, a].diagonal().real > 0)
        np.testing.assert_allclose(v[a, a].diagonal().imag, 0.0, atol=1e-10)
    spec = two_electron_spectrum(np.array([0.0, 0.3, 0.7, 1.1, 1.2]), v)
    np.testing.assert_allclose(
        np.sort(spec.energies_meV[spec.spin == 1]), spec.triplet_partners_meV, atol=1e-9
    )
    assert spec.energies_meV.size == 25  # the S_z = 0 block: 15 singlets and 10 triplets
    assert (spec.spin == 0).sum() == 15
    with pytest.raises(ValueError, match="not symmetric"):
        two_electron_spectrum(np.zeros(5), v + np.random.default_rng(0).random(v.shape))


def _hubbard(t: float, u: float, w: float):
    """Bonding/antibonding states of two sites (energies -t, +t) with on-site U and
    inter-site W, as (ab|cd) of the two states."""
    site = np.zeros((2, 2, 2, 2))
    site[0, 0, 0, 0] = site[1, 1, 1, 1] = u
    site[0, 0, 1, 1] = site[1, 1, 0, 0] = w
    c = np.array([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2.0)  # columns: bonding, antibonding
    v = np.einsum("ia,jb,kc,ld,ijkl->abcd", c, c, c, c, site)
    return np.array([-t, t]), v


@pytest.mark.parametrize(("t", "u", "w"), [(0.05, 2.0, 0.3), (0.5, 2.0, 0.0), (0.01, 5.0, 1.0)])
def test_two_sites_give_the_closed_form_exchange_and_the_hubbard_limit(t, u, w):
    e, v = _hubbard(t, u, w)
    spec = two_electron_spectrum(e, v)
    half = (u - w) / 2
    exact = -half + math.sqrt(half**2 + 4 * t * t)
    assert spec.exchange_meV() == pytest.approx(exact, rel=1e-10)
    assert spec.exchange_meV() > 0  # the ground state is a singlet
    assert spec.lowest_meV(1) == pytest.approx(w, abs=1e-12)  # one electron per site
    if t < 0.1 * (u - w):
        assert spec.exchange_meV() == pytest.approx(4 * t * t / (u - w), rel=0.2)


# -- the harmonic two-electron dot --------------------------------------------------------------
HW_MEV = 10.0
EPS_R = 40.0  # a weak interaction (Coulomb at the oscillator length / hw about 0.5)


def _length_nm() -> float:
    return math.sqrt(HBAR2_OVER_M0 / M_T / HW_MEV)


def _relative_energy(angular: int, *, n: int) -> float:
    """Lowest level of the relative motion with angular momentum ``angular``: reduced mass
    m/2, oscillator hw, Coulomb kappa / r; cell-centred finite differences for R(r) in the
    symmetric form -(c) (r R')' + c M^2 / r R + r V R = E r R (second order)."""
    c = 2 * HBAR2_OVER_M0 / M_T / 2  # hbar^2 / (2 mu), mu = m / 2
    kappa = COULOMB_MEV_NM / EPS_R
    r_max = 12 * _length_nm()
    h = r_max / n
    r = (np.arange(n) + 0.5) * h
    faces = np.arange(1, n + 1) * h  # r_{i+1/2}; the face at r = 0 carries no flux
    potential = HW_MEV**2 / (4 * c) * r**2 + kappa / r  # (1/2) mu w^2 r^2 + kappa / r
    diag = c / h**2 * (faces + np.concatenate([[0.0], faces[:-1]])) + c * angular**2 / r
    diag += r * potential
    off = -c / h**2 * faces[:-1]
    d = 1.0 / np.sqrt(r)  # B = diag(r): the standard problem D A D
    return float(
        eigh_tridiagonal(diag * d * d, off * d[:-1] * d[1:], select="i", select_range=(0, 0))[0][0]
    )


def _exact_levels() -> tuple[float, float]:
    """Singlet and triplet ground energies: centre of mass hw + relative M = 0 and M = 1,
    Richardson-extrapolated from two grids (order 2)."""
    out = []
    for angular in (0, 1):
        coarse, fine = (_relative_energy(angular, n=k) for k in (3000, 6000))
        out.append(HW_MEV + fine + (fine - coarse) / 3)
    return out[0], out[1]


def test_the_radial_solver_of_this_test_is_exact_without_interaction(monkeypatch):
    monkeypatch.setattr(f"{__name__}.EPS_R", 1e12)
    for angular in (0, 1, 2):
        assert _relative_energy(angular, n=3000) == pytest.approx(HW_MEV * (angular + 1), rel=1e-5)


def _harmonic_states(
    shells: int, n: int, half_width: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """2-D oscillator states psi_nx(x) psi_ny(y), nx + ny <= shells, on an n x n grid."""
    length = _length_nm()
    x = np.linspace(-half_width, half_width, n)
    h = x[1] - x[0]
    xi = x / length
    one = [
        eval_hermite(k, xi) * np.exp(-(xi**2) / 2) / math.sqrt(2.0**k * math.factorial(k))
        for k in range(shells + 1)
    ]
    states, energies = [], []
    for total in range(shells + 1):
        for nx in range(total + 1):
            phi = np.outer(one[nx], one[total - nx])
            states.append(phi / math.sqrt((phi**2).sum() * h * h))
            energies.append(HW_MEV * (total + 1))
    return np.array(energies), np.array(states), h


def test_ci_of_the_harmonic_two_electron_dot_converges_to_the_exact_levels_from_above():
    singlet, triplet = _exact_levels()
    interaction = singlet - 2 * HW_MEV
    assert 0.2 * HW_MEV < interaction < HW_MEV  # the test has an interaction worth testing
    found = []
    for shells in (1, 2, 3, 4):
        e, phi, h = _harmonic_states(shells, 97, 7 * _length_nm())
        v = grid_coulomb_integrals(phi, step_nm=h, eps_r=EPS_R)
        spec = two_electron_spectrum(e, v)
        found.append((spec.lowest_meV(0), spec.lowest_meV(1)))
    s, t = np.array(found).T
    # variational in nested bases: every shell lowers both, and they stay above the exact
    # levels (to the accuracy of the grid integrals)
    assert np.all(np.diff(s) < 0) and np.all(np.diff(t) < 0)
    assert s[-1] > singlet - 1e-3 and t[-1] > triplet - 1e-3
    assert s[-1] - singlet < 0.02 * interaction
    assert t[-1] - triplet < 0.02 * (triplet - 3 * HW_MEV)
    assert s[-1] - singlet < s[0] - singlet  # and the error shrinks
    exact_j = triplet - singlet
    assert t[-1] - s[-1] == pytest.approx(exact_j, rel=0.02)


def test_the_kernel_averages_a_vertical_separation():
    """The planar kernel at r > 0 is the point value, at r = 0 the mean over the grid cell."""
    r = np.array([0.0, 1.0, 5.0])
    flat = coulomb_kernel_meV(r, eps_r=11.7, step_nm=1.0)
    assert flat[1] == pytest.approx(COULOMB_MEV_NM / 11.7) and flat[0] > flat[1]
    apart = coulomb_kernel_meV(
        r, eps_r=11.7, step_nm=1.0, vertical_separation_nm=[-2.0, 2.0], vertical_weights=[0.5, 0.5]
    )
    np.testing.assert_allclose(apart[1:], COULOMB_MEV_NM / 11.7 / np.sqrt(r[1:] ** 2 + 4.0))
    # at r = 0 the kernel is averaged over the grid cell, at every separation (the point value
    # 1 / |dz| diverges for the thin separations of a well); against a quadrature here
    from scipy.integrate import dblquad

    for hx, hy, dz in ((1.0, 1.0, 2.0), (3.0, 2.0, 0.05), (2.0, 2.0, 0.3)):
        mean = dblquad(
            lambda y, x, dz=dz: 1.0 / np.sqrt(x * x + y * y + dz * dz),
            -hx / 2,
            hx / 2,
            -hy / 2,
            hy / 2,
        )[0] / (hx * hy)
        got = coulomb_kernel_meV(
            [0.0], eps_r=1.0, step_nm=(hx, hy), vertical_separation_nm=[dz], vertical_weights=[1.0]
        )
        assert got[0] == pytest.approx(COULOMB_MEV_NM * mean, rel=1e-6)
    flat_cell = coulomb_kernel_meV([0.0], eps_r=1.0, step_nm=2.0)[0]
    assert flat_cell == pytest.approx(COULOMB_MEV_NM * 2 * np.log(1 + np.sqrt(2)))


def test_the_states_of_a_planar_study_on_its_grid():
    """plane_states puts a bo2d system's states on its uniform plane grid: the same energies
    as the system's own solve, unit norm, a symmetric vertical separation; a 3-D system is
    refused by name."""
    from femvalley.config import StudyConfig
    from femvalley.system import build_system
    from femvalley.twoelectron import plane_states

    from .conftest import COARSE_STUDY_PARAMS

    cfg = StudyConfig.from_dict(
        {"model": "bo2d", "device": {"params": COARSE_STUDY_PARAMS}, "solver": {"n_states": 6}}
    )
    system = build_system(cfg)
    ps = plane_states(system, detuning_mV=2.0, n_states=6)
    np.testing.assert_allclose(ps.energies_meV, system.solve(2.0).energies_meV, atol=1e-9)
    hx, hy = ps.step_nm
    assert ps.states.shape == (6, 2, ps.x_nm.size, ps.y_nm.size)
    np.testing.assert_allclose((np.abs(ps.states) ** 2).sum(axis=(1, 2, 3)) * hx * hy, 1.0)
    assert ps.separation_weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(ps.separation_nm, -ps.separation_nm[::-1], atol=1e-9)
    # without interaction the exchange is the gap to the first excited one-electron state
    spec = two_electron_spectrum(ps.energies_meV, np.zeros((6,) * 4))
    assert spec.exchange_meV() == pytest.approx(ps.energies_meV[1] - ps.energies_meV[0])
    with pytest.raises(ValueError, match="planar model"):
        plane_states(
            build_system(StudyConfig.from_dict({**cfg.to_dict(), "model": "3d"})),
            detuning_mV=0.0,
            n_states=2,
        )


def _double_well_states(step_nm: float, half_distance_nm: float, count: int):
    """Lowest states of a 2-D double harmonic well (hw = 2 meV, m = 0.19) by plain finite
    differences on a uniform grid: exactly orthonormal on it (``h^2 sum phi_a phi_b``)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    c = HBAR2_OVER_M0 / M_T / 2  # hbar^2 / (2 m)
    h = step_nm
    x = np.arange(-60.0, 60.0 + h / 2, h)
    y = np.arange(-30.0, 30.0 + h / 2, h)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    k = 2.0**2 / (4 * c)  # (1/2) m w^2 with hw = 2 meV
    v = k * np.minimum((xx - half_distance_nm) ** 2, (xx + half_distance_nm) ** 2) + k * yy**2

    def second(n: int):
        return sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1]) / h**2

    ham = -c * (sp.kron(second(x.size), sp.eye(y.size)) + sp.kron(sp.eye(x.size), second(y.size)))
    ham = (ham + sp.diags(v.ravel())).tocsc()
    e, u = sla.eigsh(ham, k=count, sigma=v.min() - 1.0)
    order = np.argsort(e)
    return e[order], u[:, order].T.reshape(count, x.size, y.size) / h


def test_a_double_dot_has_a_singlet_ground_state_once_the_basis_holds_the_correlation():
    """Two electrons in a double well: the exact ground state of a spin-independent problem is
    a singlet (J > 0). A basis of the two lowest states is dominated by Coulomb-assisted
    hopping and gets the sign wrong; with 12 and more states J is positive and converged in
    the basis and in the grid step."""
    found = {}
    for step in (3.0, 2.0):
        e, phi = _double_well_states(step, 25.0, 24)
        v = grid_coulomb_integrals(phi, step_nm=step, eps_r=11.7)
        found[step] = [
            two_electron_spectrum(e[:m], v[:m, :m, :m, :m]).exchange_meV() for m in (2, 12, 24)
        ]
    for j2, j12, j24 in found.values():
        assert j2 < 0 < j24  # the two-state model is wrong here, the converged one is not
        assert j12 == pytest.approx(j24, rel=0.05)
    assert found[2.0][2] == pytest.approx(found[3.0][2], rel=0.05)  # converged in the step


@pytest.mark.parametrize("half_distance_nm", [30.0, 35.0])
def test_separated_dots_in_the_hubbard_regime_give_four_t_squared_over_u(half_distance_nm):
    """Two dots with U below the orbital spacing (a weak interaction, eps_r = 60): J from the
    configuration interaction approaches 4 t^2 / U with t half the one-electron splitting and U
    the on-site minus the inter-site repulsion of the localised (Wannier) states, both from
    the same double well; J falls with t^2 as the dots move apart."""
    step, eps = 2.0, 60.0
    found = {}
    for d in (half_distance_nm - 5.0, half_distance_nm):
        e, phi = _double_well_states(step, d, 16)
        v = grid_coulomb_integrals(phi, step_nm=step, eps_r=eps)
        j = two_electron_spectrum(e, v).exchange_meV()
        t = (e[1] - e[0]) / 2
        wannier = np.stack([phi[0] + phi[1], phi[0] - phi[1]]) / np.sqrt(2)
        w = grid_coulomb_integrals(wannier, step_nm=step, eps_r=eps).real
        u = w[0, 0, 0, 0] - w[0, 0, 1, 1]
        assert u < 2.0  # the Hubbard regime: U below hbar omega = 2 meV
        found[d] = (j, t, u)
    j, t, u = found[half_distance_nm]
    assert j == pytest.approx(4 * t * t / u, rel=0.2)
    (j0, t0, _), (j1, t1, _) = found.values()
    assert j1 < j0 / 5  # the barrier rises: J falls
    assert j1 / j0 == pytest.approx((t1 / t0) ** 2, rel=0.25)  # as t^2
    # with silicon's eps_r (U about 5 times the orbital spacing) the electrons avoid each
    # other and J falls far below the Hubbard estimate (docs/physics.md section 11.5)
    e, phi = _double_well_states(step, half_distance_nm, 16)
    j_si = two_electron_spectrum(e, grid_coulomb_integrals(phi, step_nm=step, eps_r=11.7))
    wannier = np.stack([phi[0] + phi[1], phi[0] - phi[1]]) / np.sqrt(2)
    w = grid_coulomb_integrals(wannier, step_nm=step, eps_r=11.7).real
    t = (e[1] - e[0]) / 2
    assert 0.05 < j_si.exchange_meV() / (4 * t * t / (w[0, 0, 0, 0] - w[0, 0, 1, 1])) < 0.3


@pytest.mark.parametrize("order", [1, 2])
def test_the_screened_kernel_of_a_grounded_sphere_is_the_bulk_one_minus_its_image(order):
    """A spherical Gaussian density at the centre of a grounded metal sphere of radius R: the
    potential inside is the bulk one minus the constant image term k_C / (eps_r R), so
    (aa|aa) = k_C / eps_r (1 / (sigma sqrt pi) - 1 / R) exactly; the screened integrals
    converge to it with the mesh (from below: the Galerkin energy of a Poisson problem is a
    lower bound). As the sphere (the gates) moves away the image term vanishes and the
    integrals become the bulk ones."""
    from skfem import Basis, ElementTetP1, ElementTetP2, MeshTet, asm

    from femvalley.electrostatics import grounded_poisson
    from femvalley.forms import mass
    from femvalley.twoelectron import DensityNodes, screened_coulomb_integrals

    radius, sigma, eps = 30.0, 3.0, 11.7
    exact = COULOMB_MEV_NM / eps * (1 / (sigma * np.sqrt(np.pi)) - 1 / radius)
    errors = []
    for refine in (3, 4):
        mesh = (
            MeshTet.init_ball(refine)
            .scaled(radius)
            .with_boundaries({"shell": lambda x: np.ones(x.shape[1], bool)})
            .with_subdomains({"host": lambda x: np.ones(x.shape[1], bool)})
        )
        poisson = grounded_poisson(mesh, permittivity={"host": eps}, gates=["shell"], order=order)
        p2 = Basis(mesh, ElementTetP2())
        nodes = DensityNodes(
            points_nm=p2.doflocs, edges=mesh.edges, plane_mass=asm(mass, p2).tocsr()
        )
        m1 = asm(mass, Basis(mesh, ElementTetP1()))
        phi = np.exp(-(mesh.p**2).sum(axis=0) / (4 * sigma**2))
        phi /= np.sqrt(phi @ m1 @ phi)
        v = screened_coulomb_integrals(phi[None], nodes=nodes, poisson=poisson)
        errors.append(v[0, 0, 0, 0].real / exact - 1)
    assert errors[1] < 0 and abs(errors[1]) < abs(errors[0])
    assert abs(errors[1]) < (0.05 if order == 1 else 0.02)
    # the image term is 22 % of the value here: the integrals hold it, not the bulk value
    bulk = COULOMB_MEV_NM / eps / (sigma * np.sqrt(np.pi))
    assert abs(v[0, 0, 0, 0].real - exact) < 0.25 * (bulk - exact)


@pytest.fixture(scope="module")
def coarse_systems():
    from femvalley.config import StudyConfig
    from femvalley.system import build_system

    from .conftest import COARSE_STUDY_PARAMS

    base = {"device": {"params": COARSE_STUDY_PARAMS}, "solver": {"n_states": 6}}
    bo2d = build_system(StudyConfig.from_dict({"model": "bo2d", **base}))
    three = build_system(StudyConfig.from_dict({"model": "3d", **base}), reuse=bo2d)
    return {"bo2d": bo2d, "3d": three}


@pytest.mark.parametrize("model", ["bo2d", "3d"])
def test_two_electrons_in_a_device_with_the_screened_interaction(coarse_systems, model):
    """The screened integrals of a device are a positive kernel ((ab|cd) as a matrix over
    pairs is Hermitian and positive semi-definite) with the symmetries of the bulk one; the
    levels come in exact multiplets; the density matrix of a level has trace 2; the two
    electrons of the ground state sit one per dot (no double occupancy) in this device,
    whose dots are far apart; J is converged in the basis to within its reported error."""
    from femvalley.twoelectron import TwoElectronSolver, reduced_density_matrix

    system = coarse_systems[model]
    solver = TwoElectronSolver(system, n_states=8, kernel="screened", n_levels=6)
    pt = solver.point(0.0)
    v = pt.coulomb_meV
    m = pt.n_states
    np.testing.assert_allclose(v, v.transpose(2, 3, 0, 1), atol=1e-9)
    np.testing.assert_allclose(v, v.transpose(1, 0, 3, 2).conj(), atol=1e-9)
    pairs = v.transpose(1, 0, 2, 3).reshape(m * m, m * m)
    np.testing.assert_allclose(pairs, pairs.conj().T, atol=1e-9)
    assert np.linalg.eigvalsh(pairs).min() > -1e-9 * np.abs(pairs).max()
    assert 5.0 < v[0, 0, 0, 0].real < 30.0  # a dot's on-site repulsion, meV
    spec = pt.spectrum
    triplets = spec.energies_meV[spec.spin == 1]
    partners = spec.triplet_partners_meV[: triplets.size]
    np.testing.assert_allclose(triplets, partners, atol=1e-9)
    d = reduced_density_matrix(spec, 0)
    assert np.trace(d).real == pytest.approx(2.0)
    assert np.linalg.eigvalsh(d).max() <= 2.0 + 1e-9
    assert pt.double_occupancy[0].sum() < 0.01
    assert np.all(np.abs(pt.valley_parity) <= 2.0 + 1e-9)
    conv = pt.exchange_convergence()
    assert conv.sizes == (2, 4, 8) and conv.value_meV == pytest.approx(pt.exchange_meV)
    assert abs(conv.exchange_meV[-1] - conv.exchange_meV[-2]) <= conv.error_meV


def test_the_bulk_kernel_is_the_screened_one_without_the_device(coarse_systems):
    """On the Born-Oppenheimer plane the bulk kernel (silicon, averaged over the vertical
    densities) and the device's screened kernel give on-site integrals within 10 %: the
    dots' size is small against their distance to the gates. A 3-D system has no bulk
    kernel, and a bad basis size is refused by name."""
    from femvalley.twoelectron import TwoElectronSolver

    system = coarse_systems["bo2d"]
    screened = TwoElectronSolver(system, n_states=4, kernel="screened").point(0.0)
    bulk = TwoElectronSolver(system, n_states=4, kernel="bulk").point(0.0)
    for a in range(4):
        s, b = screened.coulomb_meV[a, a, a, a].real, bulk.coulomb_meV[a, a, a, a].real
        assert s == pytest.approx(b, rel=0.1)
    np.testing.assert_allclose(screened.states.energies_meV, bulk.states.energies_meV, atol=1e-9)
    with pytest.raises(ValueError, match="kernel = 'bulk' is for the planar models"):
        TwoElectronSolver(coarse_systems["3d"], kernel="bulk")
    with pytest.raises(ValueError, match="n_states = 1"):
        TwoElectronSolver(system, n_states=1)
    with pytest.raises(ValueError, match="kernel = 'yukawa'"):
        TwoElectronSolver(system, kernel="yukawa")


def test_a_study_with_a_two_electron_table_writes_j_against_detuning(tmp_path):
    """[two_electron] in a study: two_electron.h5 (read back equal), two_electron.csv, the
    figure and the ground state's density for ParaView; J among the summary's numbers with
    its basis error as the bound; the store's levels are the CI of the same system again; a
    range across the (1,1) to (2,0) transition gets its singlet anticrossing located."""
    import json

    from femvalley.config import StudyConfig
    from femvalley.study import run_study
    from femvalley.twoelectron import TwoElectronSolver, TwoElectronSweep

    from .conftest import COARSE_STUDY_PARAMS

    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"params": COARSE_STUDY_PARAMS},
            "detuning": {"points": 3},
            "solver": {"n_states": 4},
            "output": {"vtu_states": 1},
            "two_electron": {
                "n_states": 10,
                "points": 3,
                "poisson_order": 1,
                "n_levels": 4,
                "detuning_mV": [0.0, 300.0],
            },
        }
    )
    res = run_study(cfg, out_dir=tmp_path, progress=False)
    sweep = TwoElectronSweep.load(tmp_path / "two_electron.h5")
    np.testing.assert_allclose(sweep.detuning_mV, [0.0, 150.0, 300.0])
    assert sweep.energies_meV.shape == (3, 4) and set(np.unique(sweep.spin)) <= {0, 1}
    assert sweep.attrs["kernel"] == "screened" and sweep.attrs["n_states"] == 10
    # one electron per dot fits in the basis up to 150 mV; at 300 mV all 10 states lie in the
    # lower dot (the (1,1) configurations are missing there, which the summary says)
    assert np.all(sweep.basis_dot_weight[:2] >= 1.0) and sweep.basis_dot_weight[2, 1] < 1.0
    again = TwoElectronSolver(res.system, n_states=10, n_levels=4, poisson_order=1).point(300.0)
    np.testing.assert_allclose(sweep.energies_meV[2], again.spectrum.energies_meV, atol=1e-9)
    assert sweep.exchange_meV[2] == pytest.approx(again.exchange_meV, abs=1e-12)
    assert sweep.double_occupancy[0, 0].sum() < 0.01 < 0.99 < sweep.double_occupancy[2, 0, 0]
    rows = (tmp_path / "two_electron.csv").read_text().splitlines()
    assert rows[0].startswith("detuning_mV,J_ueV,J_error_ueV,E0_meV") and len(rows) == 4
    summary = json.loads((tmp_path / "summary.json").read_text())
    j = summary["numbers"]["exchange"]
    assert j["unit"] == "ueV" and j["at_detuning_mV"] == 150.0
    assert j["solver_bound"] == pytest.approx(1e3 * sweep.exchange_error_meV[1])
    assert "two_electron.png" in summary["figures"]
    assert (tmp_path / "paraview" / "two_electron_density.vtu").is_file()
    part = summary["two_electron"]
    assert part["points"] == 3 and "300 mV" in part["basis_note"]
    (crossing,) = part["charge_anticrossings"]
    assert 0.0 < crossing["detuning_mV"] < 150.0
    assert crossing["double_occupancy"][0] == pytest.approx(0.5, abs=0.05)


def test_two_electron_table_errors_name_the_field():
    from femvalley.config import StudyConfig

    for table, match in (
        ({"n_states": 1}, "two_electron.n_states = 1"),
        ({"n_states": 49}, "two_electron.n_states = 49"),
        ({"kernel": "yukawa"}, "two_electron.kernel = 'yukawa'"),
        ({"poisson_order": 3}, "two_electron.poisson_order = 3"),
        ({"basis": 3}, r"\[two_electron\]: unknown key"),
    ):
        with pytest.raises(ValueError, match=match):
            StudyConfig.from_dict({"model": "bo2d", "two_electron": table})
    with pytest.raises(ValueError, match="kernel = 'bulk' is for the planar models"):
        StudyConfig.from_dict({"model": "3d", "two_electron": {"kernel": "bulk"}})
    cfg = StudyConfig.from_dict({"model": "bo2d", "two_electron": {"n_states": 8}})
    assert StudyConfig.from_dict(cfg.to_dict()).two_electron == cfg.two_electron
    assert "two_electron" not in StudyConfig.from_dict({"model": "bo2d"}).to_dict()


def test_the_charge_transition_to_two_electrons_in_one_dot(coarse_systems):
    """Far enough in detuning both electrons go to the lower dot: the ground state turns from
    (1,1) into a (2,0) (or (0,2)) singlet, whose triplet partner needs the dot's upper valley
    state, so J there is a large fraction of that dot's valley splitting (below it: the two
    valley states share the orbital and the exchange integral lowers the triplet)."""
    from femvalley.twoelectron import TwoElectronSolver

    system = coarse_systems["bo2d"]
    solver = TwoElectronSolver(system, n_states=10, poisson_order=1, n_levels=4)
    assert solver.point(0.0).double_occupancy[0].sum() < 0.01  # (1,1)
    for eps, dot in ((300.0, 0), (-300.0, 1)):
        pt = solver.point(eps)
        assert pt.double_occupancy[0, dot] > 0.99 and pt.spectrum.spin[0] == 0
        e = system.solve(eps).energies_meV
        valley = e[1] - e[0]  # the lower dot's valley splitting (one electron)
        assert 0.5 * valley < pt.exchange_meV < valley


def test_an_ensemble_refuses_a_two_electron_table_by_name():
    from femvalley.config import EnsembleConfig

    with pytest.raises(ValueError, match=r"\[two_electron\] is computed by single studies"):
        EnsembleConfig.from_dict({"two_electron": {}, "ensemble": {"seeds": 2}})


def test_the_charge_anticrossing_of_the_singlets_is_located_with_half_double_occupancy(
    coarse_systems,
):
    """The (1,1) and (2,0) singlets anticross: at the smallest singlet gap the ground singlet
    is an equal superposition (double occupancy of the left dot 1/2), and the gap there is
    smaller than anywhere else in the bracket."""
    from femvalley.twoelectron import TwoElectronSolver

    solver = TwoElectronSolver(coarse_systems["bo2d"], n_states=10, poisson_order=1, n_levels=6)
    ca = solver.charge_anticrossing((20.0, 200.0))
    assert 20.0 < ca.detuning_mV < 200.0
    assert ca.double_occupancy[0] == pytest.approx(0.5, abs=0.05)
    assert ca.double_occupancy[1] < 1e-3
    for eps in (ca.detuning_mV - 5.0, ca.detuning_mV + 5.0):
        spec = solver.point(eps).spectrum
        singlets = spec.energies_meV[spec.spin == 0]
        assert singlets[1] - singlets[0] > 2 * ca.gap_meV


def test_a_failing_two_electron_part_keeps_the_one_electron_study(tmp_path, monkeypatch, capsys):
    """Nothing computed is lost: when the two-electron part fails, the study's summary is
    written with its one-electron numbers and the failure, and the CLI prints it."""
    import json

    import femvalley.study as study_module
    from femvalley.cli import print_numbers
    from femvalley.config import StudyConfig
    from femvalley.study import StudySummary, run_study

    from .conftest import COARSE_STUDY_PARAMS

    def fail(*args, **kwargs):
        raise ValueError("a made-up failure of the CI")

    monkeypatch.setattr(study_module, "two_electron_outputs", fail)
    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"params": COARSE_STUDY_PARAMS},
            "detuning": {"points": 3},
            "solver": {"n_states": 4},
            "output": {"figures": False, "vtu_states": 0},
            "two_electron": {"n_states": 4, "points": 1},
        }
    )
    run_study(cfg, out_dir=tmp_path, progress=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "made-up failure" in summary["two_electron"]["error"]
    assert "lever_arm" in summary["numbers"] and "exchange" not in summary["numbers"]
    capsys.readouterr()
    print_numbers(StudySummary.from_dict(summary))
    assert "two-electron part failed: ValueError: a made-up failure" in capsys.readouterr().out
