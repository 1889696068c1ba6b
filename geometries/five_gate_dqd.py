"""Five-gate Si/SiO2 double quantum dot (Binder, Burkard, Fisher, section IV.1.1).

Domain 160 x 160 x 50 nm: silicon below the interface (z = 0 nm), SiO2 above. Gates are metal
volumes cut out of the oxide, so their surfaces are boundaries of the mesh (Dirichlet data for
the electrostatics):

- plungers P1 and P3 at x = -30 and +30 nm, 25 x 60 x 10 nm, bottom at ``gate_bottom_nm``;
- barrier P2 at x = 0, same size, 5 nm closer to the substrate (``barrier_lowering_nm``);
- confinement gates C1 and C2 at y = -50 and +50 nm, 160 x 30 x 10 nm.

The paper does not give the gate heights; here the silicon is 25 nm deep and the gates sit on
``gate_bottom_nm`` = 10 nm of oxide (P2 on 5 nm), embedded in the 25 nm oxide.

Optional stepped interface (paper Fig. 2): x in [-80, -10] at z = +0.5 nm, [-10, 10] at
z = -0.5 nm, [10, 80] at z = 0.

Physical groups: volumes ``Si``, ``SiO2``, ``quantum`` (the silicon within
``quantum_depth_nm`` below the interface, part of ``Si``'s material: ``Si`` is the deep part),
the dot regions ``dot_L`` and ``dot_R`` (the quantum layer at x < 0 and x > 0, under P1 and P3);
surfaces ``P1``, ``P2``, ``P3``, ``C1``, ``C2`` (each gate's whole surface), ``interface``.

Units: nm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from geometries import _gmsh

__all__ = [
    "FiveGateParams",
    "build",
    "build_plane",
    "build_quantum",
    "GATES",
    "MATERIALS",
    "PLUNGERS",
    "Params",
    "REFERENCE_BIASES_V",
]

GATES = ("P1", "P2", "P3", "C1", "C2")

#: material of every volume group (names of :data:`femvalley.materials.MATERIALS`)
MATERIALS = {"Si": "Si", "quantum": "Si", "SiO2": "SiO2"}

#: biases (V) of the exchange study of ref. 1 section IV.1.2: plungers at 400 mV,
#: confinement (screening) gates at -1000 mV, barrier in its scanned range (-200 to -25 mV)
REFERENCE_BIASES_V = {"P1": 0.4, "P2": -0.1, "P3": 0.4, "C1": -1.0, "C2": -1.0}

#: the plunger over each dot region
PLUNGERS = {"dot_L": "P1", "dot_R": "P3"}


@dataclass(frozen=True, kw_only=True)
class FiveGateParams:
    """Parameters of the five-gate device (all lengths in nm)."""

    domain_xy_nm: float = 160.0
    si_depth_nm: float = 25.0
    oxide_height_nm: float = 25.0
    gate_bottom_nm: float = 10.0
    gate_height_nm: float = 10.0
    barrier_lowering_nm: float = 5.0
    plunger_x_nm: float = 30.0
    plunger_size_nm: tuple[float, float] = (25.0, 60.0)
    confinement_y_nm: float = 50.0
    confinement_width_nm: float = 30.0
    stepped_interface: bool = False
    quantum_depth_nm: float = 10.0
    mesh_size_nm: float = 12.0
    quantum_mesh_size_nm: float = 2.0
    #: in-plane extent (x, y) of the structured k.p mesh, centred on the device
    #: (ref. 1 section IV.1.2 uses 120 x 24 nm)
    kp_box_nm: tuple[float, float] = (120.0, 24.0)
    #: oxide kept above the highest interface section in the structured k.p mesh
    kp_oxide_nm: float = 1.5
    kp_mesh_size_nm: float = 2.0
    kp_vertical_mesh_size_nm: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "kp_oxide_nm",
            "kp_mesh_size_nm",
            "kp_vertical_mesh_size_nm",
            "domain_xy_nm",
            "si_depth_nm",
            "oxide_height_nm",
            "gate_height_nm",
            "quantum_depth_nm",
            "mesh_size_nm",
            "quantum_mesh_size_nm",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} = {value!r} must be finite and > 0")
        lowest = self.gate_bottom_nm - self.barrier_lowering_nm
        if lowest <= 1.0:
            raise ValueError(
                f"gate_bottom_nm - barrier_lowering_nm = {lowest!r}: the barrier gate must stay "
                "above the interface (> 1 nm of oxide)"
            )
        if self.gate_bottom_nm + self.gate_height_nm >= self.oxide_height_nm:
            raise ValueError(
                f"gate_bottom_nm + gate_height_nm = {self.gate_bottom_nm + self.gate_height_nm} "
                f"must be below oxide_height_nm = {self.oxide_height_nm}"
            )
        bx, by = self.kp_box_nm
        if not (0 < bx <= self.domain_xy_nm and 0 < by <= self.domain_xy_nm):
            raise ValueError(
                f"kp_box_nm = {self.kp_box_nm!r} must be positive and fit the domain "
                f"({self.domain_xy_nm} nm)"
            )
        if self.kp_oxide_nm >= self.gate_bottom_nm - self.barrier_lowering_nm:
            raise ValueError(
                f"kp_oxide_nm = {self.kp_oxide_nm} must stay below the lowest gate "
                f"({self.gate_bottom_nm - self.barrier_lowering_nm} nm above the interface)"
            )
        if self.quantum_depth_nm >= self.si_depth_nm:
            raise ValueError(
                f"quantum_depth_nm = {self.quantum_depth_nm} must be < si_depth_nm = "
                f"{self.si_depth_nm}"
            )

    def gate_boxes(self) -> dict[str, tuple[float, float, float, float, float, float]]:
        """Gate boxes as (x0, y0, z0, dx, dy, dz)."""
        px, py = self.plunger_size_nm
        h = self.gate_height_nm
        z0 = self.gate_bottom_nm
        half = self.domain_xy_nm / 2
        cw = self.confinement_width_nm
        cy = self.confinement_y_nm
        return {
            "P1": (-self.plunger_x_nm - px / 2, -py / 2, z0, px, py, h),
            "P2": (-px / 2, -py / 2, z0 - self.barrier_lowering_nm, px, py, h),
            "P3": (self.plunger_x_nm - px / 2, -py / 2, z0, px, py, h),
            "C1": (-half, -cy - cw / 2, z0, 2 * half, cw, h),
            "C2": (-half, cy - cw / 2, z0, 2 * half, cw, h),
        }

    @property
    def plane_z_nm(self) -> float:
        """Height of the in-plane cut for 2-D studies and top views: 1 nm below the interface."""
        return min(z for _, _, z in self.interface_sections()) - 1.0

    def gate_outlines_nm(self) -> dict[str, tuple[float, float, float, float]]:
        """Top-view outline of every gate as (x0, x1, y0, y1), for plots."""
        return _gmsh.outlines(self.gate_boxes())

    def vertex_estimate(self) -> dict[str, int]:
        """Mesh sizes without meshing, for memory and time estimates before a study runs.

        ``structured_kp``: vertices of :func:`build_quantum` (exact); ``plane``: vertices of its
        (x, y) grid; ``columns_z``: vertices of one vertical column; ``device`` and
        ``device_quantum``: the gmsh device mesh and its quantum layer (rough, from the volumes
        and mesh sizes).
        """
        from geometries import _grid

        sections = self.interface_sections()
        bx, by = self.kp_box_nm
        h, hz = self.kp_mesh_size_nm, self.kp_vertical_mesh_size_nm

        def points(breaks: list[float], step: float) -> int:
            b = sorted(set(round(v, 9) for v in breaks))
            return sum(_grid.uniform_steps(c - a, step) for a, c in zip(b[:-1], b[1:])) + 1

        steps = [x for x0, x1, _ in sections for x in (x0, x1) if -bx / 2 < x < bx / 2]
        nx = points([-bx / 2, 0.0, bx / 2, *steps], h)
        ny = _grid.uniform_steps(by, h) + 1
        heights = [z for _, _, z in sections]
        nz = points(
            [min(heights) - self.quantum_depth_nm, max(heights) + self.kp_oxide_nm, *heights], hz
        )
        side = self.domain_xy_nm
        quantum = 0.96 * side * side * self.quantum_depth_nm / self.quantum_mesh_size_nm**3
        height = self.si_depth_nm + self.oxide_height_nm
        rest = 0.96 * side * side * height / self.mesh_size_nm**3
        return _grid.vertex_counts(nx, ny, nz, device_quantum=quantum, device_rest=rest)

    def interface_sections(self) -> list[tuple[float, float, float]]:
        """(x_min, x_max, z) of the Si/SiO2 interface sections."""
        half = self.domain_xy_nm / 2
        if not self.stepped_interface:
            return [(-half, half, 0.0)]
        return [(-half, -10.0, 0.5), (-10.0, 10.0, -0.5), (10.0, half, 0.0)]


def build(params: FiveGateParams | None = None) -> Any:
    """Mesh the device and return a labelled meshio mesh (tetrahedra, nm)."""
    p = params or FiveGateParams()
    half = p.domain_xy_nm / 2
    with _gmsh.session("five_gate_dqd") as gmsh:
        occ = gmsh.model.occ
        sections = p.interface_sections()
        z_bot = -p.si_depth_nm
        zq = [z - p.quantum_depth_nm for _, _, z in sections]
        pieces = []
        for (x0, x1, z), zqi in zip(sections, zq):
            pieces.append(("Si", occ.addBox(x0, -half, z_bot, x1 - x0, 2 * half, zqi - z_bot)))
            # the quantum layer is cut at x = 0 into the two dot regions
            for a, b in ((x0, min(x1, 0.0)), (max(x0, 0.0), x1)):
                if b > a:
                    pieces.append(("quantum", occ.addBox(a, -half, zqi, b - a, 2 * half, z - zqi)))
            pieces.append(
                ("SiO2", occ.addBox(x0, -half, z, x1 - x0, 2 * half, p.oxide_height_nm - z))
            )
        gate_tags = {name: occ.addBox(*box) for name, box in p.gate_boxes().items()}
        oxide = [(3, t) for name, t in pieces if name == "SiO2"]
        cut, _ = occ.cut(oxide, [(3, t) for t in gate_tags.values()])
        others = [(3, t) for name, t in pieces if name != "SiO2"]
        occ.fragment(others + cut, [])
        occ.synchronize()

        # classify volumes by their centre of mass
        groups: dict[str, list[int]] = {
            "Si": [],
            "quantum": [],
            "SiO2": [],
            "dot_L": [],
            "dot_R": [],
        }
        for _, tag in gmsh.model.getEntities(3):
            cx, _, cz = occ.getCenterOfMass(3, tag)
            z_if = next(z for x0, x1, z in sections if x0 - 1e-9 <= cx <= x1 + 1e-9)
            if cz > z_if:
                groups["SiO2"].append(tag)
            elif cz > z_if - p.quantum_depth_nm:
                groups["quantum"].append(tag)
                groups["dot_L" if cx < 0 else "dot_R"].append(tag)
            else:
                groups["Si"].append(tag)
        for name, tags in groups.items():
            gmsh.model.addPhysicalGroup(3, sorted(tags), name=name)
        for name, box in p.gate_boxes().items():
            surfaces = _gmsh.in_box(gmsh, 2, box)
            if not surfaces:
                raise RuntimeError(f"gate {name}: no surfaces found")
            gmsh.model.addPhysicalGroup(2, surfaces, name=name)
        iface = []
        for x0, x1, z in sections:
            iface += _gmsh.in_box(gmsh, 2, (x0, -half, z, x1 - x0, 2 * half, 0.0))
        gmsh.model.addPhysicalGroup(2, sorted(set(iface)), name="interface")

        # mesh size: fine in the quantum layer (and 2 nm above it), coarse elsewhere
        # (size_boxes pads by one element: the fine box ends 2 nm above the interface)
        z_top = max(z for _, _, z in sections) + 2.0 - p.quantum_mesh_size_nm
        quantum_box = (-half, -half, min(zq), 2 * half, 2 * half, z_top - min(zq))
        _gmsh.size_boxes(
            gmsh,
            [(quantum_box, p.quantum_mesh_size_nm, 4 * p.quantum_mesh_size_nm)],
            background_nm=p.mesh_size_nm,
        )
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT: 5-10x faster (measured here)
        gmsh.model.mesh.generate(3)
        return _gmsh.to_meshio(gmsh, dim=3)


def build_quantum(params: FiveGateParams | None = None) -> Any:
    """Structured tetrahedral k.p mesh under the gates (no gmsh), for 3-D and reduced studies.

    A tensor grid over ``kp_box_nm`` (centred; ``kp_mesh_size_nm`` steps in x and y, with
    grid planes at x = 0 and at the steps of the interface) from ``quantum_depth_nm`` below
    the deepest interface section to ``kp_oxide_nm`` above the highest, in steps of
    ``kp_vertical_mesh_size_nm`` with grid planes on every section's height. The oxide above
    the local interface is part of the mesh (its 3 eV barrier, not a Dirichlet wall at the
    interface), so every grid cell holds one material and the Born-Oppenheimer columns
    (:mod:`femvalley.born_oppenheimer`) see the step.

    Groups: ``quantum`` (silicon), ``SiO2`` (materials as in :data:`MATERIALS`), ``dot_L``
    (x < 0) and ``dot_R`` (x > 0).
    """
    import meshio
    import numpy as np

    from geometries import _grid

    p = params or FiveGateParams()
    sections = p.interface_sections()
    bx, by = p.kp_box_nm
    h, hz = p.kp_mesh_size_nm, p.kp_vertical_mesh_size_nm

    def axis(breaks: list[float], step: float) -> Any:
        b = sorted(set(round(v, 9) for v in breaks))
        parts = [_grid.uniform_axis(a, c, step)[:-1] for a, c in zip(b[:-1], b[1:])]
        return np.concatenate([*parts, [b[-1]]])

    steps = [x for x0, x1, _ in sections for x in (x0, x1) if -bx / 2 < x < bx / 2]
    x = axis([-bx / 2, 0.0, bx / 2, *steps], h)
    y = _grid.uniform_axis(-by / 2, by / 2, h)
    heights = [z for _, _, z in sections]
    z = axis([min(heights) - p.quantum_depth_nm, max(heights) + p.kp_oxide_nm, *heights], hz)
    points, tets = _grid.tensor_tetra(x, y, z)
    centre = points[tets].mean(axis=1)
    top = np.full(len(tets), np.nan)
    for x0, x1, zi in sections:
        top[(centre[:, 0] >= x0) & (centre[:, 0] <= x1)] = zi
    everything = np.arange(len(tets))
    cell_sets = {
        "quantum": [everything[centre[:, 2] < top]],
        "SiO2": [everything[centre[:, 2] > top]],
        "dot_L": [everything[centre[:, 0] < 0]],
        "dot_R": [everything[centre[:, 0] > 0]],
    }
    return meshio.Mesh(points, [meshio.CellBlock("tetra", tets)], cell_sets=cell_sets)


def build_plane(params: FiveGateParams | None = None) -> Any:
    """2-D triangle mesh of the quantum region's footprint (the whole domain), for 2-D studies.

    Groups: ``dot_L``, ``dot_R``, their union ``quantum`` (triangles) and ``edge`` (the
    boundary lines). Mesh size ``quantum_mesh_size_nm``. Sample the 3-D potential on it at a
    chosen depth, e.g. :attr:`FiveGateParams.plane_z_nm`.
    """
    p = params or FiveGateParams()
    half = p.domain_xy_nm / 2
    return _gmsh.rectangle_plane_mesh(
        "five_gate_dqd_plane",
        {"dot_L": (-half, 0.0, -half, half), "dot_R": (0.0, half, -half, half)},
        mesh_size_nm=p.quantum_mesh_size_nm,
    )


Params = FiveGateParams  # the parameter class, under the name every device module uses
