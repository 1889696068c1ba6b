"""A one-electron spin-valley qubit: levels, Larmor and Rabi frequencies, dephasing.

:func:`spin_qubit` binds a study system (or :func:`spin_qubit_from_operators` any operators)
once: the spin on every valley component, the field terms of one field direction (orbital,
Zeeman, the Dresselhaus term's field part), the fixed terms (a micro-magnet's Zeeman term,
the Dresselhaus term) and the unit potential of every gate. The field's magnitude is bound
late: :meth:`SpinQubit.point` solves one field and re-assembles nothing.

The qubit is the lowest two states ``|0>``, ``|1>``. Below the spin-valley crossing they are
the two spins of the lower valley state (a spin qubit, ``h f_L ~ g mu_B B``); above it the
lower spin of the two valley states (a valley qubit, ``h f_L ~ E_V``). At a point:

- the Larmor frequency ``f_L = (E_1 - E_0) / h``;
- the Rabi frequency of a drive ``dV sin(2 pi f_L t)`` on gate ``g``, to first order in the
  drive: ``f_R = dV |<1| D_g |0>| / h``, with ``D_g`` the gate's unit potential energy
  (meV per mV) -- the electric dipole operator of that gate;
- the slope ``d f_L / d V_g = (<1| D_g |1> - <0| D_g |0>) / h`` (Hellmann-Feynman), and the
  dephasing rate of quasi-static gate noise of amplitudes ``dV_g``,
  ``1 / T2* = sqrt(2) pi sqrt(sum_g (dV_g d f_L / d V_g)^2)``.

Units: T, mV, uV (noise), meV, GHz (Larmor), MHz (Rabi, slopes), us (T2*).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from femvalley.kp import KPOperators, coefficient_at_quadrature, condensed_mass
from femvalley.magnetic.field import UniformField
from femvalley.magnetic.micromagnet import FieldMap, MicroMagnet
from femvalley.magnetic.orbital import (
    OrbitalFieldTerms,
    orbital_field_terms,
    valley_g_matrix,
    zeeman_field_term,
)
from femvalley.magnetic.spin import with_spin
from femvalley.magnetic.spin_orbit import (
    DRESSELHAUS_SI_MEV_NM,
    dresselhaus_term,
    valley_form_factor,
)
from femvalley.phonons import SILICON_PHONONS, PhononCoupling, PhononParameters, RelaxationRate
from femvalley.typing import SparseMatrix
from femvalley.units import BOHR_MAGNETON_MEV_PER_T, PLANCK_MEV_S

if TYPE_CHECKING:
    from femvalley.system import StudySystem

__all__ = [
    "QubitPoint",
    "SpinQubit",
    "SpinValleyAnticrossing",
    "spin_qubit",
    "spin_qubit_from_operators",
]

#: 1 meV / h in MHz.
_MHZ_PER_MEV = 1e-6 / PLANCK_MEV_S


def _weighted(operators: KPOperators, values: Any, name: str) -> SparseMatrix:
    """``I_n (x) int f phi_i phi_j``, condensed like ``operators``."""
    n = int(operators.model.n_components)
    return sp.kron(sp.identity(n, format="csr"), condensed_mass(operators, values, name), "csr")


@dataclass(frozen=True, eq=False)
class QubitPoint:
    """The qubit at one field: levels, states and the matrix elements of the gates.

    Attributes
    ----------
    field_T : float
        Magnitude of the external field along the qubit's direction (T).
    energies_meV : ndarray (k,)
        The lowest levels.
    vectors : ndarray (ndof, k)
        Their states (condensed, M-orthonormal).
    spin : ndarray (k, 3)
        ``<sigma_x>, <sigma_y>, <sigma_z>`` of every level.
    residual_meV : ndarray (k,)
        ``||H x - E M x||`` in the ``M^-1`` norm: some eigenvalue lies within it of ``E``.
    """

    field_T: float
    energies_meV: NDArray[np.float64]
    vectors: NDArray[Any]
    spin: NDArray[np.float64]
    residual_meV: NDArray[np.float64]
    qubit: SpinQubit

    def element(self, matrix: Any, i: int, j: int) -> complex:
        """``<i| A |j>`` for a Galerkin matrix ``A`` of the qubit's operators."""
        return complex(np.vdot(self.vectors[:, i], matrix @ self.vectors[:, j]))

    @property
    def larmor_GHz(self) -> float:
        """``f_L = (E_1 - E_0) / h`` (GHz)."""
        return float((self.energies_meV[1] - self.energies_meV[0]) * _MHZ_PER_MEV * 1e-3)

    @property
    def larmor_bound_GHz(self) -> float:
        """Certified bound of :attr:`larmor_GHz` from the two levels' residuals (GHz)."""
        return float((self.residual_meV[0] + self.residual_meV[1]) * _MHZ_PER_MEV * 1e-3)

    def _angle_bound(self, level: int) -> float:
        """``sin`` of the angle between a computed state and the exact one (Davis-Kahan)."""
        e = self.energies_meV
        r = self.residual_meV
        if level + 1 >= e.size:
            return math.inf  # no computed level above: the gap is unknown
        others = np.delete(np.arange(e.size), level)
        gap = float(np.min(np.abs(e[others] - e[level]) - r[others]))
        return math.inf if gap <= r[level] else float(r[level] / gap)

    def rabi_bound_MHz(self, gate: str, amplitude_mV: float = 1.0) -> float:
        """Bound of :meth:`rabi_MHz` from the states' residuals (to first order in them)."""
        scale = self.qubit.gate_max_meV_per_mV[self._gate_name(gate)]
        angles = self._angle_bound(0) + self._angle_bound(1)
        return float(abs(amplitude_mV) * scale * angles * _MHZ_PER_MEV)

    def larmor_slope_bound_MHz_per_mV(self, gate: str) -> float:
        """Bound of :meth:`larmor_slope_MHz_per_mV` from the states' residuals."""
        scale = self.qubit.gate_max_meV_per_mV[self._gate_name(gate)]
        return float(2 * scale * (self._angle_bound(0) + self._angle_bound(1)) * _MHZ_PER_MEV)

    def _gate_name(self, gate: str) -> str:
        self._gate(gate)
        return gate

    def _gate(self, gate: str) -> SparseMatrix:
        try:
            return self.qubit.gate_terms[gate]
        except KeyError:
            raise ValueError(
                f"gate {gate!r} is not a gate of the device; the gates are "
                f"{sorted(self.qubit.gate_terms)}"
            ) from None

    def rabi_MHz(self, gate: str, amplitude_mV: float = 1.0) -> float:
        """Rabi frequency of a drive of ``amplitude_mV`` on ``gate``: ``dV |<1|D|0>| / h``."""
        return float(abs(amplitude_mV) * abs(self.element(self._gate(gate), 1, 0)) * _MHZ_PER_MEV)

    def larmor_slope_MHz_per_mV(self, gate: str) -> float:
        """``d f_L / d V_gate`` (MHz/mV) from the diagonal matrix elements (Hellmann-Feynman)."""
        d = self._gate(gate)
        return float((self.element(d, 1, 1) - self.element(d, 0, 0)).real * _MHZ_PER_MEV)

    def t2star_us(self, noise_uV: float | Mapping[str, float] = 10.0) -> float:
        """``T2*`` (us) of quasi-static noise on the gates (uV; one value for every gate).

        ``1 / T2* = sqrt(2) pi sqrt(sum_g (dV_g d f_L / d V_g)^2)``; infinite when no gate
        moves the Larmor frequency.
        """
        gates = sorted(self.qubit.gate_terms)
        if isinstance(noise_uV, Mapping):
            unknown = sorted(set(noise_uV) - set(gates))
            if unknown:
                raise ValueError(f"noise_uV: unknown gate(s) {unknown}; the gates are {gates}")
            amplitudes = {g: float(noise_uV.get(g, 0.0)) for g in gates}
        else:
            amplitudes = dict.fromkeys(gates, float(noise_uV))
        total = 0.0
        for g, a in amplitudes.items():
            if a:
                total += (1e-3 * a * self.larmor_slope_MHz_per_mV(g)) ** 2
        rate_per_us = math.sqrt(2.0) * math.pi * math.sqrt(total)  # MHz = 1/us
        return math.inf if rate_per_us == 0.0 else 1.0 / rate_per_us

    def relaxation(
        self,
        *,
        temperature_K: float = 0.1,
        parameters: PhononParameters = SILICON_PHONONS,
        method: str = "dipole",
    ) -> RelaxationRate:
        """``Gamma_1`` of ``|1> -> |0>`` by acoustic phonons (:mod:`femvalley.phonons`)."""
        energy = float(self.energies_meV[1] - self.energies_meV[0])
        return self.qubit.phonons.rate(
            self.vectors[:, 1],
            self.vectors[:, 0],
            energy,
            temperature_K=temperature_K,
            parameters=parameters,
            method=method,
        )

    def position_nm(self, level: int = 0) -> NDArray[np.float64]:
        """``<r>`` of a level (nm; two or three coordinates)."""
        return np.array([self.element(p, level, level).real for p in self.qubit.position])


