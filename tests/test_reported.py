"""Reported numbers and the typed summaries (summary.json, ensemble_summary.json)."""

import json
import math

import numpy as np
import pytest

from femvalley.ensemble import CombinationStatistics, EnsembleSummary, Statistics
from femvalley.reported import ReportedNumber, format_value
from femvalley.study import StudySummary, attach_discretisation, discretisation_errors


def test_a_value_larger_than_its_bound_is_reported_with_digits_the_bound_allows():
    n = ReportedNumber.bounded(12.3456789, 0.0012, "ueV", at_detuning_mV=0.5)
    assert n.value == 12.3456789 and n.resolved and n.below is None
    assert n.solver_bound == 0.0012
    assert n.text.startswith("12.3457 +- 0.0012 ueV")
    assert n.text.endswith("(discretisation error not estimated)")
    assert n.details == {"at_detuning_mV": 0.5}
    assert n.to_dict()["at_detuning_mV"] == 0.5  # details are written at the top level


def test_a_value_not_larger_than_its_bound_is_reported_only_as_an_upper_bound():
    n = ReportedNumber.bounded(-0.02, 0.05, "ueV")
    assert n.value is None and n.resolved is False
    assert n.below == pytest.approx(0.07)
    assert n.text.startswith("< 0.07 ueV (not resolved)")
    assert "0.02" not in n.text  # no digits of an unresolved value


def test_a_value_without_a_finite_bound_is_reported_as_not_certified():
    n = ReportedNumber.bounded(3.0, math.inf, "meV/mV")
    assert n.value == 3.0 and n.solver_bound is None and n.resolved is False
    assert "not certified" in n.text
    assert n.to_dict()["solver_bound"] is None


def test_the_discretisation_error_is_added_to_the_number_and_its_text():
    n = ReportedNumber.bounded(0.12, 1e-6, "ueV").with_discretisation(0.004, method="coarser")
    assert n.discretisation_error == 0.004 and n.discretisation_method == "coarser"
    assert n.text == format_value(0.12, 1e-6, "ueV", discretisation=0.004)
    hidden = ReportedNumber.bounded(0.01, 0.05, "ueV").with_discretisation(0.1, method="m")
    assert hidden.value is None and hidden.text.startswith("< 0.06 ueV (not resolved)")


@pytest.mark.parametrize(
    "number",
    [
        ReportedNumber.bounded(1.5, 0.01, "ueV", method="root finding", range_ueV=[1.0, 2.0]),
        ReportedNumber.bounded(0.0, 0.3, "ueV"),
        ReportedNumber.descriptive(0.25, "rad", "0.2500 rad"),
    ],
)
def test_a_number_reads_back_from_its_json_object(number):
    text = json.dumps(number.to_dict())
    back = ReportedNumber.from_dict(json.loads(text))
    assert back == number and back.to_dict() == number.to_dict()
    assert back.certified == number.certified
    assert back.details == number.details


def test_a_descriptive_number_has_no_bound_and_gets_no_discretisation_error():
    phase = ReportedNumber.descriptive(1.0, "rad", "1.0000 rad")
    assert set(phase) == {"value", "unit", "text"}
    fine = {"p": phase, "t": ReportedNumber.bounded(2.0, 1e-3, "ueV")}
    coarse = {"p": ReportedNumber.descriptive(1.2, "rad", ""), "t": fine["t"]}
    errors = discretisation_errors(fine, coarse, ratio=2.0)
    assert set(errors) == {"t"} and errors["t"] == pytest.approx(0.0, abs=1e-9)
    assert attach_discretisation(fine, errors, method="m")["p"] is phase


def test_discretisation_errors_are_richardson_estimates_from_the_coarser_level():
    fine = {"t": ReportedNumber.bounded(1.0, 1e-6, "ueV")}
    coarse = {"t": ReportedNumber.bounded(1.3, 1e-6, "ueV")}
    # two levels, assumed order 2: |v_f - v_c| / (ratio^2 - 1)
    assert discretisation_errors(fine, coarse, ratio=2.0)["t"] == pytest.approx(0.3 / 3)


def _summary_json():
    return {
        "device": "tunnel_falls",
        "model": "bo2d",
        "points": 3,
        "points_done": 3,
        "n_states": 4,
        "kp_mesh": {"vertices": 10, "elements": 12, "complex_dofs": 8},
        "device_mesh_vertices": 100,
        "method": "reduced_basis",
        "timings_s": {"setup": {"mesh": 1.0}, "per_point_mean": 0.1},
        "numbers": {
            "lever_arm": ReportedNumber.bounded(0.08, 1e-7, "meV/mV").to_dict(),
            "valley_phase_dot_L": ReportedNumber.descriptive(0.1, "rad", "0.1").to_dict(),
        },
        "figures": ["spectrum.png"],
        "from_a_later_version": {"kept": True},
    }


def test_a_study_summary_is_typed_and_reads_as_exactly_its_json_object(tmp_path):
    data = _summary_json()
    s = StudySummary.from_dict(data)
    assert isinstance(s.numbers["lever_arm"], ReportedNumber)
    assert s.numbers["lever_arm"].value == 0.08
    assert s.numbers["valley_phase_dot_L"].certified is False
    assert s.extra == {"from_a_later_version": {"kept": True}}
    assert s == data and dict(s) == data  # the mapping view is the JSON object
    assert "note" not in s and s.note is None  # optional parts absent are not written
    path = s.write(tmp_path / "summary.json")
    assert json.loads(path.read_text()) == data  # an unknown key is written back
    assert StudySummary.read(path) == s
    assert not list(tmp_path.glob("*.tmp"))


def test_a_summary_without_a_required_key_is_refused_by_name():
    data = _summary_json()
    del data["points_done"]
    with pytest.raises(ValueError, match="'points_done' is missing"):
        StudySummary.from_dict(data)
    with pytest.raises(ValueError, match="JSON object"):
        StudySummary.from_dict([1, 2])


def test_statistics_are_those_of_the_finite_values():
    values = np.array([4.0, 1.0, np.nan, 3.0, 2.0])
    s = Statistics.of(values, threshold=2.5)
    assert (s.count, s.missing) == (4, 1)
    assert (s.min, s.q25, s.median, s.q75, s.max) == (1.0, 1.75, 2.5, 3.25, 4.0)
    assert s.iqr == 1.5 and s.mean == 2.5 and s.fraction_below_threshold == 0.5
    empty = Statistics.of(np.array([np.nan]))
    assert empty.to_dict() == {"count": 0, "missing": 1}


def test_an_ensemble_summary_reads_back_typed(tmp_path):
    st = Statistics.of(np.array([1.0, 2.0]), threshold=1.5)
    combo = CombinationStatistics(
        parameters={"biases_V.B5": 1.2},
        realisations=2,
        valley_splitting_L_ueV=st,
        valley_splitting_R_ueV=st,
        tunnel_coupling_ueV=Statistics.of(np.array([np.nan, 3.0])),
        valley_splitting_ueV=st,
        tunnel_coupling_not_resolved=1,
        no_anticrossing_in_range=0,
        max_error_bound_ueV=None,
        points_solved_in_full=0,
    )
    summary = EnsembleSummary(
        realisations=2, done=2, seeds=[0, 1], threshold_ueV=1.5, combinations=[combo]
    )
    assert summary.to_dict()["combinations"][0]["max_error_bound_ueV"] is None  # written
    back = EnsembleSummary.read(summary.write(tmp_path / "s.json"))
    assert back == summary
    assert isinstance(back.combinations[0].tunnel_coupling_ueV, Statistics)
    assert back.combinations[0].tunnel_coupling_ueV.median == 3.0
