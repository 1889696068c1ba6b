"""The Tunnel Falls-like Si/SiGe double dot (the shipped description ``tunnel_falls``):
partition, gate heights, conformity, mesh sizes, electrostatics, plane and k.p meshes."""

from __future__ import annotations

import numpy as np
import pytest
from skfem import Basis, ElementTetP0, ElementTetP2, ElementTriP0, Functional

from femvalley.electrostatics import solve_gates
from femvalley.materials import get_material
from femvalley.mesh import from_meshio, probe_matrix, require_groups
from geometries.catalog import load_with_params
from geometries.mesher import build, build_plane, build_quantum

from .conftest import edge_lengths

SIZES = {"mesh_size_nm": 30.0, "device_mesh_size_nm": 15.0, "quantum_mesh_size_nm": 5.0}
COARSE, PARAMS = load_with_params("tunnel_falls", SIZES)
MATERIALS = COARSE.materials
GATES = COARSE.gate_names
FINGERS = ("B4", "P5", "B5", "P6", "B6")
REFERENCE_BIASES_V = dict(COARSE.reference_biases_V)
LAYERS = tuple(MATERIALS)


def _box(name):
    """(x0, y0, z0, dx, dy, dz) of a gate."""
    x0, x1, y0, y1 = COARSE.gate_outlines_nm()[name]
    z0, z1 = COARSE.gate_z_nm(next(g for g in COARSE.gates if g.name == name))
    return (x0, y0, z0, x1 - x0, y1 - y0, z1 - z0)


GATE_BOXES = {g: _box(g) for g in GATES}
DOT_SIZE_NM = (105.0, 80.0)


@pytest.fixture(scope="module")
def device():
    m = build(COARSE)
    return m, from_meshio(m, dim=3)


@pytest.fixture(scope="module")
def potentials(device):
    _, mesh = device
    return solve_gates(mesh, permittivity=MATERIALS, gates=GATES)


def _volume(mesh, region):
    one = Functional(lambda w: 1.0 + 0 * w.x[0])
    return one.assemble(Basis(mesh, ElementTetP0(), elements=mesh.subdomains[region]))


def test_every_group_is_present(device):
    _, mesh = device
    require_groups(mesh, regions=[*LAYERS, "dot_L", "dot_R", "quantum"], boundaries=GATES)
    # the layers partition the device; the dot regions partition the quantum region
    n = mesh.t.shape[1]
    counts = np.zeros(n, dtype=int)
    for layer in LAYERS:
        counts[mesh.subdomains[layer]] += 1
    assert np.all(counts == 1)
    left, right = set(mesh.subdomains["dot_L"]), set(mesh.subdomains["dot_R"])
    assert not left & right
    assert left | right == set(mesh.subdomains["quantum"])


def test_dot_regions_are_those_of_the_reference_study(device):
    """105 x 80 nm centred at x = -52.5 and +52.5 nm, the well and 6 nm of SiGe on both sides."""
    _, mesh = device
    dx, dy = DOT_SIZE_NM
    qz0, qz1 = COARSE.quantum_z_nm
    assert qz1 - qz0 == pytest.approx(4.6 + 2 * 6.0)
    for dot, centre in (("dot_L", -52.5), ("dot_R", 52.5)):
        assert _volume(mesh, dot) == pytest.approx(dx * dy * (qz1 - qz0), rel=1e-9)
        pts = mesh.p[:, np.unique(mesh.t[:, mesh.subdomains[dot]])]
        np.testing.assert_allclose(pts.min(axis=1), [centre - dx / 2, -dy / 2, qz0], atol=1e-9)
        np.testing.assert_allclose(pts.max(axis=1), [centre + dx / 2, dy / 2, qz1], atol=1e-9)


