"""The bulk Dresselhaus spin-orbit coupling between the two Z valleys.

In the two-band k.p model of silicon the Bloch functions ``u_-``, ``u_+`` sit at the X point
and the envelopes carry the valleys' offsets ``exp(-+ i k0' z)`` from it
(``k0' = 2 pi / a - k0``, :data:`femvalley.units.K0_PRIME_PER_NM`). The bulk Dresselhaus
interaction couples ``u_-`` and ``u_+``: ``Delta_so [[0, -i D], [i D, 0]]`` with
``D(k) = k_y sigma_y - k_x sigma_x`` and ``Delta_so`` about 1.7 meV nm in Si (12.9 meV nm in
Ge), from ab initio band structures.

femvalley's valley components are smooth envelopes ``F_(+z)``, ``F_(-z)`` with the plane waves
of the valley minima taken out, and the intervalley coupling
``Delta = A int exp(-2 i k0 z) U |psi|^2`` in the ``(+z, -z)`` entry. Written in these
components (``+z`` is the two-band model's ``-`` envelope ``exp(-i k0' z) F_(+z)``; its ``+``
envelope is ``-i exp(i k0' z) F_(-z)``, which reproduces the two-band model's inter-valley
potential as femvalley's ``Delta``), the Dresselhaus term becomes

    H_so = -Delta_so [[0, eta D], [D eta^*, 0]]  (symmetrised: (eta D + D eta) / 2),

with the valley form factor ``eta(r) = exp(2 i k0' z)``. For envelopes that vary slowly
along z the oscillating ``eta`` averages out: only the sharp structure of the confinement (the
interfaces) gives the valley states a spin-orbit coupling, set by the ``2 k0'`` Fourier
component of the density. On a 3-D mesh ``eta`` is taken at the quadrature points (the mesh
must resolve the period ``pi / k0'`` = 1.8 nm along z); on a plane (Born-Oppenheimer) it is
the column's ``<chi| exp(2 i k0' z) |chi>``, passed as ``valley_form_factor``.

With a uniform real ``Delta`` and ``eta = 1`` the term is ``-Delta_so tau_x (x) D`` and each
valley branch is a dot with the coupling ``-+Delta_so``; a common phase of ``Delta`` and
``eta`` changes nothing (it is the phase of the ``-z`` component).

In a field, ``k -> k + (e / hbar) A``: the term gains a part linear in ``B`` that keeps the
spectrum gauge invariant. Components are (valley, spin) with the spin fastest
(:func:`femvalley.magnetic.with_spin`): ``(+z, up), (+z, down), (-z, up), (-z, down)``.

Units: meV nm (``coupling_meV_nm``), T, nm, meV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from femvalley.kp import KPOperators, coefficient_at_quadrature, condensed_mass
from femvalley.magnetic.field import UniformField
from femvalley.typing import SparseMatrix
from femvalley.units import E_OVER_HBAR_PER_NM2_T, K0_PRIME_PER_NM

__all__ = ["DRESSELHAUS_SI_MEV_NM", "SpinOrbitTerm", "dresselhaus_term", "valley_form_factor"]

#: The bulk Dresselhaus constant of silicon's Z valleys (meV nm), ab initio (HSE).
DRESSELHAUS_SI_MEV_NM: float = 1.7

_SIGMA_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_SIGMA_Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)


@dataclass(frozen=True, eq=False)
class SpinOrbitTerm:
    """A spin-orbit term, condensed like the operators it was built for.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        The term without field (meV; complex Hermitian).
    per_T : scipy.sparse.csr_matrix or None
        Its part linear in a uniform field (meV per T) for the field it was built with, so
        that the term at field ``B`` is ``matrix + B per_T``.
    field : UniformField or None
        That field.
    """

    matrix: SparseMatrix
    per_T: SparseMatrix | None = None
    field: UniformField | None = None

    def at(self, field_T: float) -> SparseMatrix:
        """Return the term at a field of ``field_T`` (T) along the field it was built with."""
        b = float(field_T)
        if b == 0.0 or self.per_T is None:
            return self.matrix
        return (self.matrix + b * self.per_T).tocsr()


def valley_form_factor(z_nm: Any) -> Any:
    """Return ``exp(2 i k0' z)`` at heights ``z_nm`` (the 3-D valley form factor)."""
    return np.exp(2j * K0_PRIME_PER_NM * np.asarray(z_nm, dtype=float))


def dresselhaus_term(
    operators: KPOperators,
    *,
    coupling_meV_nm: Any = DRESSELHAUS_SI_MEV_NM,
    valley_form_factor: Any = None,
    field: UniformField | None = None,
) -> SpinOrbitTerm:
    """Assemble ``-Delta_so [[0, eta D], [D eta^*, 0]]`` for four-component operators.

    Parameters
    ----------
    operators : KPOperators
        Two valleys with a spin each (four components, spin fastest), on a 2-D or 3-D mesh.
    coupling_meV_nm : number, region mapping, callable or array
        ``Delta_so`` (meV nm).
    valley_form_factor : complex coefficient, optional
        ``eta(r)``: by default ``exp(2 i k0' z)`` on a 3-D mesh; a 2-D mesh needs it (the
        column's ``<chi| exp(2 i k0' z) |chi>``, or 1 for the two-band model's own basis).
    field : UniformField, optional
        A uniform field whose vector potential enters ``k`` (the part linear in ``B`` is
        returned as ``per_T``).
    """
    from skfem import asm

    from femvalley.forms import minimal_coupling
    from femvalley.kp import check_hermitian

    n = int(operators.model.n_components)
    if n != 4:
        raise ValueError(
            f"the Dresselhaus term couples two valleys with a spin each (4 components); the "
            f"operators have {n} components (use femvalley.magnetic.with_spin on a two-valley "
            "model)"
        )
    basis = operators.basis
    dim = basis.mesh.dim()
    if dim < 2:
        raise ValueError("the Dresselhaus term needs a mesh with x and y (2-D or 3-D)")
    c = coefficient_at_quadrature(coupling_meV_nm, basis, "coupling_meV_nm")
    pts = np.asarray(basis.global_coordinates())
    if valley_form_factor is None:
        if dim != 3:
            raise ValueError(
                "valley_form_factor is needed on a 2-D mesh: the column's "
                "<chi| exp(2 i k0' z) |chi> (or 1 in the two-band model's own valley basis)"
            )
        eta = np.exp(2j * K0_PRIME_PER_NM * pts[2])
    else:
        eta = coefficient_at_quadrature(
            valley_form_factor, basis, "valley_form_factor", complex_ok=True
        )
    weight = c * eta  # Delta_so eta at the quadrature points
    interior = operators.interior

    def block(values: Any, axis: int | None) -> SparseMatrix:
        """``(w k_a + k_a w) / 2`` for ``axis``, or ``int w phi_i phi_j`` for None."""
        if axis is None:
            return condensed_mass(operators, values, "valley_form_factor")
        ones = np.ones_like(values.real)
        m = asm(minimal_coupling(axis), basis, c=0.5 * values, a=ones)
        return sp.csr_matrix(m)[interior][:, interior]

    def assemble_term(bx: SparseMatrix, by: SparseMatrix) -> SparseMatrix:
        # the (+z, -z) block -(eta D) = bx sigma_x - by sigma_y (spin, node); the (-z, +z)
        # block is its adjoint
        upper = sp.kron(sp.csr_matrix(_SIGMA_X), bx) - sp.kron(sp.csr_matrix(_SIGMA_Y), by)
        zero = sp.csr_matrix(upper.shape, dtype=np.complex128)
        return sp.bmat([[zero, upper], [upper.conj().T, zero]], format="csr")

    matrix = assemble_term(block(weight, 0), block(weight, 1))
    check_hermitian(matrix, name="the Dresselhaus term")
    per_T = None
    if field is not None:
        a_qp = E_OVER_HBAR_PER_NM2_T * field.vector_potential_T_nm(pts)
        per_T = assemble_term(block(weight * a_qp[0], None), block(weight * a_qp[1], None))
    return SpinOrbitTerm(matrix=matrix, per_T=per_T, field=field)
