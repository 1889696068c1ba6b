"""Born-Oppenheimer reduction of a planar 3-D problem to 2-D (docs/references.md).

In a planar heterostructure the vertical confinement (a few nm, tens of meV) is much stronger
than the in-plane one. At every in-plane point the vertical problem

    -d/dz c_z(z) d/dz chi + U(x, y, z) chi = eps_0(x, y) chi,   chi = 0 at both ends,

(``c_z = hbar^2 / 2 m_l``) is solved for its lowest state, and ``V_eff(x, y) = eps_0(x, y)``
is the potential of a 2-D problem with the in-plane masses (ref. 1 eq. 21). With the
valley coupling, the 2-D problem has two components, ``V_eff`` on the diagonal and the local
coupling ``<chi|Delta|chi>`` off the diagonal (eq. 22-23); for the z-independent valley maps of
:mod:`femvalley.valley_map` that is ``Delta(x, y)`` itself. A potential term ``D`` (the
detuning) becomes ``<chi|D|chi>(x, y)``: exact to first order (Hellmann-Feynman), and the
second order is ``(variation of D across the ~5 nm of chi)^2 / (vertical gap)``, negligible.

The columns are the vertical lines of a tensor grid (the structured k.p mesh,
:func:`geometries.mesher.build_quantum`). Every column is discretised with P1 elements
on the grid's z nodes: the stiffness and the potential mass matrices are tridiagonal, and the
lowest eigenvalue of every column is found at once, vectorised over the columns: bisection on
the Sturm count (the number of negative pivots of ``A - lambda B`` is the number of eigenvalues
below ``lambda``), then one step of inverse iteration for ``chi`` and its Rayleigh quotient.

Comparison methods of the paper: fixed-z slices of ``U`` (at the interface, or at the height
of maximum density), without the vertical zero-point energy.

Units: nm, meV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.typing import Mesh

__all__ = [
    "ColumnStates",
    "PlanarReduction",
    "TensorGrid",
    "column_ground_states",
    "column_matrices",
    "column_coefficients",
    "reduce_to_plane",
]


@dataclass(frozen=True, eq=False)
class TensorGrid:
    """The tensor grid behind a structured mesh: axes and the grid index of every vertex.

    Attributes
    ----------
    x_nm, y_nm, z_nm : ndarray
        Sorted grid coordinates.
    index : ndarray of int, shape (3, nvertices)
        ``(ix, iy, iz)`` of every vertex of the mesh.
    """

    x_nm: NDArray[np.float64]
    y_nm: NDArray[np.float64]
    z_nm: NDArray[np.float64]
    index: NDArray[np.int64]

    @classmethod
    def from_points(cls, points_nm: ArrayLike, *, tol_nm: float = 1e-6) -> TensorGrid:
        """Recover the grid from vertex coordinates (3, N); fails unless they form a full grid."""
        p = np.asarray(points_nm, dtype=float)
        if p.ndim != 2 or p.shape[0] != 3:
            raise ValueError(f"points_nm has shape {p.shape}; expected (3, nvertices)")
        axes, index = [], []
        for a in range(3):
            key = np.round(p[a] / tol_nm).astype(np.int64)
            uniq, inv = np.unique(key, return_inverse=True)
            # the coordinates themselves (mean over each group), not the rounded keys
            axes.append(np.bincount(inv, weights=p[a]) / np.bincount(inv))
            index.append(inv)
        shape = tuple(ax.size for ax in axes)
        if int(np.prod(shape)) != p.shape[1]:
            raise ValueError(
                f"the {p.shape[1]} vertices are not a full tensor grid ({shape[0]} x {shape[1]} "
                f"x {shape[2]} distinct coordinates); the Born-Oppenheimer reduction needs a "
                "structured k.p mesh (device.kp_mesh = 'structured')"
            )
        flat = np.ravel_multi_index(tuple(index), shape)
        if np.unique(flat).size != flat.size:
            raise ValueError("two vertices share grid indices: not a tensor grid")
        return cls(x_nm=axes[0], y_nm=axes[1], z_nm=axes[2], index=np.asarray(index))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nx, ny, nz)``."""
        return (self.x_nm.size, self.y_nm.size, self.z_nm.size)

    def columns(self, values: ArrayLike) -> NDArray[Any]:
        """Vertex values (N,) as columns (nx * ny, nz), x-major (column ``ix * ny + iy``)."""
        v = np.asarray(values)
        nx, ny, nz = self.shape
        out = np.empty((nx, ny, nz), dtype=v.dtype)
        out[self.index[0], self.index[1], self.index[2]] = v
        return out.reshape(nx * ny, nz)

    def plane_points(self) -> NDArray[np.float64]:
        """In-plane coordinates (2, nx * ny) of the columns, in column order."""
        gx, gy = np.meshgrid(self.x_nm, self.y_nm, indexing="ij")
        return np.vstack([gx.ravel(), gy.ravel()])


