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
is kept only as a reference: its cost is cubic in ``nx * ny``.

Units: lengths in nm, Delta in meV; mean valley splittings are given in ueV at the interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.units import MEV_PER_UEV, UEV_PER_MEV

__all__ = [
    "ValleyMapSpec",
    "ValleyGrid",
    "component_covariance",
    "grid_covariance_factors",
    "sample_grid",
    "interpolate_to_nodes",
    "valley_map_on_nodes",
]

SamplerMethod = Literal["kronecker", "dense"]


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)):
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
    The Tunnel Falls reference map (PHYSICS.md section 5):

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
        lo, hi = (float(v) for v in rng)
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


def sample_grid(
    spec: ValleyMapSpec,
    *,
    x_range_nm: tuple[float, float],
    y_range_nm: tuple[float, float],
    method: SamplerMethod = "kronecker",
    rng: np.random.Generator | None = None,
) -> ValleyGrid:
    """Draw one realisation of Delta on the ``spec.nx x spec.ny`` grid spanning the ranges.

    Parameters
    ----------
    spec : ValleyMapSpec
        Statistics, grid size and seed.
    x_range_nm, y_range_nm : (float, float)
        Extent of the grid along x and y, in nm.
    method : {"kronecker", "dense"}
        ``"kronecker"`` (default) uses the separable covariance, cost
        ``O(nx^3 + ny^3 + nx ny (nx + ny))``; ``"dense"`` draws from the full covariance,
        cost ``O((nx ny)^3)``, and is meant only as a reference.
    rng : numpy.random.Generator, optional
        Random generator to draw from; by default ``numpy.random.default_rng(spec.seed)``.

    Returns
    -------
    ValleyGrid
        The field in meV on the grid.
    """
    x, y = _grid_axes(spec, x_range_nm, y_range_nm)
    if rng is None:
        rng = np.random.default_rng(spec.seed)
    s = spec.sigma_meV / math.sqrt(2.0)
    nx, ny = spec.nx, spec.ny
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
        raise ValueError(f"method = {method!r}; allowed: 'kronecker', 'dense'")
    return ValleyGrid(x_nm=x, y_nm=y, delta_meV=np.ascontiguousarray(delta), spec=spec)


def interpolate_to_nodes(grid: ValleyGrid, points_nm: ArrayLike) -> NDArray[np.complex128]:
    """Interpolate the grid field linearly onto mesh nodes.

    Parameters
    ----------
    grid : ValleyGrid
        The sampled field.
    points_nm : array_like, shape (dim, nnodes)
        Node coordinates in nm, scikit-fem layout (``mesh.p``); ``dim`` is 2 or 3. Only x and y
        are used, so in 3-D every node with the same (x, y) gets the same value. Coordinates
        are clipped to the grid first, so round-off never puts a node outside.

    Returns
    -------
    ndarray, shape (nnodes,), complex
        Delta at the nodes, in meV.
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


def valley_map_on_nodes(
    spec: ValleyMapSpec,
    points_nm: ArrayLike,
    *,
    method: SamplerMethod = "kronecker",
) -> tuple[NDArray[np.complex128], ValleyGrid]:
    """Sample a map on the (x, y) bounding box of the nodes and interpolate it onto them.

    Parameters
    ----------
    spec : ValleyMapSpec
        Statistics, grid size and seed.
    points_nm : array_like, shape (dim, nnodes)
        Node coordinates in nm (``mesh.p``).
    method : {"kronecker", "dense"}
        Sampler, see :func:`sample_grid`.

    Returns
    -------
    delta_meV : ndarray, shape (nnodes,), complex
        Delta at the nodes, in meV.
    grid : ValleyGrid
        The underlying grid sample (for plots and output).
    """
    p = np.asarray(points_nm, dtype=float)
    if p.ndim != 2 or p.shape[0] not in (2, 3) or p.shape[1] == 0:
        raise ValueError(f"points_nm has shape {p.shape}; expected (2 or 3, nnodes >= 1)")
    if not np.all(np.isfinite(p)):
        raise ValueError("points_nm contains non-finite coordinates")
    grid = sample_grid(
        spec,
        x_range_nm=(float(p[0].min()), float(p[0].max())),
        y_range_nm=(float(p[1].min()), float(p[1].max())),
        method=method,
    )
    return interpolate_to_nodes(grid, p), grid
