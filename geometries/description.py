"""Device descriptions: a layer stack, gate outlines, dot regions, mesh sizes and symmetry.

A :class:`DeviceDescription` says what a gate-defined device is, in nm, without saying how
to mesh it (:mod:`geometries.mesher` does that with pygmsh). It is read from a TOML file
(:meth:`DeviceDescription.from_toml`) or made by a template (:mod:`geometries.linear_array`),
and validated when it is made: every error names the field, the value and what is allowed,
before anything is meshed.

Coordinates: x along the array of gates, y across it, z up the growth direction. ``z = 0``
is set by ``[origin]`` (the bottom, middle or top of one layer).

TOML form::

    name = "my_double_dot"
    domain_nm = [-135.0, 135.0, -100.0, 100.0]    # x0, x1, y0, y1 of the simulated region

    [origin]
    layer = "well"             # z = 0 at the middle of the well
    at = "middle"              # "bottom", "middle" or "top"

    [[layers]]                 # bottom up
    name = "buffer"
    material = "SiGe"          # a name of femvalley.materials.MATERIALS
    thickness_nm = 50.0
    ...

    [[gates]]
    name = "P5"
    layer = "finger_layer"     # the gate fills this layer's thickness (or give z_nm = [z0, z1])
    rectangle_nm = [-75.0, -45.0, -45.0, 45.0]   # x0, x1, y0, y1 (or polygon_nm = [[x, y], ...])
    work_function_offset_V = 0.0

    [quantum]
    layers = ["well"]          # the quantum region: these layers ...
    margin_nm = 6.0            # ... and this much of their neighbours, below and above

    [[dots]]                   # dot regions (top view); the quantum region is their union
    name = "dot_L"
    plunger = "P5"
    rectangle_nm = [-105.0, 0.0, -40.0, 40.0]

    [mesh]
    quantum_nm = 2.0           # in the quantum region
    near_gates_nm = 10.0       # from the quantum region up to the gates, under the gates
    far_nm = 25.0              # elsewhere
    kp_nm = 2.5                # structured k.p grid of the quantum region: in-plane step
    kp_vertical_nm = 0.5       # and vertical step inside the quantum layers

    [symmetry]
    mirror_x = true            # exactly mirror-symmetric mesh in x = 0 (checked)

    [reference_biases_V]       # every gate
    P5 = 2.5
    ...

Gates are metal: their volumes are cut out of the layers they sit in, and their whole surface
is a boundary of the mesh (Dirichlet data of the electrostatics).

Units: nm, V.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from femvalley.config.checks import check_number

__all__ = [
    "DeviceDescription",
    "DotRegion",
    "Gate",
    "Layer",
    "MESH_PARAMETERS",
    "MeshSizes",
    "Step",
    "ORIGIN_AT",
]

#: the mesh sizes of a template's (or a study's) parameters -> fields of [mesh]
MESH_PARAMETERS = {
    "mesh_size_nm": "far_nm",
    "device_mesh_size_nm": "near_gates_nm",
    "quantum_mesh_size_nm": "quantum_nm",
    "kp_mesh_size_nm": "kp_nm",
    "kp_vertical_mesh_size_nm": "kp_vertical_nm",
}

#: where ``z = 0`` may be put in the origin layer
ORIGIN_AT = ("bottom", "middle", "top")

Polygon = tuple[tuple[float, float], ...]


def _number(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    v = check_number(name, value, positive=positive)  # a finite number, named in errors
    if nonnegative and v < 0:
        raise ValueError(f"{name} = {value!r} must be >= 0")
    return v


def _name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value or not value.replace("_", "").isalnum():
        raise ValueError(f"{where} = {value!r} must be a non-empty name of letters, digits and '_'")
    return value


def _interval(name: str, value: Any, ends: tuple[str, str]) -> tuple[float, float]:
    """Return a pair [a, b] of numbers with b > a (``ends`` names them in messages)."""
    lo, hi = ends
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} = {value!r} must be [{lo}, {hi}] in nm")
    a, b = (_number(f"{name}[{i}]", v) for i, v in enumerate(value))
    if not b > a:
        raise ValueError(f"{name} = {list(value)!r} must have {hi} > {lo}")
    return a, b


def _rectangle(name: str, value: Any) -> tuple[float, float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ValueError(f"{name} = {value!r} must be [x0, x1, y0, y1] in nm")
    x0, x1, y0, y1 = (_number(f"{name}[{i}]", v) for i, v in enumerate(value))
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"{name} = {list(value)!r} must have x1 > x0 and y1 > y0")
    return x0, x1, y0, y1


def _rectangle_polygon(r: tuple[float, float, float, float]) -> Polygon:
    x0, x1, y0, y1 = r
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _polygon(name: str, value: Any) -> Polygon:
    """A simple polygon of at least 3 vertices (counter-clockwise on return), checked."""
    import shapely

    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise ValueError(f"{name} = {value!r} must be a list of at least 3 [x, y] vertices (nm)")
    pts: list[tuple[float, float]] = []
    for i, p in enumerate(value):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"{name}[{i}] = {p!r} must be a vertex [x, y] in nm")
        pts.append((_number(f"{name}[{i}][0]", p[0]), _number(f"{name}[{i}][1]", p[1])))
    if len(set(pts)) != len(pts):
        raise ValueError(f"{name}: a vertex is repeated; give each corner once (not closed)")
    poly = shapely.Polygon(pts)
    if not poly.is_valid:
        reason = shapely.is_valid_reason(poly)
        raise ValueError(f"{name} is not a simple polygon ({reason}): edges must not cross")
    if not poly.area > 0:
        raise ValueError(f"{name} has zero area")
    if not poly.exterior.is_ccw:
        pts = pts[::-1]
    return tuple(pts)


@dataclass(frozen=True, kw_only=True)
class Step:
    """A terrace of a layer's top surface: raised by ``dz_nm`` (lowered if negative) over
    ``x_nm = (x0, x1)``, across the whole domain in y. The layer above follows it."""

    x_nm: tuple[float, float]
    dz_nm: float


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer of the stack: a name, a material, a thickness (nm) and, optionally, a
    stepped top surface (terraces in x, e.g. a Si/SiO2 interface with atomic steps)."""

    name: str
    material: str
    thickness_nm: float
    top_steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        from femvalley.materials import MATERIALS

        _name("layers.name", self.name)
        where = f"layers.{self.name}"
        if self.material not in MATERIALS:
            raise ValueError(
                f"{where}.material = {self.material!r} is not known; allowed: {sorted(MATERIALS)}"
            )
        _number(f"{where}.thickness_nm", self.thickness_nm, positive=True)
        steps = []
        for i, s in enumerate(self.top_steps):
            at = f"{where}.top_steps[{i}]"
            if not isinstance(s, Step):
                raise ValueError(f"{at} must be a table {{x_nm = [x0, x1], dz_nm = dz}}")
            x = _interval(f"{at}.x_nm", s.x_nm, ("x0", "x1"))
            steps.append(Step(x_nm=x, dz_nm=_number(f"{at}.dz_nm", s.dz_nm)))
        steps.sort(key=lambda s: s.x_nm)
        for a, b in zip(steps[:-1], steps[1:]):
            if b.x_nm[0] < a.x_nm[1] - 1e-9:
                raise ValueError(
                    f"{where}.top_steps: the terraces x_nm = {list(a.x_nm)} and {list(b.x_nm)} "
                    "overlap"
                )
        object.__setattr__(self, "top_steps", tuple(steps))

    def top_shift_nm(self, x: float) -> float:
        """How far the top surface is raised at ``x`` (nm; 0 off the terraces)."""
        for s in self.top_steps:
            if s.x_nm[0] <= x <= s.x_nm[1]:
                return s.dz_nm
        return 0.0


