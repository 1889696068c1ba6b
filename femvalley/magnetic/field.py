"""A uniform magnetic field and its vector potential.

``B`` (T) points along the unit vector ``direction``; its magnitude is bound late. The vector
potential of 1 T (T nm), with ``curl A = direction``:

- ``"symmetric"``: ``A = (direction x (r - origin)) / 2``, any direction;
- ``"landau"``: for a field along a coordinate axis ``n``, ``A`` has one component, linear in
  one other coordinate (for ``n = z``: ``A = (-(y - y0), 0, 0)``).

Both describe the same field: the spectra agree (gauge invariance, a test).

Units: T, nm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["GAUGES", "UniformField"]

#: the gauges of :class:`UniformField`
GAUGES = ("symmetric", "landau")


@dataclass(frozen=True)
class UniformField:
    """The direction of a uniform field, its gauge and the gauge origin.

    Parameters
    ----------
    direction : (3,) array_like
        The field's direction (normalised here).
    gauge : {"symmetric", "landau"}
    origin_nm : (3,) array_like
        The point where ``A = 0`` (symmetric gauge; for the Landau gauge the line through it).
    """

    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    gauge: str = "symmetric"
    origin_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, dtype=float)
        if d.shape != (3,) or not np.all(np.isfinite(d)) or not np.any(d):
            raise ValueError(f"direction = {self.direction!r}: give a non-zero 3-vector")
        object.__setattr__(self, "direction", tuple(float(x) for x in d / np.linalg.norm(d)))
        o = np.asarray(self.origin_nm, dtype=float)
        if o.shape != (3,) or not np.all(np.isfinite(o)):
            raise ValueError(f"origin_nm = {self.origin_nm!r}: give a finite 3-vector (nm)")
        object.__setattr__(self, "origin_nm", tuple(float(x) for x in o))
        if self.gauge not in GAUGES:
            raise ValueError(f"gauge = {self.gauge!r}; allowed: {list(GAUGES)}")
        if self.gauge == "landau" and sum(abs(x) > 1e-12 for x in self.direction) != 1:
            raise ValueError(
                f"gauge = 'landau' needs a field along x, y or z; direction = {self.direction}"
            )

    def vector_potential_T_nm(self, points_nm: ArrayLike) -> NDArray[np.float64]:
        """Return ``A`` (T nm) of a 1 T field at points (dim, ...); 2-D points lie at z = origin."""
        p = np.asarray(points_nm, dtype=float)
        dim = p.shape[0]
        r = np.zeros((3,) + p.shape[1:])
        r[:dim] = p
        r[dim:] = np.reshape(self.origin_nm[dim:], (-1,) + (1,) * (p.ndim - 1))
        r = r - np.reshape(self.origin_nm, (3,) + (1,) * (p.ndim - 1))
        d = np.asarray(self.direction)
        if self.gauge == "symmetric":
            a = 0.5 * np.cross(d, r, axis=0)
        else:
            n = int(np.argmax(np.abs(d)))
            sign = math.copysign(1.0, d[n])
            i, j = (n + 1) % 3, (n + 2) % 3  # A_i = -r_j B_n: curl A = B along n
            a = np.zeros_like(r)
            a[i] = -sign * r[j]
        return np.asarray(a[:dim] if dim < 3 else a)
