"""One-electron states of a study's planar model as a two-electron basis.

The Born-Oppenheimer and slice models (``model = "bo2d"``, ``"slice2d"``) solve on the plane of
the columns of the structured k.p grid: where its steps are uniform, the states are arrays on
a uniform grid, and :func:`femvalley.twoelectron.coulomb.grid_coulomb_integrals` gives their
Coulomb integrals. :func:`plane_states` returns the lowest states of such a system at one
detuning (both valley components), normalised on the grid, with the distribution of the
vertical separation of two electrons in the columns under the ground state (the autocorrelation
of the mean vertical density ``chi^2``, for the kernel's vertical average; none for
``slice2d``).

Units: nm, meV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.eigen import solve

__all__ = ["PlaneStates", "plane_states", "vertical_separation"]


@dataclass(frozen=True, eq=False)
class PlaneStates:
    """The lowest one-electron states of a planar model on its uniform grid.

    Attributes
    ----------
    energies_meV : ndarray (m,)
    states : ndarray (m, ncomp, nx, ny)
        Valley components on the grid, ``h^2 sum |phi|^2 = 1``.
    x_nm, y_nm : ndarray
        The grid lines; ``step_nm`` their spacings (hx, hy).
    separation_nm, separation_weights : ndarray or None
        The distribution of ``z1 - z2`` (None: strictly planar).
    """

    energies_meV: NDArray[np.float64]
    states: NDArray[np.complex128]
    x_nm: NDArray[np.float64]
    y_nm: NDArray[np.float64]
    step_nm: tuple[float, float]
    separation_nm: NDArray[np.float64] | None
    separation_weights: NDArray[np.float64] | None


def vertical_separation(
    z_nm: NDArray[np.float64], density: NDArray[np.float64], *, step_nm: float = 0.05
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the distribution of ``z1 - z2`` of two independent electrons.

    Each has the vertical density ``density`` at the nodes ``z_nm`` (resampled on a uniform
    grid of ``step_nm``); returns the separations and their weights (summing to 1).
    """
    z = np.arange(z_nm[0], z_nm[-1] + step_nm / 2, step_nm)
    rho = np.interp(z, z_nm, density)
    rho = rho / rho.sum()
    auto = np.correlate(rho, rho, mode="full")
    dz = (np.arange(auto.size) - (rho.size - 1)) * step_nm
    keep = auto > 1e-12 * auto.max()
    return dz[keep], auto[keep] / auto[keep].sum()


def plane_states(system: Any, *, detuning_mV: float, n_states: int) -> PlaneStates:
    """Return the ``n_states`` lowest states of a planar study system at one detuning.

    ``system``: a :class:`femvalley.system.StudySystem` of model ``bo2d`` or ``slice2d`` whose
    plane grid is uniform in x and in y (no terrace or dot edge off the grid lines inside its
    k.p box).
    """
    red = system.reduction
    if red is None:
        raise ValueError(
            "two-electron states need a planar model (model = 'bo2d' or 'slice2d'); this "
            f"system is {system.config.model!r}"
        )
    x, y = np.asarray(red.grid.x_nm), np.asarray(red.grid.y_nm)
    hx, hy = float(x[1] - x[0]), float(y[1] - y[0])
    for axis, h, lines in (("x", hx, x), ("y", hy, y)):
        steps = np.diff(lines)
        if not np.allclose(steps, h, rtol=1e-9, atol=0):
            raise ValueError(
                f"two-electron states need a uniform plane grid; this device's k.p grid has "
                f"{axis} steps from {steps.min():.4g} to {steps.max():.4g} nm (terraces or dot "
                "edges inside the k.p box)"
            )
    res = solve(
        system.operators,
        k=int(n_states),
        scales={"detuning": float(detuning_mV)},
        backend=system.config.solver.backend,
    )
    assert res.components is not None
    p = system.quantum_mesh.p
    ix = np.rint((p[0] - x[0]) / hx).astype(int)
    iy = np.rint((p[1] - y[0]) / hy).astype(int)
    comps = np.asarray(res.components)[:, :, : p.shape[1]]  # (k, ncomp, vertices)
    grid = np.zeros((comps.shape[0], comps.shape[1], x.size, y.size), dtype=np.complex128)
    grid[:, :, ix, iy] = comps
    norm = (np.abs(grid) ** 2).sum(axis=(1, 2, 3)) * hx * hy
    grid /= np.sqrt(norm)[:, None, None, None]
    sep = weights = None
    if red.columns is not None and red.method == "bo2d":
        density = (np.abs(comps[0]) ** 2).sum(axis=0)  # the ground state over the columns
        mean = (density[:, None] * red.columns.chi**2).sum(axis=0) / density.sum()
        sep, weights = vertical_separation(np.asarray(red.columns.z_nm), mean)
    return PlaneStates(
        energies_meV=np.asarray(res.energies_meV, dtype=np.float64),
        states=grid,
        x_nm=x,
        y_nm=y,
        step_nm=(hx, hy),
        separation_nm=sep,
        separation_weights=weights,
    )
