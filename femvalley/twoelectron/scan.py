"""Exchange against a gate voltage, for several models of the same device (refs. Fig. 4).

:func:`exchange_scan` sets one gate (e.g. the interdot barrier) to each of a list of voltages,
builds the study's system for every model (``3d``, ``bo2d``, fixed-z slices; the device mesh,
its gate potentials and the grounded Poisson operator are built once and shared) and
computes ``J`` at zero detuning with its basis error.

J is computed in the orbital regime, as in the comparison of dimensional reductions this
reproduces: the valley coupling is replaced by a uniform ``Delta`` (default 50 meV). With a
uniform ``Delta`` the two valley branches decouple exactly (every state is an orbital times a
fixed valley spinor, and pair densities between the branches vanish), so the configuration
interaction over the lowest states, all in the lower branch, is the orbital (single-valley)
one; the scan checks that the basis stays in that branch.

Units: V, mV, meV, ueV.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.config import SCAN_MODELS
from femvalley.twoelectron.exchange import TwoElectronSolver

__all__ = ["EXCHANGE_SCAN_MODELS", "ExchangeScan", "exchange_scan"]

#: the models of a scan: 3-D, Born-Oppenheimer 2-D and the two fixed-z slices
EXCHANGE_SCAN_MODELS = SCAN_MODELS


@dataclass(frozen=True, eq=False)
class ExchangeScan:
    """``J`` against one gate's voltage, per model.

    Attributes
    ----------
    gate : str
    voltages_V : ndarray (n,)
    exchange_ueV, exchange_error_ueV : dict of model to ndarray (n,)
        ``J`` and its basis error.
    tunnel_gap_ueV : dict of model to ndarray (n,)
        ``E1 - E0`` of the one-electron (orbital) states at zero detuning.
    seconds_per_point : dict of model to float
        Mean time of one J point (one-electron solve, integrals, CI).
    unknowns : dict of model to int
    attrs : dict
        Basis size, kernel, Poisson order, valley coupling used.
    """

    gate: str
    voltages_V: NDArray[np.float64]
    exchange_ueV: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    exchange_error_ueV: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    tunnel_gap_ueV: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    seconds_per_point: dict[str, float] = field(default_factory=dict)
    unknowns: dict[str, int] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def ratios_to(self, model: str = "3d") -> dict[str, NDArray[np.float64]]:
        """``J_model / J_reference`` at every voltage, for every model."""
        ref = self.exchange_ueV[model]
        return {name: np.asarray(j / ref) for name, j in self.exchange_ueV.items()}

    def csv(self) -> str:
        """Return the scan as CSV text: the voltage, then J and its error per model."""
        names = list(self.exchange_ueV)
        head = [f"{self.gate}_V"]
        for n in names:
            head += [f"J_{n}_ueV", f"J_{n}_error_ueV"]
        lines = [",".join(head)]
        for i, v in enumerate(self.voltages_V):
            row = [f"{v:.10g}"]
            for n in names:
                row += [f"{self.exchange_ueV[n][i]:.8g}", f"{self.exchange_error_ueV[n][i]:.3g}"]
            lines.append(",".join(row))
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Return the scan as plain JSON data (with the ratios to 3-D when 3-D was run)."""
        out: dict[str, Any] = {
            "gate": self.gate,
            "voltages_V": self.voltages_V.tolist(),
            "exchange_ueV": {k: v.tolist() for k, v in self.exchange_ueV.items()},
            "exchange_error_ueV": {k: v.tolist() for k, v in self.exchange_error_ueV.items()},
            "tunnel_gap_ueV": {k: v.tolist() for k, v in self.tunnel_gap_ueV.items()},
            "seconds_per_point": dict(self.seconds_per_point),
            "unknowns": dict(self.unknowns),
            **self.attrs,
        }
        if "3d" in self.exchange_ueV:
            out["ratio_to_3d"] = {k: v.tolist() for k, v in self.ratios_to("3d").items()}
        return out

    def write(self, out_dir: str | Path, *, title: str | None = None) -> list[Path]:
        """Write ``exchange_scan.csv``, ``exchange_scan.json`` and ``exchange_scan.png``.

        The figure draws J on a log scale where it is resolved (above its basis error); the
        CSV and JSON hold every value with its error.
        """
        import json

        from femvalley.io.atomic import write_text
        from femvalley.plot import plot_tunnel_coupling_scan

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "exchange_scan.csv", self.csv())
        write_text(out / "exchange_scan.json", json.dumps(self.to_dict(), indent=2) + "\n")
        resolved = {  # a J not above its basis error is not drawn (it is only a bound)
            name: np.where(j > self.exchange_error_ueV[name], j, np.nan)
            for name, j in self.exchange_ueV.items()
        }
        png = plot_tunnel_coupling_scan(
            out / "exchange_scan.png",
            voltages_V=self.voltages_V,
            tunnel_coupling_ueV=resolved,
            gate=self.gate,
            title=title,
            ylabel=r"exchange $J$ ($\mu$eV; resolved points)",
        )
        return [out / "exchange_scan.csv", out / "exchange_scan.json", png]


