"""Correlated random valley-coupling maps Delta(x, y) (the Tunnel Falls model).

Delta is a zero-mean complex Gaussian random field, constant along z. Its real and imaginary
parts are independent, with the same covariance

    <X_i X_j> = sigma^2 / 2 * exp(-(x_i - x_j)^2 / lx^2 - (y_i - y_j)^2 / ly^2),

and ``sigma = <E_V> / sqrt(pi)``, so that the local valley splitting ``E_V = 2 |Delta|`` is
Rayleigh distributed with mean ``<E_V>``.

The field is sampled on a regular ``nx x ny`` grid and interpolated linearly onto mesh nodes.
Because the covariance factorises as ``Kx (x) Ky``, a grid sample is ``Lx Z Ly^T`` with
``Lx Lx^T = Kx`` and ``Ly Ly^T = Ky`` (:func:`sample_grid`, ``method="kronecker"``). The 1-D
factors are taken from symmetric eigen-decompositions with the (round-off) negative eigenvalues
clipped to zero, which stays exact when a correlation length is much longer than the grid
(``Ky`` then has numerical rank 1 or 2 and a Cholesky factorisation would fail). The covariance
of the samples equals the formula to within ``n * eps * ||K||`` (``n`` the grid size per axis,
``eps`` the double-precision round-off, i.e. below 1e-12 relative for any practical grid).

The dense sampler (``method="dense"``) draws from the full ``(nx ny) x (nx ny)`` covariance and
is kept only as a reference: its cost is cubic in ``nx * ny``. The ``"qtcad"`` sampler also
draws from the full covariance, in the order of the QTCAD Tunnel Falls tutorial, so that the
same seed gives the same realisation as a script that follows it (:func:`qtcad_covariance`,
:func:`sample_grid`). Both dense samplers refuse grids whose covariance matrix alone would
exceed :data:`DENSE_COVARIANCE_LIMIT_BYTES` (2 GiB: ``nx * ny <= 16384``).

Besides the Gaussian field, a map can be

- uniform: one complex Delta everywhere (:func:`uniform_valley_map`);
- read from a grid file (:func:`load_valley_grid`, :func:`file_valley_map`): ``.npz`` or
  ``.h5`` / ``.hdf5`` holding ``x_nm`` (nx,), ``y_nm`` (ny,), both strictly increasing, and
  complex ``delta_ueV`` (nx, ny), all finite; :func:`save_valley_grid` writes one.

Every map is interpolated bilinearly onto the points it is asked for: the mesh vertices
(``mesh.p``), or every DOF location of a P2 basis (``basis.doflocs``), which
:func:`femvalley.kp.two_valley_model` then interpolates with the P2 elements themselves.

Units: lengths in nm, Delta in meV; mean valley splittings are given in ueV at the interface,
and grid files hold Delta in ueV.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.io.atomic import atomic_path
from femvalley.units import MEV_PER_UEV, UEV_PER_MEV

__all__ = [
    "DENSE_COVARIANCE_LIMIT_BYTES",
    "GRID_FILE_SUFFIXES",
    "SAMPLERS",
    "ValleyMapSpec",
    "ValleyGrid",
    "check_dense_grid",
    "component_covariance",
    "dense_covariance_bytes",
    "file_valley_map",
    "grid_covariance_factors",
    "load_valley_grid",
    "node_bounds",
    "qtcad_covariance",
    "read_valley_grid_arrays",
    "sample_grid",
    "save_valley_grid",
    "interpolate_to_nodes",
    "uniform_valley_map",
    "valley_map_on_nodes",
]

SamplerMethod = Literal["kronecker", "dense", "qtcad"]
#: samplers of the Gaussian field (:func:`sample_grid`)
SAMPLERS: tuple[str, ...] = ("kronecker", "dense", "qtcad")
#: largest full covariance matrix (bytes) the ``"dense"`` and ``"qtcad"`` samplers build
DENSE_COVARIANCE_LIMIT_BYTES: int = 2 * 1024**3
#: file types of a valley-map grid file
GRID_FILE_SUFFIXES: tuple[str, ...] = (".npz", ".h5", ".hdf5")
_GRID_KEYS = ("x_nm", "y_nm", "delta_ueV")
#: (xmin, xmax), (ymin, ymax) in nm
Bounds = tuple[tuple[float, float], tuple[float, float]]


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)
    ):
        raise ValueError(f"{name} = {value!r} must be a finite number > 0")
    if value <= 0:
        raise ValueError(f"{name} = {value!r} must be > 0")


@dataclass(frozen=True, kw_only=True)
class ValleyMapSpec:
    """Statistics and sampling grid of a correlated valley-coupling map.

    Parameters
    ----------
    mean_valley_splitting_ueV : float
        Mean of the local valley splitting ``E_V = 2 |Delta|``, in ueV (> 0).
    lx_nm, ly_nm : float
        Gaussian correlation lengths along x and y, in nm (> 0).
    nx, ny : int
        Number of grid points along x and y (>= 2 each).
    seed : int or None
        Seed of the random generator; the same seed gives the identical map.

    Examples
    --------
    The Tunnel Falls reference map (docs/references.md):

    >>> spec = ValleyMapSpec(mean_valley_splitting_ueV=200.0, lx_nm=19.2, ly_nm=1000.0,
    ...                      nx=200, ny=15, seed=8)
    """

    mean_valley_splitting_ueV: float
    lx_nm: float
    ly_nm: float
    nx: int = 200
    ny: int = 15
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_positive("mean_valley_splitting_ueV", self.mean_valley_splitting_ueV)
        _check_positive("lx_nm", self.lx_nm)
        _check_positive("ly_nm", self.ly_nm)
        for name in ("nx", "ny"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 2:
                raise ValueError(
                    f"{name} = {value!r}: the grid needs an integer >= 2 points per axis"
                )
        if self.seed is not None and (
            not isinstance(self.seed, (int, np.integer))
            or isinstance(self.seed, bool)
            or self.seed < 0
        ):
            raise ValueError(f"seed = {self.seed!r} must be a non-negative integer or None")

    @property
    def sigma_meV(self) -> float:
        """``sigma = <E_V> / sqrt(pi)`` in meV; each of Re, Im has variance ``sigma^2 / 2``."""
        return self.mean_valley_splitting_ueV * MEV_PER_UEV / math.sqrt(math.pi)


@dataclass(frozen=True)
class ValleyGrid:
    """A sampled valley-coupling field on a regular grid.

    Attributes
    ----------
    x_nm : ndarray, shape (nx,)
        Grid coordinates along x, in nm (increasing).
    y_nm : ndarray, shape (ny,)
        Grid coordinates along y, in nm (increasing).
    delta_meV : ndarray, shape (nx, ny), complex
        Delta at the grid points, in meV.
    spec : ValleyMapSpec or None
        The statistics it was drawn from (None for a map of another origin, e.g. an alloy).
    label : str
        A short description for figure titles (maps without a spec).
    """

    x_nm: NDArray[np.float64]
    y_nm: NDArray[np.float64]
    delta_meV: NDArray[np.complex128]
    spec: ValleyMapSpec | None = field(default=None, repr=False)
    label: str = ""

    @property
    def valley_splitting_ueV(self) -> NDArray[np.float64]:
        """Local valley splitting ``E_V = 2 |Delta|`` on the grid, in ueV."""
        return 2.0 * np.abs(self.delta_meV) * UEV_PER_MEV

    @property
    def valley_phase_rad(self) -> NDArray[np.float64]:
        """Local valley phase ``arg Delta`` on the grid, in rad."""
        return np.angle(self.delta_meV)


def component_covariance(
    dx_nm: ArrayLike,
    dy_nm: ArrayLike,
    *,
    mean_valley_splitting_ueV: float,
    lx_nm: float,
    ly_nm: float,
) -> NDArray[np.float64]:
    """Covariance of one component (Re or Im) of Delta at separation (dx, dy), in meV^2.

    ``sigma^2 / 2 * exp(-dx^2 / lx^2 - dy^2 / ly^2)`` with ``sigma = <E_V> / sqrt(pi)``.
    """
    _check_positive("mean_valley_splitting_ueV", mean_valley_splitting_ueV)
    _check_positive("lx_nm", lx_nm)
    _check_positive("ly_nm", ly_nm)
    sigma = mean_valley_splitting_ueV * MEV_PER_UEV / math.sqrt(math.pi)
    dx = np.asarray(dx_nm, dtype=float)
    dy = np.asarray(dy_nm, dtype=float)
    return 0.5 * sigma**2 * np.exp(-((dx / lx_nm) ** 2) - (dy / ly_nm) ** 2)


def _gaussian_correlation(coords: NDArray[np.float64], length: float) -> NDArray[np.float64]:
    d = coords[:, None] - coords[None, :]
    return np.exp(-((d / length) ** 2))


def _psd_factor(k: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return L with L L^T = K for a symmetric positive semi-definite K (eigen-decomposition).

    Negative eigenvalues, which are round-off of a near-singular K, are clipped to zero.
    """
    w, q = np.linalg.eigh(k)
    np.clip(w, 0.0, None, out=w)
    return q * np.sqrt(w)[None, :]