@dataclass(frozen=True, kw_only=True)
class Gate:
    """A metal gate: a top-view outline extruded over a z range (nm)."""

    name: str
    #: vertices (x, y) of the outline, counter-clockwise, nm
    polygon_nm: Polygon
    #: the layer the gate fills (its z range), or None when ``z_nm`` is given
    layer: str | None = None
    #: (z_bottom, z_top) in nm; default: the layer's
    z_nm: tuple[float, float] | None = None
    #: subtracted from the gate voltage on its surface (V)
    work_function_offset_V: float = 0.0

    def __post_init__(self) -> None:
        _name("gates.name", self.name)
        where = f"gates.{self.name}"
        object.__setattr__(self, "polygon_nm", _polygon(f"{where}.polygon_nm", self.polygon_nm))
        if self.layer is None and self.z_nm is None:
            raise ValueError(f"{where}: give the layer it sits in, or its z_nm = [z0, z1]")
        if self.z_nm is not None:
            z = _interval(f"{where}.z_nm", self.z_nm, ("z_bottom", "z_top"))
            object.__setattr__(self, "z_nm", z)
        _number(f"{where}.work_function_offset_V", self.work_function_offset_V)

    def outline(self) -> Any:
        """The outline as a shapely polygon."""
        import shapely

        return shapely.Polygon(self.polygon_nm)


