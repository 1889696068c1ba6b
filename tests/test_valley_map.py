"""Statistics and mechanics of the correlated valley-coupling maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from femvalley.plot import plot_valley_splitting_map
from femvalley.valley_map import (
    ValleyGrid,
    ValleyMapSpec,
    component_covariance,
    grid_covariance_factors,
    interpolate_to_nodes,
    sample_grid,
    valley_map_on_nodes,
)

MEAN_UEV = 200.0


def _spec(**kw):
    base = dict(mean_valley_splitting_ueV=MEAN_UEV, lx_nm=6.0, ly_nm=10.0, nx=40, ny=30, seed=0)
    base.update(kw)
    return ValleyMapSpec(**base)


def test_sigma_and_covariance_formula():
    spec = _spec()
    sigma = MEAN_UEV * 1e-3 / math.sqrt(math.pi)
    assert spec.sigma_meV == pytest.approx(sigma)
    c0 = component_covariance(0.0, 0.0, mean_valley_splitting_ueV=MEAN_UEV, lx_nm=6.0, ly_nm=10.0)
    assert c0 == pytest.approx(sigma**2 / 2)
    c = component_covariance(6.0, 10.0, mean_valley_splitting_ueV=MEAN_UEV, lx_nm=6.0, ly_nm=10.0)
    assert c == pytest.approx(sigma**2 / 2 * math.exp(-2.0))


@pytest.mark.parametrize(
    "lx, ly, extent",
    [(6.0, 10.0, (78.0, 58.0)), (19.2, 1000.0, (105.0, 80.0))],
    ids=["short", "tunnel-falls-near-singular"],
)
def test_kronecker_factors_reproduce_covariance(lx, ly, extent):
    """(Lx Lx^T) (x) (Ly Ly^T) equals the covariance formula, also when Ky is near singular."""
    spec = _spec(lx_nm=lx, ly_nm=ly, nx=60, ny=15)
    x = np.linspace(0, extent[0], spec.nx)
    y = np.linspace(0, extent[1], spec.ny)
    fx, fy = grid_covariance_factors(x, y, spec)
    kx = np.exp(-(((x[:, None] - x[None, :]) / lx) ** 2))
    ky = np.exp(-(((y[:, None] - y[None, :]) / ly) ** 2))
    assert np.abs(fx @ fx.T - kx).max() < 1e-12
    assert np.abs(fy @ fy.T - ky).max() < 1e-12
    # Cholesky of Ky fails in the near-singular case: the eigen route is needed there
    if ly > 100 * extent[1]:
        with pytest.raises(np.linalg.LinAlgError):
            np.linalg.cholesky(ky)


def _many(spec, nsamples, method="kronecker"):
    out = []
    for s in range(nsamples):
        g = sample_grid(
            ValleyMapSpec(**{**spec.__dict__, "seed": 1000 + s}),
            x_range_nm=(0.0, 2.0 * (spec.nx - 1)),
            y_range_nm=(0.0, 2.0 * (spec.ny - 1)),
            method=method,
        )
        out.append(g.delta_meV)
    return np.array(out)


@pytest.fixture(scope="module")
def ensemble():
    spec = _spec(nx=40, ny=30)  # 2 nm grid spacing
    return spec, _many(spec, 300)


def test_mean_valley_splitting_matches_target(ensemble):
    spec, d = ensemble
    # points 4 correlation lengths apart are independent to exp(-16)
    ev = 2 * np.abs(d[:, ::12, ::20]) * 1e3
    n = ev.size
    se = math.sqrt((4 - math.pi) / math.pi) * MEAN_UEV / math.sqrt(n)
    assert abs(ev.mean() - MEAN_UEV) < 4 * se, (ev.mean(), se)


def test_valley_splitting_is_rayleigh_distributed(ensemble):
    spec, d = ensemble
    ev = (2 * np.abs(d[:, ::12, ::20]) * 1e3).ravel()
    scale = 2 * spec.sigma_meV / math.sqrt(2) * 1e3  # E_V = 2|Delta|, |Delta| ~ Rayleigh(s)
    p = stats.kstest(ev, "rayleigh", args=(0.0, scale)).pvalue
    assert p > 1e-3
    # and it is not, say, exponential with the same mean (the test has power)
    p_exp = stats.kstest(ev, "expon", args=(0.0, MEAN_UEV)).pvalue
    assert p_exp < 1e-6


@pytest.mark.parametrize("lag", [(0, 0), (1, 0), (3, 0), (0, 2), (0, 5), (2, 3)])
def test_empirical_covariance_matches_formula(ensemble, lag):
    spec, d = ensemble
    i, j = lag
    s2 = spec.sigma_meV**2 / 2
    a = d[:, : spec.nx - i, : spec.ny - j]
    b = d[:, i:, j:]
    emp_re = np.mean(a.real * b.real)
    emp_im = np.mean(a.imag * b.imag)
    emp_cross = np.mean(a.real * b.imag)
    expected = component_covariance(
        2.0 * i, 2.0 * j, mean_valley_splitting_ueV=MEAN_UEV, lx_nm=spec.lx_nm, ly_nm=spec.ly_nm
    )
    assert emp_re == pytest.approx(expected, abs=0.05 * s2)
    assert emp_im == pytest.approx(expected, abs=0.05 * s2)
    assert abs(emp_cross) < 0.05 * s2  # Re and Im are independent


def test_fast_and_dense_samplers_agree_in_distribution():
    spec = _spec(nx=8, ny=6, lx_nm=5.0, ly_nm=8.0)
    fast = _many(spec, 400, "kronecker").reshape(400, -1)
    dense = _many(spec, 400, "dense").reshape(400, -1)
    s2 = spec.sigma_meV**2 / 2
    cov_fast = np.cov(fast.real.T, bias=True)
    cov_dense = np.cov(dense.real.T, bias=True)
    assert np.abs(cov_fast - cov_dense).max() < 0.3 * s2
    # and each matches the exact covariance
    x = np.linspace(0, 14, 8)
    y = np.linspace(0, 10, 6)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    dx = xx.ravel()[:, None] - xx.ravel()[None, :]
    dy = yy.ravel()[:, None] - yy.ravel()[None, :]
    exact = component_covariance(dx, dy, mean_valley_splitting_ueV=MEAN_UEV, lx_nm=5.0, ly_nm=8.0)
    assert np.abs(cov_fast - exact).max() < 0.25 * s2
    assert np.abs(cov_dense - exact).max() < 0.25 * s2
    p = stats.ks_2samp(np.abs(fast).ravel(), np.abs(dense).ravel()).pvalue
    assert p > 1e-3


def test_same_seed_identical_different_seed_differs():
    spec = _spec(seed=8)
    a = sample_grid(spec, x_range_nm=(-100, 100), y_range_nm=(-40, 40))
    b = sample_grid(spec, x_range_nm=(-100, 100), y_range_nm=(-40, 40))
    c = sample_grid(_spec(seed=9), x_range_nm=(-100, 100), y_range_nm=(-40, 40))
    np.testing.assert_array_equal(a.delta_meV, b.delta_meV)
    assert np.abs(a.delta_meV - c.delta_meV).max() > 1e-3 * spec.sigma_meV


def test_interpolation_exact_for_linear_fields_and_clipped():
    spec = _spec(nx=5, ny=4)
    x = np.linspace(-10, 10, 5)
    y = np.linspace(0, 6, 4)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    grid = ValleyGrid(x_nm=x, y_nm=y, delta_meV=(0.1 * xx + 0.2j * yy + 0.05), spec=spec)
    rng = np.random.default_rng(1)
    p = np.vstack([rng.uniform(-10, 10, 50), rng.uniform(0, 6, 50), rng.uniform(-5, 5, 50)])
    got = interpolate_to_nodes(grid, p)
    np.testing.assert_allclose(got, 0.1 * p[0] + 0.2j * p[1] + 0.05, atol=1e-12)
    # 3-D: depends on (x, y) only
    q = p.copy()
    q[2] += 17.0
    np.testing.assert_array_equal(interpolate_to_nodes(grid, q), got)
    # nodes outside by round-off (and further) are clipped to the grid edge
    out = np.array([[10.0 + 1e-9, -10.0 - 3.0], [6.0 + 1e-12, -1.0]])
    np.testing.assert_allclose(
        interpolate_to_nodes(grid, out), [0.1 * 10 + 0.2j * 6 + 0.05, -1.0 + 0.05], atol=1e-12
    )


def test_map_on_nodes_spans_bounding_box():
    rng = np.random.default_rng(2)
    p = np.vstack([rng.uniform(-105, 105, 300), rng.uniform(-40, 40, 300)])
    d, grid = valley_map_on_nodes(_spec(nx=200, ny=15, lx_nm=19.2, ly_nm=1000.0, seed=8), p)
    assert d.shape == (300,)
    assert grid.x_nm[0] == p[0].min() and grid.x_nm[-1] == p[0].max()
    assert grid.y_nm[0] == p[1].min() and grid.y_nm[-1] == p[1].max()
    # ly >> extent: the field barely varies along y
    # expected mean |D(x, y1) - D(x, y0)|^2 / mean |D|^2 = 2 (1 - exp(-(80/1000)^2)) = 0.0127
    g = grid.delta_meV
    ratio = np.mean(np.abs(g[:, -1] - g[:, 0]) ** 2) / np.mean(np.abs(g) ** 2)
    assert ratio < 0.05


def test_plot_writes_png(tmp_path):
    g = sample_grid(_spec(), x_range_nm=(-50, 50), y_range_nm=(-20, 20))
    out = plot_valley_splitting_map(g, tmp_path / "ev.png")
    assert out.exists() and out.stat().st_size > 10_000
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.ndim == 3 and img.shape[0] > 200
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"lx_nm": 0.0}, "lx_nm"),
        ({"ly_nm": -3.0}, "ly_nm"),
        ({"mean_valley_splitting_ueV": 0.0}, "mean_valley_splitting_ueV"),
        ({"mean_valley_splitting_ueV": float("nan")}, "mean_valley_splitting_ueV"),
        ({"nx": 1}, "nx"),
        ({"ny": 0}, "ny"),
        ({"nx": 2.5}, "nx"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_spec_raises_naming_field(kw, field):
    with pytest.raises(ValueError, match=field):
        _spec(**kw)


def test_non_finite_coordinates_raise():
    spec = _spec()
    p = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="non-finite"):
        valley_map_on_nodes(spec, p)
    g = sample_grid(spec, x_range_nm=(0, 1), y_range_nm=(0, 1))
    with pytest.raises(ValueError, match="non-finite"):
        interpolate_to_nodes(g, p)
    with pytest.raises(ValueError, match="x_range_nm"):
        sample_grid(spec, x_range_nm=(0, np.inf), y_range_nm=(0, 1))
    with pytest.raises(ValueError, match="method"):
        sample_grid(spec, x_range_nm=(0, 1), y_range_nm=(0, 1), method="svd")  # type: ignore[arg-type]
