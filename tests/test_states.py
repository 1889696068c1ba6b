"""States of a finished study at any detuning, from its stored basis (``basis.h5``).

Checked against independent computations: the stored states put into the full two-valley
finite-element Hamiltonian of the study give back their energies (Rayleigh quotients);
they are orthonormal in the stored mass matrix; at the sweep points the energies, dot
weights and bounds equal what the sweep stored; between points no bound is claimed.
"""

from __future__ import annotations

import numpy as np
import pytest

from femvalley.config import StudyConfig
from femvalley.io.results import read_results
from femvalley.states import BASIS_NAME, StudyStates
from femvalley.study import run_study

from .conftest import COARSE_STUDY_PARAMS as COARSE


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("states")
    cfg = StudyConfig.from_dict(
        {
            "model": "bo2d",
            "device": {"params": COARSE},
            "biases_V": {"B5": 1.45},
            "detuning": {"points": 5, "start_mV": -6.0, "stop_mV": 6.0},
            "solver": {"n_states": 4},
            "output": {"figures": False, "vtu_states": 0},
        }
    )
    res = run_study(cfg, out_dir=out, progress=False)
    return out, res


def test_sweep_points_give_back_the_stored_numbers(study):
    out, res = study
    states = StudyStates.load(out)
    stored = read_results(out / "results.h5")
    for j, eps in enumerate(stored["detuning_mV"]):
        s = states.at(float(eps))
        assert s.energies_meV == pytest.approx(stored["energies_meV"][j], rel=1e-11, abs=1e-12)
        assert s.dot_weight == pytest.approx(stored["dot_weight"][j], abs=1e-9)
        assert s.valley_parity == pytest.approx(stored["valley_parity"][j], abs=1e-9)
        assert s.bound_meV == stored["error_bound_meV"][j]
    assert np.isnan(states.at(0.123).bound_meV)


def test_states_are_eigenvectors_of_the_full_problem(study):
    out, res = study
    ops = res["system"].operators
    s = StudyStates.load(out / BASIS_NAME).at(-1.7)
    interior = ops.interior
    h = ops.hamiltonian(detuning=-1.7)
    m = s.mass_matrix
    # orthonormal in the stored mass matrix (both valley components)
    gram = np.einsum("icn,jcn->ij", s.states.conj(), np.stack([(m @ c.T).T for c in s.states]))
    assert gram == pytest.approx(np.eye(s.energies_meV.size), abs=1e-10)
    for j, e in enumerate(s.energies_meV):
        x = np.concatenate([s.states[j, 0, interior], s.states[j, 1, interior]])
        rayleigh = np.real(x.conj() @ (h @ x)) / np.real(x.conj() @ (ops.mass @ x))
        assert rayleigh == pytest.approx(e, abs=1e-10)
        # zero on the Dirichlet boundary
        boundary = np.setdiff1d(np.arange(s.states.shape[2]), interior)
        assert np.all(s.states[j][:, boundary] == 0)
    assert s.density(0).shape == (s.dof_points_nm.shape[1],)
    assert s.dof_points_nm.shape[0] == 2  # the Born-Oppenheimer plane


def test_bad_requests_are_named(study, tmp_path):
    out, _ = study
    states = StudyStates.load(out)
    with pytest.raises(ValueError, match="detuning_mV = nan must be finite"):
        states.at(float("nan"))
    with pytest.raises(ValueError, match="n_states = 0 must be an integer in 1 .."):
        states.at(0.0, n_states=0)
    with pytest.raises(ValueError, match="basis.h5 does not exist"):
        StudyStates.load(tmp_path)
    bad = tmp_path / "basis.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="cannot be read as HDF5"):
        StudyStates.load(bad)
    with pytest.raises(ValueError, match="j = 9: states 0 .. 3 are here"):
        states.at(0.0).density(9)
