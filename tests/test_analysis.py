"""State observables against a displaced harmonic oscillator (closed form)."""

from __future__ import annotations

import numpy as np
import pytest

from femvalley.analysis import StateObservables
from femvalley.eigen import solve
from femvalley.kp import assemble, make_basis, two_valley_model

from .conftest import C_T, square_mesh

HW = (2.0, 3.0)  # meV
X0 = -70.0 + 35 * 140.0 / 64  # nm: a grid line (6.5625), where the dot regions meet


def test_displaced_oscillator_centre_size_and_dot_weights():
    mesh = square_mesh(64, 70.0)
    mid = mesh.p[:, mesh.t].mean(axis=1)
    mesh = mesh.with_subdomains(
        {"dot_L": np.nonzero(mid[0] < X0)[0], "dot_R": np.nonzero(mid[0] >= X0)[0]}
    )

    def u(x):
        return HW[0] ** 2 * (x[0] - X0) ** 2 / (4 * C_T) + HW[1] ** 2 * x[1] ** 2 / (4 * C_T)

    basis = make_basis(mesh, element="P2")
    ops = assemble(two_valley_model(dim=2, delta_meV=0.05, potential_meV=u), basis)
    res = solve(ops, k=2)
    obs = StateObservables(basis)(res)
    # ground state |psi|^2 is a Gaussian centred at (X0, 0) with std l_a / sqrt(2),
    # l_a^2 = hbar / (m w_a) = 2 c / (hbar w_a)
    for s in range(2):  # both valley states of the ground orbital
        assert obs["x_mean_nm"][s] == pytest.approx(X0, abs=1e-3)
        assert obs["y_mean_nm"][s] == pytest.approx(0.0, abs=1e-3)
        assert obs["x_std_nm"][s] == pytest.approx(np.sqrt(C_T / HW[0]), rel=2e-3)
        assert obs["y_std_nm"][s] == pytest.approx(np.sqrt(C_T / HW[1]), rel=2e-3)
        # the dots split the plane at the centre: half each, summing to one
        np.testing.assert_allclose(obs["dot_weight"][s], [0.5, 0.5], atol=2e-3)
        assert obs["dot_weight"][s].sum() == pytest.approx(1.0, abs=1e-12)
    # a real uniform Delta mixes the valleys equally: no polarisation
    np.testing.assert_allclose(obs["valley_polarization"], 0.0, atol=1e-9)


def test_missing_dot_region_is_named():
    mesh = square_mesh(4, 10.0)
    with pytest.raises(ValueError, match="dot_L"):
        StateObservables(make_basis(mesh))


def _model_data(params, eps):
    """Energies and dot weights of the two-dot model itself (exact synthetic data)."""
    from femvalley.analysis import two_dot_model_meV

    e = two_dot_model_meV(eps, params)
    mean, slope, lever, eps0, evl, evr, t, dphi = params
    w = np.empty((eps.size, 4, 2))
    s = np.array([-1.0, 1.0])
    tun = 0.5 * t * (1 + np.outer(s, s) * np.exp(1j * dphi))
    for p, x in enumerate(eps - eps0):
        h = np.diag(
            [
                mean + slope * x - lever * x / 2 - evl / 2,
                mean + slope * x - lever * x / 2 + evl / 2,
                mean + slope * x + lever * x / 2 - evr / 2,
                mean + slope * x + lever * x / 2 + evr / 2,
            ]
        ).astype(complex)
        h[:2, 2:] = tun
        h[2:, :2] = tun.conj().T
        _, v = np.linalg.eigh(h)
        w[p, :, 0] = np.sum(np.abs(v[:2]) ** 2, axis=0)
        w[p, :, 1] = np.sum(np.abs(v[2:]) ** 2, axis=0)
    return e, w


@pytest.mark.parametrize("dphi", [0.3, 2.0])
def test_anticrossing_fit_recovers_the_model(dphi):
    from femvalley.analysis import fit_anticrossing

    truth = (-12.0, -0.02, 0.04, 0.7, 0.23, 0.26, 0.006, dphi)
    eps = np.linspace(-10, 10, 21)
    e, w = _model_data(truth, eps)
    fit = fit_anticrossing(eps, e, w)
    t_eff = truth[6] * abs(np.cos(dphi / 2))
    assert fit.tunnel_coupling_ueV == pytest.approx(1e3 * t_eff, rel=1e-5)
    assert fit.lever_arm_meV_per_mV == pytest.approx(0.04, rel=1e-6)
    assert fit.params[3] == pytest.approx(0.7, abs=1e-5)  # bare levels aligned
    # the lowest anticrossing: lower valley states aligned, (E_VR - E_VL) / (2 lever) further
    # (to second order in t: the upper valley states push it by ~1e-5 mV)
    assert fit.detuning_offset_mV == pytest.approx(0.7 + 0.03 / 0.08, abs=1e-3)
    assert fit.valley_splitting_ueV["dot_L"] == pytest.approx(230.0, rel=1e-6)
    assert fit.valley_splitting_ueV["dot_R"] == pytest.approx(260.0, rel=1e-6)
    assert fit.rms_residual_ueV < 1e-3
    # the smallest gap of the lowest anticrossing is 2 t (valley splittings >> t)
    assert fit.min_gap_ueV == pytest.approx(2e3 * t_eff, rel=1e-3)


