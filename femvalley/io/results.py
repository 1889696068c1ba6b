"""The results store of a detuning sweep (``results.h5``) and the per-point state files.

Layout (HDF5, readable with plain h5py; layout version 4)
----------------------------------------------------------
datasets (P points, k states):

- ``detuning_mV`` (P,), ``done`` (P,) uint8 (1 when the point is finished and stored);
- ``energies_meV`` (P, k), ascending per point (NaN where not done);
- ``valley_polarization`` (P, k): <tau_z> = w(+z) - w(-z);
- ``valley_parity`` (P, k): <tau_Delta>, -1 in the lower and +1 in the upper local valley
  state (:class:`femvalley.analysis.StateObservables`);
- ``detuning_slope_meV_per_mV`` (P, k): ``dE/d eps = <D>`` of every state (Hellmann-Feynman);
- ``valley_coupling_meV`` (P, k) complex: ``<Delta>`` over every state's density;
- ``dot_weight`` (P, k, 2): probability in ``dot_L`` and ``dot_R``;
- ``x_mean_nm``, ``y_mean_nm``, ``x_std_nm``, ``y_std_nm`` (P, k): centre and size;
- ``solve_s`` (P,): wall time of each point; ``full_solve`` (P,) uint8: 1 where the point was
  solved from scratch (direct: first point of a chunk, or a fallback; reduced: a point the
  basis could not certify), 0 otherwise;
- ``error_bound_meV`` (P,): certified bound of ``|E_i - E_i(exact)|`` for every state of a
  reduced-basis point (NaN for full solves, which pass the relative-residual test of
  :func:`femvalley.eigen.solve` instead); ``residual_meV`` (P, k): ``||H x - E M x||_{M^-1}``
  of each reduced-basis pair;
- ``states/first`` and ``states/last`` (k, 2, N) complex: the states at both sweep ends
  (valid where ``done`` of the first or last point is 1; NaN before), on
  the vertices of the k.p mesh ``mesh/points_nm`` (3, N) / ``mesh/cells`` (4, ncells) (with
  P2 elements the nodal values at the vertices; the edge DOFs are not stored);
  ``mesh/band_edge_meV`` (N,) at zero detuning, ``mesh/detuning_meV_per_mV`` (N,) (U at
  detuning eps is ``band_edge_meV + eps * detuning_meV_per_mV``), ``mesh/delta_meV`` (N,)
  complex, and ``mesh/mass_matrix`` (group ``data``, ``indices``, ``indptr``, attribute
  ``shape``: the P1 mass matrix, so the norm of a stored state ``psi`` (2, N) is
  ``sum_c psi_c^H M psi_c``).

Every dataset (and the ``mesh/mass_matrix`` and ``states`` groups) has the attributes
``units``, ``description`` and ``axes`` (:data:`DATASET_INFO`).

attributes of the root: ``layout_version``, ``config_toml`` (the resolved study), ``config_sha256``,
``femvalley_version``, ``seed``, ``n_states``, ``vtu_states``, ``setup_s`` (mesh + Poisson +
assembly), ``model`` (``"3d"``, ``"bo2d"``, ``"slice2d"``, with ``slice_z_nm`` for a slice;
for the 2-D models the mesh datasets are 2-D: points (2, N), triangles (3, ncells)),
``method``; for the reduced method ``reduced_basis_size``, ``reduced_build_s`` and
``snapshot_detuning_mV``.

Next to it, ``states/point_NNNNN.npy`` (complex64, (vtu_states, 2, N)) holds the lowest
``output.vtu_states`` states of every finished point, for the ParaView series
(:mod:`femvalley.export`).

How it is written
-----------------
:meth:`ResultsStore.create` writes the whole file once, under a temporary name renamed into
place (:func:`femvalley.io.atomic.atomic_path`), with every dataset at its final size (NaN
where a point is not done). A sweep then opens it for writing and :meth:`ResultsStore.write_point`
writes one point in place: its rows (and the end states), a flush, then its ``done`` flag and
a second flush. Nothing but raw data changes after creation (no dataset is created, resized or
compressed), so the file's structure is never half-written; a run killed at any moment leaves
a readable store in which every point flagged done is complete, and ``--resume`` recomputes
the others. The cost of a point is independent of the number of points.

``spectrum.csv`` (``detuning_mV,E0_meV,E1_meV,...``) is written at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.io.atomic import atomic_path, write_text
from femvalley.io.hdf5 import InPlaceStore, read_store, write_csr

__all__ = [
    "DATASET_INFO",
    "END_STATES",
    "LAYOUT_VERSION",
    "PER_STATE",
    "RECORD",
    "STATES_DIR",
    "STORE_NAME",
    "SWEEP_ARRAYS",
    "empty_results",
    "load_point_states",
    "read_results",
    "ResultsStore",
    "save_point_states",
    "write_spectrum_csv",
]

STORE_NAME = "results.h5"
#: folder of the per-point state files inside a study directory
STATES_DIR = "states"
LAYOUT_VERSION = 4
#: per-state observables, (points, states) real arrays
PER_STATE = (
    "valley_polarization",
    "valley_parity",
    "detuning_slope_meV_per_mV",
    "x_mean_nm",
    "y_mean_nm",
    "x_std_nm",
    "y_std_nm",
)
#: what a finished point writes (one row of each)
RECORD = (
    *PER_STATE,
    "valley_coupling_meV",
    "energies_meV",
    "dot_weight",
    "solve_s",
    "full_solve",
    "error_bound_meV",
    "residual_meV",
)
#: every per-point array of the store (the datasets besides the mesh and the end states)
SWEEP_ARRAYS = (
    "detuning_mV",
    "done",
    "energies_meV",
    "dot_weight",
    "solve_s",
    "full_solve",
    "error_bound_meV",
    "residual_meV",
    "valley_coupling_meV",
    *PER_STATE,
)
#: the end states of the sweep, by point: ``states/first`` (point 0) and ``states/last``
END_STATES = ("first", "last")


def empty_results(detuning_mV: ArrayLike, n_states: int) -> dict[str, NDArray[Any]]:
    """Return the arrays of a sweep with no point done (NaN, zero flags)."""
    eps = np.asarray(detuning_mV, dtype=np.float64)
    p, k = eps.size, int(n_states)
    out: dict[str, NDArray[Any]] = {
        "detuning_mV": eps,
        "done": np.zeros(p, dtype=np.uint8),
        "energies_meV": np.full((p, k), np.nan),
        "dot_weight": np.full((p, k, 2), np.nan),
        "solve_s": np.full(p, np.nan),
        "full_solve": np.zeros(p, dtype=np.uint8),
        "error_bound_meV": np.full(p, np.nan),
        "residual_meV": np.full((p, k), np.nan),
        "valley_coupling_meV": np.full((p, k), np.nan, dtype=np.complex128),
    }
    for name in PER_STATE:
        out[name] = np.full((p, k), np.nan)
    return out


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a results store into a dict of arrays (``attrs`` holds the root attributes).

    ``states`` holds ``first`` and ``last`` only where that end point is done.
    """
    import h5py

    def load(obj: Any) -> Any:
        if isinstance(obj, h5py.Dataset):
            return obj[()]
        return {k: load(v) for k, v in obj.items()}

    out: dict[str, Any] = {}
    with read_store(path, "results store") as f:
        for name, obj in f.items():
            out[name] = load(obj)
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    done = out.get("done")
    if "states" in out and done is not None and len(done):
        ends = {"first": bool(done[0]), "last": bool(done[-1])}
        out["states"] = {k: v for k, v in out["states"].items() if ends.get(k, True)}
    return out


