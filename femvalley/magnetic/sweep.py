"""A spin-valley qubit against the external field: levels and figures of merit.

:func:`qubit_sweep` solves a :class:`~femvalley.magnetic.qubit.SpinQubit` at every field of a
list and collects a :class:`QubitSweep`: the levels and their spins, the Larmor frequency,
the Rabi frequency of a drive on one gate, the Larmor slopes of every gate and ``T2*`` of
the gate noise, and the phonon relaxation rate with and without the shear coupling.
:meth:`QubitSweep.save` writes the store :mod:`femvalley.io.spin`,
:meth:`QubitSweep.write_csv` a table.

Units: T, GHz, MHz, us, 1/s, meV.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.magnetic.qubit import SpinQubit
from femvalley.phonons import SILICON_PHONONS, PhononParameters

__all__ = ["QubitSweep", "qubit_sweep"]

_ARRAYS = (
    "field_T",
    "energies_meV",
    "residual_meV",
    "spin",
    "larmor_GHz",
    "larmor_bound_GHz",
    "rabi_MHz",
    "rabi_bound_MHz",
    "larmor_slope_MHz_per_mV",
    "t2star_us",
    "gamma1_per_s",
    "gamma1_no_shear_per_s",
)


@dataclass(frozen=True, eq=False)
class QubitSweep:
    """A qubit at a list of fields (P fields, n levels, G gates); see :mod:`femvalley.io.spin`.

    ``attrs`` holds ``gates`` (the order of the slopes), ``drive_gate``,
    ``drive_amplitude_mV``, ``noise_uV`` (JSON text), ``temperature_K``, ``direction``,
    ``g_factor`` and timings.
    """

    field_T: NDArray[np.float64]
    energies_meV: NDArray[np.float64]
    residual_meV: NDArray[np.float64]
    spin: NDArray[np.float64]
    larmor_GHz: NDArray[np.float64]
    larmor_bound_GHz: NDArray[np.float64]
    rabi_MHz: NDArray[np.float64]
    rabi_bound_MHz: NDArray[np.float64]
    larmor_slope_MHz_per_mV: NDArray[np.float64]
    t2star_us: NDArray[np.float64]
    gamma1_per_s: NDArray[np.float64]
    gamma1_no_shear_per_s: NDArray[np.float64]
    attrs: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Return every array by name (the datasets of the store)."""
        return {name: getattr(self, name) for name in _ARRAYS}

    def save(self, path: str | Path) -> Path:
        """Write the sweep as an HDF5 store (atomically); return its path."""
        from femvalley.io.spin import write_spin

        return write_spin(path, self.arrays(), attrs=self.attrs)

    @classmethod
    def load(cls, path: str | Path) -> QubitSweep:
        """Read a store written by :meth:`save`."""
        from femvalley.io.spin import read_spin

        arrays, attrs = read_spin(path)
        return cls(**arrays, attrs=attrs)

    def write_csv(self, path: str | Path) -> None:
        """Write one row per field: f_L, f_R, T2*, Gamma_1 and the levels (atomically)."""
        from femvalley.io.atomic import write_text

        n = self.energies_meV.shape[1]
        head = [
            "field_T",
            "larmor_GHz",
            "rabi_MHz",
            "t2star_us",
            "gamma1_per_s",
            "gamma1_no_shear_per_s",
        ]
        head += [f"E{i}_meV" for i in range(n)]
        lines = [",".join(head)]
        for p in range(self.field_T.size):
            row = [f"{self.field_T[p]:.10g}", f"{self.larmor_GHz[p]:.12g}"]
            row += [
                f"{x:.8g}"
                for x in (
                    self.rabi_MHz[p],
                    self.t2star_us[p],
                    self.gamma1_per_s[p],
                    self.gamma1_no_shear_per_s[p],
                )
            ]
            row += [f"{x:.12g}" for x in self.energies_meV[p]]
            lines.append(",".join(row))
        write_text(path, "\n".join(lines) + "\n")


