"""The ``[spin]`` part of a study: the qubit's figures of merit against the field, as files.

:func:`spin_outputs` binds the study's system as a spin-valley qubit at the table's operating
point (:func:`femvalley.magnetic.spin_qubit`), sweeps the field
(:func:`femvalley.magnetic.qubit_sweep`), locates the spin-valley anticrossing when the sweep
brackets it, and writes ``spin.h5``, ``spin.csv`` and the figure ``spin.png``. It returns the
reported numbers at ``report_field_T`` -- the Larmor and Rabi frequencies with their bounds
from the states' residuals, ``T2*`` with the bound those give, ``Gamma_1`` (its solver error
not certified) and the anticrossing's field and gap -- and the summary's ``spin`` part.

Units: T, GHz, MHz, us, 1/s, ueV.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from femvalley.reported import ReportedNumber

if TYPE_CHECKING:
    from femvalley.system import StudySystem

__all__ = ["SPIN_CSV", "SPIN_STORE", "spin_outputs"]

#: the files of a study's spin part
SPIN_STORE = "spin.h5"
SPIN_CSV = "spin.csv"


def _t2_bounds(point: Any, noise: Any) -> tuple[float, float, float]:
    """``T2*``, its bound and its smallest possible value, from the slopes' bounds (us)."""
    gates = sorted(point.qubit.gate_terms)
    amplitude = noise if isinstance(noise, dict) else dict.fromkeys(gates, float(noise))
    lo = hi = 0.0
    for g in gates:
        a = 1e-3 * float(amplitude.get(g, 0.0))
        if not a:
            continue
        s = abs(point.larmor_slope_MHz_per_mV(g))
        e = point.larmor_slope_bound_MHz_per_mV(g)
        lo += (a * max(s - e, 0.0)) ** 2
        hi += (a * (s + e)) ** 2
    t2 = point.t2star_us(amplitude)
    longest = math.inf if lo == 0 else 1.0 / (math.sqrt(2) * math.pi * math.sqrt(lo))
    shortest = 1.0 / (math.sqrt(2) * math.pi * math.sqrt(hi)) if hi > 0 else math.inf
    if not math.isfinite(t2) or not math.isfinite(longest):
        return t2, math.inf, shortest
    return t2, max(longest - t2, t2 - shortest), shortest


