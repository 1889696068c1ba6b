"""Valley maps of a study: uniform, from a grid file, the QTCAD sampler, and P2 nodal values."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import tomllib
from threadpoolctl import threadpool_limits

from femvalley.config import StudyConfig
from femvalley.eigen import solve
from femvalley.kp import assemble, make_basis, single_band_model, two_valley_model
from femvalley.system import valley_map
from femvalley.valley_map import (
    DENSE_COVARIANCE_LIMIT_BYTES,
    ValleyGrid,
    ValleyMapSpec,
    load_valley_grid,
    read_valley_grid_arrays,
    sample_grid,
    save_valley_grid,
)

from .conftest import C_T, ho_potential, square_mesh

HW = (4.0, 6.0)  # meV: levels 5, 9, 13, 15, ... meV apart by >= 2 meV
HALF_WIDTH = 60.0


def _study(**valley_map):
    return StudyConfig.from_dict({"valley_map": valley_map})


@pytest.fixture(scope="module")
def dot():
    """A 2-D harmonic dot and its single-valley spectrum, solved on its own."""
    mesh = square_mesh(20, HALF_WIDTH)
    u = ho_potential(HW, (C_T, C_T))
    single = solve(assemble(single_band_model(dim=2, potential_meV=u), mesh), k=4)
    return mesh, u, single.energies_meV


def _two_valley_spectrum(mesh, u, delta_meV, k=8):
    ops = assemble(two_valley_model(dim=2, delta_meV=delta_meV, potential_meV=u), mesh)
    return solve(ops, k=k, backend="superlu").energies_meV


# -- uniform -----------------------------------------------------------------------------------
def test_uniform_map_splits_every_orbital_level_by_exactly_2_abs_delta(dot):
    mesh, u, single = dot
    delta, grid = valley_map(_study(model="uniform", delta_ueV=[60.0, -80.0]), mesh.p)
    d = (60.0 - 80.0j) * 1e-3  # meV, |Delta| = 0.1 meV
    np.testing.assert_array_equal(delta, np.full(mesh.nvertices, d))
    e = _two_valley_spectrum(mesh, u, delta)
    # every orbital level E_n of the single-valley problem becomes E_n -+ |Delta|
    expected = np.sort(np.concatenate([single - abs(d), single + abs(d)]))
    np.testing.assert_allclose(e, expected, rtol=1e-11, atol=1e-11)
    pairs = e.reshape(4, 2)
    np.testing.assert_allclose(pairs[:, 1] - pairs[:, 0], 2 * abs(d), rtol=1e-9)
    # the grid for figures: the constant field over the nodes' bounding box
    assert (grid.x_nm[0], grid.x_nm[-1]) == (-HALF_WIDTH, HALF_WIDTH)
    assert (grid.y_nm[0], grid.y_nm[-1]) == (-HALF_WIDTH, HALF_WIDTH)
    np.testing.assert_allclose(grid.valley_splitting_ueV, 200.0, rtol=1e-14)
    assert "E_V = 200 ueV" in grid.label


def test_global_phase_of_uniform_delta_leaves_the_spectrum_unchanged(dot):
    mesh, u, _ = dot
    spectra = []
    for value in (
        [100.0, 0.0],
        [0.0, 100.0],
        [60.0, -80.0],
        [-70.71067811865476, 70.71067811865476],
        -100.0,
    ):
        delta, _ = valley_map(_study(model="uniform", delta_ueV=value), mesh.p)
        spectra.append(_two_valley_spectrum(mesh, u, delta, k=4))
    for s in spectra[1:]:
        np.testing.assert_allclose(s, spectra[0], rtol=1e-11)
    # and |Delta| matters: another modulus gives another splitting
    delta, _ = valley_map(_study(model="uniform", delta_ueV=50.0), mesh.p)
    e = _two_valley_spectrum(mesh, u, delta, k=2)
    assert e[1] - e[0] == pytest.approx(0.1, rel=1e-9)
    assert spectra[0][1] - spectra[0][0] == pytest.approx(0.2, rel=1e-9)


@pytest.mark.parametrize(
    "value", [[1.0, 2.0, 3.0], "50", [math.nan, 0.0], math.inf, True, [1.0, "a"], {"re": 1.0}]
)
def test_bad_uniform_delta_is_refused_naming_the_field_value_and_what_is_allowed(value):
    with pytest.raises(ValueError, match=r"valley_map\.delta_ueV = .*allowed: \[re, im\]") as err:
        _study(model="uniform", delta_ueV=value)
    assert repr(value) in str(err.value)


def test_uniform_delta_is_required_by_the_uniform_model_and_only_there():
    with pytest.raises(ValueError, match=r"model = 'uniform' needs valley_map\.delta_ueV"):
        _study(model="uniform")
    with pytest.raises(ValueError, match=r"delta_ueV is given but valley_map\.model = 'gaussian'"):
        _study(delta_ueV=[1.0, 0.0])


# -- grid files --------------------------------------------------------------------------------
def _random_grid(seed=0):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(6.0, 12.0, 24)) - 100.0  # non-uniform axes, beyond +-60 nm
    y = np.cumsum(rng.uniform(7.0, 13.0, 17)) - 80.0
    d = rng.standard_normal((24, 17)) + 1j * rng.standard_normal((24, 17))
    return ValleyGrid(x_nm=x, y_nm=y, delta_meV=0.1 * d)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".hdf5"])
def test_grid_file_round_trips_bit_for_bit(tmp_path, suffix):
    grid = _random_grid()
    path = save_valley_grid(tmp_path / f"map{suffix}", grid)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    x, y, d = read_valley_grid_arrays(path)
    np.testing.assert_array_equal(x, grid.x_nm)
    np.testing.assert_array_equal(y, grid.y_nm)
    np.testing.assert_array_equal(d, grid.delta_meV * 1000.0)  # stored in ueV
    assert d.dtype == np.complex128
    again = load_valley_grid(path)
    np.testing.assert_array_equal(again.x_nm, grid.x_nm)
    np.testing.assert_array_equal(again.y_nm, grid.y_nm)
    np.testing.assert_array_equal(again.delta_meV, d * 1e-3)
    # the unit conversion ueV -> meV costs at most one rounding
    np.testing.assert_allclose(again.delta_meV, grid.delta_meV, rtol=3e-16, atol=0)
    # and writing what was read gives the same file content
    x2, y2, d2 = read_valley_grid_arrays(save_valley_grid(tmp_path / f"copy{suffix}", again))
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_allclose(d2, d, rtol=3e-16, atol=0)


def _write_map(path, **arrays):
    """Write a map file as a user would (plain NumPy / h5py); ``None`` leaves a key out."""
    arrays = {k: v for k, v in arrays.items() if v is not None}
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
    return path


def _bilinear(x, y, d, px, py):
    """Bilinear interpolation written out: the cell, then the four corner weights."""
    i = np.clip(np.searchsorted(x, px, side="right") - 1, 0, x.size - 2)
    j = np.clip(np.searchsorted(y, py, side="right") - 1, 0, y.size - 2)
    t = (px - x[i]) / (x[i + 1] - x[i])
    s = (py - y[j]) / (y[j + 1] - y[j])
    return (
        (1 - t) * (1 - s) * d[i, j]
        + t * (1 - s) * d[i + 1, j]
        + (1 - t) * s * d[i, j + 1]
        + t * s * d[i + 1, j + 1]
    )


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_study_map_from_a_file_is_the_bilinear_interpolation_of_the_file(
    tmp_path, monkeypatch, suffix
):
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(-90.0, 90.0, 30))
    x[0], x[-1] = -90.0, 90.0
    y = np.linspace(-75.0, 75.0, 21)
    d_ueV = rng.normal(0, 80, (30, 21)) + 1j * rng.normal(0, 80, (30, 21))
    _write_map(tmp_path / f"user_map{suffix}", x_nm=x, y_nm=y, delta_ueV=d_ueV)
    mesh = square_mesh(20, HALF_WIDTH)
    # a relative path is resolved against the current working directory
    monkeypatch.chdir(tmp_path)
    cfg = _study(model="file", path=f"user_map{suffix}")
    delta, grid = valley_map(cfg, mesh.p)
    expected = _bilinear(x, y, d_ueV, mesh.p[0], mesh.p[1]) * 1e-3
    np.testing.assert_allclose(delta, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    # the grid for figures: the file's cells that hold the quantum region, values unchanged
    assert (
        grid.x_nm[0] <= -HALF_WIDTH < grid.x_nm[1] and grid.x_nm[-2] < HALF_WIDTH <= grid.x_nm[-1]
    )
    assert (
        grid.y_nm[0] <= -HALF_WIDTH < grid.y_nm[1] and grid.y_nm[-2] < HALF_WIDTH <= grid.y_nm[-1]
    )
    i0 = int(np.flatnonzero(x == grid.x_nm[0])[0])
    j0 = int(np.flatnonzero(y == grid.y_nm[0])[0])
    np.testing.assert_allclose(
        grid.delta_meV, d_ueV[i0 : i0 + grid.x_nm.size, j0 : j0 + grid.y_nm.size] * 1e-3, rtol=1e-15
    )
    assert f"user_map{suffix}" in grid.label


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
@pytest.mark.parametrize(
    "change, problem",
    [
        ({"delta_ueV": None}, r"missing key\(s\) \['delta_ueV'\]"),
        (
            {"x_nm": np.array([-90.0, -10.0, -10.0, 90.0])},
            r"x_nm is not strictly increasing: x_nm\[2\] = -10 nm <= x_nm\[1\] = -10 nm",
        ),
        (
            {"y_nm": np.array([-90.0, 10.0, -5.0, 90.0])},
            r"y_nm is not strictly increasing: y_nm\[2\]",
        ),
        (
            "nan",
            r"delta_ueV has 1 non-finite value\(s\) \(NaN or inf\), the first at index \(2, 1\)",
        ),
        (
            {"y_nm": np.array([-90.0, 0.0, 90.0])},
            r"delta_ueV has shape \(4, 4\); need \(nx, ny\) = \(4, 3\)",
        ),
        (
            {"x_nm": np.array([[-90.0, 90.0], [-90.0, 90.0]])},
            r"x_nm has shape \(2, 2\); need a 1-D array",
        ),
    ],
    ids=["missing-key", "x-not-increasing", "y-not-increasing", "nan", "shape", "2-d-axis"],
)
def test_bad_grid_files_are_refused_naming_the_file_and_the_problem(
    tmp_path, suffix, change, problem
):
    x = np.array([-90.0, -10.0, 10.0, 90.0])
    d = np.ones((4, 4), dtype=complex)
    arrays = {"x_nm": x, "y_nm": x.copy(), "delta_ueV": d}
    if change == "nan":
        d[2, 1] = np.nan
    else:
        arrays.update(change)
    path = _write_map(tmp_path / f"bad{suffix}", **arrays)
    cfg = _study(model="file", path=str(path))  # the file exists: its content is checked on use
    mesh = square_mesh(4, HALF_WIDTH)
    with pytest.raises(
        ValueError, match=re.escape(f"valley-map file {str(path)!r}") + ".*" + problem
    ):
        valley_map(cfg, mesh.p)
    with pytest.raises(ValueError, match=problem):
        load_valley_grid(path)


def test_a_map_that_does_not_cover_the_quantum_region_is_refused_naming_the_extent(tmp_path):
    x = np.linspace(-50.0, 50.0, 11)
    y = np.linspace(-80.0, 80.0, 9)
    path = _write_map(
        tmp_path / "small.npz", x_nm=x, y_nm=y, delta_ueV=np.ones((11, 9), dtype=complex)
    )
    cfg = _study(model="file", path=str(path))
    with pytest.raises(ValueError) as err:
        valley_map(cfg, square_mesh(6, HALF_WIDTH).p)
    msg = str(err.value)
    assert "small.npz" in msg and "does not cover the quantum region" in msg
    assert "x from -60.0 to -50.0 nm is outside the map's x range [-50, 50] nm" in msg
    assert "x from 50.0 to 60.0 nm is outside the map's x range [-50, 50] nm" in msg
    assert "y from" not in msg  # y is covered
    # nodes beyond the map by round-off only are accepted (clipped onto the edge)
    p = square_mesh(6, 50.0).p * (1 + 1e-13)
    delta, _ = valley_map(cfg, p)
    np.testing.assert_allclose(delta, 1e-3, rtol=1e-14)


def test_file_model_needs_an_existing_grid_file_of_a_known_type(tmp_path):
    with pytest.raises(ValueError, match=r"model = 'file' needs valley_map\.path"):
        _study(model="file")
    with pytest.raises(ValueError, match=r"valley_map\.path = '.*nowhere\.npz' does not exist"):
        _study(model="file", path=str(tmp_path / "nowhere.npz"))
    (tmp_path / "map.csv").write_text("x,y\n")
    with pytest.raises(ValueError, match=r"unknown file type '\.csv'"):
        _study(model="file", path=str(tmp_path / "map.csv"))
    with pytest.raises(ValueError, match=r"valley_map\.path is given but valley_map\.model"):
        _study(path=str(tmp_path / "map.csv"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    cfg = _study(model="file", path=str(tmp_path / "junk.npz"))
    with pytest.raises(ValueError, match=r"junk\.npz' cannot be read as \.npz"):
        valley_map(cfg, square_mesh(4, 10.0).p)


def test_h5py_is_imported_only_to_read_or_write_an_hdf5_map(tmp_path):
    path = save_valley_grid(tmp_path / "map.npz", _random_grid())
    code = (
        "import sys, femvalley, femvalley.config, femvalley.valley_map as vm\n"
        "assert 'h5py' not in sys.modules and 'matplotlib' not in sys.modules\n"
        f"vm.load_valley_grid({str(path)!r})\n"
        "assert 'h5py' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the QTCAD sampler -------------------------------------------------------------------------
def _tutorial_recipe(points_nm, *, mean_ueV, lx, ly, nx, ny, seed):
    """The recipe in plain NumPy: grid over the nodes' bounding box, full covariance, SVD draws."""
    x = np.linspace(points_nm[0].min(), points_nm[0].max(), nx)
    y = np.linspace(points_nm[1].min(), points_nm[1].max(), ny)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    px, py = xx.flatten(), yy.flatten()
    dx = px[:, None] - px[None, :]
    dy = py[:, None] - py[None, :]
    sigma = mean_ueV * 1e-3 / np.sqrt(np.pi)  # <E_V> in meV, the unit of the field
    cov = sigma**2 / 2 * np.exp(-(dx**2) / lx**2 - dy**2 / ly**2)
    rng = np.random.default_rng(seed)
    # one BLAS thread, as femvalley does: the SVD's last bits depend on the thread count
    with threadpool_limits(limits=1):
        re_part = rng.multivariate_normal(np.zeros(nx * ny), cov)
        im_part = rng.multivariate_normal(np.zeros(nx * ny), cov)
    return x, y, (re_part + 1j * im_part).reshape(nx, ny)


