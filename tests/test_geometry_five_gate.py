"""The five-gate Si/SiO2 double dot (the shipped description ``five_gate_dqd``, template
``five_gate``): groups, measured volumes, gate heights, the stepped interface, mesh sizes, the
plane and structured k.p meshes."""

from __future__ import annotations

import numpy as np
import pytest
from skfem import Basis, ElementTetP0, ElementTetP1, Functional

from femvalley.electrostatics import solve_gates
from femvalley.mesh import from_meshio, require_groups
from geometries.catalog import load_with_params
from geometries.five_gate import FiveGateParams
from geometries.mesher import build, build_plane, build_quantum

from .conftest import edge_lengths

SIZES = {"mesh_size_nm": 20.0, "device_mesh_size_nm": 20.0, "quantum_mesh_size_nm": 5.0}
COARSE, PARAMS = load_with_params("five_gate_dqd", SIZES)
GATES = COARSE.gate_names
AREA = 160.0 * 160.0
GATE_VOLUME = 3 * 25 * 60 * 10 + 2 * 160 * 30 * 10


@pytest.fixture(scope="module")
def device():
    m = build(COARSE)
    return m, from_meshio(m, dim=3)


def _volume(mesh, region):
    one = Functional(lambda w: 1.0 + 0 * w.x[0])
    return one.assemble(Basis(mesh, ElementTetP0(), elements=mesh.subdomains[region]))


def test_every_group_is_present_and_the_dots_halve_the_quantum_region(device):
    _, mesh = device
    require_groups(
        mesh,
        regions=["substrate", "Si", "SiO2", "quantum", "dot_L", "dot_R"],
        boundaries=list(GATES),
    )
    left, right = set(mesh.subdomains["dot_L"]), set(mesh.subdomains["dot_R"])
    assert not left & right and left | right == set(mesh.subdomains["quantum"])
    assert set(GATES) == {"P1", "P2", "P3", "C1", "C2"}
    assert COARSE.plungers == {"dot_L": "P1", "dot_R": "P3"}


def test_layer_volumes_match_thickness_times_area(device):
    _, mesh = device
    assert _volume(mesh, "Si") == pytest.approx(AREA * 10.0, rel=1e-9)
    assert _volume(mesh, "substrate") == pytest.approx(AREA * 15.0, rel=1e-9)
    assert _volume(mesh, "SiO2") == pytest.approx(AREA * 25.0 - GATE_VOLUME, rel=1e-9)
    # the quantum region: the 10 nm Si layer and 1.5 nm of the oxide above it
    assert _volume(mesh, "quantum") == pytest.approx(AREA * 11.5, rel=1e-9)
    for dot in ("dot_L", "dot_R"):
        assert _volume(mesh, dot) == pytest.approx(AREA * 11.5 / 2, rel=1e-9)


def test_gates_are_surfaces_at_the_right_heights(device):
    _, mesh = device
    boxes = PARAMS.gate_boxes()
    for name in GATES:
        pts = mesh.p[:, np.unique(mesh.facets[:, mesh.boundaries[name]])]
        x0, y0, z0, dx, dy, dz = boxes[name]
        np.testing.assert_allclose(pts.min(axis=1), [x0, y0, z0], atol=1e-9)
        np.testing.assert_allclose(pts.max(axis=1), [x0 + dx, y0 + dy, z0 + dz], atol=1e-9)
    # the barrier is 5 nm closer to the substrate than the plungers
    assert boxes["P2"][2] == boxes["P1"][2] - 5.0


def test_requested_mesh_size_holds_in_quantum_region(device):
    _, mesh = device
    # gmsh's size is a target edge length; tetrahedra scatter around it (measured: median
    # 1.2 h, 95th percentile 1.6-1.9 h). A coarse region leaking in would blow these up.
    finer = load_with_params("five_gate_dqd", {**SIZES, "quantum_mesh_size_nm": 3.5})[0]
    for m, h in ((mesh, 5.0), (from_meshio(build(finer)), 3.5)):
        lengths = edge_lengths(m, "quantum")
        assert np.median(lengths) <= 1.35 * h
        assert np.percentile(lengths, 95) <= 2.0 * h


