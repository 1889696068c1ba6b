"""A valley map Delta(x, y) from a heterostructure's alloy disorder, for the FEM core.

Every (x, y) column of alloy boxes (``h x h`` in plane, one monolayer high, binomial Ge
counts as in :mod:`~femvalley.heterostructure.alloy`) gets the first-order coupling of its
own Ge, weighted by the vertical envelope ``f`` of the heterostructure's 1-D problem:

    Delta(x_i, y_j) = -i sum_k dz e^{2 i k0' z_k} s_k V_Ge Y_ijk f_k^2      (meV).

For any in-plane envelope ``psi`` that is smooth on the box scale, ``<psi|Delta|psi>`` is
then the first-order coupling of the two-band model (ref. 3 eq. 18) of that dot: the map
is an alternative to the Gaussian random field of :mod:`femvalley.valley_map`, with the same
``ValleyGrid`` output, so a study uses it through ``[valley_map] model = "alloy"``. Its
statistics follow from the structure: white noise on the box scale (variance ``propto 1 /
h^2``) around the disorder-free mean of the profile.

The vertical envelope is the heterostructure's own, in its own field
(``[vertical] field_MV_per_m``), not the device's: set that field to the device's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from femvalley.heterostructure.alloy import sites_in_area
from femvalley.heterostructure.config import HeterostructureConfig
from femvalley.heterostructure.twoband import k0_prime_per_nm
from femvalley.units import K0_PER_NM
from femvalley.valley_map import ValleyGrid

__all__ = ["alloy_valley_grid", "column_phase", "tensor_axes"]


def column_phase(config: HeterostructureConfig) -> NDArray[np.complex128]:
    """``-i dz e^{2 i k0' z_k} s_k f_k^2`` per monolayer: ``Delta = V_Ge sum_k Y_k phase_k``."""
    model = config.dot_model()
    grid = model.grid
    return np.asarray(
        -1j
        * grid.step_nm
        * np.exp(2j * k0_prime_per_nm(K0_PER_NM, grid.lattice_constant_nm) * grid.z_nm)
        * grid.stagger
        * model.vertical_density()
    )


def _box_edges(c: NDArray[np.float64]) -> NDArray[np.float64]:
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def alloy_valley_grid(
    config: HeterostructureConfig,
    *,
    x_nm: NDArray[np.float64],
    y_nm: NDArray[np.float64],
    seed: int,
) -> ValleyGrid:
    """Sample an alloy valley map with one alloy column per point of a tensor grid.

    Every grid point ``(x_i, y_j)`` owns the box between the midpoints to its neighbours (the
    end boxes are symmetric about their point), as in ref. 3 II.6; its site count is
    ``round(2 dx dy / a^2)`` per monolayer. With the grid of a structured k.p mesh's nodes,
    every node gets its own box, so the disorder the FEM problem sees has the variance of
    the mesh's own boxes (``propto 1 / (dx dy)``), which keeps ``<psi|Delta|psi>`` correct for
    any in-plane step: sampling a finer map at the nodes would not.

    Parameters
    ----------
    x_nm, y_nm : ndarray
        Increasing coordinates (at least 2 each).
    seed : int
        The same seed gives the same map.
    """
    axes = []
    for name, c in (("x_nm", x_nm), ("y_nm", y_nm)):
        c = np.asarray(c, dtype=float)
        if c.ndim != 1 or c.size < 2 or not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
            raise ValueError(f"{name} must hold at least 2 finite, increasing coordinates")
        axes.append(c)
    x, y = axes
    dx, dy = np.diff(_box_edges(x)), np.diff(_box_edges(y))
    a = config.grid().lattice_constant_nm
    sites = sites_in_area(np.outer(dx, dy), a)
    if sites.min() < 1:
        raise ValueError(
            f"the grid has boxes of {float(np.sqrt(np.outer(dx, dy).min())):.3g} nm, which hold "
            f"no atomic site; alloy maps need an in-plane step of at least {a / 2:.3f} nm"
        )
    model = config.dot_model()
    phase = column_phase(config)
    mean_y = np.clip(model.mean_fraction(), 0.0, 1.0)
    rng = np.random.default_rng(seed)
    delta = np.empty((x.size, y.size), dtype=complex)
    for i in range(x.size):  # one row of columns at a time keeps the memory at ny x nz
        n = sites[i][:, None]
        yk = rng.binomial(n, mean_y[None, :]) / n
        delta[i] = config.v_inter_ge_meV * (yk @ phase)
    return ValleyGrid(
        x_nm=x,
        y_nm=y,
        delta_meV=delta,
        label=(
            f"alloy disorder, {config.field_MV_per_m:g} MV/m, "
            f"{float(np.median(dx)):.2g} x {float(np.median(dy)):.2g} nm columns, seed {seed}"
        ),
    )


def tensor_axes(points_nm: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Return the x and y grid lines of a structured mesh's nodes (raises if not a tensor grid).

    Coordinates are merged to 1e-6 nm.
    """
    p = np.asarray(points_nm, dtype=float)
    keys = np.round(p[:2] * 1e6).astype(np.int64)
    ux, uy = np.unique(keys[0]), np.unique(keys[1])
    pairs = np.unique(keys.T, axis=0).shape[0]
    if pairs != ux.size * uy.size:
        raise ValueError(
            f"the k.p mesh's nodes are not on a tensor grid in (x, y) ({pairs} columns for "
            f"{ux.size} x {uy.size} lines): valley_map.model = 'alloy' needs a structured k.p "
            "mesh (device.kp_mesh = 'structured' or 'auto')"
        )
    return ux * 1e-6, uy * 1e-6