@pytest.mark.parametrize(
    "lx, ly, nx, ny", [(6.0, 10.0, 16, 9), (19.2, 1000.0, 24, 6)], ids=["short", "tunnel-falls"]
)
def test_qtcad_sampler_equals_the_tutorial_recipe_in_plain_numpy(lx, ly, nx, ny):
    rng = np.random.default_rng(1)
    p = np.vstack([rng.uniform(-105.0, 105.0, 400), rng.uniform(-40.0, 40.0, 400)])
    cfg = _study(
        sampler="qtcad", mean_valley_splitting_ueV=200.0, lx_nm=lx, ly_nm=ly, nx=nx, ny=ny, seed=8
    )
    delta, grid = valley_map(cfg, p)
    x, y, ref = _tutorial_recipe(p, mean_ueV=200.0, lx=lx, ly=ly, nx=nx, ny=ny, seed=8)
    # the grid spans exactly min..max of the nodes
    np.testing.assert_array_equal(grid.x_nm, x)
    np.testing.assert_array_equal(grid.y_nm, y)
    assert grid.x_nm[0] == p[0].min() and grid.x_nm[-1] == p[0].max()
    assert np.abs(grid.delta_meV - ref).max() <= 1e-12 * np.abs(ref).max()
    # then interpolated onto the nodes like every map
    expected = _bilinear(x, y, ref, p[0], p[1])
    np.testing.assert_allclose(delta, expected, rtol=0, atol=1e-12 * np.abs(ref).max())
    # a different realisation from the default sampler's (same statistics, other draw)
    kron, _ = valley_map(_study(lx_nm=lx, ly_nm=ly, nx=nx, ny=ny, seed=8), p)
    assert np.abs(kron - delta).max() > 0.1 * np.abs(ref).max()


