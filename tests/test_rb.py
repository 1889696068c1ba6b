"""Certified reduced-basis sweeps: the bounds bound the errors against full solves."""

from __future__ import annotations

import numpy as np
import pytest

from femvalley.eigen import solve
from femvalley.kp import CouplingAssembler, assemble, two_valley_model
from femvalley.rb import (
    Snapshot,
    TwoValleyBasis,
    build_single_valley_basis,
    build_two_valley_basis,
    full_snapshot,
)
from femvalley.valley_map import ValleyMapSpec, valley_map_on_nodes

from .conftest import C_T, square_mesh

K = 4  # two dots x two valleys; the excited orbitals are 4 meV higher
EPS = np.linspace(-8.0, 8.0, 17)  # detuning, mV
LEVER = 0.02  # meV/mV per nm of x


def _double_dot(x):
    """Two harmonic dots (hbar w = 4 meV) centred at x = -25 and +25 nm."""
    hw = 4.0
    d = np.minimum((x[0] + 25.0) ** 2, (x[0] - 25.0) ** 2)
    return hw**2 * (d + x[1] ** 2) / (4.0 * C_T)


@pytest.fixture(scope="module")
def ops():
    mesh = square_mesh(30, 60.0)
    spec = ValleyMapSpec(
        mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=60.0, nx=40, ny=40, seed=3
    )
    d, _ = valley_map_on_nodes(spec, mesh.p)
    tilt = -LEVER * mesh.p[0] / 25.0  # meV per mV: lowers the right dot for eps > 0
    model = two_valley_model(
        dim=2, delta_meV=d, potential_meV=_double_dot, potential_terms={"detuning": tilt}
    )
    return assemble(model, mesh)


@pytest.fixture(scope="module")
def exact(ops):
    """Full shift-invert solves (relative residual 1e-8: energies to about 1e-10 meV)."""
    return {
        e: solve(ops, k=K, scales={"detuning": float(e)}, residual_tol=1e-10).energies_meV
        for e in EPS
    }


@pytest.fixture(scope="module")
def greedy(ops):
    return build_two_valley_basis(ops, [{"detuning": e} for e in EPS], k=K, guard=3)


def test_greedy_basis_certifies_every_point(greedy):
    rb, bad = greedy
    assert bad == []
    assert 2 <= len(rb.snapshots) <= 8
    assert rb.size <= sum(s.vectors.shape[1] for s in rb.snapshots)


def test_bounds_bound_the_errors_against_full_solves(ops, greedy, exact):
    rb, _ = greedy
    for e in EPS:
        sol = rb.solve({"detuning": float(e)})
        err = sol.energies_meV - exact[e]
        assert sol.certified
        assert sol.error_bound_meV <= 1e-3
        # Ritz values are upper bounds; the certificate bounds them from below
        assert np.all(err >= -1e-9)
        assert np.all(np.abs(err) <= sol.error_bound_meV + 1e-9)
        # residual of each pair below the linear bound, which the reported bound improves on
        assert np.all(sol.residual_meV <= sol.residual_meV.max() + 1e-15)


def test_between_sweep_points_too(ops, greedy):
    rb, _ = greedy
    for e in (-7.3, 0.05, 3.3):
        sol = rb.solve({"detuning": e})
        ref = solve(ops, k=K, scales={"detuning": e}, residual_tol=1e-10)
        assert sol.certified
        assert np.max(np.abs(sol.energies_meV - ref.energies_meV)) <= sol.error_bound_meV + 1e-9


def test_states_are_m_orthonormal_and_follow_the_detuning(ops, greedy):
    rb, _ = greedy
    for e, side in ((-8.0, -1), (8.0, 1)):
        res = rb.solve({"detuning": e}).result
        g = res.vectors.conj().T @ (ops.mass @ res.vectors)
        np.testing.assert_allclose(g, np.eye(K), atol=1e-10)
        dens = np.sum(np.abs(res.components[0]) ** 2, axis=0)
        x = ops.basis.mesh.p[0]
        # the ground state sits in the lower dot: left for eps < 0, right for eps > 0
        assert np.sign(np.sum(dens * x)) == side


