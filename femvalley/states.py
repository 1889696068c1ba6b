"""The states of a finished study at any detuning, from its stored reduced basis.

A study with the single-valley reduced basis (``solver.reduced_basis = "single_valley"``, the
default) writes ``basis.h5`` next to ``results.h5``: the real single-valley orbitals ``Phi``
of the basis on the degrees of freedom they live on, the reduced matrices of the
Hamiltonian and of the observables, the scalar mass matrix and the coordinates of every
degree of freedom. :class:`StudyStates` reads it back, and :meth:`StudyStates.at` gives, in
one call and without the device or the mesh generator, the lowest states at any detuning
with their observables (what ``femvalley.analysis`` computes for a sweep point)::

    from femvalley.states import StudyStates

    states = StudyStates.load("femvalley-demo")      # the study directory (or its basis.h5)
    s = states.at(-0.9)                              # detuning in mV
    s.energies_meV, s.dot_weight, s.valley_parity    # (k,), (k, 2), (k,)
    psi = s.states[0]                                # (2, ndof): the +z and -z valley parts
    norm = (psi.conj() @ (s.mass_matrix @ psi.T)).trace().real   # = 1 (M-normalised)

Layout of ``basis.h5`` (format ``femvalley.basis/1``): ``orbitals`` (n_interior, m) real,
M-orthonormal; ``interior_dofs`` (n_interior,) the degrees of freedom they live on (the
others are on the Dirichlet boundary, where every state is zero); ``dof_points_nm``
(dim, ndof); ``mass`` (the scalar mass matrix over all ndof, as CSR ``data``, ``indices``,
``indptr``, ``shape``); ``reduced/h_meV`` (m, m) the single-valley Hamiltonian at zero
detuning, ``reduced/detuning_meV_per_mV`` (m, m), ``reduced/coupling_meV`` (m, m) complex,
``Phi^T B(Delta) Phi``; ``reduced/<observable>`` (m, m) for ``dot_L``, ``dot_R``, ``x``,
``y``, ``x2``, ``y2`` (nm, nm^2) and ``valley_phase`` (complex); attributes ``n_states``,
``element``.

Energies from :meth:`StudyStates.at` are the Ritz values of the same reduced problem the
study solved; at a sweep point the basis certified they equal the stored energies (a point
solved in full stored the full solve's energies, which differ within the bounds), and the
certified bound is
the one stored with that point in ``results.h5`` (``error_bound_meV``), which
:meth:`StudyStates.at` returns there; between sweep points ``bound_meV`` is NaN (re-run the
study, or use :func:`femvalley.study.study_spectrum` on a built system, for a certificate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg as la
from numpy.typing import NDArray

from femvalley.io.atomic import atomic_path
from femvalley.io.hdf5 import read_csr, write_csr
from femvalley.typing import SparseMatrix

__all__ = ["BASIS_NAME", "FORMAT", "StatesAt", "StudyStates", "write_basis"]

#: the file of a study directory holding its reduced basis
BASIS_NAME = "basis.h5"
FORMAT = "femvalley.basis/1"
_OBSERVABLES = ("dot_L", "dot_R", "x", "y", "x2", "y2")


def write_basis(path: str | Path, system: Any, reduced: Any) -> Path:
    """Write the reduced basis of a study (:mod:`femvalley.states` layout) to ``path``.

    Parameters
    ----------
    path : str or Path
        The file (written under a temporary name and renamed).
    system : femvalley.system.StudySystem
        The study's system (operators, observables, basis).
    reduced : femvalley.rb.SingleValleyBasis
        Its single-valley reduced basis.
    """
    import h5py

    out = Path(path)
    parts = reduced.parts
    obs = system.observables
    ops = system.operators
    mass = obs.matrix("norm").tocsr()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["n_states"] = int(reduced.k)
        f.attrs["element"] = str(system.config.solver.element)
        f.attrs["model"] = str(system.config.model)
        f.create_dataset("orbitals", data=np.asarray(parts.phi, dtype=np.float64))
        f.create_dataset("interior_dofs", data=np.asarray(ops.interior, dtype=np.int64))
        f.create_dataset("dof_points_nm", data=np.asarray(system.basis.doflocs, dtype=float))
        write_csr(f, "mass", mass)
        r = f.create_group("reduced")
        r.create_dataset("h_meV", data=parts.h)
        r.create_dataset("detuning_meV_per_mV", data=parts.terms["detuning"])
        r.create_dataset("coupling_meV", data=reduced.couple.b)
        for name in _OBSERVABLES:
            r.create_dataset(name, data=np.real(reduced.project_scalar(obs.matrix(name))))
        r.create_dataset("valley_phase", data=reduced.project_scalar(obs.matrix("valley_phase")))
    return out


@dataclass(frozen=True, kw_only=True)
class StatesAt:
    """The lowest two-valley states of a study at one detuning, with their observables.

    Attributes
    ----------
    detuning_mV : float
    energies_meV : ndarray (k,)
        Ascending.
    bound_meV : float
        Certified bound of every energy: the stored one at a sweep point, NaN elsewhere.
    states : ndarray (k, 2, ndof) complex
        Valley components (+z, -z) of every state at every degree of freedom, normalised in
        the mass matrix: ``sum_c psi_c^H M psi_c = 1``.
    dot_weight : ndarray (k, 2)
        Probability in the left and right dot regions.
    x_mean_nm, y_mean_nm : ndarray (k,)
        Centre of the density.
    valley_parity : ndarray (k,)
        ``<tau_Delta>``, -1 (lower local valley state) .. +1 (upper).
    valley_coupling_meV : ndarray (k,) complex
        ``<Delta>`` of every state.
    detuning_slope_meV_per_mV : ndarray (k,)
        Hellmann-Feynman ``dE/d(detuning)``.
    mass_matrix : scipy.sparse.csr_matrix (ndof, ndof)
        The scalar mass matrix (overlaps: ``<a|b> = sum_c a_c^H M b_c``).
    dof_points_nm : ndarray (dim, ndof)
        Coordinates of every degree of freedom.
    """

    detuning_mV: float
    energies_meV: NDArray[np.float64]
    bound_meV: float
    states: NDArray[np.complex128]
    dot_weight: NDArray[np.float64]
    x_mean_nm: NDArray[np.float64]
    y_mean_nm: NDArray[np.float64]
    valley_parity: NDArray[np.float64]
    valley_coupling_meV: NDArray[np.complex128]
    detuning_slope_meV_per_mV: NDArray[np.float64]
    mass_matrix: SparseMatrix
    dof_points_nm: NDArray[np.float64]

    def density(self, j: int = 0) -> NDArray[np.float64]:
        """``|psi_+|^2 + |psi_-|^2`` of state ``j`` at every degree of freedom (nm^-dim)."""
        if not 0 <= j < self.energies_meV.size:
            raise ValueError(f"j = {j!r}: states 0 .. {self.energies_meV.size - 1} are here")
        return np.asarray(np.sum(np.abs(self.states[j]) ** 2, axis=0), dtype=float)


@dataclass(frozen=True, kw_only=True, eq=False)
class StudyStates:
    """The stored reduced basis of a study (:func:`write_basis`); see the module notes."""

    orbitals: NDArray[np.float64]
    interior_dofs: NDArray[np.int64]
    dof_points_nm: NDArray[np.float64]
    mass_matrix: SparseMatrix
    reduced: dict[str, NDArray[Any]]
    n_states: int
    sweep_detuning_mV: NDArray[np.float64]
    sweep_bound_meV: NDArray[np.float64]

    @classmethod
    def load(cls, path: str | Path) -> StudyStates:
        """Read a study directory's ``basis.h5`` (or the file itself).

        A missing file, or a file that is not a femvalley basis, is a ``ValueError`` that
        says what to do.
        """
        import h5py

        p = Path(path)
        directory = p if p.is_dir() else p.parent
        f_path = p / BASIS_NAME if p.is_dir() else p
        if not f_path.is_file():
            raise ValueError(
                f"{f_path} does not exist: only studies with the single-valley reduced basis "
                "(solver.method = 'reduced', solver.reduced_basis = 'single_valley') write "
                "it; run the study again to get one"
            )
        try:
            with h5py.File(f_path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise ValueError(f"{f_path} is not a femvalley basis file ({FORMAT})")
                mass = read_csr(f["mass"])
                reduced = {name: f["reduced"][name][...] for name in f["reduced"]}
                out = dict(
                    orbitals=f["orbitals"][...],
                    interior_dofs=f["interior_dofs"][...],
                    dof_points_nm=f["dof_points_nm"][...],
                    mass_matrix=mass,
                    reduced=reduced,
                    n_states=int(f.attrs["n_states"]),
                )
        except OSError as err:
            raise ValueError(f"{f_path}: cannot be read as HDF5 ({err})") from err
        except KeyError as err:
            raise ValueError(
                f"{f_path} is incomplete ({err}); it may be damaged: run the study again in a "
                "new --out"
            ) from err
        eps = np.zeros(0)
        bounds = np.zeros(0)
        store = directory / "results.h5"
        if store.is_file():  # the certified bounds of the sweep points
            try:
                with h5py.File(store, "r") as f:
                    done = np.asarray(f["done"][...], dtype=bool)
                    eps = np.asarray(f["detuning_mV"][...], dtype=float)[done]
                    bounds = np.asarray(f["error_bound_meV"][...], dtype=float)[done]
            except (OSError, KeyError) as err:
                raise ValueError(
                    f"{store}: not a readable femvalley results store ({err})"
                ) from err
        return cls(**out, sweep_detuning_mV=eps, sweep_bound_meV=bounds)

    @property
    def ndof(self) -> int:
        """Degrees of freedom of one valley component."""
        return int(self.dof_points_nm.shape[1])

    def at(self, detuning_mV: float, *, n_states: int | None = None) -> StatesAt:
        """Return the lowest states at one detuning (mV), with their observables.

        Parameters
        ----------
        detuning_mV : float
            Any detuning (the basis is certified over the study's sweep range).
        n_states : int, optional
            How many states (default: the study's ``n_states``; at most twice the number
            of orbitals).
        """
        if isinstance(detuning_mV, (bool, np.bool_)) or not isinstance(
            detuning_mV, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"detuning_mV = {detuning_mV!r} must be a number (mV)")
        eps = float(detuning_mV)
        if not np.isfinite(eps):
            raise ValueError(f"detuning_mV = {detuning_mV!r} must be finite")
        r = self.reduced
        m = r["h_meV"].shape[0]
        k = self.n_states if n_states is None else n_states
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 2 * m:
            raise ValueError(f"n_states = {n_states!r} must be an integer in 1 .. {2 * m}")
        hs = r["h_meV"] + eps * r["detuning_meV_per_mV"]
        b = r["coupling_meV"]
        hr = np.block([[hs, b], [b.conj(), hs]])
        theta, y = la.eigh(0.5 * (hr + hr.conj().T), subset_by_index=[0, int(k) - 1])
        yp, ym = y[:m], y[m:]

        def diag(a: NDArray[Any]) -> NDArray[Any]:
            return np.asarray(
                np.einsum("ai,ab,bi->i", yp.conj(), a, yp)
                + np.einsum("ai,ab,bi->i", ym.conj(), a, ym)
            )

        norm = np.real(diag(np.eye(m)))
        dots = np.stack([np.real(diag(r["dot_L"])), np.real(diag(r["dot_R"]))], axis=1)
        parity = 2 * np.real(np.einsum("ai,ab,bi->i", yp.conj(), r["valley_phase"], ym))
        states = np.zeros((int(k), 2, self.ndof), dtype=np.complex128)
        states[:, 0, self.interior_dofs] = (self.orbitals @ yp).T
        states[:, 1, self.interior_dofs] = (self.orbitals @ ym).T
        hit = np.flatnonzero(np.isclose(self.sweep_detuning_mV, eps, rtol=0, atol=1e-12))
        bound = float(self.sweep_bound_meV[hit[0]]) if hit.size else float("nan")
        return StatesAt(
            detuning_mV=eps,
            energies_meV=np.asarray(theta, dtype=float),
            bound_meV=bound,
            states=states,
            dot_weight=dots / norm[:, None],
            x_mean_nm=np.real(diag(r["x"])) / norm,
            y_mean_nm=np.real(diag(r["y"])) / norm,
            valley_parity=np.asarray(parity / norm, dtype=float),
            valley_coupling_meV=np.asarray(diag(b) / norm, dtype=np.complex128),
            detuning_slope_meV_per_mV=np.real(diag(r["detuning_meV_per_mV"])) / norm,
            mass_matrix=self.mass_matrix,
            dof_points_nm=self.dof_points_nm,
        )
