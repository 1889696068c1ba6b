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
import scipy.sparse as sp
from numpy.typing import NDArray

from femvalley.eigen import solve
from femvalley.twoelectron.screened import DensityNodes
from femvalley.typing import SparseMatrix

__all__ = [
    "PlaneStates",
    "SystemStates",
    "density_nodes",
    "plane_grid_states",
    "plane_states",
    "system_states",
    "vertical_mass",
    "vertical_separation",
]


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


@dataclass(frozen=True, eq=False)
class SystemStates:
    """The lowest one-electron states of a study system at one detuning.

    Attributes
    ----------
    detuning_mV : float
    energies_meV : ndarray (m,)
    components : ndarray (m, ncomp, ndofs)
        The valley components at the DOFs of ``system.basis`` (vertices first), normalised
        with its mass matrix; each state's largest entry of its first component is real and
        positive.
    """

    detuning_mV: float
    energies_meV: NDArray[np.float64]
    components: NDArray[np.complex128]


def system_states(system: Any, *, detuning_mV: float, n_states: int) -> SystemStates:
    """Return the ``n_states`` lowest states of a study system (any model) at one detuning."""
    if isinstance(n_states, bool) or not isinstance(n_states, (int, np.integer)) or n_states < 2:
        raise ValueError(f"n_states = {n_states!r}; a two-electron basis needs an integer >= 2")
    res = solve(
        system.operators,
        k=int(n_states),
        scales={"detuning": float(detuning_mV)},
        backend=system.config.solver.backend,
    )
    assert res.components is not None
    comps = np.asarray(res.components, dtype=np.complex128)
    norm = system.observables.matrix("norm")
    k, c, n = comps.shape
    x = comps.reshape(k * c, n)
    sq = np.einsum("jn,jn->j", x.conj(), (norm @ x.T).T).real.reshape(k, c).sum(axis=1)
    comps = comps / np.sqrt(sq)[:, None, None]
    # a fixed global phase: the largest entry of the first component real and positive, so
    # that states sharing one valley spinor (a uniform Delta) have real pair densities
    peak = comps[np.arange(k), 0, np.argmax(np.abs(comps[:, 0]), axis=1)]
    phase = np.where(np.abs(peak) > 0, np.conj(peak) / np.where(peak != 0, np.abs(peak), 1), 1)
    return SystemStates(
        detuning_mV=float(detuning_mV),
        energies_meV=np.asarray(res.energies_meV, dtype=np.float64),
        components=comps * phase[:, None, None],
    )


def density_nodes(system: Any) -> DensityNodes:
    """Return where a system's pair densities live in 3-D, for the screened integrals.

    ``3d``: the P2 nodes of the quantum mesh. ``bo2d``: the P2 nodes of the plane, each at
    every height of its column with the column's vertical density ``chi^2`` (at an edge
    midpoint, the mean of its two columns'). ``slice2d``: the P2 nodes of the plane on the
    sheet at the slice height (a surface density).
    """
    from skfem import Basis, asm

    from femvalley.forms import mass
    from femvalley.mesh import lagrange_element

    mesh = system.quantum_mesh
    p2 = Basis(mesh, lagrange_element(mesh, 2))
    edges = np.asarray(mesh.edges if mesh.p.shape[0] == 3 else mesh.facets, dtype=np.int64)
    points = np.asarray(p2.doflocs, dtype=np.float64)
    mid = 0.5 * (mesh.p[:, edges[0]] + mesh.p[:, edges[1]])
    if not np.allclose(points[:, mesh.nvertices :], mid, atol=1e-9):
        raise RuntimeError("the P2 DOFs of the quantum mesh are not its edge midpoints")
    plane_mass = asm(mass, p2).tocsr()
    red = system.reduction
    if red is None:
        return DensityNodes(points_nm=points, edges=edges, plane_mass=plane_mass)
    if red.method == "slice2d":
        assert red.slice_z_nm is not None
        pts = np.vstack([points, np.full(points.shape[1], float(red.slice_z_nm))])
        return DensityNodes(points_nm=pts, edges=edges, plane_mass=plane_mass)
    cols = red.columns
    assert cols is not None  # bo2d always has its vertical states
    z = np.asarray(cols.z_nm, dtype=np.float64)
    mz = vertical_mass(z)
    chi2 = np.asarray(cols.chi, dtype=np.float64) ** 2
    chi2 = chi2 / (chi2 @ (mz @ np.ones(z.size)))[:, None]  # each integrates to 1
    profile = np.vstack([chi2, 0.5 * (chi2[edges[0]] + chi2[edges[1]])])
    n = points.shape[1]
    pts = np.vstack([np.repeat(points[0], z.size), np.repeat(points[1], z.size), np.tile(z, n)])
    return DensityNodes(
        points_nm=pts, edges=edges, plane_mass=plane_mass, vertical_mass=mz, profile=profile
    )