#: units, meaning and axes of every dataset of ``results.h5`` (stored as attributes)
DATASET_INFO: dict[str, tuple[str, str, str]] = {
    "detuning_mV": ("mV", "detuning eps of each sweep point", "point"),
    "done": ("1", "1 where the point is finished and stored", "point"),
    "energies_meV": ("meV", "energies, ascending per point (NaN where not done)", "point, state"),
    "dot_weight": ("1", "probability in dot_L and dot_R", "point, state, dot"),
    "solve_s": ("s", "wall time of each point", "point"),
    "full_solve": ("1", "1 where the point was solved from scratch", "point"),
    "error_bound_meV": (
        "meV",
        "certified bound of |E_i - E_i(exact)| of every state of a reduced point (NaN: full)",
        "point",
    ),
    "residual_meV": ("meV", "||H x - E M x||_{M^-1} of each reduced pair", "point, state"),
    "valley_coupling_meV": ("meV", "<Delta> over each state's density (complex)", "point, state"),
    "valley_polarization": ("1", "<tau_z> = w(+z) - w(-z)", "point, state"),
    "valley_parity": (
        "1",
        "<tau_Delta>: -1 in the lower, +1 in the upper local valley state",
        "point, state",
    ),
    "detuning_slope_meV_per_mV": ("meV/mV", "dE/d eps = <D> (Hellmann-Feynman)", "point, state"),
    "x_mean_nm": ("nm", "centre of the density along x", "point, state"),
    "y_mean_nm": ("nm", "centre of the density along y", "point, state"),
    "x_std_nm": ("nm", "standard deviation of the density along x", "point, state"),
    "y_std_nm": ("nm", "standard deviation of the density along y", "point, state"),
    "mesh/points_nm": ("nm", "vertices of the k.p mesh", "coordinate, vertex"),
    "mesh/cells": ("1", "vertex indices of each cell (tetrahedra or triangles)", "corner, cell"),
    "mesh/band_edge_meV": ("meV", "conduction-band edge at zero detuning", "vertex"),
    "mesh/detuning_meV_per_mV": (
        "meV/mV",
        "U at detuning eps is band_edge_meV + eps * detuning_meV_per_mV",
        "vertex",
    ),
    "mesh/delta_meV": ("meV", "valley coupling Delta (complex)", "vertex"),
    "mesh/mass_matrix": (
        "nm^dim",
        "P1 mass matrix int phi_i phi_j (csr: data, indices, indptr; shape attribute): the norm "
        "of a stored state is sum over valleys of psi^H M psi",
        "vertex, vertex",
    ),
    "states": (
        "nm^(-dim/2)",
        "states at the vertices (complex); first: first point, last: last point",
        "state, valley (+z, -z), vertex",
    ),
}


