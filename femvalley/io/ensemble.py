"""The results store of an ensemble (``ensemble.h5``).

Layout (HDF5, layout version 4; R realisations, P detunings, k states)
----------------------------------------------------------------------
- ``detuning_mV`` (P,); ``seed`` (R,), ``combination`` (R,) and, for every parameter,
  ``parameters/<dotted path>`` (R,): what each realisation is;
- ``done`` (R,) uint8; ``energies_meV`` (R, P, k); ``dot_weight`` (R, P, k, 2);
  ``error_bound_meV`` (R, P) (NaN where a point was solved in full); ``full_solve`` (R, P);
- derived, all (R,), by the same resolved analysis as a study
  (:func:`femvalley.analysis.analyse_sweep` in the realisation's certified basis):
  ``valley_splitting_L_ueV``, ``valley_splitting_R_ueV`` (lowest doublet of each dot, paired
  by dot weight) with ``*_bound_ueV``; ``tunnel_coupling_ueV`` (half the smallest ``E1 - E0``
  of the lowest interdot anticrossing, located by root finding; NaN when the range brackets
  none or when it is not resolved), ``tunnel_coupling_bound_ueV`` (its certified bound, or,
  where ``tunnel_coupling_resolved`` is 0, the upper bound ``t < bound``),
  ``anticrossing_mV``, ``lever_arm_meV_per_mV`` (Hellmann-Feynman);
- the device's own numbers, equal for every seed of a combination, all (R,):
  ``dot_L_x_nm``, ``dot_R_x_nm`` (centre of each dot's ground orbital) and
  ``orbital_spacing_L_meV``, ``orbital_spacing_R_meV`` (:func:`femvalley.ensemble.device_numbers`);
- provenance per realisation: ``point_config_sha256`` (R,) (of the realisation's resolved
  study TOML, which :meth:`femvalley.config.EnsembleConfig.point_config` rebuilds),
  ``worker`` (R,) (host and process, at most 64 bytes of UTF-8), ``finished_utc`` (R,),
  ``solve_s`` (R,);
- root attributes: ``layout_version``, ``ensemble_toml``, ``config_sha256``,
  ``femvalley_version``, ``n_states``.

Text datasets that are written per realisation (``worker``, ``finished_utc``,
``point_config_sha256``) are fixed-length byte strings; :func:`read_ensemble` returns them,
like the text parameters, as arrays of ``str``.

How it is written
-----------------
As ``results.h5`` (:mod:`femvalley.io.results`): :meth:`EnsembleStore.create` writes the whole
file once, every dataset at its final size, under a temporary name renamed into place; then
:meth:`EnsembleStore.write_task` writes the realisations of a finished task in place (their
rows, a flush, their ``done`` flags, a flush). Nothing but raw data changes after creation: a
run killed at any moment leaves a readable store whose done realisations are complete, and the
cost of storing a task does not grow with the size of the ensemble.

(Layout version 3 had no device numbers; version 2, before, the same datasets rewritten
whole after every task, with variable-length strings; such files are read, and resumed, as
well.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.io.atomic import atomic_path
from femvalley.io.hdf5 import InPlaceStore, read_store

__all__ = ["ENSEMBLE_STORE", "LAYOUT_VERSION", "TEXT_BYTES", "EnsembleStore", "read_ensemble"]

ENSEMBLE_STORE = "ensemble.h5"
LAYOUT_VERSION = 4
#: byte length of the text datasets written per realisation (longer text is cut)
TEXT_BYTES = {"worker": 64, "finished_utc": 24, "point_config_sha256": 64}


def _fixed_text(values: Any, size: int) -> NDArray[np.bytes_]:
    """Encode text as UTF-8, cut to ``size`` bytes (at a character boundary)."""
    out = []
    for v in np.asarray(values, dtype=object).ravel():
        b = str(v).encode("utf-8")[:size]
        out.append(b.decode("utf-8", "ignore").encode("utf-8"))
    return np.array(out, dtype=f"S{size}")


class EnsembleStore(InPlaceStore):
    """``ensemble.h5``, written task by task in place (see the module docstring)."""

    @classmethod
    def create(
        cls, path: str | Path, *, attrs: Mapping[str, Any], results: Mapping[str, Any]
    ) -> EnsembleStore:
        """Write the whole store at once (atomically) and return it (not yet open).

        ``results``: every dataset of the layout at its final size (``parameters`` a mapping
        of dotted path to array); text arrays (dtype object or str) are stored as text.
        """
        import h5py

        strings = h5py.string_dtype()
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["layout_version"] = LAYOUT_VERSION
            for key, value in attrs.items():
                f.attrs[key] = value
            for name, value in results.items():
                if name == "parameters":
                    g = f.create_group("parameters")
                    for pname, arr in value.items():
                        a = np.asarray(arr)
                        if a.dtype.kind in "UO":  # a varied text field: written once
                            g.create_dataset(pname, data=a.astype(str).tolist(), dtype=strings)
                        else:
                            g.create_dataset(pname, data=a)
                elif name in TEXT_BYTES:
                    f.create_dataset(name, data=_fixed_text(value, TEXT_BYTES[name]))
                else:
                    f.create_dataset(name, data=np.asarray(value))
        return cls(path)

    def write_task(self, records: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Write the realisations ``(index, record)`` of one task, then their ``done`` flags."""
        f = self.file
        for i, rec in records:
            for name, value in rec.items():
                if name in TEXT_BYTES:
                    f[name][i] = _fixed_text([value], TEXT_BYTES[name])[0]
                else:
                    f[name][i] = value
        f.flush()  # the rows are in the file before their flags say so
        for i, _ in records:
            f["done"][i] = 1
        f.flush()


def read_ensemble(path: str | Path) -> dict[str, Any]:
    """Read an ensemble store (``attrs``: the root attributes; text as arrays of ``str``)."""
    import h5py

    def load(obj: Any) -> Any:
        if obj.dtype.kind == "S":  # fixed-length text (UTF-8)
            return np.array([v.decode("utf-8", "replace") for v in obj[()]], dtype=object)
        if h5py.check_string_dtype(obj.dtype) is not None:  # variable-length text
            return np.array(obj.asstr()[()], dtype=object)
        return obj[()]

    out: dict[str, Any] = {}
    with read_store(path, "ensemble store") as f:
        for name, obj in f.items():
            if isinstance(obj, h5py.Group):
                out[name] = {k: load(v) for k, v in obj.items()}
            else:
                out[name] = load(obj)
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out
