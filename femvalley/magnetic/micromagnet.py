"""The stray field of a micro-magnet near a dot: a uniform gradient, or a field map.

A cobalt micro-magnet saturated by the external field adds a position-dependent field
``B_mm(r)`` whose transverse gradient drives electric-dipole spin resonance (EDSR) and whose
longitudinal gradient dephases the qubit. Two descriptions:

- :class:`MicroMagnet`: ``B_mm(r) = B_0 + G (r - r_0)``, with ``G_ij = dB_i / dr_j``. Outside the
  magnet the field has neither divergence nor curl, so ``G`` must be symmetric and traceless;
  both are checked.
- :class:`FieldMap`: the field on a regular grid (from a magnetostatics code), interpolated
  linearly; a point outside the grid is refused.

Both give ``field_at_T(points_nm)`` for points (dim, ...) as (3, ...); 2-D points lie at the
height ``origin_nm[2]`` (:class:`MicroMagnet`) or ``plane_z_nm`` (:class:`FieldMap`).

Units: T, mT/nm, nm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FieldMap", "MicroMagnet"]


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    arr = np.asarray(value, dtype=float) if _numeric(value) else None
    if arr is None or arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} = {value!r} must be three finite numbers (x, y, z)")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _numeric(value: Any) -> bool:
    try:
        np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class MicroMagnet:
    """A micro-magnet's field near the dot as a uniform gradient.

    Attributes
    ----------
    field_T : (3,) floats
        ``B_0``, the magnet's field at ``origin_nm`` (T), without the external field.
    gradient_mT_per_nm : (3, 3) floats
        ``G_ij = dB_i / dr_j`` (mT/nm), symmetric and traceless.
    origin_nm : (3,) floats
        ``r_0`` (nm).
    """

    field_T: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gradient_mT_per_nm: tuple[tuple[float, float, float], ...] = field(
        default=((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    )
    origin_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_T", _triple(self.field_T, "field_T"))
        object.__setattr__(self, "origin_nm", _triple(self.origin_nm, "origin_nm"))
        g = self.gradient_mT_per_nm
        arr = np.asarray(g, dtype=float) if _numeric(g) else None
        if arr is None or arr.shape != (3, 3) or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"gradient_mT_per_nm = {g!r} must be a 3 x 3 matrix of finite numbers "
                "(G_ij = dB_i / dr_j, mT/nm)"
            )
        scale = max(float(np.abs(arr).max()), 1e-300)
        asym = float(np.abs(arr - arr.T).max())
        if asym > 1e-9 * scale:
            raise ValueError(
                f"gradient_mT_per_nm = {arr.tolist()} is not symmetric (largest G_ij - G_ji = "
                f"{asym:.3g} mT/nm): a field without currents has no curl, so dB_i/dr_j = "
                "dB_j/dr_i"
            )
        trace = float(np.trace(arr))
        if abs(trace) > 1e-9 * scale:
            raise ValueError(
                f"gradient_mT_per_nm has the trace {trace:.3g} mT/nm: a magnetic field has "
                "no divergence, so the diagonal must sum to zero"
            )
        object.__setattr__(self, "gradient_mT_per_nm", tuple(tuple(map(float, r)) for r in arr))

    @property
    def gradient_T_per_nm(self) -> NDArray[np.float64]:
        """``G`` in T/nm, (3, 3)."""
        return 1e-3 * np.asarray(self.gradient_mT_per_nm, dtype=float)

    def field_at_T(self, points_nm: ArrayLike) -> NDArray[np.float64]:
        """``B_0 + G (r - r_0)`` (T) at points (dim, ...) as (3, ...)."""
        p = np.asarray(points_nm, dtype=float)
        r = _points3(p, self.origin_nm[2]) - np.reshape(self.origin_nm, (3,) + (1,) * (p.ndim - 1))
        b0 = np.reshape(self.field_T, (3,) + (1,) * (p.ndim - 1))
        return np.asarray(b0 + np.tensordot(self.gradient_T_per_nm, r, axes=(1, 0)))


def _points3(p: NDArray[np.float64], z_nm: float) -> NDArray[np.float64]:
    dim = p.shape[0]
    if dim not in (2, 3):
        raise ValueError(f"points have {dim} coordinates; expected 2 or 3")
    if dim == 3:
        return p
    return np.concatenate([p, np.full((1,) + p.shape[1:], float(z_nm))], axis=0)


@dataclass(frozen=True, eq=False, kw_only=True)
class FieldMap:
    """A micro-magnet's field on a regular grid, interpolated linearly.

    Attributes
    ----------
    x_nm, y_nm, z_nm : ndarray
        Strictly increasing grid axes (nm), at least two points each.
    field_T : ndarray (3, nx, ny, nz)
        ``B_x, B_y, B_z`` (T) at the grid points.
    plane_z_nm : float
        Height of 2-D points.
    """

    x_nm: NDArray[np.float64]
    y_nm: NDArray[np.float64]
    z_nm: NDArray[np.float64]
    field_T: NDArray[np.float64]
    plane_z_nm: float = 0.0

    def __post_init__(self) -> None:
        axes = []
        for name in ("x_nm", "y_nm", "z_nm"):
            a = np.asarray(getattr(self, name), dtype=float)
            if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)) or np.any(np.diff(a) <= 0):
                raise ValueError(
                    f"{name} must be a strictly increasing axis of at least two finite numbers "
                    f"(got shape {a.shape})"
                )
            object.__setattr__(self, name, a)
            axes.append(a.size)
        b = np.asarray(self.field_T, dtype=float)
        if b.shape != (3, *axes):
            raise ValueError(f"field_T has shape {b.shape}; expected {(3, *axes)} (3, nx, ny, nz)")
        if not np.all(np.isfinite(b)):
            raise ValueError("field_T has values that are not finite")
        object.__setattr__(self, "field_T", b)
        if not math.isfinite(float(self.plane_z_nm)):
            raise ValueError(f"plane_z_nm = {self.plane_z_nm!r} must be a finite number (nm)")

    @classmethod
    def load(cls, path: str | Path, *, plane_z_nm: float = 0.0) -> FieldMap:
        """Read a map from a ``.npz`` file with the arrays ``x_nm, y_nm, z_nm, field_T``."""
        try:
            with np.load(path) as data:
                missing = [k for k in ("x_nm", "y_nm", "z_nm", "field_T") if k not in data]
                if missing:
                    raise ValueError(f"{path}: the field map has no array(s) {missing}")
                return cls(
                    x_nm=data["x_nm"],
                    y_nm=data["y_nm"],
                    z_nm=data["z_nm"],
                    field_T=data["field_T"],
                    plane_z_nm=plane_z_nm,
                )
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the field map ({exc})") from None

    def field_at_T(self, points_nm: ArrayLike) -> NDArray[np.float64]:
        """Interpolate the field (T) at points (dim, ...); returns (3, ...)."""
        from scipy.interpolate import RegularGridInterpolator

        p = _points3(np.asarray(points_nm, dtype=float), self.plane_z_nm)
        for i, (name, axis) in enumerate(zip("xyz", (self.x_nm, self.y_nm, self.z_nm))):
            lo, hi = float(p[i].min(initial=axis[0])), float(p[i].max(initial=axis[-1]))
            if lo < axis[0] - 1e-9 or hi > axis[-1] + 1e-9:
                raise ValueError(
                    f"the field map covers {name} in [{axis[0]:.6g}, {axis[-1]:.6g}] nm; the "
                    f"points reach [{lo:.6g}, {hi:.6g}] nm"
                )
        flat = np.stack(
            [
                np.clip(p[i].ravel(), a[0], a[-1])
                for i, a in enumerate((self.x_nm, self.y_nm, self.z_nm))
            ],
            axis=-1,
        )
        out = np.empty((3, flat.shape[0]))
        for c in range(3):
            interp = RegularGridInterpolator((self.x_nm, self.y_nm, self.z_nm), self.field_T[c])
            out[c] = interp(flat)
        return out.reshape((3,) + p.shape[1:])
