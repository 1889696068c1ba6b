"""Ge concentration profiles X(z) of Si/SiGe heterostructures, as composable frozen dataclasses.

Every profile is a callable ``X(z_nm) -> Ge fraction``; profiles add (``well + spike``), and
the sum is clipped to [0, 1] where it is evaluated. z is the growth direction (nm), the
electron side of the well is its top when the field pushes it up (``F > 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GeSpike",
    "Profile",
    "QuantumWell",
    "SumProfile",
    "UniformGe",
    "WiggleWell",
]


def _check(name: str, value: float, *, positive: bool = False, fraction: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} = {value!r} must be a finite number")
    if positive and not value > 0:
        raise ValueError(f"{name} = {value!r} must be > 0")
    if fraction and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} = {value!r} must be a Ge fraction in [0, 1]")


class Profile:
    """Base of the profiles: evaluation, sums, clipping."""

    def fraction(self, z_nm: ArrayLike) -> NDArray[np.float64]:  # pragma: no cover - abstract
        """Ge fraction at ``z_nm`` (unclipped part of a sum)."""
        raise NotImplementedError

    def __call__(self, z_nm: ArrayLike) -> NDArray[np.float64]:
        """Ge fraction X(z) in [0, 1]."""
        return np.clip(self.fraction(np.asarray(z_nm, dtype=float)), 0.0, 1.0)

    def __add__(self, other: Any) -> Profile:
        if not isinstance(other, Profile):
            return NotImplemented
        return SumProfile(parts=(*_parts(self), *_parts(other)))


def _parts(p: Profile) -> tuple[Profile, ...]:
    return p.parts if isinstance(p, SumProfile) else (p,)


@dataclass(frozen=True)
class SumProfile(Profile):
    """The sum of several profiles."""

    parts: tuple[Profile, ...]

    def fraction(self, z_nm: ArrayLike) -> NDArray[np.float64]:
        """Sum of the parts."""
        z = np.asarray(z_nm, dtype=float)
        return np.asarray(sum((p.fraction(z) for p in self.parts), np.zeros_like(z)))


@dataclass(frozen=True, kw_only=True)
class QuantumWell(Profile):
    """A Si well between Si(1-x)Ge(x) barriers with smooth (tanh) interfaces.

    ``X(z) = x/2 [1 - tanh((z - z_bottom) / w)] + x/2 [1 + tanh((z - z_top) / w)]`` with
    ``z_bottom, z_top = centre -+ width / 2`` and ``w = interface_width_nm / 2``: the
    concentration goes from 12 % to 88 % of ``x`` over ``interface_width_nm`` (``0`` gives
    sharp interfaces).
    """

    width_nm: float = 10.0
    barrier_ge: float = 0.3
    interface_width_nm: float = 0.5
    centre_nm: float = 0.0

    def __post_init__(self) -> None:
        _check("width_nm", self.width_nm, positive=True)
        _check("barrier_ge", self.barrier_ge, fraction=True)
        _check("interface_width_nm", self.interface_width_nm)
        if self.interface_width_nm < 0:
            raise ValueError(f"interface_width_nm = {self.interface_width_nm!r} must be >= 0")
        _check("centre_nm", self.centre_nm)

    def fraction(self, z_nm: ArrayLike) -> NDArray[np.float64]:
        """Ge fraction of the well profile."""
        z = np.asarray(z_nm, dtype=float)
        lo = self.centre_nm - self.width_nm / 2
        hi = self.centre_nm + self.width_nm / 2
        x = self.barrier_ge
        if self.interface_width_nm == 0:
            return np.where((z > lo) & (z < hi), 0.0, x) + np.where(
                (z == lo) | (z == hi), -x / 2, 0
            )
        w = self.interface_width_nm / 2
        return np.asarray(
            0.5 * x * (1 - np.tanh((z - lo) / w)) + 0.5 * x * (1 + np.tanh((z - hi) / w))
        )


@dataclass(frozen=True, kw_only=True)
class GeSpike(Profile):
    """A Gaussian Ge spike: ``X(z) = peak_ge exp(-(z - centre)^2 / (2 sigma^2))``."""

    peak_ge: float = 0.1
    centre_nm: float = 0.0
    sigma_nm: float = 0.3

    def __post_init__(self) -> None:
        _check("peak_ge", self.peak_ge, fraction=True)
        _check("centre_nm", self.centre_nm)
        _check("sigma_nm", self.sigma_nm, positive=True)

    def fraction(self, z_nm: ArrayLike) -> NDArray[np.float64]:
        """Ge fraction of the spike."""
        z = np.asarray(z_nm, dtype=float)
        return np.asarray(self.peak_ge * np.exp(-0.5 * ((z - self.centre_nm) / self.sigma_nm) ** 2))


@dataclass(frozen=True, kw_only=True)
class WiggleWell(Profile):
    """Ge oscillating inside ``[start_nm, stop_nm]``: ``X = amplitude_ge (1 - cos(q z)) / 2``.

    ``q = wavenumber_per_nm``; resonant with the valleys at ``q = 2 k0`` (19.7 nm^-1).
    """

    amplitude_ge: float = 0.05
    wavenumber_per_nm: float = 19.7
    start_nm: float = -5.0
    stop_nm: float = 5.0

    def __post_init__(self) -> None:
        _check("amplitude_ge", self.amplitude_ge, fraction=True)
        _check("wavenumber_per_nm", self.wavenumber_per_nm, positive=True)
        _check("start_nm", self.start_nm)
        _check("stop_nm", self.stop_nm)
        if not self.stop_nm > self.start_nm:
            raise ValueError(
                f"stop_nm = {self.stop_nm!r} must be above start_nm = {self.start_nm!r}"
            )

    def fraction(self, z_nm: ArrayLike) -> NDArray[np.float64]:
        """Ge fraction of the oscillation (zero outside its interval)."""
        z = np.asarray(z_nm, dtype=float)
        inside = (z >= self.start_nm) & (z <= self.stop_nm)
        return np.where(
            inside, 0.5 * self.amplitude_ge * (1 - np.cos(self.wavenumber_per_nm * z)), 0.0
        )


@dataclass(frozen=True, kw_only=True)
class UniformGe(Profile):
    """A uniform residual Ge fraction everywhere."""

    ge: float = 0.01

    def __post_init__(self) -> None:
        _check("ge", self.ge, fraction=True)

    def fraction(self, z_nm: ArrayLike) -> NDArray[np.float64]:
        """Return the constant fraction."""
        return np.full(np.shape(z_nm), float(self.ge))
