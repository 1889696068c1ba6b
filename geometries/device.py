"""One interface to every device: a description, resolved with its parameters.

:func:`resolve_device` turns a device name and parameter overrides into a :class:`Device`:
its gates, the material of every layer, the plunger over each dot region, the reference
biases, its parameter object (mesh sizes as ``*_mesh_size_nm`` attributes) and the builders
of its meshes. The name is one of

- a shipped description (:func:`geometries.catalog.shipped_devices`: ``tunnel_falls``,
  ``five_gate_dqd``, ``triple_dot``);
- the path of a description file (``*.toml``, relative to the working directory).

A template description takes the template's parameters as overrides; an explicit one takes
its mesh sizes under the names the templates use (:data:`EXPLICIT_MESH_PARAMETERS`).

Units: nm, V.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geometries.catalog import (
    TEMPLATES,
    description_path,
    load_description,
    load_with_params,
    shipped_devices,
)
from geometries.description import MESH_PARAMETERS, DeviceDescription, MeshSizes

__all__ = ["EXPLICIT_MESH_PARAMETERS", "Device", "ExplicitMeshParams", "resolve_device"]

#: device parameter -> field of the description's [mesh] table, for explicit descriptions
EXPLICIT_MESH_PARAMETERS = MESH_PARAMETERS


@dataclass(frozen=True, kw_only=True)
class ExplicitMeshParams:
    """The parameters of an explicit description: its mesh sizes (nm)."""

    # (the defaults are those of an empty [mesh] table; a file's own sizes replace them)
    mesh_size_nm: float = MeshSizes.far_nm
    device_mesh_size_nm: float = MeshSizes.near_gates_nm
    quantum_mesh_size_nm: float = MeshSizes.quantum_nm
    kp_mesh_size_nm: float = MeshSizes.kp_nm
    kp_vertical_mesh_size_nm: float = MeshSizes.kp_vertical_nm

    def mesh(self) -> MeshSizes:
        """The [mesh] table of these sizes."""
        return MeshSizes.of(self)


@dataclass(frozen=True, eq=False)
class Device:
    """A device with its parameters resolved (see the module docstring)."""

    name: str
    gates: tuple[str, ...]
    #: material of every layer (names of femvalley.materials.MATERIALS)
    materials: Mapping[str, str]
    #: the plunger over each dot region
    plungers: Mapping[str, str]
    reference_biases_V: Mapping[str, float]
    #: the parameter dataclass (mesh sizes as ``*_mesh_size_nm`` attributes)
    params: Any
    description: DeviceDescription

    @property
    def has_structured_mesh(self) -> bool:
        """Whether the device has a structured k.p mesh of its quantum region (its dot
        regions tile a rectangle, or ``quantum.kp_box_nm`` is given)."""
        from geometries.mesher import kp_axes

        try:
            kp_axes(self.description)
        except ValueError:
            return False
        return True

    def build(self) -> Any:
        """The labelled 3-D device mesh (meshio, nm)."""
        from geometries.mesher import build

        return build(self.description)

    def build_plane(self) -> Any:
        """The 2-D mesh of the dot regions (meshio, nm)."""
        from geometries.mesher import build_plane

        return build_plane(self.description)

    def build_quantum(self) -> Any:
        """The structured k.p mesh of the quantum region (meshio, nm)."""
        from geometries.mesher import build_quantum

        return build_quantum(self.description)

    @property
    def work_function_offset_V(self) -> dict[str, float]:
        """The work-function offset of every gate (V): ``phi = V_g - offset`` on gate g."""
        return {g.name: g.work_function_offset_V for g in self.description.gates}

    @property
    def plane_z_nm(self) -> float:
        """Height of the in-plane cut for top views and 2-D samples (nm)."""
        return self.description.plane_z_nm

    def gate_outlines_nm(self) -> dict[str, tuple[float, float, float, float]]:
        """Top-view bounding rectangle (x0, x1, y0, y1) of every gate, for plots."""
        return self.description.gate_outlines_nm()

    def vertex_estimate(self) -> dict[str, int]:
        """Mesh sizes without meshing (``structured_kp``, ``plane``, ``columns_z``,
        ``device_quantum``, ``device``), for memory and time estimates."""
        return _description_vertex_estimate(self.description)


def resolve_device(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    check: Callable[[str, Any, Any], Any] | None = None,
) -> Device:
    """Return the device ``name`` with parameter overrides ``params`` (checked by name).

    ``check(field, value, default)``, if given, is called for every override before the
    parameters are built (a type check that names ``device.params.<field>``).
    """
    params = dict(params or {})
    path = Path(name) if isinstance(name, str) else Path()
    if path.suffix != ".toml" and name not in shipped_devices():
        raise ValueError(
            f"device.name = {name!r} is not known; allowed: a shipped description "
            f"{shipped_devices()}, or the path of a description file (*.toml)"
        )
    if path.suffix == ".toml" and not path.is_file():
        raise ValueError(f"device.name = {name!r}: no such description file")
    desc, p = _described(name, params, check)
    return Device(
        name=desc.name,
        gates=desc.gate_names,
        materials=desc.materials,  # the layers: the dot regions overlap them
        plungers=desc.plungers,
        reference_biases_V=dict(desc.reference_biases_V),
        params=p,
        description=desc,
    )


def _check_overrides(
    cls: type, params: Mapping[str, Any], check: Callable[[str, Any, Any], Any] | None
) -> None:
    if check is None:
        return
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for key, value in params.items():
        if key in defaults:
            check(f"device.params.{key}", value, defaults[key])


def _described(
    name: str, params: Mapping[str, Any], check: Callable[[str, Any, Any], Any] | None
) -> tuple[DeviceDescription, Any]:
    """The description of a shipped name or file, and its parameter object."""
    from femvalley.io.toml import read_toml

    template = read_toml(description_path(name), what="device description").get("template")
    if template is not None:
        if template in TEMPLATES:
            _check_overrides(TEMPLATES[template], params, check)
        return load_with_params(name, params, where="device.params")
    _check_overrides(ExplicitMeshParams, params, check)
    base = load_description(name)  # explicit: the overrides are its mesh sizes
    p = _explicit_params(base, params)
    return dataclasses.replace(base, mesh=p.mesh()), p


def _explicit_params(desc: DeviceDescription, params: Mapping[str, Any]) -> ExplicitMeshParams:
    unknown = sorted(set(params) - set(EXPLICIT_MESH_PARAMETERS))
    if unknown:
        raise ValueError(
            f"device.params: unknown field(s) {unknown} for the explicit description "
            f"{desc.name!r}; allowed: {sorted(EXPLICIT_MESH_PARAMETERS)}"
        )
    values = {k: getattr(desc.mesh, v) for k, v in EXPLICIT_MESH_PARAMETERS.items()}
    values.update(params)
    try:
        p = ExplicitMeshParams(**values)
        p.mesh()  # validates the sizes
    except (TypeError, ValueError) as err:
        raise ValueError(f"device.params: {err}") from err
    return p


def _description_vertex_estimate(desc: DeviceDescription) -> dict[str, int]:
    """Exact counts of the structured k.p grid (zero without one); the device mesh roughly
    (calibrated on the Tunnel Falls-like device at its default sizes: 50,064 vertices, 33,502
    in the quantum region, scaled with the volumes and sizes)."""
    from geometries import _grid
    from geometries.mesher import kp_axes

    m = desc.mesh
    try:
        x, y, z = kp_axes(desc)  # cheap: three 1-D arrays
    except ValueError:  # no structured k.p grid: the dot regions do not tile a rectangle
        nx = ny = nz = 0
    else:
        mirrored = desc.mirror_x and abs(x[0]) < 1e-9
        nx = 2 * x.size - 1 if mirrored else x.size  # the reflection shares the plane x = 0
        ny, nz = y.size, z.size
    qz0, qz1 = desc.quantum_z_nm
    volume = sum(desc.dot_box(d).area for d in desc.dots) * (qz1 - qz0)
    quantum = 0.96 * volume / m.quantum_nm**3
    x0d, x1d, y0d, y1d = desc.domain_nm
    area = (x1d - x0d) * (y1d - y0d) / (270.0 * 200.0)  # relative to the Tunnel Falls domain
    rest = 16562 * area * (10.0 / m.near_gates_nm) ** 2 * (25.0 / m.far_nm)
    return _grid.vertex_counts(nx, ny, nz, device_quantum=quantum, device_rest=math.ceil(rest))