def vertical_mass(z_nm: NDArray[np.float64]) -> SparseMatrix:
    """Mass matrix ``int psi_i psi_j dz`` of P1 elements on the nodes ``z_nm`` (csr)."""
    h = np.diff(np.asarray(z_nm, dtype=np.float64))
    diag = np.zeros(h.size + 1)
    diag[:-1] += h / 3
    diag[1:] += h / 3
    return sp.diags([h / 6, diag, h / 6], [-1, 0, 1], format="csr")


def plane_states(system: Any, *, detuning_mV: float, n_states: int) -> PlaneStates:
    """Return the ``n_states`` lowest states of a planar study system at one detuning.

    ``system``: a :class:`femvalley.system.StudySystem` of model ``bo2d`` or ``slice2d`` whose
    plane grid is uniform in x and in y (no terrace or dot edge off the grid lines inside its
    k.p box).
    """
    plane_grid_states(system, None)  # the checks, before solving
    one = system_states(system, detuning_mV=detuning_mV, n_states=n_states)
    return plane_grid_states(system, one)


def plane_grid_states(system: Any, states: SystemStates | None) -> PlaneStates:
    """Return one-electron states of a planar system on its uniform plane grid.

    ``states=None`` only checks that the system has such a grid (and returns no states).
    """
    red = system.reduction
    if red is None:
        raise ValueError(
            "two-electron states on a plane grid need a planar model (model = 'bo2d' or "
            f"'slice2d'); this system is {system.config.model!r}"
        )
    x, y = np.asarray(red.grid.x_nm), np.asarray(red.grid.y_nm)
    hx, hy = float(x[1] - x[0]), float(y[1] - y[0])
    for axis, h, lines in (("x", hx, x), ("y", hy, y)):
        steps = np.diff(lines)
        if not np.allclose(steps, h, rtol=1e-9, atol=0):
            raise ValueError(
                f"two-electron states need a uniform plane grid; this device's k.p grid has "
                f"{axis} steps from {steps.min():.4g} to {steps.max():.4g} nm (terraces or dot "
                "edges inside the k.p box); use kernel = 'screened'"
            )
    p = system.quantum_mesh.p
    m = 0 if states is None else states.energies_meV.size
    nc = 1 if states is None else states.components.shape[1]
    grid = np.zeros((m, nc, x.size, y.size), dtype=np.complex128)
    sep = weights = None
    if states is not None:
        ix = np.rint((p[0] - x[0]) / hx).astype(int)
        iy = np.rint((p[1] - y[0]) / hy).astype(int)
        comps = states.components[:, :, : p.shape[1]]  # (k, ncomp, vertices)
        grid[:, :, ix, iy] = comps
        norm = (np.abs(grid) ** 2).sum(axis=(1, 2, 3)) * hx * hy
        grid /= np.sqrt(norm)[:, None, None, None]
        if red.columns is not None and red.method == "bo2d":
            density = (np.abs(comps[0]) ** 2).sum(axis=0)  # the ground state over the columns
            mean = (density[:, None] * red.columns.chi**2).sum(axis=0) / density.sum()
            sep, weights = vertical_separation(np.asarray(red.columns.z_nm), mean)
    return PlaneStates(
        energies_meV=np.zeros(m) if states is None else states.energies_meV,
        states=grid,
        x_nm=x,
        y_nm=y,
        step_nm=(hx, hy),
        separation_nm=sep,
        separation_weights=weights,
    )
