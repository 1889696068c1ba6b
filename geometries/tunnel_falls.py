"""Tunnel Falls-like Si/SiGe double quantum dot (docs/references.md).

Coordinates: x along the channel (the finger gates cross it), y across it, z up the growth
direction with z = 0 at the middle of the strained-Si well.

Stack, bottom up (defaults): Si0.7Ge0.3 buffer 50 nm, strained-Si well 4.6 nm, Si0.7Ge0.3
barrier 50 nm, Si cap 1 nm, SiO2 5 nm, HfO2 5 nm, the screening layer (the screening gates SG
and CS, 10 nm thick, in Al2O3), a 5 nm Al2O3 inter-layer dielectric, the finger layer (gates
B4, P5, B5, P6, B6, 10 nm thick, in Al2O3) and a 10 nm Al2O3 cover.

Layout: five fingers at 60 nm pitch (centres -120, -60, 0, 60, 120 nm), each 30 nm wide along
x and 90 nm long along y, centred on the channel. The screening gates are strips along the
whole device, 30 nm wide, on either side of the channel: SG at negative y, CS at positive y.
The open gap between them is the channel, 80 nm wide: the width of the dot regions, so the
footprint of fingers and screening gates is 300 x 140 nm as in the study. (the reference study also
quotes a "20 nm gap" for the screening layer without saying between what; it is not used.)
The domain ends at the outer edges of B4 and B6 (``margin_x_nm`` = 0) and ``margin_y_nm`` beyond
the screening strips. Its sides carry zero normal field, i.e. they are mirror planes: the model
is a section of a longer finger array, as B4 and B6 are in the real device. (With open ends,
i.e. a wide ``margin_x_nm`` of ungated dielectric, the potential bowl of the finite array pulls
both dots towards the centre, out from under the plungers.)

Dot regions: 105 x 80 nm boxes centred at x = -52.5 (``dot_L``) and +52.5 nm (``dot_R``),
|y| <= 40 nm, from ``quantum_margin_nm`` (6 nm) below the well to 6 nm above it; their union
is the quantum region ``quantum``. These volumes also belong to their material layers.

Gates are metal volumes cut out of their dielectric layer; each gate's whole surface is a
surface group (Dirichlet data for the electrostatics).

Physical groups
---------------
volumes : ``buffer``, ``well``, ``barrier``, ``cap``, ``SiO2``, ``HfO2``, ``screening_layer``,
    ``ILD``, ``finger_layer``, ``cover`` (materials in :data:`MATERIALS`), and ``dot_L``,
    ``dot_R``, ``quantum`` (overlapping the layers they cut).
surfaces : ``B4``, ``P5``, ``B5``, ``P6``, ``B6``, ``SG``, ``CS``.

Mesh size: ``quantum_mesh_size_nm`` in the quantum region, ``device_mesh_size_nm`` under the
gate footprint from the quantum region up to the fingers, ``mesh_size_nm`` elsewhere.

Units: nm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from geometries import _gmsh, _grid

__all__ = [
    "FINGERS",
    "GATES",
    "MATERIALS",
    "PLUNGERS",
    "Params",
    "REFERENCE_BIASES_V",
    "TunnelFallsParams",
    "build",
    "build_plane",
    "build_quantum",
]

FINGERS = ("B4", "P5", "B5", "P6", "B6")
GATES = (*FINGERS, "SG", "CS")

#: material of every layer group (names of :data:`femvalley.materials.MATERIALS`)
MATERIALS = {
    "buffer": "SiGe",
    "well": "strained_Si",
    "barrier": "SiGe",
    "cap": "Si",
    "SiO2": "SiO2",
    "HfO2": "HfO2",
    "screening_layer": "Al2O3",
    "ILD": "Al2O3",
    "finger_layer": "Al2O3",
    "cover": "Al2O3",
}

#: gate biases of the reference study (V), docs/references.md
REFERENCE_BIASES_V = {
    "B4": 1.0,
    "P5": 2.5,
    "B5": 1.2,
    "P6": 2.5,
    "B6": 1.0,
    "SG": -0.5,
    "CS": -0.5,
}

#: the plunger over each dot region
PLUNGERS = {"dot_L": "P5", "dot_R": "P6"}

_LAYERS = (
    ("buffer", "buffer_nm"),
    ("well", "well_nm"),
    ("barrier", "barrier_nm"),
    ("cap", "cap_nm"),
    ("SiO2", "sio2_nm"),
    ("HfO2", "hfo2_nm"),
    ("screening_layer", "screening_thickness_nm"),
    ("ILD", "ild_nm"),
    ("finger_layer", "finger_thickness_nm"),
    ("cover", "cover_nm"),
)


@dataclass(frozen=True, kw_only=True)
class TunnelFallsParams:
    """Parameters of the Tunnel Falls-like device (all lengths in nm)."""

    # layer stack, bottom up
    buffer_nm: float = 50.0
    well_nm: float = 4.6
    barrier_nm: float = 50.0
    cap_nm: float = 1.0
    sio2_nm: float = 5.0
    hfo2_nm: float = 5.0
    screening_thickness_nm: float = 10.0
    ild_nm: float = 5.0
    finger_thickness_nm: float = 10.0
    cover_nm: float = 10.0
    # layout
    n_fingers: int = 5
    finger_pitch_nm: float = 60.0
    finger_width_nm: float = 30.0
    finger_length_nm: float = 90.0
    channel_width_nm: float = 80.0
    screening_width_nm: float = 30.0
    margin_x_nm: float = 0.0
    margin_y_nm: float = 30.0
    # dot regions
    dot_size_nm: tuple[float, float] = (105.0, 80.0)
    dot_centre_x_nm: float = 52.5
    quantum_margin_nm: float = 6.0
    # mesh
    mesh_size_nm: float = 25.0
    device_mesh_size_nm: float = 10.0
    quantum_mesh_size_nm: float = 2.0
    # structured k.p mesh of the quantum region (build_quantum)
    kp_mesh_size_nm: float = 2.5
    kp_vertical_mesh_size_nm: float = 0.5

    def __post_init__(self) -> None:
        self._check_lengths()
        if isinstance(self.n_fingers, bool) or not isinstance(self.n_fingers, int):
            raise ValueError(f"n_fingers = {self.n_fingers!r} must be an integer")
        if self.n_fingers != len(FINGERS):
            raise ValueError(
                f"n_fingers = {self.n_fingers}: the device has exactly {len(FINGERS)} fingers "
                f"{FINGERS}"
            )
        if self.finger_width_nm >= self.finger_pitch_nm:
            raise ValueError(
                f"finger_width_nm = {self.finger_width_nm} must be < finger_pitch_nm = "
                f"{self.finger_pitch_nm} (fingers must not touch)"
            )
        self._check_dots()
        for side in ("buffer_nm", "barrier_nm"):
            if self.quantum_margin_nm >= getattr(self, side):
                raise ValueError(
                    f"quantum_margin_nm = {self.quantum_margin_nm} must be < {side} = "
                    f"{getattr(self, side)}"
                )

    def _check_lengths(self) -> None:
        positive = [attr for _, attr in _LAYERS] + [
            "finger_pitch_nm",
            "finger_width_nm",
            "finger_length_nm",
            "channel_width_nm",
            "screening_width_nm",
            "quantum_margin_nm",
            "mesh_size_nm",
            "device_mesh_size_nm",
            "quantum_mesh_size_nm",
            "kp_mesh_size_nm",
            "kp_vertical_mesh_size_nm",
        ]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} = {value!r} must be a number (nm)")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} = {value!r} must be finite and > 0 (nm)")
        for name in ("margin_x_nm", "margin_y_nm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} = {value!r} must be a number (nm)")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} = {value!r} must be finite and >= 0 (nm)")

    def _check_dots(self) -> None:
        dx, dy = self.dot_size_nm
        if not (dx > 0 and dy > 0):
            raise ValueError(f"dot_size_nm = {self.dot_size_nm!r} must be positive")
        if dy > self.domain_nm[1]:
            raise ValueError(f"dot_size_nm = {self.dot_size_nm!r} is wider than the domain")
        if self.dot_centre_x_nm < dx / 2:
            raise ValueError(
                f"dot_centre_x_nm = {self.dot_centre_x_nm} must be >= dot_size_nm[0] / 2 = "
                f"{dx / 2}: the two dot regions would overlap"
            )
        if self.dot_centre_x_nm + dx / 2 > self.domain_nm[0] / 2:
            raise ValueError(
                f"dot_centre_x_nm = {self.dot_centre_x_nm}: the dot regions leave the domain"
            )

    # -- derived geometry ------------------------------------------------------------------
    @property
    def domain_nm(self) -> tuple[float, float]:
        """Lateral size of the simulation domain (x, y)."""
        span_x = (self.n_fingers - 1) * self.finger_pitch_nm + self.finger_width_nm
        span_y = max(self.channel_width_nm + 2 * self.screening_width_nm, self.finger_length_nm)
        return span_x + 2 * self.margin_x_nm, span_y + 2 * self.margin_y_nm

    def layer_bounds_nm(self) -> dict[str, tuple[float, float]]:
        """(z_bottom, z_top) of every layer; z = 0 at the middle of the well."""
        z = -self.buffer_nm - self.well_nm / 2
        out = {}
        for name, attr in _LAYERS:
            t = float(getattr(self, attr))
            out[name] = (z, z + t)
            z += t
        return out

    def finger_centres_nm(self) -> dict[str, float]:
        """x of every finger's centre line."""
        mid = (self.n_fingers - 1) / 2
        return {g: (i - mid) * self.finger_pitch_nm for i, g in enumerate(FINGERS)}

    def gate_boxes(self) -> dict[str, _gmsh.Box]:
        """Gate boxes as (x0, y0, z0, dx, dy, dz)."""
        layers = self.layer_bounds_nm()
        lx, _ = self.domain_nm
        zf = layers["finger_layer"][0]
        zs = layers["screening_layer"][0]
        w = self.finger_width_nm
        boxes: dict[str, _gmsh.Box] = {
            g: (
                xc - w / 2,
                -self.finger_length_nm / 2,
                zf,
                w,
                self.finger_length_nm,
                self.finger_thickness_nm,
            )
            for g, xc in self.finger_centres_nm().items()
        }
        half_channel = self.channel_width_nm / 2
        sw = self.screening_width_nm
        boxes["SG"] = (-lx / 2, -half_channel - sw, zs, lx, sw, self.screening_thickness_nm)
        boxes["CS"] = (-lx / 2, half_channel, zs, lx, sw, self.screening_thickness_nm)
        return boxes

    def gate_outlines_nm(self) -> dict[str, tuple[float, float, float, float]]:
        """Top-view outline of every gate as (x0, x1, y0, y1), for plots."""
        return _gmsh.outlines(self.gate_boxes())

    def vertex_estimate(self) -> dict[str, int]:
        """Mesh sizes without meshing, for memory and time estimates before a study runs.

        ``structured_kp``: vertices of :func:`build_quantum` (exact); ``plane``: vertices of its
        (x, y) grid; ``columns_z``: vertices of one vertical column; ``device`` and
        ``device_quantum``: the gmsh device mesh and its quantum region (rough: calibrated on
        this device at the default sizes, 50,064 and 33,502 vertices, within about 1.5x
        between quantum sizes 1.4 and 4 nm).
        """
        x0, _, z0, dx, dy, dz = self.dot_boxes()["dot_R"]
        h, hz = self.kp_mesh_size_nm, self.kp_vertical_mesh_size_nm
        lo, hi = -self.well_nm / 2, self.well_nm / 2
        nx_half = _grid.uniform_steps(dx, h) + 1
        nx = 2 * nx_half - (1 if abs(x0) < 1e-9 else 0)
        ny = _grid.uniform_steps(dy, h) + 1
        nz = (
            _grid.graded_steps(lo - z0, fine_step_nm=hz, max_step_nm=h)
            + _grid.uniform_steps(hi - lo, hz)
            + _grid.graded_steps(z0 + dz - hi, fine_step_nm=hz, max_step_nm=h)
            + 1
        )
        quantum = 0.96 * 2 * dx * dy * dz / self.quantum_mesh_size_nm**3
        rest = 16562 * (10.0 / self.device_mesh_size_nm) ** 2 * (25.0 / self.mesh_size_nm)
        return _grid.vertex_counts(nx, ny, nz, device_quantum=quantum, device_rest=rest)

    def dot_boxes(self) -> dict[str, _gmsh.Box]:
        """``dot_L`` and ``dot_R`` boxes as (x0, y0, z0, dx, dy, dz)."""
        dx, dy = self.dot_size_nm
        z0, z1 = self.quantum_z_nm
        c = self.dot_centre_x_nm
        return {
            "dot_L": (-c - dx / 2, -dy / 2, z0, dx, dy, z1 - z0),
            "dot_R": (c - dx / 2, -dy / 2, z0, dx, dy, z1 - z0),
        }

    @property
    def plane_z_nm(self) -> float:
        """Height of the in-plane cut for 2-D studies and top views: the middle of the well."""
        return 0.0

    @property
    def quantum_z_nm(self) -> tuple[float, float]:
        """(z_bottom, z_top) of the quantum region: the well and ``quantum_margin_nm`` of SiGe."""
        return (
            -self.well_nm / 2 - self.quantum_margin_nm,
            self.well_nm / 2 + self.quantum_margin_nm,
        )