def grid_covariance_factors(
    x_nm: NDArray[np.float64], y_nm: NDArray[np.float64], spec: ValleyMapSpec
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(Lx, Ly)`` such that the component covariance is ``s^2 (Lx Lx^T) (x) (Ly Ly^T)``.

    Here ``s^2 = sigma^2 / 2``; the correlation matrices ``Kx``, ``Ky`` have unit diagonal.
    """
    return (
        _psd_factor(_gaussian_correlation(x_nm, spec.lx_nm)),
        _psd_factor(_gaussian_correlation(y_nm, spec.ly_nm)),
    )


def _grid_axes(
    spec: ValleyMapSpec, x_range_nm: tuple[float, float], y_range_nm: tuple[float, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    for name, rng in (("x_range_nm", x_range_nm), ("y_range_nm", y_range_nm)):
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{name} = {rng!r} must be a pair of numbers (min, max) in nm"
            ) from err
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name} = {rng!r} must be finite")
        if hi < lo:
            raise ValueError(f"{name} = {rng!r} must be increasing (min, max)")
    x0, x1 = (float(v) for v in x_range_nm)
    y0, y1 = (float(v) for v in y_range_nm)
    # A degenerate extent (all nodes on one line) still gets a proper grid.
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return np.linspace(x0, x1, spec.nx), np.linspace(y0, y1, spec.ny)


def dense_covariance_bytes(nx: int, ny: int) -> int:
    """Size of the full covariance matrix of an ``nx x ny`` grid: ``(nx ny)^2 x 8`` bytes."""
    return (int(nx) * int(ny)) ** 2 * 8


def check_dense_grid(nx: int, ny: int, *, method: str = "dense") -> None:
    """Refuse a grid whose full covariance matrix would exceed the memory limit.

    The ``"dense"`` and ``"qtcad"`` samplers build the ``(nx ny) x (nx ny)`` covariance
    (``(nx ny)^2 x 8`` bytes); above :data:`DENSE_COVARIANCE_LIMIT_BYTES` (2 GiB, i.e.
    ``nx * ny > 16384``) this is a ``ValueError`` naming ``nx``, ``ny``, the size and the limit.
    The peak memory of a draw is about 7 times the covariance (the formula's temporaries and
    the SVD: 506 MiB for the 69 MiB covariance of 200 x 15 points), and its time is cubic in
    ``nx * ny`` (a ``"qtcad"`` map of 200 x 15 points, two SVD draws, takes 25 s on one core;
    at the limit, 16384 points, about an hour and 15 GiB).
    """
    size = dense_covariance_bytes(nx, ny)
    if size > DENSE_COVARIANCE_LIMIT_BYTES:
        n = int(nx) * int(ny)
        most = math.isqrt(DENSE_COVARIANCE_LIMIT_BYTES // 8)
        raise ValueError(
            f"sampler {method!r} builds the full covariance of nx x ny = {nx} x {ny} = {n} grid "
            f"points: {n}^2 x 8 bytes = {size / 2**30:.3g} GiB, above the limit of "
            f"{DENSE_COVARIANCE_LIMIT_BYTES / 2**30:g} GiB (nx * ny <= {most}); use a coarser "
            "grid, or sampler 'kronecker' (the same statistics from the separable covariance)"
        )


def qtcad_covariance(
    x_nm: NDArray[np.float64], y_nm: NDArray[np.float64], spec: ValleyMapSpec
) -> NDArray[np.float64]:
    """Full covariance of one component (Re or Im) of Delta on a grid, in meV^2.

    The grid points are ``numpy.meshgrid(x_nm, y_nm, indexing="ij")`` flattened (x-major),
    and the matrix is evaluated exactly as written,
    ``sigma**2 / 2 * numpy.exp(-dx**2 / lx**2 - dy**2 / ly**2)`` with ``dx``, ``dy`` the
    differences of the flattened coordinates and ``sigma = <E_V> / sqrt(pi)`` in meV
    (``mean_valley_splitting_ueV * 1e-3 / sqrt(pi)``), so that a script that follows the same
    recipe builds the same bits (the draw of :func:`sample_grid` with ``method="qtcad"``
    depends on them).

    Parameters
    ----------
    x_nm, y_nm : ndarray
        Grid coordinates in nm.
    spec : ValleyMapSpec
        Mean valley splitting and correlation lengths.

    Returns
    -------
    ndarray, shape (nx ny, nx ny)
        The covariance in meV^2.
    """
    xx, yy = np.meshgrid(np.asarray(x_nm, float), np.asarray(y_nm, float), indexing="ij")
    px, py = xx.ravel(), yy.ravel()
    dx = px[:, None] - px[None, :]
    dy = py[:, None] - py[None, :]
    sigma = spec.sigma_meV
    lx, ly = spec.lx_nm, spec.ly_nm
    cov: NDArray[np.float64] = sigma**2 / 2 * np.exp(-(dx**2) / lx**2 - dy**2 / ly**2)
    return cov


def _qtcad_draw(
    x: NDArray[np.float64], y: NDArray[np.float64], spec: ValleyMapSpec, rng: np.random.Generator
) -> NDArray[np.complex128]:
    cov = qtcad_covariance(x, y, spec)
    zeros = np.zeros(cov.shape[0])
    # The SVD inside multivariate_normal gives slightly different bits for different BLAS
    # thread counts (1e-7 relative for 450 points, 1e-5 for 900 with a 1000 nm correlation
    # length); one thread makes the draw the same in a study and in an ensemble worker.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        re = rng.multivariate_normal(zeros, cov)
        im = rng.multivariate_normal(zeros, cov)
    return np.asarray((re + 1j * im).reshape(x.size, y.size), dtype=np.complex128)


def sample_grid(
    spec: ValleyMapSpec,
    *,
    x_range_nm: tuple[float, float],
    y_range_nm: tuple[float, float],
    method: SamplerMethod = "kronecker",
    rng: np.random.Generator | None = None,
) -> ValleyGrid:
    """Draw one realisation of Delta on the ``spec.nx x spec.ny`` grid spanning the ranges.

    The grid is ``numpy.linspace(min, max, n)`` along each axis (a zero extent is widened to
    1 nm).

    Parameters
    ----------
    spec : ValleyMapSpec
        Statistics, grid size and seed.
    x_range_nm, y_range_nm : (float, float)
        Extent of the grid along x and y, in nm.
    method : {"kronecker", "dense", "qtcad"}
        ``"kronecker"`` (default) uses the separable covariance, cost
        ``O(nx^3 + ny^3 + nx ny (nx + ny))``; ``"dense"`` draws from the full covariance
        (``method="eigh"``, both components at once), cost ``O((nx ny)^3)``, and is meant only
        as a reference; ``"qtcad"`` follows the QTCAD tutorial: the covariance of
        :func:`qtcad_covariance`, then ``rng.multivariate_normal(zeros, cov)`` (NumPy's default
        ``method="svd"``) for Re and a second call of the same generator for Im, reshaped to
        ``(nx, ny)``. The three give different realisations of the same statistics. The dense
        samplers refuse grids above the memory limit (:func:`check_dense_grid`).
    rng : numpy.random.Generator, optional
        Random generator to draw from; by default ``numpy.random.default_rng(spec.seed)``.

    Returns
    -------
    ValleyGrid
        The field in meV on the grid.

    Notes
    -----
    The ``"qtcad"`` draw equals another script's only if its covariance has the same bits and
    the SVD runs the same way: it is made with one BLAS thread here (run the other script under
    ``threadpoolctl.threadpool_limits(1)``); a covariance computed in other units (ueV, eV) or
    another order of operations differs in the last bit, which changes a draw by about 1e-5
    relative when the covariance is numerically singular (long correlation lengths), and can
    change it entirely when it has degenerate eigenvalues (symmetric grids).
    """
    x, y = _grid_axes(spec, x_range_nm, y_range_nm)
    if method not in SAMPLERS:
        raise ValueError(f"method = {method!r}; allowed: {', '.join(repr(m) for m in SAMPLERS)}")
    nx, ny = spec.nx, spec.ny
    if method in ("dense", "qtcad"):
        check_dense_grid(nx, ny, method=method)
    if rng is None:
        rng = np.random.default_rng(spec.seed)
    s = spec.sigma_meV / math.sqrt(2.0)
    if method == "kronecker":
        lx, ly = grid_covariance_factors(x, y, spec)
        z = rng.standard_normal((2, nx, ny))
        re = s * (lx @ z[0] @ ly.T)
        im = s * (lx @ z[1] @ ly.T)
        delta = re + 1j * im
    elif method == "dense":
        kx = _gaussian_correlation(x, spec.lx_nm)
        ky = _gaussian_correlation(y, spec.ly_nm)
        cov = s**2 * np.kron(kx, ky)
        parts = rng.multivariate_normal(np.zeros(nx * ny), cov, size=2, method="eigh")
        delta = (parts[0] + 1j * parts[1]).reshape(nx, ny)
    else:
        delta = _qtcad_draw(x, y, spec, rng)
    return ValleyGrid(x_nm=x, y_nm=y, delta_meV=np.ascontiguousarray(delta), spec=spec)


def interpolate_to_nodes(grid: ValleyGrid, points_nm: ArrayLike) -> NDArray[np.complex128]:
    """Interpolate the grid field linearly onto mesh nodes.

    Parameters
    ----------
    grid : ValleyGrid
        The sampled field.
    points_nm : array_like, shape (dim, nnodes)
        Node coordinates in nm, scikit-fem layout: the vertices (``mesh.p``) or every DOF
        location of a basis (``basis.doflocs``, e.g. P2); ``dim`` is 2 or 3. Only x and y
        are used, so in 3-D every node with the same (x, y) gets the same value. Coordinates
        are clipped to the grid first, so round-off never puts a node outside.

    Returns
    -------
    ndarray, shape (nnodes,), complex
        Delta at the nodes, in meV (bilinear in each grid cell).
    """
    from scipy.interpolate import RegularGridInterpolator

    p = np.asarray(points_nm, dtype=float)
    if p.ndim != 2 or p.shape[0] not in (2, 3):
        raise ValueError(
            f"points_nm has shape {p.shape}; expected (2, nnodes) or (3, nnodes) (mesh.p layout)"
        )
    if not np.all(np.isfinite(p)):
        bad = int(np.count_nonzero(~np.isfinite(p).all(axis=0)))
        raise ValueError(f"points_nm contains {bad} node(s) with non-finite coordinates")
    x = np.clip(p[0], grid.x_nm[0], grid.x_nm[-1])
    y = np.clip(p[1], grid.y_nm[0], grid.y_nm[-1])
    interp = RegularGridInterpolator((grid.x_nm, grid.y_nm), grid.delta_meV, method="linear")
    return np.asarray(interp(np.column_stack([x, y])), dtype=np.complex128)


def _nodes(points_nm: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(points_nm, dtype=float)
    if p.ndim != 2 or p.shape[0] not in (2, 3) or p.shape[1] == 0:
        raise ValueError(f"points_nm has shape {p.shape}; expected (2 or 3, nnodes >= 1)")
    if not np.all(np.isfinite(p)):
        raise ValueError("points_nm contains non-finite coordinates")
    return p


def node_bounds(points_nm: ArrayLike) -> Bounds:
    """Return the (x, y) bounding box ``((xmin, xmax), (ymin, ymax))`` of nodes, in nm."""
    p = _nodes(points_nm)
    return (float(p[0].min()), float(p[0].max())), (float(p[1].min()), float(p[1].max()))


def valley_map_on_nodes(
    spec: ValleyMapSpec,
    points_nm: ArrayLike,
    *,
    method: SamplerMethod = "kronecker",
    bounds_nm: Bounds | None = None,
) -> tuple[NDArray[np.complex128], ValleyGrid]:
    """Sample a map on the (x, y) bounding box of the nodes and interpolate it onto them.

    Parameters
    ----------
    spec : ValleyMapSpec
        Statistics, grid size and seed.
    points_nm : array_like, shape (dim, nnodes)
        Node coordinates in nm (``mesh.p``, or ``basis.doflocs``).
    method : {"kronecker", "dense", "qtcad"}
        Sampler, see :func:`sample_grid`.
    bounds_nm : ((float, float), (float, float)), optional
        The extent ``((xmin, xmax), (ymin, ymax))`` of the grid, in nm; by default the bounding
        box of ``points_nm`` (:func:`node_bounds`). Pass that of the vertices to evaluate the
        same realisation at other nodes (e.g. the DOF locations of P2 elements).

    Returns
    -------
    delta_meV : ndarray, shape (nnodes,), complex
        Delta at the nodes, in meV.
    grid : ValleyGrid
        The underlying grid sample (for plots and output).
    """
    p = _nodes(points_nm)
    bx, by = node_bounds(p) if bounds_nm is None else bounds_nm
    grid = sample_grid(spec, x_range_nm=bx, y_range_nm=by, method=method)
    return interpolate_to_nodes(grid, p), grid


# -- a uniform map -----------------------------------------------------------------------------
def uniform_valley_map(
    delta_ueV: complex, points_nm: ArrayLike, *, bounds_nm: Bounds | None = None
) -> tuple[NDArray[np.complex128], ValleyGrid]:
    """One complex Delta at every node.

    Parameters
    ----------
    delta_ueV : complex
        The valley coupling in ueV (finite); the local valley splitting is ``2 |Delta|``.
    points_nm : array_like, shape (dim, nnodes)
        Node coordinates in nm.
    bounds_nm : ((float, float), (float, float)), optional
        Extent of the returned grid (for figures); by default the nodes' bounding box.

    Returns
    -------
    delta_meV : ndarray, shape (nnodes,), complex
        ``delta_ueV * 1e-3`` at every node, in meV.
    grid : ValleyGrid
        The constant field on the 2 x 2 grid of the bounding box's corners.
    """
    if isinstance(delta_ueV, (bool, np.bool_)) or not isinstance(
        delta_ueV, (int, float, complex, np.number)
    ):
        raise ValueError(f"delta_ueV = {delta_ueV!r} must be a (complex) number in ueV")
    d = complex(delta_ueV)
    if not (math.isfinite(d.real) and math.isfinite(d.imag)):
        raise ValueError(f"delta_ueV = {delta_ueV!r} must be finite")
    p = _nodes(points_nm)
    (x0, x1), (y0, y1) = node_bounds(p) if bounds_nm is None else bounds_nm
    x = np.array([x0, x1]) if x1 > x0 else np.array([x0 - 0.5, x1 + 0.5])
    y = np.array([y0, y1]) if y1 > y0 else np.array([y0 - 0.5, y1 + 0.5])
    value = d * MEV_PER_UEV
    grid = ValleyGrid(
        x_nm=x,
        y_nm=y,
        delta_meV=np.full((2, 2), value, dtype=np.complex128),
        label=(
            f"uniform Delta = {d.real:g} {'+' if d.imag >= 0 else '-'} {abs(d.imag):g}i ueV, "
            f"E_V = {2 * abs(d):.4g} ueV"
        ),
    )
    return np.full(p.shape[1], value, dtype=np.complex128), grid


# -- grid files --------------------------------------------------------------------------------
def _suffix(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in GRID_FILE_SUFFIXES:
        raise ValueError(
            f"{what} {str(path)!r}: unknown file type {path.suffix!r}; a valley-map grid file is "
            f"one of {', '.join(GRID_FILE_SUFFIXES)}"
        )
    return suffix


def _check_grid_arrays(arrays: Mapping[str, ArrayLike], where: str) -> tuple[NDArray[Any], ...]:
    """Validate ``x_nm``, ``y_nm``, ``delta_ueV``; return them (as stored, or as float/complex)."""
    out = []
    for name in ("x_nm", "y_nm"):
        c = np.asarray(arrays[name])
        if not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
            raise ValueError(f"{where}: {name} has dtype {c.dtype}; need real numbers (nm)")
        if c.ndim != 1 or c.size < 2:
            raise ValueError(
                f"{where}: {name} has shape {c.shape}; need a 1-D array of at least 2 "
                "coordinates (nm)"
            )
        out.append(c if np.issubdtype(c.dtype, np.floating) else c.astype(np.float64))
    x, y = out
    d = np.asarray(arrays["delta_ueV"])
    if not (
        np.issubdtype(d.dtype, np.integer)
        or np.issubdtype(d.dtype, np.floating)
        or np.issubdtype(d.dtype, np.complexfloating)
    ):
        raise ValueError(f"{where}: delta_ueV has dtype {d.dtype}; need complex numbers (ueV)")
    if d.shape != (x.size, y.size):
        raise ValueError(
            f"{where}: delta_ueV has shape {d.shape}; need (nx, ny) = ({x.size}, {y.size}) "
            "to match x_nm and y_nm"
        )
    if not np.issubdtype(d.dtype, np.complexfloating):
        d = d.astype(np.complex128)
    for name, c in (("x_nm", x), ("y_nm", y), ("delta_ueV", d)):
        bad = ~np.isfinite(c)
        if np.any(bad):
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            index = first[0] if len(first) == 1 else first
            raise ValueError(
                f"{where}: {name} has {int(np.count_nonzero(bad))} non-finite value(s) (NaN or "
                f"inf), the first at index {index}; every value must be finite"
            )
    for name, c in (("x_nm", x), ("y_nm", y)):
        step = np.diff(c)
        if np.any(step <= 0):
            i = int(np.argmax(step <= 0))
            raise ValueError(
                f"{where}: {name} is not strictly increasing: {name}[{i + 1}] = {c[i + 1]:g} nm "
                f"<= {name}[{i}] = {c[i]:g} nm"
            )
    return x, y, d


def read_valley_grid_arrays(
    path: str | Path,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.complex128]]:
    """Read and validate a valley-map grid file; return its arrays exactly as stored.

    Parameters
    ----------
    path : str or Path
        A ``.npz`` or ``.h5`` / ``.hdf5`` file; a relative path is relative to the current
        working directory.

    Returns
    -------
    x_nm : ndarray (nx,)
        Strictly increasing x coordinates, in nm.
    y_nm : ndarray (ny,)
        Strictly increasing y coordinates, in nm.
    delta_ueV : ndarray (nx, ny), complex
        Delta at the grid points, in ueV (a real array is returned as complex).

    Raises
    ------
    ValueError
        Naming the file and the problem: no such file, unknown type, unreadable, a missing
        key, a wrong shape or type, a non-finite value, an axis not strictly increasing.
    """
    p = Path(path)
    suffix = _suffix(p, "valley-map file")
    where = f"valley-map file {str(p)!r}"
    if not p.is_file():
        raise ValueError(
            f"{where} does not exist (a relative path is resolved against the current working "
            f"directory, {Path.cwd()})"
        )
    arrays: dict[str, ArrayLike] = {}
    if suffix == ".npz":
        import zipfile

        try:
            with np.load(p, allow_pickle=False) as data:
                present = list(data.files)
                for key in _GRID_KEYS:
                    if key in present:
                        arrays[key] = data[key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{where} cannot be read as .npz: {err}") from err
    else:
        import h5py

        try:
            with h5py.File(p, "r") as f:
                present = list(f.keys())
                for key in _GRID_KEYS:
                    if key in f:
                        obj = f[key]
                        if not isinstance(obj, h5py.Dataset):
                            raise ValueError(f"{where}: {key} is an HDF5 group, not a dataset")
                        arrays[key] = obj[()]
        except OSError as err:
            raise ValueError(f"{where} cannot be read as HDF5: {err}") from err
    missing = [k for k in _GRID_KEYS if k not in arrays]
    if missing:
        raise ValueError(
            f"{where}: missing key(s) {missing} (found {present}); a valley-map file holds "
            "x_nm (nx,) and y_nm (ny,) in nm and complex delta_ueV (nx, ny) in ueV"
        )
    x, y, d = _check_grid_arrays(arrays, where)
    return x, y, d


def load_valley_grid(path: str | Path) -> ValleyGrid:
    """Read a valley-map grid file (:func:`read_valley_grid_arrays`) as a :class:`ValleyGrid`.

    ``delta_meV = delta_ueV * 1e-3``; the label names the file.
    """
    x, y, d = read_valley_grid_arrays(path)
    return ValleyGrid(
        x_nm=np.asarray(x, dtype=np.float64),
        y_nm=np.asarray(y, dtype=np.float64),
        delta_meV=np.asarray(d * MEV_PER_UEV, dtype=np.complex128),
        label=f"valley map {Path(path).name}",
    )


def save_valley_grid(path: str | Path, grid: ValleyGrid) -> Path:
    """Write a grid to a valley-map file that :func:`load_valley_grid` reads back.

    The file holds ``x_nm`` (nx,), ``y_nm`` (ny,) and ``delta_ueV`` (nx, ny) complex, the
    field in ueV (``grid.delta_meV * 1000``). It is validated first (the same checks as on
    reading), written to a temporary name, then renamed. The arrays read back
    (:func:`read_valley_grid_arrays`) are bit for bit those written; ``delta_meV`` after
    :func:`load_valley_grid` is within one rounding of ``grid.delta_meV`` (the unit conversion
    ``* 1000 * 1e-3``).

    Parameters
    ----------
    path : str or Path
        ``.npz`` (NumPy) or ``.h5`` / ``.hdf5`` (HDF5, datasets at the root).
    grid : ValleyGrid
        The map.

    Returns
    -------
    Path
        The written file.
    """
    p = Path(path)
    suffix = _suffix(p, "valley-map file")
    x, y, d = _check_grid_arrays(
        {
            "x_nm": np.asarray(grid.x_nm, dtype=np.float64),
            "y_nm": np.asarray(grid.y_nm, dtype=np.float64),
            "delta_ueV": np.asarray(grid.delta_meV, dtype=np.complex128) * UEV_PER_MEV,
        },
        f"valley-map grid for {str(p)!r}",
    )
    if suffix == ".npz":
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            np.savez(f, x_nm=x, y_nm=y, delta_ueV=d)
    else:
        import h5py

        with atomic_path(p) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("x_nm", data=x)
            f.create_dataset("y_nm", data=y)
            f.create_dataset("delta_ueV", data=d)
            f["x_nm"].attrs["unit"] = "nm"
            f["y_nm"].attrs["unit"] = "nm"
            f["delta_ueV"].attrs["unit"] = "ueV"
    return p


def _span(a: float, b: float) -> str:
    """Return ``"a to b"`` with the fewest decimals (>= 1) that tell a and b apart."""
    for k in range(1, 10):
        sa, sb = f"{a:.{k}f}", f"{b:.{k}f}"
        if sa != sb:
            break
    return f"{sa} to {sb}"


def _check_covers(grid: ValleyGrid, bounds: Bounds, where: str) -> None:
    problems = []
    for axis, (lo, hi), c in (("x", bounds[0], grid.x_nm), ("y", bounds[1], grid.y_nm)):
        g0, g1 = float(c[0]), float(c[-1])
        tol = 1e-9 * max(1.0, g1 - g0)  # round-off: such nodes are clipped onto the edge
        outside = []
        if lo < g0 - tol:
            outside.append((lo, min(hi, g0)))
        if hi > g1 + tol:
            outside.append((max(lo, g1), hi))
        for a, b in outside:
            problems.append(
                f"{axis} from {_span(a, b)} nm is outside the map's {axis} range "
                f"[{g0:g}, {g1:g}] nm"
            )
    if problems:
        (x0, x1), (y0, y1) = bounds
        raise ValueError(
            f"{where} does not cover the quantum region (nodes at x {_span(x0, x1)} nm, "
            f"y {_span(y0, y1)} nm): " + "; ".join(problems)
        )


def _crop_range(c: NDArray[np.float64], lo: float, hi: float) -> tuple[int, int]:
    i0 = max(int(np.searchsorted(c, lo, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(c, hi, side="left")), c.size - 1)
    if i1 <= i0:  # lo == hi on a grid line
        i0, i1 = (i0, i0 + 1) if i0 + 1 < c.size else (i0 - 1, i0)
    return i0, i1


def file_valley_map(
    path: str | Path, points_nm: ArrayLike, *, bounds_nm: Bounds | None = None
) -> tuple[NDArray[np.complex128], ValleyGrid]:
    """Delta at the nodes from a valley-map grid file (bilinear interpolation).

    Parameters
    ----------
    path : str or Path
        The grid file (:func:`read_valley_grid_arrays`); a relative path is relative to the
        current working directory.
    points_nm : array_like, shape (dim, nnodes)
        Node coordinates in nm (``mesh.p``, or ``basis.doflocs``).
    bounds_nm : ((float, float), (float, float)), optional
        The region the map must cover, ``((xmin, xmax), (ymin, ymax))`` in nm; by default the
        bounding box of ``points_nm``.

    Returns
    -------
    delta_meV : ndarray, shape (nnodes,), complex
        Delta at the nodes, in meV.
    grid : ValleyGrid
        The file's grid cropped to the grid cells that hold the bounding box (for figures);
        interpolating it gives the same values as the whole file.

    Raises
    ------
    ValueError
        For a bad file (see :func:`read_valley_grid_arrays`), or a map that does not cover the
        bounding box, naming the extent outside the map.
    """
    p = _nodes(points_nm)
    bounds = node_bounds(p) if bounds_nm is None else bounds_nm
    full = load_valley_grid(path)
    _check_covers(full, bounds, f"valley-map file {str(Path(path))!r}")
    i0, i1 = _crop_range(full.x_nm, *bounds[0])
    j0, j1 = _crop_range(full.y_nm, *bounds[1])
    grid = ValleyGrid(
        x_nm=full.x_nm[i0 : i1 + 1].copy(),
        y_nm=full.y_nm[j0 : j1 + 1].copy(),
        delta_meV=full.delta_meV[i0 : i1 + 1, j0 : j1 + 1].copy(),
        label=full.label,
    )
    return interpolate_to_nodes(grid, p), grid
