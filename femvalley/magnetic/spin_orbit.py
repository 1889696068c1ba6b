"""The bulk Dresselhaus spin-orbit coupling of the two Z valleys.

In the two-band k.p model of silicon the bulk Dresselhaus interaction couples the two Z
valleys (it vanishes inside one valley): with ``D(k) = k_y sigma_y - k_x sigma_x`` and the
coupling constant ``Delta_so`` (about 1.7 meV nm in Si and 12.9 meV nm in Ge, from ab initio
band structures), it is ``Delta_so [[0, -i D], [i D, 0]]`` in the basis of the Bloch functions
of the two-band model.

femvalley's valley components are the envelopes of the ``+z`` and ``-z`` valleys with the
intervalley coupling ``Delta = A int exp(-2 i k0 z) U |psi|^2`` in the ``(+z, -z)`` entry.
The two-band model's inter-valley potential ``-i s_k V_inter`` in its ``(-, +)`` entry
(``s_k = (-1)^k`` per monolayer, ``V_inter = -A U``) gives the same ``Delta`` once its ``-``
Bloch function (at ``2 pi / a - k0'``, i.e. at ``+k0``) is femvalley's ``+z`` component and
its ``+`` Bloch function times ``-i`` is femvalley's ``-z`` component. In femvalley's basis
the Dresselhaus term is then real in the valley index:

    H_so = -Delta_so tau_x (x) (k_y sigma_y - k_x sigma_x),

with ``tau_x`` the first Pauli matrix on the valleys. For a uniform real ``Delta`` the valley
eigenstates are those of ``tau_x`` and each valley branch carries an intra-valley Dresselhaus
coupling ``-+Delta_so``; for a valley phase ``phi`` (``Delta = |Delta| e^(i phi)``) the
intra-valley part is ``-+Delta_so cos(phi)``: the valley phase sets the spin-orbit coupling of
a dot. The overall sign is not observable (a rotation of the spin by pi about z flips it).

In a field, ``k -> k + (e / hbar) A``: the term gains a part linear in ``B`` that keeps the
spectrum gauge invariant. Components are ordered (valley, spin) with the spin fastest
(:func:`femvalley.magnetic.with_spin`): ``(+z, up), (+z, down), (-z, up), (-z, down)``.

Units: meV nm (``coupling_meV_nm``), T, nm, meV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from femvalley.kp import KPOperators, coefficient_at_quadrature
from femvalley.magnetic.field import UniformField
from femvalley.typing import SparseMatrix
from femvalley.units import E_OVER_HBAR_PER_NM2_T

__all__ = ["DRESSELHAUS_SI_MEV_NM", "SpinOrbitTerm", "dresselhaus_term"]

#: The bulk Dresselhaus constant of silicon's Z valleys (meV nm), ab initio (HSE).
DRESSELHAUS_SI_MEV_NM: float = 1.7

_PAULI = (
    np.array([[0, 1], [1, 0]], dtype=np.complex128),
    np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
)
_TAU_X = np.array([[0.0, 1.0], [1.0, 0.0]])


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


def dresselhaus_term(
    operators: KPOperators,
    *,
    coupling_meV_nm: Any = DRESSELHAUS_SI_MEV_NM,
    field: UniformField | None = None,
) -> SpinOrbitTerm:
    """Assemble ``-Delta_so tau_x (x) (k_y sigma_y - k_x sigma_x)`` for four-component operators.

    Parameters
    ----------
    operators : KPOperators
        Two valleys with a spin each (four components, spin fastest), on a 2-D or 3-D mesh.
    coupling_meV_nm : number, region mapping, callable or array
        ``Delta_so`` (meV nm); a position-dependent value is ordered symmetrically,
        ``(Delta_so k + k Delta_so) / 2``.
    field : UniformField, optional
        A uniform field whose vector potential enters ``k`` (the part linear in ``B`` is
        returned as ``per_T``).
    """
    from skfem import asm

    from femvalley.forms import minimal_coupling, weighted_mass
    from femvalley.kp import check_hermitian

    n = int(operators.model.n_components)
    if n != 4:
        raise ValueError(
            f"the Dresselhaus term couples two valleys with a spin each (4 components); the "
            f"operators have {n} components (use femvalley.magnetic.with_spin on a two-valley "
            "model)"
        )
    basis = operators.basis
    if basis.mesh.dim() < 2:
        raise ValueError("the Dresselhaus term needs a mesh with x and y (2-D or 3-D)")
    c = coefficient_at_quadrature(coupling_meV_nm, basis, "coupling_meV_nm")
    interior = operators.interior
    # (c k_a + k_a c) / 2 is minimal_coupling with c * a = c / 2 (a form of (c k + k c))
    ones = np.ones_like(c)
    momentum = [
        sp.csr_matrix(asm(minimal_coupling(axis), basis, c=0.5 * c, a=ones))[interior][:, interior]
        for axis in (0, 1)
    ]
    # D = k_y sigma_y - k_x sigma_x ; H = -tau_x (x) D
    spin_x = sp.kron(sp.csr_matrix(np.kron(_TAU_X, _PAULI[0])), momentum[0])
    spin_y = sp.kron(sp.csr_matrix(np.kron(_TAU_X, _PAULI[1])), momentum[1])
    matrix = (spin_x - spin_y).tocsr()
    check_hermitian(matrix, name="the Dresselhaus term")
    per_T = None
    if field is not None:
        a_qp = E_OVER_HBAR_PER_NM2_T * field.vector_potential_T_nm(
            np.asarray(basis.global_coordinates())
        )
        shift = [
            sp.csr_matrix(asm(weighted_mass, basis, weight=c * a_qp[axis]))[interior][:, interior]
            for axis in (0, 1)
        ]
        per_T = (
            sp.kron(sp.csr_matrix(np.kron(_TAU_X, _PAULI[0])), shift[0])
            - sp.kron(sp.csr_matrix(np.kron(_TAU_X, _PAULI[1])), shift[1])
        ).tocsr()
    return SpinOrbitTerm(matrix=matrix, per_T=per_T, field=field)