def spin_outputs(
    out: Path, system: StudySystem, *, figures: bool = True
) -> tuple[dict[str, ReportedNumber], dict[str, Any], list[str]]:
    """Run a study's ``[spin]`` part and write its files; return numbers, part and figures."""
    from femvalley.magnetic import qubit_sweep, spin_qubit
    from femvalley.phonons import SILICON_PHONONS

    cfg = system.config
    sc = cfg.spin
    assert sc is not None
    magnet = sc.micro_magnet.magnet() if sc.micro_magnet is not None else None
    fields = sc.fields_T()
    drive = cfg.spin_drive_gate()
    qubit = spin_qubit(
        system,
        detuning_mV=sc.detuning_mV,
        direction=sc.direction,
        g_factor=sc.g_factor,
        magnet=magnet,
        dresselhaus_meV_nm=sc.dresselhaus_meV_nm or None,
        max_field_T=max(float(np.max(fields)), sc.reported_field_T, 1e-3) * 1.5,
    )
    noise = dict(sc.noise_uV) if isinstance(sc.noise_uV, dict) else float(sc.noise_uV)
    sweep = qubit_sweep(
        qubit,
        fields,
        drive_gate=drive,
        drive_amplitude_mV=sc.drive_amplitude_mV,
        noise_uV=noise,
        temperature_K=sc.temperature_K,
        shear=sc.shear,
        n_states=sc.n_states,
    )
    sweep.attrs["model"] = cfg.model
    sweep.save(out / SPIN_STORE)
    sweep.write_csv(out / SPIN_CSV)
    where = {"at_field_T": sc.reported_field_T, "at_detuning_mV": sc.detuning_mV}
    point = qubit.point(sc.reported_field_T, n_states=max(sc.n_states, 3))
    numbers: dict[str, ReportedNumber] = {
        "larmor_frequency": ReportedNumber.bounded(
            point.larmor_GHz,
            point.larmor_bound_GHz,
            "GHz",
            method="(E1 - E0) / h of the two lowest levels",
            bound_method="the two levels' residuals in the M^-1 norm",
            **where,
        ),
        "rabi_frequency": ReportedNumber.bounded(
            point.rabi_MHz(drive, sc.drive_amplitude_mV),
            point.rabi_bound_MHz(drive, sc.drive_amplitude_mV),
            "MHz",
            method=(
                f"|<1| D |0>| dV / h for {sc.drive_amplitude_mV:g} mV on {drive}, first order "
                "in the drive"
            ),
            bound_method="Davis-Kahan angles of the two states times the gate's largest D",
            **where,
        ),
    }
    t2, t2_bound, shortest = _t2_bounds(point, noise)
    t2_method = "1 / (sqrt(2) pi sqrt(sum_g (dV_g d f_L / d V_g)^2)), quasi-static noise"
    if math.isfinite(t2_bound):
        numbers["t2_star"] = ReportedNumber.bounded(
            t2,
            t2_bound,
            "us",
            method=t2_method,
            bound_method="the Larmor slopes' bounds",
            **where,
        )
    elif math.isfinite(shortest):  # the slopes are not resolved: only a lower bound
        numbers["t2_star"] = ReportedNumber.descriptive(
            shortest,
            "us",
            f"> {shortest:.2g} us (the Larmor slopes are below their bounds)",
            method=t2_method,
            **where,
        )
    if qubit.operators.model.n_components == 4 and point.larmor_GHz > 0:
        use_shear = sc.shear and qubit.phonons.has_shear
        rate = point.relaxation(
            temperature_K=sc.temperature_K,
            parameters=SILICON_PHONONS if use_shear else SILICON_PHONONS.without_shear(),
        )
        numbers["relaxation_rate"] = ReportedNumber.bounded(
            rate.rate_per_s,
            math.inf,
            "1/s",
            method=(
                f"acoustic phonons, deformation potentials, dipole formula, "
                f"T = {sc.temperature_K:g} K" + ("" if use_shear else ", without shear")
            ),
            **where,
        )
    part: dict[str, Any] = {
        "points": int(fields.size),
        "field_T": [float(fields[0]), float(fields[-1])],
        "direction": list(qubit.direction),
        "drive_gate": drive,
        "files": [SPIN_STORE, SPIN_CSV],
        "seconds_per_point": float(sweep.attrs["seconds_per_point"]),
        "micro_magnet": magnet is not None,
        # <sigma . b> of level 1 minus level 0 at the report field: about 2 for a spin qubit
        # (opposite spins), about 0 when the two lowest levels are two orbital or valley
        # states of one spin (e.g. at a detuning where the dots are degenerate)
        "spin_flip_at_report_field": float(
            np.dot(point.spin[1] - point.spin[0], np.asarray(qubit.direction))
        ),
    }
    if abs(part["spin_flip_at_report_field"]) < 1.0:
        part["note"] = (
            f"at {sc.reported_field_T:g} T the two lowest levels have the same spin: the qubit is "
            "not a spin qubit at spin.detuning_mV (two dots or two valleys lie below the "
            "Zeeman energy); choose a detuning where one dot is clearly lowest"
        )
    crossing = _anticrossing(qubit, sweep, sc.n_states)
    part.update(crossing)
    if "anticrossing_field_T" in crossing:
        numbers["spin_valley_anticrossing"] = ReportedNumber.bounded(
            crossing["anticrossing_field_T"],
            crossing["anticrossing_field_tolerance_T"],
            "T",
            method="smallest gap between levels 1 and 2 (bounded search)",
            bound_method="the search's tolerance",
            gap_ueV=crossing["anticrossing_gap_ueV"],
            at_detuning_mV=sc.detuning_mV,
        )
    drawn: list[str] = []
    if figures:
        from femvalley.plot import plot_spin

        title = (
            f"{cfg.device.name}, model {cfg.model}: spin qubit at {sc.detuning_mV:g} mV, field "
            f"along {tuple(round(c, 3) for c in qubit.direction)}"
        )
        mark = crossing.get("anticrossing_field_T", crossing.get("crossing_estimate_T"))
        drawn.append(plot_spin(sweep, out / "spin.png", crossing_T=mark, title=title).name)
    return numbers, part, drawn


def _anticrossing(qubit: Any, sweep: Any, n_states: int) -> dict[str, Any]:
    """Locate the spin-valley anticrossing if the sweep brackets it.

    Below it level 1 is the lower valley's upper spin (``<sigma . b> ~ +1``), above it the
    upper valley's lower spin (``~ -1``): the fields where level 1's spin changes sign bracket
    the anticrossing, whose smallest gap between levels 1 and 2 is then searched.
    """
    out: dict[str, Any] = {"crossing_estimate_T": qubit.crossing_estimate_T()}
    if n_states < 3:
        return out
    b = np.asarray(sweep.field_T)
    along = np.asarray(sweep.spin)[:, 1] @ np.asarray(qubit.direction)
    flips = np.nonzero((along[:-1] > 0) & (along[1:] < 0))[0]
    if flips.size == 0:
        return out
    i = int(flips[0])
    tol = 1e-5 * max(1.0, float(b.max()))
    found = qubit.anticrossing((float(b[i]), float(b[i + 1])), n_states=n_states, xtol_T=tol)
    out.update(
        anticrossing_field_T=found.field_T,
        anticrossing_field_tolerance_T=tol,
        anticrossing_gap_ueV=found.gap_ueV,
    )
    return out
