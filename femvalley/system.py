"""The system of a study: everything that does not depend on the detuning, built once.

:func:`build_system` meshes the device, solves the gate electrostatics once per gate, builds
the k.p mesh of the quantum region and its gate potentials, reduces them to the plane for the
2-D models (``"bo2d"``, ``"slice2d"``), draws the valley map and assembles the k.p operators
``H(eps) = H0 + eps D`` with ``D = -1000 sum_g w_g phi_g / 1000`` (meV per mV of detuning),
and the observables' matrices. The result, a :class:`StudySystem`, is then solved at any
detuning without a new Poisson solve or assembly (``system.solve(detuning_mV)``; sweeps:
:func:`femvalley.sweep.run_sweep`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from femvalley.analysis import StateObservables
from femvalley.born_oppenheimer import PlanarReduction, reduce_to_plane
from femvalley.config import StudyConfig, ValleyMapConfig
from femvalley.eigen import EigenResult, solve
from femvalley.electrostatics import GatePotentials, solve_gates
from femvalley.kp import KPOperators, assemble, make_basis, two_valley_model
from femvalley.materials import get_material
from femvalley.mesh import from_meshio, submesh
from femvalley.progress import QUIET, Phases
from femvalley.typing import Basis, Mesh, SparseMatrix
from femvalley.valley_map import ValleyGrid, interpolate_to_nodes, valley_map_on_nodes

__all__ = [
    "KPInput",
    "StudySystem",
    "build_system",
    "device_potentials",
    "kp_input",
    "swept_dots",
    "valley_map",
]


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
    device_mesh: Mesh
    gates: GatePotentials
    potentials: GatePotentials
    volume_mesh: Mesh
    quantum_mesh: Mesh
    basis: Basis
    operators: KPOperators
    delta_meV: NDArray[np.complex128]  # at the DOFs of ``basis`` (vertices first)
    valley_grid: ValleyGrid
    band_edge_meV: NDArray[np.float64]  # at zero detuning, at the k.p mesh vertices
    detuning_meV_per_mV: NDArray[np.float64]  # D at the k.p mesh vertices
    observables: StateObservables
    timings_s: dict[str, float]
    reduction: PlanarReduction | None = None

    def solve(self, detuning_mV: float, *, warm_start: EigenResult | None = None) -> EigenResult:
        """Lowest ``solver.n_states`` states at one detuning (mV), by a full solve."""
        return solve(
            self.operators,
            k=self.config.solver.n_states,
            scales={"detuning": float(detuning_mV)},
            backend=self.config.solver.backend,  # type: ignore[arg-type]
            warm_start=warm_start,
        )

    def device_parts(
        self, config: StudyConfig
    ) -> tuple[Mesh, GatePotentials, Mesh, GatePotentials]:
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
    def vertex_mass_matrix(self) -> SparseMatrix:
        """Mass matrix ``int phi_i phi_j`` of P1 elements on ``quantum_mesh`` (csr, nm^dim).

        The states in the result files are vertex values, so ``sum_c psi_c^H M psi_c`` is
        their norm: 1 for P1 studies, 1 up to the interpolation error for P2.
        """
        if self.basis.elem.maxdeg == 1:  # the observables' mass matrix is this one
            return self.observables.matrix("norm")
        from skfem import asm

        from femvalley.forms import mass
        from femvalley.mesh import p1_basis

        return asm(mass, p1_basis(self.basis)).tocsr()

    @property
    def delta_vertices_meV(self) -> NDArray[np.complex128]:
        """Delta at the vertices of ``quantum_mesh`` (meV; the first DOFs of a Lagrange basis)."""
        return self.delta_meV[: self.quantum_mesh.nvertices]


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

    mesh: Mesh
    basis: Basis
    potential_meV: NDArray[np.float64]
    band_edge_meV: NDArray[np.float64]
    terms: dict[str, NDArray[np.float64]]
    materials: Any
    reduction: PlanarReduction | None


def kp_input(
    config: StudyConfig,
    *,
    volume_mesh: Mesh,
    potentials: GatePotentials,
    voltages_V: Mapping[str, float] | None = None,
) -> KPInput:
    """Return the k.p mesh, potential and detuning term of ``config.model`` at given voltages.

    ``potentials`` live on the 3-D quantum mesh ``volume_mesh``; ``voltages_V`` default to
    the study's voltages at zero detuning. For ``"bo2d"`` and ``"slice2d"`` the 3-D band
    edge is reduced to the plane (:func:`femvalley.born_oppenheimer.reduce_to_plane`), the detuning
    term with it.
    """
    dev = config.device.resolved()
    layers = {r: m for r, m in dev.materials.items() if r in (volume_mesh.subdomains or {})}
    offsets = {r: get_material(m).band_offset_meV for r, m in layers.items()}
    volts = dict(config.voltages(0.0) if voltages_V is None else voltages_V)
    weights = config.detuning_weights()
    d_vertex = -sum(w * potentials.unit_V[potentials.gates.index(g)] for g, w in weights.items())
    d_vertex = np.asarray(d_vertex, dtype=np.float64)  # meV/mV
    if config.model == "3d":
        if config.device.dots is not None:  # the swept pair plays dot_L and dot_R
            volume_mesh = volume_mesh.with_subdomains(swept_dots(config))
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
    plane = red.plane_mesh().with_subdomains(swept_dots(config))
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


def swept_dots(config: StudyConfig) -> dict[str, Callable[[Any], Any]]:
    """Return the swept pair of dot regions as ``dot_L``/``dot_R`` subdomain tests.

    Element midpoints inside each dot's top-view rectangle (``config.device.dots``).
    """

    def inside(box: tuple[float, float, float, float]) -> Callable[[Any], Any]:
        x0, x1, y0, y1 = box
        return lambda x: (x[0] > x0) & (x[0] < x1) & (x[1] > y0) & (x[1] < y1)

    return {role: inside(box) for role, box in config.device.pair_rectangles_nm().items()}


def device_potentials(
    config: StudyConfig,
    *,
    timings: dict[str, float] | None = None,
    device: tuple[Mesh, GatePotentials] | None = None,
    phases: Phases = QUIET,
) -> tuple[Mesh, GatePotentials, Mesh, GatePotentials]:
    """Device mesh, its gate potentials, the 3-D quantum mesh and the potentials on it.

    The quantum mesh is the device's structured k.p mesh (``build_quantum``, potentials
    interpolated) or its own quantum region (potentials restricted), as ``device.kp_mesh``
    says. ``timings`` (if given) receives the seconds of each step. ``device``: a device
    mesh and its gate potentials already computed for this device (not built again).
    """
    dev = config.device.resolved()
    timings = {} if timings is None else timings
    if device is not None:
        mesh, gp = device
    else:
        mesh, gp = _device_mesh_and_gates(config, timings=timings, phases=phases)
    t0 = time.perf_counter()
    with phases.phase("k.p mesh of the quantum region and its gate potentials"):
        if config.device.uses_structured_mesh():
            qmesh = from_meshio(dev.build_quantum(), dim=3)
            gq = gp.interpolated_to(qmesh)
        else:
            sub = submesh(mesh, "quantum")
            qmesh = sub.mesh
            gq = gp.restricted_to(sub)
    timings["quantum_mesh"] = time.perf_counter() - t0
    return mesh, gp, qmesh, gq


def _device_mesh_and_gates(
    config: StudyConfig, *, timings: dict[str, float], phases: Phases
) -> tuple[Mesh, GatePotentials]:
    """Return the device mesh and its gate potentials.

    From the device cache (:mod:`femvalley.io.device_cache`) when it holds this device, else
    meshed and solved (and stored there). ``timings["device_cache"]`` is 1.0 on a hit.
    """
    from femvalley.io import device_cache

    dev = config.device.resolved()
    order = config.device.electrostatics_order
    key = None
    if device_cache.cache_directory() is not None:
        key = device_cache.device_key(dev.description.to_dict(), electrostatics_order=order)
        t0 = time.perf_counter()
        hit = device_cache.load_device(
            key, convert=lambda m: from_meshio(m, dim=3), note=phases.note
        )
        if hit is not None:
            mesh, gp = hit
            timings["mesh"] = time.perf_counter() - t0
            timings["electrostatics"] = 0.0
            timings["device_cache"] = 1.0
            phases.note(
                f"device mesh and gate potentials of {config.device.name} from the cache "
                f"({mesh.p.shape[1]} vertices, {timings['mesh']:.1f} s)"
            )
            return mesh, gp
    t0 = time.perf_counter()
    with phases.phase(f"meshing the device ({config.device.name})"):
        labelled = dev.build()
        mesh = from_meshio(labelled, dim=3)
    timings["mesh"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with phases.phase(
        f"gate electrostatics ({len(dev.gates)} unit solves and the offset, "
        f"{mesh.p.shape[1]} vertices)"
    ):
        gp = solve_gates(
            mesh,
            permittivity=dev.materials,
            gates=dev.gates,
            work_function_offset_V=dev.work_function_offset_V,
            order=order,
        )
    timings["electrostatics"] = time.perf_counter() - t0
    if key is not None:
        device_cache.store_device(key, labelled, gp, note=phases.note)
    return mesh, gp


def valley_map(
    config: StudyConfig | ValleyMapConfig,
    points_nm: NDArray[np.float64],
    *,
    vertices_nm: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.complex128], ValleyGrid]:
    """Delta at the nodes and its grid, for every ``valley_map.model`` of a study.

    Parameters
    ----------
    config : StudyConfig or ValleyMapConfig
        The study (or only its ``valley_map`` table, what an ensemble's workers receive);
        ``config.valley_map`` chooses the map: the Gaussian field (drawn by
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

    vm = config if isinstance(config, ValleyMapConfig) else config.valley_map
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