@dataclass(frozen=True, kw_only=True)
class DotRegion:
    """A dot region (top view) and the plunger gate over it."""

    name: str
    plunger: str
    #: (x0, x1, y0, y1), nm
    rectangle_nm: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        _name("dots.name", self.name)
        r = _rectangle(f"dots.{self.name}.rectangle_nm", self.rectangle_nm)
        object.__setattr__(self, "rectangle_nm", r)


@dataclass(frozen=True, kw_only=True)
class MeshSizes:
    """Mesh sizes (nm): device mesh (gmsh) and the structured k.p grid of the quantum region."""

    quantum_nm: float = 2.0
    near_gates_nm: float = 10.0
    far_nm: float = 25.0
    kp_nm: float = 2.5
    kp_vertical_nm: float = 0.5

    def __post_init__(self) -> None:
        for f in ("quantum_nm", "near_gates_nm", "far_nm", "kp_nm", "kp_vertical_nm"):
            _number(f"mesh.{f}", getattr(self, f), positive=True)

    @classmethod
    def of(cls, params: Any) -> MeshSizes:
        """Return the sizes of a parameter object with the templates' attribute names
        (:data:`MESH_PARAMETERS`: ``mesh_size_nm``, ``device_mesh_size_nm``, ...)."""
        return cls(**{field: getattr(params, name) for name, field in MESH_PARAMETERS.items()})