@pytest.mark.parametrize("sampler", ["qtcad", "dense"])
def test_dense_samplers_are_refused_above_2_GiB_before_any_computation(sampler):
    assert DENSE_COVARIANCE_LIMIT_BYTES == 2 * 1024**3
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as err:
        _study(sampler=sampler, nx=200, ny=82)  # 16 400 points: 2.0 GiB + 0.3 %
    msg = str(err.value)
    assert f"valley_map.sampler = {sampler!r}" in msg
    assert "nx x ny = 200 x 82 = 16400" in msg
    assert f"{16400**2 * 8 / 2**30:.3g} GiB" in msg and "limit of 2 GiB" in msg
    # the largest grid under the limit passes validation (nothing is drawn here)
    assert _study(sampler=sampler, nx=128, ny=128).valley_map.sampler == sampler
    spec = ValleyMapSpec(mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=1000.0, nx=200, ny=82)
    with pytest.raises(ValueError, match="200 x 82"):
        sample_grid(spec, x_range_nm=(0, 1), y_range_nm=(0, 1), method=sampler)
    assert time.perf_counter() - t0 < 2.0  # refused without building anything
    with pytest.raises(ValueError, match=r"valley_map\.sampler = 'moments'; allowed"):
        _study(sampler="moments")
    with pytest.raises(
        ValueError, match=r"sampler = 'qtcad' is given but valley_map\.model = 'uniform'"
    ):
        _study(model="uniform", delta_ueV=1.0, sampler="qtcad")