def _tridiagonal_mass(
    h: NDArray[np.float64],
    ua: float | NDArray[np.float64] = 1.0,
    ub: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Diagonal and off-diagonal of ``int u phi_i phi_j`` over P1 elements (all nodes).

    On every element ``u`` is linear from ``ua`` (left node) to ``ub`` (right node, default
    ``ua``); both broadcast to (ncols, nelements). Returns ``(diag (ncols, nnodes),
    off (ncols, nnodes - 1))``.
    """
    ua = np.atleast_2d(np.broadcast_to(ua, h.shape) if np.ndim(ua) < 2 else ua)
    ub = ua if ub is None else np.atleast_2d(ub)
    e_aa = h * (3 * ua + ub) / 12.0
    e_bb = h * (ua + 3 * ub) / 12.0
    e_ab = h * (ua + ub) / 12.0
    diag = np.zeros((e_aa.shape[0], h.size + 1))
    diag[:, :-1] += e_aa
    diag[:, 1:] += e_bb
    return diag, e_ab


def column_matrices(
    z_nm: ArrayLike,
    potential_meV: ArrayLike,
    *,
    inverse_mass_meV_nm2: ArrayLike,
    offset_meV: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Tridiagonal P1 matrices ``A = K + U`` and ``B = M`` of every column, Dirichlet ends removed.

    Parameters
    ----------
    z_nm : array_like (nz,)
        Node coordinates (increasing).
    potential_meV : array_like (ncols, nz)
        ``U`` at the nodes of every column (linear on each element).
    inverse_mass_meV_nm2 : float or array_like (nz - 1,) or (ncols, nz - 1)
        ``c_z = hbar^2 / (2 m_z)`` per element (the same for all columns, or per column).
    offset_meV : array_like (nz - 1,) or (ncols, nz - 1), optional
        A constant added on each element (band offsets of the layers), kept separate from the
        nodal ``U`` so that a material interface on a node is sharp.

    Returns
    -------
    a_diag, a_off, b_diag, b_off : ndarray
        Diagonals (ncols, nz - 2) and off-diagonals (ncols, nz - 3) of ``A`` and ``B``.
    """
    z = np.asarray(z_nm, dtype=float)
    u = np.atleast_2d(np.asarray(potential_meV, dtype=float))
    if z.ndim != 1 or z.size < 3 or np.any(np.diff(z) <= 0):
        raise ValueError("z_nm must be an increasing 1-D array of at least 3 nodes")
    if u.shape[1] != z.size:
        raise ValueError(f"potential_meV has {u.shape[1]} nodes per column; z_nm has {z.size}")
    h = np.diff(z)
    c = np.asarray(inverse_mass_meV_nm2, dtype=float)
    c = np.broadcast_to(c, (u.shape[0], h.size) if c.ndim == 2 else h.shape)
    k_e = np.atleast_2d(c / h)
    k_diag = np.zeros((k_e.shape[0], z.size))
    k_diag[:, :-1] += k_e
    k_diag[:, 1:] += k_e
    k_off = -k_e
    m_diag, m_off = _tridiagonal_mass(h)
    u_diag, u_off = _tridiagonal_mass(h, u[:, :-1], u[:, 1:])
    a_diag = k_diag + u_diag
    a_off = k_off + u_off
    if offset_meV is not None:  # constant on each element
        o_diag, o_off = _tridiagonal_mass(h, np.asarray(offset_meV, dtype=float))
        a_diag = a_diag + o_diag
        a_off = a_off + o_off
    b_diag = np.broadcast_to(m_diag, a_diag.shape)
    b_off = np.broadcast_to(m_off, a_off.shape)
    inner = slice(1, -1)
    return (
        np.ascontiguousarray(a_diag[:, inner]),
        np.ascontiguousarray(a_off[:, 1:-1]),
        np.ascontiguousarray(b_diag[:, inner]),
        np.ascontiguousarray(b_off[:, 1:-1]),
    )


def _sturm_count(
    lam: NDArray[np.float64],
    a_diag: NDArray[np.float64],
    a_off: NDArray[np.float64],
    b_diag: NDArray[np.float64],
    b_off: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Count the eigenvalues of every column's pencil below ``lam`` (negative pivots)."""
    tiny = 1e-300
    d = a_diag[:, 0] - lam * b_diag[:, 0]
    count = (d < 0).astype(np.int64)
    for i in range(1, a_diag.shape[1]):
        e = a_off[:, i - 1] - lam * b_off[:, i - 1]
        d = np.where(d == 0, tiny, d)
        d = a_diag[:, i] - lam * b_diag[:, i] - e * e / d
        count += d < 0
    return count


def _solve_tridiagonal(
    diag: NDArray[np.float64], off: NDArray[np.float64], rhs: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Thomas algorithm for symmetric tridiagonal systems, vectorised over columns."""
    n = diag.shape[1]
    c = np.zeros_like(off)
    d = np.zeros_like(rhs)
    piv = diag[:, 0].copy()
    piv = np.where(piv == 0, 1e-300, piv)
    c[:, 0] = off[:, 0] / piv if n > 1 else 0.0
    d[:, 0] = rhs[:, 0] / piv
    for i in range(1, n):
        piv = diag[:, i] - off[:, i - 1] * c[:, i - 1]
        piv = np.where(piv == 0, 1e-300, piv)
        if i < n - 1:
            c[:, i] = off[:, i] / piv
        d[:, i] = (rhs[:, i] - off[:, i - 1] * d[:, i - 1]) / piv
    x = np.empty_like(rhs)
    x[:, -1] = d[:, -1]
    for i in range(n - 2, -1, -1):
        x[:, i] = d[:, i] - c[:, i] * x[:, i + 1]
    return x


def _tri_matvec(
    diag: NDArray[np.float64], off: NDArray[np.float64], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    y = diag * x
    y[:, :-1] += off * x[:, 1:]
    y[:, 1:] += off * x[:, :-1]
    return y


@dataclass(frozen=True, eq=False)
class ColumnStates:
    """Lowest vertical state of every column.

    Attributes
    ----------
    energy_meV : ndarray (ncols,)
        ``eps_0`` of every column (meV).
    chi : ndarray (ncols, nz)
        The vertical states at the z nodes (zero at both ends), normalised so that
        ``int chi^2 dz = 1`` with the P1 mass matrix.
    z_nm : ndarray (nz,)
        The nodes.
    """

    energy_meV: NDArray[np.float64]
    chi: NDArray[np.float64]
    z_nm: NDArray[np.float64]

    def expectation(self, values: ArrayLike) -> NDArray[np.float64]:
        """``<chi| f |chi>`` of every column, for nodal values ``f`` (ncols, nz) or (nz,)."""
        f = np.broadcast_to(np.asarray(values, dtype=float), self.chi.shape)
        h = np.diff(self.z_nm)
        d, o = _tridiagonal_mass(h, f[:, :-1], f[:, 1:])
        x = self.chi
        return np.asarray(np.sum(d * x * x, axis=1) + 2 * np.sum(o * x[:, :-1] * x[:, 1:], axis=1))

    def density(self) -> NDArray[np.float64]:
        """``chi^2`` at the nodes (ncols, nz), 1/nm."""
        return np.asarray(self.chi**2)


def column_ground_states(
    z_nm: ArrayLike,
    potential_meV: ArrayLike,
    *,
    inverse_mass_meV_nm2: ArrayLike,
    offset_meV: ArrayLike | None = None,
    tol_meV: float = 1e-5,
) -> ColumnStates:
    """Lowest eigenpair of the vertical problem of every column, vectorised over the columns.

    Parameters are those of :func:`column_matrices`. Bisection brackets ``eps_0`` to within
    ``tol_meV`` from below; inverse iteration at that shift then converges by a factor
    ``tol / (eps_1 - eps_0)`` per step (three steps), and the Rayleigh quotient is accurate to
    the square of the vector error (round-off level).
    """
    z = np.asarray(z_nm, dtype=float)
    ad, ao, bd, bo = column_matrices(
        z, potential_meV, inverse_mass_meV_nm2=inverse_mass_meV_nm2, offset_meV=offset_meV
    )
    ncols, n = ad.shape
    # bounds: lambda_1 >= min of the potential (kinetic >= 0); the Rayleigh quotient of a
    # half-sine is an upper bound
    u = np.atleast_2d(np.asarray(potential_meV, dtype=float))
    lo = u.min(axis=1) + (0.0 if offset_meV is None else float(np.min(offset_meV))) - 1.0
    s = np.sin(np.pi * (z[1:-1] - z[0]) / (z[-1] - z[0]))[None, :] * np.ones((ncols, 1))
    hi = np.sum(s * _tri_matvec(ad, ao, s), axis=1) / np.sum(s * _tri_matvec(bd, bo, s), axis=1)
    hi = hi + 1e-9 * np.maximum(1.0, np.abs(hi))
    while True:
        mid = 0.5 * (lo + hi)
        below = _sturm_count(mid, ad, ao, bd, bo) >= 1
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid)
        if np.all(hi - lo <= tol_meV):
            break
    # inverse iteration just below the eigenvalue (no eigenvalue below lo)
    sigma = lo
    x = s.copy()
    for _ in range(3):
        x = _solve_tridiagonal(
            ad - sigma[:, None] * bd, ao - sigma[:, None] * bo, _tri_matvec(bd, bo, x)
        )
        x /= np.sqrt(np.sum(x * _tri_matvec(bd, bo, x), axis=1))[:, None]
    x *= np.sign(np.sum(x, axis=1))[:, None]
    energy = np.sum(x * _tri_matvec(ad, ao, x), axis=1)
    chi = np.zeros((ncols, z.size))
    chi[:, 1:-1] = x
    return ColumnStates(energy_meV=energy, chi=chi, z_nm=z)


_METHODS = ("bo2d", "slice2d")
_SLICES = ("interface", "max_density")


@dataclass(frozen=True, eq=False)
class PlanarReduction:
    """A 3-D planar problem reduced to the (x, y) plane.

    Attributes
    ----------
    method : str
        ``"bo2d"`` (Born-Oppenheimer: ``V_eff = eps_0``) or ``"slice2d"`` (``U`` at a fixed
        height ``slice_z_nm``, no vertical zero-point energy).
    grid : TensorGrid
        The 3-D grid; the 2-D nodes are its columns, in column order.
    potential_meV : ndarray (ncols,)
        The 2-D potential at the nodes.
    terms : dict of str to ndarray (ncols,)
        Every potential term reduced the same way (``<chi|D|chi>`` or ``D`` at the slice).
    columns : ColumnStates or None
        The vertical states (``bo2d``, and ``slice2d`` placed with ``slice_at``).
    slice_z_nm : float or None
        Height of the slice (``slice2d``).
    """

    method: str
    grid: TensorGrid
    potential_meV: NDArray[np.float64]
    terms: dict[str, NDArray[np.float64]]
    columns: ColumnStates | None
    slice_z_nm: float | None

    def plane_mesh(self) -> Mesh:
        """Return the 2-D triangle mesh of the columns (``MeshTri``, nodes in column order)."""
        from skfem import MeshTri

        return MeshTri.init_tensor(self.grid.x_nm, self.grid.y_nm)

    def reduce_term(self, values: ArrayLike) -> NDArray[np.float64]:
        """Reduce another field at the 3-D vertices to the plane, like :attr:`terms`.

        ``bo2d``: ``<chi| f |chi>`` of every column; ``slice2d``: ``f`` at the slice. Used for
        first-order quantities on the plane (a gate's unit potential, a micro-magnet's field,
        the height ``z``).
        """
        cols = self.grid.columns(np.asarray(values, dtype=float))
        if self.method == "bo2d":
            assert self.columns is not None
            return self.columns.expectation(cols)
        assert self.slice_z_nm is not None
        z = self.grid.z_nm
        j = int(np.clip(np.searchsorted(z, self.slice_z_nm, side="right") - 1, 0, z.size - 2))
        w = (self.slice_z_nm - z[j]) / (z[j + 1] - z[j])
        return np.asarray((1 - w) * cols[:, j] + w * cols[:, j + 1])


def column_coefficients(
    mesh: Mesh, grid: TensorGrid, values: Mapping[str, Mapping[str, float]]
) -> dict[str, NDArray[np.float64]]:
    """Element-wise material coefficients of every column, from the mesh subdomains.

    Every cell of the tensor grid (the box between neighbouring grid planes) must hold one
    material, i.e. material interfaces lie on grid planes; they may be stepped (the material
    of a layer may change from column to column). A column runs along the vertical line
    through a vertex; its value on a z element is the mean over the (up to four) grid cells
    around that line, so a column on a step edge sees the average of both sides, as the P1
    mass matrix of the 3-D problem does.

    Parameters
    ----------
    mesh : skfem.MeshTet
        The tensor-grid mesh, with one subdomain per material region.
    grid : TensorGrid
        Its grid.
    values : mapping of coefficient name to {region: value}
        E.g. ``{"offset": {"well": 0.0, "barrier": 160.0}, "c_z": {...}}``; every mapping
        names the same regions.

    Returns
    -------
    dict of str to ndarray (ncols, nz - 1)
    """
    names = list(values)
    regions = list(values[names[0]]) if names else []
    for name in names:
        if set(values[name]) != set(regions):
            raise ValueError(
                f"{name} has values for {sorted(values[name])}; expected the regions {regions}"
            )
    sub = mesh.subdomains or {}
    nx, ny, nz = grid.shape
    cell = grid.index[:, mesh.t].min(axis=1)  # (3, ntets): the grid cell of every tetrahedron
    flat = np.ravel_multi_index(tuple(cell), (nx - 1, ny - 1, nz - 1))
    region_of_cell = np.full((nx - 1) * (ny - 1) * (nz - 1), -1, dtype=np.int64)
    for r, name in enumerate(regions):
        if name not in sub:
            raise ValueError(
                f"region {name!r} is not a subdomain of the mesh; it has {sorted(sub)}"
            )
        cells = np.unique(flat[sub[name]])
        clash = cells[(region_of_cell[cells] != -1) & (region_of_cell[cells] != r)]
        if clash.size:
            ix, iy, iz = np.unravel_index(clash[0], (nx - 1, ny - 1, nz - 1))
            raise ValueError(
                f"the grid cell at x = {grid.x_nm[ix]:.4g}, y = {grid.y_nm[iy]:.4g}, z = "
                f"{grid.z_nm[iz]:.4g} nm holds regions {regions[region_of_cell[clash[0]]]!r} "
                f"and {name!r}: material interfaces must lie on grid planes"
            )
        region_of_cell[cells] = r
    if np.any(region_of_cell < 0):
        ix, iy, iz = np.unravel_index(
            int(np.flatnonzero(region_of_cell < 0)[0]), (nx - 1, ny - 1, nz - 1)
        )
        raise ValueError(
            f"the grid cell at x = {grid.x_nm[ix]:.4g}, y = {grid.y_nm[iy]:.4g}, z = "
            f"{grid.z_nm[iz]:.4g} nm belongs to none of the regions {regions}"
        )
    cell_region = region_of_cell.reshape(nx - 1, ny - 1, nz - 1)
    out = {}
    for name in names:
        table = np.array([float(values[name][r]) for r in regions])
        cells = table[cell_region]
        # mean over the cells around every vertical grid line (pad the edges by repetition)
        padded = np.pad(cells, ((1, 1), (1, 1), (0, 0)), mode="edge")
        around = 0.25 * (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:])
        out[name] = around.reshape(nx * ny, nz - 1)
    return out


def _interface_height(states: ColumnStates, offset: NDArray[np.float64]) -> float:
    """Return the material interface next to the electron, at its deepest reach into the well.

    The interface nearest the density peak of the lowest column; every column contributes
    its own nearest interface plane, and the slice goes through the one closest to the
    electron's side in all of them (the lowest if the interface is above the peak, the
    highest if below), so the slice is inside the well in every column.
    """
    z = states.z_nm
    j0 = int(np.argmin(states.energy_meV))
    peak = float(z[int(np.argmax(states.chi[j0] ** 2))])
    change = offset[:, 1:] != offset[:, :-1]  # (ncols, nz - 2): interface on plane j + 1
    if not change.any():
        raise ValueError("slice_at = 'interface': the columns have no material interface")
    planes = z[1:-1]
    dist = np.where(change, np.abs(planes[None, :] - peak), np.inf)
    nearest = planes[np.argmin(dist, axis=1)[np.isfinite(dist).any(axis=1)]]
    above = np.median(nearest) >= peak
    return float(nearest.min() if above else nearest.max())


def reduce_to_plane(
    mesh: Mesh,
    *,
    electron_energy_meV: ArrayLike,
    layer_offset_meV: Mapping[str, float],
    inverse_mass_z_meV_nm2: Mapping[str, float],
    terms: Mapping[str, ArrayLike] | None = None,
    method: str = "bo2d",
    slice_z_nm: float | None = None,
    slice_at: str | None = None,
) -> PlanarReduction:
    """Reduce a planar 3-D problem on a structured tensor-grid mesh to the (x, y) plane.

    Parameters
    ----------
    mesh : skfem.MeshTet
        A tensor-grid mesh (e.g. :func:`geometries.mesher.build_quantum`) with one
        subdomain per material; material interfaces on grid planes (they may be stepped).
    electron_energy_meV : array_like (nvertices,)
        ``-1000 phi`` (or any potential) at the vertices, without the band offsets.
    layer_offset_meV : mapping of region to meV
        Conduction-band offset of every material region (a constant per grid cell).
    inverse_mass_z_meV_nm2 : mapping of region to meV nm^2
        ``hbar^2 / (2 m_z)`` of every region.
    terms : mapping of str to array_like (nvertices,), optional
        Potential terms (meV per unit scale, e.g. per mV of detuning) to reduce alike.
    method : {"bo2d", "slice2d"}
        Born-Oppenheimer, or a fixed-z slice of ``U`` (without ``eps_0``).
    slice_z_nm : float, optional
        Height of the slice (``slice2d``). On a material interface the lower offset counts.
    slice_at : {"interface", "max_density"}, optional
        Instead of ``slice_z_nm``: the interface next to the electron (at its deepest reach
        into the well, so the slice stays in the well in every column), or the height of the
        maximum vertical density of the lowest column (ref. 1 section IV.1.2).
    """
    if method not in _METHODS:
        raise ValueError(f"method = {method!r}; allowed: {list(_METHODS)}")
    if method == "slice2d" and (slice_z_nm is None) == (slice_at is None):
        raise ValueError("method = 'slice2d' needs exactly one of slice_z_nm and slice_at")
    if slice_at is not None and slice_at not in _SLICES:
        raise ValueError(f"slice_at = {slice_at!r}; allowed: {list(_SLICES)}")
    grid = TensorGrid.from_points(mesh.p)
    missing = [r for r in layer_offset_meV if r not in inverse_mass_z_meV_nm2]
    if missing:
        raise ValueError(f"inverse_mass_z_meV_nm2 has no value for the regions {missing}")
    coef = column_coefficients(
        mesh,
        grid,
        {
            "offset": layer_offset_meV,
            "c_z": {r: inverse_mass_z_meV_nm2[r] for r in layer_offset_meV},
        },
    )
    offset, c_z = coef["offset"], coef["c_z"]
    u = grid.columns(np.asarray(electron_energy_meV, dtype=float))
    cols = {name: grid.columns(np.asarray(v, dtype=float)) for name, v in (terms or {}).items()}
    states = None
    if method == "bo2d" or slice_at is not None:
        states = column_ground_states(grid.z_nm, u, inverse_mass_meV_nm2=c_z, offset_meV=offset)
    if method == "bo2d":
        assert states is not None
        return PlanarReduction(
            method=method,
            grid=grid,
            potential_meV=states.energy_meV,
            terms={name: states.expectation(v) for name, v in cols.items()},
            columns=states,
            slice_z_nm=None,
        )
    z = grid.z_nm
    if slice_at is not None:
        assert states is not None
        if slice_at == "interface":
            slice_z_nm = _interface_height(states, offset)
        else:
            j0 = int(np.argmin(states.energy_meV))
            slice_z_nm = float(z[int(np.argmax(states.chi[j0] ** 2))])
    assert slice_z_nm is not None
    if not z[0] <= slice_z_nm <= z[-1]:
        raise ValueError(
            f"slice_z_nm = {slice_z_nm!r} is outside the grid, z in [{z[0]:.4g}, {z[-1]:.4g}] nm"
        )
    j = int(np.clip(np.searchsorted(z, slice_z_nm, side="right") - 1, 0, z.size - 2))
    w = (slice_z_nm - z[j]) / (z[j + 1] - z[j])
    if w == 0.0 and j > 0:  # on a grid plane: the electron's (lower-offset) side
        off = np.minimum(offset[:, j - 1], offset[:, j])
    else:
        off = offset[:, j]

    def at_slice(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((1 - w) * v[:, j] + w * v[:, j + 1])

    return PlanarReduction(
        method=method,
        grid=grid,
        potential_meV=at_slice(u) + off,
        terms={name: at_slice(v) for name, v in cols.items()},
        columns=states,
        slice_z_nm=float(slice_z_nm),
    )
