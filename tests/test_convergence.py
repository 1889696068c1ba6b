"""Richardson extrapolation and the convergence driver against exact answers."""

from __future__ import annotations

import csv
import json
import math
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import pbdv

from femvalley.convergence import (
    STATUSES,
    ConvergenceTable,
    Extrapolation,
    RichardsonOptions,
    converge,
    refine_levels,
    richardson,
)
from femvalley.eigen import solve
from femvalley.kp import assemble, single_band_model

from .conftest import C_T, ho_levels, square_mesh

SQ2 = math.sqrt(2.0)
H4 = np.array([2.0, 2.0 / SQ2, 1.0, 1.0 / SQ2])


def _synthetic(h):
    return 3.0 + 0.7 * h**2 + 0.1 * h**3


# -- richardson on synthetic sequences ---------------------------------------------------------
def test_synthetic_order_value_and_error_estimates():
    v = _synthetic(H4)
    e = richardson(H4, v)
    assert e.status == "converging" and not e.order_assumed and e.levels_used == 4
    assert e.order == pytest.approx(2.0, abs=0.25)
    # the extrapolated value is within its own estimated error of the exact limit 3
    assert abs(e.value - 3.0) <= e.extrapolation_error
    # ... and the extrapolation is a real improvement on the finest value
    assert e.extrapolation_error < 0.2 * e.error
    true_finest = abs(v[-1] - 3.0)
    assert true_finest / 3 <= e.error <= 3 * true_finest
    assert e.finest == v[-1]
    # the order of the levels does not matter
    perm = [2, 0, 3, 1]
    assert richardson(H4[perm], v[perm]) == e


def test_exact_power_law_constant_ratio():
    e = richardson(H4, 3.0 + 0.7 * H4**2)
    assert e.order == pytest.approx(2.0, abs=1e-9)
    assert e.value == pytest.approx(3.0, abs=1e-12)
    # both triples extrapolate to 3: the estimate of the extrapolation error is at round-off
    assert e.extrapolation_error < 1e-10


def test_non_constant_ratios_solve_for_the_order():
    h = np.array([2.0, 1.5, 0.9, 0.5])
    e = richardson(h, 3.0 - 0.4 * h**1.5, assumed_order=1.0)
    assert e.status == "converging"
    assert e.order == pytest.approx(1.5, abs=1e-9)
    assert e.value == pytest.approx(3.0, abs=1e-12)
    # the constant-ratio formula ln(d1/d2)/ln(h2/h3) would be wrong here (not a tautology)
    v = 3.0 - 0.4 * h[1:] ** 1.5
    naive = math.log((v[1] - v[0]) / (v[2] - v[1])) / math.log(h[2] / h[3])
    assert abs(naive - 1.5) > 0.1
    # with a higher-order term: the limit within the estimated extrapolation error
    v = _synthetic(h)
    e = richardson(h, v)
    assert e.order == pytest.approx(2.0, abs=0.25)
    assert abs(e.value - 3.0) <= e.extrapolation_error
    true_finest = abs(v[-1] - 3.0)
    assert true_finest / 3 <= e.error <= 3 * true_finest


def test_three_levels_claim_no_more_than_the_finest():
    v = _synthetic(H4[1:])
    e = richardson(H4[1:], v)
    assert e.status == "converging"
    assert e.extrapolation_error == e.error
    assert abs(e.value - 3.0) <= e.extrapolation_error


def test_oscillating_sequence():
    v = 3.0 + 0.1 * (-0.5) ** np.arange(4)
    e = richardson(H4, v)
    assert e.status == "oscillating"
    assert math.isnan(e.order)
    assert e.value == v[-1]
    # conservative: the largest difference among the three finest levels
    assert e.error == pytest.approx(max(abs(v[2] - v[1]), abs(v[3] - v[2])), rel=1e-12)
    assert e.error >= abs(v[-1] - 3.0)


