"""Exchange of two electrons in a study system: one setup, then any detuning.

:class:`TwoElectronSolver` binds a :class:`femvalley.system.StudySystem` (any model: ``3d``,
``bo2d``, ``slice2d``), the basis size ``m`` and the interaction kernel:

- ``"screened"``: the interaction in the device, gates grounded and dielectrics included
  (:mod:`femvalley.twoelectron.screened`; the device's Poisson operator is factorised once
  per solver);
- ``"bulk"``: ``e^2 / (4 pi eps0 eps_r r)`` with ``eps_r`` of silicon, averaged over the
  vertical densities of the columns (planar models on a uniform plane grid only,
  :mod:`femvalley.twoelectron.coulomb`).

At every detuning, :meth:`TwoElectronSolver.point` solves the lowest ``m`` one-electron states,
their Coulomb integrals and the configuration interaction, and returns a
:class:`TwoElectronPoint`: the two-electron levels with their spin, the exchange
``J = E(T0) - E(S)``, the double occupancy of each dot (the (2,0) and (0,2) weight) and the
valley parity of each level, and the one-electron reduced density of any level.

Convergence in ``m`` (:meth:`TwoElectronPoint.exchange_convergence`): the integrals of the
first ``m'`` states are a block of the table, so ``J`` at ``m / 4, m / 2, m`` costs three small
CI problems. The change of ``J`` between the last two sizes (or the Aitken extrapolation,
when the three values converge geometrically) is the reported basis error.

Units: nm, meV, mV.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.twoelectron.basis import (
    SystemStates,
    density_nodes,
    plane_grid_states,
    system_states,
)
from femvalley.twoelectron.ci import TwoElectronSpectrum, two_electron_spectrum
from femvalley.twoelectron.coulomb import grid_coulomb_integrals
from femvalley.twoelectron.screened import DensityNodes, ScreenedCoulomb

__all__ = [
    "ChargeAnticrossing",
    "KERNELS",
    "SILICON_EPS_R",
    "ExchangeConvergence",
    "TwoElectronPoint",
    "TwoElectronSolver",
    "reduced_density_matrix",
    "pair_probability",
]

#: the interaction kernels
KERNELS = ("screened", "bulk")
#: relative permittivity of the bulk kernel (silicon)
SILICON_EPS_R = 11.7


def _antisymmetric_amplitudes(
    spectrum: TwoElectronSpectrum, level: int, m: int
) -> NDArray[np.complex128]:
    """``C`` (2m, 2m) with ``Psi(x1, x2) = sum C_pq phi_p(x1) phi_q(x2)`` over spin-orbitals."""
    c = np.zeros((2 * m, 2 * m), dtype=np.complex128)
    p, q = spectrum.determinants[:, 0], spectrum.determinants[:, 1]
    v = spectrum.vectors[:, level] / math.sqrt(2.0)
    c[p, q] = v
    c[q, p] = -v
    return c


def reduced_density_matrix(spectrum: TwoElectronSpectrum, level: int) -> NDArray[np.complex128]:
    """One-electron reduced density matrix ``D`` (m, m) of a level, spin summed (trace 2).

    The density of the level is ``n(r) = sum_ab D_ab phi_a*(r) phi_b(r)`` and a one-body
    operator ``O`` has the expectation ``sum_ab D_ab <a|O|b>``.
    """
    m = int(spectrum.determinants.max()) // 2 + 1
    c = _antisymmetric_amplitudes(spectrum, level, m)
    d = 2.0 * (c.conj() @ c.T)  # spin-orbital
    return np.asarray(d[0::2, 0::2] + d[1::2, 1::2])


def pair_probability(
    spectrum: TwoElectronSpectrum, level: int, overlap: NDArray[np.complex128]
) -> float:
    """Probability that both electrons of a level lie in a region.

    ``overlap[a, b] = int_region phi_a* phi_b`` of the one-electron states (summed over
    their components).
    """
    m = overlap.shape[0]
    c = _antisymmetric_amplitudes(spectrum, level, m)
    o = np.kron(np.asarray(overlap), np.eye(2))  # spin-orbitals 2a + s
    return float(np.real(np.sum(c.conj() * (o @ c @ o.T))))


@dataclass(frozen=True)
class ExchangeConvergence:
    """``J`` against the basis size, with the reported value and its basis error (meV)."""

    sizes: tuple[int, ...]
    exchange_meV: tuple[float, ...]
    value_meV: float
    error_meV: float
    method: str


@dataclass(frozen=True, eq=False)
class TwoElectronPoint:
    """Two electrons at one detuning.

    Attributes
    ----------
    detuning_mV : float
    kernel : str
    states : SystemStates
        The one-electron basis (its energies and components).
    coulomb_meV : ndarray (m, m, m, m)
        ``(ab|cd)`` in chemists' order.
    spectrum : TwoElectronSpectrum
        The lowest two-electron levels with their spin.
    double_occupancy : ndarray (n, 2)
        Probability that both electrons are in ``dot_L`` (the (2,0) weight) and in ``dot_R``
        (the (0,2) weight), for every level.
    valley_parity : ndarray (n,)
        The valley parity summed over both electrons (-2 .. 2; the one-electron observable of
        the same name, NaN without a valley map).
    basis_dot_weight : ndarray (2,)
        How many one-electron basis states sit in ``dot_L`` and ``dot_R`` (the sum of the
        states' probabilities in each). Below 1 in a dot, the basis cannot hold one electron
        per dot: far in detuning the lowest ``m`` states all lie in the lower dot, and the
        (1,1) configurations are missing; raise ``n_states``.
    timings_s : dict
    """

    detuning_mV: float
    kernel: str
    states: SystemStates
    coulomb_meV: NDArray[np.complex128]
    spectrum: TwoElectronSpectrum
    double_occupancy: NDArray[np.float64]
    valley_parity: NDArray[np.float64]
    basis_dot_weight: NDArray[np.float64]
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def n_states(self) -> int:
        """Size ``m`` of the one-electron basis."""
        return int(self.states.energies_meV.size)

    @property
    def exchange_meV(self) -> float:
        """J = E(T0) - E(S) of the lowest triplet and singlet (meV)."""
        return self.spectrum.exchange_meV()

    @cached_property
    def convergence(self) -> ExchangeConvergence:
        """:meth:`exchange_convergence` at the default sizes, computed once."""
        return self.exchange_convergence()

    def exchange_convergence(self, sizes: tuple[int, ...] | None = None) -> ExchangeConvergence:
        """``J`` with the first ``m'`` states for every ``m'`` in ``sizes``.

        Default sizes: ``m / 4, m / 2, m`` (those >= 2). The value is ``J`` at the largest
        size; its error is the change from the size before, or the distance to the Aitken
        extrapolation of the last three when they converge geometrically (whichever is
        larger).
        """
        m = self.n_states
        if sizes is None:
            sizes = tuple(sorted({s for s in (m // 4, m // 2, m) if s >= 2}))
        bad = [s for s in sizes if not 2 <= int(s) <= m]
        if bad:
            raise ValueError(f"sizes = {list(sizes)}: each must be between 2 and m = {m}")
        e, v = self.states.energies_meV, self.coulomb_meV
        js = []
        for s in sizes:
            sub = two_electron_spectrum(e[:s], v[:s, :s, :s, :s])
            try:
                js.append(sub.exchange_meV())
            except ValueError:  # too few states for a triplet
                js.append(math.nan)
        value = js[-1]
        if len(js) < 2 or not math.isfinite(js[-2]):
            return ExchangeConvergence(
                tuple(sizes), tuple(js), value, math.inf, "one basis size only"
            )
        error = abs(js[-1] - js[-2])
        method = f"change from m = {sizes[-2]} to m = {sizes[-1]}"
        if len(js) >= 3 and all(math.isfinite(x) for x in js[-3:]):
            d1, d2 = js[-2] - js[-3], js[-1] - js[-2]
            if d1 != 0 and 0 < d2 / d1 < 1:
                limit = js[-1] - d2 * d2 / (d2 - d1)
                if abs(limit - js[-1]) > error:
                    error = abs(limit - js[-1])
                    method = f"Aitken extrapolation of m = {', '.join(map(str, sizes[-3:]))}"
        return ExchangeConvergence(tuple(sizes), tuple(js), value, error, method)

    def density(self, level: int = 0) -> NDArray[np.float64]:
        """Electron density of a level at the basis DOFs (sums over the valleys; integral 2)."""
        d = reduced_density_matrix(self.spectrum, level)
        comps = self.states.components  # (m, nc, n)
        out = np.einsum("ab,acn,bcn->n", d, comps.conj(), comps)
        return np.asarray(out.real)


@dataclass(frozen=True)
class ChargeAnticrossing:
    """The (1,1) to (2,0) (or (0,2)) anticrossing of the two lowest singlets.

    Attributes
    ----------
    detuning_mV : float
        The centre: where the ground singlet's double occupancy is 1/2 (there
        ``E(S1) - E(S0)`` is smallest for two mixing configurations).
    gap_meV : float
        The singlet gap there. In a Hubbard model it is ``2 sqrt(2) t`` (the (1,1) singlet
        couples to the doubly occupied one with ``sqrt(2) t``).
    double_occupancy : tuple of float
        The ground singlet's probability of both electrons in ``dot_L`` and in ``dot_R``
        there (about 1/2 in one of them at the anticrossing).
    evaluations : int
        Two-electron points computed to locate it.
    """

    detuning_mV: float
    gap_meV: float
    double_occupancy: tuple[float, float]
    evaluations: int


def _matrix_or_none(observables: Any, name: str) -> Any:
    try:
        return observables.matrix(name)
    except KeyError:
        return None


class TwoElectronSolver:
    """Two electrons in a study system, bound once, solved at any detuning.

    Parameters
    ----------
    system : femvalley.system.StudySystem
    n_states : int
        One-electron basis size ``m`` (>= 2): the two-electron basis has ``m (2 m - 1)``
        determinants, ``m^2`` of them with ``S_z = 0``.
    kernel : {"screened", "bulk"}
    n_levels : int
        Two-electron levels kept per point.
    poisson_order : {1, 2}, optional
        Degree of the elements of the screened kernel's Poisson problem on the device mesh
        (default: the study's ``device.electrostatics_order``). Linear elements factorise
        about ten times faster; on the five-gate device they put the on-site repulsion 9 %
        below the quadratic ones (the Galerkin Coulomb energy converges from below) and J
        18 % above (benchmarks/RESULTS.md).
    poisson : femvalley.electrostatics.GroundedPoisson, optional
        The device's factorised operator, shared by solvers of the same device (e.g. the
        systems of a gate-voltage scan); built on first use otherwise.
    """

    def __init__(
        self,
        system: Any,
        *,
        n_states: int = 12,
        kernel: str = "screened",
        n_levels: int = 8,
        poisson_order: int | None = None,
        poisson: Any = None,
    ) -> None:
        if isinstance(n_states, bool) or not isinstance(n_states, (int, np.integer)):
            raise ValueError(f"n_states = {n_states!r} must be an integer >= 2")
        if n_states < 2:
            raise ValueError(f"n_states = {n_states!r} must be an integer >= 2")
        if kernel not in KERNELS:
            raise ValueError(f"kernel = {kernel!r}; allowed: {', '.join(KERNELS)}")
        if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)):
            raise ValueError(f"n_levels = {n_levels!r} must be an integer >= 2")
        if n_levels < 2:
            raise ValueError(f"n_levels = {n_levels!r} must be an integer >= 2")
        if poisson_order is not None and (
            isinstance(poisson_order, bool) or poisson_order not in (1, 2)
        ):
            raise ValueError(f"poisson_order = {poisson_order!r}; allowed: 1, 2 (or None)")
        if kernel == "bulk" and system.reduction is None:
            raise ValueError(
                "kernel = 'bulk' is for the planar models (bo2d, slice2d); a 3-D system uses "
                "kernel = 'screened'"
            )
        if kernel == "bulk":
            plane_grid_states(system, None)  # a uniform plane grid, or a clear error now
        self.system = system
        self.n_states = int(n_states)
        self.kernel = kernel
        self.n_levels = int(n_levels)
        self.poisson_order = (
            int(system.config.device.electrostatics_order)
            if poisson_order is None
            else int(poisson_order)
        )
        self.timings_s: dict[str, float] = {}
        if poisson is not None:
            if poisson.mesh is not system.device_mesh:
                raise ValueError("poisson: the operator of another device mesh")
            self.__dict__["poisson"] = poisson  # the cached property, given

    @cached_property
    def nodes(self) -> DensityNodes:
        """Where the densities live in 3-D (:func:`femvalley.twoelectron.density_nodes`)."""
        return density_nodes(self.system)

    @cached_property
    def poisson(self) -> Any:
        """The device's Poisson operator with the gates grounded, factorised once."""
        from femvalley.electrostatics import grounded_poisson

        dev = self.system.config.device.resolved()
        t0 = time.perf_counter()
        out = grounded_poisson(
            self.system.device_mesh,
            permittivity=dev.materials,
            gates=dev.gates,
            order=self.poisson_order,
        )
        self.timings_s["poisson_factorisation"] = time.perf_counter() - t0
        return out

    @cached_property
    def screened(self) -> ScreenedCoulomb:
        """The screened kernel at this system's density nodes (its probe kept)."""
        return ScreenedCoulomb(self.nodes, self.poisson)

    def coulomb(self, states: SystemStates) -> NDArray[np.complex128]:
        """Return ``(ab|cd)`` (meV) of one-electron states with this solver's kernel."""
        nv = self.system.quantum_mesh.nvertices
        if self.kernel == "screened":
            return self.screened.integrals(states.components[:, :, :nv])
        grid = plane_grid_states(self.system, states)
        return grid_coulomb_integrals(
            grid.states,
            step_nm=grid.step_nm,
            eps_r=SILICON_EPS_R,
            vertical_separation_nm=grid.separation_nm,
            vertical_weights=grid.separation_weights,
        )

    def charge_anticrossing(
        self, bracket_mV: tuple[float, float], *, xtol_mV: float = 1e-3
    ) -> ChargeAnticrossing:
        """Locate the (1,1) to (2,0)/(0,2) anticrossing of the two lowest singlets.

        At the centre of a two-level anticrossing the two configurations are equally mixed:
        the ground singlet's double occupancy is 1/2 there, and the singlet gap is smallest.
        The centre is found by bisection on that double occupancy within ``bracket_mV``
        (whose ends must lie on either side of the transition) to ``xtol_mV``; a bracket
        without a transition, or a basis that holds less than one state in a dot at the
        centre, is refused by name.
        """
        lo, hi = (float(v) for v in bracket_mV)
        if not hi > lo:
            raise ValueError(f"bracket_mV = {bracket_mV!r} must be (low, high) with low < high")
        count = [0]

        def occupied(eps: float) -> tuple[float, TwoElectronPoint]:
            pt = self.point(eps)
            count[0] += 1
            singlets = np.nonzero(pt.spectrum.spin == 0)[0]
            if singlets.size < 2:
                raise ValueError(
                    f"n_levels = {self.n_levels} keeps fewer than two singlets at {eps:g} mV; "
                    "raise n_levels"
                )
            return float(pt.double_occupancy[singlets[0]].sum()) - 0.5, pt

        f_lo, _ = occupied(lo)
        f_hi, at = occupied(hi)
        if f_lo * f_hi > 0:
            raise ValueError(
                f"bracket_mV = {bracket_mV!r}: the ground singlet's double occupancy is "
                f"{f_lo + 0.5:.3g} and {f_hi + 0.5:.3g} at its ends; no (1,1) to (2,0) "
                "transition inside"
            )
        while hi - lo > xtol_mV:
            mid = 0.5 * (lo + hi)
            f_mid, at = occupied(mid)
            if f_mid * f_lo > 0:
                lo, f_lo = mid, f_mid
            else:
                hi = mid
        if at.basis_dot_weight.min() < 1.0:
            raise ValueError(
                f"at {at.detuning_mV:.4g} mV the {self.n_states} basis states hold "
                f"{at.basis_dot_weight.min():.2f} states in one dot: the (1,1) configurations "
                "are missing; raise n_states"
            )
        spin = at.spectrum.spin
        singlets = np.nonzero(spin == 0)[0]
        energies = at.spectrum.energies_meV
        return ChargeAnticrossing(
            detuning_mV=at.detuning_mV,
            gap_meV=float(energies[singlets[1]] - energies[singlets[0]]),
            double_occupancy=(
                float(at.double_occupancy[singlets[0], 0]),
                float(at.double_occupancy[singlets[0], 1]),
            ),
            evaluations=count[0],
        )

    def point(self, detuning_mV: float) -> TwoElectronPoint:
        """Return the two-electron levels at one detuning (mV)."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        states = system_states(self.system, detuning_mV=detuning_mV, n_states=self.n_states)
        timings["one_electron"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        coulomb = self.coulomb(states)
        timings["coulomb"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        spectrum = two_electron_spectrum(states.energies_meV, coulomb, n_levels=self.n_levels)
        timings["ci"] = time.perf_counter() - t0
        obs = self.system.observables
        comps = states.components

        def overlap(matrix: Any) -> NDArray[np.complex128]:
            return np.asarray(
                sum(comps[:, c].conj() @ (matrix @ comps[:, c].T) for c in range(comps.shape[1]))
            )

        dots = [overlap(obs.matrix(d)) for d in obs.dots]
        n = spectrum.energies_meV.size
        double = np.array([[pair_probability(spectrum, i, o) for o in dots] for i in range(n)])
        parity = np.full(n, np.nan)
        w = _matrix_or_none(obs, "valley_phase")
        if comps.shape[1] == 2 and w is not None:
            plus, minus = comps[:, 0], comps[:, 1]
            op = plus.conj() @ (w @ minus.T) + minus.conj() @ (w.conj() @ plus.T)
            parity = np.array(
                [np.real(np.sum(reduced_density_matrix(spectrum, i) * op)) for i in range(n)]
            )
        return TwoElectronPoint(
            detuning_mV=float(detuning_mV),
            kernel=self.kernel,
            states=states,
            coulomb_meV=coulomb,
            spectrum=spectrum,
            double_occupancy=double,
            valley_parity=parity,
            basis_dot_weight=np.array([float(np.trace(o).real) for o in dots]),
            timings_s=timings,
        )