def test_gates_are_surfaces_at_the_right_heights(device):
    _, mesh = device
    layers = COARSE.layer_bounds_nm()
    for name, (x0, y0, z0, dx, dy, dz) in GATE_BOXES.items():
        pts = mesh.p[:, np.unique(mesh.facets[:, mesh.boundaries[name]])]
        np.testing.assert_allclose(pts.min(axis=1), [x0, y0, z0], atol=1e-9)
        np.testing.assert_allclose(pts.max(axis=1), [x0 + dx, y0 + dy, z0 + dz], atol=1e-9)
        layer = "finger_layer" if name in FINGERS else "screening_layer"
        assert (z0, z0 + dz) == pytest.approx(layers[layer])
    # fingers at 60 nm pitch, centres -120 ... 120; the finger layer starts 5 nm above SG/CS
    centres = [GATE_BOXES[g][0] + 15.0 for g in FINGERS]
    np.testing.assert_allclose(centres, [-120.0, -60.0, 0.0, 60.0, 120.0])
    assert layers["finger_layer"][0] - layers["screening_layer"][1] == pytest.approx(5.0)
    # z = 0 is the middle of the 4.6 nm well; 50 nm of SiGe, 1 nm cap, 5 + 5 nm oxides above
    assert layers["well"] == pytest.approx((-2.3, 2.3))
    assert layers["screening_layer"][0] == pytest.approx(2.3 + 50 + 1 + 5 + 5)


def test_mesh_is_conforming_across_material_interfaces(device):
    """Every facet with a single element lies on the outer box or on a gate surface."""
    _, mesh = device
    x0, x1, y0, y1 = COARSE.domain_nm
    lx, ly = x1 - x0, y1 - y0
    layers = COARSE.layer_bounds_nm()
    zmin, zmax = layers["buffer"][0], layers["cover"][1]
    c = mesh.p[:, mesh.facets[:, mesh.boundary_facets()]].mean(axis=1)
    on_box = (
        np.isclose(np.abs(c[0]), lx / 2)
        | np.isclose(np.abs(c[1]), ly / 2)
        | np.isclose(c[2], zmin)
        | np.isclose(c[2], zmax)
    )
    on_gate = np.zeros(c.shape[1], dtype=bool)
    for x0, y0, z0, dx, dy, dz in GATE_BOXES.values():
        inside = np.all(
            (c >= np.array([[x0], [y0], [z0]]) - 1e-9)
            & (c <= np.array([[x0 + dx], [y0 + dy], [z0 + dz]]) + 1e-9),
            axis=0,
        )
        on_gate |= inside
    assert np.all(on_box | on_gate)


def test_requested_mesh_size_holds_in_quantum_region(device):
    _, mesh = device
    finer = load_with_params(
        "tunnel_falls",
        {"mesh_size_nm": 40.0, "device_mesh_size_nm": 20.0, "quantum_mesh_size_nm": 3.5},
    )[0]
    for m, h in ((mesh, PARAMS.quantum_mesh_size_nm), (from_meshio(build(finer)), 3.5)):
        lengths = edge_lengths(m, "quantum")
        assert np.median(lengths) <= 1.35 * h
        assert np.percentile(lengths, 95) <= 2.0 * h
        # and the mesh is coarse away from the device: the size field is local
        deep = m.subdomains["buffer"][m.p[2, m.t[:, m.subdomains["buffer"]]].max(axis=0) < -30.0]
        t = m.t[:, deep]
        assert np.median(np.linalg.norm(m.p[:, t[0]] - m.p[:, t[1]], axis=0)) > 2.0 * h


def test_bad_parameters_name_the_field():
    for params, field in (
        ({"finger_width_nm": 60.0}, "finger_width_nm"),
        ({"well_nm": -1.0}, "well"),
        ({"quantum_margin_nm": 60.0}, "quantum_margin_nm"),
        ({"dot_width_nm": 400.0}, "dot_width_nm"),
    ):
        with pytest.raises(ValueError, match=field):
            load_with_params("tunnel_falls", params)


def _band_edge_at_vertices(mesh, phi):
    """U = offset - 1000 phi at the vertices of the semiconductor (well offset wins)."""
    u = np.full(mesh.nvertices, np.inf)
    for layer in ("buffer", "barrier", "cap", "well"):  # the well last: its edge is lowest
        idx = np.unique(mesh.t[:, mesh.subdomains[layer]])
        u[idx] = get_material(MATERIALS[layer]).band_offset_meV - 1000.0 * phi[idx]
    return u