def build(params: TunnelFallsParams | None = None) -> Any:
    """Mesh the device and return a labelled meshio mesh (tetrahedra, nm).

    The x >= 0 half is meshed and reflected in x = 0 (:func:`geometries._gmsh.mirror_x`), so
    the mesh is exactly mirror symmetric, like the device: at symmetric biases the two dots are
    degenerate to round-off, not to the mesh error (which is 1 meV at the default sizes with a
    mesh of the whole device).
    """
    p = params or TunnelFallsParams()
    lx, ly = p.domain_nm
    layers = p.layer_bounds_nm()
    gate_boxes = _half_boxes(p.gate_boxes())
    dot_boxes = _half_boxes(p.dot_boxes())
    with _gmsh.session("tunnel_falls") as gmsh:
        occ = gmsh.model.occ
        slabs = {
            name: [(3, occ.addBox(0.0, -ly / 2, z0, lx / 2, ly, z1 - z0))]
            for name, (z0, z1) in layers.items()
        }
        gates = {g: occ.addBox(*b) for g, b in gate_boxes.items()}
        for layer, names in (("screening_layer", ("SG", "CS")), ("finger_layer", FINGERS)):
            # the screening strips run the length of the device: they split their layer
            cutters = [(3, gates[g]) for g in names if g in gates]
            slabs[layer], _ = occ.cut(slabs[layer], cutters)
        dots = [(3, occ.addBox(*b)) for b in dot_boxes.values()]
        occ.fragment([dt for pieces in slabs.values() for dt in pieces], dots)
        occ.synchronize()

        # classify the fragments: layer by centre of mass, dot region by bounding box (the
        # notched remainder of a layer can have its centre of mass inside a dot box)
        groups: dict[str, list[int]] = {name: [] for name in (*layers, *dot_boxes, "quantum")}
        eps = 1e-6
        for _, tag in gmsh.model.getEntities(3):
            cz = occ.getCenterOfMass(3, tag)[2]
            layer = next(n for n, (z0, z1) in layers.items() if z0 <= cz <= z1)
            groups[layer].append(tag)
            lo, hi = np.split(np.asarray(gmsh.model.getBoundingBox(3, tag)), 2)
            for name, (x0, y0, z0, dx, dy, dz) in dot_boxes.items():
                if np.all(lo >= np.array([x0, y0, z0]) - eps) and np.all(
                    hi <= np.array([x0 + dx, y0 + dy, z0 + dz]) + eps
                ):
                    groups[name].append(tag)
                    groups["quantum"].append(tag)
        for name, tags in groups.items():
            if not tags:
                raise RuntimeError(f"group {name}: no volume found")
            gmsh.model.addPhysicalGroup(3, sorted(tags), name=name)
        for name, box in gate_boxes.items():
            surfaces = _gmsh.in_box(gmsh, 2, box)
            if not surfaces:
                raise RuntimeError(f"gate {name}: no surfaces found")
            gmsh.model.addPhysicalGroup(2, surfaces, name=name)

        # mesh size: fine in the quantum region, medium under the gates, coarse elsewhere
        dx, dy = p.dot_size_nm
        qz0, qz1 = p.quantum_z_nm
        xq = p.dot_centre_x_nm + dx / 2
        quantum_box = (0.0, -dy / 2, qz0, xq, dy, qz1 - qz0)
        xf = max(b[0] + b[3] for g, b in gate_boxes.items() if g in FINGERS)
        half_y = max(p.channel_width_nm / 2 + p.screening_width_nm, p.finger_length_nm / 2)
        top = layers["finger_layer"][1]
        device_box = (0.0, -half_y, qz0, xf, 2 * half_y, top - qz0)
        _gmsh.size_boxes(
            gmsh,
            [
                (quantum_box, p.quantum_mesh_size_nm, 3 * p.device_mesh_size_nm),
                (device_box, p.device_mesh_size_nm, 2 * p.mesh_size_nm),
            ],
            background_nm=p.mesh_size_nm,
        )
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT: 5-10x faster (measured here)
        gmsh.model.mesh.generate(3)
        half = _gmsh.to_meshio(gmsh, dim=3)
    return _gmsh.mirror_x(half, mirrored_names=_MIRRORED, scale_nm=max(lx, ly))


