"""The ``[spin]`` table of a study: a one-electron spin-valley qubit against the field.

Example (every key is optional)::

    [spin]
    field_T = [0.05, 2.0]        # the external field's magnitude: start, stop (T)
    points = 21
    direction = [0.0, 1.0, 0.0]  # the field's direction (normalised)
    detuning_mV = 0.0            # the operating point within the study
    g_factor = 2.0
    drive_gate = "P5"            # the AC drive's gate (default: the swept left plunger)
    drive_amplitude_mV = 1.0
    noise_uV = 10.0              # quasi-static noise on every gate (or a table gate = uV)
    temperature_K = 0.1
    dresselhaus_meV_nm = 1.7     # 0: no intrinsic spin-orbit coupling
    shear = true                 # the phonons' shear coupling between the valleys
    n_states = 4                 # levels per field (>= 3 for the spin-valley anticrossing)
    report_field_T = 0.5         # the field of the reported numbers (default: start)

    [spin.micro_magnet]          # a uniform gradient ...
    field_T = [0.0, 0.0, 0.0]
    gradient_mT_per_nm = [[0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]
    origin_nm = [0.0, 0.0, 0.0]
    # map = "magnet.npz"         # ... or a field map (x_nm, y_nm, z_nm, field_T arrays)

Units: T, mV, uV, K, meV nm.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from femvalley.config.checks import (
    MAX_DETUNING_MV,
    check_integer,
    check_number,
    read_section,
    short_value,
)

__all__ = ["MAX_FIELD_T", "MicroMagnetConfig", "SpinConfig"]

#: the largest external field of a spin study (T)
MAX_FIELD_T = 50.0


def _triple(name: str, value: Any) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ValueError(f"{name} = {short_value(value)} must be a list of 3 numbers (x, y, z)")
    return tuple(check_number(f"{name}[{i}]", v) for i, v in enumerate(value))  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class MicroMagnetConfig:
    """A micro-magnet: a uniform gradient, or a field map file.

    The gradient: ``field_T`` at ``origin_nm`` and ``gradient_mT_per_nm`` (symmetric,
    traceless). The map: ``map``, an ``.npz`` with ``x_nm, y_nm, z_nm, field_T``; 2-D points
    lie at ``plane_z_nm``.
    """

    field_T: tuple[float, ...] | list[float] = (0.0, 0.0, 0.0)
    gradient_mT_per_nm: Any = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    origin_nm: tuple[float, ...] | list[float] = (0.0, 0.0, 0.0)
    map: str = ""
    plane_z_nm: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_T", _triple("spin.micro_magnet.field_T", self.field_T))
        object.__setattr__(
            self, "origin_nm", _triple("spin.micro_magnet.origin_nm", self.origin_nm)
        )
        g = self.gradient_mT_per_nm
        if not isinstance(g, (list, tuple)) or len(g) != 3:
            raise ValueError(
                f"spin.micro_magnet.gradient_mT_per_nm = {short_value(g)} must be 3 rows of 3 "
                "numbers (dB_i/dr_j, mT/nm)"
            )
        rows = tuple(
            _triple(f"spin.micro_magnet.gradient_mT_per_nm[{i}]", r) for i, r in enumerate(g)
        )
        object.__setattr__(self, "gradient_mT_per_nm", rows)
        if not isinstance(self.map, str):
            raise ValueError(f"spin.micro_magnet.map = {short_value(self.map)} must be a path")
        check_number("spin.micro_magnet.plane_z_nm", self.plane_z_nm)
        if self.map and (any(self.field_T) or any(any(r) for r in rows)):
            raise ValueError(
                "spin.micro_magnet: give either a field map (map) or a uniform gradient "
                "(field_T, gradient_mT_per_nm), not both"
            )
        if not self.map:
            try:
                self.magnet()  # symmetric and traceless: checked by the magnet itself
            except ValueError as err:
                raise ValueError(f"spin.micro_magnet: {err}") from None

    def magnet(self) -> Any:
        """Return the :class:`~femvalley.magnetic.MicroMagnet` or (read) :class:`FieldMap`."""
        from femvalley.magnetic.micromagnet import FieldMap, MicroMagnet

        if self.map:
            return FieldMap.load(self.map, plane_z_nm=self.plane_z_nm)
        return MicroMagnet(
            field_T=self.field_T,  # type: ignore[arg-type]
            gradient_mT_per_nm=self.gradient_mT_per_nm,
            origin_nm=self.origin_nm,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, kw_only=True)
class SpinConfig:
    """A one-electron spin-valley qubit at one detuning, swept in the external field."""

    field_T: tuple[float, ...] | list[float] = (0.05, 2.0)
    points: int = 21
    direction: tuple[float, ...] | list[float] = (0.0, 1.0, 0.0)
    detuning_mV: float = 0.0
    g_factor: float = 2.0
    drive_gate: str = ""
    drive_amplitude_mV: float = 1.0
    noise_uV: Any = 10.0
    temperature_K: float = 0.1
    dresselhaus_meV_nm: float = 1.7
    shear: bool = True
    n_states: int = 4
    report_field_T: float | None = None
    micro_magnet: MicroMagnetConfig | None = None

    def __post_init__(self) -> None:
        rng = self.field_T
        if not isinstance(rng, (list, tuple)) or len(rng) != 2:
            raise ValueError(f"spin.field_T = {short_value(rng)} must be [start, stop] in T")
        for v in rng:
            check_number("spin.field_T", v)
            if not 0 <= v <= MAX_FIELD_T:
                raise ValueError(f"spin.field_T = {list(rng)} must lie in [0, {MAX_FIELD_T:g}] T")
        check_integer("spin.points", self.points, minimum=1, maximum=10_000)
        if rng[0] == rng[1] and self.points > 1:
            raise ValueError(
                f"spin.field_T = {list(rng)}: start equals stop with {self.points} points"
            )
        object.__setattr__(self, "field_T", (float(rng[0]), float(rng[1])))
        d = _triple("spin.direction", self.direction)
        if math.hypot(*d) == 0:
            raise ValueError("spin.direction = [0, 0, 0] has no direction")
        object.__setattr__(self, "direction", d)
        self._check_values()
        mm = self.micro_magnet
        if isinstance(mm, Mapping):
            object.__setattr__(
                self,
                "micro_magnet",
                read_section({"spin.micro_magnet": mm}, "spin.micro_magnet", MicroMagnetConfig),
            )
        elif mm is not None and not isinstance(mm, MicroMagnetConfig):
            raise ValueError("spin.micro_magnet must be a [spin.micro_magnet] table")

    def _check_values(self) -> None:
        check_number("spin.detuning_mV", self.detuning_mV)
        if abs(self.detuning_mV) > MAX_DETUNING_MV:
            raise ValueError(
                f"spin.detuning_mV = {self.detuning_mV!r} is beyond +-{MAX_DETUNING_MV:g} mV"
            )
        check_number("spin.g_factor", self.g_factor, positive=True)
        if not isinstance(self.drive_gate, str):
            raise ValueError(
                f"spin.drive_gate = {short_value(self.drive_gate)} must be a gate name"
            )
        check_number("spin.drive_amplitude_mV", self.drive_amplitude_mV, positive=True)
        noise = self.noise_uV
        if isinstance(noise, Mapping):
            for g, v in noise.items():
                check_number(f"spin.noise_uV.{g}", v)
                if v < 0:
                    raise ValueError(f"spin.noise_uV.{g} = {v!r} must be >= 0 (uV)")
            object.__setattr__(self, "noise_uV", {str(g): float(v) for g, v in noise.items()})
        else:
            check_number("spin.noise_uV", noise)
            if noise < 0:
                raise ValueError(f"spin.noise_uV = {noise!r} must be >= 0 (uV)")
        check_number("spin.temperature_K", self.temperature_K)
        if self.temperature_K < 0:
            raise ValueError(f"spin.temperature_K = {self.temperature_K!r} must be >= 0 (K)")
        check_number("spin.dresselhaus_meV_nm", self.dresselhaus_meV_nm)
        if not isinstance(self.shear, bool):
            raise ValueError(f"spin.shear = {short_value(self.shear)} must be true or false")
        check_integer("spin.n_states", self.n_states, minimum=2, maximum=64)
        if self.report_field_T is not None:
            check_number("spin.report_field_T", self.report_field_T)
            lo, hi = sorted(self.field_T)
            if not lo <= self.report_field_T <= hi:
                raise ValueError(
                    f"spin.report_field_T = {self.report_field_T!r} is outside spin.field_T = "
                    f"{list(self.field_T)}"
                )

    def fields_T(self) -> Any:
        """Return the swept fields (T), ``points`` from start to stop."""
        import numpy as np

        a, b = self.field_T
        return np.linspace(a, b, self.points) if self.points > 1 else np.array([a])

    @property
    def reported_field_T(self) -> float:
        """The field of the reported numbers: ``report_field_T`` or the sweep's start."""
        return float(self.field_T[0] if self.report_field_T is None else self.report_field_T)

    def to_dict(self) -> dict[str, Any]:
        """Return the table as plain TOML-ready values."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("micro_magnet", "report_field_T")
        }
        out["field_T"] = list(self.field_T)
        out["direction"] = list(self.direction)
        if self.report_field_T is not None:
            out["report_field_T"] = self.report_field_T
        if self.micro_magnet is not None:
            mm = dataclasses.asdict(self.micro_magnet)
            mm["field_T"] = list(self.micro_magnet.field_T)
            mm["origin_nm"] = list(self.micro_magnet.origin_nm)
            mm["gradient_mT_per_nm"] = [list(r) for r in self.micro_magnet.gradient_mT_per_nm]
            out["micro_magnet"] = mm
        return out