def exchange_scan(
    config: Any,
    *,
    gate: str,
    voltages_V: ArrayLike,
    models: Sequence[str] = EXCHANGE_SCAN_MODELS,
    n_states: int = 12,
    kernel: str = "screened",
    poisson_order: int | None = None,
    orbital_delta_meV: float = 50.0,
) -> ExchangeScan:
    """Return ``J`` at zero detuning against the voltage of ``gate``, per model.

    Parameters
    ----------
    config : femvalley.config.StudyConfig
        The device, biases and detuning weights (its ``model`` and valley map are not used).
    gate : str
        The scanned gate.
    voltages_V : array_like
        Its voltages (V).
    models : sequence of str
        Any of :data:`EXCHANGE_SCAN_MODELS`.
    n_states, kernel, poisson_order
        Those of :class:`~femvalley.twoelectron.exchange.TwoElectronSolver`.
    orbital_delta_meV : float
        The uniform valley coupling that separates the valley branches (> 0, meV); the basis
        must lie below the upper branch (checked).
    """
    from femvalley.config import ReductionConfig, ValleyMapConfig, check_scan
    from femvalley.system import build_system

    check_scan(config, gate, models)
    if not (math.isfinite(orbital_delta_meV) and orbital_delta_meV > 0):
        raise ValueError(f"orbital_delta_meV = {orbital_delta_meV!r} must be > 0")
    volts = [float(v) for v in np.atleast_1d(np.asarray(voltages_V, dtype=float))]
    if not volts:
        raise ValueError("voltages_V is empty")
    vmap = ValleyMapConfig(model="uniform", delta_ueV=(1e3 * orbital_delta_meV, 0.0))
    out = ExchangeScan(gate=gate, voltages_V=np.asarray(volts))
    first: Any = None
    poisson: Any = None
    for name in models:
        model, _, where = name.partition(":")
        j, err, gap, times = [], [], [], []
        for v in volts:
            cfg = dataclasses.replace(
                config,
                model=model,
                reduction=ReductionConfig(slice_at=where or "interface"),
                biases_V={**dict(config.biases_V), gate: v},
                valley_map=vmap,
                two_electron=None,
            )
            system = build_system(cfg, reuse=first)
            if first is None:
                first = system
            solver = TwoElectronSolver(
                system,
                n_states=n_states,
                kernel=kernel,
                n_levels=4,
                poisson_order=poisson_order,
                poisson=poisson,  # the first solver factorises it, the others share it
            )
            if poisson is None and kernel == "screened":
                poisson = solver.poisson
            t0 = time.perf_counter()
            pt = solver.point(0.0)
            times.append(time.perf_counter() - t0)
            e = pt.states.energies_meV
            if e[-1] - e[0] >= 2 * orbital_delta_meV:
                raise ValueError(
                    f"the {n_states} lowest states span {e[-1] - e[0]:.3g} meV, beyond the "
                    f"valley branch gap 2 x {orbital_delta_meV:g} meV: raise orbital_delta_meV"
                )
            conv = pt.exchange_convergence()
            j.append(1e3 * conv.value_meV)
            err.append(1e3 * conv.error_meV)
            gap.append(1e3 * float(e[1] - e[0]))
        out.exchange_ueV[name] = np.asarray(j)
        out.exchange_error_ueV[name] = np.asarray(err)
        out.tunnel_gap_ueV[name] = np.asarray(gap)
        out.seconds_per_point[name] = float(np.mean(times))
        out.unknowns[name] = int(system.operators.ndof)
    out.attrs.update(
        n_states=int(n_states),
        kernel=kernel,
        poisson_order=None if poisson is None else int(poisson.order),
        orbital_delta_meV=float(orbital_delta_meV),
    )
    return out