# -- P2: Delta at every DOF --------------------------------------------------------------------
def _smooth_delta(x):
    """A smooth complex Delta(x, y) in meV that varies on the dot's scale (10 nm)."""
    size = 0.08 * (1 + 0.4 * np.sin(x[0] / 7.0 + 0.3) * np.cos(x[1] / 9.0))
    return size * np.exp(1j * (x[0] / 11.0 - x[1] / 13.0))


def _splitting(n, element, nodes):
    mesh = square_mesh(n, 50.0)
    basis = make_basis(mesh, element=element)
    points = basis.doflocs if nodes == "dofs" else mesh.p
    model = two_valley_model(
        dim=2, delta_meV=_smooth_delta(points), potential_meV=ho_potential(HW, (C_T, C_T))
    )
    e = solve(assemble(model, basis), k=2, backend="superlu").energies_meV
    return e[1] - e[0]


def _order(sizes, splittings, reference):
    h = 100.0 / np.asarray(sizes)
    return np.polyfit(np.log(h), np.log(np.abs(np.asarray(splittings) - reference)), 1)[0]


def test_p2_valley_splitting_converges_at_order_4_with_delta_at_every_dof():
    p2 = {n: _splitting(n, "P2", "dofs") for n in (12, 24, 48, 96)}
    # Richardson reference from the two finest P2 meshes (error ~ h^4)
    reference = p2[96] + (p2[96] - p2[48]) / 15.0
    order_p2 = _order((12, 24, 48), [p2[n] for n in (12, 24, 48)], reference)
    assert order_p2 == pytest.approx(4.0, abs=0.3), (p2, order_p2)
    assert abs(p2[48] - reference) < 2e-6  # meV: 2 neV on a 127 ueV splitting
    # P1 converges at order 2 to the same limit
    p1 = [_splitting(n, "P1", "vertices") for n in (24, 48, 96)]
    order_p1 = _order((24, 48, 96), p1, reference)
    assert order_p1 == pytest.approx(2.0, abs=0.2), (p1, order_p1)
    # P2 elements with Delta at the vertices only (interpolated linearly) lose the order
    p2v = [_splitting(n, "P2", "vertices") for n in (12, 24, 48)]
    order_p2v = _order((12, 24, 48), p2v, reference)
    assert order_p2v == pytest.approx(2.0, abs=0.3), (p2v, order_p2v)


