"""Configuration of femvalley runs: frozen, validated dataclasses read from TOML at the edge.

- :mod:`femvalley.config.study`: a study (:class:`StudyConfig` and its sections) and the
  built-in demo study (:meth:`StudyConfig.demo`, the packaged ``demo.toml``);
- :mod:`femvalley.config.spin`: the ``[spin]`` table of a study (:class:`SpinConfig`);
- :mod:`femvalley.config.ensemble`: an ensemble of studies (:class:`EnsembleConfig`);
- :mod:`femvalley.config.checks`: the value checks every section uses, whose errors name the
  field, the value and what is allowed.

A configuration travels to the edge of a run and no further: :func:`femvalley.run_study`
hands the point loop the few numbers it needs.
"""

from femvalley.config.checks import (
    MAX_DETUNING_MV,
    MAX_POINTS,
    MAX_SEED,
    MAX_STATES,
    read_section,
)
from femvalley.config.ensemble import EnsembleConfig, EnsembleSpec, ExecutionConfig
from femvalley.config.spin import MicroMagnetConfig, SpinConfig
from femvalley.config.study import (
    ESTIMATES,
    MESH_PARAMETERS,
    MODELS,
    SCAN_MODELS,
    VALLEY_MAP_MODELS,
    ConvergenceConfig,
    DetuningConfig,
    DeviceConfig,
    OutputConfig,
    ReductionConfig,
    SolverConfig,
    StudyConfig,
    TwoElectronConfig,
    ValleyMapConfig,
    check_scan,
    demo_toml,
)

__all__ = [
    "ESTIMATES",
    "MAX_DETUNING_MV",
    "MAX_POINTS",
    "MAX_SEED",
    "MAX_STATES",
    "MESH_PARAMETERS",
    "MODELS",
    "SCAN_MODELS",
    "VALLEY_MAP_MODELS",
    "ConvergenceConfig",
    "DetuningConfig",
    "DeviceConfig",
    "EnsembleConfig",
    "EnsembleSpec",
    "ExecutionConfig",
    "MicroMagnetConfig",
    "OutputConfig",
    "ReductionConfig",
    "SolverConfig",
    "SpinConfig",
    "StudyConfig",
    "TwoElectronConfig",
    "ValleyMapConfig",
    "check_scan",
    "demo_toml",
    "read_section",
]
