"""A spin on every component: the operators of a model doubled, spin fastest.

Without spin-orbit coupling the Hamiltonian of an ``n``-component model with spin is the
spinless one times the identity on the spin: :func:`with_spin` returns the ``2n``-component
operators (components ``(c, up), (c, down)`` for every component ``c``, component-major as
every femvalley operator) without assembling anything again. A field's Zeeman term
(:func:`femvalley.magnetic.orbital_field_terms` with a g factor) then acts on them.

Units: meV.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import scipy.sparse as sp

from femvalley.kp import KPModel, KPOperators
from femvalley.typing import SparseMatrix

__all__ = ["with_spin"]


def _doubled(matrix: SparseMatrix, n: int, ni: int) -> SparseMatrix:
    """Return the blocks ``(c, s), (c', s')`` of a component-major matrix: P[c, c'] delta(s, s')."""
    p = sp.csr_matrix(matrix)
    blocks: list[list[Any]] = [[None] * (2 * n) for _ in range(2 * n)]
    for c in range(n):
        for d in range(n):
            block = p[c * ni : (c + 1) * ni, d * ni : (d + 1) * ni]
            if block.nnz:
                for s in (0, 1):
                    blocks[2 * c + s][2 * d + s] = block
    for i in range(2 * n):  # keep every block row's size defined
        if blocks[i][i] is None:
            blocks[i][i] = sp.csr_matrix((ni, ni), dtype=p.dtype)
    return sp.bmat(blocks, format="csr")


def with_spin(operators: KPOperators) -> KPOperators:
    """Return the operators of the same model with a spin on every component (spin fastest)."""
    n = operators.n_components
    ni = int(operators.interior.size)
    names = tuple(f"{c}_{s}" for c in operators.model.component_names or () for s in ("up", "down"))
    model = KPModel(
        n_components=2 * n,
        quadratic=operators.model.quadratic,
        potential=operators.model.potential,
        potential_terms=operators.model.potential_terms,
        component_names=names,
    )
    fields = {k: v for k, v in operators.__dict__.items() if not k.startswith("_")}
    fields.update(
        model=model,
        kinetic=_doubled(operators.kinetic, n, ni),
        potential=_doubled(operators.potential, n, ni),
        constant=_doubled(operators.constant, n, ni),
        terms={k: _doubled(v, n, ni) for k, v in operators.terms.items()},
        mass=_doubled(operators.mass, n, ni),
    )
    return dataclasses.replace(operators, **fields)
