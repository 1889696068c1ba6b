"""The demo converges in the mesh (slow: about 70 s in BO-2D on 2 cores; ``pytest -m slow``).

Three levels around the demo's mesh (ratio sqrt 2), with the Born-Oppenheimer model: every
headline number must be in the asymptotic range (status "converging", observed order >= 1.5),
the tunnel coupling must be known to 5 %, the valley splittings to 1 ueV and the lever arm to
0.5 % (the targets of the convergence work), and the demo's own coarser-level estimate must not
be below the error of its value measured from the extrapolation.
"""

from __future__ import annotations

import dataclasses

import pytest

from femvalley.config import StudyConfig
from femvalley.refinement import converge_study

pytestmark = pytest.mark.slow

HEADLINE = (
    "tunnel_coupling_ueV",
    "valley_splitting_L_ueV",
    "valley_splitting_R_ueV",
    "lever_arm_meV_per_mV",
)


def test_demo_converges_in_bo2d(tmp_path):
    base = StudyConfig.demo()
    cfg = dataclasses.replace(
        base,
        model="bo2d",
        convergence=dataclasses.replace(
            base.convergence, levels=3, coarser_levels=1, estimate="none"
        ),
    )
    res = converge_study(cfg, out_dir=tmp_path, progress=False, figures=False)
    table = res.table
    for name in HEADLINE:
        ex = table.extrapolations[name]
        assert ex.status == "converging", (name, ex)
        assert ex.order >= 1.5, (name, ex.order)
        v = table.observables[name]
        # the demo mesh is level 1: its coarser-level estimate covers its actual error
        assert abs(v[1] - v[0]) >= abs(v[1] - ex.value), name
    tc = table.extrapolations["tunnel_coupling_ueV"]
    assert tc.error <= 0.05 * abs(tc.value)
    for side in ("L", "R"):
        assert table.extrapolations[f"valley_splitting_{side}_ueV"].error <= 1.0
    lever = table.extrapolations["lever_arm_meV_per_mV"]
    assert lever.error <= 0.005 * abs(lever.value)
