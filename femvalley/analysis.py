"""Observables of computed states: valley polarisation, dot occupancy, position and size.

:class:`StateObservables` assembles, once per mesh, the few matrices the observables need
(the mass matrix restricted to each dot region, and first and second moments of x and y);
calling it on an :class:`~femvalley.eigen.EigenResult` gives, per state,

- ``valley_polarization``: <tau_z> = w(+z) - w(-z) (zero for any state when the valley
  coupling is purely off-diagonal, as in the two-valley model);
- ``valley_parity``: <tau_Delta>, the valley polarisation in the local valley eigenbasis:
  ``tau_Delta(r) = [[0, e^{i phi(r)}], [e^{-i phi(r)}, 0]]`` with ``Delta = |Delta| e^{i phi}``,
  so -1 for a state entirely in the lower local valley state, +1 in the upper one (needs
  ``delta_meV`` at the vertices; NaN otherwise);
- ``dot_weight``: probability in each dot region (columns in the order of ``dots``);
- ``x_mean_nm``, ``y_mean_nm``: centre of the density;
- ``x_std_nm``, ``y_std_nm``: its size (standard deviations).

All are exact for the finite-element states (consistent mass, no lumping). Units: nm.

:func:`fit_anticrossing` fits the lowest states of a detuning sweep to a two-dot, two-valley
model and returns the tunnel coupling, the detuning lever arm and the valley splitting of each
dot (:class:`AnticrossingFit`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AnticrossingFit",
    "MinimumGap",
    "StateObservables",
    "fit_anticrossing",
    "minimum_gap",
    "refine_anticrossing",
    "two_dot_model_meV",
]


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
    delta_meV: Any = None

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
        if self.delta_meV is not None:
            dv: NDArray[np.complex128] = np.asarray(self.delta_meV, dtype=np.complex128)
            if dv.shape != (self.basis.mesh.nvertices,):
                raise ValueError(
                    f"delta_meV has shape {dv.shape}; need ({self.basis.mesh.nvertices},) "
                    "(one value per mesh vertex)"
                )
            size = np.abs(dv)
            phasor = np.where(size > 0, dv / np.where(size > 0, size, 1.0), 0.0)
            from femvalley.mesh import p1_basis

            pq = p1_basis(self.basis).interpolate(phasor)

            @BilinearForm(dtype=np.complex128)
            def weighted(u: Any, v: Any, w: Any) -> Any:
                return w["f"] * u * v

            mats["valley_phase"] = asm(weighted, self.basis, f=pq).tocsr()
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
        if two and "valley_phase" in self._mats:  # type: ignore[attr-defined]
            w = self._mats["valley_phase"]  # type: ignore[attr-defined]
            plus = comps[:, 0, :].T
            minus = comps[:, 1, :].T
            par = 2 * np.real(np.einsum("nj,nj->j", plus.conj(), w @ minus)) / norm
            out["valley_parity"] = np.asarray(par)
        else:
            out["valley_parity"] = np.full(comps.shape[0], np.nan)
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
        Detuning of the lowest anticrossing (the lower valley states of the two dots aligned;
        the bare levels align at ``params[3]``, shifted from it by the difference of the
        valley splittings).
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
    tunnel_coupling_from: str = "model fit"

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

    # the lowest anticrossing: the smallest model gap over the sweep (grid, then refined)
    grid = np.linspace(eps.min(), eps.max(), 4001)
    gaps = np.diff(two_dot_model_meV(grid, x)[:, :2], axis=1)[:, 0]
    j = int(np.argmin(gaps))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    g = minimize_scalar(gap, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    eps_star, gmin = (float(g.x), float(g.fun)) if g.fun <= gaps[j] else (grid[j], gaps[j])
    return AnticrossingFit(
        tunnel_coupling_ueV=float(1e3 * t_eff),
        lever_arm_meV_per_mV=float(x[2]),
        detuning_offset_mV=float(eps_star),
        valley_splitting_ueV={"dot_L": 1e3 * float(x[4]), "dot_R": 1e3 * float(x[5])},
        bare_tunnel_coupling_ueV=1e3 * float(x[6]),
        valley_phase_difference_rad=float(x[7]),
        min_gap_ueV=1e3 * float(gmin),
        rms_residual_ueV=float(np.sqrt(np.mean(residual(x) ** 2))),
        params=tuple(float(v) for v in x),
    )


def refine_anticrossing(
    fit: AnticrossingFit,
    operators: Any,
    vectors: Sequence[Any],
    *,
    term: str = "detuning",
    window_mV: tuple[float, float],
) -> AnticrossingFit:
    """Resolve the lowest anticrossing with a reduced basis; return the refined fit.

    A sweep rarely samples the anticrossing closer than its width (2 t / lever arm, often a
    small fraction of a mV), so ``t`` from the model fit is poorly determined. Here the states
    of the two sweep points that bracket the anticrossing span a small subspace in which
    ``H(eps) = H0 + eps D`` is projected (Rayleigh-Ritz: its eigenvalues are upper bounds,
    and for the two localised ground states on either side they are accurate to second order
    in the subspace error). The smallest ``E1 - E0`` of the projected problem over
    ``window_mV`` gives the tunnel coupling (half of it) and the detuning of the anticrossing.

    Parameters
    ----------
    fit : AnticrossingFit
        The model fit (its lever arm and valley splittings are kept).
    operators : KPOperators
        The assembled model with the potential term ``term``.
    vectors : sequence of ndarray (ndof, k)
        Condensed eigenvectors at the bracketing points (:attr:`EigenResult.vectors`).
    term : str
        Name of the detuning term in ``operators``.
    window_mV : (float, float)
        Detuning interval to search (the two bracketing points).
    """
    from scipy.linalg import eigh
    from scipy.optimize import minimize_scalar

    from femvalley.reduced import orthonormal_span

    v = np.hstack([np.asarray(x) for x in vectors])
    q = orthonormal_span(operators.mass, v, rank_tol=1e-10)
    h0 = q.conj().T @ (operators.h0 @ q)
    d = q.conj().T @ (operators.terms[term] @ q)
    h0, d = 0.5 * (h0 + h0.conj().T), 0.5 * (d + d.conj().T)

    def gap(eps: float) -> float:
        e = eigh(h0 + eps * d, eigvals_only=True, subset_by_index=(0, 1))
        return float(e[1] - e[0])

    a, b = (float(x) for x in window_mV)
    grid = np.linspace(a, b, 401)
    gaps = np.array([gap(x) for x in grid])
    j = int(np.argmin(gaps))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    best = minimize_scalar(gap, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
    eps0, gmin = (best.x, best.fun) if best.fun <= gaps[j] else (grid[j], gaps[j])
    return dataclasses.replace(
        fit,
        tunnel_coupling_ueV=0.5e3 * float(gmin),
        min_gap_ueV=1e3 * float(gmin),
        detuning_offset_mV=float(eps0),
        tunnel_coupling_from="reduced-basis refinement between the bracketing sweep points",
    )


@dataclass(frozen=True)
class MinimumGap:
    """Smallest ``E1 - E0`` of an anticrossing against a control parameter.

    Attributes
    ----------
    gap_meV : float
        The smallest gap; the tunnel coupling is half of it.
    at_mV : float
        Where it is (e.g. the detuning of the anticrossing).
    evaluations : int
        Gap evaluations (eigensolves) used.
    """

    gap_meV: float
    at_mV: float
    evaluations: int

    @property
    def tunnel_coupling_meV(self) -> float:
        """``t = gap / 2`` (meV)."""
        return 0.5 * self.gap_meV


def minimum_gap(
    gap_meV: Any,
    *,
    bracket_mV: tuple[float, float],
    xtol_mV: float = 1e-4,
    max_evaluations: int = 40,
) -> MinimumGap:
    """Locate the smallest gap of a two-level anticrossing by successive hyperbola fits.

    Near an anticrossing ``gap^2 = a^2 (x - x0)^2 + 4 t^2`` exactly for two levels, a
    quadratic in ``x``: three gaps give ``x0`` and ``t``. The fit is repeated with the three
    samples nearest the current estimate (other levels bend the hyperbola far away) until
    ``x0`` moves by less than ``xtol_mV``. This resolves anticrossings far narrower than
    the bracket, where a bracketing minimiser on ``gap`` itself (a cusp on the bracket's
    scale) needs many more eigensolves.

    Parameters
    ----------
    gap_meV : callable float -> float
        ``E1 - E0`` (meV) at a value of the control parameter (mV).
    bracket_mV : (float, float)
        Interval holding the anticrossing.
    xtol_mV : float
        Convergence in the position.
    max_evaluations : int
        Largest number of gap evaluations.

    Raises
    ------
    ValueError
        If the smallest gap is at an end of the bracket (no anticrossing inside).
    RuntimeError
        If the iteration does not converge.
    """
    lo, hi = (float(v) for v in bracket_mV)
    if not hi > lo:
        raise ValueError(f"bracket_mV = {bracket_mV!r} must be (low, high) with low < high")
    xs: list[float] = []
    gs: list[float] = []

    def sample(x: float) -> None:
        if any(abs(x - v) <= 0.25 * xtol_mV for v in xs):
            return
        xs.append(x)
        gs.append(float(gap_meV(x)))

    for x in (lo, 0.5 * (lo + hi), hi):
        sample(x)
    prev = np.inf
    while len(xs) < max_evaluations:
        best = float(xs[int(np.argmin(gs))])
        order = np.argsort(np.abs(np.asarray(xs) - best))[:3]
        x3, g3 = np.asarray(xs)[order], np.asarray(gs)[order] ** 2
        c2, c1, _ = np.polyfit(x3 - best, g3, 2)
        if c2 > 0:
            x0 = best - 0.5 * c1 / c2
        else:  # not convex (far from the anticrossing): bisect towards the smaller side
            x0 = best + 0.5 * (x3[1] - best)
        x0 = float(np.clip(x0, lo, hi))
        if abs(x0 - prev) < xtol_mV and abs(x0 - best) < xtol_mV:
            break
        prev = x0
        n = len(xs)
        sample(x0)
        if len(xs) == n:  # already sampled: probe on both sides to refine the fit
            w = max(xtol_mV, 1e-3 * (hi - lo))
            sample(float(np.clip(x0 - w, lo, hi)))
            sample(float(np.clip(x0 + w, lo, hi)))
            if len(xs) == n:
                break
    else:
        raise RuntimeError(
            f"minimum_gap did not converge in {max_evaluations} evaluations (samples at "
            f"{np.round(sorted(xs), 4).tolist()} mV)"
        )
    j = int(np.argmin(gs))
    if xs[j] in (lo, hi):
        raise ValueError(
            f"the smallest gap in bracket_mV = {bracket_mV!r} is at its end ({xs[j]:.4g} mV): "
            "the anticrossing is outside; widen the bracket"
        )
    return MinimumGap(gap_meV=gs[j], at_mV=xs[j], evaluations=len(xs))
