"""Discretisation errors: Richardson extrapolation over mesh levels, and a convergence driver.

Every number femvalley reports should carry its discretisation error. This module is the
generic machinery for that, independent of how a study is run:

- :func:`richardson` takes an observable computed at two or more mesh sizes ``h`` and returns
  an :class:`Extrapolation`: the extrapolated value, the observed order of convergence, the
  estimated error of the finest value, an estimate of the error of the extrapolated value
  itself, and a status that says whether the numbers can be trusted;
- :func:`converge` runs any callable ``run_level(level) -> {name: value}`` over a sequence of
  mesh levels (``{"kp_mesh_size_nm": 2.5, ...}``, coarse to fine), times each level and
  returns a :class:`ConvergenceTable` (CSV, JSON, plain-text table);
- :func:`refine_levels` makes the levels ``h, h / r, h / r^2, ...`` from a base level.

Model
-----
On the three finest levels ``h1 > h2 > h3`` (any ratios) the values are fitted exactly by
``v_i = v* + C h_i^p``. With ``d1 = v2 - v1`` and ``d2 = v3 - v2`` the order solves

    d1 / d2 = (h1^p - h2^p) / (h2^p - h3^p),

whose right-hand side increases monotonically from 0 (``p -> -inf``) to ``inf``
(``p -> inf``); for a constant ratio ``r`` it is ``r^p`` and ``p = ln(d1 / d2) / ln r``.
Then ``v* = v3 + d2 / ((h2 / h3)^p - 1)``.

Statuses
--------
``"converging"``
    The differences of the three finest levels have one sign and the observed order lies in
    ``[min_order, max_order]``; ``value`` is ``v*``. With only two levels and an
    ``assumed_order`` the status is also ``"converging"`` with ``order_assumed = True``
    (nothing checks the order then).
``"oscillating"``
    The differences change sign.
``"stagnant"``
    The finest difference is at round-off (``<= max(roundoff_atol, roundoff_rtol max|v|)``).
``"diverging"``
    The observed order is ``<= 0``: the values move more as the mesh is refined.
``"irregular"``
    One sign, but the observed order is outside ``[min_order, max_order]`` (pre-asymptotic
    levels, or a difference close to round-off), or the coarser difference vanishes while
    the finer one does not.
``"not enough levels"``
    Fewer than two finite values, or two values and no ``assumed_order``.

For every status but ``"converging"``, ``value`` is the finest finite value and ``error`` the
conservative bound ``max(|d1|, |d2|, round-off)`` over the (up to) three finest levels
(``inf`` with a single finite value): never an estimate from a fit that does not hold.

Error of the extrapolated value
-------------------------------
``extrapolation_error`` estimates ``|v* - v_exact|``:

- with four or more levels it is ``|v*(3 finest) - v*(3 next-coarser)|``, the change of the
  extrapolation when the finest level is replaced by the next coarser one (the coarser triple
  has the larger error, so this is about ``(r^q - 1)`` times the error of ``v*`` for a
  leading neglected term ``h^q``; at least 1.8 times it for ``q >= p + 1 >= 3`` and
  ``r >= sqrt(2)``), or, if larger, the change of ``v*`` when the finest pair is
  extrapolated with the coarser triple's order instead (a guard against an accidental
  agreement of the two triples). If the coarser triple is not itself ``"converging"``, the
  extrapolation is unchecked and the estimate falls back to ``error``;
- with three levels (or two and an assumed order) nothing checks the extrapolation, so
  ``v*`` is claimed no more accurate than the finest value: ``extrapolation_error = error``.

It is never below the round-off level. :attr:`Extrapolation.note` says which case applied.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.io.atomic import write_text

__all__ = [
    "STATUSES",
    "ConvergenceTable",
    "Extrapolation",
    "RichardsonOptions",
    "converge",
    "refine_levels",
    "richardson",
]

#: Every value :attr:`Extrapolation.status` takes.
STATUSES = (
    "converging",
    "oscillating",
    "stagnant",
    "diverging",
    "irregular",
    "not enough levels",
)

_ORDER_SEARCH = 60.0  # observed orders are searched in [-60, 60]


def _finite_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} = {value!r} must be a real number")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} = {value!r} must be finite")
    return v


@dataclass(frozen=True, kw_only=True)
class RichardsonOptions:
    """How :func:`richardson` judges a sequence of levels.

    Parameters
    ----------
    assumed_order : float or None
        Formal order of convergence of the observable (2 for P1 energies, 4 for P2). Used
        with only two levels (``None``: two levels give ``"not enough levels"``) and to set
        the default ``max_order``.
    min_order : float
        Smallest observed order accepted as ``"converging"``.
    max_order : float or None
        Largest observed order accepted as ``"converging"``; default
        ``2 * assumed_order + 2`` (10 without an assumed order).
    roundoff_rtol : float
        Differences ``<= roundoff_rtol * max|v|`` count as zero (round-off).
    roundoff_atol : float
        Absolute floor of the same (in the observable's unit), e.g. a solver tolerance.
    """

    assumed_order: float | None = 2.0
    min_order: float = 0.5
    max_order: float | None = None
    roundoff_rtol: float = 1e-12
    roundoff_atol: float = 0.0

    def __post_init__(self) -> None:
        if self.assumed_order is not None:
            p = _finite_number("assumed_order", self.assumed_order)
            if p <= 0:
                raise ValueError(f"assumed_order = {self.assumed_order!r} must be > 0 or None")
        lo = _finite_number("min_order", self.min_order)
        if lo <= 0:
            raise ValueError(f"min_order = {self.min_order!r} must be > 0")
        if self.max_order is not None:
            hi = _finite_number("max_order", self.max_order)
            if hi <= lo:
                raise ValueError(
                    f"max_order = {self.max_order!r} must be > min_order = {self.min_order!r}"
                )
        elif self.upper_order <= lo:
            raise ValueError(
                f"min_order = {self.min_order!r} must be < the default max_order "
                f"{self.upper_order!r} (2 * assumed_order + 2)"
            )
        rt = _finite_number("roundoff_rtol", self.roundoff_rtol)
        if not 0 <= rt < 1:
            raise ValueError(f"roundoff_rtol = {self.roundoff_rtol!r} must be in [0, 1)")
        if _finite_number("roundoff_atol", self.roundoff_atol) < 0:
            raise ValueError(f"roundoff_atol = {self.roundoff_atol!r} must be >= 0")

    @property
    def upper_order(self) -> float:
        """The largest accepted order (``max_order`` or its default)."""
        if self.max_order is not None:
            return float(self.max_order)
        return 2.0 * float(self.assumed_order) + 2.0 if self.assumed_order else 10.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for JSON."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class Extrapolation:
    """Richardson extrapolation of one observable, with its error estimates.

    Attributes
    ----------
    value : float
        ``v*`` for ``"converging"``; the finest finite value otherwise. Unit of the
        observable.
    order : float
        Observed order ``p`` of ``v = v* + C h^p`` (the assumed order if
        ``order_assumed``; ``nan`` when there is none, e.g. ``"oscillating"``; ``-inf`` or
        ``inf`` beyond the search range [-60, 60]).
    order_assumed : bool
        Whether ``order`` was assumed (two levels) rather than observed.
    error : float
        Estimated error of the finest value, ``|v_finest - v*|`` (``"converging"``), or a
        conservative bound (other statuses; see the module notes).
    extrapolation_error : float
        Estimated error of ``value`` itself (see the module notes).
    status : str
        One of :data:`STATUSES`.
    finest : float
        The finest finite value.
    levels_used : int
        Number of levels with a finite value (NaN levels are skipped).
    note : str
        Why the status, and which error estimate applies.
    """

    value: float
    order: float
    order_assumed: bool
    error: float
    extrapolation_error: float
    status: str
    finest: float
    levels_used: int
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status = {self.status!r}; allowed: {list(STATUSES)}")

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Extrapolation:
        """Rebuild from :meth:`as_dict`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Extrapolation: unknown field(s) {unknown}; allowed: {sorted(names)}")
        return cls(**dict(data))


def _log_abs_expm1(x: float) -> float:
    """``log|exp(x) - 1|`` without overflow (x != 0)."""
    if x > 30.0:
        return x + math.log1p(-math.exp(-x))
    if x < -30.0:
        return math.log1p(-math.exp(x))
    return math.log(abs(math.expm1(x)))


def _log_ratio(p: float, a: float, b: float) -> float:
    """``log[(h1^p - h2^p) / (h2^p - h3^p)]`` with ``a = ln(h1/h2)``, ``b = ln(h2/h3)``."""
    if abs(p) < 1e-12:
        return math.log(a / b)
    return p * b + _log_abs_expm1(p * a) - _log_abs_expm1(p * b)


def _observed_order(h: NDArray[np.float64], d1: float, d2: float) -> float:
    """Order ``p`` of ``v = v* + C h^p`` through three levels ``h`` (descending).

    ``d1 / d2 > 0`` is required. Returns ``-inf`` / ``inf`` beyond [-60, 60].
    """
    from scipy.optimize import brentq

    a = math.log(h[0] / h[1])
    b = math.log(h[1] / h[2])
    target = math.log(d1 / d2)

    def f(p: float) -> float:
        return _log_ratio(p, a, b) - target

    lo, hi = -_ORDER_SEARCH, _ORDER_SEARCH
    flo, fhi = f(lo), f(hi)
    if flo > 0:
        return -math.inf
    if fhi < 0:
        return math.inf
    if flo == 0:
        return lo
    if fhi == 0:
        return hi
    return float(brentq(f, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=200))


def _extrapolate(h_coarse: float, h_fine: float, v_coarse: float, v_fine: float, p: float) -> float:
    """``v*`` from two levels and an order (``v = v* + C h^p``)."""
    denom = math.expm1(p * math.log(h_coarse / h_fine))  # (h_c / h_f)^p - 1 > 0
    return float(v_fine + (v_fine - v_coarse) / denom)


def _triple(
    h: NDArray[np.float64], v: NDArray[np.float64], tol: float, opts: RichardsonOptions
) -> tuple[str, float, float, str]:
    """Status, order, ``v*`` (or nan) and a note for three levels ``h`` (descending)."""
    d1, d2 = float(v[1] - v[0]), float(v[2] - v[1])
    nan = math.nan
    if abs(d2) <= tol:
        return (
            "stagnant",
            nan,
            nan,
            f"the finest difference {d2:.3g} is at round-off (<= {tol:.3g})",
        )
    if abs(d1) <= tol:
        note = f"the coarser difference {d1:.3g} is at round-off but the finest, {d2:.3g}, is not"
        return "irregular", nan, nan, note
    if (d1 > 0) != (d2 > 0):
        return "oscillating", nan, nan, f"the differences {d1:.3g} and {d2:.3g} change sign"
    p = _observed_order(h, d1, d2)
    if p <= 0:
        return "diverging", p, nan, f"observed order {p:.3g} <= 0"
    if not opts.min_order <= p <= opts.upper_order:
        note = f"observed order {p:.3g} outside [{opts.min_order:g}, {opts.upper_order:g}]"
        return "irregular", p, nan, note
    v_star = _extrapolate(float(h[1]), float(h[2]), float(v[1]), float(v[2]), p)
    return "converging", p, v_star, f"observed order {p:.3g}"


def _levels(h: ArrayLike, values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check the mesh sizes and values of :func:`richardson`; return them as float arrays."""
    hh = np.asarray(h, dtype=np.float64).reshape(-1)
    vv = np.asarray(values, dtype=np.float64).reshape(-1)
    if hh.size != vv.size:
        raise ValueError(f"h has {hh.size} levels but values has {vv.size}; need one per level")
    if hh.size < 2:
        raise ValueError(f"h has {hh.size} level(s); need at least 2")
    if not np.all(np.isfinite(hh) & (hh > 0)):
        raise ValueError(f"h = {hh.tolist()}: every mesh size must be finite and > 0")
    if np.unique(hh).size != hh.size:
        raise ValueError(f"h = {hh.tolist()} repeats a mesh size; levels must be distinct")
    return hh, vv


def richardson(
    h: ArrayLike,
    values: ArrayLike,
    *,
    assumed_order: float | None = 2.0,
    min_order: float = 0.5,
    max_order: float | None = None,
    roundoff_rtol: float = 1e-12,
    roundoff_atol: float = 0.0,
    options: RichardsonOptions | None = None,
) -> Extrapolation:
    """Richardson-extrapolate an observable over mesh levels, with error estimates.

    Parameters
    ----------
    h : array_like, shape (L,)
        Mesh sizes of the ``L >= 2`` levels (nm, or any unit: only ratios matter); any
        order, distinct, not necessarily in a constant ratio.
    values : array_like, shape (L,)
        The observable at each level (any unit); NaN marks a level where it was not
        resolved (skipped).
    assumed_order, min_order, max_order, roundoff_rtol, roundoff_atol
        See :class:`RichardsonOptions`.
    options : RichardsonOptions, optional
        All of the above at once (then the separate keywords must keep their defaults).

    Returns
    -------
    Extrapolation
        Value, order, errors and status (see the module notes for the rules).

    Raises
    ------
    ValueError
        If ``h`` and ``values`` differ in length, ``h`` has fewer than 2 entries, or an
        ``h`` is not finite and > 0, or two ``h`` are equal.

    Examples
    --------
    >>> h = [2.0, 2.0**0.5, 1.0, 2.0**-0.5]
    >>> e = richardson(h, [3 + 0.7 * x**2 for x in h])
    >>> e.status, round(e.order, 6), round(e.value, 9)
    ('converging', 2.0, 3.0)
    """
    given = RichardsonOptions(
        assumed_order=assumed_order,
        min_order=min_order,
        max_order=max_order,
        roundoff_rtol=roundoff_rtol,
        roundoff_atol=roundoff_atol,
    )
    if options is None:
        opts = given
    elif given != RichardsonOptions():
        raise ValueError(
            f"options = {options!r} and separate keywords ({given!r}) are both given; "
            "use one or the other"
        )
    else:
        opts = options
    hh, vv = _levels(h, values)
    order = np.argsort(-hh, kind="stable")  # coarse to fine
    hh, vv = hh[order], vv[order]
    ok = np.isfinite(vv)
    hh, vv = hh[ok], vv[ok]
    n = int(vv.size)
    if n == 0:
        return Extrapolation(
            value=math.nan,
            order=math.nan,
            order_assumed=False,
            error=math.inf,
            extrapolation_error=math.inf,
            status="not enough levels",
            finest=math.nan,
            levels_used=0,
            note="no level has a finite value",
        )
    finest = float(vv[-1])
    if n == 1:
        return Extrapolation(
            value=finest,
            order=math.nan,
            order_assumed=False,
            error=math.inf,
            extrapolation_error=math.inf,
            status="not enough levels",
            finest=finest,
            levels_used=1,
            note="only one level has a finite value: its error is unknown",
        )
    tail_h, tail_v = hh[-3:], vv[-3:]
    tol = max(opts.roundoff_atol, opts.roundoff_rtol * float(np.max(np.abs(tail_v))))
    bound = max(float(np.max(np.abs(np.diff(tail_v)))), tol)

    def fallback(status: str, p: float, note: str) -> Extrapolation:
        return Extrapolation(
            value=finest,
            order=p,
            order_assumed=False,
            error=bound,
            extrapolation_error=bound,
            status=status,
            finest=finest,
            levels_used=n,
            note=note + "; value is the finest, error the largest finest difference",
        )

    if n == 2:
        d = float(vv[1] - vv[0])
        if abs(d) <= tol:
            return fallback("stagnant", math.nan, f"the difference {d:.3g} is at round-off")
        if opts.assumed_order is None:
            return fallback("not enough levels", math.nan, "two levels and no assumed order")
        p = float(opts.assumed_order)
        v_star = _extrapolate(float(hh[0]), float(hh[1]), float(vv[0]), float(vv[1]), p)
        err = max(abs(finest - v_star), tol)
        return Extrapolation(
            value=v_star,
            order=p,
            order_assumed=True,
            error=err,
            extrapolation_error=err,
            status="converging",
            finest=finest,
            levels_used=2,
            note=f"two levels: order {p:g} assumed, not observed; extrapolation unchecked",
        )
    status, p, v_star, note = _triple(tail_h, tail_v, tol, opts)
    if status != "converging":
        return fallback(status, p, note)
    err = max(abs(finest - v_star), tol)
    ext = err
    note += "; three levels: extrapolation unchecked, its error taken as the finest's"
    if n >= 4:
        c_h, c_v = hh[-4:-1], vv[-4:-1]
        c_tol = max(opts.roundoff_atol, opts.roundoff_rtol * float(np.max(np.abs(c_v))))
        c_status, c_p, c_star, _ = _triple(c_h, c_v, c_tol, opts)
        note = f"observed order {p:.3g}"
        if c_status == "converging":
            # the finest pair extrapolated with the coarser triple's order: a guard against
            # an accidental agreement of the two triples
            v_alt = _extrapolate(float(hh[-2]), float(hh[-1]), float(vv[-2]), finest, c_p)
            ext = max(abs(v_star - c_star), abs(v_star - v_alt), tol)
            note += (
                f"; extrapolation error from the next-coarser triple (order {c_p:.3g}, "
                f"v* = {c_star:.10g})"
            )
        else:
            note += (
                f"; the next-coarser triple is {c_status}: extrapolation unchecked, its error "
                "taken as the finest's"
            )
    return Extrapolation(
        value=float(v_star),
        order=float(p),
        order_assumed=False,
        error=err,
        extrapolation_error=float(ext),
        status=status,
        finest=finest,
        levels_used=n,
        note=note,
    )


# -- levels -----------------------------------------------------------------------------------
def _check_levels(levels: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """Validate a sequence of levels (same keys, finite sizes > 0, strictly decreasing)."""
    if isinstance(levels, (str, bytes, Mapping)) or not isinstance(levels, Sequence):
        raise ValueError(
            f"levels = {levels!r} must be a sequence of mappings {{parameter: size_nm}}"
        )
    if len(levels) < 2:
        raise ValueError(f"levels has {len(levels)} level(s); need at least 2")
    out: list[dict[str, float]] = []
    for i, level in enumerate(levels):
        if not isinstance(level, Mapping) or not level:
            raise ValueError(
                f"levels[{i}] = {level!r} must be a non-empty mapping {{parameter: size_nm}}"
            )
        row: dict[str, float] = {}
        for key, value in level.items():
            if not isinstance(key, str):
                raise ValueError(f"levels[{i}]: parameter name {key!r} must be a string")
            v = _finite_number(f"levels[{i}][{key!r}]", value)
            if v <= 0:
                raise ValueError(f"levels[{i}][{key!r}] = {value!r} must be > 0")
            row[key] = v
        if out and set(row) != set(out[0]):
            raise ValueError(
                f"levels[{i}] has parameters {sorted(row)}; levels[0] has {sorted(out[0])}: "
                "every level needs the same parameters"
            )
        if out:
            for key, v in row.items():
                if not v < out[-1][key]:
                    raise ValueError(
                        f"levels[{i}][{key!r}] = {v!r} is not smaller than levels[{i - 1}]"
                        f"[{key!r}] = {out[-1][key]!r}: sizes must decrease strictly, "
                        "coarse to fine"
                    )
        out.append({k: row[k] for k in (out[0] if out else row)})
    return out


def refine_levels(
    base: Mapping[str, float], n_levels: int, ratio: float = math.sqrt(2.0)
) -> list[dict[str, float]]:
    """Levels ``h, h / ratio, h / ratio^2, ...`` of every mesh parameter of ``base``.

    Parameters
    ----------
    base : mapping of str to float
        The coarsest level, e.g. ``{"kp_mesh_size_nm": 4.0, "quantum_mesh_size_nm": 5.0}``
        (sizes in nm, finite and > 0).
    n_levels : int
        Number of levels, >= 2.
    ratio : float
        Refinement ratio between consecutive levels, > 1 (default ``sqrt(2)``).

    Returns
    -------
    list of dict
        ``n_levels`` levels, coarse to fine.
    """
    if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)) or n_levels < 2:
        raise ValueError(f"n_levels = {n_levels!r} must be an integer >= 2")
    r = _finite_number("ratio", ratio)
    if r <= 1:
        raise ValueError(f"ratio = {ratio!r} must be > 1")
    if not isinstance(base, Mapping) or not base:
        raise ValueError(f"base = {base!r} must be a non-empty mapping {{parameter: size_nm}}")
    for key, value in base.items():
        if _finite_number(f"base[{key!r}]", value) <= 0:
            raise ValueError(f"base[{key!r}] = {value!r} must be > 0")
    return [{k: float(v) / r**i for k, v in base.items()} for i in range(int(n_levels))]


# -- table ------------------------------------------------------------------------------------
def _frozen_array(name: str, values: Any, n: int | None) -> NDArray[np.float64]:
    try:
        a = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: {err}") from err
    if n is not None and a.size != n:
        raise ValueError(f"{name} has {a.size} entries; need one per level ({n})")
    a.setflags(write=False)
    return a


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else repr(float(x))  # 'nan', 'inf', '-inf'


def _from_json_float(x: Any) -> float:
    return float(x)  # float('nan'), float('inf') parse the strings back


@dataclass(frozen=True, kw_only=True, eq=False)
class ConvergenceTable:
    """Observables over mesh levels, with their Richardson extrapolations.

    Attributes
    ----------
    h_nm : dict of str to ndarray, shape (L,)
        Size of every mesh parameter at every level (nm), coarse to fine.
    refinement : str
        The parameter of ``h_nm`` used as ``h`` for the extrapolation.
    observables : dict of str to ndarray, shape (L,)
        Every observable at every level (NaN where it was not resolved).
    wall_time_s : ndarray, shape (L,)
        Wall time of every level (s).
    extrapolations : dict of str to Extrapolation
        One per observable.
    units : dict of str to str
        Unit of each observable (may be partial; e.g. ``{"E0": "meV"}``).
    options : RichardsonOptions
        How the extrapolations were judged.
    """

    h_nm: Mapping[str, NDArray[np.float64]]
    refinement: str
    observables: Mapping[str, NDArray[np.float64]]
    wall_time_s: NDArray[np.float64]
    extrapolations: Mapping[str, Extrapolation]
    units: Mapping[str, str] = field(default_factory=dict)
    options: RichardsonOptions = field(default_factory=RichardsonOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.h_nm, Mapping) or not self.h_nm:
            raise ValueError("h_nm is empty; give at least one mesh parameter")
        if self.refinement not in self.h_nm:
            raise ValueError(
                f"refinement = {self.refinement!r} is not a mesh parameter; "
                f"allowed: {list(self.h_nm)}"
            )
        h = {str(k): _frozen_array(f"h_nm[{k!r}]", v, None) for k, v in self.h_nm.items()}
        n = h[self.refinement].size
        if n < 2:
            raise ValueError(f"h_nm[{self.refinement!r}] has {n} level(s); need at least 2")
        for k, v in h.items():
            if v.size != n:
                raise ValueError(f"h_nm[{k!r}] has {v.size} entries; need one per level ({n})")
        obs = {
            str(k): _frozen_array(f"observables[{k!r}]", v, n) for k, v in self.observables.items()
        }
        if set(self.extrapolations) != set(obs):
            raise ValueError(
                f"extrapolations has {sorted(self.extrapolations)}; need one per observable "
                f"{sorted(obs)}"
            )
        for k, u in self.units.items():
            if k not in obs or not isinstance(u, str):
                raise ValueError(
                    f"units[{k!r}] = {u!r}: units need an observable name ({sorted(obs)}) and "
                    "a string"
                )
        if not isinstance(self.options, RichardsonOptions):
            raise ValueError(f"options = {self.options!r} must be a RichardsonOptions")
        object.__setattr__(self, "h_nm", h)
        object.__setattr__(self, "observables", obs)
        object.__setattr__(self, "wall_time_s", _frozen_array("wall_time_s", self.wall_time_s, n))
        object.__setattr__(self, "extrapolations", {k: self.extrapolations[k] for k in obs})
        object.__setattr__(self, "units", dict(self.units))

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_levels(
        cls,
        levels: Sequence[Mapping[str, float]],
        observables: Mapping[str, ArrayLike],
        *,
        wall_time_s: ArrayLike | None = None,
        refinement: str | None = None,
        units: Mapping[str, str] | None = None,
        options: RichardsonOptions | None = None,
    ) -> ConvergenceTable:
        """Build a table from levels and values, extrapolating every observable.

        Parameters
        ----------
        levels : sequence of mapping
            Mesh parameters of every level (nm), coarse to fine (see :func:`converge`).
        observables : mapping of str to array_like
            Values of every observable at every level.
        wall_time_s : array_like, optional
            Wall time of every level (s); NaN if not given.
        refinement : str, optional
            The parameter used as ``h``; default the first one.
        units : mapping of str to str, optional
            Unit of each observable.
        options : RichardsonOptions, optional
            How to judge the extrapolations.
        """
        lv = _check_levels(levels)
        names = list(lv[0])
        ref = names[0] if refinement is None else refinement
        if ref not in names:
            raise ValueError(f"refinement = {ref!r} is not a level parameter; allowed: {names}")
        opts = options or RichardsonOptions()
        h = {k: np.array([row[k] for row in lv]) for k in names}
        obs = {
            str(k): _frozen_array(f"observables[{k!r}]", v, len(lv)) for k, v in observables.items()
        }
        times = np.full(len(lv), np.nan) if wall_time_s is None else wall_time_s
        return cls(
            h_nm=h,
            refinement=ref,
            observables=obs,
            wall_time_s=_frozen_array("wall_time_s", times, len(lv)),
            extrapolations={k: richardson(h[ref], v, options=opts) for k, v in obs.items()},
            units=dict(units or {}),
            options=opts,
        )

    # -- access (what a figure needs) -------------------------------------------------------
    @property
    def n_levels(self) -> int:
        """Number of levels."""
        return int(self.wall_time_s.size)

    @property
    def h(self) -> NDArray[np.float64]:
        """Sizes of the refinement parameter (nm), coarse to fine."""
        return self.h_nm[self.refinement]

    def levels(self) -> list[dict[str, float]]:
        """Return the levels as mappings ``{parameter: size_nm}``."""
        return [{k: float(v[i]) for k, v in self.h_nm.items()} for i in range(self.n_levels)]

    def deviation(self, name: str) -> NDArray[np.float64]:
        """``|v_i - value|`` at every level (unit of the observable), e.g. for a log-log plot.

        ``value`` is the extrapolated value for ``"converging"`` and the finest value
        otherwise (then the finest deviation is zero).
        """
        if name not in self.observables:
            raise ValueError(
                f"name = {name!r} is not an observable; allowed: {list(self.observables)}"
            )
        return np.abs(self.observables[name] - self.extrapolations[name].value)

    def _label(self, name: str) -> str:
        unit = self.units.get(name, "")
        return f"{name} [{unit}]" if unit else name

    # -- output ----------------------------------------------------------------------------
    def to_csv(self, path: str | Path) -> Path:
        """Write one row per level, then rows of extrapolated values, orders and errors.

        Columns: ``row``, every mesh parameter (nm), ``wall_time_s``, every observable
        (``name [unit]``). The summary rows are ``extrapolated``, ``order``,
        ``order_assumed``, ``error_finest``, ``error_extrapolated`` and ``status``, with empty
        mesh and time cells. Numbers are written exactly (``repr``); the file is written to a
        temporary name and renamed.
        """
        out = Path(path)
        names = list(self.observables)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["row", *self.h_nm, "wall_time_s", *(self._label(k) for k in names)])
        for i in range(self.n_levels):
            w.writerow(
                [
                    i,
                    *(repr(float(v[i])) for v in self.h_nm.values()),
                    repr(float(self.wall_time_s[i])),
                    *(repr(float(self.observables[k][i])) for k in names),
                ]
            )
        blank = [""] * (len(self.h_nm) + 1)
        ex = [self.extrapolations[k] for k in names]
        for label, cells in (
            ("extrapolated", [repr(float(e.value)) for e in ex]),
            ("order", [repr(float(e.order)) for e in ex]),
            ("order_assumed", [str(e.order_assumed) for e in ex]),
            ("error_finest", [repr(float(e.error)) for e in ex]),
            ("error_extrapolated", [repr(float(e.extrapolation_error)) for e in ex]),
            ("status", [e.status for e in ex]),
        ):
            w.writerow([label, *blank, *cells])
        write_text(out, buf.getvalue())
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values (non-finite floats as the strings 'nan', 'inf', '-inf')."""

        def floats(a: NDArray[np.float64]) -> list[float | str]:
            return [_json_float(float(x)) for x in a]

        return {
            "format": "femvalley.convergence/1",
            "refinement": self.refinement,
            "h_nm": {k: floats(v) for k, v in self.h_nm.items()},
            "wall_time_s": floats(self.wall_time_s),
            "observables": {k: floats(v) for k, v in self.observables.items()},
            "units": dict(self.units),
            "extrapolations": {
                k: {
                    f: (_json_float(v) if isinstance(v, float) else v)
                    for f, v in e.as_dict().items()
                }
                for k, e in self.extrapolations.items()
            },
            "options": self.options.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConvergenceTable:
        """Rebuild from :meth:`to_dict`."""
        if data.get("format") != "femvalley.convergence/1":
            raise ValueError(f"format = {data.get('format')!r}; expected 'femvalley.convergence/1'")

        def arr(values: Sequence[Any]) -> NDArray[np.float64]:
            return np.array([_from_json_float(x) for x in values], dtype=np.float64)

        float_fields = {"value", "order", "error", "extrapolation_error", "finest"}
        return cls(
            h_nm={k: arr(v) for k, v in data["h_nm"].items()},
            refinement=str(data["refinement"]),
            observables={k: arr(v) for k, v in data["observables"].items()},
            wall_time_s=arr(data["wall_time_s"]),
            extrapolations={
                k: Extrapolation.from_dict(
                    {f: (_from_json_float(v) if f in float_fields else v) for f, v in e.items()}
                )
                for k, e in data["extrapolations"].items()
            },
            units=dict(data.get("units", {})),
            options=RichardsonOptions(**data.get("options", {})),
        )

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (strict JSON: no NaN literals); temp name, then rename."""
        out = Path(path)
        write_text(out, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return out

    @classmethod
    def from_json(cls, path: str | Path) -> ConvergenceTable:
        """Read a table written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def format(self, *, digits: int = 10) -> str:
        """Plain-text table for a terminal: the levels, then value, errors, order and status.

        Parameters
        ----------
        digits : int
            Significant digits of the values.
        """
        names = list(self.observables)
        head = ["level", *self.h_nm, "time [s]", *(self._label(k) for k in names)]
        rows: list[list[str]] = []
        for i in range(self.n_levels):
            rows.append(
                [
                    str(i),
                    *(f"{float(v[i]):.6g}" for v in self.h_nm.values()),
                    f"{float(self.wall_time_s[i]):.3g}",
                    *(f"{float(self.observables[k][i]):.{digits}g}" for k in names),
                ]
            )
        ex = [self.extrapolations[k] for k in names]
        blank = [""] * (len(self.h_nm) + 1)
        summary = [
            ["value", *blank, *(f"{e.value:.{digits}g}" for e in ex)],
            ["+- finest", *blank, *(f"{e.error:.2g}" for e in ex)],
            ["+- value", *blank, *(f"{e.extrapolation_error:.2g}" for e in ex)],
            [
                "order",
                *blank,
                *(f"{e.order:.3g}" + (" (assumed)" if e.order_assumed else "") for e in ex),
            ],
            ["status", *blank, *(e.status for e in ex)],
        ]
        widths = [max(len(r[j]) for r in [head, *rows, *summary]) for j in range(len(head))]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.rjust(wd) for c, wd in zip(cells, widths)).rstrip()

        rule = "  ".join("-" * wd for wd in widths)
        return "\n".join(
            [
                line(head),
                rule,
                *(line(r) for r in rows),
                rule,
                *(line(r) for r in summary),
                f"(h = {self.refinement}; value: extrapolated if converging, else finest)",
            ]
        )


# -- driver -----------------------------------------------------------------------------------
def converge(
    run_level: Callable[[dict[str, float]], Mapping[str, float]],
    levels: Sequence[Mapping[str, float]],
    *,
    refinement: str | None = None,
    units: Mapping[str, str] | None = None,
    options: RichardsonOptions | None = None,
) -> ConvergenceTable:
    """Run ``run_level`` at every mesh level, time it, and extrapolate every observable.

    Parameters
    ----------
    run_level : callable dict -> mapping of str to float
        Computes named scalar observables at one level, e.g. runs a study at those mesh
        sizes. Every level must return the same names (NaN for a value not resolved there).
    levels : sequence of mapping of str to float
        Mesh parameters of every level (nm), coarse to fine: at least 2 levels, the same
        parameters in each, every size strictly smaller than at the level before
        (:func:`refine_levels` makes such a sequence).
    refinement : str, optional
        The parameter whose size is the ``h`` of the extrapolation (a representative size);
        default the first parameter of the levels.
    units : mapping of str to str, optional
        Unit of each observable, e.g. ``{"E0": "meV"}``.
    options : RichardsonOptions, optional
        How to judge the extrapolations (assumed order, accepted orders, round-off).

    Returns
    -------
    ConvergenceTable
    """
    lv = _check_levels(levels)
    if refinement is not None and refinement not in lv[0]:
        raise ValueError(
            f"refinement = {refinement!r} is not a level parameter; allowed: {list(lv[0])}"
        )
    if units is not None:
        for k, u in units.items():
            if not isinstance(u, str):
                raise ValueError(f"units[{k!r}] = {u!r} must be a string")
    rows: list[dict[str, float]] = []
    times: list[float] = []
    for i, level in enumerate(lv):
        t0 = time.perf_counter()
        result = run_level(dict(level))
        times.append(time.perf_counter() - t0)
        if not isinstance(result, Mapping) or not result:
            raise ValueError(
                f"run_level(levels[{i}]) returned {result!r}; need a non-empty mapping "
                "{name: number}"
            )
        row: dict[str, float] = {}
        for name, value in result.items():
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise ValueError(
                    f"run_level(levels[{i}])[{name!r}] = {value!r} must be a real number "
                    "(NaN if not resolved)"
                )
            row[str(name)] = float(value)
        if rows and set(row) != set(rows[0]):
            raise ValueError(
                f"run_level(levels[{i}]) returned {sorted(row)}; levels[0] gave "
                f"{sorted(rows[0])}: every level needs the same observables"
            )
        rows.append(row)
    if units is not None:
        unknown = sorted(set(units) - set(rows[0]))
        if unknown:
            raise ValueError(
                f"units names {unknown}, which are not observables; observables: {sorted(rows[0])}"
            )
    observables = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return ConvergenceTable.from_levels(
        lv,
        observables,
        wall_time_s=times,
        refinement=refinement,
        units=units,
        options=options,
    )