def _describe(obj: Any, name: str) -> None:
    if name not in DATASET_INFO:  # pragma: no cover - every stored name is listed (tested)
        return
    units, text, axes = DATASET_INFO[name]
    obj.attrs["units"] = units
    obj.attrs["description"] = text
    obj.attrs["axes"] = axes


class ResultsStore(InPlaceStore):
    """``results.h5`` of one sweep, written point by point in place (see the module docstring).

    Use :meth:`create` to write the file, then ``with ResultsStore(path) as store:`` and
    :meth:`write_point` for every finished point.
    """

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        attrs: Mapping[str, Any],
        results: Mapping[str, NDArray[Any]],
        mesh: Mapping[str, NDArray[Any]],
        mass_matrix: Any,
        states: Mapping[str, NDArray[Any]],
        state_shape: tuple[int, ...],
    ) -> ResultsStore:
        """Write the whole store at once (atomically) and return it (not yet open).

        Parameters
        ----------
        attrs : mapping
            Root attributes (``layout_version`` is added).
        results : mapping of str to ndarray
            The arrays of :func:`empty_results`, with what is already done filled in.
        mesh : mapping of str to ndarray
            ``points_nm``, ``cells``, ``band_edge_meV``, ``detuning_meV_per_mV``, ``delta_meV``.
        mass_matrix : sparse matrix
            The P1 mass matrix of the mesh (stored as ``mesh/mass_matrix``).
        states : mapping of str to ndarray
            End states already computed (``first``, ``last``); the others are NaN.
        state_shape : tuple
            Shape of one end-state array: (states, components, vertices).
        """
        import h5py

        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["layout_version"] = LAYOUT_VERSION
            for key, value in attrs.items():
                f.attrs[key] = value
            for name, value in results.items():
                _describe(f.create_dataset(name, data=value), name)
            g = f.create_group("mesh")
            for name, value in mesh.items():
                _describe(g.create_dataset(name, data=value), "mesh/" + name)
            _describe(write_csr(g, "mass_matrix", mass_matrix), "mesh/mass_matrix")
            s = f.create_group("states")
            _describe(s, "states")
            for name in END_STATES:
                # contiguous and written now: later writes change raw data only
                value = states.get(name)
                if value is None:
                    value = np.full(state_shape, np.nan, dtype=np.complex128)
                s.create_dataset(name, data=np.asarray(value, dtype=np.complex128))
        return cls(path)

    def write_point(
        self,
        index: int,
        record: Mapping[str, Any],
        *,
        end_states: Mapping[str, NDArray[Any]] | None = None,
    ) -> None:
        """Write point ``index``: every name of :data:`RECORD`, the end states, then ``done``."""
        f = self.file
        for name in RECORD:
            f[name][index] = record[name]
        for name, value in (end_states or {}).items():
            f["states"][name][...] = value
        f.flush()  # the point's data is in the file before its flag says so
        f["done"][index] = 1
        f.flush()


# -- per-point states (for the ParaView series) -----------------------------------------------
def save_point_states(out_dir: str | Path, index: int, components: ArrayLike) -> Path:
    """Store the exported states (k, 2, N) of sweep point ``index`` (atomically, complex64)."""
    folder = Path(out_dir) / STATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"point_{index:05d}.npy"
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(components, dtype=np.complex64))
    return path


def load_point_states(out_dir: str | Path, index: int) -> NDArray[np.complex64] | None:
    """Return the stored states of point ``index``, or ``None``."""
    path = Path(out_dir) / STATES_DIR / f"point_{index:05d}.npy"
    if not path.exists():
        return None
    try:
        return np.asarray(np.load(path), dtype=np.complex64)
    except (ValueError, OSError, EOFError, TypeError) as err:
        raise ValueError(
            f"{path} is not a readable state file ({err}); it may be damaged: move it away "
            "(the export then skips that point)"
        ) from err


def write_spectrum_csv(path: str | Path, results: Mapping[str, Any]) -> None:
    """Write ``detuning_mV,E0_meV,E1_meV,...`` of the done points (atomically)."""
    k = results["energies_meV"].shape[1]
    lines = ["detuning_mV," + ",".join(f"E{i}_meV" for i in range(k))]
    for eps, e, done in zip(results["detuning_mV"], results["energies_meV"], results["done"]):
        if done:
            lines.append(f"{eps:.10g}," + ",".join(f"{x:.12g}" for x in e))
    write_text(path, "\n".join(lines) + "\n")
