"""Two electrons against detuning: the two-electron spectrum and the exchange J of a study.

:func:`two_electron_sweep` runs a :class:`~femvalley.twoelectron.exchange.TwoElectronSolver`
at every detuning of a list and collects a :class:`TwoElectronSweep`: the lowest
two-electron levels with their spin, the (2,0) and (0,2) weights and the valley parity of
every level, ``J = E(T0) - E(S)`` with its basis error (the change of J with the basis size,
:meth:`~femvalley.twoelectron.exchange.TwoElectronPoint.exchange_convergence`), and the
one-electron energies of the basis. :meth:`TwoElectronSweep.save` writes it as an HDF5 store
(:mod:`femvalley.io.two_electron`), :meth:`TwoElectronSweep.write_csv` as a table.

Units: mV, meV.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.twoelectron.exchange import TwoElectronPoint, TwoElectronSolver

__all__ = ["TwoElectronSweep", "two_electron_sweep"]


@dataclass(frozen=True, eq=False)
class TwoElectronSweep:
    """Two-electron levels and exchange at a list of detunings (P points, n levels, m states).

    Attributes
    ----------
    detuning_mV : ndarray (P,)
    energies_meV : ndarray (P, n)
        Two-electron levels, ascending (a triplet once).
    spin : ndarray of int (P, n)
        S of every level (0 or 1).
    double_occupancy : ndarray (P, n, 2)
        Probability of both electrons in ``dot_L`` and in ``dot_R``.
    valley_parity : ndarray (P, n)
        Valley parity summed over both electrons.
    exchange_meV, exchange_error_meV : ndarray (P,)
        ``J`` at the full basis and its basis error.
    one_electron_meV : ndarray (P, m)
        The basis' one-electron energies.
    basis_dot_weight : ndarray (P, 2)
        How many basis states sit in ``dot_L`` and ``dot_R`` (below 1: the basis cannot hold
        one electron per dot at that detuning).
    attrs : dict
        ``n_states``, ``kernel``, ``model``, the basis sizes of the error and timings.
    """

    detuning_mV: NDArray[np.float64]
    energies_meV: NDArray[np.float64]
    spin: NDArray[np.int64]
    double_occupancy: NDArray[np.float64]
    valley_parity: NDArray[np.float64]
    exchange_meV: NDArray[np.float64]
    exchange_error_meV: NDArray[np.float64]
    one_electron_meV: NDArray[np.float64]
    basis_dot_weight: NDArray[np.float64]
    attrs: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Return every array by name (the datasets of the store)."""
        return {
            name: getattr(self, name)
            for name in (
                "detuning_mV",
                "energies_meV",
                "spin",
                "double_occupancy",
                "valley_parity",
                "exchange_meV",
                "exchange_error_meV",
                "one_electron_meV",
                "basis_dot_weight",
            )
        }

    def save(self, path: str | Path) -> Path:
        """Write the sweep as an HDF5 store (atomically); return its path."""
        from femvalley.io.two_electron import write_two_electron

        return write_two_electron(path, self.arrays(), attrs=self.attrs)

    @classmethod
    def load(cls, path: str | Path) -> TwoElectronSweep:
        """Read a store written by :meth:`save`."""
        from femvalley.io.two_electron import read_two_electron

        arrays, attrs = read_two_electron(path)
        return cls(**arrays, attrs=attrs)

    def write_csv(self, path: str | Path) -> None:
        """Write ``detuning_mV, J_ueV, J_error_ueV, E<i>_meV, S<i>`` per point (atomically)."""
        from femvalley.io.atomic import write_text

        n = self.energies_meV.shape[1]
        head = ["detuning_mV", "J_ueV", "J_error_ueV"]
        head += [f"E{i}_meV" for i in range(n)] + [f"S{i}" for i in range(n)]
        head += ["P20_ground", "P02_ground"]
        lines = [",".join(head)]
        for p in range(self.detuning_mV.size):
            row = [
                f"{self.detuning_mV[p]:.10g}",
                f"{1e3 * self.exchange_meV[p]:.8g}",
                f"{1e3 * self.exchange_error_meV[p]:.3g}",
            ]
            row += [f"{x:.12g}" for x in self.energies_meV[p]]
            row += [str(int(s)) for s in self.spin[p]]
            row += [f"{x:.6g}" for x in self.double_occupancy[p, 0]]
            lines.append(",".join(row))
        write_text(path, "\n".join(lines) + "\n")


def two_electron_sweep(
    solver: TwoElectronSolver,
    detuning_mV: ArrayLike,
    *,
    on_point: Callable[[int, TwoElectronPoint], None] | None = None,
) -> TwoElectronSweep:
    """Return the two-electron levels at every detuning (mV).

    ``on_point(i, point)`` is called after each point (e.g. to keep the ground-state density
    of one of them).
    """
    eps = np.asarray(detuning_mV, dtype=np.float64)
    if eps.ndim != 1 or eps.size == 0:
        raise ValueError(f"detuning_mV must be a non-empty list of detunings, not {eps!r}")
    n, m = solver.n_levels, solver.n_states
    energies = np.full((eps.size, n), np.nan)
    spin = np.full((eps.size, n), -1, dtype=np.int64)
    double = np.full((eps.size, n, 2), np.nan)
    parity = np.full((eps.size, n), np.nan)
    j = np.full(eps.size, np.nan)
    j_err = np.full(eps.size, np.nan)
    one = np.full((eps.size, m), np.nan)
    basis_dots = np.full((eps.size, 2), np.nan)
    sizes: tuple[int, ...] = ()
    seconds = 0.0
    for i, x in enumerate(eps):
        pt = solver.point(float(x))
        k = pt.spectrum.energies_meV.size
        energies[i, :k] = pt.spectrum.energies_meV
        spin[i, :k] = pt.spectrum.spin
        double[i, :k] = pt.double_occupancy
        parity[i, :k] = pt.valley_parity
        conv = pt.convergence
        sizes = conv.sizes
        j[i] = conv.value_meV
        j_err[i] = conv.error_meV if math.isfinite(conv.error_meV) else np.nan
        one[i] = pt.states.energies_meV
        basis_dots[i] = pt.basis_dot_weight
        seconds += sum(pt.timings_s.values())
        if on_point is not None:
            on_point(i, pt)
    attrs = {
        "n_states": m,
        "n_levels": n,
        "kernel": solver.kernel,
        "model": str(solver.system.config.model),
        "error_basis_sizes": list(sizes),
        "seconds_per_point": seconds / eps.size,
        **{f"setup_{k}_s": v for k, v in solver.timings_s.items()},
    }
    return TwoElectronSweep(
        detuning_mV=eps,
        energies_meV=energies,
        spin=spin,
        double_occupancy=double,
        valley_parity=parity,
        exchange_meV=j,
        exchange_error_meV=j_err,
        one_electron_meV=one,
        basis_dot_weight=basis_dots,
        attrs=attrs,
    )