@dataclass(frozen=True)
class SpinValleyAnticrossing:
    """Where the lower valley's upper spin meets the upper valley's lower spin.

    Attributes
    ----------
    field_T : float
        Field of the smallest gap between levels 1 and 2.
    gap_ueV : float
        That gap (ueV): zero without a coupling between spin and valley.
    crossing_estimate_T : float
        ``E_V / (g mu_B)`` with the valley splitting ``E_V`` at zero field, for comparison.
    """

    field_T: float
    gap_ueV: float
    crossing_estimate_T: float


@dataclass(frozen=True, eq=False)
class SpinQubit:
    """A spin-valley qubit bound once; the field's magnitude is bound late.

    Attributes
    ----------
    operators : KPOperators
        The operators with a spin on every valley component (spin fastest).
    field_terms : OrbitalFieldTerms
        ``L`` and ``Q`` of the external field's direction: orbital, Zeeman and the
        Dresselhaus term's field part.
    fixed : csr_matrix
        Terms independent of the external field (a micro-magnet's Zeeman term, the
        Dresselhaus term), meV.
    gate_terms : dict of str to csr_matrix
        The unit potential energy of every gate (meV per mV).
    gate_max_meV_per_mV : dict of str to float
        The largest magnitude of each gate's unit potential energy (for spectrum bounds).
    position : tuple of csr_matrix
        ``x, y`` and (3-D, or the height of a Born-Oppenheimer plane) ``z`` as Galerkin
        matrices (nm).
    scales : dict of str to float
        The operators' term scales at the operating point (e.g. the detuning).
    lower_bound_meV : float
        A lower bound of the spectrum at ``max_field_T``.
    g_factor : float
        The mean g factor over the valleys (the crossing estimate, the gradient formula).
    magnet : MicroMagnet, FieldMap or None
    max_field_T : float
        The largest external field the bound holds for.
    phonon_inputs : dict
        Keywords of :class:`~femvalley.phonons.PhononCoupling` (positions, second moments,
        valley form factor) for :attr:`phonons`.
    """

    operators: KPOperators
    field_terms: OrbitalFieldTerms
    fixed: SparseMatrix
    gate_terms: dict[str, SparseMatrix]
    gate_max_meV_per_mV: dict[str, float]
    position: tuple[SparseMatrix, ...]
    scales: dict[str, float]
    lower_bound_meV: float
    g_factor: float
    magnet: MicroMagnet | FieldMap | None
    max_field_T: float
    phonon_inputs: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def phonons(self) -> PhononCoupling:
        """The moments for phonon rates (two valleys with spin only), built on first use."""
        if self.operators.model.n_components != 4:
            raise ValueError(
                "phonon rates need two valleys with a spin each; this qubit has "
                f"{self.operators.model.n_components} components"
            )
        return PhononCoupling(self.operators, **self.phonon_inputs)

    @property
    def direction(self) -> tuple[float, float, float]:
        """Unit vector of the external field."""
        return self.field_terms.field.direction

    def hamiltonian(self, field_T: float) -> SparseMatrix:
        """``H(B)`` at a field of ``field_T`` (T) along :attr:`direction`."""
        b = float(field_T)
        if not math.isfinite(b) or abs(b) > self.max_field_T:
            raise ValueError(
                f"field_T = {field_T!r} must be a finite number within +-{self.max_field_T:g} T "
                "(max_field_T of the qubit)"
            )
        return (self.field_terms.hamiltonian(self.operators, b, **self.scales) + self.fixed).tocsr()

    def point(
        self, field_T: float, *, n_states: int = 4, warm_start: QubitPoint | None = None
    ) -> QubitPoint:
        """Solve the lowest ``n_states`` (at least 2) levels at ``field_T``."""
        from femvalley.eigen import solve_matrices

        if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2:
            raise ValueError(f"n_states = {n_states!r} must be an integer >= 2")
        h = self.hamiltonian(field_T)
        res = solve_matrices(
            h,
            self.operators.mass,
            k=n_states,
            lower_bound_meV=self.lower_bound_meV,
            warm_start=None if warm_start is None else warm_start.vectors,
        )
        order = np.argsort(res.energies_meV)
        vectors = np.asarray(res.vectors)[:, order]
        energies = np.asarray(res.energies_meV)[order]
        m = self.operators.mass
        r = h @ vectors - (m @ vectors) * energies[None, :]
        z = self.mass_solve(np.ascontiguousarray(r.real)) + 1j * self.mass_solve(
            np.ascontiguousarray(r.imag)
        )
        residual = np.sqrt(np.maximum(np.einsum("ik,ik->k", r.conj(), z).real, 0.0))
        return QubitPoint(
            field_T=float(field_T),
            energies_meV=energies,
            vectors=vectors,
            spin=self._spin(vectors),
            residual_meV=residual,
            qubit=self,
        )

    @cached_property
    def mass_solve(self) -> Any:
        """``M^-1 b`` (the factorised mass matrix), for residual norms."""
        from femvalley.linalg import factorize

        return factorize(sp.csc_matrix(self.operators.mass.real))

    def _spin(self, vectors: NDArray[Any]) -> NDArray[np.float64]:
        n = int(self.operators.model.n_components)
        ni = int(self.operators.interior.size)
        m = self.operators.mass_scalar
        comps = vectors.reshape(n // 2, 2, ni, -1)  # (orbital, spin, node, level)
        up, down = comps[:, 0], comps[:, 1]
        mu = np.einsum("cnk,cnk->k", up.conj(), np.stack([m @ u for u in up]))
        md = np.einsum("cnk,cnk->k", down.conj(), np.stack([m @ d for d in down]))
        ud = np.einsum("cnk,cnk->k", up.conj(), np.stack([m @ d for d in down]))
        return np.stack([2 * ud.real, 2 * ud.imag, (mu - md).real], axis=1)

    def displacement_nm_per_mV(
        self, gate: str, field_T: float, *, step_mV: float = 0.5, level: int = 0
    ) -> NDArray[np.float64]:
        """``d<r>/dV_gate`` of a level (nm/mV), by central differences of two solves."""
        d = self.gate_terms.get(gate)
        if d is None:
            raise ValueError(
                f"gate {gate!r} is not a gate; the gates are {sorted(self.gate_terms)}"
            )
        from femvalley.eigen import solve_matrices

        h = self.hamiltonian(field_T)
        r = []
        for s in (-step_mV, step_mV):
            res = solve_matrices(
                h + s * d,
                self.operators.mass,
                k=level + 2,
                lower_bound_meV=self.lower_bound_meV - abs(s) * self.gate_max_meV_per_mV[gate],
            )
            v = np.asarray(res.vectors)[:, np.argsort(res.energies_meV)[level]]
            r.append([np.vdot(v, p @ v).real for p in self.position])
        return (np.asarray(r[1]) - np.asarray(r[0])) / (2 * step_mV)

    def gradient_rabi_MHz(self, gate: str, field_T: float, amplitude_mV: float = 1.0) -> float:
        """Estimate the Rabi frequency (MHz) from the gradient: ``(g mu_B / 2h) |b x (G d<r>)|``.

        ``b``: the direction of the total field at the dot (external plus micro-magnet at the
        ground state's ``<r>``), ``G``: the micro-magnet's gradient there (a field map's by
        central differences over 1 nm), ``d<r>``: the ground state's displacement for
        ``amplitude_mV`` on ``gate`` (:meth:`displacement_nm_per_mV`). Valid far from the
        spin-valley anticrossing, where the spin and the orbital motion separate.
        """
        if self.magnet is None:
            return 0.0
        point = self.point(field_T, n_states=2)
        r = np.zeros(3)
        pos = point.position_nm(0)
        r[: pos.size] = pos
        if pos.size == 2:
            r[2] = (
                self.magnet.origin_nm[2]
                if isinstance(self.magnet, MicroMagnet)
                else self.magnet.plane_z_nm
            )
        grad = _gradient_T_per_nm(self.magnet, r)
        total = (
            float(field_T) * np.asarray(self.direction) + self.magnet.field_at_T(r[:, None])[:, 0]
        )
        b = total / max(float(np.linalg.norm(total)), 1e-300)
        shift = np.zeros(3)
        d = self.displacement_nm_per_mV(gate, field_T) * float(amplitude_mV)
        shift[: d.size] = d
        mu = self.g_factor * BOHR_MAGNETON_MEV_PER_T
        return float(0.5 * mu * np.linalg.norm(np.cross(b, grad @ shift)) * _MHZ_PER_MEV)

    def anticrossing(
        self, bracket_T: tuple[float, float], *, n_states: int = 4, xtol_T: float = 1e-4
    ) -> SpinValleyAnticrossing:
        """Locate the smallest gap between levels 1 and 2 in ``bracket_T`` (bounded search)."""
        from scipy.optimize import minimize_scalar

        lo, hi = (float(b) for b in bracket_T)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"bracket_T = {bracket_T!r} must be two fields 0 <= lo < hi (T)")

        def gap(b: float) -> float:
            e = self.point(b, n_states=n_states).energies_meV
            return float(e[2] - e[1])

        best = minimize_scalar(gap, bounds=(lo, hi), method="bounded", options={"xatol": xtol_T})
        return SpinValleyAnticrossing(
            field_T=float(best.x),
            gap_ueV=1e3 * float(best.fun),
            crossing_estimate_T=self.crossing_estimate_T(),
        )

    def crossing_estimate_T(self) -> float:
        """``E_V / (g mu_B)``: the valley splitting at zero external field over ``g mu_B`` (T).

        ``E_V`` is the mean of the two spin pairs' splittings, ``(E_2 + E_3 - E_0 - E_1) / 2``
        (a micro-magnet's field splits each pair alike to first order).
        """
        e = self.point(0.0, n_states=4).energies_meV
        ev = 0.5 * float(e[2] + e[3] - e[0] - e[1])
        return ev / (self.g_factor * BOHR_MAGNETON_MEV_PER_T)


