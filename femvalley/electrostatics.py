"""Gate electrostatics by superposition.

Linear Poisson (Laplace with piecewise-constant permittivity) on the device mesh,

    div(eps_r grad phi) = 0,

with ``phi = V_g - w_g`` on the surface (or volume) of every gate ``g`` (``w_g`` the work-function
offset, in V) and zero normal field on the rest of the outer boundary. The problem is linear
in the gate voltages, so it is solved once per gate at unit bias (all other gates at 0) plus
once for the offsets (all gates at ``-w_g``):

    phi(V) = phi_0 + sum_g V_g phi_g.

A detuning sweep then needs no new Poisson solve. All gate problems share one matrix: it is
factorised once (CHOLMOD when installed, SuperLU otherwise) and every right-hand side reuses it
(``method="direct"``), or each is solved by AMG-preconditioned CG (``method="amg"``).

The gate problems are solved with quadratic (P2) Lagrange elements by default (``order``).
The edges of the gates are singular, which limits the order of convergence of both degrees
in the semiconductor; P2 wins by its constant. On the Tunnel Falls-like device at the demo's
mesh, linear elements put the potential in the well about 14 meV higher than P2 and the
interdot barrier about 0.45 meV (60 %) higher, and refining the mesh of the quantum region
alone did not reduce that error (it comes from the 10 nm elements between the well and the
gates); with P2 the barrier height changes by about 0.02 meV when the mesh of the quantum
region or of the gate region is refined by sqrt 2
(``benchmarks/bench_electrostatics_order.py``). The potentials are kept at the vertices and,
for P2, at the edge midpoints: :meth:`GatePotentials.interpolated_to` samples them with the
quadratic interpolant.

The electron potential energy is ``-1000 phi`` meV per volt; the conduction-band edge adds the
band offset of each material, ``U = offset - 1000 phi``.

Units: nm, V, meV.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from femvalley.materials import get_material
from femvalley.mesh import (
    SubMesh,
    edge_dofs,
    element_values,
    group_names,
    lagrange_element,
    lumped_vertex_weights,
    p1_basis,
    p2_probe_matrix,
    probe_matrix,
    require_groups,
)
from femvalley.typing import Basis, Mesh, SparseMatrix
from femvalley.units import MEV_PER_VOLT

__all__ = ["GatePotentials", "GroundedPoisson", "LeverArms", "grounded_poisson", "solve_gates"]

Method = Literal["direct", "amg"]


@dataclass(frozen=True, eq=False)
class GatePotentials:
    """Unit-bias gate potentials of a device, combined late by superposition.

    Attributes
    ----------
    mesh : skfem.Mesh
        The device mesh (nm).
    gates : tuple of str
        Gate names, in the order of ``unit_V``.
    unit_V : ndarray, shape (ngates, nvertices)
        ``phi_g``: potential with gate ``g`` at 1 V and all other gates at 0 V.
    offset_V : ndarray, shape (nvertices,)
        ``phi_0``: potential with every gate at minus its work-function offset.
    work_function_offset_V : dict of str to float
        The offsets used.
    timings_s : dict of str to float
        Assembly, factorisation and solve times.
    edge_unit_V, edge_offset_V : ndarray or None
        For potentials solved with P2 elements: the same at the edge midpoints, shapes
        (ngates, nedges) and (nedges,); None for P1.
    element_edges : ndarray of int or None, shape (nedges_per_element, nelems)
        For P2: the midpoint of every element edge, as ``nvertices + index`` into the edge
        arrays (:func:`femvalley.mesh.edge_dofs`).
    """

    mesh: Mesh
    gates: tuple[str, ...]
    unit_V: NDArray[np.float64]
    offset_V: NDArray[np.float64]
    work_function_offset_V: dict[str, float]
    timings_s: dict[str, float] = field(default_factory=dict)
    edge_unit_V: NDArray[np.float64] | None = None
    edge_offset_V: NDArray[np.float64] | None = None
    element_edges: NDArray[np.int64] | None = None

    @property
    def order(self) -> int:
        """Degree of the elements the potentials were solved with (1 or 2)."""
        return 1 if self.element_edges is None else 2

    def _voltage_vector(self, voltages: Mapping[str, float]) -> NDArray[np.float64]:
        unknown = sorted(set(voltages) - set(self.gates))
        if unknown:
            raise ValueError(
                f"voltages: unknown gate(s) {unknown}; the gates are {list(self.gates)}"
            )
        v = np.zeros(len(self.gates))
        for i, g in enumerate(self.gates):
            value = voltages.get(g, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"voltages[{g!r}] = {value!r} must be a number (V)")
            if not math.isfinite(float(value)):
                raise ValueError(f"voltages[{g!r}] = {value!r} must be finite")
            v[i] = float(value)
        return v

    def potential_V(self, voltages: Mapping[str, float]) -> NDArray[np.float64]:
        """Electrostatic potential phi (V) at the vertices; gates not named are at 0 V."""
        return np.asarray(self.offset_V + self._voltage_vector(voltages) @ self.unit_V)

    def electron_energy_meV(self, voltages: Mapping[str, float]) -> NDArray[np.float64]:
        """Electron potential energy ``-1000 phi`` (meV) at the vertices."""
        return MEV_PER_VOLT * self.potential_V(voltages)

    def band_edge_meV(
        self,
        voltages: Mapping[str, float],
        *,
        band_offset_meV: Mapping[str, float],
        basis: Basis,
        node_map: NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """Conduction-band edge ``U = offset(region) - 1000 phi`` at the quadrature points.

        Parameters
        ----------
        voltages : mapping of gate name to V
            Gate voltages.
        band_offset_meV : mapping of region name to meV
            Conduction-band offset of every region of ``basis.mesh``.
        basis : skfem.CellBasis
            Basis on the device mesh or on a sub-mesh (then give ``node_map``).
        node_map : ndarray of int, optional
            Device vertex of every vertex of ``basis.mesh`` (:attr:`SubMesh.node_map`).

        Returns
        -------
        ndarray, shape (nelems, nqp)
            Values at the quadrature points, usable as a k.p potential.
        """
        phi = self.potential_V(voltages)
        if node_map is not None:
            phi = phi[np.asarray(node_map)]
        if phi.shape[0] != basis.mesh.nvertices:
            raise ValueError(
                f"the basis mesh has {basis.mesh.nvertices} vertices but the potential has "
                f"{phi.shape[0]}; pass node_map for a sub-mesh"
            )
        energy = MEV_PER_VOLT * np.asarray(p1_basis(basis).interpolate(phi))
        offsets = element_values(basis.mesh, band_offset_meV, "band_offset_meV")
        tind = np.arange(basis.nelems) if basis.tind is None else np.asarray(basis.tind)
        return np.asarray(offsets[tind][:, None] + energy)

    def band_edge_at_vertices_meV(
        self,
        voltages: Mapping[str, float],
        *,
        band_offset_meV: Mapping[str, float],
        mesh: Mesh | None = None,
        node_map: NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """Conduction-band edge ``offset - 1000 phi`` (meV) at the vertices of given regions.

        A vertex shared by regions gets the lowest of their band edges (an interface vertex
        of the well belongs to the well); vertices of no listed region get ``+inf``.

        Parameters
        ----------
        voltages : mapping of gate name to V
            Gate voltages.
        band_offset_meV : mapping of region name to meV
            The regions (e.g. the semiconductors) and their conduction-band offsets.
        mesh : skfem.Mesh, optional
            The device mesh (default) or a sub-mesh (then give ``node_map``).
        node_map : ndarray of int, optional
            Device vertex of every vertex of ``mesh`` (:attr:`SubMesh.node_map`).
        """
        target = self.mesh if mesh is None else mesh
        phi = self.potential_V(voltages)
        if node_map is not None:
            phi = phi[np.asarray(node_map)]
        if phi.shape[0] != target.nvertices:
            raise ValueError(
                f"the mesh has {target.nvertices} vertices but the potential has "
                f"{phi.shape[0]}; pass node_map for a sub-mesh"
            )
        require_groups(target, regions=list(band_offset_meV))
        u = np.full(target.nvertices, np.inf)
        for region in sorted(band_offset_meV, key=lambda r: -float(band_offset_meV[r])):
            assert target.subdomains is not None  # require_groups found the region
            idx = np.unique(target.t[:, target.subdomains[region]])
            u[idx] = float(band_offset_meV[region]) + MEV_PER_VOLT * phi[idx]
        return u

    def interpolated_to(self, mesh: Mesh, *, z_nm: float | None = None) -> GatePotentials:
        """Return the same potentials on the vertices of another mesh lying inside this one.

        Parameters
        ----------
        mesh : skfem.Mesh
            Target mesh (nm), e.g. the 2-D in-plane mesh of a quantum region
            (``geometries.<device>.build_plane``) or a finer 3-D mesh.
        z_nm : float, optional
            Height of the plane; required when a 2-D mesh samples a 3-D device.

        Returns
        -------
        GatePotentials
            ``phi_g`` and ``phi_0`` interpolated to the vertices of ``mesh`` with the elements
            they were solved with (linear or quadratic; superposition still holds exactly),
            with ``mesh`` as its mesh (P1 data).
        """
        pts = np.asarray(mesh.p, dtype=np.float64)
        dim = self.mesh.p.shape[0]
        if pts.shape[0] == dim - 1:
            if z_nm is None or not math.isfinite(float(z_nm)):
                raise ValueError(
                    f"z_nm = {z_nm!r}: a {pts.shape[0]}-D mesh samples a {dim}-D device in a "
                    "plane; give its height z_nm (finite, nm)"
                )
            pts = np.vstack([pts, np.full(pts.shape[1], float(z_nm))])
        elif pts.shape[0] != dim:
            raise ValueError(f"mesh is {pts.shape[0]}-D; the device is {dim}-D")
        elif z_nm is not None:
            raise ValueError(f"z_nm = {z_nm!r} is only for a 2-D mesh in a 3-D device")
        probe, unit, offset = self._sampler(pts)
        return GatePotentials(
            mesh=mesh,
            gates=self.gates,
            unit_V=np.ascontiguousarray((probe @ unit.T).T),
            offset_V=np.asarray(probe @ offset),
            work_function_offset_V=dict(self.work_function_offset_V),
            timings_s=dict(self.timings_s),
        )

    def potential_at_V(
        self, points_nm: ArrayLike, voltages: Mapping[str, float]
    ) -> NDArray[np.float64]:
        """Potential phi (V) at points inside the device mesh (``points_nm``: (dim, n), nm).

        Interpolated like :meth:`interpolated_to` (quadratically for P2 potentials).
        """
        probe, unit, offset = self._sampler(np.asarray(points_nm, dtype=np.float64))
        return np.asarray(probe @ (offset + self._voltage_vector(voltages) @ unit))

    def _sampler(
        self, pts: NDArray[np.float64]
    ) -> tuple[SparseMatrix, NDArray[np.float64], NDArray[np.float64]]:
        """Probe matrix at ``pts`` and the unit/offset data (vertices, then edges) it maps."""
        if self.element_edges is None or self.edge_unit_V is None or self.edge_offset_V is None:
            return probe_matrix(self.mesh, pts), self.unit_V, self.offset_V
        unit = np.hstack([self.unit_V, self.edge_unit_V])
        offset = np.concatenate([self.offset_V, self.edge_offset_V])
        return p2_probe_matrix(self.mesh, self.element_edges, offset.size, pts), unit, offset

    def restricted_to(self, sub: SubMesh) -> GatePotentials:
        """Return the same potentials on a sub-mesh of the device mesh (``mesh.submesh``).

        The vertex values only: a sub-mesh gets P1 data (the P2 edge values are dropped).
        """
        if sub.parent is not self.mesh:
            raise ValueError("sub: a sub-mesh of another mesh than the one of these potentials")
        return GatePotentials(
            mesh=sub.mesh,
            gates=self.gates,
            unit_V=np.ascontiguousarray(self.unit_V[:, sub.node_map]),
            offset_V=np.asarray(self.offset_V[sub.node_map]),
            work_function_offset_V=dict(self.work_function_offset_V),
            timings_s=dict(self.timings_s),
        )

    def lever_arms(self, dots: Mapping[str, str | ArrayLike]) -> LeverArms:
        """Lever-arm matrix: ``-dE_dot / dV_g`` in meV/mV for every dot and gate.

        The energy of an electron with density ``n(r)`` moves by ``-1000 <phi_g>_n`` meV per
        volt on gate ``g`` (first order, exact for a fixed state: Hellmann-Feynman), so the
        lever arm is the weighted mean ``<phi_g>_n`` (meV/mV).

        Parameters
        ----------
        dots : mapping of dot name to region name or vertex weights
            A region name averages over that region's volume; an array of ``nvertices``
            non-negative weights (e.g. ``lumped_vertex_weights(mesh) * |psi|^2`` moved to the
            device with :meth:`SubMesh.extend`) averages over that density.

        Returns
        -------
        LeverArms
        """
        if not dots:
            raise ValueError("dots is empty; name at least one dot")
        rows = []
        for name, spec in dots.items():
            if isinstance(spec, str):
                require_groups(self.mesh, regions=[spec])
                assert self.mesh.subdomains is not None  # require_groups found the region
                w = lumped_vertex_weights(self.mesh, elements=self.mesh.subdomains[spec])
            else:
                w = np.asarray(spec, dtype=np.float64)
                if w.shape != (self.mesh.nvertices,):
                    raise ValueError(
                        f"dots[{name!r}]: weights of shape {w.shape}; expected "
                        f"({self.mesh.nvertices},), one per device vertex"
                    )
                if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
                    raise ValueError(
                        f"dots[{name!r}]: weights must be finite, >= 0 and not all zero"
                    )
            rows.append(self.unit_V @ w / w.sum())
        return LeverArms(
            dots=tuple(dots), gates=self.gates, meV_per_mV=np.asarray(rows, dtype=np.float64)
        )


@dataclass(frozen=True, eq=False)
class LeverArms:
    """Lever arms ``alpha[d, g] = -dE_d / dV_g`` (meV/mV, i.e. eV/V) of gates on dots.

    Attributes
    ----------
    dots, gates : tuple of str
        Row and column labels.
    meV_per_mV : ndarray, shape (ndots, ngates)
        The matrix.
    """

    dots: tuple[str, ...]
    gates: tuple[str, ...]
    meV_per_mV: NDArray[np.float64]

    def __call__(self, dot: str, gate: str) -> float:
        """Lever arm of ``gate`` on ``dot`` (meV/mV)."""
        for kind, name, names in (("dot", dot, self.dots), ("gate", gate, self.gates)):
            if name not in names:
                raise ValueError(f"{kind} {name!r} is not one of {list(names)}")
        return float(self.meV_per_mV[self.dots.index(dot), self.gates.index(gate)])


def _gate_dofs(basis: Basis, gate: str) -> NDArray[np.int64]:
    mesh = basis.mesh
    p1 = basis.elem.maxdeg == 1
    if mesh.boundaries and gate in mesh.boundaries:
        facets = np.asarray(mesh.boundaries[gate])
        if p1:  # the DOFs of a facet set are its vertices (avoids building the edge tables)
            return np.unique(mesh.facets[:, facets]).astype(np.int64)
        return np.unique(basis.get_dofs(facets).all()).astype(np.int64)
    if mesh.subdomains and gate in mesh.subdomains:
        elements = np.asarray(mesh.subdomains[gate])
        table = mesh.t if p1 else basis.element_dofs
        return np.unique(table[:, elements]).astype(np.int64)
    names = group_names(mesh)
    raise ValueError(
        f"gate {gate!r} is neither a boundary nor a region of the mesh; boundaries present: "
        f"{names['boundaries']}; regions present: {names['regions']}"
    )


def _permittivity_per_element(
    mesh: Mesh, permittivity: Mapping[str, float | str]
) -> NDArray[np.float64]:
    values: dict[str, float] = {}
    for region, spec in permittivity.items():
        eps = get_material(spec).eps_r if isinstance(spec, str) else spec
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.number)):
            raise ValueError(f"permittivity[{region!r}] = {spec!r}: give eps_r or a material name")
        if not (math.isfinite(float(eps)) and eps > 0):
            raise ValueError(f"permittivity[{region!r}] = {eps!r} must be finite and > 0")
        values[region] = float(eps)
    return element_values(mesh, values, "permittivity")


def _dielectric_operator(
    mesh: Mesh, permittivity: Mapping[str, float | str], order: int
) -> tuple[Basis, SparseMatrix]:
    """Return the Lagrange basis of degree ``order`` and ``int eps_r grad u . grad v`` (csr)."""
    from skfem import Basis as SkBasis
    from skfem import asm

    from femvalley.forms import dielectric_laplace

    if isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"order = {order!r}; allowed: 1 (linear), 2 (quadratic elements)")
    basis = SkBasis(mesh, lagrange_element(mesh, order), intorder=2 * order - 2 if order > 1 else 1)
    eps = _permittivity_per_element(mesh, permittivity)
    eps_qp = np.repeat(eps[:, None], basis.X.shape[1], axis=1)
    return basis, asm(dielectric_laplace, basis, eps=eps_qp).tocsr()


def _gate_owner(basis: Basis, gates: Sequence[str]) -> NDArray[np.int64]:
    """Index of the gate every DOF lies on (-1: free); gates must not touch."""
    owner = np.full(basis.N, -1, dtype=np.int64)
    for i, g in enumerate(gates):
        dofs = _gate_dofs(basis, g)
        clash = dofs[(owner[dofs] >= 0) & (owner[dofs] != i)]
        if clash.size:
            other = gates[int(owner[clash[0]])]
            raise ValueError(
                f"gates {other!r} and {g!r} share {clash.size} node(s): gates must not touch"
            )
        owner[dofs] = i
    return owner


def solve_gates(
    mesh: Mesh,
    *,
    permittivity: Mapping[str, float | str],
    gates: Sequence[str],
    work_function_offset_V: Mapping[str, float] | None = None,
    method: Method = "direct",
    tol: float = 1e-12,
    order: int = 2,
) -> GatePotentials:
    """Solve the gate electrostatics once per gate (unit bias) and once for the offsets.

    Parameters
    ----------
    mesh : skfem.MeshTet or skfem.MeshTri
        Device mesh in nm with named regions (materials) and gates (boundaries, i.e. surfaces,
        interior ones included, or regions, i.e. metal volumes).
    permittivity : mapping of region name to eps_r or material name
        Relative permittivity of every region (every element must be covered).
    gates : sequence of str
        Gate names (boundary or region names of the mesh).
    work_function_offset_V : mapping of gate name to V, optional
        Work-function offsets; ``phi = V_g - offset`` on gate ``g``. Default 0.
    method : {"direct", "amg"}
        One sparse factorisation reused for every gate, or AMG-preconditioned CG per gate.
    tol : float
        Relative residual tolerance of CG (``method="amg"``).
    order : {1, 2}
        Degree of the Lagrange elements. 2 (default) is far more accurate at the same mesh
        for about 8 times the unknowns in 3-D (see the module docstring).

    Returns
    -------
    GatePotentials
        ``phi(V) = offset_V + sum_g V_g unit_V[g]`` at the vertices (and, for P2, at the
        edge midpoints).
    """
    if isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"order = {order!r}; allowed: 1 (linear), 2 (quadratic elements)")
    gates = tuple(gates)
    if not gates:
        raise ValueError("gates is empty: at least one gate is needed to fix the potential")
    if len(set(gates)) != len(gates):
        raise ValueError(f"gates = {list(gates)} names a gate twice")
    if method not in ("direct", "amg"):
        raise ValueError(f"method = {method!r}; allowed: 'direct', 'amg'")
    offsets = {g: 0.0 for g in gates}
    for g, w in (work_function_offset_V or {}).items():
        if g not in offsets:
            raise ValueError(f"work_function_offset_V: {g!r} is not one of the gates {list(gates)}")
        offsets[g] = float(w)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    basis, k = _dielectric_operator(mesh, permittivity, order)
    timings["assemble"] = time.perf_counter() - t0

    n = basis.N
    owner = _gate_owner(basis, gates)
    fixed = np.nonzero(owner >= 0)[0]
    free = np.nonzero(owner < 0)[0]
    if free.size == 0:
        raise ValueError("every node lies on a gate: nothing to solve")

    # Dirichlet data: one column per gate (unit bias) and one for the offsets
    ng = len(gates)
    data = np.zeros((fixed.size, ng + 1))
    g_of_fixed = owner[fixed]
    data[np.arange(fixed.size), g_of_fixed] = 1.0
    data[:, ng] = -np.array([offsets[gates[j]] for j in g_of_fixed])
    k_free = k[free]
    kff = k_free[:, free].tocsc()
    rhs = -(k_free[:, fixed] @ data)

    t0 = time.perf_counter()
    sol = _solve_many(kff, rhs, method=method, tol=tol, timings=timings)
    timings["solve"] = time.perf_counter() - t0

    full = np.zeros((ng + 1, n))
    full[:, fixed] = data.T
    full[:, free] = sol.T
    nv = mesh.nvertices
    p2: dict[str, Any] = {}
    if order == 2:
        p2 = {
            "edge_unit_V": np.ascontiguousarray(full[:ng, nv:]),
            "edge_offset_V": np.ascontiguousarray(full[ng, nv:]),
            "element_edges": edge_dofs(basis),
        }
    return GatePotentials(
        mesh=mesh,
        gates=gates,
        unit_V=np.ascontiguousarray(full[:ng, :nv]),
        offset_V=np.ascontiguousarray(full[ng, :nv]),
        work_function_offset_V=offsets,
        timings_s=timings,
        **p2,
    )


def _solve_many(
    a: SparseMatrix, rhs: NDArray[np.float64], *, method: str, tol: float, timings: dict[str, float]
) -> NDArray[np.float64]:
    """Solve ``a x = b`` for every column of ``rhs`` (``a`` symmetric positive definite)."""
    import scipy.sparse.linalg as spla

    if method == "direct":
        from femvalley.linalg import factorize

        t0 = time.perf_counter()
        solve = factorize(a, ordering="default")  # CHOLMOD where installed, else SuperLU
        timings["factorize"] = time.perf_counter() - t0
        return np.asarray(solve(rhs))
    import pyamg

    t0 = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(sp.csr_matrix(a), symmetry="symmetric")
    prec = ml.aspreconditioner(cycle="V")
    timings["factorize"] = time.perf_counter() - t0
    out = np.empty_like(rhs)
    for j in range(rhs.shape[1]):
        b = rhs[:, j]
        if not np.any(b):
            out[:, j] = 0.0
            continue
        x, info = spla.cg(a, b, rtol=tol, atol=0.0, M=prec, maxiter=2000)
        if info != 0:
            raise RuntimeError(f"CG did not converge for right-hand side {j} (info = {info})")
        out[:, j] = x
    return out


@dataclass(frozen=True, eq=False)
class GroundedPoisson:
    """The device's Poisson operator with every gate grounded, factorised once.

    :meth:`solve` returns the potential ``u`` (zero on every gate, zero normal field on the
    rest of the outer boundary) of a charge given by its load vector ``b_i = int rho psi_i``
    (``psi_i`` the Lagrange basis functions of the device mesh):

        int eps_r grad u . grad psi_i = b_i   for every DOF i off the gates.

    With ``b`` scaled by ``4 pi e^2 / (4 pi eps0)`` this is the potential energy (meV) that
    a charge density ``rho`` (nm^-3) gives another electron, screened by the dielectrics and
    the grounded gates (their image charges included): the kernel of the Coulomb
    interaction in the device (:mod:`femvalley.twoelectron.screened`).

    Attributes
    ----------
    mesh : skfem.Mesh
        The device mesh (nm).
    order : int
        Degree of the Lagrange elements (1 or 2).
    ndofs : int
        Number of DOFs (vertices first, then edge midpoints for P2).
    free : ndarray of int
        The DOFs off the gates.
    element_edges : ndarray of int or None
        For P2: the edge-midpoint DOF of every element edge (:func:`femvalley.mesh.edge_dofs`).
    timings_s : dict of str to float
        Assembly and factorisation times.
    """

    mesh: Mesh
    order: int
    ndofs: int
    free: NDArray[np.int64]
    element_edges: NDArray[np.int64] | None
    timings_s: dict[str, float]
    factor_solve: Callable[[NDArray[Any]], NDArray[Any]] = field(repr=False)

    def probe(self, points_nm: ArrayLike) -> SparseMatrix:
        """Return the matrix (npoints, ndofs) that evaluates a DOF vector at ``points_nm``."""
        pts = np.asarray(points_nm, dtype=np.float64)
        if self.element_edges is None:
            return probe_matrix(self.mesh, pts)
        return p2_probe_matrix(self.mesh, self.element_edges, self.ndofs, pts)

    def solve(self, load: ArrayLike) -> NDArray[Any]:
        """Return the potential (ndofs,) or (ndofs, k) of load vectors (ndofs,) or (ndofs, k).

        Complex loads are solved as their real and imaginary parts (the operator is real).
        """
        b = np.asarray(load)
        if b.shape[0] != self.ndofs:
            raise ValueError(f"load has {b.shape[0]} rows; the operator has {self.ndofs} DOFs")
        block = b.reshape(self.ndofs, -1)
        out = np.zeros(block.shape, dtype=np.result_type(block.dtype, np.float64))
        out[self.free] = self._solve_free(block[self.free])
        return out.reshape(b.shape)

    def solve_on(self, dofs: ArrayLike, load: ArrayLike) -> NDArray[Any]:
        """Return the potential at ``dofs`` of loads (len(dofs), k) that vanish elsewhere.

        The same as ``solve`` restricted to a few DOFs (e.g. those a charge density touches),
        without full-size copies of the loads.
        """
        idx = np.asarray(dofs, dtype=np.int64)
        b = np.asarray(load).reshape(idx.size, -1)
        where = self.free_position[idx]
        on_free = where >= 0
        rhs = np.zeros((self.free.size, b.shape[1]), dtype=b.dtype)
        rhs[where[on_free]] = b[on_free]
        sol = self._solve_free(rhs)
        out = np.zeros((idx.size, b.shape[1]), dtype=sol.dtype)
        out[on_free] = sol[where[on_free]]
        return out

    @cached_property
    def free_position(self) -> NDArray[np.int64]:
        """Position of every DOF among the free ones (-1 on the gates)."""
        position = np.full(self.ndofs, -1, dtype=np.int64)
        position[self.free] = np.arange(self.free.size)
        return position

    def _solve_free(self, rhs: NDArray[Any]) -> NDArray[Any]:
        """Solve on the free DOFs for the columns of ``rhs`` (real and imaginary parts)."""
        if not np.iscomplexobj(rhs):
            return np.asarray(self.factor_solve(np.ascontiguousarray(rhs, dtype=np.float64)))
        # imaginary parts that vanish (real densities, e.g. of real states) are not solved
        size = np.abs(rhs).max(axis=0) if rhs.size else np.zeros(rhs.shape[1])
        complex_cols = np.nonzero(np.abs(rhs.imag).max(axis=0) > 1e-14 * size)[0]
        block = np.hstack([rhs.real, rhs.imag[:, complex_cols]])
        both = np.asarray(self.factor_solve(np.ascontiguousarray(block)))
        k = rhs.shape[1]
        out = both[:, :k].astype(np.complex128)
        out[:, complex_cols] += 1j * both[:, k:]
        return out


def grounded_poisson(
    mesh: Mesh,
    *,
    permittivity: Mapping[str, float | str],
    gates: Sequence[str],
    order: int = 1,
) -> GroundedPoisson:
    """Assemble and factorise the Poisson operator of a device with its gates grounded.

    Parameters are those of :func:`solve_gates` (the same operator, the same gate surfaces);
    ``order`` defaults to linear elements, which resolve the smooth charge densities of
    electrons in a dot.
    """
    from femvalley.linalg import factorize

    gates = tuple(gates)
    if not gates:
        raise ValueError("gates is empty: grounded gates are needed to fix the potential")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    basis, k = _dielectric_operator(mesh, permittivity, order)
    owner = _gate_owner(basis, gates)
    free = np.nonzero(owner < 0)[0]
    if free.size == 0:
        raise ValueError("every node lies on a gate: nothing to solve")
    kff = k[free][:, free].tocsc()
    timings["assemble"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    solve = factorize(kff, ordering="default")
    timings["factorize"] = time.perf_counter() - t0
    return GroundedPoisson(
        mesh=mesh,
        order=order,
        ndofs=basis.N,
        free=free.astype(np.int64),
        element_edges=edge_dofs(basis) if order == 2 else None,
        timings_s=timings,
        factor_solve=solve,
    )
