"""Coulomb integrals of one-electron states sampled on a uniform planar grid.

For states ``phi_a(x, y)`` on a uniform grid of step ``h`` (the plane of the Born-Oppenheimer
and slice models is such a grid), the integrals in chemists' order

    (ab|cd) = int int phi_a*(1) phi_b(1) K(|r1 - r2|) phi_c*(2) phi_d(2) d2r1 d2r2

are computed with the pair densities ``rho_ab = phi_a* phi_b``: the potential of each
``rho_cd`` is the discrete convolution with the kernel, done by FFT on a grid padded to twice
its size (no periodic images), and ``(ab|cd) = h^2 sum rho_ab phi_cd``. Only ``a <= b`` pair
densities are convolved (``rho_ba = rho_ab*``); the ``m^2 x m^2`` table is one matrix
product. Cost: ``m (m + 1) / 2`` FFTs of ``(2 nx) x (2 ny)`` points and ``m^4 nx ny``
multiply-adds.

The kernel is the bulk Coulomb interaction ``e^2 / (4 pi eps0 eps_r r)`` (1439.96 meV nm /
eps_r), averaged over the vertical densities of the two electrons when they are given
(``vertical_separation_nm`` and weights: the distribution of ``z1 - z2``), and averaged over
the grid cell at ``r = 0`` for a strictly planar density (the mean of ``1 / r`` over the cell
around its centre: ``(4 / h) ln(1 + sqrt 2)`` for a square of side ``h``).

Units: nm, meV.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["COULOMB_MEV_NM", "coulomb_kernel_meV", "grid_coulomb_integrals", "pair_table"]

#: e^2 / (4 pi eps0) in meV nm
COULOMB_MEV_NM = 1439.964548


def _steps(step_nm: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(step_nm, (tuple, list)):
        return float(step_nm[0]), float(step_nm[1])
    return float(step_nm), float(step_nm)


def _cell_mean_inverse(
    hx: float, hy: float, dz: NDArray[np.float64] | float = 0.0
) -> NDArray[np.float64]:
    """Mean of ``1 / sqrt(x^2 + y^2 + dz^2)`` over the rectangle hx x hy centred on 0.

    From the antiderivative ``x ln(y + R) + y ln(x + R) - dz atan(x y / (dz R))``; for
    ``dz = 0``: ``(4 / h) ln(1 + sqrt 2)`` for a square of side ``h``.
    """
    a, b = hx / 2, hy / 2
    z = np.abs(np.asarray(dz, dtype=np.float64))

    def corner(x: float, y: float) -> NDArray[np.float64]:
        r = np.sqrt(x * x + y * y + z * z)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (x * np.log(y + r) if x else 0.0) + (y * np.log(x + r) if y else 0.0)
            turn = np.where(z > 0, z * np.arctan(x * y / np.where(z > 0, z * r, 1.0)), 0.0)
        return np.asarray(out - turn)

    # the integral over [0, a] x [0, b] by inclusion-exclusion of the antiderivative
    total = corner(a, b) - corner(a, 0.0) - corner(0.0, b) + corner(0.0, 0.0)
    return np.asarray(total / (a * b))


def coulomb_kernel_meV(
    r_nm: ArrayLike,
    *,
    eps_r: float,
    step_nm: float | tuple[float, float],
    vertical_separation_nm: ArrayLike | None = None,
    vertical_weights: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Return the interaction of two electrons ``r_nm`` apart in the plane (meV).

    Without a vertical separation: ``1439.96 / (eps_r r)``, and at ``r = 0`` its mean over a
    grid cell of side ``step_nm`` (or sides ``(hx, hy)``). With ``vertical_separation_nm``
    (values of ``z1 - z2``) and their weights (summing to 1): the mean of
    ``1439.96 / (eps_r sqrt(r^2 + dz^2))`` over the separations, at ``r = 0`` each averaged
    over the grid cell (the point value ``1 / |dz|`` would diverge for the small separations
    of a thin well).
    """
    r = np.asarray(r_nm, dtype=np.float64)
    hx, hy = _steps(step_nm)
    if vertical_separation_nm is None:
        cell = float(_cell_mean_inverse(hx, hy))
        inv = np.where(r > 0, 1.0 / np.where(r > 0, r, 1.0), cell)
    else:
        dz = np.asarray(vertical_separation_nm, dtype=np.float64).ravel()
        w = np.asarray(vertical_weights, dtype=np.float64).ravel()
        if dz.shape != w.shape or not np.isclose(w.sum(), 1.0):
            raise ValueError("vertical_weights must match vertical_separation_nm and sum to 1")
        dist = np.sqrt(r[..., None] ** 2 + dz**2)
        # at r = 0 the cell mean of the kernel at every separation (1 / |dz| overshoots)
        cells = _cell_mean_inverse(hx, hy, dz)
        at_zero = r[..., None] == 0
        inv = (np.where(at_zero, cells, 1.0 / np.where(at_zero, 1.0, dist)) * w).sum(axis=-1)
    return COULOMB_MEV_NM / eps_r * inv