def qubit_sweep(
    qubit: SpinQubit,
    fields_T: ArrayLike,
    *,
    drive_gate: str,
    drive_amplitude_mV: float = 1.0,
    noise_uV: float | Mapping[str, float] = 10.0,
    temperature_K: float = 0.1,
    phonons: PhononParameters = SILICON_PHONONS,
    shear: bool = True,
    n_states: int = 4,
) -> QubitSweep:
    """Solve the qubit at every field (T) and collect its figures of merit.

    The phonon rates need two valleys with spin; ``shear=False`` (or a plane without valley
    form factor) leaves the shear coupling out of ``gamma1_per_s``.
    """
    b = np.asarray(fields_T, dtype=np.float64)
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"fields_T must be a non-empty list of fields, not {b!r}")
    if drive_gate not in qubit.gate_terms:
        raise ValueError(
            f"drive_gate = {drive_gate!r} is not a gate; the gates are {sorted(qubit.gate_terms)}"
        )
    gates = sorted(qubit.gate_terms)
    with_phonons = qubit.operators.model.n_components == 4
    use_shear = shear and with_phonons and qubit.phonons.has_shear and phonons.xi_s_eV != 0
    no_shear = phonons.without_shear()
    p_n = (b.size, n_states)
    out: dict[str, Any] = {
        "energies_meV": np.full(p_n, np.nan),
        "residual_meV": np.full(p_n, np.nan),
        "spin": np.full((*p_n, 3), np.nan),
        "larmor_slope_MHz_per_mV": np.full((b.size, len(gates)), np.nan),
    }
    for name in (
        "larmor_GHz",
        "larmor_bound_GHz",
        "rabi_MHz",
        "rabi_bound_MHz",
        "t2star_us",
        "gamma1_per_s",
        "gamma1_no_shear_per_s",
    ):
        out[name] = np.full(b.size, np.nan)
    t0 = time.perf_counter()
    previous = None
    for i, field_T in enumerate(b):
        pt = qubit.point(float(field_T), n_states=n_states, warm_start=previous)
        previous = pt
        out["energies_meV"][i] = pt.energies_meV
        out["residual_meV"][i] = pt.residual_meV
        out["spin"][i] = pt.spin
        out["larmor_GHz"][i] = pt.larmor_GHz
        out["larmor_bound_GHz"][i] = pt.larmor_bound_GHz
        out["rabi_MHz"][i] = pt.rabi_MHz(drive_gate, drive_amplitude_mV)
        out["rabi_bound_MHz"][i] = pt.rabi_bound_MHz(drive_gate, drive_amplitude_mV)
        out["larmor_slope_MHz_per_mV"][i] = [pt.larmor_slope_MHz_per_mV(g) for g in gates]
        out["t2star_us"][i] = pt.t2star_us(noise_uV)
        if with_phonons and pt.larmor_GHz > 0:
            plain = pt.relaxation(temperature_K=temperature_K, parameters=no_shear)
            out["gamma1_no_shear_per_s"][i] = plain.rate_per_s
            out["gamma1_per_s"][i] = (
                pt.relaxation(temperature_K=temperature_K, parameters=phonons).rate_per_s
                if use_shear
                else plain.rate_per_s
            )
    seconds = time.perf_counter() - t0
    noise = dict(noise_uV) if isinstance(noise_uV, Mapping) else float(noise_uV)
    attrs = {
        "gates": gates,
        "drive_gate": drive_gate,
        "drive_amplitude_mV": float(drive_amplitude_mV),
        "noise_uV": json.dumps(noise),
        "temperature_K": float(temperature_K),
        "direction": list(qubit.direction),
        "g_factor": qubit.g_factor,
        "shear": bool(use_shear),
        "seconds_per_point": seconds / b.size if b.size else math.nan,
        **{k: v for k, v in qubit.scales.items()},
    }
    return QubitSweep(field_T=b, attrs=attrs, **out)
