"""The five-gate Si/SiO2 double-dot geometry: labels, volumes, gate heights, mesh sizes."""

from __future__ import annotations

import numpy as np
import pytest
from skfem import Basis, ElementTetP0, ElementTetP1, Functional

from femvalley.electrostatics import solve_gates
from femvalley.mesh import from_meshio, require_groups
from geometries.five_gate_dqd import GATES, FiveGateParams, build

from .conftest import edge_lengths

COARSE = FiveGateParams(mesh_size_nm=20.0, quantum_mesh_size_nm=5.0)


@pytest.fixture(scope="module")
def device():
    m = build(COARSE)
    return m, from_meshio(m, dim=3)


def _volume(mesh, region):
    one = Functional(lambda w: 1.0 + 0 * w.x[0])
    return one.assemble(Basis(mesh, ElementTetP0(), elements=mesh.subdomains[region]))


def test_every_group_is_present(device):
    _, mesh = device
    require_groups(
        mesh,
        regions=["Si", "quantum", "SiO2", "dot_L", "dot_R"],
        boundaries=[*GATES, "interface"],
    )
    left, right = set(mesh.subdomains["dot_L"]), set(mesh.subdomains["dot_R"])
    assert not left & right and left | right == set(mesh.subdomains["quantum"])


def test_layer_volumes_match_thickness_times_area(device):
    _, mesh = device
    area = 160.0 * 160.0
    assert _volume(mesh, "quantum") == pytest.approx(area * 10.0, rel=1e-9)
    assert _volume(mesh, "dot_R") == pytest.approx(area * 5.0, rel=1e-9)
    assert _volume(mesh, "dot_L") == pytest.approx(area * 5.0, rel=1e-9)
    assert _volume(mesh, "Si") == pytest.approx(area * 15.0, rel=1e-9)
    gates = 3 * 25 * 60 * 10 + 2 * 160 * 30 * 10
    assert _volume(mesh, "SiO2") == pytest.approx(area * 25.0 - gates, rel=1e-9)


def test_gates_are_surfaces_at_the_right_heights(device):
    _, mesh = device
    boxes = COARSE.gate_boxes()
    for name in GATES:
        pts = mesh.p[:, np.unique(mesh.facets[:, mesh.boundaries[name]])]
        x0, y0, z0, dx, dy, dz = boxes[name]
        assert pts[2].min() == pytest.approx(z0) and pts[2].max() == pytest.approx(z0 + dz)
        assert pts[0].min() == pytest.approx(x0) and pts[0].max() == pytest.approx(x0 + dx)
        assert pts[1].min() == pytest.approx(y0) and pts[1].max() == pytest.approx(y0 + dy)
    # the barrier is 5 nm closer to the substrate than the plungers
    assert boxes["P2"][2] == boxes["P1"][2] - 5.0
    iface = mesh.p[2, np.unique(mesh.facets[:, mesh.boundaries["interface"]])]
    np.testing.assert_allclose(iface, 0.0, atol=1e-9)


def test_requested_mesh_size_holds_in_quantum_region(device):
    _, mesh = device
    # gmsh's size is a target edge length; tetrahedra scatter around it (measured: median
    # 1.2 h, 95th percentile 1.6-1.9 h). A coarse region leaking in would blow these up.
    for m, h in ((mesh, COARSE.quantum_mesh_size_nm), (None, 3.5)):
        if m is None:  # a finer request gives a finer mesh there
            m = from_meshio(build(FiveGateParams(mesh_size_nm=20.0, quantum_mesh_size_nm=h)))
        lengths = edge_lengths(m, "quantum")
        assert np.median(lengths) <= 1.35 * h
        assert np.percentile(lengths, 95) <= 2.0 * h


def test_meshing_is_deterministic(device):
    m1, _ = device
    m2 = build(COARSE)
    np.testing.assert_array_equal(m1.points, m2.points)
    np.testing.assert_array_equal(m1.cells_dict["tetra"], m2.cells_dict["tetra"])


