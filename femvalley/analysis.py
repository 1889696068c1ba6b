"""Observables of computed states: valley polarisation, dot occupancy, position and size.

:class:`StateObservables` assembles, once per mesh, the few matrices the observables need
(the mass matrix restricted to each dot region, and first and second moments of x and y);
calling it on an :class:`~femvalley.eigen.EigenResult` gives, per state,

- ``valley_polarization``: <tau_z> = w(+z) - w(-z);
- ``dot_weight``: probability in each dot region (columns in the order of ``dots``);
- ``x_mean_nm``, ``y_mean_nm``: centre of the density;
- ``x_std_nm``, ``y_std_nm``: its size (standard deviations).

All are exact for the finite-element states (consistent mass, no lumping). Units: nm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["StateObservables"]


@dataclass(frozen=True, eq=False)
class StateObservables:
    """Observables of states on one basis (build once, call per result).

    Parameters
    ----------
    basis : skfem.CellBasis
        The basis the states live on (its mesh needs the ``dots`` regions).
    dots : sequence of str
        Region names of the dots, e.g. ``("dot_L", "dot_R")``.
    """

    basis: Any
    dots: Sequence[str] = ("dot_L", "dot_R")

    def __post_init__(self) -> None:
        from skfem import BilinearForm, asm

        from femvalley.mesh import require_groups

        require_groups(self.basis.mesh, regions=list(self.dots))

        @BilinearForm
        def mass(u: Any, v: Any, w: Any) -> Any:
            return u * v

        @BilinearForm
        def moment(u: Any, v: Any, w: Any) -> Any:
            return w["f"] * u * v

        mats: dict[str, Any] = {"norm": asm(mass, self.basis).tocsr()}
        for d in self.dots:
            mats[d] = asm(mass, self.basis.with_elements(self.basis.mesh.subdomains[d])).tocsr()
        xq = np.asarray(self.basis.global_coordinates())
        for axis, name in ((0, "x"), (1, "y")):
            mats[name] = asm(moment, self.basis, f=xq[axis]).tocsr()
            mats[name + "2"] = asm(moment, self.basis, f=xq[axis] ** 2).tocsr()
        object.__setattr__(self, "_mats", mats)

    def _expect(self, name: str, components: NDArray[Any]) -> NDArray[np.float64]:
        """``sum_c psi_c^H M psi_c`` for every state; components (k, n_components, N)."""
        k, c, n = components.shape
        x = components.reshape(k * c, n).T
        mx = self._mats[name] @ x  # type: ignore[attr-defined]
        return np.asarray(np.einsum("nj,nj->j", x.conj(), mx).real.reshape(k, c).sum(axis=1))

    def __call__(self, result: Any) -> dict[str, NDArray[np.float64]]:
        """Observables of every state of ``result`` (an EigenResult with ``components``)."""
        comps = result.components
        if comps is None:
            raise ValueError("the result carries no per-component vectors (components is None)")
        norm = self._expect("norm", comps)
        two = comps.shape[1] == 2
        out: dict[str, NDArray[np.float64]] = {
            "valley_polarization": (
                np.asarray(result.valley_polarization, dtype=np.float64)
                if two
                else np.full(comps.shape[0], np.nan)
            ),
            "dot_weight": np.stack([self._expect(d, comps) / norm for d in self.dots], axis=1),
        }
        for axis in ("x", "y"):
            mean = self._expect(axis, comps) / norm
            second = self._expect(axis + "2", comps) / norm
            out[f"{axis}_mean_nm"] = mean
            out[f"{axis}_std_nm"] = np.sqrt(np.maximum(second - mean**2, 0.0))
        return out
