"""Observables of computed states: valley polarisation, dot occupancy, position and size.

:class:`StateObservables` assembles, once per mesh, the few matrices the observables need
(the mass matrix restricted to each dot region, and first and second moments of x and y);
calling it on an :class:`~femvalley.eigen.EigenResult` gives, per state,

- ``valley_polarization``: <tau_z> = w(+z) - w(-z) (zero for any state when the valley
  coupling is purely off-diagonal, as in the two-valley model);
- ``valley_parity``: <tau_Delta>, the valley polarisation in the local valley eigenbasis:
  ``tau_Delta(r) = [[0, e^{i phi(r)}], [e^{-i phi(r)}, 0]]`` with ``Delta = |Delta| e^{i phi}``,
  so -1 for a state entirely in the lower local valley state, +1 in the upper one (needs
  ``delta_meV``; NaN otherwise);
- ``dot_weight``: probability in each dot region (columns in the order of ``dots``);
- ``x_mean_nm``, ``y_mean_nm``: centre of the density;
- ``x_std_nm``, ``y_std_nm``: its size (standard deviations).

All are exact for the finite-element states (consistent mass, no lumping). Units: nm.

:func:`fit_anticrossing` fits the lowest states of a detuning sweep to a two-dot, two-valley
model and returns the tunnel coupling, the detuning lever arm and the valley splitting of each
dot (:class:`AnticrossingFit`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.typing import Basis, SparseMatrix

__all__ = [
    "analyse_sweep",
    "Anticrossing",
    "AnticrossingFit",
    "dot_doublet",
    "DotDoublet",
    "fit_anticrossing",
    "FullSpectrum",
    "Levels",
    "lever_arm",
    "minimum_gap",
    "MinimumGap",
    "ProjectedObservables",
    "ReducedSpectrum",
    "resolve_anticrossings",
    "StateObservables",
    "SweepAnalysis",
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
    delta_meV : ndarray (nnodes,) complex, optional
        The valley coupling at every DOF of the basis (``basis.doflocs``, interpolated with
        the basis's elements) or at the vertices (interpolated with P1 elements; the same
        for a P1 basis): enables ``valley_parity`` and ``valley_coupling_meV``.
    terms : dict of str to ndarray (nnodes,), optional
        Potential terms at the DOFs or the vertices (e.g. ``{"detuning": D}`` in meV/mV):
        each gives ``slope_<name>``, the Hellmann-Feynman derivative ``<psi| D |psi>`` of
        the energy.
    """

    basis: Basis
    dots: Sequence[str] = ("dot_L", "dot_R")
    delta_meV: ArrayLike | None = None
    terms: Mapping[str, ArrayLike] | None = None

    def __post_init__(self) -> None:
        from skfem import asm

        from femvalley.forms import complex_weighted_mass, mass, weighted_mass
        from femvalley.mesh import p1_basis, require_groups

        require_groups(self.basis.mesh, regions=list(self.dots))

        nv = self.basis.mesh.nvertices
        mats: dict[str, SparseMatrix] = {"norm": asm(mass, self.basis).tocsr()}
        for d in self.dots:
            assert self.basis.mesh.subdomains is not None  # require_groups found the region
            mats[d] = asm(mass, self.basis.with_elements(self.basis.mesh.subdomains[d])).tocsr()
        xq = np.asarray(self.basis.global_coordinates())
        for axis, name in ((0, "x"), (1, "y")):
            mats[name] = asm(weighted_mass, self.basis, weight=xq[axis]).tocsr()
            mats[name + "2"] = asm(weighted_mass, self.basis, weight=xq[axis] ** 2).tocsr()
        p1 = p1_basis(self.basis)

        def at_quadrature(values: ArrayLike, name: str, dtype: type) -> NDArray[Any]:
            v: NDArray[Any] = np.asarray(values, dtype=dtype)
            if v.shape == (self.basis.N,):
                return self.basis.interpolate(v)
            if v.shape == (nv,):
                return p1.interpolate(v)
            raise ValueError(
                f"{name} has shape {v.shape}; need ({self.basis.N},) (one value per DOF of "
                f"the basis) or ({nv},) (one value per mesh vertex)"
            )

        for name, field in (self.terms or {}).items():
            fq = at_quadrature(field, f"terms[{name!r}]", np.float64)
            mats["term:" + name] = asm(weighted_mass, self.basis, weight=fq).tocsr()
        if self.delta_meV is not None:
            dv: NDArray[np.complex128] = np.asarray(self.delta_meV, dtype=np.complex128)
            size = np.abs(dv)
            phasor = np.where(size > 0, dv / np.where(size > 0, size, 1.0), 0.0)
            mats["valley_phase"] = asm(
                complex_weighted_mass,
                self.basis,
                weight=at_quadrature(phasor, "delta_meV", np.complex128),
            ).tocsr()
            mats["delta"] = asm(
                complex_weighted_mass,
                self.basis,
                weight=at_quadrature(dv, "delta_meV", np.complex128),
            ).tocsr()
        object.__setattr__(self, "_mats", mats)

    def matrix(self, name: str) -> SparseMatrix:
        """Return the assembled matrix of an observable on all DOFs (scalar, N x N).

        ``"norm"`` (mass), a dot region's name (mass restricted to it), ``"x"``, ``"y"``,
        ``"x2"``, ``"y2"`` (moments), ``"term:<name>"`` (a potential term), ``"valley_phase"``
        (mass weighted by ``Delta / |Delta|``) and ``"delta"`` (weighted by ``Delta``; complex
        symmetric: the valley-coupling block).
        """
        mats = self._mats  # type: ignore[attr-defined]
        if name not in mats:
            raise KeyError(f"no observable matrix {name!r}; available: {sorted(mats)}")
        return mats[name]

    @property
    def term_names(self) -> tuple[str, ...]:
        """Names of the potential terms whose slopes are computed."""
        return tuple(self.terms or ())

    def _expect(self, name: str, components: NDArray[Any]) -> NDArray[np.float64]:
        """``sum_c psi_c^H M psi_c`` for every state; components (k, n_components, N)."""
        k, c, n = components.shape
        x = components.reshape(k * c, n).T
        mx = self.matrix(name) @ x
        return np.asarray(np.einsum("nj,nj->j", x.conj(), mx).real.reshape(k, c).sum(axis=1))

    def __call__(self, result: Any) -> dict[str, NDArray[Any]]:
        """Observables of every state of ``result`` (an EigenResult with ``components``).

        Keys: ``valley_polarization``, ``valley_parity``, ``dot_weight`` (k, n_dots),
        ``x_mean_nm``, ``y_mean_nm``, ``x_std_nm``, ``y_std_nm``, ``valley_coupling_meV``
        (complex ``<Delta>`` over the state's density; NaN without ``delta_meV``) and
        ``slope_<term>`` for every potential term.
        """
        comps = result.components
        if comps is None:
            raise ValueError("the result carries no per-component vectors (components is None)")
        norm = self._expect("norm", comps)
        two = comps.shape[1] == 2
        mats = self._mats  # type: ignore[attr-defined]
        out: dict[str, NDArray[Any]] = {
            "valley_polarization": (
                np.asarray(result.valley_polarization, dtype=np.float64)
                if two
                else np.full(comps.shape[0], np.nan)
            ),
            "dot_weight": np.stack([self._expect(d, comps) / norm for d in self.dots], axis=1),
        }
        if two and "valley_phase" in mats:
            plus = comps[:, 0, :].T
            minus = comps[:, 1, :].T
            w = mats["valley_phase"]
            par = 2 * np.real(np.einsum("nj,nj->j", plus.conj(), w @ minus)) / norm
            out["valley_parity"] = np.asarray(par)
        else:
            out["valley_parity"] = np.full(comps.shape[0], np.nan)
        if "delta" in mats:
            k, c, n = comps.shape
            x = comps.reshape(k * c, n).T
            dx = np.einsum("nj,nj->j", x.conj(), mats["delta"] @ x).reshape(k, c).sum(axis=1)
            out["valley_coupling_meV"] = np.asarray(dx / norm, dtype=np.complex128)
        else:
            out["valley_coupling_meV"] = np.full(comps.shape[0], np.nan, dtype=np.complex128)
        for name in self.term_names:
            out["slope_" + name] = self._expect("term:" + name, comps) / norm
        for axis in ("x", "y"):
            mean = self._expect(axis, comps) / norm
            second = self._expect(axis + "2", comps) / norm
            out[f"{axis}_mean_nm"] = mean
            out[f"{axis}_std_nm"] = np.sqrt(np.maximum(second - mean**2, 0.0))
        return out


