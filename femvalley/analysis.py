"""Observables of computed states: valley polarisation, dot occupancy, position and size.

:class:`StateObservables` assembles, once per mesh, the few matrices the observables need
(the mass matrix restricted to each dot region, and first and second moments of x and y);
calling it on an :class:`~femvalley.eigen.EigenResult` gives, per state,

- ``valley_polarization``: <tau_z> = w(+z) - w(-z);
- ``dot_weight``: probability in each dot region (columns in the order of ``dots``);
- ``x_mean_nm``, ``y_mean_nm``: centre of the density;
- ``x_std_nm``, ``y_std_nm``: its size (standard deviations).

All are exact for the finite-element states (consistent mass, no lumping). Units: nm.

:func:`fit_anticrossing` fits the lowest states of a detuning sweep to a two-dot, two-valley
model and returns the tunnel coupling, the detuning lever arm and the valley splitting of each
dot (:class:`AnticrossingFit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["AnticrossingFit", "StateObservables", "fit_anticrossing", "two_dot_model_meV"]


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


# -- anticrossing fit ---------------------------------------------------------------------------
_PARAMS = (
    "mean_meV",
    "mean_slope_meV_per_mV",
    "lever_arm_meV_per_mV",
    "detuning_offset_mV",
    "valley_splitting_L_meV",
    "valley_splitting_R_meV",
    "bare_tunnel_coupling_meV",
    "valley_phase_difference_rad",
)


def two_dot_model_meV(detuning_mV: Any, params: Any) -> NDArray[np.float64]:
    """Eigenvalues (meV, ascending; shape (P, 4)) of the two-dot, two-valley model.

    Basis: the lower and upper valley state of the left dot, then of the right dot. With
    ``m = mean + slope (eps - eps0)`` and ``d = lever (eps - eps0) / 2`` the diagonal is
    ``m - d -+ E_VL / 2`` (left) and ``m + d -+ E_VR / 2`` (right), so that
    ``E_R - E_L = lever (eps - eps0)``. Tunnelling conserves the z valley with amplitude
    ``t``; between valley eigenstates ``s, s' = -+1`` of the two dots it is
    ``t (1 + s s' e^{i dphi}) / 2``, where ``dphi`` is the difference of the valley phases.
    ``params`` are in the order of :data:`AnticrossingFit.parameter_names`.
    """
    mean, slope, lever, eps0, evl, evr, t, dphi = (float(v) for v in params)
    eps = np.atleast_1d(np.asarray(detuning_mV, dtype=np.float64)) - eps0
    m = mean + slope * eps
    d = 0.5 * lever * eps
    s = np.array([-1.0, 1.0])
    tun = 0.5 * t * (1.0 + np.outer(s, s) * np.exp(1j * dphi))
    h = np.zeros((eps.size, 4, 4), dtype=np.complex128)
    h[:, 0, 0] = m - d - 0.5 * abs(evl)
    h[:, 1, 1] = m - d + 0.5 * abs(evl)
    h[:, 2, 2] = m + d - 0.5 * abs(evr)
    h[:, 3, 3] = m + d + 0.5 * abs(evr)
    h[:, :2, 2:] = tun
    h[:, 2:, :2] = tun.conj().T
    return np.asarray(np.linalg.eigvalsh(h))


@dataclass(frozen=True)
class AnticrossingFit:
    """Two-dot, two-valley model fitted to the lowest four states of a detuning sweep.

    Attributes
    ----------
    tunnel_coupling_ueV : float
        Coupling of the lowest anticrossing (between the lower valley states of the two
        dots), ``t |cos(dphi / 2)|``: its smallest gap is twice this.
    lever_arm_meV_per_mV : float
        ``d(E_R - E_L) / d eps``: how fast the detuning moves one dot against the other.
    detuning_offset_mV : float
        Detuning of the lowest anticrossing (the dots aligned).
    valley_splitting_ueV : dict
        Valley splitting of ``dot_L`` and ``dot_R``.
    bare_tunnel_coupling_ueV, valley_phase_difference_rad : float
        ``t`` and ``dphi`` of :func:`two_dot_model_meV` (separately determined only when the
        sweep resolves the anticrossings between different valley states).
    min_gap_ueV : float
        Smallest ``E1 - E0`` of the fitted model (= 2 ``tunnel_coupling_ueV`` when the valley
        splittings are large next to it).
    rms_residual_ueV : float
        Root-mean-square misfit over all fitted energies.
    params : tuple of float
        All model parameters, for :func:`two_dot_model_meV`.
    """

    tunnel_coupling_ueV: float
    lever_arm_meV_per_mV: float
    detuning_offset_mV: float
    valley_splitting_ueV: dict[str, float]
    bare_tunnel_coupling_ueV: float
    valley_phase_difference_rad: float
    min_gap_ueV: float
    rms_residual_ueV: float
    params: tuple[float, ...]

    parameter_names = _PARAMS

    def energies_meV(self, detuning_mV: Any) -> NDArray[np.float64]:
        """Model energies (P, 4) at the given detunings."""
        return two_dot_model_meV(detuning_mV, self.params)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for JSON."""
        out = {k: v for k, v in self.__dict__.items() if k != "params"}
        out["params"] = dict(zip(_PARAMS, self.params))
        return out


def _line(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    if x.size >= 2 and np.ptp(x) > 0:
        b, a = np.polyfit(x, y, 1)
        return float(a), float(b)
    return (float(y.mean()) if y.size else 0.0), 0.0


def fit_anticrossing(
    detuning_mV: Any, energies_meV: Any, dot_weight: Any, *, localized: float = 0.9
) -> AnticrossingFit:
    """Fit the lowest four states of a sweep to :func:`two_dot_model_meV`.

    Parameters
    ----------
    detuning_mV : array_like, shape (P,)
        Detuning of every point.
    energies_meV : array_like, shape (P, >= 4)
        Energies, ascending per point (the first four are fitted).
    dot_weight : array_like, shape (P, >= 4, 2)
        Weight of every state in the left and right dot; it gives the starting values (which
        states belong to which dot far from the anticrossing).
    localized : float
        Weight above which a state counts as in one dot, for the starting values.

    Returns
    -------
    AnticrossingFit
    """
    from scipy.optimize import least_squares, minimize_scalar

    eps = np.asarray(detuning_mV, dtype=np.float64)
    e = np.asarray(energies_meV, dtype=np.float64)
    w = np.asarray(dot_weight, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] != eps.size or e.shape[1] < 4:
        raise ValueError(
            f"energies_meV has shape {e.shape}; need (points, >= 4) with points = {eps.size}"
        )
    if w.shape[:2] != e.shape[:2] or w.shape[2:] != (2,):
        raise ValueError(f"dot_weight has shape {w.shape}; need {(e.shape[0], e.shape[1], 2)}")
    ok = np.all(np.isfinite(e[:, :4]), axis=1)
    if ok.sum() < 4:
        raise ValueError(f"need at least 4 finished points to fit; have {int(ok.sum())}")
    eps, e, w = eps[ok], e[ok, :4], w[ok, :4]

    # starting values: straight lines through the lowest state localised in each dot
    lowest: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    splits: dict[int, list[float]] = {0: [], 1: []}
    for p in range(eps.size):
        for dot in (0, 1):
            idx = np.flatnonzero(w[p, :, dot] > localized)
            if idx.size:
                lowest[dot].append((eps[p], e[p, idx[0]]))
            if idx.size >= 2:
                splits[dot].append(e[p, idx[1]] - e[p, idx[0]])
    span = float(np.ptp(e)) or 1.0
    lines = []
    for dot in (0, 1):
        pts = np.asarray(lowest[dot]).reshape(-1, 2)
        lines.append(_line(pts[:, 0], pts[:, 1]) if len(pts) else (float(e[:, 0].mean()), 0.0))
    (al, bl), (ar, br) = lines
    lever = br - bl if abs(br - bl) > 1e-12 else span / (np.ptp(eps) or 1.0)
    eps0 = (al - ar) / lever
    slope = 0.5 * (bl + br)
    mean = 0.5 * (al + ar) + slope * eps0
    ev = [float(np.median(splits[d])) if splits[d] else 0.25 * span for d in (0, 1)]
    t0 = max(float(np.min(e[:, 1] - e[:, 0])) / 2, 1e-6)

    def residual(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((two_dot_model_meV(eps, x) - e).ravel() * 1e3)  # ueV

    best = None
    for dphi in (0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi):
        for t in (t0, 3 * t0):
            x0 = np.array([mean, slope, lever, eps0, ev[0], ev[1], t, dphi])
            sol = least_squares(residual, x0, method="lm", x_scale="jac", max_nfev=4000)
            if best is None or sol.cost < best.cost:
                best = sol
    assert best is not None
    x = best.x.copy()
    x[4:7] = np.abs(x[4:7])
    x[7] = float(np.mod(x[7], 2 * np.pi))
    t_eff = abs(x[6] * np.cos(0.5 * x[7]))

    def gap(v: float) -> float:
        ee = two_dot_model_meV([v], x)[0]
        return float(ee[1] - ee[0])

    halfwidth = 10 * max(t_eff, 1e-6) / max(abs(x[2]), 1e-12)
    g = minimize_scalar(
        gap,
        bounds=(x[3] - halfwidth, x[3] + halfwidth),
        method="bounded",
        options={"xatol": 1e-9 * max(1.0, halfwidth)},
    )
    return AnticrossingFit(
        tunnel_coupling_ueV=1e3 * t_eff,
        lever_arm_meV_per_mV=float(x[2]),
        detuning_offset_mV=float(x[3]),
        valley_splitting_ueV={"dot_L": 1e3 * float(x[4]), "dot_R": 1e3 * float(x[5])},
        bare_tunnel_coupling_ueV=1e3 * float(x[6]),
        valley_phase_difference_rad=float(x[7]),
        min_gap_ueV=1e3 * float(min(g.fun, gap(x[3]))),
        rms_residual_ueV=float(np.sqrt(np.mean(residual(x) ** 2))),
        params=tuple(float(v) for v in x),
    )
