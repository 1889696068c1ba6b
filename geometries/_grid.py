"""Structured tetrahedral meshes of boxes (no gmsh): the k.p meshes of planar quantum regions.

In a planar heterostructure the electron is confined vertically to a few nm and the k.p mesh
must resolve that confinement the same way in every (x, y) column; otherwise the vertical
discretisation error (meV) varies from column to column and acts as a spurious in-plane
potential, larger than the detuning signal (a fraction of a meV). A tensor grid, fine and
graded in z, coarse in x and y, with grid planes on every material interface, does that.

- :func:`graded_axis`: grid coordinates with given spacings on segments, geometric growth away
  from a fine side;
- :func:`tensor_tetra`: the Kuhn (Freudenthal) split of a tensor grid into tetrahedra, six per
  cell along the main diagonal; conforming, positively oriented.

Units: nm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "graded_axis",
    "graded_steps",
    "tensor_tetra",
    "uniform_axis",
    "uniform_steps",
    "vertex_counts",
]


def uniform_axis(start_nm: float, stop_nm: float, max_step_nm: float) -> NDArray[np.float64]:
    """Equal steps from ``start_nm`` to ``stop_nm``, none longer than ``max_step_nm``."""
    n = max(1, math.ceil((stop_nm - start_nm) / max_step_nm - 1e-9))
    return np.linspace(start_nm, stop_nm, n + 1)


def uniform_steps(length_nm: float, max_step_nm: float) -> int:
    """Number of steps of :func:`uniform_axis` over ``length_nm`` (without building it)."""
    return max(1, math.ceil(length_nm / max_step_nm - 1e-9))


def graded_steps(
    length_nm: float, *, fine_step_nm: float, max_step_nm: float, ratio: float = 1.5
) -> int:
    """Number of steps of :func:`graded_axis` over ``length_nm`` (in closed form)."""
    length = abs(length_nm)
    if length == 0:
        return 0
    h, cap = fine_step_nm, max(max_step_nm, fine_step_nm)
    # k growing steps reach the cap; their sum
    k_cap = max(0, math.ceil(math.log(cap / h) / math.log(ratio) - 1e-12))
    grown = h * (ratio**k_cap - 1) / (ratio - 1)
    if grown >= length * (1 - 1e-9):
        return max(1, math.ceil(math.log(1 + length * (ratio - 1) / h) / math.log(ratio) - 1e-9))
    return k_cap + math.ceil((length - grown) / cap - 1e-9)


def vertex_counts(
    nx: int, ny: int, nz: int, *, device_quantum: float, device_rest: float
) -> dict[str, int]:
    """The ``vertex_estimate()`` of a device: a structured k.p grid and a rough gmsh mesh.

    ``nx, ny, nz``: points of the k.p grid's axes; ``device_quantum`` and ``device_rest``:
    estimated vertices of the device mesh in and outside its quantum region.
    """
    return {
        "structured_kp": nx * ny * nz,
        "plane": nx * ny,
        "columns_z": nz,
        "device_quantum": math.ceil(device_quantum),
        "device": math.ceil(device_quantum + device_rest),
    }


def graded_axis(
    start_nm: float, stop_nm: float, *, fine_step_nm: float, max_step_nm: float, ratio: float = 1.5
) -> NDArray[np.float64]:
    """Steps growing geometrically from ``fine_step_nm`` at ``start_nm`` (either direction).

    The steps are ``fine_step_nm * ratio**k`` capped at ``max_step_nm``, then scaled so that
    they end exactly at ``stop_nm``.
    """
    length = abs(stop_nm - start_nm)
    steps: list[float] = []
    h = fine_step_nm
    while sum(steps) < length * (1 - 1e-9):
        steps.append(min(h, max_step_nm))
        h *= ratio
    s = np.asarray(steps) * (length / sum(steps))
    sign = 1.0 if stop_nm >= start_nm else -1.0
    out = start_nm + sign * np.concatenate([[0.0], np.cumsum(s)])
    out[-1] = stop_nm
    return out if sign > 0 else out[::-1]


# the six tetrahedra of the Kuhn split of the unit cube, as corner indices i + 2 j + 4 k
_KUHN = np.array(
    [[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]]
)


def tensor_tetra(
    x_nm: ArrayLike, y_nm: ArrayLike, z_nm: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Points (npoints, 3) and tetrahedra (ncells, 4) of the tensor grid ``x * y * z``.

    Every grid cell is split into six tetrahedra sharing its main diagonal; neighbouring cells
    split their common face along the same diagonal, so the mesh is conforming. All
    tetrahedra are positively oriented.
    """
    x, y, z = (np.asarray(a, dtype=np.float64) for a in (x_nm, y_nm, z_nm))
    for name, a in (("x_nm", x), ("y_nm", y), ("z_nm", z)):
        if a.ndim != 1 or a.size < 2 or np.any(np.diff(a) <= 0):
            raise ValueError(f"{name}: need at least two strictly increasing coordinates")
    nx, ny, nz = x.size, y.size, z.size
    gx, gy, gz = np.meshgrid(x, y, z, indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])

    def index(i: Any, j: Any, k: Any) -> Any:
        return (i * ny + j) * nz + k

    i, j, k = (
        a.ravel() for a in np.meshgrid(*(np.arange(n - 1) for n in (nx, ny, nz)), indexing="ij")
    )
    corners = np.stack(
        [index(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1)) for c in range(8)], axis=1
    )
    tets = corners[:, _KUHN].reshape(-1, 4)
    a, b, c, d = (points[tets[:, n]] for n in range(4))
    negative = np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a) < 0
    tets[negative] = tets[negative][:, [1, 0, 2, 3]]
    return points, tets.astype(np.int64)
