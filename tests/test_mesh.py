"""meshio -> scikit-fem conversion with tags, sub-meshes and their node maps."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
from skfem import MeshTri

from femvalley.mesh import element_values, from_meshio, require_groups, submesh


def _two_region_meshio(extra_point: bool = False):
    """Unit-square-like 2-D mesh: 'lower' (y < 10) and 'upper' regions, tagged lines."""
    base = MeshTri.init_tensor(np.linspace(0, 30, 7), np.linspace(0, 20, 5))
    p = base.p.T
    t = base.t.T
    mid = p[t].mean(axis=1)
    lower = np.nonzero(mid[:, 1] < 10)[0]
    upper = np.nonzero(mid[:, 1] >= 10)[0]
    # tagged lines: the bottom edge (a gate) and the interior interface y = 10
    edges = base.facets.T
    emid = p[edges].mean(axis=1)
    bottom = edges[np.isclose(emid[:, 1], 0.0) & np.isclose(p[edges][:, :, 1], 0).all(axis=1)]
    iface = edges[np.isclose(p[edges][:, :, 1], 10.0).all(axis=1)]
    points = np.column_stack([p, np.zeros(len(p))])
    if extra_point:
        points = np.vstack([points, [[99.0, 99.0, 0.0]]])  # a geometry point no cell uses
    lines = np.vstack([bottom, iface])
    cells = [meshio.CellBlock("triangle", t), meshio.CellBlock("line", lines)]
    ntri, nb, ni = len(t), len(bottom), len(iface)
    cell_sets = {
        "lower": [lower, np.array([], dtype=int)],
        "upper": [upper, np.array([], dtype=int)],
        "back_gate": [np.array([], dtype=int), np.arange(nb)],
        "interface": [np.array([], dtype=int), nb + np.arange(ni)],
    }
    assert ntri == len(lower) + len(upper)
    return meshio.Mesh(points, cells, cell_sets=cell_sets), len(bottom), len(iface)


def test_from_meshio_keeps_regions_and_boundaries():
    m, nb, ni = _two_region_meshio(extra_point=True)
    mesh = from_meshio(m, dim=2)
    assert mesh.p.shape == (2, 35)  # the orphan point is gone, z dropped
    assert set(mesh.subdomains) == {"lower", "upper"}
    assert set(mesh.boundaries) >= {"back_gate", "interface"}
    assert len(mesh.boundaries["back_gate"]) == nb
    assert len(mesh.boundaries["interface"]) == ni
    # the interface facets really lie at y = 10 and the gate at y = 0
    fy = mesh.p[1, mesh.facets]
    assert np.allclose(fy[:, mesh.boundaries["interface"]], 10.0)
    assert np.allclose(fy[:, mesh.boundaries["back_gate"]], 0.0)
    # measured areas of the regions
    from skfem import Basis, ElementTriP0, Functional

    area = Functional(lambda w: 1.0 + 0 * w.x[0])
    b = Basis(mesh, ElementTriP0())
    a_lower = area.assemble(Basis(mesh, ElementTriP0(), elements=mesh.subdomains["lower"]))
    assert a_lower == pytest.approx(30 * 10)
    assert area.assemble(b) == pytest.approx(30 * 20)


def test_missing_group_names_it_and_lists_present():
    m, _, _ = _two_region_meshio()
    mesh = from_meshio(m)
    with pytest.raises(
        ValueError, match=r"region 'well' is not in the mesh; regions present: \['lower', 'upper'\]"
    ):
        require_groups(mesh, regions=["well"])
    with pytest.raises(ValueError, match="boundary 'P5'.*boundaries present"):
        require_groups(mesh, boundaries=["P5"])
    with pytest.raises(ValueError, match="dim = 3"):
        from_meshio(m, dim=3)


def test_submesh_node_maps_move_fields_both_ways():
    m, _, _ = _two_region_meshio()
    mesh = from_meshio(m)
    sub = submesh(mesh, "upper")
    assert sub.mesh.t.shape[1] == len(mesh.subdomains["upper"])
    np.testing.assert_array_equal(sub.mesh.p, mesh.p[:, sub.node_map])
    f = mesh.p[0] * 2 + mesh.p[1]  # a field on the device
    g = sub.restrict(f)
    np.testing.assert_array_equal(g, 2 * sub.mesh.p[0] + sub.mesh.p[1])
    back = sub.extend(g, fill=np.nan)
    np.testing.assert_array_equal(back[sub.node_map], f[sub.node_map])
    assert np.isnan(back).sum() == mesh.nvertices - sub.node_map.size
    assert np.all(sub.mesh.p[1] >= 10.0)
    # regions carried over; the element map points to the parent's elements
    assert set(sub.mesh.subdomains) == {"upper"}
    np.testing.assert_array_equal(mesh.t[:, sub.element_map], sub.node_map[sub.mesh.t])
    with pytest.raises(ValueError, match="parent_values has 3 entries"):
        sub.restrict(np.zeros(3))


def test_element_values_cover_every_element():
    m, _, _ = _two_region_meshio()
    mesh = from_meshio(m)
    v = element_values(mesh, {"lower": 1.0, "upper": 2.0}, "eps")
    assert set(np.unique(v)) == {1.0, 2.0}
    with pytest.raises(ValueError, match="eps: .* element"):
        element_values(mesh, {"lower": 1.0}, "eps")


@pytest.mark.parametrize("dim", [2, 3])
def test_probe_matrix_interpolates_linear_fields_exactly(dim):
    from skfem import Basis, ElementTetP1, ElementTriP1, MeshTet, MeshTri

    from femvalley.mesh import probe_matrix

    mesh = MeshTri.init_sqsymmetric().refined(3) if dim == 2 else MeshTet.init_ball().refined(1)
    if dim == 3:  # the unit ball, moved into the positive octant
        mesh = mesh.translated([1.0, 1.0, 1.0]).scaled([0.5, 0.5, 0.5])
    mesh = mesh.scaled([30.0, 20.0, 10.0][:dim])
    rng = np.random.default_rng(0)
    # random points inside: barycentric combinations of the vertices of random elements
    elems = rng.integers(0, mesh.t.shape[1], 400)
    lam = rng.dirichlet(np.ones(dim + 1), 400)
    pts = np.einsum("dke,ek->de", mesh.p[:, mesh.t[:, elems]], lam)
    pts[:, :4] = mesh.p[:, :4]  # vertices (on many elements at once)
    coef = np.array([0.3, -1.2, 2.0][:dim])
    f = coef @ mesh.p + 1.5
    got = probe_matrix(mesh, pts) @ f
    np.testing.assert_allclose(got, coef @ pts + 1.5, rtol=1e-12, atol=1e-12)
    # agrees with scikit-fem's (dense, slow) probes on a nonlinear field
    g = np.sin(mesh.p[0] / 7.0) * np.cos(mesh.p[1] / 5.0)
    basis = Basis(mesh, ElementTriP1() if dim == 2 else ElementTetP1())
    np.testing.assert_allclose(probe_matrix(mesh, pts[:, :30]) @ g, basis.probes(pts[:, :30]) @ g)
    with pytest.raises(ValueError, match="outside the mesh"):
        probe_matrix(mesh, np.full((dim, 1), -1.0))
    with pytest.raises(ValueError, match="expected"):
        probe_matrix(mesh, np.zeros((dim + 1, 2)))