def test_stepped_interface_sections():
    p = FiveGateParams(mesh_size_nm=25.0, quantum_mesh_size_nm=6.0, stepped_interface=True)
    mesh = from_meshio(build(p))
    pts = mesh.p[:, np.unique(mesh.facets[:, mesh.boundaries["interface"]])]
    for x0, x1, z in p.interface_sections():
        inside = (pts[0] > x0 + 1e-6) & (pts[0] < x1 - 1e-6)
        np.testing.assert_allclose(pts[2, inside], z, atol=1e-9)
    area = 160.0 * 160.0
    assert _volume(mesh, "quantum") == pytest.approx(area * 10.0, rel=1e-9)
    assert _volume(mesh, "dot_R") == pytest.approx(area * 5.0, rel=1e-9)


def test_plunger_potentials_mirror_each_other(device):
    _, mesh = device
    gp = solve_gates(
        mesh,
        permittivity={"Si": "Si", "quantum": "Si", "SiO2": "SiO2"},
        gates=list(GATES),
    )
    basis = Basis(mesh, ElementTetP1())
    probes = np.array([[-30.0, -10.0, 0.0, 10.0, 30.0], [0.0, 5.0, -8.0, 3.0, 0.0], [-2.0] * 5])
    mirrored = probes * np.array([[-1.0], [1.0], [1.0]])
    p1 = basis.probes(probes) @ gp.unit_V[GATES.index("P1")]
    p3 = basis.probes(mirrored) @ gp.unit_V[GATES.index("P3")]
    np.testing.assert_allclose(p1, p3, atol=0.02 * p1.max())
    # P1 acts most strongly under itself: its lever arm on the left dot beats P3's
    assert p1[0] > 3 * (basis.probes(probes[:, :1]) @ gp.unit_V[GATES.index("P3")])[0]


def test_plane_mesh_of_the_dot_regions():
    from skfem import ElementTriP0

    from geometries.five_gate_dqd import build_plane

    plane = from_meshio(build_plane(COARSE), dim=2)
    require_groups(plane, regions=["dot_L", "dot_R", "quantum"], boundaries=["edge"])
    one = Functional(lambda w: 1.0 + 0 * w.x[0])
    for dot in ("dot_L", "dot_R"):
        area = one.assemble(Basis(plane, ElementTriP0(), elements=plane.subdomains[dot]))
        assert area == pytest.approx(80.0 * 160.0, rel=1e-12)
    # the edge is the outer boundary only (the line between the dots is interior)
    assert len(plane.boundaries["edge"]) == len(plane.boundary_facets())


def test_structured_kp_mesh_follows_the_stepped_interface():
    from femvalley.born_oppenheimer import TensorGrid
    from geometries.five_gate_dqd import build_quantum

    p = FiveGateParams(stepped_interface=True, kp_mesh_size_nm=4.0, kp_box_nm=(100.0, 20.0))
    mesh = from_meshio(build_quantum(p), dim=3)
    grid = TensorGrid.from_points(mesh.p)  # a full tensor grid
    for plane in (-10.0, 0.0, 10.0):  # the steps and the dot boundary are grid planes
        assert np.min(np.abs(grid.x_nm - plane)) < 1e-9
    for _, _, z in p.interface_sections():
        assert np.min(np.abs(grid.z_nm - z)) < 1e-9
    assert grid.z_nm[0] == pytest.approx(-0.5 - 10.0) and grid.z_nm[-1] == pytest.approx(2.0)
    # silicon volume = footprint x (local interface - bottom), section by section
    silicon = sum(
        (min(x1, 50) - max(x0, -50)) * 20.0 * (z + 10.5) for x0, x1, z in p.interface_sections()
    )
    assert _volume(mesh, "quantum") == pytest.approx(silicon, rel=1e-9)
    assert _volume(mesh, "quantum") + _volume(mesh, "SiO2") == pytest.approx(
        100.0 * 20.0 * 12.5, rel=1e-9
    )
    assert _volume(mesh, "dot_L") == pytest.approx(_volume(mesh, "dot_R"), rel=1e-9)
    with pytest.raises(ValueError, match="kp_box_nm"):
        FiveGateParams(kp_box_nm=(200.0, 20.0))