@dataclass(frozen=True, eq=False)
class ProjectedObservables:
    """The observables of :class:`StateObservables` from reduced coefficients, at O(m^2) a state.

    Every matrix of ``observables`` is projected once onto the orbitals ``Phi`` of a
    single-valley reduced basis (``Phi^T A Phi``, m x m); the observables of a Ritz vector
    ``x = (Phi y+, Phi y-)`` are then ``y^H (Phi^T A Phi) y`` over both valleys, the same
    numbers as :meth:`StateObservables.__call__` on the expanded vectors (to rounding) at a
    cost independent of the mesh.

    Build with :meth:`project`; call with a :class:`~femvalley.rb.ReducedSolution` whose
    ``coefficients`` are set.
    """

    basis: Any
    dots: tuple[str, ...]
    term_names: tuple[str, ...]
    matrices: Mapping[str, NDArray[Any]]

    @classmethod
    def project(cls, observables: StateObservables, basis: Any) -> ProjectedObservables:
        """Project ``observables``' matrices onto ``basis`` (a ``SingleValleyBasis``)."""
        names = ["norm", *observables.dots, "x", "x2", "y", "y2"]
        names += ["term:" + t for t in observables.term_names]
        mats = {n: np.real(basis.project_scalar(observables.matrix(n))) for n in names}
        for n in ("valley_phase", "delta"):
            try:
                mats[n] = basis.project_scalar(observables.matrix(n))
            except KeyError:  # no valley map given to the observables
                pass
        return cls(
            basis=basis,
            dots=tuple(observables.dots),
            term_names=tuple(observables.term_names),
            matrices=mats,
        )

    def __call__(self, solution: Any) -> dict[str, NDArray[Any]]:
        """Observables of every state of ``solution`` (the keys of StateObservables)."""
        y = solution.coefficients
        if y is None:
            raise ValueError("the solution carries no reduced coefficients")
        b, mats = self.basis, self.matrices

        def expect(name: str) -> NDArray[np.float64]:
            return np.asarray(np.real(b.diagonal_expectation(mats[name], y)))

        norm = expect("norm")
        out: dict[str, NDArray[Any]] = {
            "valley_polarization": np.asarray(
                solution.result.valley_polarization, dtype=np.float64
            ),
            "dot_weight": np.stack([expect(d) / norm for d in self.dots], axis=1),
        }
        k = norm.size
        if "valley_phase" in mats:
            out["valley_parity"] = b.off_diagonal_expectation(mats["valley_phase"], y) / norm
        else:
            out["valley_parity"] = np.full(k, np.nan)
        if "delta" in mats:
            dx = b.diagonal_expectation(mats["delta"], y)
            out["valley_coupling_meV"] = np.asarray(dx / norm, dtype=np.complex128)
        else:
            out["valley_coupling_meV"] = np.full(k, np.nan, dtype=np.complex128)
        for name in self.term_names:
            out["slope_" + name] = expect("term:" + name) / norm
        for axis in ("x", "y"):
            mean = expect(axis) / norm
            second = expect(axis + "2") / norm
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


