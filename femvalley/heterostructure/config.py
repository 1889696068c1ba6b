"""A heterostructure and its dot as a TOML file (``femvalley valley-splitting PROFILE.toml``).

Example (every key optional except the profile)::

    [[profile]]                  # components are summed
    kind = "well"                # well | spike | wiggle | uniform
    width_nm = 10.86
    barrier_ge = 0.3
    interface_width_nm = 0.5

    [[profile]]
    kind = "uniform"
    ge = 0.02

    [vertical]
    field_MV_per_m = 5.0
    n_monolayers = 160
    centre_nm = 0.0

    [dot]
    hbar_omega_meV = 5.0
    box_nm = [44.0, 44.0]
    step_nm = 1.0

    [disorder]
    realisations = 128
    seed = 0
    method = "two_band"          # two_band | first_order

The same tables, under ``[valley_map.alloy]``, make a study's valley map from this
heterostructure's alloy disorder (:mod:`femvalley.heterostructure.bridge`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from femvalley.heterostructure.alloy import DISORDER_METHODS, DotModel
from femvalley.heterostructure.profiles import (
    GeSpike,
    Profile,
    QuantumWell,
    UniformGe,
    WiggleWell,
)
from femvalley.heterostructure.twoband import V_INTER_GE_MEV, MonolayerGrid

__all__ = ["PROFILE_KINDS", "HeterostructureConfig"]

_TABLES: dict[str, tuple[str, ...]] = {
    "vertical": ("field_MV_per_m", "n_monolayers", "centre_nm"),
    "dot": ("hbar_omega_meV", "box_nm", "step_nm", "v_inter_ge_meV"),
    "disorder": ("realisations", "seed", "method"),
}

PROFILE_KINDS: dict[str, type[Profile]] = {
    "well": QuantumWell,
    "spike": GeSpike,
    "wiggle": WiggleWell,
    "uniform": UniformGe,
}


def _component(i: int, raw: Any) -> Profile:
    if not isinstance(raw, Mapping):
        raise ValueError(f"profile[{i}] must be a table, not {raw!r}")
    kind = raw.get("kind")
    if kind not in PROFILE_KINDS:
        raise ValueError(f"profile[{i}].kind = {kind!r}; allowed: {sorted(PROFILE_KINDS)}")
    cls = PROFILE_KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    params = {k: v for k, v in raw.items() if k != "kind"}
    bad = sorted(set(params) - names)
    if bad:
        raise ValueError(f"profile[{i}] ({kind}): unknown key(s) {bad}; allowed: {sorted(names)}")
    try:
        return cls(**params)
    except ValueError as err:
        raise ValueError(f"profile[{i}] ({kind}): {err}") from err


@dataclass(frozen=True, kw_only=True)
class HeterostructureConfig:
    """Ge profile, vertical field, dot and disorder ensemble (see the module docstring)."""

    profile: tuple[Mapping[str, Any], ...] = (
        {"kind": "well", "width_nm": 10.86, "barrier_ge": 0.3, "interface_width_nm": 0.5},
    )
    field_MV_per_m: float = 5.0
    n_monolayers: int = 160
    centre_nm: float = 0.0
    hbar_omega_meV: float = 5.0
    box_nm: tuple[float, float] = (44.0, 44.0)
    step_nm: float = 1.0
    v_inter_ge_meV: float = V_INTER_GE_MEV
    realisations: int = 128
    seed: int = 0
    method: str = "two_band"

    def __post_init__(self) -> None:
        if isinstance(self.profile, (str, Mapping)) or not self.profile:
            raise ValueError("profile must be a non-empty list of [[profile]] tables")
        object.__setattr__(self, "profile", tuple(dict(p) for p in self.profile))
        object.__setattr__(self, "box_nm", tuple(float(v) for v in self.box_nm))
        if len(self.box_nm) != 2:
            raise ValueError(f"dot.box_nm = {self.box_nm!r} must be [x, y]")
        for name in ("realisations", "seed", "n_monolayers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name != "seed" else 0):
                raise ValueError(f"{name} = {v!r} must be an integer >= {int(name != 'seed')}")
        if self.method not in DISORDER_METHODS:
            raise ValueError(f"disorder.method = {self.method!r}; allowed: {DISORDER_METHODS}")
        for name in ("field_MV_per_m", "centre_nm", "v_inter_ge_meV"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} = {v!r} must be a finite number")
        self.dot_model()  # validates the profile, the grid and the dot

    def build_profile(self) -> Profile:
        """Return the summed profile."""
        parts = [_component(i, raw) for i, raw in enumerate(self.profile)]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def grid(self) -> MonolayerGrid:
        """Return the monolayer grid."""
        return MonolayerGrid(n_monolayers=self.n_monolayers, centre_nm=self.centre_nm)

    def dot_model(self) -> DotModel:
        """Return the dot model of :mod:`femvalley.heterostructure.alloy`."""
        return DotModel(
            profile=self.build_profile(),
            field_MV_per_m=float(self.field_MV_per_m),
            hbar_omega_meV=float(self.hbar_omega_meV),
            grid=self.grid(),
            box_nm=(self.box_nm[0], self.box_nm[1]),
            step_nm=float(self.step_nm),
            v_inter_ge_meV=float(self.v_inter_ge_meV),
        )

    # -- I/O -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "") -> HeterostructureConfig:
        """Build from the nested tables of a PROFILE.toml (unknown keys are errors)."""
        allowed = {"profile", *_TABLES}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"{where}unknown table(s) {unknown}; allowed: {sorted(allowed)}")
        if "profile" not in data:
            raise ValueError(f"{where}needs at least one [[profile]] table")
        profile = data["profile"]
        if not isinstance(profile, (list, tuple)) or not profile:
            raise ValueError(
                f"{where}profile must be a non-empty list of [[profile]] tables, "
                f"not {_brief(profile)}"
            )
        for i, item in enumerate(profile):
            if not isinstance(item, Mapping):
                raise ValueError(f"{where}profile[{i}] = {_brief(item)} must be a table")
            if "kind" in item and not isinstance(item["kind"], str):
                raise ValueError(
                    f"{where}profile[{i}].kind = {_brief(item['kind'])} must be a string"
                )
        kwargs: dict[str, Any] = {"profile": profile}
        for table, keys in _TABLES.items():
            raw = data.get(table, {})
            if not isinstance(raw, Mapping):
                raise ValueError(f"{where}[{table}] must be a table, not {raw!r}")
            bad = sorted(set(raw) - set(keys))
            if bad:
                raise ValueError(f"{where}[{table}]: unknown key(s) {bad}; allowed: {sorted(keys)}")
            kwargs.update(raw)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as err:
            # name the key whose value alone fails (a string for a number, a number for a list)
            culprit = next(
                (
                    k
                    for k, v in kwargs.items()
                    if k != "profile" and k not in str(err) and _fails_alone(cls, profile, k, v)
                ),
                None,
            )
            named = f"{culprit} = {_brief(kwargs[culprit])}: " if culprit else ""
            raise ValueError(f"{where}{named}{err}") from err

    @classmethod
    def from_toml(cls, path: str | Path) -> HeterostructureConfig:
        """Load and validate a PROFILE.toml."""
        from femvalley.io.toml import read_toml

        return cls.from_dict(read_toml(path, what="profile file"), where=f"{path}: ")

    def to_dict(self) -> dict[str, Any]:
        """Nested tables (reload with :meth:`from_dict`)."""
        out: dict[str, Any] = {"profile": [dict(p) for p in self.profile]}
        for table, keys in _TABLES.items():
            out[table] = {
                k: (list(getattr(self, k)) if k == "box_nm" else getattr(self, k)) for k in keys
            }
        return out


def _brief(value: Any, limit: int = 60) -> str:
    """``repr`` of a value, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fails_alone(cls: Any, profile: Any, key: str, value: Any) -> bool:
    try:
        cls(profile=profile, **{key: value})
    except (TypeError, ValueError):
        return True
    return False