def test_a_callable_delta_is_the_same_as_its_values_at_every_dof():
    mesh = square_mesh(6, 50.0)
    basis = make_basis(mesh, element="P2")
    u = ho_potential(HW, (C_T, C_T))
    by_values = assemble(
        two_valley_model(dim=2, delta_meV=_smooth_delta(basis.doflocs), potential_meV=u), basis
    )
    by_callable = assemble(two_valley_model(dim=2, delta_meV=_smooth_delta, potential_meV=u), basis)
    assert abs(by_values.constant - by_callable.constant).max() == 0.0


@pytest.mark.parametrize(
    "valley_map_table",
    [
        {},
        {"sampler": "qtcad", "nx": 12, "ny": 10},
        {"model": "uniform", "delta_ueV": [30.0, 40.0]},
        {"model": "file"},
    ],
    ids=["gaussian", "qtcad", "uniform", "file"],
)
def test_a_map_at_the_p2_dofs_is_the_same_map_as_at_the_vertices(tmp_path, valley_map_table):
    if valley_map_table.get("model") == "file":
        path = save_valley_grid(tmp_path / "map.h5", _random_grid(3))
        valley_map_table = {**valley_map_table, "path": str(path)}
    cfg = _study(**valley_map_table)
    mesh = square_mesh(8, 60.0)
    basis = make_basis(mesh, element="P2")
    at_vertices, grid = valley_map(cfg, mesh.p)
    at_dofs, grid2 = valley_map(cfg, basis.doflocs, vertices_nm=mesh.p)
    assert at_dofs.shape == (basis.N,)
    np.testing.assert_array_equal(at_dofs[: mesh.nvertices], at_vertices)
    np.testing.assert_array_equal(grid2.delta_meV, grid.delta_meV)
    # an edge midpoint of P2 gets the map's own value there, not the mean of its vertices
    # (the two agree only for a map that is linear along the edge)
    mids = basis.doflocs[:, mesh.nvertices :]
    np.testing.assert_allclose(
        at_dofs[mesh.nvertices :],
        _bilinear(grid.x_nm, grid.y_nm, grid.delta_meV, mids[0], mids[1]),
        rtol=0,
        atol=1e-12 * np.abs(grid.delta_meV).max(),
    )


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        {"model": "uniform", "delta_ueV": [60.0, -80.0]},
        {"model": "uniform", "delta_ueV": 50},
        {"model": "file"},
        {"sampler": "qtcad", "nx": 60, "ny": 15, "seed": 3},
        {"sampler": "dense"},
        {},
    ],
    ids=["uniform-complex", "uniform-real", "file", "qtcad", "dense", "default"],
)
def test_new_valley_map_fields_round_trip_through_toml(tmp_path, table):
    if table.get("model") == "file":
        table = {**table, "path": str(save_valley_grid(tmp_path / "map.npz", _random_grid()))}
    cfg = _study(**table)
    path = tmp_path / "study.toml"
    path.write_text(cfg.to_toml())
    again = StudyConfig.from_toml(path)
    assert again.valley_map == cfg.valley_map
    assert again.to_dict() == cfg.to_dict()
    stored = tomllib.loads(cfg.to_toml())["valley_map"]
    if table.get("model") == "uniform":
        value = table["delta_ueV"]
        assert stored["delta_ueV"] == (value if isinstance(value, list) else [float(value), 0.0])
        assert cfg.valley_map.uniform_delta_ueV() == complex(*stored["delta_ueV"])
    else:
        assert stored["delta_ueV"] == []
    assert stored["path"] == table.get("path", "")
    assert stored["sampler"] == table.get("sampler", "kronecker")
