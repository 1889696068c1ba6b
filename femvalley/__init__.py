"""femvalley: finite-element simulator for electrons in silicon quantum dots.

Position-dependent two-valley (and general n-band) k.p models on scikit-fem meshes,
correlated random valley-coupling maps, and fast sparse eigensolvers with certified bounds.

The public API, in the order a study uses it::

    import femvalley as fv

    config = fv.StudyConfig.from_toml("study.toml")       # or fv.StudyConfig.from_dict(...)
    system = fv.build_system(config)                      # mesh, gates, k.p operators: once
    result = system.solve(detuning_mV=2.5)                # lowest states at one detuning
    out = fv.run_study(config, out_dir="run")             # a StudyResult: arrays, summary
    out.energies_meV, out.summary.numbers["lever_arm"]    # typed fields (or out["energies_meV"])
    again = fv.StudyResult.load("run")                    # the same, read from the directory

Everything else is in the modules (``femvalley.kp``, ``femvalley.eigen``, ...). ``import
femvalley`` loads neither matplotlib, h5py, dask nor gmsh: they are imported when a figure, a
file, a cluster or a mesh is made.

"ref. 1", "ref. 2" and "ref. 3" in docstrings are the papers listed in docs/references.md.
"""

from __future__ import annotations

from femvalley.analysis import StateObservables, analyse_sweep, fit_anticrossing
from femvalley.config import StudyConfig
from femvalley.eigen import EigenResult, available_backends, make_backend, solve
from femvalley.electrostatics import GatePotentials, solve_gates
from femvalley.ensemble import EnsembleConfig, EnsembleResult, EnsembleSummary, run_ensemble
from femvalley.execution import make_executor
from femvalley.export import export_study
from femvalley.io.results import ResultsStore, read_results
from femvalley.kp import KPModel, KPOperators, assemble, make_basis, two_valley_model
from femvalley.rb import (
    SingleValleyBasis,
    TwoValleyBasis,
    build_single_valley_basis,
    build_two_valley_basis,
)
from femvalley.refinement import converge_study
from femvalley.reported import ReportedNumber
from femvalley.states import StudyStates
from femvalley.study import BarrierScan, StudyResult, StudySummary, barrier_scan, run_study
from femvalley.sweep import SweepResult, run_sweep
from femvalley.system import StudySystem, build_system
from femvalley.valley_map import ValleyGrid, ValleyMapSpec, valley_map_on_nodes
from femvalley.version import __version__

__all__ = [
    "BarrierScan",
    "EigenResult",
    "EnsembleConfig",
    "EnsembleResult",
    "EnsembleSummary",
    "GatePotentials",
    "KPModel",
    "KPOperators",
    "TwoValleyBasis",
    "ReportedNumber",
    "ResultsStore",
    "StateObservables",
    "StudyConfig",
    "StudyResult",
    "StudyStates",
    "StudySummary",
    "StudySystem",
    "SweepResult",
    "ValleyGrid",
    "ValleyMapSpec",
    "SingleValleyBasis",
    "__version__",
    "analyse_sweep",
    "assemble",
    "available_backends",
    "barrier_scan",
    "build_two_valley_basis",
    "build_system",
    "build_single_valley_basis",
    "converge_study",
    "export_study",
    "fit_anticrossing",
    "make_backend",
    "make_basis",
    "make_executor",
    "read_results",
    "run_ensemble",
    "run_study",
    "run_sweep",
    "solve",
    "solve_gates",
    "two_valley_model",
    "valley_map_on_nodes",
]
