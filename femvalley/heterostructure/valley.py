"""Intervalley coupling of the 2k0 theory: local, ambiguity, spectrally filtered (refs. 2, 3).

For a laterally uniform potential and an envelope normalised in plane, the local 2k0 theory
gives (ref. 2 eq. 37; ref. 3 eq. 8)

    Delta_loc = sum_n C_n int e^{-i (2 k0 + n G) z} U(z) f(z)^2 dz,      G = 4 pi / a,

with the Bloch-function coefficients ``C_n`` (:func:`bloch_coefficients`, ref. 2 Tab. II;
``C_0 = -0.221``) or the single ab initio coefficient ``{0: A}``, ``A = -0.26``
(:data:`SINGLE_COEFFICIENT`, the default). The valley splitting is ``E_V = 2 |Delta|``.

The local model is not invariant under a constant shift ``U -> U + U0``: it moves by ``U0 R``
with the ambiguity measure ``R = sum_n C_n int e^{-i (2 k0 + n G) z} f^2 dz`` (ref. 2 eq. 38;
:func:`ambiguity_measure`). The spectrally filtered (projected-local) model (eq. 39-40,
:func:`filtered_valley_coupling_meV`) projects the envelope on each valley's sector of the
Brillouin zone before the integral, which makes it exactly invariant.

Grids: the integrals are evaluated on the fine continuous-z grid of
:func:`~femvalley.heterostructure.vertical.solve_vertical`. The filtered model works on that
grid as one period of a periodic function; it is exact when the period ``L`` puts every
``2 k0 + n G`` on the discrete Fourier grid, which :func:`commensurate_length_nm` provides
(``L`` a multiple of ``10 a`` = 5.431 nm for ``k0 = 0.85 * 2 pi / a``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.units import K0_PER_NM, SI_LATTICE_CONSTANT_NM

__all__ = [
    "A_AB_INITIO",
    "SINGLE_COEFFICIENT",
    "ambiguity_measure",
    "bloch_coefficients",
    "commensurate_length_nm",
    "filtered_envelopes",
    "filtered_valley_coupling_meV",
    "local_valley_coupling_meV",
]

#: single-coefficient 2k0 prefactor from ab initio Bloch functions (ref. 3 eq. 8)
A_AB_INITIO = -0.26

#: the single-coefficient form ``{0: A}`` of the 2k0 theory (the default everywhere)
SINGLE_COEFFICIENT: Mapping[int, float] = {0: A_AB_INITIO}

# ref. 2 Tab. II (empirical pseudopotentials): even n constant, odd n linear in shear strain
_TAB_II_EVEN = {-4: 1.84e-3, -2: -2.44e-2, 0: -0.221, 2: 1.58e-3, 4: 3.35e-5}
_TAB_II_ODD_PER_SHEAR = {-3: 0.599, -1: -31.8, 1: -0.402, 3: 1.04e-2}


def bloch_coefficients(*, shear_strain: float = 0.0) -> dict[int, float]:
    """Return the ``C_n`` of ref. 2 Tab. II for ``n = -4..4`` (odd ones scale with ``eps_xy``).

    Parameters
    ----------
    shear_strain : float
        The shear strain ``eps_xy`` of the well (0 for a pseudomorphic [001] well; the odd
        coefficients are linear fits valid for ``|eps_xy|`` up to about 1e-3).
    """
    if not (isinstance(shear_strain, (int, float)) and math.isfinite(shear_strain)):
        raise ValueError(f"shear_strain = {shear_strain!r} must be a finite number")
    if abs(shear_strain) > 0.01:
        raise ValueError(
            f"shear_strain = {shear_strain!r}: the linear fits of Tab. II hold for |eps_xy| <= 0.01"
        )
    out = dict(_TAB_II_EVEN)
    if shear_strain != 0.0:
        out.update({n: c * shear_strain for n, c in _TAB_II_ODD_PER_SHEAR.items()})
    return dict(sorted(out.items()))


def _arrays(
    z_nm: ArrayLike, envelope: ArrayLike, potential_meV: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    z = np.asarray(z_nm, dtype=float)
    f = np.asarray(envelope, dtype=float)
    u = np.ones_like(z) if potential_meV is None else np.asarray(potential_meV, dtype=float)
    if not (z.shape == u.shape == f.shape) or z.ndim != 1 or z.size < 3:
        raise ValueError(
            f"z_nm, potential_meV and envelope must be 1-D of one length >= 3: {z.shape}, "
            f"{u.shape}, {f.shape}"
        )
    return z, u, f


def _bloch_sum(
    weighted: NDArray[np.complex128] | NDArray[np.float64],
    z: NDArray[np.float64],
    coefficients: Mapping[int, float] | None,
    k0_per_nm: float,
    lattice_constant_nm: float,
) -> complex:
    """``sum_n C_n sum_j w_j e^{-i (2 k0 + n G) z_j}`` (the quadrature weights are in ``w``)."""
    coeffs = SINGLE_COEFFICIENT if coefficients is None else coefficients
    if not coeffs:
        raise ValueError("coefficients must hold at least one C_n")
    g = 4 * math.pi / lattice_constant_nm
    return complex(
        sum(
            float(c) * np.sum(weighted * np.exp(-1j * (2 * k0_per_nm + int(n) * g) * z))
            for n, c in coeffs.items()
        )
    )


def local_valley_coupling_meV(
    z_nm: ArrayLike,
    potential_meV: ArrayLike,
    envelope: ArrayLike,
    *,
    coefficients: Mapping[int, float] | None = None,
    k0_per_nm: float = K0_PER_NM,
    lattice_constant_nm: float = SI_LATTICE_CONSTANT_NM,
) -> complex:
    """Local 2k0 coupling ``sum_n C_n int e^{-i (2k0 + nG) z} U f^2 dz`` (meV), ref. 2 eq. 37.

    The integral is the trapezoid rule on the grid (exact for the P1 interpolant's nodal
    product up to O(h^2)); the grid must resolve ``2 k0 + n G`` (a fine continuous grid, not
    monolayers).

    Parameters
    ----------
    z_nm, potential_meV, envelope : array_like (n,)
        Grid, ``U`` (meV) and ``f`` (``int f^2 dz = 1``) at its nodes.
    coefficients : mapping n -> C_n, optional
        :data:`SINGLE_COEFFICIENT` (default) or :func:`bloch_coefficients`.
    k0_per_nm, lattice_constant_nm : float
        Valley wave number and lattice constant (``G = 4 pi / a``).
    """
    z, u, f = _arrays(z_nm, envelope, potential_meV)
    w = np.zeros_like(z)
    h = np.diff(z)
    w[:-1] += h / 2
    w[1:] += h / 2
    return _bloch_sum(w * u * f * f, z, coefficients, k0_per_nm, lattice_constant_nm)


def ambiguity_measure(
    z_nm: ArrayLike,
    envelope: ArrayLike,
    *,
    coefficients: Mapping[int, float] | None = None,
    k0_per_nm: float = K0_PER_NM,
    lattice_constant_nm: float = SI_LATTICE_CONSTANT_NM,
) -> complex:
    """``R = sum_n C_n int e^{-i (2k0 + nG) z} f^2 dz`` (ref. 2 eq. 38; dimensionless).

    Under ``U -> U + U0`` the local coupling moves by exactly ``U0 R``, so the local valley
    splitting can move by up to ``2 U0 |R|``.
    """
    z, _, f = _arrays(z_nm, envelope)
    return local_valley_coupling_meV(
        z,
        np.ones_like(z),
        f,
        coefficients=coefficients,
        k0_per_nm=k0_per_nm,
        lattice_constant_nm=lattice_constant_nm,
    )


def commensurate_length_nm(
    min_length_nm: float,
    *,
    k0_per_nm: float = K0_PER_NM,
    lattice_constant_nm: float = SI_LATTICE_CONSTANT_NM,
) -> float:
    """Smallest period ``L >= min_length_nm`` with every ``2 k0 + n G`` on its Fourier grid.

    ``L G / 2 pi = 2 L / a`` and ``L 2 k0 / 2 pi`` must both be integers; for
    ``k0 = 0.85 * 2 pi / a`` that is ``L = 10 a m``. Raises if ``k0 a / 2 pi`` is not a
    fraction with a denominator below 1000.
    """
    if not (math.isfinite(min_length_nm) and min_length_nm > 0):
        raise ValueError(f"min_length_nm = {min_length_nm!r} must be > 0")
    frac = k0_per_nm * lattice_constant_nm / (2 * math.pi)
    ratio = Fraction(frac).limit_denominator(1000)
    if abs(float(ratio) - frac) > 1e-9:
        raise ValueError(
            f"k0_per_nm = {k0_per_nm!r}: k0 a / 2 pi = {frac!r} is not a simple fraction, so no "
            "period is commensurate with 2 k0 and G"
        )
    # L = m a / 2 with m * frac an integer: m a multiple of the denominator of frac
    period = ratio.denominator * lattice_constant_nm / 2
    return float(math.ceil(min_length_nm / period - 1e-9) * period)


def _check_commensurate(
    z: NDArray[np.float64], k0_per_nm: float, lattice_constant_nm: float
) -> float:
    h = np.diff(z)
    if not np.allclose(h, h[0], rtol=1e-9, atol=0):
        raise ValueError("z_nm must be a uniform grid for the filtered model")
    length = float(z[-1] - z[0])
    g = 4 * math.pi / lattice_constant_nm
    for name, kappa in (("2 k0", 2 * k0_per_nm), ("G", g)):
        cycles = kappa * length / (2 * math.pi)
        if abs(cycles - round(cycles)) > 1e-6 * max(1.0, cycles):
            unit = commensurate_length_nm(
                1e-9, k0_per_nm=k0_per_nm, lattice_constant_nm=lattice_constant_nm
            )
            raise ValueError(
                f"z_nm spans L = {length:.6g} nm, which is not commensurate with {name} "
                f"({cycles:.6g} periods): use a range of length commensurate_length_nm(...) "
                f"(a multiple of {unit:.6g} nm)"
            )
    return length


def filtered_envelopes(
    z_nm: ArrayLike,
    envelope: ArrayLike,
    *,
    k0_per_nm: float = K0_PER_NM,
    lattice_constant_nm: float = SI_LATTICE_CONSTANT_NM,
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Envelopes projected on the valley sectors, normalised (ref. 2 eq. 39).

    The slowly varying envelope of the ``+k0`` valley may only hold wave numbers in
    ``(-k0, k1)``, ``k1 = 2 pi / a - k0`` (its sector ``(0, 2 pi / a)`` shifted by ``-k0``);
    the ``-k0`` valley's in ``(-k1, k0)``. The projection is a Fourier filter over one period
    of the grid (the last grid point is the period's start again, where ``f = 0``).

    Returns
    -------
    f_plus, f_minus : ndarray, complex (n,)
        On the grid (the last value repeats the first); ``int |f|^2 dz = 1``.
    """
    z, _, f = _arrays(z_nm, envelope)
    _check_commensurate(z, k0_per_nm, lattice_constant_nm)
    n = z.size - 1
    h = (z[-1] - z[0]) / n
    spec = np.fft.fft(f[:-1])
    k = 2 * math.pi * np.fft.fftfreq(n, d=h)
    k1 = 2 * math.pi / lattice_constant_nm - k0_per_nm
    # open sectors: a sector edge that falls on the Fourier grid is excluded despite round-off
    tol = 1e-6 * 2 * math.pi / (z[-1] - z[0])
    out = []
    for lo, hi in ((-k0_per_nm, k1), (-k1, k0_per_nm)):
        g = np.fft.ifft(np.where((k > lo + tol) & (k < hi - tol), spec, 0.0))
        g /= math.sqrt(float(np.sum(np.abs(g) ** 2)) * h)
        out.append(np.append(g, g[0]))
    return out[0], out[1]


