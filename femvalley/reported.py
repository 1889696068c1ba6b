"""A number femvalley reports: its value, certified solver bound and discretisation error.

Every headline number of a study (tunnel coupling, valley splittings, lever arm) is a
:class:`ReportedNumber`. A value not larger than its certified bound is *not resolved*: its
``value`` is ``None`` and ``below`` holds what is known about it (``|value| + bound``), so no
value with three meaningless digits ever leaves the program. ``text`` is the printed form
(:func:`format_value`).

In ``summary.json`` a reported number is one JSON object::

    {"value": 0.1203, "solver_bound": 1.2e-06, "discretisation_error": 0.004,
     "discretisation_method": "change from the mesh 1.414x coarser", "unit": "ueV",
     "resolved": true, "text": "0.120300 +- 1.2e-06 ueV +- 0.004 ueV (discretisation)",
     "at_detuning_mV": 0.21, "method": "half the smallest E1 - E0, ..."}

Numbers that have no solver bound at all (a valley phase, the detuning of an anticrossing)
are *descriptive*: only ``value``, ``unit`` and ``text`` (and their details) are written.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from femvalley.records import JsonRecord, plain

__all__ = ["ReportedNumber", "format_value"]


def format_value(value: float, bound: float, unit: str, *, discretisation: Any = None) -> str:
    """``value +- bound unit``, or ``< bound unit`` when the value is not resolved.

    The number of digits follows the bound (two significant digits of it). ``discretisation``
    (a float, or ``None`` for "not estimated") is appended as the discretisation error.
    """
    if not math.isfinite(value):
        return "not available"
    if not math.isfinite(bound):
        text = f"{value:.3g} {unit} (solver error not certified)"
    elif abs(value) <= bound:
        text = f"< {abs(value) + bound:.2g} {unit} (not resolved)"
    else:
        digits = max(0, math.ceil(-math.log10(bound)) + 1) if bound > 0 else 6
        digits = min(digits, 12)
        text = f"{value:.{digits}f} +- {bound:.2g} {unit}"
    if discretisation is None:
        return text + " (discretisation error not estimated)"
    return text + f" +- {float(discretisation):.2g} {unit} (discretisation)"


#: the keys of a reported number's JSON object that are its own fields (the rest: details)
_OWN = (
    "value",
    "solver_bound",
    "discretisation_error",
    "discretisation_method",
    "unit",
    "resolved",
    "text",
    "below",
)


@dataclass(frozen=True, kw_only=True, eq=False)
class ReportedNumber(JsonRecord):
    """One reported number with its uncertainties (see the module docstring).

    Attributes
    ----------
    value : float or None
        The value, in ``unit``; ``None`` when it is not resolved (or not available).
    unit : str
        Its unit (``"ueV"``, ``"meV/mV"``, ``"mV"``, ``"rad"``).
    text : str
        The printed form: value, bound and discretisation error with the digits they allow.
    certified : bool
        Whether the number is reported with a solver bound (false: a descriptive number).
    solver_bound : float or None
        The certified bound of the solver error (``None``: not certified).
    resolved : bool or None
        Whether the value is larger than its bound (``None`` where the question is not asked).
    below : float or None
        For a number not resolved: the upper bound ``|value| + solver_bound`` of its size.
    discretisation_error : float or None
        The estimated error of the mesh (``None``: not estimated).
    discretisation_method : str or None
        How ``discretisation_error`` was estimated.
    details : mapping
        Where and how it was computed (``at_detuning_mV``, ``method``, ``localisation``, ...).
    """

    value: float | None
    unit: str
    text: str
    certified: bool = True
    solver_bound: float | None = None
    resolved: bool | None = None
    below: float | None = None
    discretisation_error: float | None = None
    discretisation_method: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def bounded(
        cls,
        value: float,
        bound: float,
        unit: str,
        *,
        discretisation: float | None = None,
        **details: Any,
    ) -> ReportedNumber:
        """Report ``value`` with its certified solver ``bound`` (``inf``: not certified).

        A value not larger than its bound is not resolved: ``value`` is then ``None`` and
        ``below`` holds ``|value| + bound``.
        """
        finite_v, finite_b = math.isfinite(value), math.isfinite(bound)
        resolved = bool(finite_v and finite_b and abs(value) > bound)
        known_size = not resolved and finite_b and finite_v
        return cls(
            value=float(value) if resolved or not finite_b else None,
            unit=unit,
            text=format_value(value, bound, unit, discretisation=discretisation),
            solver_bound=float(bound) if finite_b else None,
            resolved=resolved,
            below=abs(float(value)) + float(bound) if known_size else None,
            discretisation_error=discretisation,
            details=dict(details),
        )

    @classmethod
    def descriptive(cls, value: float, unit: str, text: str, **details: Any) -> ReportedNumber:
        """Report a number that has no solver bound (a phase, a position)."""
        return cls(value=float(value), unit=unit, text=text, certified=False, details=dict(details))

    def with_discretisation(self, error: float, *, method: str) -> ReportedNumber:
        """Return the number with its discretisation error (and the printed text) set."""
        value = self.value if self.value is not None else math.nan
        bound = self.solver_bound if self.solver_bound is not None else math.inf
        if self.value is None and self.below is not None:  # not resolved: keep what is known
            value, bound = self.below - (self.solver_bound or 0.0), self.solver_bound or 0.0
        return dataclasses.replace(
            self,
            discretisation_error=float(error),
            discretisation_method=method,
            text=format_value(value, bound, self.unit, discretisation=error),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object of the number (the form written in ``summary.json``)."""
        out: dict[str, Any] = {"value": self.value}
        if self.certified:
            out["solver_bound"] = self.solver_bound
            out["discretisation_error"] = self.discretisation_error
            if self.discretisation_method is not None:
                out["discretisation_method"] = self.discretisation_method
        out["unit"] = self.unit
        if self.resolved is not None:
            out["resolved"] = self.resolved
        out["text"] = self.text
        if self.below is not None:
            out["below"] = self.below
        out.update(plain(self.details))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportedNumber:
        """Read the JSON object of a number (:meth:`to_dict`)."""
        own = {k: data[k] for k in _OWN if k in data}
        return cls(
            value=own.get("value"),
            unit=str(own.get("unit", "")),
            text=str(own.get("text", "")),
            certified="solver_bound" in data,
            solver_bound=own.get("solver_bound"),
            resolved=own.get("resolved"),
            below=own.get("below"),
            discretisation_error=own.get("discretisation_error"),
            discretisation_method=own.get("discretisation_method"),
            details={k: v for k, v in data.items() if k not in _OWN},
        )
