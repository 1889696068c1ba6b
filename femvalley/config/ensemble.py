"""Ensemble configuration: a study, what varies over the ensemble, and where it runs.

An ensemble file is a study file (:mod:`femvalley.config.study`) with an ``[ensemble]`` table
and an optional ``[execution]`` table (see :mod:`femvalley.ensemble` for an example and the
run). Every realisation's study is rebuilt on demand (:meth:`EnsembleConfig.point_config`) in
O(1): a seed count stays a count, never a list of seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.config.checks import MAX_SEED, read_section
from femvalley.config.study import StudyConfig, ValleyMapConfig
from femvalley.io.toml import dump_toml, read_toml, text_digest

__all__ = ["EnsembleConfig", "EnsembleSpec", "ExecutionConfig", "is_ensemble_file"]

#: study fields an ensemble may not vary (they fix the shape of the results or are the seeds)
_FIXED = ("detuning.start_mV", "detuning.stop_mV", "detuning.points", "solver.n_states")


@dataclass(frozen=True, kw_only=True)
class EnsembleSpec:
    """What varies over an ensemble: the seeds and any study parameters."""

    seeds: int | Sequence[int] = 16
    seed_start: int = 0
    threshold_ueV: float = 50.0
    combine: str = "grid"
    chunk_realisations: int = 4
    parameters: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_seeds()
        t = self.threshold_ueV
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"ensemble.threshold_ueV = {t!r} must be a number > 0")
        if self.combine not in ("grid", "zip"):
            raise ValueError(f"ensemble.combine = {self.combine!r}; allowed: 'grid', 'zip'")
        c = self.chunk_realisations
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"ensemble.chunk_realisations = {c!r} must be an integer >= 1")
        self._check_parameters()

    def _check_seeds(self) -> None:
        if isinstance(self.seeds, bool):
            raise ValueError(f"ensemble.seeds = {self.seeds!r} must be a count or a list")
        if isinstance(self.seeds, int):
            if self.seeds < 1:
                raise ValueError(f"ensemble.seeds = {self.seeds!r} must be >= 1")
        else:
            values = list(self.seeds)
            if not values or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in values
            ):
                raise ValueError(
                    f"ensemble.seeds = {self.seeds!r}: a list needs integers >= 0 (at least one)"
                )
            if len(set(values)) != len(values):
                raise ValueError(f"ensemble.seeds = {self.seeds!r} repeats a seed")
        if isinstance(self.seed_start, bool) or not isinstance(self.seed_start, int):
            raise ValueError(f"ensemble.seed_start = {self.seed_start!r} must be an integer")
        if self.seed_start < 0:
            raise ValueError(f"ensemble.seed_start = {self.seed_start!r} must be >= 0")
        top = self.seed_start + self.seeds - 1 if isinstance(self.seeds, int) else max(self.seeds)
        if top > MAX_SEED:
            raise ValueError(
                f"ensemble seeds reach {top}, beyond the largest seed {MAX_SEED} (2**63 - 1): "
                "lower ensemble.seed_start or the seeds"
            )

    def _check_parameters(self) -> None:
        lengths = set()
        for path, options in self.parameters.items():
            if path in _FIXED or path == "valley_map.seed" or path == "model":
                raise ValueError(
                    f"ensemble.parameters: {path!r} cannot vary in an ensemble (seeds go in "
                    f"ensemble.seeds; fixed: {list(_FIXED)}, 'model')"
                )
            if (
                isinstance(options, (str, bytes))
                or not isinstance(options, Sequence)
                or not options
            ):
                raise ValueError(
                    f"ensemble.parameters.{path} = {options!r} must be a non-empty list of values"
                )
            lengths.add(len(options))
        if self.combine == "zip" and len(lengths) > 1:
            raise ValueError(
                "ensemble.combine = 'zip' needs lists of one length; ensemble.parameters have "
                f"lengths {sorted(lengths)}"
            )

    def seed_values(self) -> list[int]:
        """Return the seeds of the ensemble."""
        if isinstance(self.seeds, int):
            return list(range(self.seed_start, self.seed_start + self.seeds))
        return [int(s) for s in self.seeds]

    def combinations(self) -> list[dict[str, Any]]:
        """Every combination of the parameters (one empty combination without parameters)."""
        names = list(self.parameters)
        if not names:
            return [{}]
        lists = [list(self.parameters[n]) for n in names]
        rows = itertools.product(*lists) if self.combine == "grid" else zip(*lists)
        return [dict(zip(names, row)) for row in rows]


@dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    """Where the work runs: ``workers`` local processes, or a Dask scheduler's workers."""

    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        w = self.workers
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"execution.workers = {w!r} must be an integer >= 1")
        if self.scheduler is not None and not (
            isinstance(self.scheduler, str) and "://" in self.scheduler
        ):
            raise ValueError(
                f"execution.scheduler = {self.scheduler!r} must be a Dask scheduler address "
                "such as 'tcp://10.0.0.1:8786'"
            )


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig:
    """A study, what varies over the ensemble, and where it runs."""

    study: StudyConfig = field(default_factory=StudyConfig)
    ensemble: EnsembleSpec = field(default_factory=EnsembleSpec)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        if self.study.two_electron is not None:
            raise ValueError(
                "[two_electron] is computed by single studies (femvalley run STUDY.toml), not "
                "by ensembles; remove the table from the ensemble file"
            )
        if self.study.spin is not None:
            raise ValueError(
                "[spin] is computed by single studies (femvalley run STUDY.toml), not by "
                "ensembles; remove the table from the ensemble file"
            )
        for i, combo in enumerate(self.ensemble.combinations()):
            try:
                self._apply(combo, self.study.valley_map.seed)
            except ValueError as err:
                raise ValueError(f"ensemble.parameters, combination {i} {combo}: {err}") from err

    # -- realisations ----------------------------------------------------------------------
    def n_realisations(self) -> int:
        """Return the number of realisations, counted without listing them."""
        spec = self.ensemble
        seeds = spec.seeds if isinstance(spec.seeds, int) else len(spec.seeds)
        lengths = [len(v) for v in spec.parameters.values()]
        if not lengths:
            combos = 1
        elif spec.combine == "grid":
            combos = math.prod(lengths)
        else:
            combos = lengths[0]
        return int(seeds) * combos

    def realisations(self) -> list[tuple[int, int]]:
        """Return ``(combination index, seed)`` of every realisation, combination-major."""
        seeds = self._seeds
        return [(c, s) for c in range(len(self._combinations)) for s in seeds]

    def realisation(self, index: int) -> tuple[int, int]:
        """Return ``(combination index, seed)`` of realisation ``index`` (in constant time)."""
        seeds = self._seeds
        total = len(seeds) * len(self._combinations)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"realisation index {index!r} must be an integer")
        if not 0 <= index < total:
            raise IndexError(f"realisation index {index} is outside 0..{total - 1}")
        return int(index) // len(seeds), seeds[int(index) % len(seeds)]

    def point_config(self, index: int) -> StudyConfig:
        """Return the resolved study of realisation ``index``.

        The study of its parameter combination (:meth:`combination_config`, built and
        validated once per combination) with the realisation's valley-map seed.
        """
        combo, seed = self.realisation(index)
        return dataclasses.replace(
            self.combination_config(combo), valley_map=self.valley_map_config(index)
        )

    def n_combinations(self) -> int:
        """Return the number of parameter combinations (1 without parameters)."""
        return len(self._combinations)

    def combination_config(self, combination: int) -> StudyConfig:
        """Return the study of parameter combination ``combination`` (the study's own seed)."""
        return self._combination_studies[combination]

    def valley_map_config(self, index: int) -> ValleyMapConfig:
        """Return the valley map of realisation ``index``: its combination's, with its seed."""
        combo, seed = self.realisation(index)
        vm = self.combination_config(combo).valley_map
        return vm if vm.seed == seed else dataclasses.replace(vm, seed=seed)

    @functools.cached_property
    def _combination_studies(self) -> list[StudyConfig]:
        seed = self.study.valley_map.seed
        return [self._apply(combo, seed) for combo in self._combinations]

    @functools.cached_property
    def _seeds(self) -> list[int]:
        # computed once (a frozen dataclass: cached_property writes the instance dict): an
        # ensemble of R realisations starts in O(R), not O(R^2)
        return self.ensemble.seed_values()

    @functools.cached_property
    def _combinations(self) -> list[dict[str, Any]]:
        return self.ensemble.combinations()

    def _apply(self, combo: Mapping[str, Any], seed: int) -> StudyConfig:
        data = self.study.to_dict()
        for path, value in combo.items():
            keys = path.split(".")
            node: Any = data
            for key in keys[:-1]:
                if not isinstance(node, dict) or key not in node:
                    raise ValueError(f"{path!r} is not a study field")
                node = node[key]
            if not isinstance(node, dict) or (
                keys[-1] not in node and keys[0] not in ("biases_V", "device")
            ):
                raise ValueError(f"{path!r} is not a study field")
            node[keys[-1]] = value
        data["valley_map"]["seed"] = int(seed)
        if "device.name" in combo:  # another device: its own description, its own digest
            data["device"].pop("description_sha256", None)
        return StudyConfig.from_dict(data)

    # -- I/O -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnsembleConfig:
        """Build from nested mappings: a study's tables plus ``ensemble`` and ``execution``."""
        study = {k: v for k, v in data.items() if k not in ("ensemble", "execution")}
        return cls(
            study=StudyConfig.from_dict(study),
            ensemble=read_section(data, "ensemble", EnsembleSpec),
            execution=read_section(data, "execution", ExecutionConfig),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> EnsembleConfig:
        """Load and validate an ensemble file."""
        return cls.from_dict(read_toml(path, what="ensemble file"))

    def to_dict(self) -> dict[str, Any]:
        """Fully resolved nested mapping."""
        out = self.study.to_dict()
        ens = dataclasses.asdict(self.ensemble)
        seeds = self.ensemble.seeds  # a count stays a count (with seed_start): no long list
        ens["seeds"] = seeds if isinstance(seeds, int) else [int(s) for s in seeds]
        ens["parameters"] = {k: list(v) for k, v in self.ensemble.parameters.items()}
        out["ensemble"] = ens
        ex = {k: v for k, v in dataclasses.asdict(self.execution).items() if v is not None}
        out["execution"] = ex
        return out

    def to_toml(self) -> str:
        """Return the resolved configuration as TOML (reloads to an equal ensemble)."""
        return dump_toml(self.to_dict())

    def identity(self) -> str:
        """Digest of what determines the numbers (the execution settings excluded)."""
        data = self.to_dict()
        del data["execution"]
        del data["ensemble"]["chunk_realisations"]
        return text_digest(dump_toml(data))


def is_ensemble_file(path: str | Path) -> bool:
    """Return whether a TOML file describes an ensemble (has an ``[ensemble]`` table)."""
    return "ensemble" in read_toml(path, what="study file")