def grid_coulomb_integrals(
    states: ArrayLike,
    *,
    step_nm: float | tuple[float, float],
    eps_r: float,
    vertical_separation_nm: ArrayLike | None = None,
    vertical_weights: ArrayLike | None = None,
) -> NDArray[np.complex128]:
    """Return ``(ab|cd)`` (meV) of states on a uniform grid.

    Parameters
    ----------
    states : array_like (m, nx, ny) or (m, ncomp, nx, ny)
        The states on the grid (nm^-1: normalised so that ``h^2 sum |phi|^2 = 1``); with
        components (the two valleys), the pair density sums over them (the envelope
        approximation: intervalley terms, which oscillate with 2 k0, average out).
    step_nm : float or (float, float)
        Grid step, the same in x and y, or ``(hx, hy)``.
    eps_r : float
        Relative permittivity of the host.
    vertical_separation_nm, vertical_weights : array_like, optional
        The distribution of ``z1 - z2`` (see :func:`coulomb_kernel_meV`).

    Returns
    -------
    ndarray (m, m, m, m)
    """
    phi = np.asarray(states, dtype=np.complex128)
    if phi.ndim == 3:
        phi = phi[:, None]
    if phi.ndim != 4:
        raise ValueError(f"states has shape {phi.shape}; expected (m, nx, ny) or (m, nc, nx, ny)")
    m, _, nx, ny = phi.shape
    hx, hy = _steps(step_nm)
    h2 = hx * hy
    # the kernel on the padded grid, wrapped so that index (i, j) is the offset (i, j)
    ix = np.fft.fftfreq(2 * nx, d=1.0 / (2 * nx))
    iy = np.fft.fftfreq(2 * ny, d=1.0 / (2 * ny))
    r = np.hypot(hx * ix[:, None], hy * iy[None, :])
    kernel = coulomb_kernel_meV(
        r,
        eps_r=eps_r,
        step_nm=step_nm,
        vertical_separation_nm=vertical_separation_nm,
        vertical_weights=vertical_weights,
    )
    k_hat = np.fft.fft2(kernel)
    a, b = np.triu_indices(m)
    rho = (phi[a].conj() * phi[b]).sum(axis=1)  # (npairs, nx, ny), summed over components
    padded = np.zeros((a.size, 2 * nx, 2 * ny), dtype=np.complex128)
    padded[:, :nx, :ny] = rho
    pot = np.fft.ifft2(np.fft.fft2(padded) * k_hat)[:, :nx, :ny] * h2  # meV at every node
    return pair_table(m, rho.reshape(a.size, -1) * h2, pot.reshape(a.size, -1))


def pair_table(
    m: int, left: NDArray[np.complexfloating], right: NDArray[np.complexfloating]
) -> NDArray[np.complex128]:
    """Return the table ``(ab|cd)`` (m, m, m, m) from the pairs ``a <= b``.

    ``left[k]`` and ``right[k]`` belong to the k-th pair ``(a, b)`` of
    ``numpy.triu_indices(m)``, such that ``(ab|cd) = left_ab . right_cd`` (a plain, not a
    conjugating, dot product): e.g. a pair density and the potential of another. The pairs
    ``b > a`` follow from ``rho_ba = rho_ab*`` with a real kernel.
    """
    a, b = np.triu_indices(m)
    if left.shape[0] != a.size or right.shape[0] != a.size:
        raise ValueError(f"left and right need {a.size} pairs (a <= b) for m = {m}")
    out = np.empty((m, m, m, m), dtype=np.complex128)
    i, j = a[:, None], b[:, None]
    c, d = a[None, :], b[None, :]
    out[i, j, c, d] = left @ right.T
    out[j, i, c, d] = left.conj() @ right.T
    out[i, j, d, c] = left @ right.conj().T
    out[j, i, d, c] = left.conj() @ right.conj().T
    return out
