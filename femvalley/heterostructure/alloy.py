"""Random SiGe alloy disorder and the statistics of the valley splitting (ref. 3 II.6).

The grid is divided into boxes, one per grid point: ``step x step`` in plane and one
monolayer (``a / 4``) high, so a box holds ``n = round(8 step^2 (a / 4) / a^3) = round(2
step^2 / a^2)`` atomic sites (7 for a 1 nm step). Every site is Ge with the probability
``Y(z_k)`` of its monolayer's mean concentration, independently, so the Ge count of a box is
binomial ``B(n, Y(z_k))`` and the box's fraction is ``Y_ijk = count / n``. (ref. 3 instead
fixes each monolayer's total and spreads it over the boxes; the two agree to ``O(1 / boxes)``,
and independent boxes make ref. 3 eq. 28 exact.) The rounding of ``n`` changes the site
density by at most half a site per box (3 % at 1 nm).

Disorder enters only the inter-valley potential ``V_inter = 514 meV * Y_ijk``; the
intra-valley potential keeps the mean profile (ref. 3 II.6).

Models of a dot (in-plane oscillator ground state ``phi_0`` on the box grid, weights
``w_ij = |phi_0(x_i, y_j)|^2 dx dy``):

- ``"first_order"``: ``J = -i sum_ijk w_ij dz e^{2 i k0' z_k} s_k V_inter,ijk f_k^2`` with
  the monolayer ground envelope ``f`` (ref. 3 eq. 18), ``E_V = 2 |J|``;
- ``"two_band"``: the 1-D two-band problem with the in-plane-projected inter-valley potential
  ``sum_ij w_ij V_inter,ijk`` (non-perturbative along z; first order in the in-plane
  valley-orbit mixing, which :func:`~femvalley.heterostructure.twoband.solve_two_band_3d`
  keeps).

``J`` is then a complex Gaussian around its disorder-free value, and ``|J|`` is Rician
(:func:`rician_parameters`); ``E|J|^2 = |E J|^2 + sum (w_ij dz f_k^2)^2 Var V_inter`` (eq. 28,
:func:`expected_coupling_moments`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.heterostructure.profiles import Profile
from femvalley.heterostructure.twoband import (
    V_INTER_GE_MEV,
    MonolayerGrid,
    first_order_coupling_meV,
    in_plane_operators,
    in_plane_weights,
    solve_single_valley_1d,
    solve_two_band_1d,
)

__all__ = [
    "DISORDER_METHODS",
    "DotModel",
    "EnsembleResult",
    "expected_coupling_moments",
    "rician_parameters",
    "sample_ge_fraction",
    "sites_in_area",
    "sites_per_box",
    "valley_splitting_ensemble",
]

DisorderMethod = Literal["first_order", "two_band"]
DISORDER_METHODS: tuple[str, ...] = ("first_order", "two_band")


def sites_in_area(area_nm2: ArrayLike, lattice_constant_nm: float) -> NDArray[np.int64]:
    """Atomic sites of one monolayer over ``area_nm2``: ``round(2 area / a^2)`` (elementwise)."""
    return np.rint(2 * np.asarray(area_nm2, dtype=float) / lattice_constant_nm**2).astype(np.int64)


def sites_per_box(step_nm: float, lattice_constant_nm: float) -> int:
    """Atomic sites in a ``step x step x a/4`` box: ``round(2 step^2 / a^2)`` (>= 1)."""
    if not (math.isfinite(step_nm) and step_nm > 0):
        raise ValueError(f"step_nm = {step_nm!r} must be > 0")
    n = int(sites_in_area(step_nm**2, lattice_constant_nm))
    if n < 1:
        raise ValueError(
            f"step_nm = {step_nm!r} gives boxes with no atomic site; use step_nm >= "
            f"{lattice_constant_nm / 2:.3f}"
        )
    return n


def sample_ge_fraction(
    mean_fraction: ArrayLike,
    *,
    shape_xy: tuple[int, int],
    sites: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """One alloy realisation: ``Y_ijk = B(sites, Y_k) / sites`` on ``shape_xy`` boxes per layer.

    Returns an array ``(nx, ny, n_monolayers)``.
    """
    y = np.clip(np.asarray(mean_fraction, dtype=float), 0.0, 1.0)
    counts = rng.binomial(sites, np.broadcast_to(y, (*shape_xy, y.size)))
    return counts / float(sites)


@dataclass(frozen=True, kw_only=True)
class DotModel:
    """A dot over a heterostructure: the vertical problem, the in-plane dot, the alloy boxes.

    Attributes
    ----------
    profile : Profile
        Mean Ge fraction X(z).
    field_MV_per_m : float
        Vertical field.
    hbar_omega_meV : float
        In-plane oscillator spacing (5 meV is a dot of radius about 9 nm).
    grid : MonolayerGrid
        Monolayers (default 160, centred on z = 0).
    box_nm : (float, float)
        In-plane extent of the disorder boxes (default 44 x 44 nm).
    step_nm : float
        In-plane box side (default 1 nm).
    v_inter_ge_meV : float
        Inter-valley potential per unit Ge (514 meV).
    """

    profile: Profile
    field_MV_per_m: float = 5.0
    hbar_omega_meV: float = 5.0
    grid: MonolayerGrid = MonolayerGrid()
    box_nm: tuple[float, float] = (44.0, 44.0)
    step_nm: float = 1.0
    v_inter_ge_meV: float = V_INTER_GE_MEV

    def __post_init__(self) -> None:
        if not isinstance(self.profile, Profile):
            raise ValueError(f"profile = {self.profile!r} must be a Profile")
        for name in ("field_MV_per_m", "hbar_omega_meV", "step_nm", "v_inter_ge_meV"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} = {v!r} must be a finite number")
        if self.hbar_omega_meV <= 0:
            raise ValueError(f"hbar_omega_meV = {self.hbar_omega_meV!r} must be > 0")
        sites_per_box(self.step_nm, self.grid.lattice_constant_nm)
        in_plane_operators(self.box_nm, self.step_nm, self.hbar_omega_meV)

    @property
    def sites(self) -> int:
        """Atomic sites per box."""
        return sites_per_box(self.step_nm, self.grid.lattice_constant_nm)

    def weights(self) -> NDArray[np.float64]:
        """In-plane weights ``w_ij`` of the boxes (:func:`in_plane_weights`; they sum to 1)."""
        return in_plane_weights(self.box_nm, self.step_nm, hbar_omega_meV=self.hbar_omega_meV)

    def mean_fraction(self) -> NDArray[np.float64]:
        """``X(z_k)`` on the monolayers."""
        return np.asarray(self.profile(self.grid.z_nm))

    def vertical_density(self) -> NDArray[np.float64]:
        """``f_k^2`` of the single-valley monolayer ground state (``sum f^2 dz = 1``)."""
        _, f = solve_single_valley_1d(
            self.profile, field_MV_per_m=self.field_MV_per_m, grid=self.grid
        )
        return np.asarray(f * f)


def expected_coupling_moments(model: DotModel) -> tuple[complex, float]:
    """``(E J, E|J - E J|^2)`` of the first-order coupling over alloy realisations (eq. 28).

    ``Var V_inter,ijk = V_Ge^2 Y_k (1 - Y_k) / sites`` for independent binomial boxes.
    """
    fk2 = model.vertical_density()
    w = model.weights()
    y = model.mean_fraction()
    mean = first_order_coupling_meV(fk2, model.v_inter_ge_meV * y, grid=model.grid) * float(w.sum())
    var_v = model.v_inter_ge_meV**2 * y * (1 - y) / model.sites
    dz = model.grid.step_nm
    variance = float(np.sum(w**2) * np.sum((dz * fk2) ** 2 * var_v))
    return mean, variance


@dataclass(frozen=True)
class EnsembleResult:
    """Valley splittings of an ensemble of alloy realisations.

    Attributes
    ----------
    valley_splitting_meV : ndarray (realisations,)
    coupling_meV : ndarray, complex (realisations,)
        First-order ``J`` of every realisation (``E_V = 2 |J|`` for ``"first_order"``).
    method : str
    seed : int
    """

    valley_splitting_meV: NDArray[np.float64]
    coupling_meV: NDArray[np.complex128]
    method: str
    seed: int

    def statistics_ueV(self) -> dict[str, float]:
        """Median, quartiles, inter-quartile range, mean and extremes of E_V, in ueV."""
        ev = 1e3 * self.valley_splitting_meV
        q25, med, q75 = np.percentile(ev, [25, 50, 75])
        return {
            "realisations": float(ev.size),
            "median_ueV": float(med),
            "q25_ueV": float(q25),
            "q75_ueV": float(q75),
            "iqr_ueV": float(q75 - q25),
            "mean_ueV": float(ev.mean()),
            "min_ueV": float(ev.min()),
            "max_ueV": float(ev.max()),
        }


def valley_splitting_ensemble(
    model: DotModel,
    *,
    realisations: int,
    seed: int = 0,
    method: DisorderMethod = "two_band",
) -> EnsembleResult:
    """Valley splitting of ``realisations`` alloy configurations of ``model``.

    Realisation ``r`` draws from ``numpy.random.default_rng([seed, r])``, so any realisation
    is reproducible on its own and a longer ensemble extends a shorter one.
    """
    if method not in DISORDER_METHODS:
        raise ValueError(f"method = {method!r} must be one of {DISORDER_METHODS}")
    if isinstance(realisations, bool) or not isinstance(realisations, int) or realisations < 1:
        raise ValueError(f"realisations = {realisations!r} must be an integer >= 1")
    fk2 = model.vertical_density()
    w = model.weights()
    y = model.mean_fraction()
    sites = model.sites
    ev = np.empty(realisations)
    jj = np.empty(realisations, dtype=complex)
    for r in range(realisations):
        rng = np.random.default_rng([seed, r])
        yk = sample_ge_fraction(y, shape_xy=w.shape, sites=sites, rng=rng)
        # in-plane projection of V_inter per monolayer
        v_bar = model.v_inter_ge_meV * np.tensordot(w, yk, axes=([0, 1], [0, 1]))
        jj[r] = first_order_coupling_meV(fk2, v_bar, grid=model.grid)
        if method == "first_order":
            ev[r] = 2 * abs(jj[r])
        else:
            sol = solve_two_band_1d(
                model.profile,
                field_MV_per_m=model.field_MV_per_m,
                grid=model.grid,
                v_inter_meV=v_bar,
            )
            ev[r] = sol.valley_splitting_meV
    return EnsembleResult(valley_splitting_meV=ev, coupling_meV=jj, method=method, seed=seed)


def rician_parameters(mean_coupling_meV: complex, variance_meV2: float) -> tuple[float, float]:
    """``(nu, sigma)`` of the Rician law of ``E_V = 2 |J|`` (meV).

    ``J`` complex Gaussian with mean ``E J`` and ``E|J - E J|^2 = variance`` (``variance / 2``
    per real component) gives ``E_V`` Rician with ``nu = 2 |E J|`` and
    ``sigma = 2 sqrt(variance / 2)``; use ``scipy.stats.rice(nu / sigma, scale=sigma)``.
    """
    if not (math.isfinite(variance_meV2) and variance_meV2 > 0):
        raise ValueError(f"variance_meV2 = {variance_meV2!r} must be > 0")
    return 2 * abs(mean_coupling_meV), 2 * math.sqrt(variance_meV2 / 2)