def test_missing_states_are_not_certified(ops, exact):
    # one snapshot at the left end holds the left-dot states; at the right end the right dot
    # is lowest and absent from the basis: the Ritz values are far off, and the certificate
    # must say so (the count bound from the snapshot cannot exclude the missing states)
    snap = full_snapshot(ops, {"detuning": -8.0}, k=2, guard=1)
    rb = TwoValleyBasis(ops, [snap], k=2)
    sol = rb.solve({"detuning": 8.0})
    true_err = np.max(np.abs(sol.energies_meV - exact[8.0][:2]))
    assert true_err > 1e-2
    assert not sol.certified
    assert not sol.error_bound_meV <= true_err * 0.999  # never claims less than the error
    # with a snapshot limit of one, the greedy builder reports the points it cannot certify
    rb1, bad = build_two_valley_basis(
        ops, [{"detuning": e} for e in EPS], k=2, guard=1, initial=[0], max_snapshots=1
    )
    assert EPS.size - 1 in bad


def test_uniform_valley_coupling_splits_every_orbital_by_two_delta(ops):
    # uniform Delta: the levels are the single-valley orbitals +- |Delta| (docs/references.md)
    delta = 0.07 * np.exp(0.4j)
    uni = ops.with_constant(np.array([[0, delta], [np.conj(delta), 0]]))
    zero = ops.with_constant(np.zeros((2, 2)))
    points = [{"detuning": float(e)} for e in EPS[::4]]
    rb, bad = build_two_valley_basis(uni, points, k=K, guard=2)
    assert bad == []
    for p in points:
        orbitals = solve(zero, k=2 * K, scales=p, residual_tol=1e-10).energies_meV[0::2]
        want = np.sort(np.concatenate([orbitals - abs(delta), orbitals + abs(delta)]))[:K]
        sol = rb.solve(p)
        np.testing.assert_allclose(sol.energies_meV, want, atol=sol.error_bound_meV + 1e-9)


def test_bad_inputs_name_the_field(ops):
    snap = full_snapshot(ops, {"detuning": 0.0}, k=2, guard=1)
    with pytest.raises(ValueError, match="k \\+ 1"):
        TwoValleyBasis(ops, [snap], k=3)
    with pytest.raises(ValueError, match="snapshots is empty"):
        TwoValleyBasis(ops, [], k=2)
    with pytest.raises(ValueError, match="tolerance_meV"):
        TwoValleyBasis(ops, [snap], k=2, tolerance_meV=0.0)
    with pytest.raises(ValueError, match="unknown terms"):
        TwoValleyBasis(ops, [Snapshot(scales={"plunger": 1.0}, **_arrays(snap))], k=2)
    with pytest.raises(ValueError, match="guard"):
        build_two_valley_basis(ops, [{"detuning": 0.0}], k=2, guard=0)
    with pytest.raises(ValueError, match="unknown Hamiltonian term"):
        TwoValleyBasis(ops, [snap], k=2).solve({"plunger": 1.0})


def _arrays(s: Snapshot) -> dict:
    return {"energies_meV": s.energies_meV, "vectors": s.vectors}


# -- the single-valley basis ------------------------------------------------------------------
@pytest.fixture(scope="module")
def valley_basis(ops):
    d = ops.model.constant  # (nvertices, 2, 2): the seed-3 map
    delta = np.asarray(d)[:, 0, 1]
    return build_single_valley_basis(ops, [{"detuning": e} for e in EPS], delta_meV=delta, k=K)


def test_coupling_assembler_equals_the_assembled_block():
    # P1 and P2 on triangles, P1 and P2 on tetrahedra, Delta at the DOFs and at the vertices:
    # the sparse map reproduces assemble()
    from .conftest import box_mesh

    for mesh, element in (
        (square_mesh(6, 20.0), "P1"),
        (square_mesh(4, 20.0), "P2"),
        (box_mesh((3, 3, 2), (20.0, 20.0, 6.0)), "P1"),
        (box_mesh((2, 2, 2), (20.0, 20.0, 6.0)), "P2"),
    ):
        for nodes in ("dofs", "vertices"):
            _check_coupling(mesh, element, nodes)


