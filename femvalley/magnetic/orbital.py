"""The orbital effect of a uniform magnetic field: minimal coupling in the kinetic terms.

With ``k -> k + a``, ``a = (e / hbar) A`` (nm^-1; :data:`femvalley.units.E_OVER_HBAR_PER_NM2_T`),
each diagonal kinetic term ``k_x c_x k_x`` of a model becomes

    (k_x + a_x) c_x (k_x + a_x) = k_x c_x k_x + (a_x c_x k_x + k_x c_x a_x) + c_x a_x^2,

whose Galerkin matrices are the kinetic one, ``B L`` with
``L_ij = i int c_x a_x (d_x phi_i phi_j - phi_i d_x phi_j)`` (purely imaginary and
antisymmetric: Hermitian) and ``B^2 Q`` with ``Q_ij = int c_x a_x^2 phi_i phi_j``, where ``a``
is that of a 1 T field. Both are assembled once per direction and gauge
(:func:`orbital_field_terms`); a sweep over the field's magnitude ``B`` re-assembles nothing:
``H(B) = H(0) + B L + B^2 Q`` (:meth:`OrbitalFieldTerms.hamiltonian`).

The kinetic energy stays positive semi-definite in a field, so the spectrum's lower bound of
the model without field (:meth:`femvalley.kp.KPOperators.spectrum_lower_bound_meV`) still
holds, up to the quadrature error of ``Q``.

Checked against the Fock-Darwin spectrum of a 2-D harmonic dot, and for gauge invariance
(``tests/test_magnetic.py``).

Units: T, nm, meV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from femvalley.kp import KPOperators, coefficient_at_quadrature, condensed_mass
from femvalley.magnetic.field import UniformField
from femvalley.typing import SparseMatrix
from femvalley.units import E_OVER_HBAR_PER_NM2_T

__all__ = [
    "OrbitalFieldTerms",
    "valley_g_matrix",
    "orbital_field_terms",
    "zeeman_field_term",
    "zeeman_matrix_meV_per_T",
]


@dataclass(frozen=True, eq=False)
class OrbitalFieldTerms:
    """``L`` and ``Q`` of a uniform field (per T and per T^2), condensed like the operators.

    Attributes
    ----------
    field : UniformField
        Direction, gauge and origin.
    linear, quadratic : scipy.sparse.csr_matrix
        ``L`` (meV/T, complex Hermitian; with the Zeeman term when a g factor was given) and
        ``Q`` (meV/T^2, real symmetric), of the size of the operators' Hamiltonian
        (component-major).
    g_factor : float, ndarray or None
        The Zeeman term's g factor (None: no spin).
    """

    field: UniformField
    linear: SparseMatrix
    quadratic: SparseMatrix
    g_factor: Any = None

    def hamiltonian(self, operators: KPOperators, field_T: float, **scales: float) -> Any:
        """``H(B) = operators.hamiltonian(**scales) + B L + B^2 Q`` for a field of ``field_T``."""
        b = float(field_T)
        if not np.isfinite(b):
            raise ValueError(f"field_T = {field_T!r} must be a finite number (T)")
        h = operators.hamiltonian(**scales)
        if b == 0.0:
            return h
        return (h + b * self.linear + (b * b) * self.quadratic).tocsr()


def valley_g_matrix(g_factor: Any, n_orbital: int) -> NDArray[np.complex128]:
    """Return the g factor as an ``n_orbital`` x ``n_orbital`` Hermitian matrix.

    A number is ``g I``; a matrix (e.g. ``g0 I + dg tau_x`` on two valleys: the valley
    states of a real ``Delta`` get ``g0 +- dg``) is checked finite and Hermitian.
    """
    g = np.asarray(g_factor, dtype=np.complex128)
    if g.ndim == 0:
        if not np.isfinite(g) or g.imag != 0:
            raise ValueError(f"g_factor = {g_factor!r} must be a finite real number")
        return np.asarray(g.real * np.eye(n_orbital), dtype=np.complex128)
    if g.shape != (n_orbital, n_orbital) or not np.all(np.isfinite(g)):
        raise ValueError(
            f"g_factor has shape {g.shape}; expected a number or a finite {n_orbital} x "
            f"{n_orbital} matrix over the components without spin (the valleys)"
        )
    if np.abs(g - g.conj().T).max() > 1e-12 * max(1.0, float(np.abs(g).max())):
        raise ValueError("g_factor: a g matrix over the valleys must be Hermitian")
    return g


def zeeman_matrix_meV_per_T(field: UniformField, *, g_factor: Any, n_components: int) -> Any:
    """Return ``(mu_B / 2) G (x) n . sigma`` on the spin of every ``(orbital, spin)`` pair.

    The components are ordered with the spin fastest (``(valley +z, up), (+z, down), (-z, up),
    (-z, down)`` for four), so the matrix is ``G (x) (mu_B / 2) n . sigma`` (meV per T) with
    the g matrix ``G`` over the orbital components (:func:`valley_g_matrix`; a number is
    ``g I``).
    """
    from femvalley.units import BOHR_MAGNETON_MEV_PER_T

    if n_components % 2:
        raise ValueError(
            f"a Zeeman term needs a spin on every component pair; the model has "
            f"{n_components} components"
        )
    nx, ny, nz = field.direction
    sigma = np.array([[nz, nx - 1j * ny], [nx + 1j * ny, -nz]], dtype=np.complex128)
    g = valley_g_matrix(g_factor, n_components // 2)
    return np.kron(g, 0.5 * BOHR_MAGNETON_MEV_PER_T * sigma)


def orbital_field_terms(
    operators: KPOperators, field: UniformField, *, g_factor: Any = None
) -> OrbitalFieldTerms:
    """Assemble ``L`` and ``Q`` of a uniform field for the kinetic terms of ``operators``.

    Every kinetic term of the model must be diagonal (``k_a c_a k_a``) and act on every
    component alike (no component matrix): the effective-mass models of femvalley are.
    With ``g_factor`` (e.g. 2.0 for silicon), the components are (orbital, spin) pairs with
    the spin fastest, and the Zeeman term ``(g mu_B / 2) B . sigma`` joins ``L``: a uniform
    field's Zeeman term is ``Z (x) M`` with the scalar mass matrix ``M``.
    """
    from skfem import asm

    from femvalley.forms import minimal_coupling, weighted_mass

    model = operators.model
    basis = operators.basis
    dim = basis.mesh.dim()
    for t in model.quadratic:
        if t.axes[0] != t.axes[1] or t.components is not None:
            raise ValueError(
                f"quadratic{t.axes}: the orbital field is implemented for diagonal kinetic "
                "terms acting on every component alike"
            )
    pts = np.asarray(basis.global_coordinates())  # (dim, nelems, nqp)
    a_qp = E_OVER_HBAR_PER_NM2_T * field.vector_potential_T_nm(pts)  # nm^-1 per T
    interior = operators.interior
    ni = int(interior.size)
    lin = sp.csr_matrix((basis.N, basis.N), dtype=np.complex128)
    quad_weight = np.zeros(a_qp.shape[1:])
    for t in model.quadratic:
        axis = int(t.axes[0])
        if axis >= dim:
            continue
        c = coefficient_at_quadrature(t.coefficient, basis, f"quadratic{t.axes}.coefficient")
        lin = lin + asm(minimal_coupling(axis), basis, c=c, a=a_qp[axis])
        quad_weight = quad_weight + c * a_qp[axis] ** 2
    quad = asm(weighted_mass, basis, weight=quad_weight)
    n = int(model.n_components)

    def condensed(m: Any) -> SparseMatrix:
        block = sp.csr_matrix(m)[interior][:, interior]
        return sp.block_diag([block] * n, format="csr") if n > 1 else block.tocsr()

    linear = condensed(lin)
    if g_factor is not None:
        z = zeeman_matrix_meV_per_T(field, g_factor=g_factor, n_components=n)
        linear = (linear + sp.kron(sp.csr_matrix(z), operators.mass_scalar, format="csr")).tocsr()
    if ni:
        from femvalley.kp import check_hermitian

        check_hermitian(linear, name="the field term L")
    return OrbitalFieldTerms(
        field=field,
        linear=linear,
        quadratic=condensed(quad),
        g_factor=None if g_factor is None else valley_g_matrix(g_factor, n // 2),
    )


def zeeman_field_term(operators: KPOperators, field_T: Any, *, g_factor: Any = 2.0) -> SparseMatrix:
    """Return the Zeeman term ``(g mu_B / 2) B(r) . sigma`` of a position-dependent field.

    ``field_T(points)`` gives the field (T) at points (dim, ...) as an array (3, ...), e.g.
    the fixed field of a micro-magnet (:meth:`femvalley.magnetic.MicroMagnet.field_at_T`);
    or ``field_T`` holds the field's values (3, n) at the vertices or the DOFs (a field
    reduced to a Born-Oppenheimer plane). The components of ``operators`` are (orbital,
    spin) pairs with the spin fastest (:func:`femvalley.magnetic.with_spin`). Each Cartesian
    component contributes ``(I (x) (g mu_B / 2) sigma_i) (x) M[B_i]`` with the mass matrix
    weighted by ``B_i``.
    Only the spin sees this field (its vector potential, a weak correction for a
    micro-magnet, is not included).
    """
    from femvalley.units import BOHR_MAGNETON_MEV_PER_T

    n = int(operators.model.n_components)
    if n % 2:
        raise ValueError(
            f"a Zeeman term needs a spin on every component pair; the model has {n} components"
        )
    basis = operators.basis
    shape = (3, basis.nelems, basis.X.shape[1])
    if callable(field_T):
        values = np.asarray(field_T(np.asarray(basis.global_coordinates())), dtype=float)
    else:
        nodal = np.asarray(field_T, dtype=float)
        if nodal.ndim != 2 or nodal.shape[0] != 3:
            raise ValueError(
                f"field_T has shape {nodal.shape}; expected a callable or (3, n) values at the "
                f"{basis.mesh.nvertices} vertices or {basis.N} DOFs"
            )
        values = np.stack(
            [coefficient_at_quadrature(nodal[i], basis, f"field_T[{i}]") for i in range(3)]
        )
    try:
        values = np.broadcast_to(values, shape)
    except ValueError:
        raise ValueError(
            f"field_T returned shape {values.shape}; expected {shape} (the 3 components at "
            "the quadrature points)"
        ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError("field_T returned values that are not finite")
    interior = operators.interior
    paulis = (
        np.array([[0, 1], [1, 0]], dtype=np.complex128),
        np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
        np.array([[1, 0], [0, -1]], dtype=np.complex128),
    )
    scale = 0.5 * BOHR_MAGNETON_MEV_PER_T
    g = valley_g_matrix(g_factor, n // 2)
    out = sp.csr_matrix((n * interior.size, n * interior.size), dtype=np.complex128)
    for i, sigma in enumerate(paulis):
        if not np.any(values[i]):
            continue
        m = condensed_mass(operators, values[i], f"field_T[{i}]")
        out = out + sp.kron(sp.csr_matrix(np.kron(g, scale * sigma)), m)
    return out.tocsr()