def _gradient_T_per_nm(magnet: MicroMagnet | FieldMap, r: NDArray[np.float64]) -> Any:
    """``dB_i / dr_j`` (T/nm) of a magnet at a point ``r`` (3,)."""
    if isinstance(magnet, MicroMagnet):
        return magnet.gradient_T_per_nm
    step = np.eye(3)
    return np.stack(
        [
            (magnet.field_at_T((r + step[j])[:, None]) - magnet.field_at_T((r - step[j])[:, None]))[
                :, 0
            ]
            / 2.0
            for j in range(3)
        ],
        axis=1,
    )


def _kinetic_minimum_meV_nm2(operators: KPOperators) -> float:
    """Return the smallest in-plane kinetic prefactor ``c_x, c_y`` (meV nm^2)."""
    values = [
        float(np.min(coefficient_at_quadrature(t.coefficient, operators.basis, "kinetic")))
        for t in operators.model.quadratic
        if t.axes[0] == t.axes[1] and t.axes[0] in (0, 1)
    ]
    return min(values) if values else math.inf


def spin_qubit_from_operators(
    operators: KPOperators,
    *,
    direction: Sequence[float] = (0.0, 1.0, 0.0),
    gauge: str = "symmetric",
    gauge_origin_nm: Sequence[float] | None = None,
    g_factor: Any = 2.0,
    magnet: MicroMagnet | FieldMap | None = None,
    magnet_field_T: Any = None,
    dresselhaus_meV_nm: Any = None,
    valley_form_factor: Any = None,
    gate_terms_meV_per_mV: Mapping[str, Any] | None = None,
    positions_nm: Sequence[Any] | None = None,
    second_moments_nm2: Mapping[str, Any] | None = None,
    form_factor_moments: Mapping[str, Any] | None = None,
    scales: Mapping[str, float] | None = None,
    max_field_T: float = 10.0,
    spin: bool = True,
) -> SpinQubit:
    """Bind a spin qubit to k.p operators.

    Parameters
    ----------
    operators : KPOperators
        Two valleys (``spin=True``: without spin; they get one) or any spinless model.
    direction, gauge, gauge_origin_nm
        The external field (:class:`~femvalley.magnetic.UniformField`); the gauge origin
        defaults to the centre of the mesh.
    g_factor : float or matrix
        ``g0`` of the Zeeman term, or a Hermitian matrix over the valleys for a
        valley-dependent g (:func:`~femvalley.magnetic.orbital.valley_g_matrix`).
    magnet : MicroMagnet or FieldMap, optional
        A micro-magnet; its field is taken at the mesh's points (2-D points at its plane).
    magnet_field_T : (3, n) values, optional
        Instead of ``magnet``'s own evaluation: its field at the vertices or DOFs (a field
        reduced to a Born-Oppenheimer plane).
    dresselhaus_meV_nm : coefficient, optional
        The Dresselhaus constant (two valleys only); None leaves the term out.
    valley_form_factor : complex coefficient, optional
        ``eta(r)`` of the terms between the valleys that the two-band model writes at the X
        point (Dresselhaus, phonon shear; :mod:`femvalley.magnetic.spin_orbit`): by default
        ``exp(2 i k0' z)`` on a 3-D mesh; needed on a 2-D mesh for either.
    gate_terms_meV_per_mV : mapping of gate to coefficient
        Every gate's unit potential energy (meV per mV) at the vertices, DOFs or as a callable.
    positions_nm : sequence of coefficients, optional
        The coordinates whose expectation values are reported; default the mesh's own.
    second_moments_nm2, form_factor_moments : mappings, optional
        For phonon rates on a plane (:class:`~femvalley.phonons.PhononCoupling`).
    scales : mapping, optional
        The operators' term scales at the operating point.
    max_field_T : float
        The largest external field that will be solved (for the spectrum's lower bound).
    """
    spin_ops = with_spin(operators) if spin else operators
    if spin_ops.model.n_components % 2:
        raise ValueError("a spin qubit needs a spin on every component (spin=True)")
    if not (isinstance(max_field_T, (int, float)) and 0 < max_field_T < math.inf):
        raise ValueError(f"max_field_T = {max_field_T!r} must be a positive number (T)")
    mesh = spin_ops.basis.mesh
    dim = mesh.dim()
    centre = 0.5 * (mesh.p.min(axis=1) + mesh.p.max(axis=1))
    origin = list(centre) + [0.0] * (3 - dim) if gauge_origin_nm is None else gauge_origin_nm
    field = UniformField(
        direction=tuple(float(c) for c in direction),  # type: ignore[arg-type]
        gauge=gauge,
        origin_nm=tuple(float(c) for c in origin),  # type: ignore[arg-type]
    )
    terms = orbital_field_terms(spin_ops, field, g_factor=g_factor)
    ndof = spin_ops.ndof
    fixed = sp.csr_matrix((ndof, ndof), dtype=np.complex128)
    bound = spin_ops.spectrum_lower_bound_meV(**dict(scales or {}))
    g_matrix = valley_g_matrix(g_factor, spin_ops.model.n_components // 2)
    g_mean = float(np.trace(g_matrix).real) / g_matrix.shape[0]
    mu = 0.5 * float(np.abs(np.linalg.eigvalsh(g_matrix)).max()) * BOHR_MAGNETON_MEV_PER_T
    bound -= mu * max_field_T
    if magnet is not None or magnet_field_T is not None:
        source = magnet_field_T if magnet_field_T is not None else magnet.field_at_T  # type: ignore[union-attr]
        fixed = fixed + zeeman_field_term(spin_ops, source, g_factor=g_factor)
        values = (
            np.asarray(magnet_field_T, dtype=float)
            if magnet_field_T is not None
            else magnet.field_at_T(spin_ops.basis.doflocs)  # type: ignore[union-attr]
        )
        bound -= mu * float(np.sqrt((values**2).sum(axis=0)).max())
    if dresselhaus_meV_nm is not None:
        so = dresselhaus_term(
            spin_ops,
            coupling_meV_nm=dresselhaus_meV_nm,
            valley_form_factor=valley_form_factor,
            field=field,
        )
        fixed = fixed + so.matrix
        assert so.per_T is not None
        terms = dataclasses.replace(terms, linear=(terms.linear + so.per_T).tocsr())
        beta = float(
            np.abs(coefficient_at_quadrature(dresselhaus_meV_nm, spin_ops.basis, "so")).max()
        )
        # c k^2 + beta k >= -beta^2 / (4 c) per direction
        bound -= 2 * beta**2 / (4 * _kinetic_minimum_meV_nm2(spin_ops))
    gates, gate_max = {}, {}
    for g, v in (gate_terms_meV_per_mV or {}).items():
        name = f"gate_terms_meV_per_mV[{g!r}]"
        gates[str(g)] = _weighted(spin_ops, v, name)
        at_qp = coefficient_at_quadrature(v, spin_ops.basis, name)
        gate_max[str(g)] = float(np.abs(at_qp).max(initial=0.0))
    coords = positions_nm
    if coords is None:
        coords = [(lambda p, i=i: p[i]) for i in range(dim)]
    position = tuple(_weighted(spin_ops, c, f"positions_nm[{i}]") for i, c in enumerate(coords))
    return SpinQubit(
        operators=spin_ops,
        field_terms=terms,
        fixed=fixed.tocsr(),
        gate_terms=gates,
        gate_max_meV_per_mV=gate_max,
        position=position,
        scales={k: float(v) for k, v in (scales or {}).items()},
        lower_bound_meV=float(bound) - 1e-3,
        g_factor=g_mean,
        magnet=magnet,
        max_field_T=float(max_field_T),
        phonon_inputs={
            "positions_nm": positions_nm,
            "second_moments_nm2": second_moments_nm2,
            "valley_form_factor": valley_form_factor,
            "form_factor_moments": form_factor_moments,
        },
    )


def spin_qubit(
    system: StudySystem,
    *,
    detuning_mV: float = 0.0,
    direction: Sequence[float] = (0.0, 1.0, 0.0),
    gauge: str = "symmetric",
    g_factor: float = 2.0,
    magnet: MicroMagnet | FieldMap | None = None,
    dresselhaus_meV_nm: Any = DRESSELHAUS_SI_MEV_NM,
    max_field_T: float = 10.0,
) -> SpinQubit:
    """Bind a spin qubit to a study system at one detuning.

    Every gate of the device gets its unit potential energy (meV per mV): on the 3-D mesh
    as it is, on a Born-Oppenheimer plane averaged over each column's vertical state (first
    order in the gate voltage); so does a micro-magnet's field and the height ``z``. On a
    plane only the field's component along z acts on the orbital motion; the Zeeman term
    sees the whole field.
    """
    if not math.isfinite(float(detuning_mV)):
        raise ValueError(f"detuning_mV = {detuning_mV!r} must be a finite number (mV)")
    pot = system.potentials
    vmesh = system.volume_mesh
    red = system.reduction

    def on_plane(values: Any) -> Any:
        return values if red is None else red.reduce_term(values)

    gates = {g: on_plane(-pot.unit_V[i]) for i, g in enumerate(pot.gates)}  # meV per mV
    positions = None
    seconds = None
    eta = None
    eta_moments = None
    if red is not None:
        x, y, z = (vmesh.p[i] for i in range(3))
        positions = [on_plane(x), on_plane(y), on_plane(z)]
        seconds = {"xx": on_plane(x * x), "yy": on_plane(y * y), "zz": on_plane(z * z)}
        seconds["xy"] = on_plane(x * y)
        phase = valley_form_factor(z)

        def complex_on_plane(values: Any) -> Any:
            return on_plane(np.real(values)) + 1j * on_plane(np.imag(values))

        eta = complex_on_plane(phase)
        eta_moments = {
            "x": complex_on_plane(phase * x),
            "y": complex_on_plane(phase * y),
            "z": complex_on_plane(phase * z),
            "xx": complex_on_plane(phase * x * x),
            "yy": complex_on_plane(phase * y * y),
            "zz": complex_on_plane(phase * z * z),
            "xy": complex_on_plane(phase * x * y),
        }
    magnet_values = None
    if magnet is not None and red is not None:
        b = magnet.field_at_T(vmesh.p)
        magnet_values = np.stack([red.reduce_term(b[i]) for i in range(3)])
    return spin_qubit_from_operators(
        system.operators,
        direction=direction,
        gauge=gauge,
        g_factor=g_factor,
        magnet=magnet,
        magnet_field_T=magnet_values,
        dresselhaus_meV_nm=dresselhaus_meV_nm,
        valley_form_factor=eta,
        gate_terms_meV_per_mV=gates,
        positions_nm=positions,
        second_moments_nm2=seconds,
        form_factor_moments=eta_moments,
        scales={"detuning": float(detuning_mV)},
        max_field_T=max_field_T,
    )