def two_dot_model_meV(
    detuning_mV: ArrayLike, params: Sequence[float] | NDArray[np.float64]
) -> NDArray[np.float64]:
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
    standard_errors: tuple[float, ...] = ()

    parameter_names = _PARAMS

    def energies_meV(self, detuning_mV: ArrayLike) -> NDArray[np.float64]:
        """Model energies (P, 4) at the given detunings."""
        return two_dot_model_meV(detuning_mV, self.params)

    @property
    def not_resolved(self) -> list[str]:
        """Parameters whose standard error is at least their magnitude (or unknown)."""
        if len(self.standard_errors) != len(self.params):
            return list(_PARAMS)
        return [
            n
            for n, v, e in zip(_PARAMS, self.params, self.standard_errors)
            if not (np.isfinite(e) and e < abs(v))
        ]

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for JSON; the fit is a description, never a headline number."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("params", "standard_errors")}
        out["params"] = dict(zip(_PARAMS, self.params))
        out["standard_errors"] = dict(zip(_PARAMS, self.standard_errors))
        out["not_resolved"] = self.not_resolved
        out["note"] = (
            "least-squares description of the sweep by the two-dot model, with standard "
            "errors from its Jacobian; the study's numbers come from the resolved analysis"
        )
        return out


def _line(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    if x.size >= 2 and np.ptp(x) > 0:
        b, a = np.polyfit(x, y, 1)
        return float(a), float(b)
    return (float(y.mean()) if y.size else 0.0), 0.0


def fit_anticrossing(
    detuning_mV: ArrayLike,
    energies_meV: ArrayLike,
    dot_weight: ArrayLike,
    *,
    localized: float = 0.9,
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
    # standard errors from the Jacobian at the optimum (residuals in ueV, parameters in meV)
    jac = np.asarray(best.jac, dtype=float)
    dof = max(int(jac.shape[0] - jac.shape[1]), 1)
    s2 = float(2.0 * best.cost / dof)
    try:
        cov = np.linalg.pinv(jac.T @ jac) * s2
        se = tuple(float(np.sqrt(max(c, 0.0))) for c in np.diag(cov))
    except np.linalg.LinAlgError:
        se = tuple(float("inf") for _ in x)
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
        standard_errors=se,
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
    max_evaluations: int = 60,
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
        Largest tolerated error of the position; the iteration goes on until the position
        is known to a thousandth of the anticrossing's width (estimated from the fit), so
        the gap is exact to about 1e-6 relative however narrow the anticrossing.
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
    floor = 4 * np.finfo(float).eps * max(abs(lo), abs(hi), 1.0)
    tol = [float(xtol_mV)]  # shrinks to a fraction of the anticrossing's width

    def sample(x: float) -> None:
        if any(abs(x - v) <= 0.25 * tol[0] for v in xs):
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
        c2, c1, c0 = np.polyfit(x3 - best, g3, 2)
        if c2 > 0:
            x0 = best - 0.5 * c1 / c2
            # gap^2 = c2 (x - x0)^2 + gmin^2: the width of the anticrossing is gmin / sqrt(c2);
            # the position must be known far inside it for the gap to be exact (it is
            # stationary there: an offset dx adds c2 dx^2 / (2 gmin))
            gmin2 = max(c0 - 0.25 * c1 * c1 / c2, 0.0)
            width = float(np.sqrt(gmin2 / c2))
            tol[0] = max(min(float(xtol_mV), 1e-3 * width), floor)
        else:  # not convex (far from the anticrossing): bisect towards the smaller side
            x0 = best + 0.5 * (x3[1] - best)
        x0 = float(np.clip(x0, lo, hi))
        if abs(x0 - prev) < tol[0] and abs(x0 - best) < tol[0]:
            break
        prev = x0
        n = len(xs)
        sample(x0)
        if len(xs) == n:  # already sampled: probe on both sides to refine the fit
            w = max(tol[0], 1e-3 * (hi - lo)) if tol[0] >= float(xtol_mV) else 10 * tol[0]
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


# -- resolved spectra: levels with certified bounds, anticrossings by root finding -----------
@dataclass(frozen=True, eq=False)
class Levels:
    """The lowest states at one detuning, with what the derived numbers need.

    Attributes
    ----------
    detuning_mV : float
    energies_meV : ndarray (k,)
        Ascending.
    bounds_meV : ndarray (k,)
        Certified bound of each energy's solver error. With ``one_sided`` (Ritz values,
        which are upper bounds of the exact finite-element eigenvalues) the error ``E_i -
        E_i(exact)`` lies in ``[0, bounds_meV[i]]``; otherwise in ``[-b_i, b_i]``. ``inf``
        where nothing is certified.
    slopes_meV_per_mV : ndarray (k,)
        ``dE_i / d eps = <psi_i| D |psi_i>`` (Hellmann-Feynman).
    slope_bounds_meV_per_mV : ndarray (k,)
        Bound of the slopes' solver error (from the eigenvector error, Davis-Kahan).
    dot_weight : ndarray (k, 2)
        Probability in the left and right dot.
    valley_parity : ndarray (k,)
        ``<tau_Delta>``: -1 in the lower, +1 in the upper local valley state.
    valley_coupling_meV : ndarray (k,) complex
        ``<Delta>`` over each state's density (its modulus is half the first-order valley
        splitting of the orbital, its phase the valley phase).
    one_sided : bool
    """

    detuning_mV: float
    energies_meV: NDArray[np.float64]
    bounds_meV: NDArray[np.float64]
    slopes_meV_per_mV: NDArray[np.float64]
    slope_bounds_meV_per_mV: NDArray[np.float64]
    dot_weight: NDArray[np.float64]
    valley_parity: NDArray[np.float64]
    valley_coupling_meV: NDArray[np.complex128]
    one_sided: bool = True

    @property
    def k(self) -> int:
        """Number of states."""
        return int(self.energies_meV.size)

    def gap_bound_meV(self, i: int, j: int) -> float:
        """Bound of the solver error of ``E_j - E_i``.

        Both errors lie in ``[0, b]`` for Ritz values, so their difference lies in
        ``[-b_i, b_j]``: the bound is ``max(b_i, b_j)``, not the sum.
        """
        bi, bj = float(self.bounds_meV[i]), float(self.bounds_meV[j])
        return max(bi, bj) if self.one_sided else bi + bj

    def character(self, i: int) -> tuple[int, int]:
        """``(dot, parity)`` of state ``i``: dot 0 (left) or 1 (right), parity -1 or +1."""
        dot = int(np.argmax(self.dot_weight[i]))
        par = self.valley_parity[i]
        return dot, (0 if not np.isfinite(par) else (1 if par > 0 else -1))


Spectrum = Callable[[float], Levels]


def _slope_bounds(
    theta: NDArray[np.float64],
    residual_meV: NDArray[np.float64],
    bounds: NDArray[np.float64],
    d_norm: float,
) -> NDArray[np.float64]:
    """Davis-Kahan bound of the Hellmann-Feynman slope error of each Ritz pair.

    ``sin(angle) <= r_i / delta_i`` with ``delta_i`` a lower bound of the distance from
    ``theta_i`` to every other exact eigenvalue; a Rayleigh quotient of ``D`` then moves by at
    most ``2 ||D|| sin(angle)``. The last state's upper neighbour is unknown: its bound uses
    its lower neighbour only when that is the closer one, otherwise ``inf``.
    """
    k = theta.size
    out = np.full(k, np.inf)
    b = float(np.max(bounds)) if k else 0.0
    for i in range(k):
        below = theta[i] - theta[i - 1] - b if i > 0 else np.inf
        above = theta[i + 1] - theta[i] - b if i + 1 < k else np.nan
        if np.isnan(above):
            continue
        delta = min(below, above)
        if delta > residual_meV[i]:
            out[i] = 2.0 * d_norm * min(1.0, float(residual_meV[i] / delta))
    return out


class ReducedSpectrum:
    """:class:`Levels` at any detuning from a certified single-valley reduced basis.

    Every call is one ``2m x 2m`` Hermitian problem (milliseconds); the observables come
    from projected matrices (dot masses, the valley coupling and its phase), so nothing is
    computed on the mesh. A point the basis cannot certify gets ``bounds_meV = inf`` (and the
    numbers derived from it are reported as not certified), or is passed to ``fallback``.

    Parameters
    ----------
    basis : SingleValleyBasis
    observables : StateObservables
        On the study's basis, with the dot regions (its matrices are projected once).
    term : str
        The detuning term.
    fallback : callable, optional
        ``detuning_mV -> Levels`` for points the basis cannot certify (e.g. a full solve).
    """

    def __init__(
        self,
        basis: Any,
        observables: StateObservables,
        *,
        term: str = "detuning",
        fallback: Spectrum | None = None,
        dot_mass: Sequence[NDArray[np.float64]] | None = None,
    ) -> None:
        self.basis = basis
        self.term = term
        self.fallback = fallback
        self.dot_mass = (
            list(dot_mass)
            if dot_mass is not None
            else [basis.project_scalar(observables.matrix(d)) for d in observables.dots]
        )
        delta = basis.couple.delta_meV
        size = np.abs(delta)
        phasor = np.where(size > 0, delta / np.where(size > 0, size, 1.0), 0.0)
        self.phase_matrix = basis.project_coupling(phasor)
        lo, hi = basis.operators.terms_range_meV[term]
        self.d_norm = max(abs(lo), abs(hi))
        self.evaluations = 0

    def __call__(self, detuning_mV: float) -> Levels:
        """Levels at one detuning (mV)."""
        self.evaluations += 1
        b = self.basis
        sol = b.solve({self.term: float(detuning_mV)}, vectors=False)
        if not sol.certified and self.fallback is not None:
            return self.fallback(detuning_mV)
        y = sol.coefficients
        theta = np.asarray(sol.energies_meV, dtype=float)
        bounds = (
            np.asarray(sol.state_bounds_meV, dtype=float)
            if sol.state_bounds_meV is not None
            else np.full(theta.size, sol.error_bound_meV)
        )
        if not sol.certified:
            bounds = np.full(theta.size, np.inf)
        weights = np.stack([b.diagonal_expectation(m, y).real for m in self.dot_mass], axis=1)
        return Levels(
            detuning_mV=float(detuning_mV),
            energies_meV=theta,
            bounds_meV=bounds,
            slopes_meV_per_mV=np.asarray(sol.term_expectations_meV[self.term], dtype=float),
            slope_bounds_meV_per_mV=_slope_bounds(theta, sol.residual_meV, bounds, self.d_norm),
            dot_weight=weights,
            valley_parity=b.off_diagonal_expectation(self.phase_matrix, y),
            valley_coupling_meV=np.asarray(b.diagonal_expectation(b.couple.b, y), complex),
        )


class FullSpectrum:
    """:class:`Levels` from full finite-element solves (``k + 1`` states per call).

    The bounds are those of the Ritz values of the computed eigenvectors (Kahan and the
    quadratic bound from their residual block in the ``M^-1`` norm), with the ``(k+1)``-th
    computed state as the next level (its own residual subtracted); like every full solve
    here, the eigensolver is trusted not to skip a state.

    Parameters
    ----------
    operators : KPOperators
    observables : StateObservables
        With ``terms={term: D}`` for the slopes.
    k : int
        States per call.
    """

    def __init__(
        self,
        operators: Any,
        observables: StateObservables,
        *,
        k: int,
        term: str = "detuning",
        backend: str = "auto",
    ) -> None:
        from femvalley.rb import MassSolver

        if term not in observables.term_names:
            raise ValueError(
                f"observables carry no term {term!r} (terms: {list(observables.term_names)})"
            )
        self.operators = operators
        self.observables = observables
        self.k = int(k)
        self.term = term
        self.backend = backend
        self.mass = MassSolver(operators, backend=backend)
        lo, hi = operators.terms_range_meV[term]
        self.d_norm = max(abs(lo), abs(hi))
        self.evaluations = 0

    def __call__(self, detuning_mV: float) -> Levels:
        """Levels at one detuning (mV), by a full solve."""
        from femvalley.eigen import EigenResult, solve
        from femvalley.rb import ritz_bound, state_bounds

        self.evaluations += 1
        ops = self.operators
        scales = {self.term: float(detuning_mV)}
        res = solve(
            ops,
            k=self.k + 1,
            scales=scales,
            backend=self.backend,  # type: ignore[arg-type]
            warm_start=np.random.default_rng(0).standard_normal((ops.ndof, 1)),
        )
        x = np.asarray(res.vectors)
        theta = np.asarray(res.energies_meV, dtype=float)
        r = ops.hamiltonian(**scales) @ x - (ops.mass @ x) * theta
        gram = 0.5 * (r.conj().T @ self.mass(r))
        gram = gram + gram.conj().T
        resid = np.sqrt(np.maximum(np.real(np.diag(gram)), 0.0))
        k = self.k
        lower = float(theta[k] - resid[k])
        rho = float(np.sqrt(max(float(np.linalg.eigvalsh(gram[:k, :k])[-1]), 0.0)))
        rounding = 64 * np.finfo(float).eps * float(np.max(np.abs(theta)))
        bound, _ = ritz_bound(theta[:k], rho, lower, rounding)
        bounds = state_bounds(theta[:k], gram[:k, :k], bound, rounding=rounding)
        sub = EigenResult(
            energies_meV=theta[:k],
            vectors=x[:, :k],
            components=None if res.components is None else res.components[:k],
            weights=res.weights[:k],
            residuals=res.residuals[:k],
            backend=res.backend,
            shift_meV=res.shift_meV,
            timings_s=res.timings_s,
        )
        obs = self.observables(sub)
        return Levels(
            detuning_mV=float(detuning_mV),
            energies_meV=theta[:k],
            bounds_meV=bounds,
            slopes_meV_per_mV=np.asarray(obs["slope_" + self.term], dtype=float),
            slope_bounds_meV_per_mV=_slope_bounds(theta[:k], resid[:k], bounds, self.d_norm),
            dot_weight=np.asarray(obs["dot_weight"], dtype=float),
            valley_parity=np.asarray(obs["valley_parity"], dtype=float),
            valley_coupling_meV=np.asarray(obs["valley_coupling_meV"], dtype=complex),
        )


@dataclass(frozen=True)
class Anticrossing:
    """A resolved anticrossing between states ``lower`` and ``lower + 1``.

    Attributes
    ----------
    lower : int
        Index of the lower branch (0: the ground state).
    detuning_mV : float
        Where the gap is smallest (root of ``d(E_{i+1} - E_i)/d eps``, Hellmann-Feynman).
    gap_ueV : float
        The smallest gap ``E_{i+1} - E_i``.
    gap_bound_ueV : float
        Certified bound of the gap's solver error (including the location tolerance).
    kind : str
        ``"interdot"`` (the branches exchange their dot) or ``"valley"`` (same dot, they
        exchange their valley parity).
    before, after : tuple of ((dot, parity), (dot, parity))
        Character ``(dot, valley parity)`` of the lower and upper branch below and above the
        anticrossing (dot 0 = left, 1 = right; parity -1 lower / +1 upper valley state).
    slope_difference_meV_per_mV : float
        ``|d(E_a - E_b)/d eps|`` of the crossing diabatic levels, from the branches' slopes
        away from the anticrossing.
    """

    lower: int
    detuning_mV: float
    gap_ueV: float
    gap_bound_ueV: float
    kind: str
    before: tuple[tuple[int, int], tuple[int, int]]
    after: tuple[tuple[int, int], tuple[int, int]]
    slope_difference_meV_per_mV: float

    @property
    def resolved(self) -> bool:
        """Whether the gap exceeds its bound (otherwise only ``gap < bound`` is known)."""
        return bool(self.gap_ueV > self.gap_bound_ueV)

    @property
    def tunnel_coupling_ueV(self) -> float:
        """``t = gap / 2``."""
        return 0.5 * self.gap_ueV

    @property
    def tunnel_coupling_bound_ueV(self) -> float:
        """Bound of ``t``'s solver error (half the gap's)."""
        return 0.5 * self.gap_bound_ueV

    @property
    def width_mV(self) -> float:
        """Detuning width of the anticrossing, ``gap / slope difference``."""
        a = self.slope_difference_meV_per_mV
        return float(1e-3 * self.gap_ueV / a) if a > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON); an unresolved gap is given as an upper bound only."""
        out: dict[str, Any] = {
            "states": [self.lower, self.lower + 1],
            "kind": self.kind,
            "detuning_mV": self.detuning_mV,
            "resolved": self.resolved,
            "gap_bound_ueV": self.gap_bound_ueV,
            "slope_difference_meV_per_mV": self.slope_difference_meV_per_mV,
            "before": [list(c) for c in self.before],
            "after": [list(c) for c in self.after],
        }
        if self.resolved:
            out["gap_ueV"] = self.gap_ueV
            out["tunnel_coupling_ueV"] = self.tunnel_coupling_ueV
            out["tunnel_coupling_bound_ueV"] = self.tunnel_coupling_bound_ueV
        else:
            out["gap_below_ueV"] = self.gap_bound_ueV + max(self.gap_ueV, 0.0)
            out["tunnel_coupling_below_ueV"] = 0.5 * out["gap_below_ueV"]
        return out


def _character_pair(lv: Levels, i: int) -> tuple[tuple[int, int], tuple[int, int]]:
    return lv.character(i), lv.character(i + 1)


def _clear_change(a: Levels, b: Levels, s: int) -> bool:
    """Whether state ``s`` clearly changes its dot or valley character from ``a`` to ``b``."""
    wa = float(a.dot_weight[s, 0] / max(float(np.sum(a.dot_weight[s])), 1e-300))
    wb = float(b.dot_weight[s, 0] / max(float(np.sum(b.dot_weight[s])), 1e-300))
    if (wa - 0.5) * (wb - 0.5) < 0 and min(abs(wa - 0.5), abs(wb - 0.5)) > 0.2:
        return True
    pa, pb = float(a.valley_parity[s]), float(b.valley_parity[s])
    return bool(np.isfinite(pa) and np.isfinite(pb) and pa * pb < 0 and min(abs(pa), abs(pb)) > 0.4)


def _refine_hidden(
    spectrum: Spectrum,
    grid: NDArray[np.float64],
    lv: list[Levels],
    *,
    top: int,
    min_width: float,
    max_evaluations: int = 400,
) -> tuple[NDArray[np.float64], list[Levels]]:
    """Bisect grid intervals that hide an anticrossing from the slope-sign test.

    A state that clearly changes its character (dot or valley) across an interval took part
    in an anticrossing (or a crossing) there; the test of :func:`resolve_anticrossings` sees
    it only if one of the state's two gaps has its slope going from negative to positive
    across the interval, clearly (beyond 5 % of the largest slope at both ends). When several
    anticrossings share an interval (valley splittings of the order of the grid spacing
    times the lever arm) the signs can cancel or come out by accident; such intervals are
    halved until the test sees every change, down to ``min_width`` and ``max_evaluations``
    new points.
    """
    # a sign change between slope differences far from zero: a gap whose two states are
    # nearly parallel at an end (a valley doublet of one dot) changes sign by accident
    tau = 0.05 * max(float(np.max(np.abs(x.slopes_meV_per_mV[: top + 2]))) for x in lv)

    def bracket(la: Levels, lb: Levels, i: int) -> bool:
        if i < 0 or i > top:
            return False
        ga = la.slopes_meV_per_mV[i + 1] - la.slopes_meV_per_mV[i]
        gb = lb.slopes_meV_per_mV[i + 1] - lb.slopes_meV_per_mV[i]
        return bool(ga < -tau and tau < gb)

    def hides(la: Levels, lb: Levels) -> bool:
        return any(
            _clear_change(la, lb, s) and not (bracket(la, lb, s - 1) or bracket(la, lb, s))
            for s in range(top + 2)
        )

    xs, out = [float(grid[0])], [lv[0]]
    evaluations = 0
    for j in range(grid.size - 1):
        stack = [(float(grid[j + 1]), lv[j + 1])]
        xa, la = float(grid[j]), lv[j]
        while stack:
            xb, lb = stack[-1]
            if evaluations < max_evaluations and xb - xa > min_width and hides(la, lb):
                xm = 0.5 * (xa + xb)
                stack.append((xm, spectrum(xm)))
                evaluations += 1
                continue
            stack.pop()
            xs.append(xb)
            out.append(lb)
            xa, la = xb, lb
    return np.asarray(xs), out


def resolve_anticrossings(
    spectrum: Spectrum,
    detuning_mV: ArrayLike,
    *,
    levels: Sequence[Levels] | None = None,
    max_lower: int | None = None,
) -> list[Anticrossing]:
    """Every anticrossing of adjacent computed states inside the sweep range, resolved.

    On the sweep grid, the Hellmann-Feynman derivative of each gap ``g_i = E_{i+1} - E_i``
    is ``s_{i+1} - s_i``; where it changes sign from negative to positive between two
    points, the gap has a minimum there, however narrow. It is located by Brent's method
    on that derivative (each evaluation one ``spectrum`` call), to a position accurate far
    below the anticrossing's width, so the minimum gap is exact to the solver's bound (the
    gap is stationary there). The branches' characters (dot, valley parity) are compared
    well outside the width: a minimum counts as an anticrossing when the two branches
    exchange their character (``"interdot"`` if the dots differ, ``"valley"`` otherwise).

    Parameters
    ----------
    spectrum : callable ``detuning_mV -> Levels``
        E.g. :class:`ReducedSpectrum` (cheap) or :class:`FullSpectrum`.
    detuning_mV : array_like (P,)
        The sweep grid (ascending or not).
    levels : sequence of Levels, optional
        ``spectrum`` already evaluated on the grid (in the grid's order).
    max_lower : int, optional
        Consider pairs ``(i, i+1)`` with ``i <= max_lower`` only (default: all).

    Returns
    -------
    list of Anticrossing
        Ordered by lower state, then detuning. Empty when the range brackets none.
    """
    from scipy.optimize import brentq

    eps = np.asarray(detuning_mV, dtype=np.float64)
    if eps.ndim != 1 or eps.size < 2:
        raise ValueError(f"detuning_mV has shape {eps.shape}; need at least 2 points")
    order = np.argsort(eps)
    grid = eps[order]
    lv = [spectrum(float(e)) for e in grid] if levels is None else [levels[j] for j in order]
    k = min(x.k for x in lv)
    top = k - 2 if max_lower is None else min(int(max_lower), k - 2)
    span = float(grid[-1] - grid[0])
    xtol = max(1e-13 * max(abs(grid[0]), abs(grid[-1]), 1.0), 1e-300)
    grid, lv = _refine_hidden(spectrum, grid, lv, top=top, min_width=1e-9 * max(span, 1.0))
    slopes = np.array([x.slopes_meV_per_mV[:k] for x in lv])  # (P, k)
    found: list[Anticrossing] = []
    for i in range(top + 1):
        gp = slopes[:, i + 1] - slopes[:, i]
        for j in range(grid.size - 1):
            if not (gp[j] < 0.0 < gp[j + 1]):
                continue
            cache: dict[float, Levels] = {float(grid[j]): lv[j], float(grid[j + 1]): lv[j + 1]}

            def at(x: float, cache: dict[float, Levels] = cache) -> Levels:
                if x not in cache:
                    cache[x] = spectrum(x)
                return cache[x]

            def dgap(x: float, i: int = i, at: Callable[[float], Levels] = at) -> float:
                s = at(x).slopes_meV_per_mV
                return float(s[i + 1] - s[i])

            x0 = float(brentq(dgap, float(grid[j]), float(grid[j + 1]), xtol=xtol, maxiter=200))
            here = at(x0)
            gap = float(here.energies_meV[i + 1] - here.energies_meV[i])
            # slope difference of the diabatic levels: the largest |g'| on the neighbouring
            # grid points (the hyperbola's asymptotes)
            near = gp[max(j - 1, 0) : j + 3]
            a = float(np.max(np.abs(near)))
            width = gap / a if a > 0 else span
            # characters outside the width (10 widths, or down to 2 where another anticrossing
            # is that close: 5 % mixing left there), but not beyond the neighbouring grid
            # points (farther out the branches may take part in other anticrossings)
            lo, hi = float(grid[max(j - 1, 0)]), float(grid[min(j + 2, grid.size - 1)])
            for widths in (10.0, 5.0, 3.0, 2.0):
                offset = min(max(widths * width, 1e3 * xtol), 0.5 * span)
                below = at(float(max(x0 - offset, lo)))
                above = at(float(min(x0 + offset, hi)))
                before, after = _character_pair(below, i), _character_pair(above, i)
                if before[0] == after[1] and before[1] == after[0] and before[0] != before[1]:
                    break
            else:
                continue  # the branches do not exchange their character
            kind = "interdot" if before[0][0] != before[1][0] else "valley"
            # location tolerance: the gap is a hyperbola, g(x0 + dx) - g(x0) <= a^2 dx^2 / g
            loc = (a * xtol) ** 2 / gap if gap > 0 else a * xtol
            bound = here.gap_bound_meV(i, i + 1) + loc
            found.append(
                Anticrossing(
                    lower=i,
                    detuning_mV=x0,
                    gap_ueV=1e3 * gap,
                    gap_bound_ueV=1e3 * bound,
                    kind=kind,
                    before=before,
                    after=after,
                    slope_difference_meV_per_mV=a,
                )
            )
    found.sort(key=lambda c: (c.lower, c.detuning_mV))
    return found


@dataclass(frozen=True)
class DotDoublet:
    """The lowest valley doublet of one dot at one detuning.

    Attributes
    ----------
    dot : int
        0 (left) or 1 (right).
    detuning_mV : float
    states : (int, int)
        Indices of the lower and upper valley state (paired by dot weight).
    valley_splitting_ueV, bound_ueV : float
        ``E_upper - E_lower`` and the certified bound of its solver error.
    valley_phase_rad : float
        ``arg <Delta>`` over the doublet's density.
    localisation : float
        The smaller dot weight of the two states (1: fully in the dot).
    """

    dot: int
    detuning_mV: float
    states: tuple[int, int]
    valley_splitting_ueV: float
    bound_ueV: float
    valley_phase_rad: float
    localisation: float


def dot_doublet(levels: Levels, dot: int) -> DotDoublet | None:
    """Return the two lowest states mostly in ``dot`` as a doublet (``None`` if < 2)."""
    idx = [i for i in range(levels.k) if levels.dot_weight[i, dot] > 0.5]
    if len(idx) < 2:
        return None
    a, b = idx[0], idx[1]
    coupling = 0.5 * (levels.valley_coupling_meV[a] + levels.valley_coupling_meV[b])
    return DotDoublet(
        dot=dot,
        detuning_mV=levels.detuning_mV,
        states=(a, b),
        valley_splitting_ueV=1e3 * float(levels.energies_meV[b] - levels.energies_meV[a]),
        bound_ueV=1e3 * levels.gap_bound_meV(a, b),
        valley_phase_rad=float(np.angle(coupling)) if np.isfinite(coupling) else float("nan"),
        localisation=float(min(levels.dot_weight[a, dot], levels.dot_weight[b, dot])),
    )


def lever_arm(levels: Levels, *, localized: float = 0.9) -> tuple[float, float]:
    """Detuning lever arm ``d(E_R - E_L)/d eps`` (meV/mV) and its bound, Hellmann-Feynman.

    The slopes of the lowest state localised in each dot (weight above ``localized``);
    ``(nan, nan)`` when one dot has none.
    """
    picks = []
    for dot in (0, 1):
        idx = np.flatnonzero(levels.dot_weight[:, dot] > localized)
        if not idx.size:
            return float("nan"), float("nan")
        picks.append(int(idx[0]))
    left, right = picks
    s, sb = levels.slopes_meV_per_mV, levels.slope_bounds_meV_per_mV
    return float(s[right] - s[left]), float(sb[right] + sb[left])


@dataclass(frozen=True)
class SweepAnalysis:
    """The resolved numbers of a detuning sweep (no fit).

    Attributes
    ----------
    anticrossings : list of Anticrossing
        Every anticrossing of adjacent computed states in the range.
    tunnel_coupling : Anticrossing or None
        The lowest interdot anticrossing (states 0 and 1); ``None`` when the range brackets
        none.
    doublets : dict of int to DotDoublet
        Per dot, its valley doublet at the sweep point where it is best localised.
    valley_splitting_range_ueV : dict of int to (float, float)
        Per dot, the smallest and largest doublet splitting over the sweep points where it
        is localised (weight > 0.9).
    lever_arm_meV_per_mV, lever_arm_bound_meV_per_mV : float
        At the sweep point where both dots hold a localised state and its certified bound is
        smallest (far from the anticrossings; the detuning operator is linear, so the lever
        arm of the diabatic levels barely depends on where it is taken).
    lever_arm_detuning_mV : float
    """

    anticrossings: list[Anticrossing]
    tunnel_coupling: Anticrossing | None
    doublets: dict[int, DotDoublet]
    valley_splitting_range_ueV: dict[int, tuple[float, float]]
    lever_arm_meV_per_mV: float
    lever_arm_bound_meV_per_mV: float
    lever_arm_detuning_mV: float

    def as_dict(self, dots: Sequence[str] = ("dot_L", "dot_R")) -> dict[str, Any]:
        """Plain values (JSON)."""
        tc = self.tunnel_coupling
        out: dict[str, Any] = {
            "anticrossings": [c.as_dict() for c in self.anticrossings],
            "lowest_interdot_anticrossing": None if tc is None else tc.as_dict(),
            "valley_splitting": {
                dots[d]: {
                    "valley_splitting_ueV": v.valley_splitting_ueV,
                    "bound_ueV": v.bound_ueV,
                    "valley_phase_rad": v.valley_phase_rad,
                    "at_detuning_mV": v.detuning_mV,
                    "states": list(v.states),
                    "localisation": v.localisation,
                    "range_over_sweep_ueV": list(self.valley_splitting_range_ueV.get(d, ())),
                }
                for d, v in self.doublets.items()
            },
            "lever_arm_meV_per_mV": self.lever_arm_meV_per_mV,
            "lever_arm_bound_meV_per_mV": self.lever_arm_bound_meV_per_mV,
            "lever_arm_at_detuning_mV": self.lever_arm_detuning_mV,
        }
        if tc is None:
            out["note"] = "the detuning range brackets no interdot anticrossing of E0 and E1"
        return out


def analyse_sweep(
    spectrum: Spectrum, detuning_mV: ArrayLike, *, levels: Sequence[Levels] | None = None
) -> SweepAnalysis:
    """Resolve the anticrossings, the valley doublets of both dots and the lever arm."""
    eps = np.asarray(detuning_mV, dtype=np.float64)
    lv = [spectrum(float(e)) for e in eps] if levels is None else list(levels)
    crossings = resolve_anticrossings(spectrum, eps, levels=lv)
    interdot = [c for c in crossings if c.lower == 0 and c.kind == "interdot"]
    tc = min(interdot, key=lambda c: c.gap_ueV) if interdot else None
    doublets: dict[int, DotDoublet] = {}
    ranges: dict[int, tuple[float, float]] = {}
    for dot in (0, 1):
        found = [d for d in (dot_doublet(x, dot) for x in lv) if d is not None]
        if not found:
            continue
        doublets[dot] = max(found, key=lambda d: d.localisation)
        good = [d.valley_splitting_ueV for d in found if d.localisation > 0.9]
        if good:
            ranges[dot] = (float(min(good)), float(max(good)))
    # the lever arm where it is best certified (far from every anticrossing)
    best = (float("nan"), float("inf"), float("nan"))
    for j in range(eps.size):
        la, lb = lever_arm(lv[j])
        if np.isfinite(la) and (lb < best[1] or not np.isfinite(best[0])):
            best = (la, lb, float(eps[j]))
    return SweepAnalysis(
        anticrossings=crossings,
        tunnel_coupling=tc,
        doublets=doublets,
        valley_splitting_range_ueV=ranges,
        lever_arm_meV_per_mV=best[0],
        lever_arm_bound_meV_per_mV=best[1],
        lever_arm_detuning_mV=best[2],
    )