def test_the_stepped_interface_has_its_terraces_and_the_quantum_layer_follows_it():
    d, p = load_with_params(
        "five_gate_dqd",
        {"mesh_size_nm": 25.0, "device_mesh_size_nm": 25.0, "quantum_mesh_size_nm": 6.0}
        | {"stepped_interface": True},
    )
    assert not d.mirror_x  # the terraces are not symmetric
    m = build(d)
    mesh = from_meshio(m)
    sections = p.interface_sections()
    # the top of the silicon is at the terrace's height in every section
    si = mesh.p[:, np.unique(mesh.t[:, mesh.subdomains["Si"]])]
    for x0, x1, z in sections:
        inside = (si[0] > x0 + 1e-6) & (si[0] < x1 - 1e-6)
        assert si[2, inside].max() == pytest.approx(z, abs=1e-9)
        assert si[2, inside].min() == pytest.approx(z - 10.0, abs=1e-9)
    # measured volumes, section by section
    raised = sum((x1 - x0) * 160.0 * z for x0, x1, z in sections)
    assert _volume(mesh, "Si") == pytest.approx(AREA * 10.0, rel=1e-9)
    assert _volume(mesh, "substrate") == pytest.approx(AREA * 15.0 + raised, rel=1e-9)
    assert _volume(mesh, "SiO2") == pytest.approx(AREA * 25.0 - raised - GATE_VOLUME, rel=1e-9)
    assert _volume(mesh, "dot_R") == pytest.approx(AREA * 11.5 / 2, rel=1e-9)
    again = build(d)  # deterministic with terraces too
    np.testing.assert_array_equal(again.points, m.points)


def test_plunger_potentials_mirror_each_other_exactly(device):
    """The flat device is meshed as a half and mirrored: P1 and P3 are images to round-off."""
    _, mesh = device
    gp = solve_gates(mesh, permittivity=COARSE.materials, gates=list(GATES))
    basis = Basis(mesh, ElementTetP1())
    probes = np.array([[-30.0, -10.0, 0.0, 10.0, 30.0], [0.0, 5.0, -8.0, 3.0, 0.0], [-2.0] * 5])
    mirrored = probes * np.array([[-1.0], [1.0], [1.0]])
    p1 = basis.probes(probes) @ gp.unit_V[GATES.index("P1")]
    p3 = basis.probes(mirrored) @ gp.unit_V[GATES.index("P3")]
    np.testing.assert_allclose(p1, p3, rtol=1e-9, atol=1e-12)
    # P1 acts most strongly under itself: its lever arm on the left dot beats P3's
    assert p1[0] > 3 * (basis.probes(probes[:, :1]) @ gp.unit_V[GATES.index("P3")])[0]


def test_plane_mesh_of_the_dot_regions():
    from skfem import ElementTriP0

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

    d, p = load_with_params(
        "five_gate_dqd",
        {"stepped_interface": True, "kp_mesh_size_nm": 4.0, "kp_box_nm": [100.0, 20.0]},
    )
    mesh = from_meshio(build_quantum(d), dim=3)
    grid = TensorGrid.from_points(mesh.p)  # a full tensor grid
    for plane in (-10.0, 0.0, 10.0):  # the steps and the dot boundary are grid planes
        assert np.min(np.abs(grid.x_nm - plane)) < 1e-9
    for _, _, z in p.interface_sections():
        for zz in (z, z - 10.0):  # the top and the bottom of the quantum layer
            assert np.min(np.abs(grid.z_nm - zz)) < 1e-9
    # from the deepest bottom of the Si layer to 1.5 nm of oxide above the highest terrace
    assert grid.z_nm[0] == pytest.approx(-0.5 - 10.0) and grid.z_nm[-1] == pytest.approx(2.0)
    # silicon volume = footprint x (local interface - bottom), section by section
    silicon = sum(
        (min(x1, 50) - max(x0, -50)) * 20.0 * (z + 10.5) for x0, x1, z in p.interface_sections()
    )
    si = _volume(mesh, "Si") + _volume(mesh, "substrate")
    assert si == pytest.approx(silicon, rel=1e-9)
    assert si + _volume(mesh, "SiO2") == pytest.approx(100.0 * 20.0 * 12.5, rel=1e-9)
    assert _volume(mesh, "dot_L") == pytest.approx(_volume(mesh, "dot_R"), rel=1e-9)


def test_bad_parameters_name_the_field():
    for params, field in (
        ({"kp_box_nm": (200.0, 20.0)}, "kp_box_nm"),
        ({"kp_oxide_nm": 6.0}, "kp_oxide_nm"),
        ({"quantum_depth_nm": 30.0}, "quantum_depth_nm"),
        ({"gate_height_nm": "tall"}, "gate_height_nm"),
        ({"stepped_interface": "yes"}, "stepped_interface"),
    ):
        with pytest.raises(ValueError, match=field):
            FiveGateParams(**params)
