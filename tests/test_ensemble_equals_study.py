"""An ensemble realisation equals the same study's numbers within their bounds (issue 16, item 3).

A tiny coarse Tunnel Falls ensemble (Born-Oppenheimer 2-D model, 2 seeds x 2 barrier
voltages, 7 detunings, 4 states) and, for every realisation, the plain study of
:meth:`EnsembleConfig.point_config`: the tunnel coupling, the valley splitting of each dot,
the anticrossing's detuning and the lever arm stored in ``ensemble.h5`` must equal the
study's ``summary["numbers"]`` within the sum of their certified solver bounds, and a number
the study cannot resolve must be unresolved in the ensemble too (no value, the same upper
bound). B5 = 1.2 V gives resolved couplings (t of about 0.2-0.3 ueV, bounds below 0.02 ueV);
B5 = 1.0 V couplings below their bounds (t of about 3e-3 ueV on this mesh). An ensemble that
stored the two-dot model fit's t, the gap instead of t, or an unresolved t as a value fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from femvalley.ensemble import EnsembleConfig, read_ensemble, run_ensemble
from femvalley.study import run_study
from femvalley.system import build_system

from .conftest import COARSE_STUDY_PARAMS

ENSEMBLE = {
    "model": "bo2d",
    "device": {"params": COARSE_STUDY_PARAMS},
    "detuning": {"points": 7},
    "solver": {"n_states": 4},
    "output": {"figures": False, "vtu_states": 0},
    "ensemble": {
        "seeds": 2,
        "seed_start": 3,
        "parameters": {"biases_V.B5": [1.2, 1.0]},
    },
}
#: every realisation (index: B5 in V, seed) is compared with its own study
REALISATIONS = {0: (1.2, 3), 1: (1.2, 4), 2: (1.0, 3), 3: (1.0, 4)}


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """One BLAS thread, as in ensemble workers: the studies' small dense eigenproblems
    (reduced solves) are 10-30 times slower when BLAS threads compete for busy cores."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def config():
    return EnsembleConfig.from_dict(ENSEMBLE)


@pytest.fixture(scope="module")
def stored(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble")
    run_ensemble(config, out_dir=out, progress=False)
    return read_ensemble(out / "ensemble.h5")


@pytest.fixture(scope="module")
def studies(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("studies")
    summaries, systems = {}, []
    for i in REALISATIONS:
        study = config.point_config(i)
        # the device mesh and gate potentials are shared (another bias or seed only)
        system = build_system(study, reuse=systems[0] if systems else None)
        systems.append(system)
        res = run_study(study, out_dir=out / str(i), progress=False, system=system)
        summaries[i] = res["summary"]
    return summaries


def _tunnel_anticrossing(summary, detuning_mV):
    """The study's anticrossing of states 0 and 1 at ``detuning_mV`` (its slope difference)."""
    found = [
        c
        for c in summary["anticrossings"]
        if c["states"] == [0, 1] and c["kind"] == "interdot" and c["detuning_mV"] == detuning_mV
    ]
    assert len(found) == 1
    return found[0]


def _status(resolved) -> str:
    """``"resolved"``, ``"unresolved"`` or ``"none"`` (no interdot anticrossing found)."""
    if resolved is None or (isinstance(resolved, float) and math.isnan(resolved)):
        return "none"
    return "resolved" if resolved else "unresolved"


@pytest.mark.parametrize("i", sorted(REALISATIONS))
def test_realisation_equals_its_study_within_bounds(config, stored, studies, i):
    b5, seed = REALISATIONS[i]
    study = config.point_config(i)
    assert stored["done"][i] == 1
    assert stored["seed"][i] == seed == study.valley_map.seed
    assert stored["parameters"]["biases_V.B5"][i] == b5 == study.biases()["B5"]
    nums = studies[i]["numbers"]

    # valley splitting of each dot: resolved in both, equal within the sum of the bounds
    for side, dot in (("L", "dot_L"), ("R", "dot_R")):
        num = nums[f"valley_splitting_{dot}"]
        value = stored[f"valley_splitting_{side}_ueV"][i]
        bound = stored[f"valley_splitting_{side}_bound_ueV"][i]
        assert num["resolved"] and abs(value) > bound > 0
        assert abs(value - num["value"]) <= bound + num["solver_bound"], (side, value, num)

    # lever arm: the ensemble stores no bound of its own; the same analysis of the same
    # realisation has the study's, so the two values are within twice it
    num = nums["lever_arm"]
    value = stored["lever_arm_meV_per_mV"][i]
    assert num["resolved"] and np.isfinite(value)
    assert abs(value - num["value"]) <= 2 * num["solver_bound"], (value, num)

    # tunnel coupling: resolved in both (equal within the bounds), unresolved in both (no
    # value, equal upper bounds), or absent from both (the range brackets no anticrossing
    # the analysis finds)
    num = nums.get("tunnel_coupling")
    value = stored["tunnel_coupling_ueV"][i]
    bound = stored["tunnel_coupling_bound_ueV"][i]
    at = stored["anticrossing_mV"][i]
    status = _status(None if num is None else num["resolved"])
    assert _status(float(stored["tunnel_coupling_resolved"][i])) == status
    if status == "none":
        assert "anticrossing_detuning" not in nums
        assert np.isnan(value) and np.isnan(bound) and np.isnan(at)
        return
    assert 0 < bound < math.inf and num["solver_bound"] > 0
    if status == "resolved":
        assert value > bound
        assert abs(value - num["value"]) <= bound + num["solver_bound"], (value, bound, num)
    else:  # only an upper bound is known: no value in either, and the upper bounds agree
        assert np.isnan(value) and num["value"] is None
        assert abs(bound - num["below"]) <= 2 * num["solver_bound"], (bound, num)

    # the anticrossing's detuning: within the detuning over which the gap stays within its
    # bounds of the smallest gap, sqrt((2t + 2 b)^2 - (2t)^2) / slope difference
    at_study = nums["anticrossing_detuning"]["value"]
    slope = _tunnel_anticrossing(studies[i], at_study)["slope_difference_meV_per_mV"]
    gap_meV = 2e-3 * (num["value"] if status == "resolved" else 0.0)
    b_meV = 2e-3 * (bound + num["solver_bound"])
    assert slope > 0
    assert abs(at - at_study) <= math.sqrt((gap_meV + b_meV) ** 2 - gap_meV**2) / slope


def test_the_ensemble_covers_resolved_and_unresolved_couplings(stored, studies):
    """The comparison above meets both cases: the barrier closes from 1.2 V to 1.0 V."""
    stati = [
        _status(studies[i]["numbers"].get("tunnel_coupling", {}).get("resolved"))
        for i in sorted(REALISATIONS)
    ]
    assert stati[:2] == ["resolved", "resolved"]
    assert "unresolved" in stati[2:] and "resolved" not in stati[2:]
    assert stored["done"].all() and stored["seed"].tolist() == [3, 4, 3, 4]
    # the two seeds are two valley maps
    ev = stored["valley_splitting_L_ueV"]
    assert abs(ev[0] - ev[1]) > 10.0 and abs(ev[2] - ev[3]) > 10.0