def filtered_valley_coupling_meV(
    z_nm: ArrayLike,
    potential_meV: ArrayLike,
    envelope: ArrayLike,
    *,
    coefficients: Mapping[int, float] | None = None,
    k0_per_nm: float = K0_PER_NM,
    lattice_constant_nm: float = SI_LATTICE_CONSTANT_NM,
) -> complex:
    """Projected-local coupling (ref. 2 eq. 40), invariant under ``U -> U + U0``.

    ``Delta = sum_n C_n int e^{-i (2k0 + nG) z} conj(f_+) U f_- dz`` with the filtered
    envelopes of :func:`filtered_envelopes`, by the trapezoid rule over one period. On a
    commensurate period the product ``conj(f_+) f_-`` has no Fourier component at any
    ``2 k0 + n G``, so a constant ``U0`` contributes exactly nothing (to round-off).

    Parameters
    ----------
    z_nm : array_like (n,)
        Uniform grid whose length is commensurate (:func:`commensurate_length_nm`); the
        :func:`~femvalley.heterostructure.vertical.solve_vertical` default range is.
    potential_meV, envelope : array_like (n,)
        ``U`` (meV) and the local envelope ``f`` (real).
    """
    z, u, _ = _arrays(z_nm, envelope, potential_meV)
    fp, fm = filtered_envelopes(
        z, envelope, k0_per_nm=k0_per_nm, lattice_constant_nm=lattice_constant_nm
    )
    h = (z[-1] - z[0]) / (z.size - 1)
    # trapezoid over the period: the two ends are one point of the periodic envelope product
    # (so a constant still integrates exactly to zero) while U need not be periodic (the field
    # term), and the sum is symmetric under a mirror of the grid
    w = np.full(z.size, h)
    w[0] = w[-1] = h / 2
    return _bloch_sum(w * np.conj(fp) * u * fm, z, coefficients, k0_per_nm, lattice_constant_nm)