def test_anticrossing_fit_rejects_bad_shapes():
    from femvalley.analysis import fit_anticrossing

    eps = np.linspace(-1, 1, 5)
    with pytest.raises(ValueError, match="energies_meV"):
        fit_anticrossing(eps, np.zeros((5, 3)), np.zeros((5, 3, 2)))
    with pytest.raises(ValueError, match="dot_weight"):
        fit_anticrossing(eps, np.zeros((5, 4)), np.zeros((5, 4)))


@pytest.mark.parametrize("t_meV", [1e-6, 1e-3, 0.2])
def test_minimum_gap_finds_narrow_anticrossings_exactly(t_meV):
    """Two levels crossing with slope 0.04 meV/mV, coupled by t: the gap is 2 t at x0."""
    from femvalley.analysis import minimum_gap

    x0 = 37.21

    def gap(x):
        h = np.array([[0.02 * (x - x0), t_meV], [t_meV, -0.02 * (x - x0)]])
        e = np.linalg.eigvalsh(h)
        return e[1] - e[0]

    mg = minimum_gap(gap, bracket_mV=(-100.0, 100.0))
    assert mg.tunnel_coupling_meV == pytest.approx(t_meV, rel=1e-6)
    assert mg.at_mV == pytest.approx(x0, abs=1e-4)
    assert mg.evaluations <= 10  # a bracketing minimiser on |x - x0| would need ~40
    with pytest.raises(ValueError, match="outside"):
        minimum_gap(gap, bracket_mV=(-100.0, 0.0))
    with pytest.raises(ValueError, match="bracket_mV"):
        minimum_gap(gap, bracket_mV=(1.0, 1.0))


@pytest.mark.parametrize("t_meV", [1e-9, 1e-7, 1e-5])
def test_minimum_gap_resolves_couplings_far_below_the_position_tolerance(t_meV):
    """A third level bends the hyperbola (as in a device): the smallest gap must still be
    2 t to 1e-6 relative when the anticrossing is 1e-8 mV wide (t = 1e-6 ueV)."""
    from scipy.optimize import brentq

    from femvalley.analysis import minimum_gap

    x0, a = 3.3, 0.04

    def h(x):
        return np.array(
            [
                [0.5 * a * (x - x0), t_meV, 0.3],
                [t_meV, -0.5 * a * (x - x0), 0.0],
                [0.3, 0.0, 1.5 + 0.01 * x],
            ]
        )

    def gap(x):
        e = np.linalg.eigvalsh(h(x))
        return e[1] - e[0]

    def dgap(x):  # Hellmann-Feynman, an independent location of the minimum
        e, v = np.linalg.eigh(h(x))
        d = np.diag([0.5 * a, -0.5 * a, 0.01])
        return v[:, 1] @ d @ v[:, 1] - v[:, 0] @ d @ v[:, 0]

    shift = 0.3**2 / 1.5  # the third level pushes the first down: the crossing moves
    lo, hi = x0 - 4 * shift / a, x0 + 4 * shift / a
    exact_x = brentq(dgap, lo, hi, xtol=1e-15)
    mg = minimum_gap(gap, bracket_mV=(-100.0, 100.0))
    assert mg.gap_meV == pytest.approx(gap(exact_x), rel=1e-6)
    assert mg.gap_meV == pytest.approx(2 * t_meV, rel=2e-2)


def test_observables_from_reduced_coefficients_equal_those_on_the_mesh():
    """ProjectedObservables (matrices projected once onto a single-valley basis) gives the
    numbers StateObservables computes from the expanded states, at every point."""
    from femvalley.analysis import ProjectedObservables
    from femvalley.rb import build_single_valley_basis

    mesh = square_mesh(40, 70.0)
    mid = mesh.p[:, mesh.t].mean(axis=1)
    mesh = mesh.with_subdomains(
        {"dot_L": np.nonzero(mid[0] < 0)[0], "dot_R": np.nonzero(mid[0] >= 0)[0]}
    )
    x, y = mesh.p
    d = np.minimum((x + 30.0) ** 2, (x - 30.0) ** 2)
    u = (3.0**2 * (d + y**2) / (4 * C_T)).astype(float)
    rng = np.random.default_rng(4)
    delta = 0.05 * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
    term = 0.02 * x  # meV per mV of detuning
    basis = make_basis(mesh)
    ops = assemble(
        two_valley_model(
            dim=2, delta_meV=delta, potential_meV=u, potential_terms={"detuning": term}
        ),
        basis,
    )
    points = [{"detuning": e} for e in np.linspace(-5.0, 5.0, 7)]
    rb, _ = build_single_valley_basis(ops, points, delta_meV=delta, k=4)
    full = StateObservables(basis, delta_meV=delta, terms={"detuning": term})
    projected = ProjectedObservables.project(full, rb)
    for p in points:
        sol = rb.solve(p)  # certified or not: the identity holds for any Ritz vectors
        want, got = full(sol.result), projected(sol)
        assert set(got) == set(want)
        for name in want:
            scale = max(float(np.max(np.abs(want[name]))), 1e-12)
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-11 * scale)
        # the states of the stored files: the same as the solve's own expanded vectors
        np.testing.assert_allclose(
            rb.components(sol.coefficients), sol.result.components, rtol=0, atol=1e-12
        )
