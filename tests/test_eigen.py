"""Eigensolver backends, warm starts and failure modes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp

from femvalley.eigen import EigenSolverError, available_backends, solve, solve_matrices
from femvalley.kp import assemble, two_valley_model
from femvalley.valley_map import ValleyMapSpec, valley_map_on_nodes

from .conftest import C_T, box_mesh, ho_potential, require_cholmod, square_mesh

U2 = ho_potential((4.0, 6.0), (C_T, C_T))


@pytest.fixture(scope="module")
def ops2d():
    mesh = square_mesh(40, 60.0)
    spec = ValleyMapSpec(
        mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=50.0, nx=40, ny=40, seed=8
    )
    d, _ = valley_map_on_nodes(spec, mesh.p)
    return assemble(two_valley_model(dim=2, delta_meV=d, potential_meV=U2), mesh)


def test_cholmod_is_available_here():
    # CI installs the cholmod extra; the default backend must be the fast one there
    require_cholmod()
    assert "cholmod" in available_backends()


@pytest.mark.parametrize("backend", ["cholmod", "superlu", "lobpcg", "eigsh"])
def test_backends_agree_to_1e9_relative(ops2d, backend):
    if backend == "cholmod":
        require_cholmod()
    ref = solve(ops2d, k=8, backend="superlu", auto_refine_shift=False)
    res = solve(ops2d, k=8, backend=backend)
    assert res.backend == backend
    assert "retry" not in res.timings_s  # the backend converged on its own
    np.testing.assert_allclose(res.energies_meV, ref.energies_meV, rtol=1e-9)
    assert np.all(res.residuals < 1e-8)
    # valley weights are properties of the eigenspace; the pairs here are non-degenerate
    np.testing.assert_allclose(res.weights.sum(axis=1), 1.0, atol=1e-10)
    np.testing.assert_allclose(res.weights, ref.weights, atol=1e-6)


def test_backends_agree_3d_with_dense():
    require_cholmod()
    mesh = box_mesh((6, 5, 3), (40.0, 30.0, 10.0))
    d = 0.3 * np.exp(1j * mesh.p[0] / 9.0)
    for element in ("P1", "P2"):
        ops = assemble(
            two_valley_model(dim=3, delta_meV=d, potential_meV=lambda x: 0.2 * x[2]),
            mesh,
            element=element,
        )
        h = ops.hamiltonian().toarray()
        np.testing.assert_allclose(h, h.conj().T, atol=1e-12)
        dense = la.eigh(h, ops.mass.toarray(), eigvals_only=True)[:6]
        assert ops.spectrum_lower_bound_meV() < dense[0]
        for backend in ("cholmod", "superlu", "dense"):
            res = solve(ops, k=6, backend=backend)
            np.testing.assert_allclose(res.energies_meV, dense, rtol=1e-9)


def test_default_backend_and_refined_shift_below_spectrum(ops2d):
    require_cholmod()
    res = solve(ops2d, k=4)
    assert res.backend == "cholmod"
    bound = ops2d.spectrum_lower_bound_meV()
    assert bound < res.shift_meV < res.energies_meV[0]
    # the refined shift is much closer to E0 than the crude potential bound
    assert res.energies_meV[0] - res.shift_meV < 0.5 * (res.energies_meV[0] - bound)


def test_warm_start_gives_same_states_and_tight_shift(ops2d):
    require_cholmod()
    first = solve(ops2d, k=6, scales=None)
    again = solve(ops2d, k=6, warm_start=first, backend="cholmod")
    np.testing.assert_allclose(again.energies_meV, first.energies_meV, rtol=1e-10)
    assert again.shift_meV < again.energies_meV[0]


def test_components_and_weights_layout(ops2d):
    res = solve(ops2d, k=2)
    comps = res.components
    assert comps.shape == (2, 2, ops2d.basis.N)
    # zero on the Dirichlet boundary
    boundary = np.setdiff1d(np.arange(ops2d.basis.N), ops2d.interior)
    assert np.all(comps[:, :, boundary] == 0)
    # weights from the full arrays with the scalar mass matrix
    from skfem import BilinearForm, asm

    mfull = asm(BilinearForm(lambda u, v, w: u * v), ops2d.basis)
    w0 = np.real(comps[0, 0].conj() @ (mfull @ comps[0, 0]))
    assert w0 == pytest.approx(res.weights[0, 0], abs=1e-10)
    # <tau_z> of the pair: opposite in sign for a generic map
    assert abs(res.valley_polarization[0]) <= 1.0


def test_k_too_large_raises():
    mesh = square_mesh(3, 10.0)
    ops = assemble(two_valley_model(dim=2, delta_meV=0.1, potential_meV=0.0), mesh)
    assert ops.ndof == 8
    with pytest.raises(ValueError, match="k = 9 is too large"):
        solve(ops, k=9, backend="dense")
    with pytest.raises(ValueError, match="k = 8 is too large"):
        solve(ops, k=8, backend="superlu")
    with pytest.raises(ValueError, match="k = 0"):
        solve(ops, k=0)
    res = solve(ops, k=8, backend="dense")
    assert res.energies_meV.shape == (8,)


def test_bad_backend_and_scales_raise(ops2d):
    with pytest.raises(ValueError, match="backend = 'arpack'"):
        solve(ops2d, k=2, backend="arpack")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown Hamiltonian term 'P5'"):
        solve(ops2d, k=2, scales={"P5": 0.1})


def test_arpack_nonconvergence_is_retried(ops2d):
    ref = solve(ops2d, k=6, backend="superlu")
    res = solve(ops2d, k=6, backend="superlu", maxiter=1, auto_refine_shift=False)
    assert res.timings_s.get("retry") == 1.0
    np.testing.assert_allclose(res.energies_meV, ref.energies_meV, rtol=1e-9)


def test_unconverged_states_are_never_returned(ops2d, monkeypatch):
    import femvalley.eigen.backends as backends
    import femvalley.eigen.driver as driver

    real = backends.shift_invert

    def sloppy(*args, **kwargs):
        w, x = real(*args, **kwargs)
        return w + 1e-3, x  # eigenvalues off: residuals are large

    # the backend's own solve and the driver's retry both use it
    monkeypatch.setattr(backends, "shift_invert", sloppy)
    monkeypatch.setattr(driver, "shift_invert", sloppy)
    with pytest.raises(EigenSolverError, match="relative residual"):
        solve(ops2d, k=4, backend="superlu")


def test_indefinite_mass_raises():
    n = 40
    h = sp.diags(np.arange(1.0, n + 1))
    m = sp.diags(np.r_[np.ones(n - 1), -1.0])
    with pytest.raises(EigenSolverError):
        solve_matrices(h, m, k=3, backend="superlu", shift_meV=0.0, maxiter=5)


def test_solve_matrices_plain_pencil():
    n = 60
    main = 2 * np.ones(n)
    off = -np.ones(n - 1)
    h = sp.diags([off, main, off], [-1, 0, 1]) * (n + 1) ** 2
    m = sp.identity(n)
    res = solve_matrices(h, m, k=3, backend="superlu")
    exact = 4 * (n + 1) ** 2 * np.sin(np.arange(1, 4) * np.pi / (2 * (n + 1))) ** 2
    np.testing.assert_allclose(res.energies_meV, exact, rtol=1e-10)


def test_warm_start_from_higher_spectrum_rejects_tight_shift():
    """A warm start whose energies lie above the new spectrum must not hide lower states."""
    require_cholmod()
    mesh = square_mesh(40, 60.0)
    ops = assemble(
        two_valley_model(dim=2, delta_meV=0.05, potential_meV=U2, potential_terms={"offset": 1.0}),
        mesh,
    )
    high = solve(ops, k=4, scales={"offset": 0.0}, backend="cholmod")
    low = solve(ops, k=4, scales={"offset": -5.0}, backend="cholmod", warm_start=high)
    assert low.timings_s.get("tight_shift_rejected") == 1.0
    np.testing.assert_allclose(low.energies_meV, high.energies_meV - 5.0, rtol=1e-10)
    # the other way round the tight shift is accepted and proven below the spectrum
    again = solve(ops, k=4, scales={"offset": 0.0}, backend="cholmod", warm_start=low)
    assert "tight_shift_rejected" not in again.timings_s
    np.testing.assert_allclose(again.energies_meV, high.energies_meV, rtol=1e-10)


def test_with_constant_equals_reassembly():
    mesh = square_mesh(16, 40.0)
    d1 = 0.1 * np.exp(1j * mesh.p[0] / 10)
    d2 = 0.2 * np.exp(-1j * mesh.p[1] / 7)
    a = assemble(two_valley_model(dim=2, delta_meV=d1, potential_meV=U2), mesh)
    b = assemble(two_valley_model(dim=2, delta_meV=d2, potential_meV=U2), mesh)
    c = a.with_constant(b.model.constant)
    assert abs(c.hamiltonian() - b.hamiltonian()).max() < 1e-14
    assert c.constant_min_eig_meV == pytest.approx(-0.2)
    # the original is unchanged
    assert abs(a.hamiltonian() - c.hamiltonian()).max() > 1e-3


def test_p2_callable_constant_term_matches_node_array():
    mesh = square_mesh(10, 40.0)

    def delta(x):
        return 0.1 * np.exp(1j * x[0] / 10)

    a = assemble(two_valley_model(dim=2, delta_meV=delta, potential_meV=U2), mesh, element="P2")
    ea = solve(a, k=4, backend="superlu").energies_meV
    # constant Delta on P2: exact splitting of 2 * 0.1 for every pair
    b = assemble(
        two_valley_model(dim=2, delta_meV=lambda x: 0.1 + 0 * x[0], potential_meV=U2),
        mesh,
        element="P2",
    )
    eb = solve(b, k=4, backend="superlu").energies_meV
    assert eb[1] - eb[0] == pytest.approx(0.2, rel=1e-9)
    assert 0 < ea[1] - ea[0] < 0.2


def test_shift_above_spectrum_is_refused_by_cholmod(ops2d):
    require_cholmod()
    ref = solve(ops2d, k=2, backend="cholmod")
    with pytest.raises(EigenSolverError, match="not below the spectrum"):
        solve(ops2d, k=2, backend="cholmod", shift_meV=ref.energies_meV[1] + 0.5)


def test_pure_scipy_fallback_without_cholmod(ops2d, monkeypatch):
    require_cholmod()
    import femvalley.eigen.backends as backends

    ref = solve(ops2d, k=4, backend="cholmod")
    monkeypatch.setattr(
        backends, "available_backends", lambda: ["superlu", "lobpcg", "eigsh", "dense"]
    )
    res = solve(ops2d, k=4)
    assert res.backend == "superlu"
    np.testing.assert_allclose(res.energies_meV, ref.energies_meV, rtol=1e-9)
    with pytest.raises(ValueError, match="scikit-sparse"):
        solve(ops2d, k=4, backend="cholmod")


def test_dense_backend_refuses_large_problems():
    n = 20001
    h = sp.identity(n, format="csr")
    with pytest.raises(ValueError, match="backend = 'dense' with 20001"):
        solve_matrices(h, h, k=1, backend="dense")