@pytest.mark.parametrize("noise", [0.0, 1e-14], ids=["equal", "1e-14 relative"])
def test_stagnant_sequences_without_division_by_zero(noise):
    v = 2.5 * (1.0 + noise * np.array([1.0, -1.0, 1.0, -1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = richardson(H4, v)
        e2 = richardson(H4[:2], v[:2])
    assert e.status == "stagnant" and e2.status == "stagnant"
    assert e.value == v[-1]
    assert 0 < e.error <= 1e-11  # round-off level, not zero and not a fitted claim
    # an observable that is exactly zero everywhere
    z = richardson(H4, np.zeros(4))
    assert z.status == "stagnant" and z.value == 0.0 and z.error == 0.0


def test_diverging_and_irregular_sequences():
    v = 3.0 + 1.0 / H4
    e = richardson(H4, v)
    assert e.status == "diverging"
    assert e.order == pytest.approx(-1.0, abs=1e-9)
    assert e.value == v[-1]
    # order 8 exceeds the default range (2 * 2 + 2 = 6) for an assumed order 2 ...
    v8 = 3.0 + 0.01 * H4**8
    e8 = richardson(H4, v8)
    assert e8.status == "irregular" and e8.order == pytest.approx(8.0, abs=1e-6)
    assert e8.value == v8[-1]
    # ... but is accepted when the range allows it
    ok = richardson(H4, v8, max_order=10.0)
    assert ok.status == "converging" and ok.value == pytest.approx(3.0, abs=1e-12)


def test_two_levels_use_the_assumed_order():
    h = np.array([1.0, 0.5])
    v = 3.0 + 0.7 * h**2
    e = richardson(h, v)
    assert e.status == "converging" and e.order_assumed and e.order == 2.0
    assert e.value == pytest.approx(3.0, abs=1e-14)
    assert "assumed" in e.note
    e4 = richardson(h, v, assumed_order=4.0)
    assert e4.order == 4.0 and e4.value != pytest.approx(3.0, abs=1e-3)  # the order matters
    none = richardson(h, v, assumed_order=None)
    assert none.status == "not enough levels" and none.value == v[-1]
    assert none.error == pytest.approx(abs(v[1] - v[0]))


def test_nan_levels_are_skipped():
    v = _synthetic(H4)
    v[0] = np.nan
    e = richardson(H4, v)
    assert e.levels_used == 3 and e.status == "converging"
    assert e.value == richardson(H4[1:], v[1:]).value
    one = richardson(H4, [np.nan, np.nan, np.nan, 4.0])
    assert one.status == "not enough levels" and one.value == 4.0 and one.error == math.inf
    none = richardson(H4[:2], [np.nan, np.nan])
    assert none.status == "not enough levels" and math.isnan(none.value)


def test_unchecked_extrapolation_when_the_coarser_triple_oscillates():
    h = np.array([2.0, 1.5, 1.0, 0.5])
    v = 3.0 + 0.7 * h**2
    v[0] = v[1] - 0.5  # coarsest level on the wrong side
    e = richardson(h, v)
    assert e.status == "converging" and e.value == pytest.approx(3.0, abs=1e-12)
    assert e.extrapolation_error == e.error
    assert "oscillating" in e.note


# -- FEM: a 2-D harmonic double well with exact levels ----------------------------------------
HW = (4.0, 6.0)  # hbar w along x and y, meV
HALF_WIDTH = 80.0  # nm


def _double_well_x_levels(hw_meV: float, a_nm: float, count: int) -> np.ndarray:
    """Exact levels of -c d2/dx2 + (hw)^2 (|x| - a)^2 / (4c) on the whole line.

    For x > 0 the decaying solution is D_nu(sqrt(2) (x - a) / l) with l^2 = 2c / hw and
    E = hw (nu + 1/2) (Weber's equation); even states need D_nu'(z0) = 0, odd ones
    D_nu(z0) = 0, at z0 = -sqrt(2) a / l. (scipy's pbdv agrees with mpmath's pcfd to 1e-15
    here.)
    """
    z0 = -SQ2 * a_nm / math.sqrt(2.0 * C_T / hw_meV)
    nus = np.linspace(-0.499, 6.0, 1301)
    roots = []
    for f in (lambda nu: pbdv(nu, z0)[1], lambda nu: pbdv(nu, z0)[0]):
        vals = np.array([f(nu) for nu in nus])
        for i in np.flatnonzero(np.sign(vals[:-1]) != np.sign(vals[1:])):
            roots.append(brentq(f, nus[i], nus[i + 1], xtol=1e-14))
    return hw_meV * (np.sort(roots)[:count] + 0.5)


def _double_well_levels(a_nm: float, count: int) -> np.ndarray:
    ex = _double_well_x_levels(HW[0], a_nm, 8)
    ey = HW[1] * (np.arange(4) + 0.5)
    return np.sort((ex[:, None] + ey[None, :]).ravel())[:count]


def test_double_well_exact_levels_reduce_to_the_oscillator():
    # a = 0 is the anisotropic oscillator hbar wx (nx + 1/2) + hbar wy (ny + 1/2)
    np.testing.assert_allclose(_double_well_levels(0.0, 6), ho_levels(HW, 6), rtol=1e-12)
    # a > 0: two wells, each level split by tunnelling, below the isolated-well level
    e = _double_well_x_levels(HW[0], 20.0, 2)
    assert 0.1 < e[1] - e[0] < 0.3
    assert e[0] < HW[0] / 2


@pytest.mark.parametrize("a_nm", [0.0, 20.0], ids=["oscillator", "double well a=20nm"])
def test_fem_levels_converge_to_exact(a_nm):
    """P1 levels of U = (hwx)^2 (|x| - a)^2 / 4c + (hwy)^2 y^2 / 4c on 4 meshes.

    Exact levels: parabolic cylinder functions along x (closed form for a = 0); the domain
    [-80, 80]^2 nm puts the outer walls 6 oscillator lengths (l = 10 nm) beyond the wells, so
    truncation shifts the levels by ~exp(-36) relative: far below the discretisation errors.
    For a = 20 nm the tunnel splitting E1 - E0 is 0.170 meV. Meshes: n = 32, 46, 64, 90 (even,
    so x = 0, the kink of |x|, is a mesh line): h = 5, 3.48, 2.5, 1.78 nm, non-constant ratios.
    """
    exact = _double_well_levels(a_nm, 4)
    assert np.min(np.diff(exact)) > 0.1  # no degeneracy among the four lowest

    def potential(x):
        return (HW[0] ** 2 * (np.abs(x[0]) - a_nm) ** 2 + HW[1] ** 2 * x[1] ** 2) / (4 * C_T)

    def run_level(level):
        n = round(2 * HALF_WIDTH / level["mesh_size_nm"])
        ops = assemble(single_band_model(dim=2, potential_meV=potential), square_mesh(n, 80.0))
        e = solve(ops, k=4, backend="superlu").energies_meV
        out = {f"E{i}": float(e[i]) for i in range(4)}
        out["splitting"] = float(e[1] - e[0])
        return out

    levels = [{"mesh_size_nm": 2 * HALF_WIDTH / n} for n in (32, 46, 64, 90)]
    units = {name: "meV" for name in ("E0", "E1", "E2", "E3", "splitting")}
    table = converge(run_level, levels, units=units)
    truth = {**{f"E{i}": exact[i] for i in range(4)}, "splitting": exact[1] - exact[0]}
    for name, value in truth.items():
        e = table.extrapolations[name]
        finest = table.observables[name][-1]
        assert e.status == "converging", (name, e)
        assert e.order == pytest.approx(2.0, abs=0.25), (name, e)
        assert abs(e.value - value) <= e.extrapolation_error, (name, e, value)
        true_finest = abs(finest - value)
        assert true_finest / 3 <= e.error <= 3 * true_finest, (name, e, true_finest)
        # the extrapolation is worth doing: several times closer than the finest mesh
        assert abs(e.value - value) < 0.25 * true_finest, (name, e, value)
    assert np.all(np.isfinite(table.wall_time_s)) and np.all(table.wall_time_s > 0)


# -- levels and validation ----------------------------------------------------------------------
def test_refine_levels():
    lv = refine_levels({"kp_mesh_size_nm": 4.0, "quantum_mesh_size_nm": 2.0}, 3)
    expected = [
        {"kp_mesh_size_nm": 4.0, "quantum_mesh_size_nm": 2.0},
        {"kp_mesh_size_nm": 4.0 / SQ2, "quantum_mesh_size_nm": 2.0 / SQ2},
        {"kp_mesh_size_nm": 4.0 / 2.0, "quantum_mesh_size_nm": 2.0 / 2.0},
    ]
    assert [list(level) for level in lv] == [list(level) for level in expected]
    for got, want in zip(lv, expected):
        assert got == pytest.approx(want, rel=1e-15)
    assert refine_levels({"h_nm": 1.0}, 2, ratio=3.0)[1] == {"h_nm": 1.0 / 3.0}


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (({"h_nm": 1.0}, 1), {}, r"n_levels = 1 must be an integer >= 2"),
        (({"h_nm": 1.0}, 2.0), {}, r"n_levels = 2.0 must be an integer"),
        (({"h_nm": 1.0}, 3), {"ratio": 1.0}, r"ratio = 1.0 must be > 1"),
        (({"h_nm": 1.0}, 3), {"ratio": math.nan}, r"ratio = nan must be finite"),
        (({"h_nm": -1.0}, 3), {}, r"base\['h_nm'\] = -1.0 must be > 0"),
        (({}, 3), {}, r"base = \{\} must be a non-empty mapping"),
    ],
)
def test_refine_levels_errors_name_the_field(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        refine_levels(*args, **kwargs)


@pytest.mark.parametrize(
    "h, v, kwargs, match",
    [
        ([1.0, 0.5], [1.0], {}, r"h has 2 levels but values has 1"),
        ([1.0], [1.0], {}, r"h has 1 level\(s\); need at least 2"),
        ([1.0, 0.0], [1.0, 2.0], {}, r"every mesh size must be finite and > 0"),
        ([1.0, 1.0], [1.0, 2.0], {}, r"repeats a mesh size"),
        ([1.0, 0.5], [1.0, 2.0], {"assumed_order": 0.0}, r"assumed_order = 0.0 must be > 0"),
        ([1.0, 0.5], [1.0, 2.0], {"max_order": 0.4}, r"max_order = 0.4 must be > min_order"),
        ([1.0, 0.5], [1.0, 2.0], {"roundoff_rtol": -1.0}, r"roundoff_rtol = -1.0 must be in"),
        ([1.0, 0.5], [1.0, 2.0], {"roundoff_atol": math.inf}, r"roundoff_atol = inf must be"),
    ],
)
def test_richardson_errors_name_the_field(h, v, kwargs, match):
    with pytest.raises(ValueError, match=match):
        richardson(h, v, **kwargs)


def test_options_or_keywords_not_both():
    opts = RichardsonOptions(assumed_order=4.0)
    h, v = [1.0, 0.5], [3.7, 3.175]
    assert richardson(h, v, options=opts) == richardson(h, v, assumed_order=4.0)
    with pytest.raises(ValueError, match=r"options = .* and separate keywords"):
        richardson(h, v, options=opts, min_order=1.0)


def _two_observables(level):
    h = level["a_nm"]
    return {"E0": 3.0 + 0.7 * h**2 + 0.1 * h**3, "t": 0.2 - 0.05 * h**2}


@pytest.mark.parametrize(
    "levels, kwargs, match",
    [
        ([{"a_nm": 1.0}], {}, r"levels has 1 level\(s\); need at least 2"),
        ([{"a_nm": 1.0}, {"a_nm": 1.0}], {}, r"levels\[1\]\['a_nm'\] = 1.0 is not smaller"),
        ([{"a_nm": 1.0}, {"b_nm": 0.5}], {}, r"levels\[1\] has parameters \['b_nm'\]"),
        ([{"a_nm": 1.0}, {"a_nm": -0.5}], {}, r"levels\[1\]\['a_nm'\] = -0.5 must be > 0"),
        ([{"a_nm": 1.0}, {"a_nm": "x"}], {}, r"levels\[1\]\['a_nm'\] = 'x' must be a real"),
        ({"a_nm": 1.0}, {}, r"levels = .* must be a sequence"),
        ([{"a_nm": 1.0}, {"a_nm": 0.5}], {"refinement": "b_nm"}, r"refinement = 'b_nm' is not"),
        ([{"a_nm": 1.0}, {"a_nm": 0.5}], {"units": {"E9": "meV"}}, r"units names \['E9'\]"),
    ],
)
def test_converge_validation_errors_name_the_field(levels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        converge(_two_observables, levels, **kwargs)


def test_converge_checks_what_run_level_returns():
    levels = refine_levels({"a_nm": 1.0}, 3)
    with pytest.raises(ValueError, match=r"run_level\(levels\[0\]\)\['E0'\] = 'x' must be a real"):
        converge(lambda level: {"E0": "x"}, levels)
    calls = []

    def changing(level):
        calls.append(level)
        return {"E0": 1.0} if len(calls) == 1 else {"E1": 1.0}

    with pytest.raises(ValueError, match=r"run_level\(levels\[1\]\) returned \['E1'\]"):
        converge(changing, levels)


def test_table_validation_names_the_field():
    with pytest.raises(ValueError, match=r"refinement = 'x_nm' is not a mesh parameter"):
        ConvergenceTable(
            h_nm={"a_nm": [1.0, 0.5]},
            refinement="x_nm",
            observables={},
            wall_time_s=[0.0, 0.0],
            extrapolations={},
        )
    with pytest.raises(ValueError, match=r"observables\['E0'\] has 3 entries; need one per level"):
        ConvergenceTable.from_levels(refine_levels({"a_nm": 1.0}, 2), {"E0": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"status = 'fine'; allowed"):
        Extrapolation(
            value=1.0,
            order=2.0,
            order_assumed=False,
            error=0.1,
            extrapolation_error=0.1,
            status="fine",
            finest=1.0,
            levels_used=3,
        )


# -- the table: driver, CSV, JSON, text ------------------------------------------------------
@pytest.fixture()
def table():
    calls = []

    def run_level(level):
        calls.append(dict(level))
        h = level["kp_mesh_size_nm"]
        return {
            "E0": 3.0 + 0.7 * h**2 + 0.1 * h**3,
            "t": math.nan if h > 1.5 else 0.2 - 0.05 * h**2,  # not resolved on the coarsest
            "w": 0.5 + 0.01 * (-0.5) ** round(2 * math.log2(2.0 / h)),  # oscillating
        }

    levels = refine_levels({"kp_mesh_size_nm": 2.0, "quantum_mesh_size_nm": 3.0}, 4)
    tab = converge(run_level, levels, units={"E0": "meV", "t": "meV"})
    assert calls == levels  # every level once, coarse to fine, as plain dicts
    return tab


def test_table_contents(table):
    assert table.refinement == "kp_mesh_size_nm" and table.n_levels == 4
    np.testing.assert_allclose(table.h, H4, rtol=1e-15)
    np.testing.assert_allclose(table.h_nm["quantum_mesh_size_nm"], 1.5 * H4, rtol=1e-15)
    np.testing.assert_array_equal(table.observables["E0"], _synthetic(table.h))
    assert table.levels()[1] == {"kp_mesh_size_nm": 2.0 / SQ2, "quantum_mesh_size_nm": 3.0 / SQ2}
    ex = table.extrapolations
    assert ex["E0"] == richardson(table.h, _synthetic(table.h))
    assert ex["t"].status == "converging" and ex["t"].levels_used == 3
    assert ex["t"].value == pytest.approx(0.2, abs=1e-12)
    assert ex["w"].status == "oscillating"
    np.testing.assert_allclose(table.deviation("E0"), np.abs(_synthetic(table.h) - ex["E0"].value))
    with pytest.raises(ValueError, match="read-only"):
        table.observables["E0"][0] = 1.0
    # another refinement parameter: the same orders (sizes in a constant ratio)
    other = ConvergenceTable.from_levels(
        table.levels(), table.observables, refinement="quantum_mesh_size_nm"
    )
    assert other.extrapolations["E0"].order == pytest.approx(ex["E0"].order, abs=1e-9)


def _same(a, b):
    return all(
        (x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a.as_dict().values(), b.as_dict().values())
    )


def test_json_round_trip_is_exact_and_strict(table, tmp_path):
    path = table.to_json(tmp_path / "conv.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.json"]  # no temp file left
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    back = ConvergenceTable.from_json(path)
    assert back.refinement == table.refinement and back.units == table.units
    assert back.options == table.options
    for k in table.h_nm:
        np.testing.assert_array_equal(back.h_nm[k], table.h_nm[k])
    for k in table.observables:
        np.testing.assert_array_equal(back.observables[k], table.observables[k])
        assert _same(back.extrapolations[k], table.extrapolations[k])
    np.testing.assert_array_equal(back.wall_time_s, table.wall_time_s)
    assert back.extrapolations["t"].levels_used == 3
    assert math.isnan(back.extrapolations["w"].order)


def test_csv_rows(table, tmp_path):
    path = table.to_csv(tmp_path / "conv.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.csv"]
    rows = list(csv.reader(path.open()))
    head = rows[0]
    assert head == [
        "row",
        "kp_mesh_size_nm",
        "quantum_mesh_size_nm",
        "wall_time_s",
        "E0 [meV]",
        "t [meV]",
        "w",
    ]
    assert [r[0] for r in rows[1:]] == [
        "0",
        "1",
        "2",
        "3",
        "extrapolated",
        "order",
        "order_assumed",
        "error_finest",
        "error_extrapolated",
        "status",
    ]
    col = {name: head.index(name) for name in head}
    assert [float(r[col["kp_mesh_size_nm"]]) for r in rows[1:5]] == list(table.h)
    assert [float(r[col["E0 [meV]"]]) for r in rows[1:5]] == list(table.observables["E0"])
    assert math.isnan(float(rows[1][col["t [meV]"]]))
    by_row = {r[0]: r for r in rows[5:]}
    assert float(by_row["extrapolated"][col["E0 [meV]"]]) == table.extrapolations["E0"].value
    assert float(by_row["order"][col["t [meV]"]]) == table.extrapolations["t"].order
    assert float(by_row["error_finest"][col["w"]]) == table.extrapolations["w"].error
    assert by_row["status"][col["w"]] == "oscillating"
    assert by_row["extrapolated"][col["kp_mesh_size_nm"]] == ""


def test_format_is_a_plain_table(table):
    text = table.format()
    lines = text.splitlines()
    assert "E0 [meV]" in lines[0] and "kp_mesh_size_nm" in lines[0]
    assert len(lines) == 1 + 1 + 4 + 1 + 5 + 1
    assert "oscillating" in text and "converging" in text
    assert f"{table.extrapolations['E0'].value:.10g}" in text


def test_statuses_are_listed():
    assert set(STATUSES) == {
        "converging",
        "oscillating",
        "stagnant",
        "diverging",
        "irregular",
        "not enough levels",
    }
    assert RichardsonOptions().upper_order == 6.0
    assert RichardsonOptions(assumed_order=None).upper_order == 10.0