def _check_coupling(mesh, element, nodes):
    from femvalley.kp import make_basis

    basis = make_basis(mesh, element=element)
    n = basis.N if nodes == "dofs" else mesh.nvertices
    rng = np.random.default_rng(0)
    delta = rng.normal(size=n) + 1j * rng.normal(size=n)
    model = two_valley_model(dim=mesh.p.shape[0], delta_meV=delta, potential_meV=0.0)
    ops = assemble(model, basis)
    ni = ops.interior.size
    coupling = CouplingAssembler(ops.basis, ops.interior, nodes=nodes)
    assert coupling.nnodes == n
    b = coupling.matrix(delta)
    assert abs(b - ops.constant[:ni, ni:]).max() <= 1e-14 * abs(b).max()
    assert abs(b.conj().T - ops.constant[ni:, :ni]).max() <= 1e-14 * abs(b).max()
    if element == "P2":  # the other kind of node values is refused, naming what it needs
        other = mesh.nvertices if nodes == "dofs" else basis.N
        where = "DOF of the basis" if nodes == "dofs" else "mesh vertex"
        with pytest.raises(ValueError, match=rf"need \({n},\) \(one per {where}\)"):
            coupling.matrix(np.zeros(other))


@pytest.mark.parametrize("dim", [2, 3])
def test_lebesgue_constant_bounds_the_p2_interpolant_and_is_reached(dim):
    # max over the element of sum_i |phi_i| by dense sampling of barycentric coordinates
    from femvalley.kp import lebesgue_constant, make_basis

    from .conftest import box_mesh

    mesh = square_mesh(2, 1.0) if dim == 2 else box_mesh((1, 1, 1), (1.0, 1.0, 1.0))
    rng = np.random.default_rng(1)
    lam = np.vstack(
        [rng.dirichlet(np.ones(dim + 1), size=200_000), np.full(dim + 1, 1 / (dim + 1))]
    )
    total = np.abs(lam * (2 * lam - 1)).sum(axis=1)
    for i in range(dim + 1):
        for j in range(i + 1, dim + 1):
            total += 4 * lam[:, i] * lam[:, j]
    want = lebesgue_constant(make_basis(mesh, element="P2"))
    assert total.max() == pytest.approx(want, rel=1e-12)  # reached at the centroid
    assert lebesgue_constant(make_basis(mesh, element="P1")) == 1.0


def test_p2_valley_basis_with_delta_at_every_dof_matches_full_solves():
    # a P2 double dot whose Delta lives on every DOF: the reduced basis, its certificate and a
    # new map all agree with full solves of the same operators
    from femvalley.kp import make_basis

    mesh = square_mesh(10, 60.0)
    basis = make_basis(mesh, element="P2")
    x = basis.doflocs
    delta = 0.06 * np.exp(1j * x[0] / 9.0) * (1 + 0.3 * np.cos(x[1] / 7.0))
    tilt = -LEVER * x[0] / 25.0
    model = two_valley_model(
        dim=2, delta_meV=delta, potential_meV=_double_dot, potential_terms={"detuning": tilt}
    )
    ops = assemble(model, basis)
    vb, bad = build_single_valley_basis(
        ops, [{"detuning": e} for e in (-2.0, 0.0, 2.0)], delta_meV=delta, k=4
    )
    assert bad == [] and vb.coupling.nnodes == basis.N
    # the Weyl bound uses the P2 interpolant's largest value: 5/3 of the largest node value
    assert vb.couple.min_eig_meV == pytest.approx(-5.0 / 3.0 * np.abs(delta).max())
    other = 0.05 * np.exp(-1j * x[1] / 5.0)
    for d in (delta, other):
        rb = vb.with_valley_coupling(d)
        full = rb.full_operators()
        for e in (-2.0, 1.0):
            sol = rb.solve({"detuning": e})
            ref = solve(full, k=4, scales={"detuning": e}, residual_tol=1e-10)
            assert sol.certified
            assert np.all(np.abs(sol.energies_meV - ref.energies_meV) <= sol.error_bound_meV + 1e-9)
    with pytest.raises(
        ValueError, match=rf"need \({basis.N},\) \(one value per DOF of the basis\)"
    ):
        vb.with_valley_coupling(delta[: mesh.nvertices])