def test_minima_of_U_lie_in_the_well_under_the_plungers(device, potentials):
    _, mesh = device
    u = _band_edge_at_vertices(mesh, potentials.potential_V(REFERENCE_BIASES_V))
    centres = PARAMS.finger_centres_nm()
    well = COARSE.layer_bounds_nm()["well"]
    minima = {}
    for dot, plunger in (("dot_L", "P5"), ("dot_R", "P6")):
        idx = np.unique(mesh.t[:, mesh.subdomains[dot]])
        i = idx[np.argmin(u[idx])]
        x, y, z = mesh.p[:, i]
        minima[dot] = (x, u[i])
        assert well[0] - 1e-9 <= z <= well[1] + 1e-9  # in the well ...
        assert z > 0.0  # ... pulled up towards the gates by the positive plungers
        # under its plunger: nearer its centre line than any other finger's
        nearest = min(centres, key=lambda g: abs(x - centres[g]))
        assert nearest == plunger, (dot, x)
        assert abs(y) < 10.0  # centred in the channel between SG and CS
    # B5 (1.2 V) makes a tunnel barrier between the dots; the biases are mirror symmetric
    ucentre = probe_matrix(mesh, np.array([[0.0], [0.0], [well[1]]])) @ (
        -1000.0 * potentials.potential_V(REFERENCE_BIASES_V)
    )
    assert ucentre[0] > max(u for _, u in minima.values()) + 1.0
    # the mesh is the mirror image of its x >= 0 half, so symmetric biases give mirror-image
    # minima to round-off (a mesh of the whole device is off by about 1 meV here)
    assert minima["dot_L"][0] == pytest.approx(-minima["dot_R"][0], abs=1e-9)
    assert minima["dot_L"][1] == pytest.approx(minima["dot_R"][1], abs=1e-9)


def test_plunger_potentials_mirror_each_other(device, potentials):
    _, mesh = device
    rng = np.random.default_rng(3)
    pts = np.vstack(
        [rng.uniform(-100, 100, 12), rng.uniform(-35, 35, 12), rng.uniform(-2.3, 2.3, 12)]
    )
    mirrored = pts * np.array([[-1.0], [1.0], [1.0]])
    gates = list(potentials.gates)
    for a, b in (("P5", "P6"), ("B4", "B6")):
        pa = probe_matrix(mesh, pts) @ potentials.unit_V[gates.index(a)]
        pb = probe_matrix(mesh, mirrored) @ potentials.unit_V[gates.index(b)]
        np.testing.assert_allclose(pa, pb, rtol=1e-9, atol=1e-12)
    # and the mesh itself is its own mirror image, groups swapped
    _, full = device
    right = full.p[:, np.unique(full.t[:, full.subdomains["dot_R"]])]
    left = full.p[:, np.unique(full.t[:, full.subdomains["dot_L"]])]
    key = lambda q: np.lexsort(np.round(q[::-1], 9))  # noqa: E731 - a one-line sort key
    np.testing.assert_allclose(
        (right * np.array([[-1.0], [1.0], [1.0]]))[:, key(right * np.array([[-1.0], [1], [1]]))],
        left[:, key(left)],
        atol=1e-9,
    )


def test_phi_is_continuous_across_material_interfaces(device, potentials):
    _, mesh = device
    phi = potentials.potential_V(REFERENCE_BIASES_V)
    rng = np.random.default_rng(0)
    layers = COARSE.layer_bounds_nm()
    for upper in ("well", "barrier", "cap", "SiO2", "HfO2"):
        z = layers[upper][0]
        xy = np.vstack([rng.uniform(-130, 130, 20), rng.uniform(-90, 90, 20)])
        below = probe_matrix(mesh, np.vstack([xy, np.full(20, z - 1e-7)])) @ phi
        above = probe_matrix(mesh, np.vstack([xy, np.full(20, z + 1e-7)])) @ phi
        # P1 gradients are O(0.1 V/nm) at most: a jump would show far above 1e-7 V
        np.testing.assert_allclose(below, above, atol=1e-7)


