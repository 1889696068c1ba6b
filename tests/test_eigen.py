"""Eigensolver backends, warm starts and failure modes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp

from femvalley.eigen import (
    BACKENDS,
    EigenBackend,
    EigenSolverError,
    SweepSolver,
    available_backends,
    dense_backend,
    lobpcg_backend,
    make_backend,
    shift_invert_backend,
    solve,
    solve_matrices,
)
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


# --- backend objects: small factories, the default chosen once, a dense solver swapped in ---


@pytest.fixture(scope="module")
def ops_small():
    mesh = square_mesh(16, 40.0)
    d = 0.1 * np.exp(1j * mesh.p[0] / 10)
    model = two_valley_model(dim=2, delta_meV=d, potential_meV=U2, potential_terms={"offset": 1.0})
    return assemble(model, mesh)


class UserDense:
    """A dense backend written from scratch (no factory), counting its calls."""

    name = "user-dense"
    uses_shift = False

    def __init__(self):
        self.calls = 0

    def __call__(self, h, m, k, *, sigma, tight, n_components, v0, tol, maxiter, timings):
        self.calls += 1
        w, x = la.eigh(h.toarray(), m.toarray(), subset_by_index=(0, k - 1))
        return w, x, float("nan")


class Counting:
    """Wraps a backend: counts its calls, and moves every energy by ``error_meV``."""

    def __init__(self, inner, name, error_meV=0.0):
        self.inner = inner
        self.name = name
        self.uses_shift = inner.uses_shift
        self.error_meV = error_meV
        self.calls = 0

    def __call__(self, h, m, k, **options):
        self.calls += 1
        w, x, shift = self.inner(h, m, k, **options)
        return w + self.error_meV, x, shift


def test_a_user_dense_backend_swapped_into_solve_gives_the_default_energies(ops_small):
    user = UserDense()
    assert isinstance(user, EigenBackend)
    ref = solve(ops_small, k=6)
    res = solve(ops_small, k=6, backend=user)
    assert user.calls == 1
    assert res.backend == "user-dense" and np.isnan(res.shift_meV)
    np.testing.assert_allclose(res.energies_meV, ref.energies_meV, rtol=1e-9)
    np.testing.assert_allclose(res.weights, ref.weights, atol=1e-6)
    assert res.components.shape == ref.components.shape
    bare = solve_matrices(
        ops_small.hamiltonian(), ops_small.mass, k=6, n_components=2, backend=user
    )
    assert user.calls == 2
    np.testing.assert_allclose(bare.energies_meV, ref.energies_meV, rtol=1e-9)


@pytest.mark.parametrize("factory", [dense_backend, lobpcg_backend, shift_invert_backend])
def test_every_factory_backend_agrees_with_its_name(ops_small, factory):
    backend = factory()
    counted = Counting(backend, "counted")
    by_name = solve(ops_small, k=4, backend=backend.name)  # type: ignore[arg-type]
    by_object = solve(ops_small, k=4, backend=counted)
    assert counted.calls == 1 and "retry" not in by_object.timings_s
    assert make_backend(backend.name) == backend
    assert solve(ops_small, k=4, backend=backend).backend == backend.name
    np.testing.assert_allclose(by_object.energies_meV, by_name.energies_meV, rtol=1e-9)


def test_auto_resolves_once_to_cholmod_where_installed_else_superlu(ops_small, monkeypatch):
    import femvalley.eigen.backends as backends
    from femvalley.linalg import cholmod_available

    auto = make_backend("auto")
    assert auto.name == ("cholmod" if cholmod_available() else "superlu")
    assert auto == shift_invert_backend(auto.name)
    assert make_backend(auto) is auto
    assert SweepSolver(ops_small, k=2).backend == auto
    for installed, expected in ((True, "cholmod"), (False, "superlu")):
        monkeypatch.setattr(backends, "cholmod_available", lambda installed=installed: installed)
        assert make_backend("auto").name == expected
    # the object keeps its choice: with availability flipped, a name resolves to the other
    # backend, while solves with the object still use the one chosen at construction
    monkeypatch.setattr(backends, "cholmod_available", lambda: auto.name != "cholmod")
    assert make_backend("auto").name != auto.name
    assert solve(ops_small, k=2, backend=auto).backend == auto.name


@pytest.mark.parametrize("bad", ["arpack", "CHOLMOD", "", None])
def test_an_unknown_backend_name_is_refused_naming_it_and_the_allowed_names(ops_small, bad):
    for make in (
        lambda: make_backend(bad),
        lambda: solve(ops_small, k=2, backend=bad),
        lambda: solve_matrices(ops_small.hamiltonian(), ops_small.mass, k=2, backend=bad),
        lambda: SweepSolver(ops_small, k=2, backend=bad),
    ):
        with pytest.raises(ValueError, match=f"backend = {bad!r}; allowed: ") as err:
            make()
        assert all(name in str(err.value) for name in BACKENDS)
    with pytest.raises(ValueError, match="factorization = 'lobpcg'; allowed: cholmod, superlu"):
        shift_invert_backend("lobpcg")  # type: ignore[arg-type]


def test_cholmod_is_refused_by_name_and_factory_where_it_is_not_installed(monkeypatch):
    import femvalley.eigen.backends as backends

    monkeypatch.setattr(backends, "cholmod_available", lambda: False)
    for make in (lambda: make_backend("cholmod"), lambda: shift_invert_backend("cholmod")):
        with pytest.raises(ValueError, match="backend = 'cholmod' needs scikit-sparse"):
            make()


def test_a_backend_object_with_wrong_pairs_is_retried_like_a_named_backend(ops_small, monkeypatch):
    import femvalley.eigen.backends as backends

    ref = solve(ops_small, k=4, backend="superlu", auto_refine_shift=False)
    sloppy = Counting(shift_invert_backend("superlu"), "sloppy", error_meV=1e-3)
    res = solve(ops_small, k=4, backend=sloppy, auto_refine_shift=False)
    assert sloppy.calls == 1
    assert res.backend == "sloppy" and res.timings_s.get("retry") == 1.0
    np.testing.assert_allclose(res.energies_meV, ref.energies_meV, rtol=1e-9)
    assert np.all(res.residuals < 1e-8)
    # the named backend made just as wrong takes the same path: one retry, the same states
    real = backends.shift_invert

    def off(*args, **kwargs):
        w, x = real(*args, **kwargs)
        return w + 1e-3, x

    monkeypatch.setattr(backends, "shift_invert", off)
    named = solve(ops_small, k=4, backend="superlu", auto_refine_shift=False)
    assert named.timings_s.get("retry") == 1.0 and named.shift_meV == res.shift_meV
    np.testing.assert_allclose(named.energies_meV, res.energies_meV, rtol=1e-9)
    # and when the retry is wrong too, both are refused
    import femvalley.eigen.driver as driver

    monkeypatch.setattr(driver, "shift_invert", off)
    for backend in (sloppy, "superlu"):
        with pytest.raises(EigenSolverError, match="relative residual .* after a retry"):
            solve(ops_small, k=4, backend=backend, auto_refine_shift=False)


def test_a_direct_backend_object_with_wrong_pairs_is_refused_like_dense_without_retry(
    ops_small, monkeypatch
):
    import femvalley.eigen.backends as backends
    import femvalley.eigen.driver as driver

    def no_retry(*args, **kwargs):
        raise AssertionError("a backend without a shift must not be retried")

    monkeypatch.setattr(driver, "shift_invert", no_retry)
    h, m = ops_small.hamiltonian(), ops_small.mass
    sloppy = Counting(UserDense(), "sloppy-dense", error_meV=1e-3)
    with pytest.raises(EigenSolverError, match="backend 'sloppy-dense': .* relative residual"):
        solve_matrices(h, m, k=4, n_components=2, backend=sloppy)
    assert sloppy.calls == 1
    real = backends.dense
    monkeypatch.setattr(backends, "dense", lambda *a: (real(*a)[0] + 1e-3, real(*a)[1]))
    with pytest.raises(EigenSolverError, match="backend 'dense': .* relative residual"):
        solve_matrices(h, m, k=4, n_components=2, backend="dense")


def test_sweep_solver_takes_a_backend_object_and_reuses_its_factorisation(ops_small):
    by_name = SweepSolver(ops_small, k=3, backend="superlu")
    counted = Counting(shift_invert_backend("superlu"), "counted")
    by_object = SweepSolver(ops_small, k=3, backend=counted)
    # a wrapper is no CHOLMOD/SuperLU shift-invert backend: every point is a full solve
    for solver in (by_name, by_object):
        solver.start({"offset": 0.0})
    a = by_name.step({"offset": 0.01})
    b = by_object.step({"offset": 0.01})
    assert a.backend == "superlu+sweep" and a.timings_s["full_solve"] == 0.0
    assert b.backend == "counted+sweep" and counted.calls == 2
    np.testing.assert_allclose(b.energies_meV, a.energies_meV, rtol=1e-9)
    factory = SweepSolver(ops_small, k=3, backend=shift_invert_backend("superlu"))
    factory.start({"offset": 0.0})
    c = factory.step({"offset": 0.01})
    assert c.backend == "superlu+sweep" and c.timings_s["full_solve"] == 0.0
    np.testing.assert_allclose(c.energies_meV, a.energies_meV, rtol=1e-9)