#: groups of the x >= 0 half and the names of their mirror images
_MIRRORED = {"dot_R": "dot_L", "P6": "P5", "B6": "B4"}


def _half_boxes(boxes: dict[str, _gmsh.Box]) -> dict[str, _gmsh.Box]:
    """The x >= 0 parts of the boxes that reach it (named as in the half mesh)."""
    out = {}
    for name, box in boxes.items():
        clipped = _gmsh.clip_box_to_positive_x(box)
        if clipped is not None:
            out[name] = clipped
    return out


def build_plane(params: TunnelFallsParams | None = None) -> Any:
    """2-D triangle mesh of the two dot regions in the plane, for 2-D studies.

    Groups: ``dot_L``, ``dot_R``, their union ``quantum`` (triangles), and ``edge`` (the outer
    boundary lines). Mesh size ``quantum_mesh_size_nm``; mirror symmetric in x = 0. Sample
    the 3-D potential on it at a chosen depth (e.g. z = 0, the middle of the well).
    """
    p = params or TunnelFallsParams()
    x0, y0, _, dx, dy, _ = p.dot_boxes()["dot_R"]
    half = _gmsh.rectangle_plane_mesh(
        "tunnel_falls_plane",
        {"dot_R": (x0, x0 + dx, y0, y0 + dy)},
        mesh_size_nm=p.quantum_mesh_size_nm,
    )
    return _gmsh.mirror_x(half, mirrored_names={"dot_R": "dot_L"}, scale_nm=dx)


