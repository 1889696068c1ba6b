"""Detuning sweeps: build once, solve per point with warm starts, checkpoint every point.

:func:`build_system` does everything that does not depend on the detuning, once: the device
mesh, one Poisson solve per gate, the quantum sub-mesh, the valley map, and the k.p operators
``H(eps) = H0 + eps D`` with ``D = -1000 sum_g w_g phi_g / 1000`` (meV per mV of detuning).
:func:`run_sweep` then solves the lowest states at every detuning point (no Poisson solve and
no assembly per point) and writes every finished point to the results store before the next
starts. By default (``solver.method = "reduced"``) a certified reduced basis is built first
from a few full solves (:mod:`femvalley.reduced`; checkpointed in ``snapshots.h5``) and every
point is a small dense problem with an error bound; ``"direct"`` solves each point, warm-started
from the previous one.

Results store (``results.h5``, HDF5, readable with plain h5py; layout version 3)
-------------------------------------------------------------------------------
datasets (P points, k states):

- ``detuning_mV`` (P,), ``done`` (P,) uint8 (1 when the point is finished and stored);
- ``energies_meV`` (P, k), ascending per point (NaN where not done);
- ``valley_polarization`` (P, k): <tau_z> = w(+z) - w(-z);
- ``valley_parity`` (P, k): <tau_Delta>, -1 in the lower and +1 in the upper local valley
  state (:class:`femvalley.analysis.StateObservables`);
- ``detuning_slope_meV_per_mV`` (P, k): ``dE/d eps = <D>`` of every state (Hellmann-Feynman);
- ``valley_coupling_meV`` (P, k) complex: ``<Delta>`` over every state's density;
- ``dot_weight`` (P, k, 2): probability in ``dot_L`` and ``dot_R``;
- ``x_mean_nm``, ``y_mean_nm``, ``x_std_nm``, ``y_std_nm`` (P, k): centre and size;
- ``solve_s`` (P,): wall time of each point; ``full_solve`` (P,) uint8: 1 where the point was
  solved from scratch (direct: first point of a chunk, or a fallback; reduced: a point the
  basis could not certify), 0 otherwise;
- ``error_bound_meV`` (P,): certified bound of ``|E_i - E_i(exact)|`` for every state of a
  reduced-basis point (NaN for full solves, which pass the relative-residual test of
  :func:`femvalley.eigen.solve` instead); ``residual_meV`` (P, k): ``||H x - E M x||_{M^-1}``
  of each reduced-basis pair;
- ``states/first`` and ``states/last`` (k, 2, N) complex: the states at both sweep ends, on
  the vertices of the k.p mesh ``mesh/points_nm`` (3, N) / ``mesh/cells`` (4, ncells) (with
  P2 elements the nodal values at the vertices; the edge DOFs are not stored);
  ``mesh/band_edge_meV`` (N,) at zero detuning, ``mesh/detuning_meV_per_mV`` (N,) (U at
  detuning eps is ``band_edge_meV + eps * detuning_meV_per_mV``), ``mesh/delta_meV`` (N,)
  complex, and ``mesh/mass_matrix`` (group ``data``, ``indices``, ``indptr``, attribute
  ``shape``: the P1 mass matrix, so the norm of a stored state ``psi`` (2, N) is
  ``sum_c psi_c^H M psi_c``).

Every dataset (and the ``mesh/mass_matrix`` and ``states`` groups) has the attributes
``units``, ``description`` and ``axes`` (:data:`DATASET_INFO`).

attributes of the root: ``layout_version``, ``config_toml`` (the resolved study), ``config_sha256``,
``femvalley_version``, ``seed``, ``n_states``, ``vtu_states``, ``setup_s`` (mesh + Poisson +
assembly), ``model`` (``"3d"``, ``"bo2d"``, ``"slice2d"``, with ``slice_z_nm`` for a slice;
for the 2-D models the mesh datasets are 2-D: points (2, N), triangles (3, ncells)),
``method``; for the reduced method ``reduced_basis_size``, ``reduced_build_s`` and
``snapshot_detuning_mV``.

Next to it, ``states/point_NNNNN.npy`` (complex64, (vtu_states, 2, N)) holds the lowest
``output.vtu_states`` states of every finished point, for the ParaView series
(:mod:`femvalley.export`).

Every write goes to ``results.h5.tmp`` and is renamed over ``results.h5``: a killed run leaves
the last complete checkpoint. ``spectrum.csv`` (``detuning_mV,E0_meV,E1_meV,...``) is written
the same way at the end.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.analysis import StateObservables
from femvalley.config import StudyConfig
from femvalley.eigen import EigenResult, SweepSolver, serial_blas, solve
from femvalley.electrostatics import GatePotentials, solve_gates
from femvalley.io.hdf5 import read_store, write_csr
from femvalley.kp import KPOperators, assemble, make_basis, two_valley_model
from femvalley.materials import get_material
from femvalley.mesh import from_meshio, submesh
from femvalley.progress import QUIET, Phases
from femvalley.reduce2d import PlanarReduction, reduce_to_plane
from femvalley.reduced import (
    OrbitalSnapshot,
    ReducedBasis,
    Snapshot,
    ValleyReducedBasis,
    build_reduced_basis,
    build_valley_basis,
)
from femvalley.states import BASIS_NAME, write_basis
from femvalley.valley_map import ValleyGrid, interpolate_to_nodes, valley_map_on_nodes

__all__ = [
    "STATES_DIR",
    "STORE_NAME",
    "KPInput",
    "StudySystem",
    "SweepKit",
    "build_system",
    "device_potentials",
    "kp_input",
    "load_point_states",
    "reduced_basis",
    "read_results",
    "run_sweep",
    "save_point_states",
]

STORE_NAME = "results.h5"
#: full solves of the reduced basis (checkpoint: a resumed study does not redo them)
SNAPSHOTS_NAME = "snapshots.h5"
#: folder of the per-point state files inside a study directory
STATES_DIR = "states"
LAYOUT_VERSION = 3
_PER_STATE = (
    "valley_polarization",
    "valley_parity",
    "detuning_slope_meV_per_mV",
    "x_mean_nm",
    "y_mean_nm",
    "x_std_nm",
    "y_std_nm",
)
_RECORD = (
    *_PER_STATE,
    "valley_coupling_meV",
    "energies_meV",
    "dot_weight",
    "solve_s",
    "full_solve",
    "error_bound_meV",
    "residual_meV",
)


@dataclass(frozen=True, eq=False)
class StudySystem:
    """Everything of a study that does not depend on the detuning (built once).

    ``potentials`` are the gate potentials on the 3-D quantum mesh ``volume_mesh``
    (interpolated from the device mesh for a structured k.p mesh, restricted for the device's
    own quantum region). ``quantum_mesh`` is the mesh of the k.p problem: ``volume_mesh``
    itself for ``model = "3d"``, the plane of its columns for ``"bo2d"`` and ``"slice2d"``
    (then ``reduction`` holds the reduced potential and the vertical states).
    """

    config: StudyConfig
    device_mesh: Any
    gates: GatePotentials
    potentials: GatePotentials
    volume_mesh: Any
    quantum_mesh: Any
    basis: Any
    operators: KPOperators
    delta_meV: NDArray[np.complex128]  # at the DOFs of ``basis`` (vertices first)
    valley_grid: ValleyGrid
    band_edge_meV: NDArray[np.float64]  # at zero detuning, at the k.p mesh vertices
    detuning_meV_per_mV: NDArray[np.float64]  # D at the k.p mesh vertices
    observables: StateObservables
    timings_s: dict[str, float]
    reduction: PlanarReduction | None = None

    def solve(self, detuning_mV: float, *, warm_start: EigenResult | None = None) -> EigenResult:
        """Lowest ``n_states`` states at one detuning (mV), by a full solve."""
        return self.kit().solve(detuning_mV, warm_start=warm_start)

    def device_parts(self, config: StudyConfig) -> tuple[Any, GatePotentials, Any, GatePotentials]:
        """Device mesh, gate potentials, 3-D quantum mesh and its potentials, for reuse.

        ``config`` must describe the same device (``config.device`` equal), so that another
        model or other biases can share what is expensive to build.
        """
        if self.config.device != config.device:
            raise ValueError(
                "reuse: the system was built for another device configuration "
                f"({self.config.device} != {config.device})"
            )
        return self.device_mesh, self.gates, self.volume_mesh, self.potentials

    @cached_property
    def vertex_mass_matrix(self) -> Any:
        """Mass matrix ``int phi_i phi_j`` of P1 elements on ``quantum_mesh`` (csr, nm^dim).

        The states in the result files are vertex values, so ``sum_c psi_c^H M psi_c`` is
        their norm: 1 for P1 studies, 1 up to the interpolation error for P2.
        """
        if self.basis.elem.maxdeg == 1:  # the observables' mass matrix is this one
            return self.observables.matrix("norm")
        from skfem import BilinearForm, asm

        from femvalley.mesh import p1_basis

        @BilinearForm
        def mass(u: Any, v: Any, w: Any) -> Any:
            return u * v

        return asm(mass, p1_basis(self.basis)).tocsr()

    @property
    def delta_vertices_meV(self) -> NDArray[np.complex128]:
        """Delta at the vertices of ``quantum_mesh`` (meV; the first DOFs of a Lagrange basis)."""
        return self.delta_meV[: self.quantum_mesh.nvertices]

    def kit(self, reduced: ReducedBasis | ValleyReducedBasis | None = None) -> SweepKit:
        """Return what a worker needs to solve points (picklable, no device mesh)."""
        return SweepKit(
            config=self.config,
            operators=self.operators,
            observables=self.observables,
            reduced=reduced,
        )


@dataclass(frozen=True, eq=False)
class SweepKit:
    """The part of a :class:`StudySystem` that solves sweep points (sent to workers)."""

    config: StudyConfig
    operators: KPOperators
    observables: StateObservables
    reduced: ReducedBasis | ValleyReducedBasis | None = None

    def solve(self, detuning_mV: float, *, warm_start: EigenResult | None = None) -> EigenResult:
        """Lowest ``n_states`` states at one detuning (mV), by a full solve."""
        return solve(
            self.operators,
            k=self.config.solver.n_states,
            scales={"detuning": float(detuning_mV)},
            backend=self.config.solver.backend,  # type: ignore[arg-type]
            warm_start=warm_start,
        )

    def sweep_solver(self) -> SweepSolver:
        """Return a solver for consecutive detunings (one factorisation, warm starts)."""
        return SweepSolver(
            self.operators,
            k=self.config.solver.n_states,
            backend=self.config.solver.backend,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, eq=False)
class KPInput:
    """The potential of a k.p problem on its mesh, before the valley map and the assembly.

    Attributes
    ----------
    mesh : skfem.Mesh
        The k.p mesh: the 3-D quantum mesh, or the plane of its columns (2-D models).
    potential_meV : ndarray
        ``U`` at zero detuning: at the quadrature points of ``basis`` (3-D: band offsets
        constant per element) or at the vertices (2-D: ``V_eff``).
    band_edge_meV : ndarray (nvertices,)
        ``U`` at the vertices (for export and figures).
    terms : dict of str to ndarray (nvertices,)
        Potential terms (``"detuning"``: meV per mV).
    materials : dict of region to material name, or a material name (in-plane masses, 2-D)
    basis : skfem.CellBasis
    reduction : PlanarReduction or None
    """

    mesh: Any
    basis: Any
    potential_meV: NDArray[np.float64]
    band_edge_meV: NDArray[np.float64]
    terms: dict[str, NDArray[np.float64]]
    materials: Any
    reduction: PlanarReduction | None


def kp_input(
    config: StudyConfig,
    *,
    volume_mesh: Any,
    potentials: GatePotentials,
    voltages_V: Mapping[str, float] | None = None,
) -> KPInput:
    """Return the k.p mesh, potential and detuning term of ``config.model`` at given voltages.

    ``potentials`` live on the 3-D quantum mesh ``volume_mesh``; ``voltages_V`` default to
    the study's voltages at zero detuning. For ``"bo2d"`` and ``"slice2d"`` the 3-D band
    edge is reduced to the plane (:func:`femvalley.reduce2d.reduce_to_plane`), the detuning
    term with it.
    """
    dev = config.device.module
    layers = {r: m for r, m in dev.MATERIALS.items() if r in (volume_mesh.subdomains or {})}
    offsets = {r: get_material(m).band_offset_meV for r, m in layers.items()}
    volts = dict(config.voltages(0.0) if voltages_V is None else voltages_V)
    weights = config.detuning_weights()
    d_vertex = -sum(w * potentials.unit_V[potentials.gates.index(g)] for g, w in weights.items())
    d_vertex = np.asarray(d_vertex, dtype=np.float64)  # meV/mV
    if config.model == "3d":
        basis = make_basis(volume_mesh, element=config.solver.element)
        return KPInput(
            mesh=volume_mesh,
            basis=basis,
            potential_meV=potentials.band_edge_meV(volts, band_offset_meV=offsets, basis=basis),
            # (the well's offset wins at shared vertices)
            band_edge_meV=potentials.band_edge_at_vertices_meV(
                volts, band_offset_meV=offsets, mesh=volume_mesh
            ),
            terms={"detuning": d_vertex},
            materials=layers,
            reduction=None,
        )
    from femvalley.units import inverse_mass_prefactor_meV_nm2

    rc = config.reduction
    red = reduce_to_plane(
        volume_mesh,
        electron_energy_meV=potentials.electron_energy_meV(volts),
        layer_offset_meV=offsets,
        inverse_mass_z_meV_nm2={
            r: inverse_mass_prefactor_meV_nm2(get_material(m).m_l) for r, m in layers.items()
        },
        terms={"detuning": d_vertex},
        method=config.model,
        slice_z_nm=rc.slice_z_nm if config.model == "slice2d" else None,
        slice_at=rc.slice_at if config.model == "slice2d" and rc.slice_z_nm is None else None,
    )
    half = {"dot_L": lambda x: x[0] < 0, "dot_R": lambda x: x[0] > 0}
    plane = red.plane_mesh().with_subdomains(half)
    well = min(layers, key=lambda r: offsets[r])  # in-plane masses of the well
    return KPInput(
        mesh=plane,
        basis=make_basis(plane, element=config.solver.element),
        potential_meV=red.potential_meV,
        band_edge_meV=red.potential_meV,
        terms=dict(red.terms),
        materials=layers[well],
        reduction=red,
    )


def device_potentials(
    config: StudyConfig,
    *,
    timings: dict[str, float] | None = None,
    device: tuple[Any, GatePotentials] | None = None,
    phases: Phases = QUIET,
) -> tuple[Any, GatePotentials, Any, GatePotentials]:
    """Device mesh, its gate potentials, the 3-D quantum mesh and the potentials on it.

    The quantum mesh is the device's structured k.p mesh (``build_quantum``, potentials
    interpolated) or its own quantum region (potentials restricted), as ``device.kp_mesh``
    says. ``timings`` (if given) receives the seconds of each step. ``device``: a device
    mesh and its gate potentials already computed for this device (not built again).
    """
    dev = config.device.module
    params = config.device.build_params()
    timings = {} if timings is None else timings
    if device is not None:
        mesh, gp = device
    else:
        t0 = time.perf_counter()
        with phases.phase(f"meshing the device ({config.device.name})"):
            mesh = from_meshio(dev.build(params), dim=3)
        timings["mesh"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with phases.phase(
            f"gate electrostatics ({len(dev.GATES)} unit solves and the offset, "
            f"{mesh.p.shape[1]} vertices)"
        ):
            gp = solve_gates(
                mesh,
                permittivity=dev.MATERIALS,
                gates=dev.GATES,
                order=config.device.electrostatics_order,
            )
        timings["electrostatics"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with phases.phase("k.p mesh of the quantum region and its gate potentials"):
        if config.device.uses_structured_mesh():
            qmesh = from_meshio(dev.build_quantum(params), dim=3)
            gq = gp.interpolated_to(qmesh)
        else:
            sub = submesh(mesh, "quantum")
            qmesh = sub.mesh
            gq = gp.restricted_to(sub)
    timings["quantum_mesh"] = time.perf_counter() - t0
    return mesh, gp, qmesh, gq


def valley_map(
    config: StudyConfig,
    points_nm: NDArray[np.float64],
    *,
    vertices_nm: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.complex128], ValleyGrid]:
    """Delta at the nodes and its grid, for every ``valley_map.model`` of a study.

    Parameters
    ----------
    config : StudyConfig
        The study; ``config.valley_map`` chooses the map: the Gaussian field (drawn by
        ``sampler`` on the nodes' bounding box), a heterostructure's alloy map (on the tensor
        axes of a structured mesh's vertices), a uniform Delta, or a grid file (which must
        cover the nodes' bounding box; a relative path is resolved against the current
        working directory).
    points_nm : ndarray, shape (dim, nnodes)
        Where Delta is wanted, in nm: the mesh vertices (``mesh.p``; what
        :func:`build_system` passes, for P1 and P2 alike), or every DOF location of a P2
        basis (``basis.doflocs``, with ``vertices_nm``).
    vertices_nm : ndarray, shape (dim, nvertices), optional
        The mesh vertices when ``points_nm`` are other nodes: the grid (Gaussian bounding
        box, alloy axes, file coverage, figure extent) is then that of the vertices, so the
        values at the vertices are those of ``valley_map(config, vertices_nm)``. Default:
        ``points_nm``.

    Returns
    -------
    delta_meV : ndarray, shape (nnodes,), complex
        Delta at ``points_nm``, in meV (bilinear interpolation of the grid).
    grid : ValleyGrid
        The map's grid over the quantum region, in meV (for figures; a file map is cropped
        to the cells that hold the nodes).

    Notes
    -----
    :func:`femvalley.kp.two_valley_model` takes Delta at the vertices (interpolated with P1
    elements) or at every DOF of the basis (interpolated with the basis's own elements). With
    P2 elements only the latter keeps the P2 order of convergence (h^4 for energies) for a
    smooth Delta; with vertex values the interpolation error of Delta limits it to h^2.
    """
    from femvalley.valley_map import file_valley_map, node_bounds, uniform_valley_map

    vm = config.valley_map
    p = np.asarray(points_nm, dtype=float)
    v = p if vertices_nm is None else np.asarray(vertices_nm, dtype=float)
    if vm.model == "alloy":
        from femvalley.heterostructure.bridge import alloy_valley_grid, tensor_axes

        x, y = tensor_axes(v)
        grid = alloy_valley_grid(vm.heterostructure(), x_nm=x, y_nm=y, seed=vm.seed)
        return interpolate_to_nodes(grid, p), grid
    bounds = node_bounds(v)
    if vm.model == "uniform":
        return uniform_valley_map(vm.uniform_delta_ueV(), p, bounds_nm=bounds)
    if vm.model == "file":
        return file_valley_map(vm.path, p, bounds_nm=bounds)
    return valley_map_on_nodes(
        vm.spec(),
        p,
        method=vm.sampler,  # type: ignore[arg-type]
        bounds_nm=bounds,
    )


def build_system(
    config: StudyConfig, *, reuse: StudySystem | None = None, phases: Phases = QUIET
) -> StudySystem:
    """Mesh, gate electrostatics, quantum region, valley map and k.p operators, once.

    ``reuse``: a system of the same device (``config.device`` equal) whose device mesh and
    gate potentials are taken instead of being built again (e.g. another model or other
    biases of the same device); if only the k.p mesh parameters differ
    (:meth:`~femvalley.config.DeviceConfig.same_device_mesh`), the device mesh and gate
    potentials are kept and the k.p mesh is built again. ``phases`` announces each step
    (:class:`femvalley.progress.Phases`).
    """
    timings: dict[str, float] = {}
    if reuse is not None and reuse.config.device == config.device:
        mesh, gp, qmesh, gq = reuse.device_parts(config)
    elif reuse is not None and reuse.config.device.same_device_mesh(config.device):
        # only the k.p mesh differs: the device mesh and its gate potentials are kept
        mesh, gp, qmesh, gq = device_potentials(
            config, timings=timings, device=(reuse.device_mesh, reuse.gates), phases=phases
        )
    else:
        if reuse is not None:
            reuse.device_parts(config)  # raises: another device
        mesh, gp, qmesh, gq = device_potentials(config, timings=timings, phases=phases)
    with phases.phase(f"{config.model} k.p model: valley map and assembly"):
        t0 = time.perf_counter()
        kin = kp_input(config, volume_mesh=qmesh, potentials=gq)
        if kin.reduction is not None:
            timings["reduction"] = time.perf_counter() - t0
        # Delta at every DOF of the basis (the vertices for P1): P2 interpolates the map with
        # its own elements and keeps its h^4 order for energies
        delta, grid = valley_map(config, kin.basis.doflocs, vertices_nm=kin.mesh.p)
        model = two_valley_model(
            dim=kin.mesh.p.shape[0],
            delta_meV=delta,
            potential_meV=kin.potential_meV,
            materials=kin.materials,
            potential_terms=kin.terms,
        )
        ops = assemble(model, kin.basis)
        obs = StateObservables(
            kin.basis,
            dots=("dot_L", "dot_R"),
            delta_meV=delta,
            terms={"detuning": kin.terms["detuning"]},
        )
        timings["assemble"] = time.perf_counter() - t0 - timings.get("reduction", 0.0)
    return StudySystem(
        config=config,
        device_mesh=mesh,
        gates=gp,
        potentials=gq,
        volume_mesh=qmesh,
        quantum_mesh=kin.mesh,
        basis=kin.basis,
        operators=ops,
        delta_meV=np.asarray(delta, dtype=np.complex128),
        valley_grid=grid,
        band_edge_meV=kin.band_edge_meV,
        detuning_meV_per_mV=kin.terms["detuning"],
        observables=obs,
        timings_s=timings,
        reduction=kin.reduction,
    )


def chunks(points: int, chunk_points: int) -> list[list[int]]:
    """Split point indices ``0 .. points-1`` into consecutive chunks of ``chunk_points``."""
    return [list(range(i, min(i + chunk_points, points))) for i in range(0, points, chunk_points)]


def solve_points(
    kit: SweepKit, indices: list[int], detuning_mV: NDArray[np.float64]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Solve consecutive points (one chunk); yield ``(index, record)`` as each finishes.

    With a reduced basis (``kit.reduced``) every point is a certified reduced solve, or a full
    solve where the basis cannot certify it. Otherwise (``solver.method = "direct"``) the
    first point is a full solve and the others reuse its factorisation and start from the
    previous point's states (:class:`femvalley.eigen.SweepSolver`). A record holds the
    energies, the observables, the certified error bound (reduced), the wall time and, at
    both ends of the sweep, the states.
    """
    solver = kit.sweep_solver() if kit.reduced is None else None
    last = len(detuning_mV) - 1
    k = kit.config.solver.n_states
    for n, i in enumerate(indices):
        t0 = time.perf_counter()
        scales = {"detuning": float(detuning_mV[i])}
        bound, residual = float("nan"), np.full(k, np.nan)
        if solver is not None:
            res = solver.start(scales) if n == 0 else solver.step(scales)
        else:
            assert kit.reduced is not None
            sol = kit.reduced.solve(scales)
            if sol.certified:
                res, bound, residual = sol.result, sol.error_bound_meV, sol.residual_meV
            else:  # not certified: solve this point in full
                res = kit.solve(scales["detuning"])
        obs = kit.observables(res)
        obs["detuning_slope_meV_per_mV"] = obs["slope_detuning"]
        rec: dict[str, Any] = {name: obs[name] for name in _PER_STATE}
        rec["valley_coupling_meV"] = obs["valley_coupling_meV"]
        rec["energies_meV"] = res.energies_meV
        rec["dot_weight"] = obs["dot_weight"]
        rec["full_solve"] = int(res.timings_s.get("full_solve", 1.0))
        rec["error_bound_meV"] = bound
        rec["residual_meV"] = residual
        rec["solve_s"] = time.perf_counter() - t0
        # files hold the states at the vertices of the k.p mesh (for P2 elements the nodal
        # values there; the edge DOFs are left out, like the mesh's edge midpoints)
        nv = kit.operators.basis.mesh.nvertices
        if i in (0, last) and res.components is not None:
            rec["states"] = res.components[..., :nv]
        n_export = kit.config.output.vtu_states
        if n_export and res.components is not None:
            rec["export_states"] = res.components[:n_export, :, :nv]
        yield i, rec


# -- results store ---------------------------------------------------------------------------
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _empty_results(config: StudyConfig) -> dict[str, Any]:
    p = config.detuning.points
    k = config.solver.n_states
    out: dict[str, Any] = {
        "detuning_mV": np.asarray(config.detuning.values_mV()),
        "done": np.zeros(p, dtype=np.uint8),
        "energies_meV": np.full((p, k), np.nan),
        "dot_weight": np.full((p, k, 2), np.nan),
        "solve_s": np.full(p, np.nan),
        "full_solve": np.zeros(p, dtype=np.uint8),
        "error_bound_meV": np.full(p, np.nan),
        "residual_meV": np.full((p, k), np.nan),
        "valley_coupling_meV": np.full((p, k), np.nan, dtype=np.complex128),
    }
    for name in _PER_STATE:
        out[name] = np.full((p, k), np.nan)
    return out


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a results store into a dict of arrays (``attrs`` holds the root attributes)."""
    import h5py

    def load(obj: Any) -> Any:
        if isinstance(obj, h5py.Dataset):
            return obj[()]
        return {k: load(v) for k, v in obj.items()}

    out: dict[str, Any] = {}
    with read_store(path, "results store") as f:
        for name, obj in f.items():
            out[name] = load(obj)
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out


#: units, meaning and axes of every dataset of ``results.h5`` (stored as attributes)
DATASET_INFO: dict[str, tuple[str, str, str]] = {
    "detuning_mV": ("mV", "detuning eps of each sweep point", "point"),
    "done": ("1", "1 where the point is finished and stored", "point"),
    "energies_meV": ("meV", "energies, ascending per point (NaN where not done)", "point, state"),
    "dot_weight": ("1", "probability in dot_L and dot_R", "point, state, dot"),
    "solve_s": ("s", "wall time of each point", "point"),
    "full_solve": ("1", "1 where the point was solved from scratch", "point"),
    "error_bound_meV": (
        "meV",
        "certified bound of |E_i - E_i(exact)| of every state of a reduced point (NaN: full)",
        "point",
    ),
    "residual_meV": ("meV", "||H x - E M x||_{M^-1} of each reduced pair", "point, state"),
    "valley_coupling_meV": ("meV", "<Delta> over each state's density (complex)", "point, state"),
    "valley_polarization": ("1", "<tau_z> = w(+z) - w(-z)", "point, state"),
    "valley_parity": (
        "1",
        "<tau_Delta>: -1 in the lower, +1 in the upper local valley state",
        "point, state",
    ),
    "detuning_slope_meV_per_mV": ("meV/mV", "dE/d eps = <D> (Hellmann-Feynman)", "point, state"),
    "x_mean_nm": ("nm", "centre of the density along x", "point, state"),
    "y_mean_nm": ("nm", "centre of the density along y", "point, state"),
    "x_std_nm": ("nm", "standard deviation of the density along x", "point, state"),
    "y_std_nm": ("nm", "standard deviation of the density along y", "point, state"),
    "mesh/points_nm": ("nm", "vertices of the k.p mesh", "coordinate, vertex"),
    "mesh/cells": ("1", "vertex indices of each cell (tetrahedra or triangles)", "corner, cell"),
    "mesh/band_edge_meV": ("meV", "conduction-band edge at zero detuning", "vertex"),
    "mesh/detuning_meV_per_mV": (
        "meV/mV",
        "U at detuning eps is band_edge_meV + eps * detuning_meV_per_mV",
        "vertex",
    ),
    "mesh/delta_meV": ("meV", "valley coupling Delta (complex)", "vertex"),
    "mesh/mass_matrix": (
        "nm^dim",
        "P1 mass matrix int phi_i phi_j (csr: data, indices, indptr; shape attribute): the norm "
        "of a stored state is sum over valleys of psi^H M psi",
        "vertex, vertex",
    ),
    "states": (
        "nm^(-dim/2)",
        "states at the vertices (complex); first: first point, last: last point",
        "state, valley (+z, -z), vertex",
    ),
}


def _describe(obj: Any, name: str) -> None:
    if name not in DATASET_INFO:  # pragma: no cover - every stored name is listed (tested)
        return
    units, text, axes = DATASET_INFO[name]
    obj.attrs["units"] = units
    obj.attrs["description"] = text
    obj.attrs["axes"] = axes


def _write_store(
    path: Path,
    system: StudySystem,
    results: dict[str, Any],
    states: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> None:
    import h5py

    from femvalley import __version__

    cfg = system.config
    text = cfg.to_toml()
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["layout_version"] = LAYOUT_VERSION
        f.attrs["config_toml"] = text
        f.attrs["config_sha256"] = _digest(text)
        f.attrs["femvalley_version"] = __version__
        f.attrs["seed"] = cfg.valley_map.seed
        f.attrs["n_states"] = cfg.solver.n_states
        f.attrs["vtu_states"] = cfg.output.vtu_states
        f.attrs["setup_s"] = float(sum(system.timings_s.values()))
        f.attrs["model"] = cfg.model
        if system.reduction is not None and system.reduction.slice_z_nm is not None:
            f.attrs["slice_z_nm"] = system.reduction.slice_z_nm
        for key, value in (meta or {}).items():
            f.attrs[key] = value
        for name, value in results.items():
            _describe(f.create_dataset(name, data=value), name)
        g = f.create_group("mesh")
        for name, value in (
            ("points_nm", system.quantum_mesh.p),
            ("cells", system.quantum_mesh.t),
            ("band_edge_meV", system.band_edge_meV),
            ("detuning_meV_per_mV", system.detuning_meV_per_mV),
            ("delta_meV", system.delta_vertices_meV),
        ):
            _describe(g.create_dataset(name, data=value), "mesh/" + name)
        _describe(write_csr(g, "mass_matrix", system.vertex_mass_matrix), "mesh/mass_matrix")
        s = f.create_group("states")
        _describe(s, "states")
        for name, comps in states.items():
            s.create_dataset(name, data=comps, compression="gzip", compression_opts=1)
    tmp.replace(path)


# -- per-point states (for the ParaView series) -----------------------------------------------
def save_point_states(out_dir: str | Path, index: int, components: ArrayLike) -> Path:
    """Store the exported states (k, 2, N) of sweep point ``index`` (atomically, complex64)."""
    folder = Path(out_dir) / STATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"point_{index:05d}.npy"
    tmp = folder / f".point_{index:05d}.tmp.npy"
    np.save(tmp, np.asarray(components, dtype=np.complex64))
    tmp.replace(path)
    return path


def load_point_states(out_dir: str | Path, index: int) -> NDArray[np.complex64] | None:
    """Return the stored states of point ``index``, or ``None``."""
    path = Path(out_dir) / STATES_DIR / f"point_{index:05d}.npy"
    if not path.exists():
        return None
    try:
        return np.asarray(np.load(path), dtype=np.complex64)
    except (ValueError, OSError, EOFError, TypeError) as err:
        raise ValueError(
            f"{path} is not a readable state file ({err}); it may be damaged: move it away "
            "(the export then skips that point)"
        ) from err


def _write_csv(path: Path, results: dict[str, Any]) -> None:
    k = results["energies_meV"].shape[1]
    lines = ["detuning_mV," + ",".join(f"E{i}_meV" for i in range(k))]
    for eps, e, done in zip(results["detuning_mV"], results["energies_meV"], results["done"]):
        if done:
            lines.append(f"{eps:.10g}," + ",".join(f"{x:.12g}" for x in e))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def _load_for_resume(path: Path, config: StudyConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    stored = read_results(path)
    want = _digest(config.to_toml())
    if stored["attrs"].get("config_sha256") != want:
        raise ValueError(
            f"{path} was made from a different study configuration; refusing to resume into "
            "it. Use another --out directory, or run the original configuration (its TOML is "
            "stored in the file's config_toml attribute)."
        )
    missing = [k for k in _empty_results(config) if k not in stored]
    if missing:
        raise ValueError(
            f"{path} was written by an older femvalley (layout version "
            f"{stored['attrs'].get('layout_version')}, no {missing[0]!r}); it cannot be "
            f"resumed: start a new --out directory"
        )
    results = {k: stored[k] for k in _empty_results(config)}
    return results, dict(stored.get("states", {}))


def run_sweep(
    config: StudyConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
    system: StudySystem | None = None,
    on_point: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the detuning sweep of a study; return the results (as stored in ``results.h5``).

    :func:`femvalley.study.run_study` calls it and then writes the figures, the fit and the
    ParaView files.

    Parameters
    ----------
    config : StudyConfig
        The study (validated).
    out_dir : str or Path
        Output directory; created if needed.
    resume : bool
        Continue the study stored in ``out_dir`` (same configuration only): finished points
        are not recomputed. Without it an existing store is never overwritten.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    workers : int
        Worker processes; the chunks of ``solver.chunk_points`` points are shared out among
        them. Each chunk is computed the same way whatever the number of workers.
    system : StudySystem, optional
        A system already built for ``config`` (skips the setup).
    on_point : callable, optional
        Called with the index of every point once it is stored (for monitoring and tests).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r} must be an integer >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = out / STORE_NAME
    if store.exists() and not resume:
        raise ValueError(
            f"{store} already exists; pass resume=True (--resume) to continue that study, or "
            "choose another output directory (nothing is overwritten)"
        )
    if resume and store.exists():
        results, states = _load_for_resume(store, config)
    else:
        results, states = _empty_results(config), {}
    _write_text(out / "study.toml", config.to_toml())

    phases = Phases(progress)
    if system is None:
        system = build_system(config, phases=phases)
    if system.config != config:
        raise ValueError("system was built for another configuration")
    _write_store(store, system, results, states)

    todo = [i for i, d in enumerate(results["done"]) if not d]
    reduced: ReducedBasis | ValleyReducedBasis | None = None
    meta: dict[str, Any] = {"method": config.solver.method}
    if config.solver.method == "reduced":
        # also for a finished study (resumed): the basis comes back from its checkpointed
        # snapshots without a new full solve, so the analysis uses the same basis as before
        t0 = time.perf_counter()
        with phases.phase("certified reduced basis (full solves at a few detunings)"):
            reduced = reduced_basis(system, results["detuning_mV"], out_dir=out)
        if isinstance(reduced, ValleyReducedBasis):
            write_basis(out / BASIS_NAME, system, reduced)
        meta.update(
            reduced_basis_size=reduced.size,
            reduced_build_s=time.perf_counter() - t0,
            snapshot_detuning_mV=np.array([s.scales["detuning"] for s in reduced.snapshots]),
        )
        _write_store(store, system, results, states, meta)
    # chunks of the whole sweep, restricted to what is left: the same work units on resume
    tasks = [
        [i for i in c if i in set(todo)]
        for c in chunks(len(results["done"]), config.solver.chunk_points)
    ]
    tasks = [t for t in tasks if t]
    bar = _progress(
        len(results["done"]), initial=len(results["done"]) - len(todo), on=progress and bool(todo)
    )
    try:
        for i, rec in _run_tasks(system.kit(reduced), tasks, results["detuning_mV"], workers):
            for name in _RECORD:
                results[name][i] = rec[name]
            results["done"][i] = 1
            if "states" in rec:
                states["first" if i == 0 else "last"] = rec["states"]
            if "export_states" in rec:
                save_point_states(out, i, rec["export_states"])
            _write_store(store, system, results, states, meta)
            bar.update(1)
            if on_point is not None:
                on_point(i)
    finally:
        bar.close()
    _write_csv(out / "spectrum.csv", results)
    results["states"] = states
    results["system"] = system
    results["reduced"] = reduced
    results["reduced_build_s"] = meta.get("reduced_build_s")
    return results


def reduced_basis(
    system: StudySystem, detuning_mV: NDArray[np.float64], *, out_dir: str | Path | None = None
) -> ReducedBasis | ValleyReducedBasis:
    """Build the certified reduced basis of a study's sweep (:mod:`femvalley.reduced`).

    ``solver.reduced_basis = "single_valley"`` (default): real single-valley orbitals
    (``solver.orbitals`` per snapshot, default 4 x ``n_states``) in both valleys
    (:func:`~femvalley.reduced.build_valley_basis`);
    ``"two_valley"``: full two-valley solves. With ``out_dir``, every snapshot is checkpointed
    to ``snapshots.h5`` there, and the snapshots already in that file (same configuration) are
    reused: a resumed study does not repeat them, and ends with the same basis.
    """
    cfg = system.config
    path = None if out_dir is None else Path(out_dir) / SNAPSHOTS_NAME
    snaps: list[Any] = _read_snapshots(path, cfg) if path is not None and path.exists() else []

    def checkpoint(snap: Any) -> None:
        snaps.append(snap)
        if path is not None:
            _write_snapshots(path, cfg, snaps)

    points = [{"detuning": float(e)} for e in detuning_mV]
    common: dict[str, Any] = {
        "k": cfg.solver.n_states,
        "tolerance_meV": 1e-3 * cfg.solver.tolerance_ueV,
        "backend": cfg.solver.backend,
        "max_snapshots": cfg.solver.max_snapshots,
        "snapshots": list(snaps),
        "on_snapshot": checkpoint,
    }
    if cfg.solver.reduced_basis == "single_valley":
        vb, _ = build_valley_basis(
            system.operators,
            points,
            delta_meV=system.delta_meV,
            orbitals=cfg.solver.orbitals_per_snapshot(),
            **common,
        )
        return vb
    rb, _ = build_reduced_basis(system.operators, points, **common)
    return rb


def _write_snapshots(path: Path, config: StudyConfig, snaps: list[Any]) -> None:
    import h5py

    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["config_sha256"] = _digest(config.to_toml())
        for j, s in enumerate(snaps):
            g = f.create_group(f"snapshot_{j:03d}")
            g.attrs["detuning_mV"] = s.scales["detuning"]
            g.attrs["kind"] = "orbital" if isinstance(s, OrbitalSnapshot) else "two_valley"
            g.create_dataset("energies_meV", data=s.energies_meV)
            g.create_dataset("vectors", data=s.vectors)
            if isinstance(s, OrbitalSnapshot):
                g.create_dataset("residual_meV", data=s.residual_meV)
    tmp.replace(path)


def _read_snapshots(path: Path, config: StudyConfig) -> list[Any]:
    with read_store(path, "snapshot checkpoint") as f:
        if f.attrs.get("config_sha256") != _digest(config.to_toml()):
            return []  # another study's snapshots: not used (and overwritten)
        out: list[Any] = []
        for _, g in sorted(f.items()):
            scales = {"detuning": float(g.attrs["detuning_mV"])}
            if g.attrs.get("kind", "two_valley") == "orbital":
                out.append(
                    OrbitalSnapshot(
                        scales=scales,
                        energies_meV=g["energies_meV"][()],
                        vectors=g["vectors"][()],
                        residual_meV=g["residual_meV"][()],
                    )
                )
            else:
                out.append(
                    Snapshot(
                        scales=scales,
                        energies_meV=g["energies_meV"][()],
                        vectors=g["vectors"][()],
                    )
                )
        return out


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# -- parallel execution ------------------------------------------------------------------------
def _run_tasks(
    kit: SweepKit, tasks: list[list[int]], detuning_mV: NDArray[np.float64], workers: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield finished points of all chunks, in this process or in ``workers`` processes."""
    if workers == 1 or len(tasks) <= 1:
        # reduced points are small dense problems: one BLAS thread (the rare full solve of an
        # uncertified point then runs on one thread too)
        with serial_blas() if kit.reduced is not None else nullcontext():
            for task in tasks:
                yield from solve_points(kit, task, detuning_mV)
        return
    import multiprocessing as mp
    import queue

    # spawn, not fork: CHOLMOD's OpenMP and the BLAS thread pools are not fork-safe (a forked
    # worker can hang on a lock held by a thread of the parent). The workers receive the
    # assembled operators (pickled), not the device: nothing is rebuilt.
    ctx = mp.get_context("spawn")
    task_q: Any = ctx.Queue()
    result_q: Any = ctx.Queue()
    for task in tasks:
        task_q.put(task)
    n = min(workers, len(tasks))
    for _ in range(n):
        task_q.put(None)
    procs = [
        ctx.Process(target=_worker, args=(kit, task_q, result_q, detuning_mV)) for _ in range(n)
    ]
    try:
        for p in procs:
            p.start()
        remaining = sum(len(t) for t in tasks)
        while remaining:
            try:
                item = result_q.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"a sweep worker died (exit code {dead[0].exitcode}); the finished "
                        "points are stored: rerun with --resume"
                    ) from None
                continue
            if isinstance(item, BaseException):
                raise item
            remaining -= 1
            yield item
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _worker(
    kit: SweepKit, task_q: Any, result_q: Any, detuning_mV: NDArray[np.float64]
) -> None:  # pragma: no cover - runs in a worker process
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # one core per worker
    except ImportError:  # threadpoolctl is a dependency
        pass
    try:
        while (task := task_q.get()) is not None:
            for item in solve_points(kit, task, detuning_mV):
                result_q.put(item)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        result_q.put(RuntimeError(f"sweep worker failed: {type(exc).__name__}: {exc}"))


def _progress(total: int, *, initial: int, on: bool) -> Any:
    if on:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, initial=initial, unit="point", desc="detuning sweep")
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass

    class _Null:
        def update(self, n: int) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()
