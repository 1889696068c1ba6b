"""Checks of configuration values: one clear error naming the field, the value and the rule.

Every configuration dataclass of femvalley (studies, ensembles, heterostructures) validates
its fields in ``__post_init__`` with these helpers, and :func:`read_section` builds a section
from its TOML table, naming an unknown key or a value of the wrong kind.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_DETUNING_MV",
    "MAX_POINTS",
    "MAX_SEED",
    "MAX_STATES",
    "check_integer",
    "check_like",
    "check_number",
    "read_section",
    "short_value",
]


def check_number(name: str, value: Any, *, positive: bool = False) -> float:
    """Return ``value`` as a float: a finite number (> 0 with ``positive``), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} = {short_value(value)} must be a number")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        finite = False
    if not finite:
        raise ValueError(f"{name} = {short_value(value)} must be finite")
    if positive and value <= 0:
        raise ValueError(f"{name} = {value!r} must be > 0")
    return float(value)


def check_integer(name: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value``: an integer in ``[minimum, maximum]``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} = {short_value(value)} must be an integer")
    if value < minimum:
        raise ValueError(f"{name} = {value!r} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} = {short_value(value)} must be <= {maximum}")
    return value


def short_value(value: Any, limit: int = 60) -> str:
    """Return the ``repr`` of a value, cut to ``limit`` characters (a huge value is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: largest seed NumPy's generators take as one integer (and HDF5 stores as int64)
MAX_SEED = 2**63 - 1
#: largest |detuning| (mV): 10 V, far beyond any gate
MAX_DETUNING_MV = 1e4
#: most states per point (a dense 2m x 2m reduced problem stays small)
MAX_STATES = 256
#: most detuning points of one study
MAX_POINTS = 100_000


def check_like(name: str, value: Any, default: Any) -> None:
    """Refuse a value of another kind than the field's default (a number, a flag, a pair)."""
    if default is dataclasses.MISSING or default is None:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} = {short_value(value)} must be true or false")
    elif isinstance(default, (int, float)):
        check_number(name, value)
        if isinstance(default, int) and not isinstance(value, int):
            raise ValueError(f"{name} = {short_value(value)} must be an integer")
    elif isinstance(default, tuple) and all(isinstance(d, (int, float)) for d in default):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ValueError(
                f"{name} = {short_value(value)} must be a list of {len(default)} numbers"
            )
        for i, item in enumerate(value):
            check_number(f"{name}[{i}]", item)
    elif isinstance(default, str) and not isinstance(value, str):
        raise ValueError(f"{name} = {short_value(value)} must be a string")


def read_section(data: Mapping[str, Any], name: str, section: Any) -> Any:
    """Build the dataclass ``section`` from the table ``data[name]`` (empty if missing).

    A table that is not a mapping, or an unknown key, is a ``ValueError`` naming the table.
    """
    raw = data.get(name, {})
    if not isinstance(raw, Mapping):
        raise ValueError(f"[{name}] must be a table, not {raw!r}")
    names = {f.name for f in dataclasses.fields(section)}
    bad = sorted(set(raw) - names)
    if bad:
        raise ValueError(f"[{name}]: unknown key(s) {bad}; allowed: {sorted(names)}")
    try:
        return section(**raw)
    except (TypeError, AttributeError, OverflowError) as err:
        # a value of the wrong kind reached code that assumed the right one: name its key
        culprit = next((k for k in raw if _fails_alone(section, k, raw[k])), None)
        where = f"{name}.{culprit} = {short_value(raw[culprit])}" if culprit else f"[{name}]"
        raise ValueError(f"{where}: a value of the wrong type or size ({err})") from err


def _fails_alone(section: Any, key: str, value: Any) -> bool:
    try:
        section(**{key: value})
    except (TypeError, AttributeError, OverflowError):
        return True
    except ValueError:
        return False
    return False