def build_quantum(params: TunnelFallsParams | None = None) -> Any:
    """Structured tetrahedral k.p mesh of the quantum region (no gmsh), for 3-D studies.

    A tensor grid over the two dot regions: ``kp_mesh_size_nm`` steps in x and y,
    ``kp_vertical_mesh_size_nm`` steps across the well, growing geometrically (ratio 1.5, up
    to ``kp_mesh_size_nm``) into the SiGe on both sides, with grid planes on both interfaces.
    Every (x, y) column is discretised the same way, so the error of the vertical confinement
    energy is the same everywhere and does not act as an in-plane potential. (An unstructured
    mesh of 4 nm tetrahedra gave column-to-column errors of several meV: enough to hold the
    electron under the middle barrier whatever the detuning.) Built for x >= 0 and mirrored.

    Groups: ``buffer``, ``well``, ``barrier`` (materials as in :data:`MATERIALS`), ``dot_L``,
    ``dot_R`` and ``quantum`` (everything). Sample the device's gate potentials on it with
    :meth:`femvalley.electrostatics.GatePotentials.interpolated_to`.
    """
    import meshio

    p = params or TunnelFallsParams()
    x0, y0, z0, dx, dy, dz = p.dot_boxes()["dot_R"]
    lo, hi = -p.well_nm / 2, p.well_nm / 2
    h, hz = p.kp_mesh_size_nm, p.kp_vertical_mesh_size_nm
    z = np.concatenate(
        [
            _grid.graded_axis(lo, z0, fine_step_nm=hz, max_step_nm=h)[:-1],
            _grid.uniform_axis(lo, hi, hz),
            _grid.graded_axis(hi, z0 + dz, fine_step_nm=hz, max_step_nm=h)[1:],
        ]
    )
    points, tets = _grid.tensor_tetra(
        _grid.uniform_axis(x0, x0 + dx, h), _grid.uniform_axis(y0, y0 + dy, h), z
    )
    cz = points[tets, 2].mean(axis=1)
    everything = np.arange(len(tets))
    cell_sets = {
        "buffer": [everything[cz < lo]],
        "well": [everything[(cz > lo) & (cz < hi)]],
        "barrier": [everything[cz > hi]],
        "dot_R": [everything],
        "quantum": [everything],
    }
    half = meshio.Mesh(points, [meshio.CellBlock("tetra", tets)], cell_sets=cell_sets)
    return _gmsh.mirror_x(half, mirrored_names={"dot_R": "dot_L"}, scale_nm=dx)


Params = TunnelFallsParams  # the parameter class, under the name every device module uses
