"""The two-electron store of a study (``two_electron.h5``).

Layout (HDF5, readable with plain h5py; layout version 1); P detunings, n two-electron levels,
m one-electron basis states:

- ``detuning_mV`` (P,);
- ``energies_meV`` (P, n): the two-electron levels, ascending, a triplet once;
- ``spin`` (P, n) int: S of every level (0 singlet, 1 triplet);
- ``double_occupancy`` (P, n, 2): probability of both electrons in ``dot_L`` ((2,0)) and in
  ``dot_R`` ((0,2));
- ``valley_parity`` (P, n): the valley parity summed over both electrons (-2 .. 2);
- ``exchange_meV`` (P,): ``J = E(T0) - E(S)``; ``exchange_error_meV`` (P,): its basis error;
- ``one_electron_meV`` (P, m): the energies of the one-electron basis;
- ``basis_dot_weight`` (P, 2): how many basis states sit in ``dot_L`` and ``dot_R`` (below 1
  in a dot, the basis cannot hold one electron per dot: raise ``n_states``).

Root attributes: ``layout_version``, ``n_states``, ``n_levels``, ``kernel``, ``model``,
``error_basis_sizes`` and timings. The file is small and written once, atomically, after the
detuning sweep (the one-electron ``results.h5`` keeps its fixed layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from femvalley.io.hdf5 import read_datasets, write_datasets

__all__ = [
    "TWO_ELECTRON_DATASETS",
    "TWO_ELECTRON_LAYOUT",
    "read_two_electron",
    "write_two_electron",
]

TWO_ELECTRON_LAYOUT = 1
#: dataset name -> (units, description)
TWO_ELECTRON_DATASETS = {
    "detuning_mV": ("mV", "detuning of every point"),
    "energies_meV": ("meV", "two-electron levels, ascending; a triplet appears once"),
    "spin": ("1", "total spin S of every level: 0 singlet, 1 triplet"),
    "double_occupancy": ("1", "probability of both electrons in dot_L and in dot_R"),
    "valley_parity": ("1", "valley parity summed over both electrons (-2 .. 2)"),
    "exchange_meV": ("meV", "J = E(T0) - E(S) of the lowest triplet and singlet"),
    "exchange_error_meV": ("meV", "basis error of J (its change with the basis size)"),
    "one_electron_meV": ("meV", "energies of the one-electron basis states"),
    "basis_dot_weight": ("1", "number of basis states in dot_L and dot_R (below 1: no (1,1))"),
}


def write_two_electron(
    path: str | Path, arrays: Mapping[str, NDArray[Any]], *, attrs: Mapping[str, Any]
) -> Path:
    """Write the store (atomically); ``arrays`` holds every name of the layout."""
    return write_datasets(
        path, TWO_ELECTRON_DATASETS, arrays, attrs=attrs, layout_version=TWO_ELECTRON_LAYOUT
    )


def read_two_electron(path: str | Path) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """Return the arrays and the root attributes of a store (one clear error if damaged)."""
    return read_datasets(path, TWO_ELECTRON_DATASETS, "two-electron store")
