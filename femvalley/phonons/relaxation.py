"""Relaxation by acoustic phonons between two states of a two-valley model with spin.

The rate of a transition ``|1> -> |0>`` of energy ``hbar w`` by the emission (and absorption)
of bulk acoustic phonons is

    Gamma = w^3 / (8 pi^2 hbar rho) coth(hbar w / 2 k T)
            sum_branches v^-5 int dOmega |<0| exp(i q q.r) dH(q) |1>|^2,

with ``q = w / v`` for the longitudinal branch and the two transverse ones, and ``dH`` the
deformation-potential coupling of each branch along the direction ``q`` (a 2 x 2 matrix on the
valleys: ``Xi_d + Xi_u cos^2 theta`` on the diagonal of the longitudinal branch, the shear
``Xi_s`` off it). :meth:`PhononCoupling.rate` evaluates it

- ``method="exact"``: the angular integral by quadrature (Gauss-Legendre in ``cos theta``,
  uniform in ``phi``) with the full phase ``exp(i q q.r)`` at the quadrature points of the
  finite elements;
- ``method="dipole"``: its expansion to second order in ``q r`` (valid when the dot is small
  against the phonon wavelength), where the angular integral is done in closed form and the
  rate follows from the moments ``S_ij = <a_i|b_j>``, ``R^k_ij = <a_i|r_k|b_j>``,
  ``T^kk'_ij = <a_i|r_k r_k'|b_j>`` of the valley-resolved envelopes (summed over spin):

      Gamma = w^3 / (8 pi hbar rho) coth(...) sum_branches
              (w^2 / v^7 sum_n A_n Lambda^A_n + B_1 Lambda^B_1 / v^5).

  The ``A`` terms (intra-valley ``Xi_d``, ``Xi_u``; inter-valley ``Xi_s`` at second order)
  grow as ``w^5``; ``B_1 = |sum_(i != j) S_ij|^2`` (shear between the valleys at zeroth order)
  as ``w^3``. The ``Lambda`` factors are the angular averages of the couplings.

The valley basis: the moments are taken in the basis of the two-band k.p model's Bloch
functions, whose ``+`` function times ``-i`` is femvalley's ``-z`` component (see
:mod:`femvalley.magnetic.spin_orbit`), so the shear coupling is ``Xi_s tau_y`` in femvalley's
components. On a 2-D (Born-Oppenheimer) plane the height ``z`` of each column enters as its
mean ``<z>`` (exact method) and ``<z>``, ``<z^2>`` (dipole method) of the column's state.

Units: meV, K, nm, 1/s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.kp import KPOperators, coefficient_at_quadrature, condensed_mass
from femvalley.phonons.parameters import SILICON_PHONONS, PhononParameters
from femvalley.typing import SparseMatrix

__all__ = ["METHODS", "PhononCoupling", "RelaxationRate"]

METHODS = ("dipole", "exact")

_HBAR_J_S = 1.054571817e-34
_J_PER_MEV = 1.602176634e-22
_J_PER_EV = 1.602176634e-19
_K_B_MEV_PER_K = 8.617333262e-2
_AXES = ("x", "y", "z")
_PAIRS = ("xx", "yy", "zz", "xy")


@dataclass(frozen=True)
class RelaxationRate:
    """A phonon relaxation rate and its branches.

    Attributes
    ----------
    rate_per_s : float
        ``Gamma_1`` (1/s).
    longitudinal_per_s, transverse_per_s : float
        The longitudinal and transverse (both branches) parts.
    energy_meV, temperature_K : float
        The transition energy and the temperature.
    method : str
        ``"dipole"`` or ``"exact"``.
    """

    rate_per_s: float
    longitudinal_per_s: float
    transverse_per_s: float
    energy_meV: float
    temperature_K: float
    method: str


def _lambdas(p: PhononParameters) -> dict[str, tuple[NDArray[np.float64], float]]:
    """``Lambda^A_n`` (n = 1..5) and ``Lambda^B_1`` of both branches (J^2)."""
    d, u, s = (p.xi_d_eV * _J_PER_EV, p.xi_u_eV * _J_PER_EV, p.xi_s_eV * _J_PER_EV)
    lon = np.array(
        [
            4 * u * u / 35 + 8 * d * u / 15 + 4 * d * d / 3,
            4 * u * u / 7 + 8 * d * u / 5 + 4 * d * d / 3,
            16 * s * s / 35,
            16 * s * s / 105,
            8 * u * s / 105 + 8 * d * s / 15,
        ]
    )
    tra = np.array(
        [16 * u * u / 105, 8 * u * u / 35, 64 * s * s / 105, 8 * s * s / 21, -8 * u * s / 105]
    )
    return {"l": (lon, 16 * s * s / 15), "t": (tra, 24 * s * s / 15)}


def _checked_keys(
    values: Mapping[str, Any] | None, allowed: tuple[str, ...], name: str
) -> dict[str, Any]:
    out = dict(values or {})
    unknown = sorted(set(out) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {unknown}; allowed: {list(allowed)}")
    return out


def _coth_factor(energy_meV: float, temperature_K: float) -> float:
    if temperature_K == 0.0:
        return 1.0
    x = energy_meV / (2 * _K_B_MEV_PER_K * temperature_K)
    return 1.0 / math.tanh(x)


class PhononCoupling:
    """The envelopes' moments of a two-valley model with spin, bound once for phonon rates.

    Parameters
    ----------
    operators : KPOperators
        Two valleys with a spin each (four components, spin fastest).
    positions_nm : sequence of coefficients, optional
        ``x, y`` (and ``z``) as coefficient fields (default the mesh's coordinates; a 2-D mesh
        lies at ``z = 0`` unless a third field is given).
    second_moments_nm2 : mapping, optional
        ``"xx", "yy", "zz", "xy"`` fields for the dipole moments ``T`` (default the products of
        the positions; on a Born-Oppenheimer plane pass the column's ``<z^2>`` as ``"zz"``).
    valley_form_factor : complex coefficient, optional
        ``eta(r)``, the weight of every inter-valley moment (shear coupling): by default
        ``exp(2 i k0' z)`` on a 3-D mesh; on a 2-D mesh without it only rates without shear
        (``xi_s_eV = 0``) can be computed.
    form_factor_moments : mapping, optional
        ``"x", "y", "z", "xx", "yy", "zz", "xy"``: ``eta`` times each monomial, where the plane
        holds more than ``eta`` times the positions (``<chi| z exp(2 i k0' z) |chi>``).
    """

    def __init__(
        self,
        operators: KPOperators,
        *,
        positions_nm: Sequence[Any] | None = None,
        second_moments_nm2: Mapping[str, Any] | None = None,
        valley_form_factor: Any = None,
        form_factor_moments: Mapping[str, Any] | None = None,
    ) -> None:
        from femvalley.units import K0_PRIME_PER_NM

        n = int(operators.model.n_components)
        if n != 4:
            raise ValueError(
                "phonon rates need two valleys with a spin each (4 components, spin fastest); "
                f"the operators have {n} components"
            )
        self.operators = operators
        basis = operators.basis
        dim = basis.mesh.dim()
        pts = np.asarray(basis.global_coordinates())
        if positions_nm is None:
            coords = [pts[i] for i in range(dim)]
        else:
            coords = [
                coefficient_at_quadrature(c, basis, f"positions_nm[{i}]")
                for i, c in enumerate(positions_nm)
            ]
        while len(coords) < 3:
            coords.append(np.zeros_like(coords[0]))
        if len(coords) != 3:
            raise ValueError(f"positions_nm has {len(coords)} fields; expected 2 or 3")
        self._coords_qp = np.stack([np.asarray(c, dtype=float) for c in coords])
        seconds = _checked_keys(second_moments_nm2, _PAIRS, "second_moments_nm2")
        weights: dict[str, Any] = {"1": np.ones_like(coords[0])}
        for i, ax in enumerate(_AXES):
            weights[ax] = self._coords_qp[i]
        for pair in _PAIRS:
            if pair in seconds:
                weights[pair] = coefficient_at_quadrature(
                    seconds[pair], basis, f"second_moments_nm2[{pair!r}]"
                )
            else:
                i, j = _AXES.index(pair[0]), _AXES.index(pair[1])
                weights[pair] = self._coords_qp[i] * self._coords_qp[j]
        if valley_form_factor is None and dim == 3:
            eta: Any = np.exp(2j * K0_PRIME_PER_NM * pts[2])
        elif valley_form_factor is None:
            eta = None
        else:
            eta = coefficient_at_quadrature(
                valley_form_factor, basis, "valley_form_factor", complex_ok=True
            )
        self._eta_qp = eta
        given = _checked_keys(form_factor_moments, _AXES + _PAIRS, "form_factor_moments")

        def condensed(w: Any) -> SparseMatrix:
            return condensed_mass(operators, w)

        self._moments: dict[str, SparseMatrix] = {k: condensed(w) for k, w in weights.items()}
        self._inter: dict[str, SparseMatrix] | None = None
        if eta is not None:
            inter = {}
            for k, w in weights.items():
                if k in given:
                    inter[k] = condensed(
                        coefficient_at_quadrature(
                            given[k], basis, f"form_factor_moments[{k!r}]", complex_ok=True
                        )
                    )
                else:
                    inter[k] = condensed(eta * w)
            self._inter = inter
        self._dx = np.asarray(basis.dx)

    @property
    def has_shear(self) -> bool:
        """Whether the inter-valley (shear) moments are known (a valley form factor)."""
        return self._inter is not None

    def moments(
        self, final: NDArray[Any], initial: NDArray[Any]
    ) -> tuple[NDArray[Any], dict[str, NDArray[Any]], dict[str, NDArray[Any]]]:
        """``S_ij``, ``R^k_ij`` and ``T^kk'_ij`` (2 x 2 each; nm, nm^2) of two states.

        Index 0 is the two-band model's ``-`` valley (femvalley's ``+z``), 1 its ``+``
        valley (``-z``). Without a valley form factor the inter-valley entries are zero.
        """
        ni = int(self.operators.interior.size)
        a = np.asarray(final, dtype=np.complex128).reshape(2, 2, ni)
        b = np.asarray(initial, dtype=np.complex128).reshape(2, 2, ni)

        def moment(key: str) -> NDArray[Any]:
            w = self._moments[key]
            out = np.zeros((2, 2), dtype=np.complex128)
            for i in range(2):
                out[i, i] = sum(np.vdot(a[i, s], w @ b[i, s]) for s in range(2))
            if self._inter is not None:
                wi = self._inter[key]
                # <a_-| w |b_+> = -i <F_+z| eta w |F_-z>, <a_+| w |b_-> = i <F_-z| eta^* w |F_+z>
                out[0, 1] = -1j * sum(np.vdot(a[0, s], wi @ b[1, s]) for s in range(2))
                out[1, 0] = 1j * sum(np.vdot(a[1, s], wi.conj().T @ b[0, s]) for s in range(2))
            return out

        s = moment("1")
        r = {k: moment(k) for k in _AXES}
        t = {k: moment(k) for k in _PAIRS}
        t["yx"] = t["xy"]
        return s, r, t

    def rate(
        self,
        initial: NDArray[Any],
        final: NDArray[Any],
        energy_meV: float,
        *,
        temperature_K: float = 0.1,
        parameters: PhononParameters = SILICON_PHONONS,
        method: str = "dipole",
        n_theta: int = 32,
        n_phi: int = 64,
    ) -> RelaxationRate:
        """Return ``Gamma`` of ``initial -> final`` (condensed M-orthonormal state vectors).

        ``energy_meV``: the transition energy (> 0); ``temperature_K`` >= 0 (0: emission
        only). ``n_theta``, ``n_phi``: the angular quadrature of ``method="exact"``.
        """
        e = float(energy_meV)
        if not (math.isfinite(e) and e > 0):
            raise ValueError(f"energy_meV = {energy_meV!r} must be a positive number (meV)")
        temp = float(temperature_K)
        if not (math.isfinite(temp) and temp >= 0):
            raise ValueError(f"temperature_K = {temperature_K!r} must be >= 0 (K)")
        if method not in METHODS:
            raise ValueError(f"method = {method!r}; allowed: {', '.join(METHODS)}")
        p = parameters
        if p.xi_s_eV != 0.0 and not self.has_shear:
            raise ValueError(
                f"xi_s_eV = {p.xi_s_eV!r}: the shear coupling between the valleys needs the "
                "valley form factor (valley_form_factor of PhononCoupling, required on a 2-D "
                "mesh); use parameters.without_shear() for a rate without it"
            )
        w = e * _J_PER_MEV / _HBAR_J_S
        coth = _coth_factor(e, temp)
        if method == "dipole":
            lon, tra = self._dipole(final, initial, w, p)
            pref = w**3 / (8 * math.pi * _HBAR_J_S * p.density_kg_m3) * coth
        else:
            lon, tra = self._exact(final, initial, w, p, n_theta, n_phi)
            pref = w**3 / (8 * math.pi**2 * _HBAR_J_S * p.density_kg_m3) * coth
        return RelaxationRate(
            rate_per_s=float(pref * (lon + tra)),
            longitudinal_per_s=float(pref * lon),
            transverse_per_s=float(pref * tra),
            energy_meV=e,
            temperature_K=temp,
            method=method,
        )

    def _dipole(
        self, final: NDArray[Any], initial: NDArray[Any], w: float, p: PhononParameters
    ) -> tuple[float, float]:
        s, r, t = self.moments(final, initial)
        nm, nm2 = 1e-9, 1e-18
        rr = {k: v * nm for k, v in r.items()}
        tt = {k: v * nm2 for k, v in t.items()}

        def o(m: str, n: str, i: int, j: int, k: int, ll: int) -> complex:
            return complex(
                rr[m][i, j] * np.conj(rr[n][k, ll])
                - 0.5 * (tt[m + n][i, j] * np.conj(s[k, ll]) + np.conj(tt[m + n][k, ll]) * s[i, j])
            )

        idx = (0, 1)
        a1 = sum(o("x", "x", i, i, j, j) + o("y", "y", i, i, j, j) for i in idx for j in idx)
        a2 = sum(o("z", "z", i, i, j, j) for i in idx for j in idx)
        off = [(i, j) for i in idx for j in idx if i != j]
        a3 = sum(
            o("x", "x", i, j, k, ll) + o("y", "y", i, j, k, ll) for i, j in off for k, ll in off
        )
        a4 = sum(o("z", "z", i, j, k, ll) for i, j in off for k, ll in off)
        a5 = sum(
            o("x", "y", i, i, j, k)
            + o("x", "y", j, k, i, i)
            + o("y", "x", i, i, j, k)
            + o("y", "x", j, k, i, i)
            for i in idx
            for j, k in off
        )
        b1 = sum(s[i, j] * np.conj(s[k, ll]) for i, j in off for k, ll in off)
        a = np.array([a1, a2, a3, a4, a5])
        lam = _lambdas(p)
        parts = []
        for branch, v in (("l", p.v_l_m_s), ("t", p.v_t_m_s)):
            la, lb = lam[branch]
            parts.append(float((w**2 / v**7 * np.dot(a, la) + b1 * lb / v**5).real))
        return parts[0], parts[1]

    def _exact(
        self,
        final: NDArray[Any],
        initial: NDArray[Any],
        w: float,
        p: PhononParameters,
        n_theta: int,
        n_phi: int,
    ) -> tuple[float, float]:
        basis = self.operators.basis
        interior = self.operators.interior
        ni = int(interior.size)
        a = np.asarray(final, dtype=np.complex128).reshape(2, 2, ni)
        b = np.asarray(initial, dtype=np.complex128).reshape(2, 2, ni)

        def at_qp(x: NDArray[Any]) -> NDArray[Any]:
            full = np.zeros(basis.N, dtype=np.complex128)
            full[interior] = x
            re = np.asarray(basis.interpolate(full.real))
            im = np.asarray(basis.interpolate(full.imag))
            return re + 1j * im

        av = [[at_qp(a[i, s]) for s in range(2)] for i in range(2)]
        bv = [[at_qp(b[i, s]) for s in range(2)] for i in range(2)]

        def density(i: int, j: int) -> NDArray[Any]:
            return np.asarray(sum(np.conj(av[i][s]) * bv[j][s] for s in range(2)) * self._dx)

        eta = self._eta_qp
        zero = np.zeros_like(self._dx, dtype=np.complex128)
        rho = np.stack(
            [
                density(0, 0).ravel(),
                (zero if eta is None else -1j * eta * density(0, 1)).ravel(),
                (zero if eta is None else 1j * np.conj(eta) * density(1, 0)).ravel(),
                density(1, 1).ravel(),
            ]
        )
        coords = self._coords_qp.reshape(3, -1)  # nm
        u, wu = np.polynomial.legendre.leggauss(int(n_theta))
        phi = 2 * math.pi * np.arange(int(n_phi)) / int(n_phi)
        cos_t = np.repeat(u, phi.size)
        sin_t = np.sqrt(1 - cos_t**2)
        ph = np.tile(phi, u.size)
        weight = np.repeat(wu, phi.size) * (2 * math.pi / phi.size)
        qhat = np.stack([sin_t * np.cos(ph), sin_t * np.sin(ph), cos_t])  # (3, ndir)
        d, uu, s = (p.xi_d_eV * _J_PER_EV, p.xi_u_eV * _J_PER_EV, p.xi_s_eV * _J_PER_EV)
        sin2t = 2 * sin_t * cos_t
        # dH on (i, j) in the order (00, 01, 10, 11) for each branch: (4, ndir)
        diag_l = d + uu * cos_t**2
        off_l = s * sin_t**2 * np.sin(2 * ph)
        diag_t1 = -0.5 * uu * sin2t
        off_t1 = 0.5 * s * sin2t * np.sin(2 * ph)
        off_t2 = s * sin_t * np.cos(2 * ph)
        zero = np.zeros_like(ph)
        couplings = {
            "l": np.stack([diag_l, off_l, off_l, diag_l]),
            "t1": np.stack([diag_t1, off_t1, off_t1, diag_t1]),
            "t2": np.stack([zero, off_t2, off_t2, zero]),
        }
        totals = {"l": 0.0, "t": 0.0}
        chunk = max(1, int(2e6 // max(coords.shape[1], 1)))
        for branch, v in (("l", p.v_l_m_s), ("t1", p.v_t_m_s), ("t2", p.v_t_m_s)):
            q_nm = w / v * 1e-9
            acc = 0.0
            for start in range(0, qhat.shape[1], chunk):
                sl = slice(start, start + chunk)
                phase = np.exp(1j * q_nm * (qhat[:, sl].T @ coords))  # (nd, nqp)
                f = rho @ phase.T  # (4, nd)
                m = np.sum(couplings[branch][:, sl] * f, axis=0)
                acc += float(np.sum(weight[sl] * np.abs(m) ** 2))
            totals["l" if branch == "l" else "t"] += acc / v**5
        return totals["l"], totals["t"]
