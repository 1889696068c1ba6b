"""Coulomb integrals with the interaction screened by the device (gates and dielectrics).

The interaction of two electrons in a device is not ``e^2 / (4 pi eps0 eps_r r)``: the metal
gates (held at fixed voltages, so grounded for the extra charge of an electron) and the
dielectric interfaces add image charges. The integrals

    (ab|cd) = int rho_ab(1) u_cd(1),    rho_ab = sum_c phi_a,c* phi_b,c

take ``u_cd`` as the potential energy (meV) of the charge density ``rho_cd`` in the device:
the solution of ``-div(eps_r grad u) = 4 pi (e^2 / 4 pi eps0) rho`` with ``u = 0`` on every
gate and zero normal field elsewhere on the outer boundary, solved on the device mesh with
the operator factorised once (:class:`femvalley.electrostatics.GroundedPoisson`). With the
load vectors ``b_ab = P^T M rho_ab`` (``P`` evaluates the device's basis functions at the
nodes where the densities are given, ``M`` the mass matrix of those nodes) the integrals are
the symmetric form

    (ab|cd) = 4 pi k_C  b_ab^T K_ff^-1 b_cd,

so ``(ab|cd) = (cd|ab)`` exactly and the table is positive semi-definite as a matrix over
pairs (the Coulomb energy of any charge is >= 0).

Where the densities live (:class:`DensityNodes`): on the vertices of the 3-D quantum mesh;
for the Born-Oppenheimer plane, on the tensor grid of its columns with the column density
``chi(x, y, z)^2`` (the 3-D density of a plane state ``phi(x, y)`` is
``|phi(x, y)|^2 chi(x, y, z)^2``); for a fixed-z slice, on the sheet at the slice height
(a surface density, whose potential is finite).

Cost: one factorisation of the device's Poisson operator, then ``m (m + 1) / 2`` complex pair
densities, each one forward and backward substitution (twice: real and imaginary part), and
the ``m^2 x m^2`` table as one product over the DOFs that the quantum nodes touch.

Units: nm, meV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from femvalley.electrostatics import GroundedPoisson
from femvalley.twoelectron.coulomb import COULOMB_MEV_NM, pair_table
from femvalley.typing import SparseMatrix

__all__ = ["DensityNodes", "ScreenedCoulomb", "screened_coulomb_integrals"]


@dataclass(frozen=True, eq=False)
class DensityNodes:
    """Where the electrons' pair densities are integrated, and with which weights.

    The one-electron states are P1 functions (values at ``n_vertices`` vertices); the product
    of two of them is quadratic on every element, so it is represented exactly with P2
    elements: its values at the vertices and at the edge midpoints (``edges``), and integrated
    with the P2 mass matrix. The charge of a pair density is then exactly the overlap of the
    two states (1 or 0 for orthonormal states), so no spurious monopole enters ``(ab|cd)``.

    Attributes
    ----------
    points_nm : ndarray (3, npoints)
        The 3-D nodes, inside the device mesh. With a ``profile``: plane-node-major (node
        ``i * nz + k`` is plane node ``i`` at the k-th height).
    edges : ndarray of int (2, nedges)
        The two vertices of every edge; the plane nodes are the vertices, then the midpoints
        of these edges (the P2 DOFs of the mesh).
    plane_mass : sparse matrix (nplane, nplane)
        The P2 mass matrix of the plane nodes (nm^dim of the mesh).
    vertical_mass : sparse matrix (nz, nz) or None
        With a ``profile``: the mass matrix of the heights (nm).
    profile : ndarray (nplane, nz) or None
        The vertical density ``chi^2`` (1/nm) at every plane node, each integrating to 1
        with ``vertical_mass``: the 3-D density of ``rho`` is ``rho(i) profile(i, k)``.
    """

    points_nm: NDArray[np.float64]
    edges: NDArray[np.int64]
    plane_mass: SparseMatrix
    vertical_mass: SparseMatrix | None = None
    profile: NDArray[np.float64] | None = None

    @property
    def n_vertices(self) -> int:
        """Number of vertices the states are given at."""
        return int(self.plane_mass.shape[0] - self.edges.shape[1])

    def weighted_densities(
        self, left: NDArray[np.complex128], right: NDArray[np.complex128]
    ) -> NDArray[np.complex128]:
        """Return ``M rho`` (k, npoints) of the pair densities ``sum_c left_c* right_c``.

        ``left``, ``right``: states (k, ncomp, n_vertices).
        """
        mid_l = 0.5 * (left[:, :, self.edges[0]] + left[:, :, self.edges[1]])
        mid_r = 0.5 * (right[:, :, self.edges[0]] + right[:, :, self.edges[1]])
        rho = np.concatenate(
            [(left.conj() * right).sum(axis=1), (mid_l.conj() * mid_r).sum(axis=1)], axis=1
        )  # (k, nplane): the quadratic product, exactly
        weighted = (self.plane_mass @ rho.T).T
        if self.profile is None or self.vertical_mass is None:
            return np.asarray(weighted)
        k = rho.shape[0]
        # (M_plane (x) M_z) vec(rho (x) profile), without forming the Kronecker product
        lifted = rho[:, :, None] * self.profile[None]  # (k, nplane, nz)
        mz = np.asarray(sp.csr_matrix(self.vertical_mass).toarray(), dtype=np.float64)
        vertical = (lifted.reshape(-1, mz.shape[0]) @ mz.T).reshape(lifted.shape)  # M_z sym.
        plane = self.plane_mass @ vertical.transpose(1, 0, 2).reshape(rho.shape[1], -1)
        return np.asarray(plane.reshape(rho.shape[1], k, -1).transpose(1, 0, 2).reshape(k, -1))


@dataclass(frozen=True, eq=False)
class ScreenedCoulomb:
    """The screened kernel of one device and one set of density nodes, set up once.

    The probe of the device's basis at the nodes (a point location, the costly part of a
    small problem) is computed on first use and kept; :meth:`integrals` then costs the
    pair densities, their loads and the substitutions.
    """

    nodes: DensityNodes
    poisson: GroundedPoisson

    @cached_property
    def loader(self) -> tuple[NDArray[np.int64], SparseMatrix]:
        """The device DOFs the nodes touch, and ``P^T`` restricted to them (csr)."""
        probe = sp.csr_matrix(self.poisson.probe(self.nodes.points_nm))  # (npoints, ndofs)
        support = np.unique(probe.indices)
        return support, probe[:, support].T.tocsr()

    def integrals(self, states: ArrayLike, *, chunk: int = 16) -> NDArray[np.complex128]:
        """Return ``(ab|cd)`` (meV) of states (see :func:`screened_coulomb_integrals`)."""
        phi = np.asarray(states, dtype=np.complex128)
        if phi.ndim == 2:
            phi = phi[:, None]
        nodes = self.nodes
        if phi.ndim != 3 or phi.shape[2] != nodes.n_vertices:
            raise ValueError(
                f"states has shape {np.shape(states)}; expected (m, [ncomp,] {nodes.n_vertices})"
            )
        m = phi.shape[0]
        support, probe_t = self.loader
        a, b = np.triu_indices(m)
        left = np.empty((a.size, support.size), dtype=np.complex128)
        right = np.empty_like(left)
        scale = 4.0 * math.pi * COULOMB_MEV_NM
        step = max(1, int(chunk))
        for start in range(0, a.size, step):
            sel = slice(start, min(start + step, a.size))
            weighted = nodes.weighted_densities(phi[a[sel]], phi[b[sel]])  # (k, npoints)
            part = np.asarray(probe_t @ weighted.T)  # (nsupport, k): b = P^T M rho
            left[sel] = part.T
            right[sel] = scale * self.poisson.solve_on(support, part).T
        return pair_table(m, left, right)


def screened_coulomb_integrals(
    states: ArrayLike,
    *,
    nodes: DensityNodes,
    poisson: GroundedPoisson,
    chunk: int = 16,
) -> NDArray[np.complex128]:
    """Return ``(ab|cd)`` (meV) with the interaction screened by the device.

    Parameters
    ----------
    states : array_like (m, n) or (m, ncomp, n)
        One-electron states at the ``n = nodes.n_vertices`` vertices (P1 values), normalised
        with their mass matrix; with components (the valleys) the pair density sums over them.
    nodes : DensityNodes
    poisson : GroundedPoisson
        The device's Poisson operator with the gates grounded.
    chunk : int
        Pair densities solved per block (bounds the memory: ``chunk`` times the DOFs).

    Returns
    -------
    ndarray (m, m, m, m)
    """
    return ScreenedCoulomb(nodes, poisson).integrals(states, chunk=chunk)
