"""Device descriptions meshed with pygmsh: groups, measured volumes and areas, symmetry,
determinism, a template against its explicit twin, and bad descriptions."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import shapely

from geometries.catalog import load_description, shipped_devices
from geometries.description import DeviceDescription
from geometries.linear_array import LinearArrayParams
from geometries.mesher import build, build_plane

COARSE = {"mesh_size_nm": 40.0, "device_mesh_size_nm": 20.0, "quantum_mesh_size_nm": 8.0}


def _volume(mesh, name):
    tets = mesh.cells[0].data[mesh.cell_sets[name][0]]
    p = mesh.points[tets]
    d = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    return np.abs(d).sum() / 6


def _area(mesh, name):
    tri = mesh.cells[1].data[mesh.cell_sets[name][1]]
    p = mesh.points[tri]
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum()


@pytest.fixture(scope="module")
def tf_description():
    return load_description("tunnel_falls", COARSE)


@pytest.fixture(scope="module")
def tf_mesh(tf_description):
    return build(tf_description)


def test_every_shipped_description_loads_and_reads_back_from_its_tables():
    assert {"tunnel_falls", "triple_dot"} <= set(shipped_devices())
    for name in shipped_devices():
        d = load_description(name)
        assert DeviceDescription.from_dict(copy.deepcopy(d.to_dict())) == d
    # terraces, one-sided margins and a k.p box read back too
    d = load_description("five_gate_dqd", {"stepped_interface": True})
    assert d.layers[1].top_steps and d.quantum_margins_nm == (0.0, 1.5) and d.kp_box_nm
    assert DeviceDescription.from_dict(copy.deepcopy(d.to_dict())) == d


def test_the_mesh_has_every_group_and_each_layer_the_volume_of_the_stack_less_the_gates(
    tf_description, tf_mesh
):
    d, m = tf_description, tf_mesh
    x0, x1, y0, y1 = d.domain_nm
    domain = shapely.box(x0, y0, x1, y1)
    expected_groups = {*(x.name for x in d.layers), *d.gate_names, "dot_L", "dot_R", "quantum"}
    assert set(m.cell_sets) == expected_groups
    for layer in d.layers:
        z0, z1 = d.layer_bounds_nm()[layer.name]
        metal = shapely.union_all([g.outline() for g in d.gates if g.layer == layer.name])
        area = domain.area - (metal.area if not metal.is_empty else 0.0)
        assert _volume(m, layer.name) == pytest.approx(area * (z1 - z0), rel=1e-9)
    q0, q1 = d.quantum_z_nm
    for dot in d.dots:
        assert _volume(m, dot.name) == pytest.approx(d.dot_box(dot).area * (q1 - q0), rel=1e-9)
    assert _volume(m, "quantum") == pytest.approx(
        sum(d.dot_box(dot).area for dot in d.dots) * (q1 - q0), rel=1e-9
    )


def test_every_gate_surface_is_the_boundary_of_its_solid_at_its_heights(tf_description, tf_mesh):
    d, m = tf_description, tf_mesh
    x0, x1, _, _ = d.domain_nm
    for g in d.gates:
        z0, z1 = d.gate_z_nm(g)
        tri = m.cells[1].data[m.cell_sets[g.name][1]]
        z = m.points[tri][..., 2]
        assert z.min() == pytest.approx(z0, abs=1e-9) and z.max() == pytest.approx(z1, abs=1e-9)
        outline = g.outline()
        # the whole surface of the solid, less the side faces on the domain's ends (x = x0, x1)
        ends = sum(
            (z1 - z0) * np.ptp([p[1] for p in g.polygon_nm])
            for x in (x0, x1)
            if np.isclose(outline.bounds[0 if x == x0 else 2], x)
        )
        expected = 2 * outline.area + outline.length * (z1 - z0) - ends
        assert _area(m, g.name) == pytest.approx(expected, rel=1e-9)


def test_a_mirror_symmetric_description_gives_an_exactly_mirror_symmetric_mesh(tf_mesh):
    m = tf_mesh
    pts = m.points
    mirrored = pts * np.array([-1.0, 1.0, 1.0])
    key = np.lexsort(pts.T[::-1])
    key_m = np.lexsort(mirrored.T[::-1])
    np.testing.assert_array_equal(pts[key], mirrored[key_m])  # exact, not to a tolerance
    for a, b in (("P5", "P6"), ("B4", "B6")):  # each gate's surface is its twin's image
        ta = m.points[np.unique(m.cells[1].data[m.cell_sets[a][1]])] * [-1.0, 1.0, 1.0]
        tb = m.points[np.unique(m.cells[1].data[m.cell_sets[b][1]])]
        np.testing.assert_array_equal(ta[np.lexsort(ta.T[::-1])], tb[np.lexsort(tb.T[::-1])])
        assert _area(m, a) == pytest.approx(_area(m, b), rel=1e-12)


def test_meshing_is_deterministic(tf_description, tf_mesh):
    again = build(tf_description)
    np.testing.assert_array_equal(again.points, tf_mesh.points)
    for a, b in zip(again.cells, tf_mesh.cells):
        np.testing.assert_array_equal(a.data, b.data)


def test_dot_regions_follow_the_pitch():
    """The complaint of the issue: at pitch 40 nm the dot regions used to leave the domain."""
    for pitch in (40.0, 60.0, 80.0):
        d = LinearArrayParams(finger_pitch_nm=pitch, finger_width_nm=pitch / 2).description()
        (left, right) = d.dots
        assert left.rectangle_nm[1] == 0.0 == right.rectangle_nm[0]
        assert right.rectangle_nm[1] == pytest.approx(1.75 * pitch)  # 105 nm at 60 nm
        assert right.rectangle_nm[1] < d.domain_nm[1]


def test_a_linear_array_has_a_dot_region_under_every_plunger_and_meshes():
    p = LinearArrayParams(n_dots=3, **COARSE)
    d = p.description()
    assert d.gate_names[:7] == ("B1", "P1", "B2", "P2", "B3", "P3", "B4")
    assert [dot.name for dot in d.dots] == ["dot_1", "dot_2", "dot_3"]
    centres = p.finger_centres_nm()
    for dot in d.dots:
        x0, x1, _, _ = dot.rectangle_nm
        assert x0 < centres[dot.plunger] < x1
    m = build(d)
    assert {"dot_1", "dot_2", "dot_3", "quantum"} <= set(m.cell_sets)
    plane = build_plane(d)
    assert {"dot_1", "dot_2", "dot_3", "quantum", "edge"} <= set(plane.cell_sets)


def test_n_dots_form_under_the_n_plungers_at_the_reference_biases():
    """The band edge along the channel (middle of the well) has one minimum per plunger,
    under it, each below the barriers on both sides (P2 electrostatics on a coarse mesh)."""
    from femvalley.electrostatics import solve_gates
    from femvalley.mesh import from_meshio

    d = load_description("triple_dot", COARSE)
    p = LinearArrayParams(n_dots=3, **COARSE)
    mesh = from_meshio(build(d), dim=3)
    gp = solve_gates(mesh, permittivity=d.materials, gates=d.gate_names)
    x = np.linspace(d.dots[0].rectangle_nm[0], d.dots[-1].rectangle_nm[1], 241)
    line = np.vstack([x, np.zeros_like(x), np.zeros_like(x)])
    u = -1000.0 * gp.potential_at_V(line, d.reference_biases_V)  # electron energy, meV
    minima = [i for i in range(1, x.size - 1) if u[i] < u[i - 1] and u[i] <= u[i + 1]]
    assert len(minima) == 3
    centres = p.finger_centres_nm()
    at = {
        g: -1000.0 * gp.potential_at_V([[c], [0.0], [0.0]], d.reference_biases_V)[0]
        for g, c in centres.items()
    }
    for i, dot in zip(minima, d.dots):
        assert abs(x[i] - centres[dot.plunger]) < p.finger_pitch_nm / 4
        k = p.fingers.index(dot.plunger)
        barrier = min(at[p.fingers[k - 1]], at[p.fingers[k + 1]])
        assert barrier - u[i] > 5.0  # meV: a dot, not a shoulder


def _tf_tables():
    return copy.deepcopy(load_description("tunnel_falls").to_dict())


def _set(tables, edit):
    edit(tables)
    return tables


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t["gates"][1].update(
                polygon_nm=[[-110, -45], [-45, -45], [-45, 45], [-110, 45]]
            ),
            "gates.B4 and gates.P5 overlap",
        ),
        (
            lambda t: t["gates"][0].update(
                polygon_nm=[[-200, -45], [-105, -45], [-105, 45], [-200, 45]]
            ),
            "gates.B4: the outline leaves the domain",
        ),
        (
            lambda t: t["gates"][2].update(layer="metal_1"),
            "gates.B5.layer = 'metal_1' is not a layer",
        ),
        (
            lambda t: t["gates"][2].update(polygon_nm=[[-15, -45], [15, 45], [15, -45], [-15, 45]]),
            "gates.B5.polygon_nm is not a simple polygon",
        ),
        (
            lambda t: t["layers"][3].update(thickness_nm=0.0),
            "layers.cap.thickness_nm = 0.0 must be > 0",
        ),
        (
            lambda t: t["dots"][1].update(rectangle_nm=[0.0, 150.0, -40.0, 40.0]),
            "dots.dot_R.rectangle_nm = .* leaves the domain",
        ),
        (
            lambda t: t["layers"][1].update(material="unobtainium"),
            "layers.well.material = 'unobtainium' is not known",
        ),
        (lambda t: t["reference_biases_V"].pop("P5"), r"no bias for gate\(s\) \['P5'\]"),
        (
            lambda t: t["gates"][1].update(
                polygon_nm=[[-76, -45], [-45, -45], [-45, 45], [-76, 45]]
            ),
            "gates.P5 has no mirror image in x = 0",
        ),
        (lambda t: t["dots"][0].update(plunger="P9"), "dots.dot_L.plunger = 'P9' is not a gate"),
        (
            lambda t: t["quantum"].update(margin_nm=60.0),
            r"quantum.margin_nm = 60.0 \(below\) must be <",
        ),
        (
            lambda t: t["quantum"].update(margin_nm=[1.0, 2.0, 3.0]),
            r"quantum.margin_nm = \[1.0, 2.0, 3.0\] must be one number or \[below, above\]",
        ),
        (
            lambda t: t["quantum"].update(kp_box_nm=[-150.0, 150.0, -40.0, 40.0]),
            "quantum.kp_box_nm = .* must lie inside the dot regions",
        ),
        (
            lambda t: t["quantum"].update(kp_box_nm=[-100.0, 60.0, -40.0, 40.0]),
            r"quantum.kp_box_nm x range \[-100, 60\] is not centred",
        ),
        (
            lambda t: t["layers"][1].update(top_steps=[{"x_nm": [-50.0, 10.0], "dz_nm": 0.5}]),
            "layers.well.top_steps are not mirror symmetric",
        ),
        (
            lambda t: t["layers"][1].update(
                top_steps=[
                    {"x_nm": [-50.0, 10.0], "dz_nm": 0.5},
                    {"x_nm": [0.0, 50.0], "dz_nm": 0.5},
                ]
            ),
            "layers.well.top_steps: the terraces .* overlap",
        ),
        (
            lambda t: t["layers"][1].update(top_steps=[{"x_nm": [-200.0, 200.0], "dz_nm": 0.5}]),
            r"layers.well.top_steps\[0\].x_nm = .* leaves the domain",
        ),
        (
            lambda t: t["layers"][0].update(top_steps=[{"x_nm": [-10.0, 10.0], "dz_nm": 5.0}]),
            r"layers.well: -0.4 nm thick over x in \[-10, 10\]",
        ),
        (
            lambda t: t["layers"][-1].update(top_steps=[{"x_nm": [-10.0, 10.0], "dz_nm": 1.0}]),
            "the top layer ends the stack",
        ),
        (
            lambda t: t["layers"][6].update(top_steps=[{"x_nm": [-10.0, 10.0], "dz_nm": -1.0}]),
            "gates.SG: z range .* cuts the stepped top of layer 'screening_layer'",
        ),
        (
            lambda t: t["layers"][1].update(top_steps=[{"x_nm": [-10.0, 10.0], "dz": 1.0}]),
            r"layers.well.top_steps\[0\]: unknown key\(s\) \['dz'\]",
        ),
        (lambda t: t["gates"][0].update(z_nm=[-1.0, 1.0]), "cuts the quantum region"),
        (lambda t: t.update(colour="blue"), r"unknown key\(s\) \['colour'\]"),
    ],
)
def test_a_bad_description_is_refused_by_field_before_meshing(edit, message):
    with pytest.raises(ValueError, match=message):
        DeviceDescription.from_dict(_set(_tf_tables(), edit))


def test_template_parameters_are_checked_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['pitch_nm'\]"):
        load_description("tunnel_falls", {"pitch_nm": 50.0})
    with pytest.raises(ValueError, match="finger_width_nm = 30.0 must be < finger_pitch_nm"):
        load_description("tunnel_falls", {"finger_pitch_nm": 25.0})
    with pytest.raises(ValueError, match="neither a .toml file nor a shipped device"):
        load_description("tunnel_fals")
    bad = tmp_path / "d.toml"
    bad.write_text('template = "spiral"\n')
    with pytest.raises(ValueError, match="d.toml: template = 'spiral' is not known"):
        load_description(bad)


def test_a_template_and_its_explicit_twin_give_the_same_study(tmp_path):
    """The shipped template ``tunnel_falls`` and the explicit description it expands to (written
    out as a file): the same meshes, so the same levels to round-off."""
    from femvalley.config import StudyConfig
    from femvalley.io.toml import dump_toml
    from femvalley.system import build_system

    from .conftest import COARSE_STUDY_PARAMS

    path = tmp_path / "twin.toml"
    twin = load_description("tunnel_falls").to_dict()
    path.write_text(dump_toml(twin))
    systems = {}
    for name in ("tunnel_falls", str(path)):
        cfg = StudyConfig.from_dict(
            {"model": "bo2d", "device": {"name": name, "params": COARSE_STUDY_PARAMS}}
        )
        systems[name] = build_system(cfg)
    a, b = systems["tunnel_falls"], systems[str(path)]
    assert b.config.device.resolved().gates == a.config.device.resolved().gates
    np.testing.assert_array_equal(b.quantum_mesh.p, a.quantum_mesh.p)
    for eps in (-10.0, 10.0):
        np.testing.assert_allclose(
            b.solve(eps).energies_meV, a.solve(eps).energies_meV, rtol=0, atol=1e-9
        )


def test_a_gate_work_function_offset_acts_as_a_shift_of_its_bias(tmp_path):
    """phi = V_g - offset on the gate: an offset of 0.2 V on P5 at P5 = 2.5 V is the plain
    device at P5 = 2.3 V, by linearity (the same mesh, so to round-off)."""
    from femvalley.config import StudyConfig
    from femvalley.io.toml import dump_toml
    from femvalley.system import build_system

    from .conftest import COARSE_STUDY_PARAMS

    tables = load_description("tunnel_falls").to_dict()
    next(g for g in tables["gates"] if g["name"] == "P5")["work_function_offset_V"] = 0.2
    path = tmp_path / "offset.toml"
    path.write_text(dump_toml(tables))
    energies = []
    for name, p5 in ((str(path), 2.5), ("tunnel_falls", 2.3)):
        cfg = StudyConfig.from_dict(
            {
                "model": "bo2d",
                "device": {"name": name, "params": COARSE_STUDY_PARAMS},
                "biases_V": {"P5": p5},
            }
        )
        energies.append(build_system(cfg).solve(0.0).energies_meV)
    np.testing.assert_allclose(energies[0], energies[1], rtol=0, atol=1e-8)


def test_a_study_needs_a_double_dot_and_says_so():
    from femvalley.config import StudyConfig

    with pytest.raises(ValueError, match="a study needs a double dot"):
        StudyConfig.from_dict({"device": {"name": "triple_dot"}})


def test_an_explicit_description_file_takes_its_mesh_sizes_as_parameters(tmp_path):
    from femvalley.config import DeviceConfig
    from femvalley.io.toml import dump_toml

    path = tmp_path / "explicit.toml"
    path.write_text(dump_toml(load_description("tunnel_falls").to_dict()))
    dev = DeviceConfig(name=str(path), params={"quantum_mesh_size_nm": 8.0}).resolved()
    assert dev.params.quantum_mesh_size_nm == 8.0 and dev.description.mesh.quantum_nm == 8.0
    assert dev.params.kp_mesh_size_nm == 2.5  # the file's own
    assert dev.gates == ("B4", "P5", "B5", "P6", "B6", "SG", "CS")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['finger_pitch_nm'\]"):
        DeviceConfig(name=str(path), params={"finger_pitch_nm": 50.0})
    with pytest.raises(ValueError, match="device.params.quantum_mesh_size_nm"):
        DeviceConfig(name=str(path), params={"quantum_mesh_size_nm": "fine"})
    with pytest.raises(ValueError, match="no such description file"):
        DeviceConfig(name=str(tmp_path / "missing.toml"))


def test_a_study_on_a_description_file_refuses_an_edited_file(tmp_path):
    """The study records the description's content: the same study file with the same
    description has the same identity (resume works); an edited description is refused by
    name, and a resume into the old store would see another configuration."""
    from femvalley.config import StudyConfig

    path = tmp_path / "dev.toml"
    path.write_text('template = "linear_array"\n[params]\nname = "dev"\n')
    cfg = StudyConfig.from_dict({"device": {"name": str(path)}})
    digest = cfg.device.description_sha256
    assert digest is not None and len(digest) == 64
    stored = cfg.to_toml()
    assert "description_sha256" in stored
    assert StudyConfig.from_dict({"device": {"name": str(path)}}).to_toml() == stored
    levels = cfg.with_mesh_sizes({"quantum_mesh_size_nm": 3.0})  # params change, file not
    assert levels.device.description_sha256 == digest
    path.write_text('template = "linear_array"\n[params]\nname = "dev"\nwell_nm = 6.0\n')
    study = tmp_path / "study.toml"
    study.write_text(stored)
    with pytest.raises(ValueError, match="device.description_sha256 = .* is not the one"):
        StudyConfig.from_toml(study)
    assert StudyConfig.from_dict({"device": {"name": str(path)}}).to_toml() != stored
    assert StudyConfig().device.description_sha256 is None  # shipped: versioned with the package


def test_an_ensemble_over_description_files_gives_each_realisation_its_own_device(tmp_path):
    from femvalley.config.ensemble import EnsembleConfig

    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('template = "linear_array"\n[params]\nname = "a"\n')
    b.write_text('template = "linear_array"\n[params]\nname = "b"\nwell_nm = 6.0\n')
    e = EnsembleConfig.from_dict(
        {
            "device": {"name": str(a)},
            "ensemble": {"seeds": 2, "parameters": {"device.name": [str(a), str(b)]}},
        }
    )
    studies = [e.point_config(i) for i in range(4)]
    assert [s.device.name for s in studies] == [str(a), str(a), str(b), str(b)]
    wells = [s.device.resolved().description.layers[1].thickness_nm for s in studies]
    assert wells == [4.6, 4.6, 6.0, 6.0]
    assert studies[0].device.description_sha256 != studies[2].device.description_sha256


def test_femvalley_mesh_show_draws_the_layout_before_meshing(tmp_path, capsys):
    import matplotlib.image

    from femvalley.cli import main

    sets = [f"--set={k}={v}" for k, v in COARSE.items()]
    out = tmp_path / "td.vtu"
    assert main(["mesh", "triple_dot", "--show", "--out", str(out), *sets]) == 0
    layout = tmp_path / "td_layout.png"
    assert out.stat().st_size > 10_000
    image = matplotlib.image.imread(layout)
    assert image.shape[1] > 2 * image.shape[0]  # the two panels side by side
    assert image[..., :3].std() > 0.1  # something is drawn
    assert "layout of triple_dot" in capsys.readouterr().out
    assert main(["mesh", "nowhere.toml", "--show", "--out", str(tmp_path / "f.vtu")]) == 2
    assert "no such description file" in capsys.readouterr().err


def _write_gds(path, description, *, labelled=("P5", "B5", "P6", "SG", "CS")):
    """The gates of ``description`` as a GDS layout in micrometres: fingers on layer 10,
    screening strips on layer 20; text labels inside the ``labelled`` gates."""
    import gdstk

    lib = gdstk.Library(unit=1e-6, precision=1e-9)
    cell = lib.new_cell("DQD")
    for g in description.gates:
        layer = 10 if g.layer == "finger_layer" else 20
        pts = [(x / 1000.0, y / 1000.0) for x, y in g.polygon_nm]
        cell.add(gdstk.Polygon(pts, layer=layer, datatype=0))
        if g.name in labelled:
            c = g.outline().representative_point()
            cell.add(gdstk.Label(g.name, (c.x / 1000.0, c.y / 1000.0), layer=layer))
    cell.add(gdstk.rectangle((0.5, 0.5), (0.6, 0.6), layer=99))  # an unmapped layer
    lib.write_gds(str(path))


def test_a_gds_layout_becomes_the_same_device_as_its_toml_twin(tmp_path):
    reference = load_description("tunnel_falls")
    _write_gds(tmp_path / "dqd.gds", reference)
    tables = copy.deepcopy(reference.to_dict())
    del tables["gates"]
    tables["gds"] = {
        "file": "dqd.gds",
        "cell": "DQD",
        "layers": [
            {"layer": 10, "gate_layer": "finger_layer", "names": ["B4", "B6"]},
            {"layer": 20, "datatype": 0, "gate_layer": "screening_layer"},
        ],
    }
    from_gds = DeviceDescription.from_dict(tables, base_dir=tmp_path)
    assert from_gds.gate_names == reference.gate_names
    for a, b in zip(from_gds.gates, reference.gates):
        assert a.layer == b.layer
        assert a.outline().symmetric_difference(b.outline()).area < 1e-9  # nm^2
    m_gds, m_ref = build(from_gds), build(reference)  # the same device, meshed
    for name in ("finger_layer", "screening_layer", "P5", "SG"):
        measure = _volume if len(m_ref.cell_sets[name][0]) else _area
        assert measure(m_gds, name) == pytest.approx(measure(m_ref, name), rel=1e-9)
    # the file is read through the catalog too (relative to the description file)
    from femvalley.io.toml import dump_toml

    (tmp_path / "dqd.toml").write_text(dump_toml(tables))
    assert load_description(tmp_path / "dqd.toml").gate_names == reference.gate_names


def test_bad_gds_mappings_are_refused_by_name(tmp_path):
    reference = load_description("tunnel_falls")
    _write_gds(tmp_path / "dqd.gds", reference, labelled=())
    base = copy.deepcopy(reference.to_dict())
    del base["gates"]

    def with_gds(gds):
        return DeviceDescription.from_dict({**base, "gds": gds}, base_dir=tmp_path)

    fingers = {"layer": 10, "gate_layer": "finger_layer"}
    with pytest.raises(ValueError, match="gds.file = 'missing.gds': no such file"):
        with_gds({"file": "missing.gds", "layers": [fingers]})
    with pytest.raises(ValueError, match=r"gds.layers\[0\]: no polygon on GDS layer 7/0"):
        with_gds({"file": "dqd.gds", "layers": [{"layer": 7, "gate_layer": "finger_layer"}]})
    with pytest.raises(ValueError, match="gds.cell = 'TOP' is not in the file"):
        with_gds({"file": "dqd.gds", "cell": "TOP", "layers": [fingers]})
    with pytest.raises(ValueError, match=r"names lists 6 gates, but layer 10/0 has 5"):
        with_gds({"file": "dqd.gds", "layers": [{**fingers, "names": list("ABCDEF")}]})
    # unnamed, unlabelled polygons are named by GDS layer and position: the plungers are gone
    strips = {"layer": 20, "gate_layer": "screening_layer"}
    with pytest.raises(ValueError, match=r"'P5' is not a gate; gates: \['L10_1', 'L10_2'"):
        with_gds({"file": "dqd.gds", "layers": [fingers, strips]})


def test_a_geometry_ensemble_varies_the_pitch_of_a_described_device(tmp_path, monkeypatch):
    """device.params paths of a template device vary the geometry: one device (mesh, gate
    solves, basis) per pitch, every realisation solved, the dot regions and the dots
    following the pitch, a table and a figure against it; a second run meshes nothing (the
    device cache) and gives the same numbers."""
    import csv

    from femvalley.config.ensemble import EnsembleConfig
    from femvalley.ensemble import run_ensemble
    from femvalley.io.device_cache import CACHE_DIR_ENV
    from geometries.device import Device

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))

    from .conftest import COARSE_STUDY_PARAMS

    dev = tmp_path / "dev.toml"
    dev.write_text(
        'template = "linear_array"\n[params]\nname = "pitch_study"\n'
        'finger_names = ["B4", "P5", "B5", "P6", "B6"]\n'
    )
    cfg = EnsembleConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"name": str(dev), "params": COARSE_STUDY_PARAMS},
            "detuning": {"points": 3},
            "solver": {"n_states": 8},
            "output": {"figures": True, "vtu_states": 0},
            "convergence": {"estimate": "none"},
            "ensemble": {
                "seeds": 1,
                "combine": "zip",
                "parameters": {
                    "device.params.finger_pitch_nm": [60.0, 65.0, 70.0],
                    "device.params.finger_width_nm": [30.0, 32.5, 35.0],
                },
            },
        }
    )
    pitches = [60.0, 65.0, 70.0]  # (at 50 nm the two dots merge into one at this bias)
    right = [cfg.point_config(i).device.resolved().description.dots[1] for i in range(3)]
    assert [d.rectangle_nm[1] for d in right] == [1.75 * p for p in pitches]
    res = run_ensemble(cfg, out_dir=tmp_path / "out", progress=False)
    assert np.all(res.done == 1)
    assert np.all(np.isfinite(res.energies_meV))
    setups = [k for k in res.summary.timings_s if k.startswith("group_")]
    assert len(setups) == 3  # one device per pitch
    combos = res.summary.combinations
    assert [c.parameters["device.params.finger_pitch_nm"] for c in combos] == pitches
    # the dots sit under their plungers (x = -+pitch), pulled inwards by the centre barrier
    for c, pitch in zip(combos, pitches):
        x_left, x_right = c.device["dot_L_x_nm"], c.device["dot_R_x_nm"]
        assert x_left == pytest.approx(-x_right, abs=0.01)  # mirror symmetric (to the basis)
        assert 0.6 * pitch < x_right < pitch
        assert c.device["orbital_spacing_L_meV"] > 0.1
    assert np.all(np.diff([c.device["dot_R_x_nm"] for c in combos]) > 0)
    rows = list(csv.DictReader((tmp_path / "out" / "combinations.csv").open()))
    assert [float(r["device.params.finger_pitch_nm"]) for r in rows] == pitches
    assert float(rows[1]["dot_R_x_nm"]) == pytest.approx(combos[1].device["dot_R_x_nm"])
    assert (tmp_path / "out" / "parameters.png").stat().st_size > 20_000
    for i in range(len(pitches)):  # each geometry of the run, resolved
        d = DeviceDescription.from_toml(tmp_path / "out" / f"device_{i}.toml")
        assert d == cfg.point_config(i).device.resolved().description

    def refuse(self):
        raise AssertionError("meshed again")

    monkeypatch.setattr(Device, "build", refuse)
    again = run_ensemble(cfg, out_dir=tmp_path / "again", progress=False)
    np.testing.assert_allclose(again.energies_meV, res.energies_meV, rtol=1e-12)


def test_meshing_leaves_the_ctrl_c_handler_in_place(tf_description):
    """gmsh's default initialisation sets Ctrl-C to kill the process and never restores
    Python's handler; a run meshed by femvalley must still stop cleanly on Ctrl-C."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    build(tf_description)
    build_plane(tf_description)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_study_of_an_array_sweeps_the_pair_of_dots_it_names():
    """device.dots = ["dot_2", "dot_3"] on the triple dot: the detuning moves P2 and P3, and
    the electron between the regions of dots 2 and 3 (which play dot_L and dot_R)."""
    from femvalley.config import StudyConfig
    from femvalley.system import build_system

    from .conftest import COARSE_STUDY_PARAMS

    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {
                "name": "triple_dot",
                "params": COARSE_STUDY_PARAMS,
                "dots": ["dot_2", "dot_3"],
            },
            "solver": {"n_states": 4},
        }
    )
    assert cfg.detuning_weights() == {"P2": 0.5, "P3": -0.5}
    assert StudyConfig.from_dict(cfg.to_dict()).device.dots == ("dot_2", "dot_3")  # stored
    system = build_system(cfg)
    x = system.quantum_mesh.p[0]
    boxes = cfg.device.pair_rectangles_nm()
    for eps, role in ((40.0, "dot_L"), (-40.0, "dot_R")):
        res = system.solve(eps)
        obs = system.observables(res)
        weight = obs["dot_weight"][0, 0 if role == "dot_L" else 1]
        assert weight > 0.9, (eps, weight)
        assert boxes[role][0] < obs["x_mean_nm"][0] < boxes[role][1]
    assert x.min() < boxes["dot_L"][0]  # dot 1 is part of the k.p problem too
    for bad, message in (
        (["dot_3", "dot_2"], "give the left dot first"),
        (["dot_2", "dot_9"], "'dot_9' is not a dot region"),
        (["dot_2"], "must name two dot regions"),
    ):
        with pytest.raises(ValueError, match=message):
            StudyConfig.from_dict({"device": {"name": "triple_dot", "dots": bad}})
    with pytest.raises(ValueError, match=r"name the pair it sweeps, e.g. device.dots"):
        StudyConfig.from_dict({"device": {"name": "triple_dot"}})
