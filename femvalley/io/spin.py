"""The spin-qubit store of a study (``spin.h5``).

Layout (HDF5, readable with plain h5py; layout version 1); P fields, n levels, G gates:

- ``field_T`` (P,): the external field's magnitude along the study's direction;
- ``energies_meV`` (P, n): the lowest levels; ``residual_meV`` (P, n): their residuals in the
  ``M^-1`` norm (an eigenvalue lies within it);
- ``spin`` (P, n, 3): ``<sigma_x>, <sigma_y>, <sigma_z>`` of every level;
- ``larmor_GHz`` (P,), ``larmor_bound_GHz`` (P,): ``(E_1 - E_0) / h`` and its bound;
- ``rabi_MHz`` (P,), ``rabi_bound_MHz`` (P,): the Rabi frequency of the drive and its bound;
- ``larmor_slope_MHz_per_mV`` (P, G): ``d f_L / d V`` of every gate (order: attribute
  ``gates``);
- ``t2star_us`` (P,): the dephasing time of the gate noise;
- ``gamma1_per_s`` (P,): the phonon relaxation rate of ``|1> -> |0>``;
  ``gamma1_no_shear_per_s`` (P,): the same without the shear coupling.

Root attributes: ``layout_version``, ``gates``, ``drive_gate``, ``drive_amplitude_mV``,
``noise_uV`` (JSON), ``temperature_K``, ``direction``, ``g_factor``, ``detuning_mV``,
``model`` and timings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from femvalley.io.hdf5 import read_datasets, write_datasets

__all__ = ["SPIN_DATASETS", "SPIN_LAYOUT", "read_spin", "write_spin"]

SPIN_LAYOUT = 1
#: dataset name -> (units, description)
SPIN_DATASETS = {
    "field_T": ("T", "magnitude of the external field along its direction"),
    "energies_meV": ("meV", "the lowest one-electron levels with spin, ascending"),
    "residual_meV": ("meV", "residual of every level in the M^-1 norm"),
    "spin": ("1", "<sigma_x>, <sigma_y>, <sigma_z> of every level"),
    "larmor_GHz": ("GHz", "qubit frequency (E1 - E0) / h"),
    "larmor_bound_GHz": ("GHz", "certified bound of the qubit frequency"),
    "rabi_MHz": ("MHz", "Rabi frequency of the drive, first order in its amplitude"),
    "rabi_bound_MHz": ("MHz", "bound of the Rabi frequency from the states' residuals"),
    "larmor_slope_MHz_per_mV": ("MHz/mV", "d f_L / d V of every gate (attribute gates)"),
    "t2star_us": ("us", "dephasing time of the quasi-static gate noise"),
    "gamma1_per_s": ("1/s", "acoustic-phonon relaxation rate of |1> -> |0>"),
    "gamma1_no_shear_per_s": ("1/s", "the same without the phonons' shear coupling"),
}


def write_spin(
    path: str | Path, arrays: Mapping[str, NDArray[Any]], *, attrs: Mapping[str, Any]
) -> Path:
    """Write the store (atomically); ``arrays`` holds every name of the layout."""
    return write_datasets(path, SPIN_DATASETS, arrays, attrs=attrs, layout_version=SPIN_LAYOUT)


def read_spin(path: str | Path) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """Return the arrays and the root attributes of a store (one clear error if damaged)."""
    return read_datasets(path, SPIN_DATASETS, "spin-qubit store")
