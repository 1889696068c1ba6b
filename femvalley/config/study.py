"""Study configuration: one frozen, validated dataclass tree, loaded from TOML.

A study is a detuning sweep of a device (``geometries.<device>``) at fixed gate biases, with a
correlated valley map on the quantum region. Example (every table and key is optional; the
defaults are the reference study of docs/references.md)::

    model = "3d"               # "bo2d": Born-Oppenheimer 2-D | "slice2d": fixed-z slice

    [device]
    name = "tunnel_falls"
    kp_mesh = "auto"           # "structured" | "device" | "auto"
    electrostatics_order = 2   # P2 gate potentials (1: P1, far less accurate)
    [device.params]            # any field of the device's Params, e.g.
    kp_mesh_size_nm = 3.0

    [reduction]                # model = "slice2d" only
    slice_at = "interface"     # | "max_density"; or slice_z_nm = -0.5

    [biases_V]                 # gates not named keep the device's reference bias
    B5 = 1.2

    [detuning]                 # V_g = bias_g + weight_g * eps, eps in mV
    start_mV = -10.0
    stop_mV = 10.0
    points = 21
    [detuning.weights]         # default: left plunger +1/2, right plunger -1/2
    P5 = 0.5
    P6 = -0.5

    [valley_map]
    mean_valley_splitting_ueV = 200.0
    lx_nm = 19.2
    ly_nm = 1000.0
    nx = 200
    ny = 15
    seed = 8

    [solver]
    n_states = 8
    element = "P1"            # or "P2" (Delta then given at every DOF)
    backend = "auto"
    method = "reduced"         # certified reduced basis | "direct" (a solve per point)
    tolerance_ueV = 1.0        # certified accuracy of the reduced basis
    reduced_basis = "single_valley"  # snapshots: real orbitals | "two_valley" full solves
    orbitals = 0               # orbitals per single-valley snapshot (0: 4 x n_states)
    max_snapshots = 8          # full solves the reduced basis may use
    chunk_points = 11          # points per task (direct: per factorisation)

    [output]
    figures = true
    vtu_states = 2             # ParaView files of the lowest states at both sweep ends

    [convergence]              # the mesh hierarchy of `femvalley converge`
    levels = 3                 # coarse to fine, each refining every parameter by ratio
    ratio = 1.4142135623730951
    coarser_levels = 1         # levels coarser than the study's own mesh
    refine = ["kp_mesh_size_nm", "kp_vertical_mesh_size_nm", "quantum_mesh_size_nm"]
    estimate = "none"          # "coarser_level": a plain study also runs one coarser level

Every field is checked in ``__post_init__`` (or by :func:`StudyConfig.from_dict`) before any
computation; errors name the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from femvalley.config.checks import (
    MAX_DETUNING_MV,
    MAX_POINTS,
    MAX_SEED,
    MAX_STATES,
    check_integer,
    check_like,
    check_number,
    read_section,
    short_value,
)
from femvalley.config.spin import SpinConfig
from femvalley.io.toml import dump_toml, loads, read_toml, text_digest
from femvalley.valley_map import ValleyMapSpec

if TYPE_CHECKING:
    from femvalley.heterostructure.config import HeterostructureConfig
    from geometries.device import Device

__all__ = [
    "ESTIMATES",
    "MAX_TWO_ELECTRON_STATES",
    "MESH_PARAMETERS",
    "MODELS",
    "SCAN_MODELS",
    "VALLEY_MAP_MODELS",
    "ConvergenceConfig",
    "DetuningConfig",
    "DeviceConfig",
    "OutputConfig",
    "ReductionConfig",
    "SolverConfig",
    "StudyConfig",
    "TWO_ELECTRON_KERNELS",
    "TwoElectronConfig",
    "ValleyMapConfig",
    "check_scan",
    "demo_toml",
]


@dataclass(frozen=True, kw_only=True)
class DeviceConfig:
    """Which device, and overrides of its parameters.

    ``name`` is a shipped description (``geometries/devices/*.toml``: ``tunnel_falls``,
    ``five_gate_dqd``, ``triple_dot``) or the path of a description file (``*.toml``; see
    ``docs/devices.md``). ``params`` override a template's parameters (``tunnel_falls``:
    ``geometries.linear_array.LinearArrayParams``; ``five_gate_dqd``:
    ``geometries.five_gate.FiveGateParams``) or the mesh sizes of an explicit description.
    """

    name: str = "tunnel_falls"
    params: Mapping[str, Any] = field(default_factory=dict)
    #: k.p mesh: "structured" (the device's tensor grid of the quantum region, graded in z;
    #: ``build_quantum``), "device" (the quantum region of the gmsh device mesh), or "auto"
    #: (structured when the device has one)
    kp_mesh: str = "auto"
    #: degree of the Lagrange elements of the gate electrostatics: 2 (default) or 1 (about 8x
    #: fewer unknowns in 3-D, but the potential in the well is then far from converged)
    electrostatics_order: int = 2
    #: a description file's content, resolved (sha256 of its TOML): set when the study is
    #: read, checked against the file when given, so that a study (and its resume) cannot
    #: silently run on an edited description
    description_sha256: str | None = None
    #: the two dot regions the study sweeps, left then right (they play dot_L and dot_R:
    #: the detuning moves the electron between their plungers); default: the device's own
    #: dot_L and dot_R. For arrays, e.g. ["dot_2", "dot_3"] of the triple dot.
    dots: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.dots is not None:
            d = self.dots
            if (
                not isinstance(d, (list, tuple))
                or len(d) != 2
                or not all(isinstance(x, str) for x in d)
            ):
                raise ValueError(
                    f"device.dots = {short_value(d)} must name two dot regions, left then right"
                )
            object.__setattr__(self, "dots", (d[0], d[1]))
        if isinstance(self.electrostatics_order, bool) or self.electrostatics_order not in (1, 2):
            raise ValueError(
                f"device.electrostatics_order = {self.electrostatics_order!r}; allowed: 1, 2"
            )
        device = self.resolved()  # validates the name and the overrides
        digest = None
        if device.description is not None and str(self.name).endswith(".toml"):
            from geometries.catalog import load_description

            # the file as written (params are part of the study already)
            digest = text_digest(dump_toml(load_description(self.name).to_dict()))
        if self.description_sha256 is not None and self.description_sha256 != digest:
            raise ValueError(
                f"device.description_sha256 = {self.description_sha256!r}: the description "
                f"{self.name!r} is not the one this study was written with (now "
                f"{digest!r}); restore that file, or remove the line to use the file as it is"
            )
        object.__setattr__(self, "description_sha256", digest)
        allowed = ["auto", "device"]
        if device.has_structured_mesh:
            allowed.append("structured")
        if self.kp_mesh not in allowed:
            raise ValueError(
                f"device.kp_mesh = {self.kp_mesh!r}; allowed for {self.name!r}: {allowed}"
            )

    def resolved(self) -> Device:
        """Return the device with its parameters (:class:`geometries.device.Device`).

        Resolved once per configuration object (a description file is read once).
        """
        return self._device

    @property
    def pair(self) -> tuple[str, str]:
        """The dot regions the study sweeps: ``dots``, or ``("dot_L", "dot_R")``."""
        return self.dots if self.dots is not None else ("dot_L", "dot_R")

    def pair_rectangles_nm(self) -> dict[str, tuple[float, float, float, float]]:
        """Top view (x0, x1, y0, y1) of the swept dots, by their role ``dot_L``/``dot_R``."""
        regions = {d.name: d.rectangle_nm for d in self.resolved().description.dots}
        left, right = self.pair
        return {"dot_L": regions[left], "dot_R": regions[right]}

    def resolved_toml(self) -> str:
        """Return the resolved description as an explicit description file.

        Every template parameter and override applied, gate outlines from a GDS layout
        included: the whole geometry, readable with ``[device] name = "device.toml"``
        without the template or the layout. Runs write it as ``device.toml``.
        """
        from femvalley.io.toml import dump_toml

        dev = self.resolved()
        head = (
            f"# The device {dev.name!r} of this run, resolved from [device] name = "
            f"{self.name!r}\n# with every parameter applied (an explicit description; "
            "docs/devices.md).\n\n"
        )
        return head + dump_toml(dev.description.to_dict())

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_device", None)  # resolved again where it is unpickled
        return state

    @functools.cached_property
    def _device(self) -> Device:
        from geometries.device import resolve_device

        if not isinstance(self.params, Mapping):
            raise ValueError(f"device.params = {self.params!r} must be a table")
        return resolve_device(self.name, self.params, check=check_like)

    def uses_structured_mesh(self) -> bool:
        """Return whether the k.p problem lives on the device's structured quantum mesh."""
        return self.kp_mesh == "structured" or (
            self.kp_mesh == "auto" and self.resolved().has_structured_mesh
        )

    def same_device_mesh(self, other: DeviceConfig) -> bool:
        """Return whether ``other`` has the same device mesh (it may differ in the k.p mesh).

        The parameters whose names start with ``kp_`` shape only the k.p mesh of the quantum
        region (``build_quantum``); all others shape the device mesh.
        """
        if (self.name, self.kp_mesh, self.electrostatics_order) != (
            other.name,
            other.kp_mesh,
            other.electrostatics_order,
        ):
            return False
        if not self.uses_structured_mesh():
            return self == other
        a, b = self.build_params(), other.build_params()
        return all(
            getattr(a, f.name) == getattr(b, f.name)
            for f in dataclasses.fields(a)
            if not f.name.startswith("kp_")
        )

    def build_params(self) -> Any:
        """Return the device's parameter dataclass with the overrides applied."""
        return self.resolved().params


@dataclass(frozen=True, kw_only=True)
class DetuningConfig:
    """Detuning axis: ``V_g = bias_g + weight_g * eps`` (eps in mV, so weights are V/V)."""

    start_mV: float = -10.0
    stop_mV: float = 10.0
    points: int = 21
    weights: Mapping[str, float] | None = None  # None: the device's plungers, +1/2 and -1/2

    def __post_init__(self) -> None:
        for name, value in (("start_mV", self.start_mV), ("stop_mV", self.stop_mV)):
            check_number(f"detuning.{name}", value)
            if abs(value) > MAX_DETUNING_MV:
                raise ValueError(
                    f"detuning.{name} = {value!r} is beyond +-{MAX_DETUNING_MV:g} mV (10 V)"
                )
        check_integer("detuning.points", self.points, minimum=1, maximum=MAX_POINTS)
        if self.points > 1 and self.stop_mV == self.start_mV:
            raise ValueError(
                f"detuning.stop_mV = {self.stop_mV!r} equals start_mV with {self.points} points"
            )
        if self.weights is not None:
            if not self.weights:
                raise ValueError("detuning.weights is empty; name at least one gate")
            for g, w in self.weights.items():
                check_number(f"detuning.weights.{g}", w)
            if all(w == 0 for w in self.weights.values()):
                raise ValueError("detuning.weights are all zero: the sweep would not move")

    def values_mV(self) -> list[float]:
        """Return the detuning points (mV)."""
        if self.points == 1:
            return [float(self.start_mV)]
        step = (self.stop_mV - self.start_mV) / (self.points - 1)
        return [float(self.start_mV + i * step) for i in range(self.points)]


@dataclass(frozen=True, kw_only=True)
class ValleyMapConfig:
    """Valley map of a study.

    ``model`` chooses the map (:data:`VALLEY_MAP_MODELS`):

    - ``"gaussian"`` (default): the correlated Gaussian random field of docs/references.md
      (:class:`ValleyMapSpec`: ``mean_valley_splitting_ueV``, ``lx_nm``, ``ly_nm``, ``nx``,
      ``ny``, ``seed``), drawn by ``sampler``: ``"kronecker"`` (default, separable
      covariance), ``"dense"`` (full covariance, reference) or ``"qtcad"`` (full covariance in
      the order of the QTCAD Tunnel Falls tutorial: the same seed gives the same realisation,
      :func:`femvalley.valley_map.sample_grid`). The two dense samplers are refused here,
      before any computation, when the covariance matrix would exceed 2 GiB
      (``(nx ny)^2 x 8`` bytes, ``nx * ny <= 16384``).
    - ``"alloy"``: the alloy disorder of a heterostructure
      (:mod:`femvalley.heterostructure.bridge`), given by the tables of a PROFILE.toml under
      ``[valley_map.alloy]``; ``seed`` draws the alloy, the Gaussian-field keys are unused.
    - ``"uniform"``: one complex Delta everywhere, ``delta_ueV`` in ueV: ``[re, im]`` (TOML
      has no complex numbers) or a real number; the valley splitting is ``2 |Delta|``.
    - ``"file"``: a map read from the grid file ``path`` (``.npz``, ``.h5`` or ``.hdf5``
      holding ``x_nm`` (nx,), ``y_nm`` (ny,) and complex ``delta_ueV`` (nx, ny); see
      :func:`femvalley.valley_map.read_valley_grid_arrays`), interpolated bilinearly. A
      relative ``path`` is resolved against the current working directory of the process that
      reads the configuration and loads the map (not the directory of the TOML file). The
      file must exist here; its content is checked when the map is loaded, and it must cover
      the quantum region.

    ``delta_ueV`` is stored as ``(re, im)`` (``()`` when unused), ``path`` as given (``""``
    when unused); keys of another model are errors, and so is a ``sampler`` other than
    ``"kronecker"`` outside the Gaussian model. ``seed`` is unused by ``"uniform"`` and
    ``"file"``.

    Examples
    --------
    ::

        [valley_map]
        model = "uniform"
        delta_ueV = [60.0, -80.0]    # Delta = (60 - 80i) ueV, E_V = 200 ueV

        [valley_map]
        model = "file"
        path = "maps/tunnel_falls_map.h5"

        [valley_map]
        sampler = "qtcad"            # the Gaussian field, drawn as in the QTCAD tutorial
        nx = 100
        ny = 15
    """

    model: str = "gaussian"
    mean_valley_splitting_ueV: float = 200.0
    lx_nm: float = 19.2
    ly_nm: float = 1000.0
    nx: int = 200
    ny: int = 15
    seed: int = 8
    alloy: Mapping[str, Any] | None = None
    #: sampler of the Gaussian field: "kronecker" | "dense" | "qtcad"
    sampler: str = "kronecker"
    #: Delta of the uniform model, in ueV: (re, im), or a real number (stored as (re, 0.0))
    delta_ueV: float | tuple[float, ...] | list[float] = ()
    #: the grid file of the file model (relative: to the current working directory)
    path: str = ""

    def __post_init__(self) -> None:
        if self.model not in VALLEY_MAP_MODELS:
            raise ValueError(
                f"valley_map.model = {self.model!r}; allowed: {list(VALLEY_MAP_MODELS)}"
            )
        check_integer("valley_map.seed", self.seed, minimum=0, maximum=MAX_SEED)
        try:
            self.spec()
        except ValueError as err:
            raise ValueError(f"valley_map: {err}") from err
        if self.model == "alloy":
            if not isinstance(self.alloy, Mapping):
                raise ValueError(
                    "valley_map.model = 'alloy' needs a [valley_map.alloy] table with the "
                    "[[valley_map.alloy.profile]] and other tables of a PROFILE.toml"
                )
            self.heterostructure()
        elif self.alloy is not None:
            raise ValueError(
                f"valley_map.alloy is given but valley_map.model = {self.model!r}; "
                "set model = 'alloy' to use it"
            )
        self._check_sampler()
        object.__setattr__(self, "delta_ueV", self._read_delta())
        if self.model == "uniform" and not self.delta_ueV:
            raise ValueError(
                "valley_map.model = 'uniform' needs valley_map.delta_ueV: [re, im] (two finite "
                "numbers, ueV) or a real number"
            )
        if self.model != "uniform" and self.delta_ueV:
            raise ValueError(
                f"valley_map.delta_ueV is given but valley_map.model = {self.model!r}; set "
                "model = 'uniform' to use it"
            )
        self._check_path()

    def _check_sampler(self) -> None:
        from femvalley.valley_map import SAMPLERS, check_dense_grid

        if self.sampler not in SAMPLERS:
            raise ValueError(f"valley_map.sampler = {self.sampler!r}; allowed: {list(SAMPLERS)}")
        if self.sampler != "kronecker":
            if self.model != "gaussian":
                raise ValueError(
                    f"valley_map.sampler = {self.sampler!r} is given but valley_map.model = "
                    f"{self.model!r}; samplers draw the Gaussian field (model = 'gaussian')"
                )
            try:
                check_dense_grid(self.nx, self.ny, method=self.sampler)
            except ValueError as err:
                raise ValueError(f"valley_map.sampler = {self.sampler!r}: {err}") from err

    def _check_path(self) -> None:
        from femvalley.valley_map import GRID_FILE_SUFFIXES

        if not isinstance(self.path, str):
            raise ValueError(f"valley_map.path = {self.path!r} must be a string (a file name)")
        if self.model == "file":
            if not self.path:
                raise ValueError(
                    "valley_map.model = 'file' needs valley_map.path: a grid file ("
                    f"{', '.join(GRID_FILE_SUFFIXES)}) with x_nm, y_nm and delta_ueV"
                )
            file = Path(self.path)
            if file.suffix.lower() not in GRID_FILE_SUFFIXES:
                raise ValueError(
                    f"valley_map.path = {self.path!r}: unknown file type {file.suffix!r}; "
                    f"allowed: {list(GRID_FILE_SUFFIXES)}"
                )
            if not file.is_file():
                raise ValueError(
                    f"valley_map.path = {self.path!r} does not exist (a relative path is "
                    f"resolved against the current working directory, {Path.cwd()})"
                )
        elif self.path:
            raise ValueError(
                f"valley_map.path is given but valley_map.model = {self.model!r}; set "
                "model = 'file' to use it"
            )

    def _read_delta(self) -> tuple[float, ...]:
        """Return ``delta_ueV`` as ``(re, im)`` (or ``()`` when not given); check it."""
        value: Any = self.delta_ueV
        allowed = "allowed: [re, im] (two finite numbers, ueV) or a finite real number"
        if isinstance(value, (list, tuple)) and len(value) == 0:
            return ()
        if isinstance(value, complex):
            parts: list[Any] = [value.real, value.imag]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts = [value, 0.0]
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            parts = list(value)
        else:
            raise ValueError(f"valley_map.delta_ueV = {value!r}; {allowed}")
        for v in parts:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"valley_map.delta_ueV = {value!r}; {allowed}")
        return (float(parts[0]), float(parts[1]))

    def uniform_delta_ueV(self) -> complex:
        """Delta of the uniform model, in ueV (``model = "uniform"`` only)."""
        if self.model != "uniform":
            raise ValueError(f"valley_map.model = {self.model!r} has no uniform Delta")
        value = self.delta_ueV
        assert isinstance(value, tuple) and len(value) == 2  # normalised in __post_init__
        return complex(value[0], value[1])

    def spec(self) -> ValleyMapSpec:
        """Return the Gaussian-field sampler specification."""
        return ValleyMapSpec(
            mean_valley_splitting_ueV=self.mean_valley_splitting_ueV,
            lx_nm=self.lx_nm,
            ly_nm=self.ly_nm,
            nx=self.nx,
            ny=self.ny,
            seed=self.seed,
        )

    def heterostructure(self) -> HeterostructureConfig:
        """Return the heterostructure of an alloy map (validated)."""
        from femvalley.heterostructure.config import HeterostructureConfig

        return HeterostructureConfig.from_dict(self.alloy or {}, where="valley_map.alloy: ")


@dataclass(frozen=True, kw_only=True)
class SolverConfig:
    """Eigensolver settings."""

    n_states: int = 8
    #: Lagrange elements of the k.p problem: "P1" or "P2" (the valley map then takes its
    #: values at every DOF, edge midpoints included, so energies keep the P2 order h^4 for a
    #: smooth map; result files hold the states at the vertices)
    element: str = "P1"
    backend: str = "auto"
    #: "reduced": a certified reduced basis built from a few full solves (snapshots) serves
    #: every point (femvalley.rb); "direct": every chunk starts with a full solve and
    #: reuses its factorisation (femvalley.eigen.SweepSolver)
    method: str = "reduced"
    #: largest certified energy error of a reduced-basis point (ueV); points the basis cannot
    #: certify are solved in full
    tolerance_ueV: float = 1.0
    #: snapshots of the reduced basis: "single_valley" (real single-valley orbitals in both
    #: valleys; a new valley map only re-projects its coupling block) or "two_valley" (full
    #: complex two-valley solves)
    reduced_basis: str = "single_valley"
    #: orbitals of every single-valley snapshot; 0: 4 x n_states (the valley coupling mixes
    #: in higher orbitals, and new valley maps of an ensemble must be certified too)
    orbitals: int = 0
    #: full solves the greedy reduced basis may use
    max_snapshots: int = 8
    #: detuning points per chunk; chunks are the units of parallel work, so the numbers do
    #: not depend on the number of workers (direct: a chunk starts with a full solve)
    chunk_points: int = 11

    def orbitals_per_snapshot(self) -> int:
        """Orbitals of each single-valley snapshot (``orbitals``, or 4 x ``n_states``)."""
        return self.orbitals or 4 * self.n_states

    def __post_init__(self) -> None:
        from femvalley.eigen import available_backends

        check_integer("solver.n_states", self.n_states, minimum=1, maximum=MAX_STATES)
        check_integer("solver.chunk_points", self.chunk_points, minimum=1)
        check_integer("solver.max_snapshots", self.max_snapshots, minimum=1)
        check_integer("solver.orbitals", self.orbitals, minimum=0)
        if 0 < self.orbitals < (self.n_states + 2) // 2:
            raise ValueError(
                f"solver.orbitals = {self.orbitals}: the state-count certificate of "
                f"n_states = {self.n_states} needs at least {(self.n_states + 2) // 2} (or 0: "
                "automatic)"
            )
        check_number("solver.tolerance_ueV", self.tolerance_ueV, positive=True)
        if self.reduced_basis not in ("single_valley", "two_valley"):
            raise ValueError(
                f"solver.reduced_basis = {self.reduced_basis!r}; allowed: 'single_valley', "
                "'two_valley'"
            )
        if self.method not in ("reduced", "direct"):
            raise ValueError(f"solver.method = {self.method!r}; allowed: 'reduced', 'direct'")
        if self.element not in ("P1", "P2"):
            raise ValueError(f"solver.element = {self.element!r}; allowed: 'P1', 'P2'")
        allowed = ["auto", *available_backends()]
        if self.backend not in allowed:
            raise ValueError(f"solver.backend = {self.backend!r}; allowed here: {allowed}")


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """What to write besides the results store and ``spectrum.csv``."""

    figures: bool = True
    vtu_states: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.figures, bool):
            raise ValueError(f"output.figures = {self.figures!r} must be true or false")
        check_integer("output.vtu_states", self.vtu_states, minimum=0)


MODELS = ("3d", "bo2d", "slice2d")

#: the mesh parameters a convergence study refines by default: the k.p steps in-plane and
#: across the well, and the device (electrostatics) mesh of the quantum region
MESH_PARAMETERS = ("kp_mesh_size_nm", "kp_vertical_mesh_size_nm", "quantum_mesh_size_nm")

#: how a study estimates the discretisation error of its numbers (:class:`ConvergenceConfig`)
ESTIMATES = ("none", "coarser_level")


@dataclass(frozen=True, kw_only=True)
class ConvergenceConfig:
    """The mesh hierarchy of ``femvalley converge`` and a study's discretisation estimate.

    Level ``i`` (``i = 0 .. levels - 1``, coarse to fine) multiplies every parameter in
    ``refine`` by ``ratio ** (coarser_levels - i)``: with the defaults the study's own mesh is
    the middle of three levels, one coarser and one finer. ``estimate = "coarser_level"``
    makes a plain study (``femvalley run``) also run the level one ``ratio`` coarser and
    report, for every number, the change between the two as its discretisation error.
    """

    levels: int = 3
    ratio: float = math.sqrt(2.0)
    coarser_levels: int = 1
    refine: tuple[str, ...] = MESH_PARAMETERS
    estimate: str = "none"

    def __post_init__(self) -> None:
        check_integer("convergence.levels", self.levels, minimum=2)
        if self.levels > 8:
            raise ValueError(
                f"convergence.levels = {self.levels}: at most 8 (every level refines all "
                "mesh parameters; the finest would have ratio^(3 levels) times the unknowns)"
            )
        r = check_number("convergence.ratio", self.ratio)
        if not 1.05 <= r <= 4.0:
            raise ValueError(f"convergence.ratio = {self.ratio!r} must be in [1.05, 4]")
        check_integer("convergence.coarser_levels", self.coarser_levels, minimum=0)
        if self.coarser_levels >= self.levels:
            raise ValueError(
                f"convergence.coarser_levels = {self.coarser_levels} must be < levels = "
                f"{self.levels}"
            )
        refine = self.refine
        if isinstance(refine, str) or not isinstance(refine, (list, tuple)) or not refine:
            raise ValueError(
                f"convergence.refine = {refine!r} must be a non-empty list of mesh parameter "
                f"names, e.g. {list(MESH_PARAMETERS)}"
            )
        for name in refine:
            if not isinstance(name, str) or not name.endswith("_nm"):
                raise ValueError(
                    f"convergence.refine: {name!r} is not a mesh size (a device parameter "
                    "whose name ends in _nm)"
                )
        if len(set(refine)) != len(refine):
            raise ValueError(f"convergence.refine = {list(refine)} names a parameter twice")
        object.__setattr__(self, "refine", tuple(refine))
        if self.estimate not in ESTIMATES:
            raise ValueError(
                f"convergence.estimate = {self.estimate!r}; allowed: {list(ESTIMATES)}"
            )

    def factors(self) -> list[float]:
        """Multipliers of the study's mesh sizes at every level, coarse to fine."""
        return [float(self.ratio) ** (self.coarser_levels - i) for i in range(self.levels)]


@dataclass(frozen=True, kw_only=True)
class ReductionConfig:
    """Where a fixed-z slice is taken (``model = "slice2d"``; ignored otherwise).

    ``slice_at = "interface"``: the material interface next to the electron, at its deepest
    reach into the well (the slice stays in the well in every column); ``"max_density"``:
    the height of the maximum vertical density of the lowest column; ``slice_z_nm``, if
    given, overrides both with a fixed height.
    """

    slice_at: str = "interface"
    slice_z_nm: float | None = None

    def __post_init__(self) -> None:
        if self.slice_at not in ("interface", "max_density"):
            raise ValueError(
                f"reduction.slice_at = {self.slice_at!r}; allowed: 'interface', 'max_density'"
            )
        if self.slice_z_nm is not None:
            check_number("reduction.slice_z_nm", self.slice_z_nm)


#: interaction kernels of the two-electron problem (:class:`TwoElectronConfig`)
TWO_ELECTRON_KERNELS = ("screened", "bulk")
#: the largest one-electron basis of the two-electron problem (its S_z = 0 block is m^2)
MAX_TWO_ELECTRON_STATES = 48


@dataclass(frozen=True, kw_only=True)
class TwoElectronConfig:
    """Two electrons in the swept double dot: the exchange J against detuning.

    ``n_states`` one-electron states (both valleys) form the basis of the configuration
    interaction at each of ``points`` detunings spread over the study's range; ``kernel`` is
    the interaction (``"screened"``: in the device, gates grounded; ``"bulk"``: silicon's
    ``e^2 / (4 pi eps0 eps_r r)``, planar models only); ``n_levels`` two-electron levels are
    kept per point. ``poisson_order``: the element degree of the screened kernel's Poisson
    problem (0: the device's ``electrostatics_order``; 1 is much faster, 2 more accurate).
    ``detuning_mV = [start, stop]`` gives the two-electron points their own range (default:
    the study's): the (1,1) to (2,0) charge transition lies where the detuning has moved one
    dot's level by about the on-site repulsion, often far outside a one-electron sweep.
    """

    n_states: int = 12
    kernel: str = "screened"
    n_levels: int = 6
    points: int = 11
    poisson_order: int = 0
    detuning_mV: tuple[float, ...] | list[float] = ()

    def __post_init__(self) -> None:
        check_integer(
            "two_electron.n_states", self.n_states, minimum=2, maximum=MAX_TWO_ELECTRON_STATES
        )
        if self.kernel not in TWO_ELECTRON_KERNELS:
            raise ValueError(
                f"two_electron.kernel = {short_value(self.kernel)}; allowed: "
                f"{list(TWO_ELECTRON_KERNELS)}"
            )
        check_integer("two_electron.n_levels", self.n_levels, minimum=2, maximum=64)
        check_integer("two_electron.points", self.points, minimum=1, maximum=MAX_POINTS)
        check_integer("two_electron.poisson_order", self.poisson_order, minimum=0, maximum=2)
        rng = self.detuning_mV
        if not isinstance(rng, (list, tuple)) or len(rng) not in (0, 2):
            raise ValueError(
                f"two_electron.detuning_mV = {short_value(rng)} must be [start, stop] in mV "
                "(or absent: the study's range)"
            )
        for value in rng:
            check_number("two_electron.detuning_mV", value)
            if abs(value) > MAX_DETUNING_MV:
                raise ValueError(
                    f"two_electron.detuning_mV = {list(rng)} is beyond +-{MAX_DETUNING_MV:g} mV"
                )
        if len(rng) == 2 and rng[0] == rng[1] and self.points > 1:
            raise ValueError(
                f"two_electron.detuning_mV = {list(rng)}: start equals stop with {self.points} "
                "points"
            )
        object.__setattr__(self, "detuning_mV", tuple(float(v) for v in rng))

    def range_mV(self, start_mV: float, stop_mV: float) -> tuple[float, float]:
        """Return the two-electron detuning range: its own, else the study's ``start, stop``."""
        if self.detuning_mV:
            return float(self.detuning_mV[0]), float(self.detuning_mV[1])
        return float(start_mV), float(stop_mV)


#: the models of a gate-voltage scan: 3-D, Born-Oppenheimer 2-D and the two fixed-z slices
SCAN_MODELS = ("3d", "bo2d", "slice2d:interface", "slice2d:max_density")


def check_scan(config: StudyConfig, gate: str, models: Sequence[str]) -> None:
    """Refuse, by name, a scanned gate the device lacks or a model not in :data:`SCAN_MODELS`."""
    gates = config.device.resolved().gates
    if gate not in gates:
        raise ValueError(f"gate = {gate!r} is not a gate of {config.device.name}; gates: {gates}")
    bad = [m for m in models if m not in SCAN_MODELS]
    if bad:
        raise ValueError(f"models {bad} are not known; allowed: {list(SCAN_MODELS)}")


#: valley-map models of a study (:class:`ValleyMapConfig`)
VALLEY_MAP_MODELS: tuple[str, ...] = ("gaussian", "alloy", "uniform", "file")

_SECTIONS = {
    "device": DeviceConfig,
    "reduction": ReductionConfig,
    "detuning": DetuningConfig,
    "valley_map": ValleyMapConfig,
    "solver": SolverConfig,
    "output": OutputConfig,
    "convergence": ConvergenceConfig,
}


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """A detuning-spectrum study."""

    #: "3d": the full 3-D k.p problem; "bo2d": the Born-Oppenheimer reduction to the plane
    #: (femvalley.born_oppenheimer); "slice2d": a fixed-z slice of the 3-D potential (comparison)
    model: str = "3d"
    device: DeviceConfig = field(default_factory=DeviceConfig)
    reduction: ReductionConfig = field(default_factory=ReductionConfig)
    biases_V: Mapping[str, float] = field(default_factory=dict)
    detuning: DetuningConfig = field(default_factory=DetuningConfig)
    valley_map: ValleyMapConfig = field(default_factory=ValleyMapConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    convergence: ConvergenceConfig = field(default_factory=ConvergenceConfig)
    #: ``[two_electron]``: the exchange against detuning (None: one electron only)
    two_electron: TwoElectronConfig | None = None
    #: ``[spin]``: a spin-valley qubit against the magnetic field (None: no field)
    spin: SpinConfig | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model = {self.model!r}; allowed: {list(MODELS)}")
        if self.model != "3d" and not self.device.uses_structured_mesh():
            raise ValueError(
                f"model = {self.model!r} reduces a structured k.p mesh to the plane; "
                f"device.kp_mesh = {self.device.kp_mesh!r} does not give one for "
                f"{self.device.name!r} (use 'structured' or 'auto')"
            )
        device = self.device.resolved()
        gates = device.gates
        left, right = self.device.pair
        if self.device.dots is None and not {left, right} <= set(device.plungers):
            raise ValueError(
                f"device.name = {self.device.name!r} has the dot regions "
                f"{sorted(device.plungers)}; a study needs a double dot: dot regions 'dot_L' "
                "and 'dot_R', or name the pair it sweeps, e.g. device.dots = "
                f"{list(sorted(device.plungers)[:2])}"
            )
        for d in (left, right):
            if d not in device.plungers:
                raise ValueError(
                    f"device.dots = {list(self.device.pair)}: {d!r} is not a dot region of "
                    f"{self.device.name!r}; dot regions: {sorted(device.plungers)}"
                )
        if left == right:
            raise ValueError(f"device.dots = {[left, right]}: name two different dot regions")
        boxes = self.device.pair_rectangles_nm()
        if not boxes["dot_L"][0] < boxes["dot_R"][0]:
            raise ValueError(
                f"device.dots = {[left, right]}: give the left dot first ({left!r} starts at "
                f"x = {boxes['dot_L'][0]:g} nm, {right!r} at x = {boxes['dot_R'][0]:g} nm)"
            )
        for g, v in self.biases_V.items():
            if g not in gates:
                raise ValueError(
                    f"biases_V.{g}: no gate {g!r} on {self.device.name}; gates: {gates}"
                )
            check_number(f"biases_V.{g}", v)
        for g in self.detuning_weights():
            if g not in gates:
                raise ValueError(
                    f"detuning.weights.{g}: no gate {g!r} on {self.device.name}; gates: {gates}"
                )
        if self.solver.n_states < 2:
            raise ValueError(
                f"solver.n_states = {self.solver.n_states}: a two-valley spectrum needs >= 2"
            )
        self._check_two_electron()
        self._check_spin(gates)
        params = self.device.build_params()
        for name in self.convergence.refine:
            value = getattr(params, name, None)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                sizes = sorted(
                    f.name for f in dataclasses.fields(params) if f.name.endswith("mesh_size_nm")
                )
                raise ValueError(
                    f"convergence.refine: {name!r} is not a mesh size of device "
                    f"{self.device.name!r}; allowed: {sizes}"
                )

    def _check_two_electron(self) -> None:
        te = self.two_electron
        if te is not None and not isinstance(te, TwoElectronConfig):
            raise ValueError("two_electron must be a [two_electron] table")
        if te is not None and te.kernel == "bulk" and self.model == "3d":
            raise ValueError(
                "two_electron.kernel = 'bulk' is for the planar models (model = 'bo2d' or "
                "'slice2d'); a 3-D study uses kernel = 'screened'"
            )

    def _check_spin(self, gates: Sequence[str]) -> None:
        sc = self.spin
        if sc is None:
            return
        if not isinstance(sc, SpinConfig):
            raise ValueError("spin must be a [spin] table")
        if sc.drive_gate and sc.drive_gate not in gates:
            raise ValueError(
                f"spin.drive_gate = {sc.drive_gate!r}: no such gate on {self.device.name}; "
                f"gates: {list(gates)}"
            )
        if isinstance(sc.noise_uV, Mapping):
            unknown = sorted(set(sc.noise_uV) - set(gates))
            if unknown:
                raise ValueError(
                    f"spin.noise_uV: no gate(s) {unknown} on {self.device.name}; gates: "
                    f"{list(gates)}"
                )

    def spin_drive_gate(self) -> str:
        """Return the ``[spin]`` drive gate: its own, else the swept left plunger."""
        if self.spin is not None and self.spin.drive_gate:
            return self.spin.drive_gate
        return self.device.resolved().plungers[self.device.pair[0]]

    # -- mesh levels -----------------------------------------------------------------------
    def mesh_sizes_nm(self) -> dict[str, float]:
        """Return the study's sizes of the refined mesh parameters (nm), ``convergence.refine``."""
        params = self.device.build_params()
        return {name: float(getattr(params, name)) for name in self.convergence.refine}

    def with_mesh_sizes(self, sizes_nm: Mapping[str, float]) -> StudyConfig:
        """Return the same study on other mesh sizes (device parameters), estimating nothing."""
        params = dict(self.device.params)
        params.update({k: float(v) for k, v in sizes_nm.items()})
        return dataclasses.replace(
            self,
            device=dataclasses.replace(self.device, params=params),
            convergence=dataclasses.replace(self.convergence, estimate="none"),
        )

    def mesh_levels(self) -> list[dict[str, float]]:
        """Return the mesh sizes of every level of ``convergence`` (nm), coarse to fine."""
        base = self.mesh_sizes_nm()
        return [{k: v * f for k, v in base.items()} for f in self.convergence.factors()]

    # -- resolved values -------------------------------------------------------------------
    def biases(self) -> dict[str, float]:
        """Every gate's bias (V): the device's reference biases updated by ``biases_V``."""
        out = dict(self.device.resolved().reference_biases_V)
        out.update({g: float(v) for g, v in self.biases_V.items()})
        return out

    def detuning_weights(self) -> dict[str, float]:
        """``dV_g / d eps`` in V per V (eps and V in the same unit)."""
        if self.detuning.weights is not None:
            return {g: float(w) for g, w in self.detuning.weights.items()}
        plungers = self.device.resolved().plungers
        left, right = self.device.pair
        return {plungers[left]: 0.5, plungers[right]: -0.5}

    def voltages(self, detuning_mV: float) -> dict[str, float]:
        """Gate voltages (V) at one detuning."""
        v = self.biases()
        for g, w in self.detuning_weights().items():
            v[g] += w * detuning_mV / 1000.0
        return v

    # -- I/O -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        """Build from nested mappings (as read from TOML); unknown keys are errors."""
        allowed = {"model", "biases_V", "two_electron", "spin", *_SECTIONS}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; allowed: {sorted(allowed)}")
        kwargs = {name: read_section(data, name, section) for name, section in _SECTIONS.items()}
        if "two_electron" in data:
            kwargs["two_electron"] = read_section(data, "two_electron", TwoElectronConfig)
        if "spin" in data:
            kwargs["spin"] = read_section(data, "spin", SpinConfig)
        biases = data.get("biases_V", {})
        if not isinstance(biases, Mapping):
            raise ValueError(
                f"[biases_V] must be a table of gate = volts, not {short_value(biases)}"
            )
        model = data.get("model", "3d")
        if not isinstance(model, str):
            raise ValueError(f"model = {short_value(model)} must be one of {list(MODELS)}")
        try:
            return cls(model=model, biases_V=dict(biases), **kwargs)
        except (TypeError, AttributeError, OverflowError) as err:
            raise ValueError(f"the study has a value of the wrong type or size ({err})") from err

    @classmethod
    def from_toml(cls, path: str | Path) -> StudyConfig:
        """Load and validate a study file (an empty one is refused: it would run defaults)."""
        data = read_toml(path, what="study file")
        if not data:
            raise ValueError(
                f"study file {path} is empty; write at least one table (e.g. [detuning]) or "
                "run 'femvalley demo' for the built-in study"
            )
        return cls.from_dict(data)

    @classmethod
    def demo(cls) -> StudyConfig:
        """Return the built-in study of ``femvalley demo`` (:func:`demo_toml`)."""
        return cls.from_dict(loads(demo_toml()))

    def to_dict(self) -> dict[str, Any]:
        """Fully resolved nested mapping (biases and weights filled in)."""
        device: dict[str, Any] = {
            "name": self.device.name,
            "kp_mesh": self.device.kp_mesh,
            "electrostatics_order": self.device.electrostatics_order,
            "params": dict(self.device.params),
        }
        if self.device.description_sha256 is not None:
            device["description_sha256"] = self.device.description_sha256
        if self.device.dots is not None:
            device["dots"] = list(self.device.dots)
        out: dict[str, Any] = {
            "model": self.model,
            "device": device,
            "biases_V": self.biases(),
        }
        det = dataclasses.asdict(self.detuning)
        det["weights"] = self.detuning_weights()
        out["detuning"] = det
        out["reduction"] = {
            k: v for k, v in dataclasses.asdict(self.reduction).items() if v is not None
        }
        vm = dataclasses.asdict(self.valley_map)
        if self.valley_map.alloy is None:
            del vm["alloy"]
        else:
            vm["alloy"] = self.valley_map.heterostructure().to_dict()
        out["valley_map"] = vm
        out["solver"] = dataclasses.asdict(self.solver)
        out["output"] = dataclasses.asdict(self.output)
        conv = dataclasses.asdict(self.convergence)
        conv["refine"] = list(self.convergence.refine)
        out["convergence"] = conv
        if self.two_electron is not None:
            te = dataclasses.asdict(self.two_electron)
            te["detuning_mV"] = list(self.two_electron.detuning_mV)
            out["two_electron"] = te
        if self.spin is not None:
            out["spin"] = self.spin.to_dict()
        return out

    def to_toml(self) -> str:
        """Return the resolved configuration as TOML text (reloads to an equal study)."""
        return dump_toml(self.to_dict())


def demo_toml() -> str:
    """Return the TOML text of the demo study (``femvalley/config/demo.toml``, with comments).

    The reference study of docs/references.md on the Tunnel Falls-like double dot, on meshes
    sized to run in one to two minutes on two cores, at a barrier bias (B5 = 1.45 V) where the
    interdot anticrossing is open, with the mesh one level coarser for discretisation errors.
    """
    from importlib.resources import files

    return files("femvalley.config").joinpath("demo.toml").read_text(encoding="utf-8")