def test_plane_mesh_of_the_dot_regions(potentials):
    plane = from_meshio(build_plane(COARSE), dim=2)
    require_groups(plane, regions=["dot_L", "dot_R", "quantum"], boundaries=["edge"])
    # the edge is the outer boundary only: the mirror plane between the dots is interior
    assert len(plane.boundaries["edge"]) == len(plane.boundary_facets())
    dx, dy = DOT_SIZE_NM
    for dot in ("dot_L", "dot_R"):
        area = Functional(lambda w: 1.0 + 0 * w.x[0]).assemble(
            Basis(plane, ElementTriP0(), elements=plane.subdomains[dot])
        )
        assert area == pytest.approx(dx * dy, rel=1e-12)
    # the 3-D potentials sampled in the mid-well plane superpose like the 3-D ones
    gp2 = potentials.interpolated_to(plane, z_nm=0.0)
    v = {g: float(x) for g, x in zip(GATES, np.random.default_rng(1).normal(size=len(GATES)))}
    # the P2 potentials, sampled by skfem's own P2 basis (vertex DOFs, then edge DOFs)
    assert potentials.order == 2
    p2 = Basis(potentials.mesh, ElementTetP2())
    volts = np.array([v[g] for g in potentials.gates])
    dofs = np.concatenate(
        [
            potentials.offset_V + volts @ potentials.unit_V,
            potentials.edge_offset_V + volts @ potentials.edge_unit_V,
        ]
    )
    pts = np.vstack([plane.p, np.zeros(plane.nvertices)])
    np.testing.assert_allclose(gp2.potential_V(v), p2.probes(pts) @ dofs, atol=1e-12)
    # and it is not the linear interpolant of the vertex values
    linear = probe_matrix(potentials.mesh, pts) @ potentials.potential_V(v)
    assert np.abs(gp2.potential_V(v) - linear).max() > 1e-6
    with pytest.raises(ValueError, match="z_nm"):
        potentials.interpolated_to(plane)
    with pytest.raises(ValueError, match="outside the mesh"):
        potentials.interpolated_to(plane, z_nm=1000.0)


def test_structured_kp_mesh_of_the_quantum_region(potentials):
    """Tensor grid: exact volumes, grid planes on the interfaces, conforming, mirror symmetric,
    and the same vertical grid in every column."""
    d, p = load_with_params(
        "tunnel_falls", {"kp_mesh_size_nm": 6.0, "kp_vertical_mesh_size_nm": 0.8}
    )
    m = from_meshio(build_quantum(d), dim=3)
    require_groups(m, regions=["buffer", "well", "barrier", "dot_L", "dot_R", "quantum"])
    dx, dy = DOT_SIZE_NM
    z0, z1 = d.quantum_z_nm
    for region, height in (
        ("well", p.well_nm),
        ("buffer", -p.well_nm / 2 - z0),
        ("barrier", z1 - p.well_nm / 2),
    ):
        np.testing.assert_allclose(_volume(m, region), 2 * dx * dy * height, rtol=1e-12)
    np.testing.assert_allclose(_volume(m, "dot_L"), dx * dy * (z1 - z0), rtol=1e-12)
    # the well's interfaces are grid planes, its steps are at most the vertical size, and the
    # steps grow away from it (ratio <= 1.5 + rounding)
    zs = np.unique(np.round(m.p[2], 9))
    assert np.any(np.isclose(zs, -p.well_nm / 2)) and np.any(np.isclose(zs, p.well_nm / 2))
    inside = zs[(zs >= -p.well_nm / 2 - 1e-9) & (zs <= p.well_nm / 2 + 1e-9)]
    assert np.diff(inside).max() <= 0.8 + 1e-9
    steps = np.diff(zs[zs >= p.well_nm / 2 - 1e-9])
    assert np.all(steps[1:] >= steps[:-1] * (1 - 1e-9)) and steps.max() <= 6.0 + 1e-9
    # every column has the same z values
    xy = np.round(m.p[:2], 6)
    _, col = np.unique(xy, axis=1, return_inverse=True)
    counts = np.bincount(col.ravel())
    assert np.all(counts == zs.size)
    # conforming: every boundary facet lies on the outer box
    c = m.p[:, m.facets[:, m.boundary_facets()]].mean(axis=1)
    lo, hi = m.p.min(axis=1)[:, None], m.p.max(axis=1)[:, None]
    assert np.all(np.any(np.isclose(c, lo) | np.isclose(c, hi), axis=0))
    # mirror symmetric: the reflected vertex set is the vertex set
    refl = np.round(m.p * np.array([[-1.0], [1.0], [1.0]]), 9)
    assert {tuple(v) for v in refl.T} == {tuple(v) for v in np.round(m.p, 9).T}
    # the device's potentials interpolate onto it (every vertex lies inside the device mesh)
    gq = potentials.interpolated_to(m)
    assert np.all(np.isfinite(gq.unit_V))
