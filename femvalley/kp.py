"""Position-dependent n-band k.p models and their finite-element assembly.

The Hamiltonian of an n-component envelope ``psi = (psi_1, ..., psi_n)`` is

    H = sum_terms  k_a c_t(r) k_b (x) S_t   +   U(r) I_n   +   sum_i s_i U_i(r) I_n   +   C(r)

with ``k_a = -i d/da``:

- quadratic terms ``(a, b, c_t, S_t)``: a scalar coefficient field ``c_t`` (meV nm^2) times a
  constant Hermitian ``n x n`` component matrix ``S_t`` (identity by default). For ``a != b``
  the term is symmetrised, ``(k_a c k_b + k_b c k_a) / 2``;
- a scalar potential ``U`` (meV) on the diagonal;
- named potential pieces ``U_i`` (meV per unit of the scalar ``s_i``), kept as separate
  matrices so that ``H = H0 + sum_i s_i D_i`` is formed for new ``s_i`` without re-assembly
  (gate voltages, detuning);
- a node-wise Hermitian constant term ``C(r)`` (meV), interpolated with the same elements as the
  envelope. For two valleys ``C = [[0, Delta], [conj(Delta), 0]]``.

Galerkin discretisation with Lagrange elements ``phi_i`` (P1 or P2, triangles or tetrahedra)
gives ``H x = E M x`` with ``M = (int phi_i phi_j) (x) I_n``. The vector layout is
component-major: ``x = [psi_1 (all DOFs), psi_2 (all DOFs), ...]``. Homogeneous Dirichlet
conditions are imposed by condensation (the boundary DOFs are removed from every component),
never by penalty rows.

Coefficient fields (``c_t``, ``U``, ``U_i``) may be given as

- a number;
- a mapping ``{region name: number}`` over ``mesh.subdomains`` (every element covered);
- an array over the mesh vertices (interpolated linearly) or over the DOFs of the basis;
- an array of shape ``(nelems, nqp)``: values at the quadrature points of the basis;
- a callable ``f(x) -> values`` of global coordinates ``x`` with shape ``(dim, ...)``, in nm,
  evaluated at the quadrature points.

The constant term may be a number (times the identity), a constant ``(n, n)`` matrix, an array
``(nnodes, n, n)`` over the vertices (or the DOFs of the basis), or a callable
``f(x) -> (n, n, npoints)`` evaluated at the DOF locations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from femvalley.materials import Material, get_material
from femvalley.mesh import element_values, lagrange_element, p1_basis
from femvalley.typing import Basis, Mesh, SparseMatrix
from femvalley.units import inverse_mass_prefactor_meV_nm2

__all__ = [
    "Coefficient",
    "QuadraticTerm",
    "KPModel",
    "KPOperators",
    "CouplingAssembler",
    "lebesgue_constant",
    "assemble",
    "check_hermitian",
    "coefficient_at_quadrature",
    "condensed_mass",
    "two_valley_model",
    "single_band_model",
    "make_basis",
]

Coefficient = float | complex | Mapping[str, float] | ArrayLike | Callable[..., Any]
ConstantTerm = float | complex | ArrayLike | Callable[..., Any]


@dataclass(frozen=True, kw_only=True)
class QuadraticTerm:
    """One quadratic term ``k_a c(r) k_b (x) S`` (symmetrised if ``a != b``).

    Parameters
    ----------
    axes : (int, int)
        The pair ``(a, b)`` of Cartesian axes, 0 = x, 1 = y, 2 = z.
    coefficient : Coefficient
        The scalar field ``c(r)`` in meV nm^2 (for example ``hbar^2 / (2 m_a)``).
    components : array_like, shape (n, n), optional
        Constant Hermitian component matrix ``S``; the identity if omitted.
    """

    axes: tuple[int, int]
    coefficient: Coefficient
    components: ArrayLike | None = None

    def __post_init__(self) -> None:
        if (
            len(self.axes) != 2
            or not all(isinstance(a, (int, np.integer)) for a in self.axes)
            or not all(0 <= a <= 2 for a in self.axes)
        ):
            raise ValueError(f"QuadraticTerm.axes = {self.axes!r}: need two axes in 0, 1, 2")


@dataclass(frozen=True, kw_only=True)
class KPModel:
    """An n-band k.p model, independent of any mesh (bind it with :func:`assemble`).

    Parameters
    ----------
    n_components : int
        Number of envelope components (1 single band, 2 valleys, 4 valley x spin, ...).
    quadratic : sequence of QuadraticTerm
        The kinetic terms.
    potential : Coefficient, optional
        Conduction-band edge ``U(r)`` in meV, on the diagonal of every component.
    constant : ConstantTerm, optional
        Node-wise Hermitian ``n x n`` constant term ``C(r)`` in meV.
    potential_terms : mapping of str to Coefficient, optional
        Named potential pieces ``U_i`` (meV per unit scalar), combined late as ``s_i U_i``.
    component_names : sequence of str, optional
        Names of the components (for output); default ``("c0", "c1", ...)``.
    """

    n_components: int
    quadratic: Sequence[QuadraticTerm] = ()
    potential: Coefficient | None = None
    constant: ConstantTerm | None = None
    potential_terms: Mapping[str, Coefficient] = field(default_factory=dict)
    component_names: Sequence[str] | None = None

    def __post_init__(self) -> None:
        n = self.n_components
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n_components = {n!r} must be an integer >= 1")
        object.__setattr__(self, "quadratic", tuple(self.quadratic))
        for t in self.quadratic:
            if not isinstance(t, QuadraticTerm):
                raise ValueError(f"quadratic contains {t!r}; expected QuadraticTerm instances")
            if t.components is not None:
                s = np.asarray(t.components)
                if s.shape != (n, n):
                    raise ValueError(
                        f"QuadraticTerm.components has shape {s.shape}; expected ({n}, {n})"
                    )
                if not np.allclose(s, s.conj().T, rtol=0, atol=1e-12 * max(1.0, np.abs(s).max())):
                    raise ValueError("QuadraticTerm.components must be a Hermitian matrix")
        names = self.component_names
        if names is None:
            object.__setattr__(self, "component_names", tuple(f"c{i}" for i in range(n)))
        else:
            names = tuple(names)
            if len(names) != n:
                raise ValueError(
                    f"component_names = {names!r} has {len(names)} entries; expected {n}"
                )
            object.__setattr__(self, "component_names", names)
        for key in self.potential_terms:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(
                    f"potential_terms key {key!r} must be a Python identifier (used as keyword)"
                )


# --------------------------------------------------------------------------------------------
# helpers: mesh, basis, coefficient evaluation
# --------------------------------------------------------------------------------------------


def make_basis(mesh: Mesh, *, element: str = "P1", intorder: int | None = None) -> Basis:
    """Return a scikit-fem ``Basis`` of Lagrange elements on a triangle or tetrahedron mesh.

    Parameters
    ----------
    mesh : skfem.MeshTri or skfem.MeshTet
        Coordinates in nm.
    element : {"P1", "P2"}
        Polynomial degree of the Lagrange elements.
    intorder : int, optional
        Quadrature order; by default exact for the mass matrix with a coefficient of the same
        degree (3 for P1, 6 for P2).
    """
    from skfem import Basis
    from skfem.mesh import MeshTet1, MeshTri1

    if not isinstance(mesh, (MeshTri1, MeshTet1)):
        raise ValueError(
            f"mesh of type {type(mesh).__name__} is not supported; use a triangle (MeshTri) "
            "or tetrahedron (MeshTet) mesh"
        )
    degrees = {"P1": 1, "P2": 2}
    if element not in degrees:
        raise ValueError(f"element = {element!r}; allowed: 'P1', 'P2'")
    if not np.all(np.isfinite(mesh.p)):
        raise ValueError("mesh.p contains non-finite node coordinates")
    if intorder is None:
        intorder = 3 if element == "P1" else 6
    return Basis(mesh, lagrange_element(mesh, degrees[element]), intorder=intorder)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, complex, np.number)) and not isinstance(x, bool)


def _finite_or_raise(values: NDArray[Any], name: str) -> None:
    if not np.all(np.isfinite(values)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise ValueError(f"{name}: {bad} value(s) are NaN or infinite; a finite field is required")


def _callable_at_quadrature(value: Any, basis: Basis, name: str, dtype: type) -> NDArray[Any]:
    """Values of a callable coefficient ``f(x)`` at the quadrature points (nelems, nqp)."""
    nel, nqp = basis.nelems, basis.X.shape[1]
    v = np.asarray(value(np.asarray(basis.global_coordinates())))
    if dtype is np.float64 and np.iscomplexobj(v):
        if np.abs(np.imag(v)).max(initial=0.0) > 0:
            raise ValueError(f"{name}: the callable returned complex values; it must be real")
        v = np.real(v)
    try:
        return np.broadcast_to(v, (nel, nqp)).astype(dtype)
    except ValueError:
        raise ValueError(
            f"{name}: the callable returned shape {np.shape(v)}; expected values at the "
            f"quadrature points, broadcastable to {(nel, nqp)}"
        ) from None


def coefficient_at_quadrature(
    value: Any, basis: Basis, name: str, *, complex_ok: bool = False
) -> NDArray[Any]:
    """Evaluate a coefficient field at the quadrature points of ``basis``: (nelems, nqp).

    ``value``: a number, a mapping of region name to number, a callable ``f(x)`` of the
    coordinates, values at the quadrature points, or a 1-D array over the vertices or DOFs.
    """
    nel = basis.nelems
    nqp = basis.X.shape[1]
    dtype = np.complex128 if complex_ok else np.float64
    if _is_number(value):
        if not complex_ok and np.iscomplexobj(value):
            raise ValueError(f"{name} = {value!r} must be real")
        v = np.full((nel, nqp), value, dtype=dtype)
    elif isinstance(value, Mapping):
        per_elem = element_values(basis.mesh, value, name)
        tind = np.arange(nel) if basis.tind is None else np.asarray(basis.tind)
        v = np.repeat(per_elem[tind][:, None], nqp, axis=1).astype(dtype)
    elif callable(value):
        v = _callable_at_quadrature(value, basis, name, dtype)
    elif isinstance(value, np.ndarray) and value.shape == (nel, nqp):
        # values at the quadrature points of this basis (e.g. from electrostatics)
        if not complex_ok and np.iscomplexobj(value):
            raise ValueError(f"{name} must be real")
        v = value.astype(dtype)
    else:
        arr = np.asarray(value)
        if arr.ndim != 1:
            raise ValueError(
                f"{name} has shape {arr.shape}; expected a number, a region mapping, a callable "
                f"or a 1-D array over the {basis.mesh.nvertices} vertices or {basis.N} DOFs"
            )
        if not complex_ok and np.iscomplexobj(arr):
            if np.abs(arr.imag).max(initial=0.0) > 0:
                raise ValueError(f"{name} must be real")
            arr = arr.real
        _finite_or_raise(arr, name)
        if arr.shape[0] == basis.N:
            v = np.asarray(basis.interpolate(arr.astype(dtype)))
        elif arr.shape[0] == basis.mesh.nvertices:
            v = np.asarray(p1_basis(basis).interpolate(arr.astype(dtype)))
        else:
            raise ValueError(
                f"{name} has {arr.shape[0]} values; expected {basis.mesh.nvertices} (vertices) "
                f"or {basis.N} (DOFs of the basis)"
            )
    if not complex_ok and np.iscomplexobj(v):
        raise ValueError(f"{name} must be real")
    _finite_or_raise(v, name)
    return v


def _constant_nodal(
    constant: ConstantTerm, basis: Basis, n: int
) -> tuple[NDArray[np.complex128] | None, Basis | None]:
    """Return ``(C at interpolation points (npts, n, n) or None if uniform, basis used)``."""
    if _is_number(constant):
        value = complex(cast(complex, constant))
        return np.broadcast_to(value * np.eye(n, dtype=np.complex128), (1, n, n)), None
    if callable(constant):
        x = basis.doflocs
        c = np.asarray(constant(x), dtype=np.complex128)
        if c.shape != (n, n, x.shape[1]):
            raise ValueError(
                f"constant: the callable returned shape {c.shape}; expected ({n}, {n}, "
                f"{x.shape[1]}) (values at the DOF locations)"
            )
        return np.moveaxis(c, -1, 0), basis
    c = np.asarray(constant, dtype=np.complex128)
    if c.shape == (n, n):
        return c[None], None
    if c.ndim == 3 and c.shape[1:] == (n, n):
        if c.shape[0] == basis.N:
            return c, basis
        if c.shape[0] == basis.mesh.nvertices:
            return c, p1_basis(basis)
        raise ValueError(
            f"constant has {c.shape[0]} node values; expected {basis.mesh.nvertices} (vertices) "
            f"or {basis.N} (DOFs)"
        )
    raise ValueError(
        f"constant has shape {c.shape}; expected a number, ({n}, {n}), (nnodes, {n}, {n}) "
        "or a callable"
    )


def _check_constant_hermitian(c: NDArray[np.complex128]) -> None:
    _finite_or_raise(c, "constant")
    scale = max(1.0, float(np.abs(c).max(initial=0.0)))
    dev = np.abs(c - np.conj(np.swapaxes(c, 1, 2)))
    worst = float(dev.max(initial=0.0))
    if worst > 1e-12 * scale:
        node = int(np.unravel_index(int(np.argmax(dev)), dev.shape)[0])
        raise ValueError(
            f"constant term is not Hermitian: |C - C^H| = {worst:.3g} meV at node {node}; "
            "C[:, q, p] must equal conj(C[:, p, q])"
        )


def check_hermitian(matrix: SparseMatrix, *, name: str = "H", rtol: float = 1e-10) -> float:
    """Raise ``ValueError`` unless a sparse matrix is Hermitian to ``rtol``; return the deviation.

    The deviation is ``max |A - A^H| / max |A|``.
    """
    a = sp.csr_matrix(matrix)
    scale = float(abs(a).max()) if a.nnz else 0.0
    if scale == 0.0:
        return 0.0
    diff = (a - a.conj().T).tocsr()
    dev = float(abs(diff).max()) / scale if diff.nnz else 0.0
    if not math.isfinite(dev) or dev > rtol:
        raise ValueError(
            f"{name} is not Hermitian: max|{name} - {name}^H| / max|{name}| = {dev:.3g} > "
            f"{rtol:g}; check that the constant term is Hermitian and quadratic coefficients real"
        )
    return dev


# --------------------------------------------------------------------------------------------
# forms
# --------------------------------------------------------------------------------------------


def _weighted_mass(basis: Basis, values_qp: NDArray[Any]) -> SparseMatrix:
    from skfem import asm

    from femvalley.forms import complex_weighted_mass, weighted_mass

    form = complex_weighted_mass if np.iscomplexobj(values_qp) else weighted_mass
    return asm(form, basis, weight=values_qp).tocsr()


def condensed_mass(operators: KPOperators, weight: Any, name: str = "weight") -> SparseMatrix:
    """Return ``int f phi_i phi_j`` on the interior DOFs of ``operators`` (one component).

    ``weight`` is any coefficient of :func:`coefficient_at_quadrature`, real or complex (the
    form is bilinear: a complex ``f`` gives a complex symmetric matrix). Terms of other
    modules (a gate's potential, a field component, a moment of the density) built with it
    act on the operators' condensed vectors like their own terms.
    """
    values = coefficient_at_quadrature(weight, operators.basis, name, complex_ok=True)
    if np.iscomplexobj(values) and not np.any(values.imag):
        values = values.real
    return _condense(_weighted_mass(operators.basis, values), operators.interior)


# --------------------------------------------------------------------------------------------
# assembled operators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KPOperators:
    """Assembled, condensed operators of a :class:`KPModel` on one basis.

    ``H(s) = kinetic + potential + constant + sum_i s_i * terms[i]`` and ``M = mass``, all of
    size ``n_components * interior.size`` (component-major layout). Built once per mesh; the
    scalars ``s_i`` are bound late with :meth:`hamiltonian`.

    Attributes
    ----------
    model : KPModel
        The model it was assembled from.
    basis : skfem.CellBasis
        The scalar finite-element basis.
    interior : ndarray of int
        The scalar DOFs kept after Dirichlet condensation.
    kinetic, potential, constant : scipy.sparse.csr_matrix
        The separable pieces of ``H0``.
    terms : dict of str to csr_matrix
        The named pieces ``D_i``.
    mass : scipy.sparse.csr_matrix
        The block mass matrix ``M (x) I_n``.
    potential_min_meV : float
        Lower bound of the potential field ``U`` (meV).
    terms_range_meV : dict of str to (float, float)
        Minimum and maximum of each named potential piece.
    constant_min_eig_meV : float
        Lower bound of the smallest local eigenvalue of ``C(r)``.
    """

    model: KPModel
    basis: Basis
    interior: NDArray[np.int64]
    kinetic: SparseMatrix
    potential: SparseMatrix
    constant: SparseMatrix
    terms: dict[str, SparseMatrix]
    mass: SparseMatrix
    mass_scalar: SparseMatrix
    potential_min_meV: float
    terms_range_meV: dict[str, tuple[float, float]]
    constant_min_eig_meV: float
    kinetic_is_scalar: bool

    @property
    def n_components(self) -> int:
        """Number of envelope components."""
        return int(self.model.n_components)

    @property
    def ndof(self) -> int:
        """Size of the condensed problem."""
        return int(self.n_components * self.interior.size)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Scalar type of the Hamiltonian."""
        pieces = [self.kinetic, self.potential, self.constant, *self.terms.values()]
        return np.result_type(*[p.dtype for p in pieces])

    def check_scales(self, scales: Mapping[str, float]) -> None:
        """Refuse scales of unknown terms and scales that are not finite real numbers."""
        for key, value in scales.items():
            if key not in self.terms:
                raise ValueError(
                    f"unknown Hamiltonian term {key!r}; the model has terms {sorted(self.terms)}"
                )
            if not (_is_number(value) and math.isfinite(float(np.real(value)))):
                raise ValueError(f"scale {key} = {value!r} must be a finite real number")
            if np.iscomplexobj(value) and np.imag(value) != 0:
                raise ValueError(f"scale {key} = {value!r} must be real (H stays Hermitian)")

    @property
    def h0(self) -> SparseMatrix:
        """``kinetic + potential + constant`` (cached)."""
        cached = self.__dict__.get("_h0")
        if cached is None:
            cached = (self.kinetic + self.potential + self.constant).tocsr()
            object.__setattr__(self, "_h0", cached)
        return cached

    def hamiltonian(self, **scales: float) -> SparseMatrix:
        """Return ``H0 + sum_i s_i D_i`` for the given scalars (missing terms count as 0).

        Examples
        --------
        >>> H = ops.hamiltonian(plunger=0.01)  # doctest: +SKIP
        """
        self.check_scales(scales)
        h = self.h0
        for key, value in scales.items():
            if value != 0:
                h = h + float(np.real(value)) * self.terms[key]
        return h.tocsr()

    def potential_lower_bound_meV(self, **scales: float) -> float:
        """Lower bound of ``U + sum_i s_i U_i`` over the domain, in meV."""
        self.check_scales(scales)
        bound = self.potential_min_meV
        for key, value in scales.items():
            lo, hi = self.terms_range_meV[key]
            s = float(np.real(value))
            bound += min(s * lo, s * hi)
        return bound

    def spectrum_lower_bound_meV(self, **scales: float) -> float:
        """Rigorous lower bound of the lowest eigenvalue of ``H(s) x = E M x``, in meV.

        The kinetic part is positive semi-definite, the potential and constant terms are
        evaluated at the quadrature points (positive weights), so their Rayleigh quotients are
        bounded by the extremes over those points (nodal extremes for P1 interpolants).
        """
        return self.potential_lower_bound_meV(**scales) + self.constant_min_eig_meV

    def expand(self, vectors: ArrayLike) -> NDArray[np.complex128]:
        """Scatter condensed eigenvectors to full per-component DOF arrays.

        Parameters
        ----------
        vectors : array_like, shape (ndof,) or (ndof, k)
            Condensed vectors (component-major).

        Returns
        -------
        ndarray, shape (k, n_components, basis.N)
            Zero at the Dirichlet DOFs.
        """
        v = np.asarray(vectors)
        if v.ndim == 1:
            v = v[:, None]
        if v.shape[0] != self.ndof:
            raise ValueError(f"vectors have {v.shape[0]} rows; expected ndof = {self.ndof}")
        n, ni, k = self.n_components, self.interior.size, v.shape[1]
        out = np.zeros((k, n, self.basis.N), dtype=np.result_type(v.dtype, np.complex128))
        out[:, :, self.interior] = v.T.reshape(k, n, ni)
        return out

    def with_constant(self, constant: ConstantTerm) -> KPOperators:
        """Return new operators with another constant term (e.g. a new valley map seed).

        Only the constant blocks are re-assembled.
        """
        new_model = KPModel(
            n_components=self.model.n_components,
            quadratic=self.model.quadratic,
            potential=self.model.potential,
            constant=constant,
            potential_terms=self.model.potential_terms,
            component_names=self.model.component_names,
        )
        block, min_eig = _assemble_constant(
            constant, self.basis, self.n_components, self.interior, self.mass_scalar
        )
        fields = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        fields.update(model=new_model, constant=block, constant_min_eig_meV=min_eig)
        return KPOperators(**fields)


class CouplingAssembler:
    """The condensed block ``B(f)_ab = int f phi_a phi_b`` as a linear map of nodal values ``f``.

    ``f`` holds node values interpolated with the elements of ``nodes``, exactly as a node-wise
    constant term is assembled (:func:`assemble`, :meth:`KPOperators.with_constant`): the
    intervalley block of a two-valley model is ``B(Delta)`` (its lower block ``B(Delta)^H``).
    The map from the node values to the non-zeros of ``B`` is a sparse matrix built once per
    mesh, so a new valley map (a new seed) costs one sparse product instead of an assembly
    (about 20x less on the demo's 227k tetrahedra, ``benchmarks/bench_ensemble.py``).

    Parameters
    ----------
    basis : skfem.CellBasis
        The scalar basis of the k.p problem.
    interior : ndarray of int
        The DOFs kept after Dirichlet condensation (:attr:`KPOperators.interior`).
    nodes : {"dofs", "vertices"}
        Where ``f`` is given: at every DOF of ``basis`` (``basis.doflocs``; ``f`` is
        interpolated with the basis's own elements, so a P2 basis keeps its h^4 order of
        convergence for a smooth ``f``), or at the mesh vertices (interpolated with P1
        elements). The two are the same for P1.
    """

    def __init__(self, basis: Basis, interior: NDArray[np.int64], *, nodes: str = "dofs") -> None:
        if nodes not in ("dofs", "vertices"):
            raise ValueError(f"nodes = {nodes!r}; allowed: 'dofs', 'vertices'")
        cb = basis if nodes == "dofs" else p1_basis(basis)
        ni = int(interior.size)
        pos = np.full(basis.N, -1, dtype=np.int64)
        pos[interior] = np.arange(ni)
        phi = [np.asarray(basis.basis[i][0]) for i in range(basis.Nbfun)]
        psi = [np.asarray(cb.basis[j][0]) for j in range(cb.Nbfun)]
        dx = np.asarray(basis.dx)
        keys, cols, vals = [], [], []
        for a in range(basis.Nbfun):
            ia = pos[basis.element_dofs[a]]
            for b in range(basis.Nbfun):
                ib = pos[basis.element_dofs[b]]
                keep = (ia >= 0) & (ib >= 0)
                if not np.any(keep):
                    continue
                w = dx * phi[a] * phi[b]
                for j in range(cb.Nbfun):
                    keys.append(ia[keep] * ni + ib[keep])
                    cols.append(cb.element_dofs[j][keep])
                    vals.append(np.sum(w * psi[j], axis=1)[keep])
        key = np.concatenate(keys)
        uniq, inverse = np.unique(key, return_inverse=True)
        self._map: SparseMatrix = sp.csr_matrix(
            (np.concatenate(vals), (inverse, np.concatenate(cols))), shape=(uniq.size, cb.N)
        )
        rows = uniq // ni
        self._indices = (uniq % ni).astype(np.int32 if ni < 2**31 else np.int64)
        self._indptr = np.searchsorted(rows, np.arange(ni + 1)).astype(self._indices.dtype)
        self.shape = (ni, ni)
        self.nodes = nodes
        self.nnodes = int(cb.N)
        #: bound of ``max_r |f_h(r)| / max_i |f_i|`` for the interpolant ``f_h`` of node
        #: values ``f_i`` (the Lebesgue constant of the elements): 1 for P1, 5/3 for P2
        #: triangles, 2 for P2 tetrahedra
        self.lebesgue_constant = lebesgue_constant(cb)

    def matrix(self, values: ArrayLike) -> SparseMatrix:
        """Return the condensed ``B(f)`` (csr; complex for complex ``f``) of node values ``f``."""
        f = np.asarray(values)
        if f.shape != (self.nnodes,):
            where = "mesh vertex" if self.nodes == "vertices" else "DOF of the basis"
            raise ValueError(
                f"values have shape {f.shape}; need ({self.nnodes},) (one per {where})"
            )
        _finite_or_raise(f, "values")
        if np.iscomplexobj(f):
            data = self._map @ f.real + 1j * (self._map @ f.imag)
        else:
            data = self._map @ f.astype(np.float64)
        return sp.csr_matrix((data, self._indices, self._indptr), shape=self.shape)


def lebesgue_constant(basis: Basis) -> float:
    """Return ``max_r sum_i |phi_i(r)|`` of the Lagrange elements of ``basis``.

    It bounds the interpolant of node values by the largest node value:
    ``max_r |sum_i f_i phi_i(r)| <= lebesgue_constant * max_i |f_i|``. P1: 1 (a convex
    combination). P2: 5/3 on triangles and 2 on tetrahedra, both reached at the element's
    centroid (``tests/test_kp.py`` checks them against dense sampling).
    """
    deg = int(basis.elem.maxdeg)
    if deg == 1:
        return 1.0
    if deg == 2:
        return 5.0 / 3.0 if basis.mesh.p.shape[0] == 2 else 2.0
    raise ValueError(f"elements of degree {deg} are not supported; use P1 or P2")


def _condense(a: SparseMatrix, interior: NDArray[np.int64]) -> SparseMatrix:
    return a.tocsr()[interior][:, interior].tocsr()


def _nodal_blocks(
    blocks: list[list[SparseMatrix | None]],
    nodal: NDArray[np.complex128],
    basis: Basis,
    cbasis: Basis,
    interior: NDArray[np.int64],
) -> float:
    """Fill ``blocks`` with the mass blocks of a node-wise constant term; return a bound.

    The bound is the smallest local eigenvalue of the interpolated term at the quadrature
    points (P2 interpolants can undershoot the nodal values), ``inf`` for P1 (the nodal
    values bound it).
    """
    n = nodal.shape[1]
    higher_order = cbasis.elem.maxdeg > 1
    if higher_order:
        qp_c = np.zeros((basis.nelems, basis.X.shape[1], n, n), dtype=np.complex128)
    for p in range(n):
        for q in range(p, n):
            values: NDArray[Any] = nodal[:, p, q]
            if not np.any(values):
                continue
            if p == q or not np.any(values.imag):
                values = values.real
            qp = cbasis.interpolate(values)
            if higher_order:
                qp_c[:, :, p, q] = qp
                qp_c[:, :, q, p] = np.conj(qp)
            b = _condense(_weighted_mass(basis, np.asarray(qp)), interior)
            blocks[p][q] = b
            if p != q:
                # forms are bilinear: the block is complex symmetric; the lower block is B^H
                blocks[q][p] = b.conj().T.tocsr()
    if not higher_order:
        return float("inf")
    return float(np.linalg.eigvalsh(qp_c.reshape(-1, n, n))[:, 0].min())


def _assemble_constant(
    constant: ConstantTerm | None,
    basis: Basis,
    n: int,
    interior: NDArray[np.int64],
    mass_scalar: SparseMatrix,
) -> tuple[SparseMatrix, float]:
    ni = interior.size
    if constant is None:
        return sp.csr_matrix((n * ni, n * ni)), 0.0
    nodal, cbasis = _constant_nodal(constant, basis, n)
    assert nodal is not None
    _check_constant_hermitian(nodal)
    local_eigs = np.linalg.eigvalsh(nodal)
    min_eig = float(local_eigs[:, 0].min())
    blocks: list[list[SparseMatrix | None]] = [[None] * n for _ in range(n)]
    if cbasis is None:
        # uniform matrix: C (x) M
        m = mass_scalar  # condensed scalar mass, assembled once in assemble()
        cmat = nodal[0]
        for p in range(n):
            for q in range(n):
                if cmat[p, q] != 0:
                    blocks[p][q] = cmat[p, q] * m
    else:
        min_eig = min(min_eig, _nodal_blocks(blocks, nodal, basis, cbasis, interior))
    for p in range(n):
        if blocks[p][p] is None:
            blocks[p][p] = sp.csr_matrix((ni, ni))
    return sp.bmat(blocks, format="csr"), min_eig


def _kron_identity(a: SparseMatrix, n: int) -> SparseMatrix:
    if n == 1:
        return a.tocsr()
    return sp.block_diag([a] * n, format="csr")


def _dirichlet_dofs(basis: Basis, dirichlet: str | Sequence[str] | None) -> NDArray[np.int64]:
    mesh = basis.mesh
    if dirichlet is None or dirichlet == "none":
        return np.zeros(0, dtype=np.int64)
    if dirichlet == "all":
        return np.asarray(basis.get_dofs().all(), dtype=np.int64)
    names = [dirichlet] if isinstance(dirichlet, str) else list(dirichlet)
    present = mesh.boundaries or {}
    dofs = []
    for name in names:
        if name not in present:
            raise ValueError(
                f"dirichlet: boundary {name!r} is not in the mesh; boundaries present: "
                f"{sorted(present) if present else 'none'} (or use 'all' / None)"
            )
        dofs.append(np.asarray(basis.get_dofs(present[name]).all(), dtype=np.int64))
    return np.unique(np.concatenate(dofs)) if dofs else np.zeros(0, dtype=np.int64)


def assemble(
    model: KPModel,
    mesh_or_basis: Mesh | Basis,
    *,
    element: str = "P1",
    dirichlet: str | Sequence[str] | None = "all",
    intorder: int | None = None,
    check: bool = True,
) -> KPOperators:
    """Assemble the condensed finite-element operators of a k.p model.

    Parameters
    ----------
    model : KPModel
        The model.
    mesh_or_basis : skfem.MeshTri, skfem.MeshTet or skfem.CellBasis
        Mesh in nm, or a ready basis (then ``element`` and ``intorder`` are ignored).
    element : {"P1", "P2"}
        Lagrange element degree.
    dirichlet : "all", str, sequence of str or None
        Homogeneous Dirichlet boundary: the whole boundary (default), named boundaries of
        ``mesh.boundaries``, or none (natural boundary conditions).
    intorder : int, optional
        Quadrature order, see :func:`make_basis`.
    check : bool
        Check numerically that ``H`` is Hermitian (raises ``ValueError`` if not).

    Returns
    -------
    KPOperators
        The separable pieces of ``H`` and the mass matrix.
    """
    from skfem import asm
    from skfem.assembly import CellBasis

    from femvalley.forms import kinetic as kinetic_form
    from femvalley.forms import mass

    basis: Basis
    if isinstance(mesh_or_basis, CellBasis):  # scikit-fem is untyped: mypy cannot narrow
        basis = cast(Basis, mesh_or_basis)
    else:
        basis = make_basis(cast(Mesh, mesh_or_basis), element=element, intorder=intorder)
    n = int(model.n_components)
    dim = basis.mesh.dim()
    for t in model.quadratic:
        if max(t.axes) >= dim:
            raise ValueError(
                f"QuadraticTerm.axes = {t.axes}: the mesh is {dim}-D, axes must be < {dim}"
            )

    boundary = _dirichlet_dofs(basis, dirichlet)
    interior = np.setdiff1d(np.arange(basis.N, dtype=np.int64), boundary)
    if interior.size == 0:
        raise ValueError("no interior degrees of freedom are left after Dirichlet condensation")
    ni = interior.size

    # kinetic: group terms by component matrix
    groups: dict[int, tuple[ArrayLike | None, list[QuadraticTerm]]] = {}
    for t in model.quadratic:
        key = -1 if t.components is None else id(t.components)
        groups.setdefault(key, (t.components, []))[1].append(t)
    kinetic = sp.csr_matrix((n * ni, n * ni))
    for _key, (smat, group_terms) in groups.items():
        coeffs = {}
        for k, t in enumerate(group_terms):
            c = coefficient_at_quadrature(t.coefficient, basis, f"quadratic{t.axes}.coefficient")
            if t.axes[0] == t.axes[1] and c.min() < 0:
                raise ValueError(
                    f"quadratic{t.axes}.coefficient has negative values (min {c.min():.3g} "
                    "meV nm^2): an inverse mass must be positive"
                )
            coeffs[f"c{k}"] = c
        stiff = _condense(
            asm(kinetic_form([t.axes for t in group_terms]), basis, **coeffs), interior
        )
        if smat is None:
            kinetic = kinetic + _kron_identity(stiff, n)
        else:
            kinetic = kinetic + sp.kron(sp.csr_matrix(np.asarray(smat)), stiff, format="csr")
    kinetic_is_scalar = all(t.components is None for t in model.quadratic)

    mass_scalar = _condense(asm(mass, basis), interior)
    mass = _kron_identity(mass_scalar, n)

    if model.potential is None:
        potential = sp.csr_matrix((n * ni, n * ni))
        pot_min = 0.0
    else:
        u = coefficient_at_quadrature(model.potential, basis, "potential")
        pot_min = float(u.min())
        potential = _kron_identity(_condense(_weighted_mass(basis, u), interior), n)

    terms: dict[str, SparseMatrix] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for name, value in model.potential_terms.items():
        u = coefficient_at_quadrature(value, basis, f"potential_terms[{name!r}]")
        ranges[name] = (float(u.min()), float(u.max()))
        terms[name] = _kron_identity(_condense(_weighted_mass(basis, u), interior), n)

    constant, min_eig = _assemble_constant(model.constant, basis, n, interior, mass_scalar)

    ops = KPOperators(
        model=model,
        basis=basis,
        interior=interior,
        kinetic=kinetic.tocsr(),
        potential=potential,
        constant=constant,
        terms=terms,
        mass=mass,
        mass_scalar=mass_scalar,
        potential_min_meV=pot_min,
        terms_range_meV=ranges,
        constant_min_eig_meV=min_eig,
        kinetic_is_scalar=kinetic_is_scalar,
    )
    if check:
        check_hermitian(ops.h0, name="H0")
        for name, d in terms.items():
            check_hermitian(d, name=f"D[{name}]")
    return ops


# --------------------------------------------------------------------------------------------
# constructors
# --------------------------------------------------------------------------------------------

MaterialSpec = str | Material


def _resolve_material(m: MaterialSpec) -> Material:
    mat = get_material(m) if isinstance(m, str) else m
    if not isinstance(mat, Material):
        raise ValueError(f"material {m!r} must be a name or a Material")
    if not mat.has_electrons:
        raise ValueError(
            f"material {mat.name!r} has no conduction-band masses and cannot be in the quantum "
            "region"
        )
    return mat


def _mass_coefficients(
    materials: MaterialSpec | Mapping[str, MaterialSpec], dim: int
) -> list[Coefficient]:
    """Per-axis ``hbar^2/(2 m_a)``: x, y transverse, z longitudinal."""
    if isinstance(materials, (str, Material)):
        mat = _resolve_material(materials)
        masses = [mat.m_t, mat.m_t, mat.m_l][:dim]
        return [inverse_mass_prefactor_meV_nm2(m) for m in masses]
    if not isinstance(materials, Mapping) or not materials:
        raise ValueError(
            f"materials = {materials!r}; expected a material name, a Material or a non-empty "
            "mapping {region: material}"
        )
    resolved = {region: _resolve_material(m) for region, m in materials.items()}
    out: list[Coefficient] = []
    for axis in range(dim):
        out.append(
            {
                region: inverse_mass_prefactor_meV_nm2(mat.m_l if axis == 2 else mat.m_t)
                for region, mat in resolved.items()
            }
        )
    return out


def single_band_model(
    *,
    dim: int,
    potential_meV: Coefficient | None = None,
    materials: MaterialSpec | Mapping[str, MaterialSpec] = "strained_Si",
    inverse_mass_meV_nm2: Sequence[Coefficient] | None = None,
    potential_terms: Mapping[str, Coefficient] | None = None,
) -> KPModel:
    """Plain effective-mass model (n = 1) with diagonal anisotropic masses.

    Parameters
    ----------
    dim : {2, 3}
        Spatial dimension of the mesh it will be assembled on.
    potential_meV : Coefficient, optional
        Conduction-band edge in meV.
    materials : str, Material or mapping of region to either
        Masses from the material table (``m_t`` along x, y and ``m_l`` along z).
    inverse_mass_meV_nm2 : sequence of Coefficient, optional
        Per-axis ``hbar^2 / (2 m_a)`` overriding ``materials``.
    potential_terms : mapping, optional
        Named separable potential pieces.
    """
    if dim not in (2, 3):
        raise ValueError(f"dim = {dim!r}; allowed: 2, 3")
    coeffs = (
        list(inverse_mass_meV_nm2)
        if inverse_mass_meV_nm2 is not None
        else _mass_coefficients(materials, dim)
    )
    if len(coeffs) != dim:
        raise ValueError(
            f"inverse_mass_meV_nm2 has {len(coeffs)} entries; expected one per axis ({dim})"
        )
    for a, c in enumerate(coeffs):
        if _is_number(c) and not float(np.real(cast(complex, c))) > 0:
            raise ValueError(
                f"inverse_mass_meV_nm2[{a}] = {c!r}: an inverse-mass prefactor must be > 0"
            )
    return KPModel(
        n_components=1,
        quadratic=[QuadraticTerm(axes=(a, a), coefficient=c) for a, c in enumerate(coeffs)],
        potential=potential_meV,
        potential_terms=dict(potential_terms or {}),
        component_names=("psi",),
    )


def two_valley_model(
    *,
    dim: int,
    delta_meV: ConstantTerm | None,
    potential_meV: Coefficient | None = None,
    materials: MaterialSpec | Mapping[str, MaterialSpec] = "strained_Si",
    inverse_mass_meV_nm2: Sequence[Coefficient] | None = None,
    potential_terms: Mapping[str, Coefficient] | None = None,
) -> KPModel:
    """Two-valley (+z, -z) model with intervalley coupling ``Delta(r)``.

    ``H = sum_a k_a c_a k_a (x) I_2 + U I_2 + [[0, Delta], [conj(Delta), 0]]``.

    Parameters
    ----------
    dim : {2, 3}
        Spatial dimension of the mesh.
    delta_meV : complex, array of shape (nnodes,), callable or None
        Intervalley coupling in meV: a number, values at the mesh vertices (or DOFs), or a
        callable of coordinates ``(dim, npoints) -> (npoints,)``. The local valley splitting
        is ``2 |Delta|``.
    potential_meV, materials, inverse_mass_meV_nm2, potential_terms
        As in :func:`single_band_model`.
    """
    base = single_band_model(
        dim=dim,
        potential_meV=potential_meV,
        materials=materials,
        inverse_mass_meV_nm2=inverse_mass_meV_nm2,
        potential_terms=potential_terms,
    )
    constant: ConstantTerm | None
    if delta_meV is None:
        constant = None
    elif _is_number(delta_meV):
        d0 = complex(cast(complex, delta_meV))
        constant = np.array([[0.0, d0], [d0.conjugate(), 0.0]])
    elif callable(delta_meV):
        func = delta_meV

        def constant_fn(x: NDArray[np.float64]) -> NDArray[np.complex128]:
            d = np.asarray(func(x), dtype=np.complex128).reshape(-1)
            if d.shape[0] != x.shape[1]:
                raise ValueError(
                    f"delta_meV: the callable returned {d.shape[0]} values for {x.shape[1]} points"
                )
            z = np.zeros_like(d)
            return np.array([[z, d], [d.conj(), z]])

        constant = constant_fn
    else:
        d = np.asarray(cast(ArrayLike, delta_meV), dtype=np.complex128)
        if d.ndim != 1:
            raise ValueError(
                f"delta_meV has shape {d.shape}; expected a number, a callable or a 1-D array "
                "over the mesh vertices"
            )
        _finite_or_raise(d, "delta_meV")
        c = np.zeros((d.shape[0], 2, 2), dtype=np.complex128)
        c[:, 0, 1] = d
        c[:, 1, 0] = d.conj()
        constant = c
    return KPModel(
        n_components=2,
        quadratic=base.quadratic,
        potential=base.potential,
        constant=constant,
        potential_terms=base.potential_terms,
        component_names=("+z", "-z"),
    )