@dataclass(frozen=True, kw_only=True)
class DeviceDescription:
    """A gate-defined device (see the module docstring for the TOML form)."""

    name: str
    #: the layers, bottom up
    layers: tuple[Layer, ...]
    gates: tuple[Gate, ...]
    #: (x0, x1, y0, y1) of the simulated region, nm
    domain_nm: tuple[float, float, float, float]
    dots: tuple[DotRegion, ...]
    #: the layers of the quantum region and how far it reaches into their neighbours (nm):
    #: one number for both sides, or (below, above)
    quantum_layers: tuple[str, ...]
    quantum_margin_nm: float | tuple[float, float] = 6.0
    #: (x0, x1, y0, y1) of the structured k.p grid, nm; default: the dot regions' bounding box
    kp_box_nm: tuple[float, float, float, float] | None = None
    #: z = 0 at this point of this layer
    origin_layer: str | None = None
    origin_at: str = "bottom"
    mesh: MeshSizes = field(default_factory=MeshSizes)
    #: mesh the x >= 0 half and reflect it (the description must be mirror symmetric)
    mirror_x: bool = False
    #: bias of every gate at the reference operating point (V)
    reference_biases_V: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _name("name", self.name)
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "gates", tuple(self.gates))
        object.__setattr__(self, "dots", tuple(self.dots))
        object.__setattr__(self, "quantum_layers", tuple(self.quantum_layers))
        object.__setattr__(self, "domain_nm", _rectangle("domain_nm", self.domain_nm))
        if self.kp_box_nm is not None:
            box = _rectangle("quantum.kp_box_nm", self.kp_box_nm)
            object.__setattr__(self, "kp_box_nm", box)
        object.__setattr__(self, "reference_biases_V", dict(self.reference_biases_V))
        self._check_names()
        self._check_stack()
        self._check_gates()
        self._check_dots()
        self._check_biases()
        if self.mirror_x:
            self.mirror_names()  # raises if the description is not mirror symmetric

    # -- validation ------------------------------------------------------------------------
    def _check_names(self) -> None:
        if not self.layers:
            raise ValueError("layers: the stack has no layer")
        if not self.gates:
            raise ValueError("gates: the device has no gate")
        seen: dict[str, str] = {}
        groups = [("layers", x.name) for x in self.layers] + [("gates", g.name) for g in self.gates]
        groups += [("dots", d.name) for d in self.dots]
        for kind, name in groups:
            if name in seen or name == "quantum":
                other = seen.get(name, "a reserved group name")
                raise ValueError(f"{kind}.name = {name!r} is used twice (also in {other})")
            seen[name] = kind

    def _check_stack(self) -> None:
        layers = [x.name for x in self.layers]
        if self.origin_layer is not None and self.origin_layer not in layers:
            raise ValueError(
                f"origin.layer = {self.origin_layer!r} is not a layer; layers: {layers}"
            )
        if self.origin_at not in ORIGIN_AT:
            raise ValueError(f"origin.at = {self.origin_at!r}; allowed: {list(ORIGIN_AT)}")
        if not self.quantum_layers:
            raise ValueError("quantum.layers is empty: name the layers of the quantum region")
        for q in self.quantum_layers:
            if q not in layers:
                raise ValueError(f"quantum.layers: {q!r} is not a layer; layers: {layers}")
        idx = sorted(layers.index(q) for q in self.quantum_layers)
        if idx != list(range(idx[0], idx[-1] + 1)):
            raise ValueError(f"quantum.layers = {list(self.quantum_layers)} must be adjacent")
        self._check_steps()
        margins = self.quantum_margins_nm
        sections = self.sections_nm()
        for side, j, m in zip(("below", "above"), (idx[0] - 1, idx[-1] + 1), margins):
            if m > 0 and not 0 <= j < len(layers):
                raise ValueError(
                    f"quantum.margin_nm = {m} ({side}): there is no layer {side} the quantum layers"
                )
            if 0 <= j < len(layers):
                thinnest = min(b[layers[j]][1] - b[layers[j]][0] for _, _, b in sections)
                if not m < thinnest:
                    raise ValueError(
                        f"quantum.margin_nm = {m} ({side}) must be < the thickness of "
                        f"{layers[j]!r} ({thinnest:g} nm, {side} the quantum layers)"
                    )

    def _check_steps(self) -> None:
        x0, x1, _, _ = self.domain_nm
        for i, layer in enumerate(self.layers):
            for k, s in enumerate(layer.top_steps):
                where = f"layers.{layer.name}.top_steps[{k}]"
                if i == len(self.layers) - 1:
                    raise ValueError(
                        f"{where}: the top layer ends the stack; only a layer with a layer "
                        "above it can have a stepped top"
                    )
                if s.x_nm[0] < x0 - 1e-9 or s.x_nm[1] > x1 + 1e-9:
                    raise ValueError(
                        f"{where}.x_nm = {list(s.x_nm)} leaves the domain's x range "
                        f"[{x0:g}, {x1:g}]"
                    )
        for a, b, bounds in self.sections_nm():
            for name, (z0, z1) in bounds.items():
                if not z1 - z0 > 1e-9:
                    raise ValueError(
                        f"layers.{name}: {z1 - z0:g} nm thick over x in [{a:g}, {b:g}] with the "
                        "top_steps of it and of the layer below; it must stay > 0"
                    )

    def _check_gates(self) -> None:
        import shapely

        layers = self.layer_bounds_nm()
        x0, x1, y0, y1 = self.domain_nm
        domain = shapely.box(x0, y0, x1, y1)
        bottom, top = self.stack_z_nm
        q0, q1 = self.quantum_z_nm
        for g in self.gates:
            where = f"gates.{g.name}"
            if g.layer is not None and g.layer not in layers:
                raise ValueError(
                    f"{where}.layer = {g.layer!r} is not a layer; layers: {list(layers)}"
                )
            z0, z1 = self.gate_z_nm(g)
            if z0 < bottom - 1e-9 or z1 > top + 1e-9:
                raise ValueError(
                    f"{where}: z range [{z0:g}, {z1:g}] nm leaves the stack [{bottom:g}, {top:g}]"
                )
            if z0 < q1 and z1 > q0:
                raise ValueError(
                    f"{where}: z range [{z0:g}, {z1:g}] nm cuts the quantum region "
                    f"[{q0:g}, {q1:g}] nm"
                )
            for layer in self.layers:
                if layer.top_steps:
                    tops = [b[layer.name][1] for _, _, b in self.sections_nm()]
                    if z0 < max(tops) and z1 > min(tops):
                        raise ValueError(
                            f"{where}: z range [{z0:g}, {z1:g}] nm cuts the stepped top of "
                            f"layer {layer.name!r} ({min(tops):g} to {max(tops):g} nm)"
                        )
            if not domain.buffer(1e-9).contains(g.outline()):
                raise ValueError(
                    f"{where}: the outline leaves the domain {list(self.domain_nm)} (x0, x1, "
                    "y0, y1 in nm)"
                )
        for i, a in enumerate(self.gates):
            za = self.gate_z_nm(a)
            for b in self.gates[i + 1 :]:
                zb = self.gate_z_nm(b)
                if za[0] < zb[1] - 1e-9 and zb[0] < za[1] - 1e-9:
                    overlap = a.outline().intersection(b.outline()).area
                    if overlap > 1e-9:
                        raise ValueError(
                            f"gates.{a.name} and gates.{b.name} overlap ({overlap:.4g} nm^2 in "
                            "top view, at the same height): gates must not touch"
                        )

    def _check_dots(self) -> None:
        import shapely

        if not self.dots:
            raise ValueError("dots: give at least one dot region (name, plunger, rectangle_nm)")
        gates = [g.name for g in self.gates]
        x0, x1, y0, y1 = self.domain_nm
        domain = shapely.box(x0, y0, x1, y1).buffer(1e-9)
        for d in self.dots:
            where = f"dots.{d.name}"
            if d.plunger not in gates:
                raise ValueError(f"{where}.plunger = {d.plunger!r} is not a gate; gates: {gates}")
            if not domain.contains(self.dot_box(d)):
                raise ValueError(
                    f"{where}.rectangle_nm = {list(d.rectangle_nm)} leaves the domain "
                    f"{list(self.domain_nm)}: set it inside, or widen domain_nm"
                )
        for i, a in enumerate(self.dots):
            for b in self.dots[i + 1 :]:
                if self.dot_box(a).intersection(self.dot_box(b)).area > 1e-9:
                    raise ValueError(f"dots.{a.name} and dots.{b.name} overlap")
        if self.kp_box_nm is not None:
            bx0, bx1, by0, by1 = self.kp_box_nm
            union = shapely.union_all([self.dot_box(d) for d in self.dots])
            if not union.buffer(1e-9).contains(shapely.box(bx0, by0, bx1, by1)):
                raise ValueError(
                    f"quantum.kp_box_nm = {list(self.kp_box_nm)} must lie inside the dot "
                    "regions (their union covers the structured k.p grid)"
                )

    def _check_biases(self) -> None:
        gates = [g.name for g in self.gates]
        unknown = sorted(set(self.reference_biases_V) - set(gates))
        if unknown:
            raise ValueError(f"reference_biases_V: {unknown} are not gates; gates: {gates}")
        missing = [g for g in gates if g not in self.reference_biases_V]
        if missing:
            raise ValueError(f"reference_biases_V: no bias for gate(s) {missing}")
        for g, v in self.reference_biases_V.items():
            _number(f"reference_biases_V.{g}", v)

    # -- derived geometry ------------------------------------------------------------------
    @property
    def gate_names(self) -> tuple[str, ...]:
        """The gates, in the order of the description."""
        return tuple(g.name for g in self.gates)

    @property
    def plungers(self) -> dict[str, str]:
        """The plunger over each dot region."""
        return {d.name: d.plunger for d in self.dots}

    @property
    def materials(self) -> dict[str, str]:
        """The material of every layer."""
        return {x.name: x.material for x in self.layers}

    def layer_bounds_nm(self) -> dict[str, tuple[float, float]]:
        """(z_bottom, z_top) of every layer, nm."""
        z = -self._origin_offset()
        out = {}
        for x in self.layers:
            out[x.name] = (z, z + x.thickness_nm)
            z += x.thickness_nm
        return out

    def _origin_offset(self) -> float:
        if self.origin_layer is None:
            return 0.0
        z = 0.0
        for x in self.layers:
            if x.name == self.origin_layer:
                return (
                    z + {"bottom": 0.0, "middle": 0.5, "top": 1.0}[self.origin_at] * x.thickness_nm
                )
            z += x.thickness_nm
        raise AssertionError("origin layer checked")

    def layer_bounds_at(self, x: float) -> dict[str, tuple[float, float]]:
        """(z_bottom, z_top) of every layer at ``x`` (with the terraces of ``top_steps``), nm."""
        nominal = self.layer_bounds_nm()
        out = {}
        shift_below = 0.0
        for layer in self.layers:
            z0, z1 = nominal[layer.name]
            shift = layer.top_shift_nm(x)
            out[layer.name] = (z0 + shift_below, z1 + shift)
            shift_below = shift
        return out

    def sections_nm(self) -> list[tuple[float, float, dict[str, tuple[float, float]]]]:
        """The x intervals ``(x0, x1, bounds)`` over which no layer boundary steps, with the
        (z_bottom, z_top) of every layer on each: one interval, the whole domain, when no
        layer has ``top_steps``."""
        x0, x1, _, _ = self.domain_nm
        cuts = {x0, x1}
        for layer in self.layers:
            for s in layer.top_steps:
                cuts.update(v for v in s.x_nm if x0 < v < x1)
        xs = sorted(cuts)
        return [(a, b, self.layer_bounds_at(0.5 * (a + b))) for a, b in zip(xs[:-1], xs[1:])]

    @property
    def quantum_margins_nm(self) -> tuple[float, float]:
        """How far the quantum region reaches below and above its layers, nm."""
        m = self.quantum_margin_nm
        if isinstance(m, (list, tuple)):
            if len(m) != 2:
                raise ValueError(
                    f"quantum.margin_nm = {list(m)!r} must be one number or [below, above] in nm"
                )
            return (
                _number("quantum.margin_nm[0]", m[0], nonnegative=True),
                _number("quantum.margin_nm[1]", m[1], nonnegative=True),
            )
        v = _number("quantum.margin_nm", m, nonnegative=True)
        return v, v

    def quantum_z_at(self, x: float) -> tuple[float, float]:
        """(z_bottom, z_top) of the quantum region at ``x``, nm."""
        b = self.layer_bounds_at(x)
        below, above = self.quantum_margins_nm
        lo = min(b[q][0] for q in self.quantum_layers)
        hi = max(b[q][1] for q in self.quantum_layers)
        return lo - below, hi + above

    @property
    def stack_z_nm(self) -> tuple[float, float]:
        """(z_bottom, z_top) of the whole stack, nm."""
        b = self.layer_bounds_nm()
        return b[self.layers[0].name][0], b[self.layers[-1].name][1]

    @property
    def quantum_z_nm(self) -> tuple[float, float]:
        """(z_bottom, z_top) of the quantum region, its layers and the margins (the lowest
        bottom and highest top over the terraces when the layers are stepped), nm."""
        zs = [self.quantum_z_at(0.5 * (a + b)) for a, b, _ in self.sections_nm()]
        return min(z[0] for z in zs), max(z[1] for z in zs)

    @property
    def plane_z_nm(self) -> float:
        """Height of the in-plane cut for top views and 2-D samples: the middle of the quantum
        layers, nm."""
        b = self.layer_bounds_nm()
        lo = min(b[q][0] for q in self.quantum_layers)
        hi = max(b[q][1] for q in self.quantum_layers)
        return 0.5 * (lo + hi)

    def gate_z_nm(self, gate: Gate) -> tuple[float, float]:
        """(z_bottom, z_top) of a gate, nm."""
        if gate.z_nm is not None:
            return gate.z_nm
        assert gate.layer is not None
        return self.layer_bounds_nm()[gate.layer]

    def dot_box(self, dot: DotRegion) -> Any:
        """The top view of a dot region as a shapely box."""
        import shapely

        x0, x1, y0, y1 = dot.rectangle_nm
        return shapely.box(x0, y0, x1, y1)

    def gate_outlines_nm(self) -> dict[str, tuple[float, float, float, float]]:
        """Bounding rectangle (x0, x1, y0, y1) of every gate's outline, for plots."""
        out = {}
        for g in self.gates:
            xs = [p[0] for p in g.polygon_nm]
            ys = [p[1] for p in g.polygon_nm]
            out[g.name] = (min(xs), max(xs), min(ys), max(ys))
        return out

    def mirror_names(self) -> dict[str, str]:
        """The name of the mirror image (in x = 0) of every gate and dot region.

        Raises ``ValueError`` naming the first gate or dot region without a mirror image
        (``symmetry.mirror_x`` needs a symmetric description).
        """
        import shapely
        from shapely import affinity

        out: dict[str, str] = {}
        for kind, items in (
            ("gates", [(g.name, g.outline(), self.gate_z_nm(g)) for g in self.gates]),
            ("dots", [(d.name, self.dot_box(d), (0.0, 0.0)) for d in self.dots]),
        ):
            for name, shape, z in items:
                image = affinity.scale(shape, xfact=-1.0, yfact=1.0, origin=(0.0, 0.0))
                match = [
                    other
                    for other, s, zo in items
                    if zo == z and shapely.symmetric_difference(image, s).area < 1e-6
                ]
                if not match:
                    raise ValueError(
                        f"symmetry.mirror_x = true, but {kind}.{name} has no mirror image in "
                        "x = 0: make the description symmetric, or set mirror_x = false"
                    )
                out[name] = match[0]
        for what, (a, b) in (
            ("domain_nm", self.domain_nm[:2]),
            ("quantum.kp_box_nm", (self.kp_box_nm or (0.0, 0.0))[:2]),
        ):
            if abs(a + b) > 1e-9:
                raise ValueError(
                    f"symmetry.mirror_x = true, but {what} x range [{a:g}, {b:g}] is not "
                    "centred on x = 0"
                )
        for layer in self.layers:
            steps = {(round(s.x_nm[0], 9), round(s.x_nm[1], 9), s.dz_nm) for s in layer.top_steps}
            images = {(-x1 + 0.0, -x0 + 0.0, dz) for x0, x1, dz in steps}
            if steps != images:
                raise ValueError(
                    f"symmetry.mirror_x = true, but layers.{layer.name}.top_steps are not "
                    "mirror symmetric in x = 0: set mirror_x = false"
                )
        return out

    # -- I/O -------------------------------------------------------------------------------
    def _margin_entry(self) -> float | list[float]:
        below, above = self.quantum_margins_nm
        return below if below == above else [below, above]

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None
    ) -> DeviceDescription:
        """Build from the tables of a description file (see the module docstring).

        A ``[gds]`` table takes gates from a GDS layout (:mod:`geometries.gds`; its file is
        relative to ``base_dir``, the description file's directory).
        """
        allowed = {
            "gds",
            "name",
            "layers",
            "gates",
            "domain_nm",
            "dots",
            "quantum",
            "origin",
            "mesh",
            "symmetry",
            "reference_biases_V",
            "description",
        }
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        for key in ("name", "layers", "domain_nm", "dots", "quantum"):
            if key not in data:
                raise ValueError(f"{key!r} is missing from the description")
        if "gates" not in data and "gds" not in data:
            raise ValueError("'gates' is missing from the description (or a [gds] layout)")
        gates = [_gate(i, g) for i, g in enumerate(_list(data, "gates"))] if "gates" in data else []
        if "gds" in data:
            from geometries.gds import gates_from_gds

            gates += gates_from_gds(_table(data, "gds", None), base_dir=base_dir)
        quantum = _table(data, "quantum", {"layers", "margin_nm", "kp_box_nm"})
        origin = _table(data, "origin", {"layer", "at"})
        symmetry = _table(data, "symmetry", {"mirror_x"})
        mirror = symmetry.get("mirror_x", False)
        if not isinstance(mirror, bool):
            raise ValueError(f"symmetry.mirror_x = {mirror!r} must be true or false")
        try:
            mesh = MeshSizes(**_table(data, "mesh", {f for f in MeshSizes.__dataclass_fields__}))
        except TypeError as err:
            raise ValueError(f"mesh: {err}") from err
        layers = quantum.get("layers")
        if not isinstance(layers, list) or not all(isinstance(q, str) for q in layers):
            raise ValueError(f"quantum.layers = {layers!r} must be a list of layer names")
        return cls(
            name=data["name"],
            layers=tuple(_layer(i, x) for i, x in enumerate(_list(data, "layers"))),
            gates=tuple(gates),
            domain_nm=data["domain_nm"],
            dots=tuple(_dot(i, d) for i, d in enumerate(_list(data, "dots"))),
            quantum_layers=tuple(layers),
            quantum_margin_nm=_margin(quantum.get("margin_nm", 6.0)),
            kp_box_nm=quantum.get("kp_box_nm"),
            origin_layer=origin.get("layer"),
            origin_at=origin.get("at", "bottom"),
            mesh=mesh,
            mirror_x=mirror,
            reference_biases_V=_table(data, "reference_biases_V", None),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> DeviceDescription:
        """Read a description file; errors name the file and the field."""
        from femvalley.io.toml import read_toml

        data = read_toml(path, what="device description")
        try:
            return cls.from_dict(data, base_dir=Path(path).parent)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Return the tables of the description file (:meth:`from_dict` reads them back)."""
        out: dict[str, Any] = {
            "name": self.name,
            "domain_nm": list(self.domain_nm),
            "symmetry": {"mirror_x": self.mirror_x},
            "quantum": {"layers": list(self.quantum_layers), "margin_nm": self._margin_entry()},
            "mesh": {f: getattr(self.mesh, f) for f in MeshSizes.__dataclass_fields__},
            "layers": [],
            "gates": [],
            "dots": [
                {"name": d.name, "plunger": d.plunger, "rectangle_nm": list(d.rectangle_nm)}
                for d in self.dots
            ],
            "reference_biases_V": dict(self.reference_biases_V),
        }
        if self.kp_box_nm is not None:
            out["quantum"]["kp_box_nm"] = list(self.kp_box_nm)
        for x in self.layers:
            layer: dict[str, Any] = {
                "name": x.name,
                "material": x.material,
                "thickness_nm": x.thickness_nm,
            }
            if x.top_steps:
                layer["top_steps"] = [{"x_nm": list(s.x_nm), "dz_nm": s.dz_nm} for s in x.top_steps]
            out["layers"].append(layer)
        if self.origin_layer is not None:
            out["origin"] = {"layer": self.origin_layer, "at": self.origin_at}
        for g in self.gates:
            entry: dict[str, Any] = {
                "name": g.name,
                "polygon_nm": [list(p) for p in g.polygon_nm],
                "work_function_offset_V": g.work_function_offset_V,
            }
            if g.layer is not None:
                entry["layer"] = g.layer
            if g.z_nm is not None:
                entry["z_nm"] = list(g.z_nm)
            out["gates"].append(entry)
        return out


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ValueError(f"{key} must be a list of tables ([[{key}]] in TOML)")
    return value


def _table(data: Mapping[str, Any], key: str, allowed: set[str] | None) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a table ([{key}] in TOML)")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(f"{key}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return dict(value)


def _keys(where: str, entry: Mapping[str, Any], allowed: set[str], required: Sequence[str]) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    for key in required:
        if key not in entry:
            raise ValueError(f"{where}: {key!r} is missing")


def _layer(i: int, entry: Mapping[str, Any]) -> Layer:
    where = f"layers[{i}]" if "name" not in entry else f"layers.{entry['name']}"
    _keys(
        where,
        entry,
        {"name", "material", "thickness_nm", "top_steps"},
        ("name", "material", "thickness_nm"),
    )
    steps = entry.get("top_steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, Mapping) for s in steps):
        raise ValueError(
            f"{where}.top_steps must be a list of tables {{x_nm = [x0, x1], dz_nm = dz}}"
        )
    for k, s in enumerate(steps):
        _keys(f"{where}.top_steps[{k}]", s, {"x_nm", "dz_nm"}, ("x_nm", "dz_nm"))
    return Layer(
        name=entry["name"],
        material=entry["material"],
        thickness_nm=entry["thickness_nm"],
        top_steps=tuple(Step(x_nm=s["x_nm"], dz_nm=s["dz_nm"]) for s in steps),
    )


def _margin(value: Any) -> Any:
    """A margin as read from TOML: a number, or a list [below, above] made a tuple."""
    return tuple(value) if isinstance(value, list) else value


def _gate(i: int, entry: Mapping[str, Any]) -> Gate:
    where = f"gates[{i}]" if "name" not in entry else f"gates.{entry['name']}"
    allowed = {"name", "layer", "z_nm", "rectangle_nm", "polygon_nm", "work_function_offset_V"}
    _keys(where, entry, allowed, ("name",))
    if ("rectangle_nm" in entry) == ("polygon_nm" in entry):
        raise ValueError(f"{where}: give its outline as rectangle_nm or polygon_nm (one of them)")
    outline = (
        _rectangle_polygon(_rectangle(f"{where}.rectangle_nm", entry["rectangle_nm"]))
        if "rectangle_nm" in entry
        else entry["polygon_nm"]
    )
    return Gate(
        name=entry["name"],
        polygon_nm=outline,
        layer=entry.get("layer"),
        z_nm=entry.get("z_nm"),
        work_function_offset_V=entry.get("work_function_offset_V", 0.0),
    )


def _dot(i: int, entry: Mapping[str, Any]) -> DotRegion:
    where = f"dots[{i}]" if "name" not in entry else f"dots.{entry['name']}"
    _keys(where, entry, {"name", "plunger", "rectangle_nm"}, ("name", "plunger", "rectangle_nm"))
    return DotRegion(
        name=entry["name"], plunger=entry["plunger"], rectangle_nm=entry["rectangle_nm"]
    )