def test_valley_basis_certifies_and_bounds_the_errors(ops, valley_basis, exact):
    vb, bad = valley_basis
    assert bad == []
    # real orbitals, fewer snapshots than points; each point a 2m x 2m problem
    assert vb.size <= 2 * sum(s.vectors.shape[1] for s in vb.snapshots)
    assert all(np.isrealobj(s.vectors) for s in vb.snapshots)
    worst = 0.0
    for e in EPS:
        sol = vb.solve({"detuning": float(e)})
        err = sol.energies_meV - exact[e]
        assert sol.certified and sol.error_bound_meV <= 1e-3
        assert np.all(err >= -1e-9)  # Ritz values bound the eigenvalues from above
        assert np.all(err <= sol.error_bound_meV + 1e-9)
        worst = max(worst, float(err.max()))
    assert worst > 0.0  # the basis is not exact, so the test could fail


def test_a_new_seed_only_reprojects_the_coupling(ops, valley_basis):
    vb, _ = valley_basis
    spec = ValleyMapSpec(
        mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=60.0, nx=40, ny=40, seed=11
    )
    d11, _ = valley_map_on_nodes(spec, ops.basis.mesh.p)
    new = vb.with_valley_coupling(d11)
    assert new.parts is vb.parts  # the orbitals and their projections are shared
    full = new.full_operators()
    for e in (-8.0, 0.0, 5.0):
        sol = new.solve({"detuning": e})
        ref = solve(full, k=K, scales={"detuning": e}, residual_tol=1e-10)
        assert sol.certified
        err = sol.energies_meV - ref.energies_meV
        assert np.all(np.abs(err) <= sol.error_bound_meV + 1e-9)
        # and it differs from the old seed's spectrum (the coupling really changed)
        assert np.max(np.abs(sol.energies_meV - vb.solve({"detuning": e}).energies_meV)) > 1e-3
    # reduced coefficients give the same valley weights as the vectors
    sol = new.solve({"detuning": 0.0}, vectors=False)
    np.testing.assert_allclose(sol.result.weights, new.solve({"detuning": 0.0}).result.weights)


def test_valley_basis_uniform_coupling_is_exact_pairs(ops):
    delta = 0.07 * np.exp(0.4j)
    nodes = np.full(ops.basis.mesh.nvertices, delta)
    vb, bad = build_single_valley_basis(ops, [{"detuning": 0.0}], delta_meV=nodes, k=K)
    zero = ops.with_constant(np.zeros((2, 2)))
    orbitals = solve(zero, k=2 * K, scales={"detuning": 0.0}, residual_tol=1e-10).energies_meV
    want = np.sort(np.concatenate([orbitals[0::2] - abs(delta), orbitals[0::2] + abs(delta)]))
    sol = vb.solve({"detuning": 0.0})
    assert bad == []
    # uniform Delta does not mix orbitals: the span of the orbitals is exact
    np.testing.assert_allclose(sol.energies_meV, want[:K], atol=1e-9)


def test_valley_basis_refuses_missing_states(ops, exact):
    # orbitals of the left end only: at the right end the count bound cannot hold
    delta = np.asarray(ops.model.constant)[:, 0, 1]
    vb, bad = build_single_valley_basis(
        ops,
        [{"detuning": e} for e in EPS],
        delta_meV=delta,
        k=2,
        orbitals=2,
        initial=[0],
        max_snapshots=1,
    )
    assert EPS.size - 1 in bad
    sol = vb.solve({"detuning": 8.0})
    assert not sol.certified
    assert not sol.error_bound_meV <= np.max(np.abs(sol.energies_meV - exact[8.0][:2]))
    with pytest.raises(ValueError, match="orbitals"):
        build_single_valley_basis(ops, [{"detuning": 0.0}], delta_meV=delta, k=4, orbitals=2)
    with pytest.raises(ValueError, match="delta_meV has shape"):
        vb.with_valley_coupling(delta[:-1])
