"""One interface to every device: a builder module or a description file, resolved with its
parameters.

:func:`resolve_device` turns a device name and parameter overrides into a :class:`Device`:
its gates, the material of every volume group, the plunger over each dot region, the
reference biases, its parameter object (mesh sizes as ``*_mesh_size_nm`` attributes) and the
builders of its meshes. The name is one of

- :data:`geometries.DEVICES`: a builder module (``tunnel_falls``, ``five_gate_dqd``);
- a shipped description (:func:`geometries.catalog.shipped_devices`, e.g. ``triple_dot``);
- the path of a description file (``*.toml``, relative to the working directory).

A template description takes the template's parameters as overrides; an explicit one takes
its mesh sizes under the names the builder modules use (:data:`EXPLICIT_MESH_PARAMETERS`).

Units: nm, V.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from geometries import DEVICES, get_device
from geometries.catalog import (
    TEMPLATES,
    dataclass_params,
    description_path,
    load_description,
    load_with_params,
    shipped_devices,
)
from geometries.description import DeviceDescription, MeshSizes

__all__ = ["EXPLICIT_MESH_PARAMETERS", "Device", "ExplicitMeshParams", "resolve_device"]

#: device parameter -> field of the description's [mesh] table, for explicit descriptions
EXPLICIT_MESH_PARAMETERS = {
    "mesh_size_nm": "far_nm",
    "device_mesh_size_nm": "near_gates_nm",
    "quantum_mesh_size_nm": "quantum_nm",
    "kp_mesh_size_nm": "kp_nm",
    "kp_vertical_mesh_size_nm": "kp_vertical_nm",
}


@dataclass(frozen=True, kw_only=True)
class ExplicitMeshParams:
    """The parameters of an explicit description: its mesh sizes (nm)."""

    # (the defaults are those of an empty [mesh] table; a file's own sizes replace them)
    mesh_size_nm: float = 25.0
    device_mesh_size_nm: float = 10.0
    quantum_mesh_size_nm: float = 2.0
    kp_mesh_size_nm: float = 2.5
    kp_vertical_mesh_size_nm: float = 0.5

    def mesh(self) -> MeshSizes:
        """The [mesh] table of these sizes."""
        return MeshSizes(**{v: getattr(self, k) for k, v in EXPLICIT_MESH_PARAMETERS.items()})


@dataclass(frozen=True, eq=False)
class Device:
    """A device with its parameters resolved (see the module docstring)."""

    name: str
    gates: tuple[str, ...]
    #: material of every volume group (names of femvalley.materials.MATERIALS)
    materials: Mapping[str, str]
    #: the plunger over each dot region
    plungers: Mapping[str, str]
    reference_biases_V: Mapping[str, float]
    #: the parameter dataclass (mesh sizes as ``*_mesh_size_nm`` attributes)
    params: Any
    #: the builder module, or None for a description
    module: ModuleType | None = None
    #: the description, or None for a builder module
    description: DeviceDescription | None = None

    @property
    def has_structured_mesh(self) -> bool:
        """Whether the device has a structured k.p mesh of its quantum region."""
        if self.module is not None:
            return hasattr(self.module, "build_quantum")
        return True

    def build(self) -> Any:
        """The labelled 3-D device mesh (meshio, nm)."""
        if self.module is not None:
            return self.module.build(self.params)
        from geometries.mesher import build

        assert self.description is not None
        return build(self.description)

    def build_plane(self) -> Any:
        """The 2-D mesh of the dot regions (meshio, nm)."""
        if self.module is not None:
            return self.module.build_plane(self.params)
        from geometries.mesher import build_plane

        assert self.description is not None
        return build_plane(self.description)

    def build_quantum(self) -> Any:
        """The structured k.p mesh of the quantum region (meshio, nm)."""
        if self.module is not None:
            if not self.has_structured_mesh:
                raise ValueError(f"device {self.name!r} has no structured k.p mesh")
            return self.module.build_quantum(self.params)
        from geometries.mesher import build_quantum

        assert self.description is not None
        return build_quantum(self.description)

    @property
    def plane_z_nm(self) -> float:
        """Height of the in-plane cut for top views and 2-D samples (nm)."""
        if self.description is not None:
            return self.description.plane_z_nm
        return float(self.params.plane_z_nm)

    def gate_outlines_nm(self) -> dict[str, tuple[float, float, float, float]]:
        """Top-view bounding rectangle (x0, x1, y0, y1) of every gate, for plots."""
        if self.description is not None:
            return self.description.gate_outlines_nm()
        return dict(self.params.gate_outlines_nm())

    def vertex_estimate(self) -> dict[str, int]:
        """Mesh sizes without meshing (``structured_kp``, ``plane``, ``columns_z``,
        ``device_quantum``, ``device``), for memory and time estimates."""
        if self.description is None:
            return dict(self.params.vertex_estimate())
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
    if name in DEVICES:
        module = get_device(name)
        _check_overrides(module.Params, params, check)
        return Device(
            name=name,
            gates=tuple(module.GATES),
            materials=dict(module.MATERIALS),
            plungers=dict(module.PLUNGERS),
            reference_biases_V=dict(module.REFERENCE_BIASES_V),
            params=_module_params(module, name, params),
            module=module,
        )
    path = Path(name) if isinstance(name, str) else Path()
    if path.suffix != ".toml" and name not in shipped_devices():
        raise ValueError(
            f"device.name = {name!r} is not known; allowed: a builder {list(DEVICES)}, a shipped "
            f"description {shipped_devices()}, or the path of a description file (*.toml)"
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


def _module_params(module: ModuleType, name: str, params: Mapping[str, Any]) -> Any:
    return dataclass_params(
        module.Params, params, where="device.params", owner=f"for device {name!r}"
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
    """Exact counts of the structured k.p grid; the device mesh roughly (calibrated on the
    Tunnel Falls-like device at its default sizes: 50,064 vertices, 33,502 in the quantum
    region, scaled with the volumes and sizes)."""
    from geometries import _grid
    from geometries.mesher import kp_axes

    x, y, z = kp_axes(desc)  # cheap: three 1-D arrays
    x0, x1, y0, y1 = x[0], x[-1], y[0], y[-1]
    m = desc.mesh
    qz0, qz1 = desc.quantum_z_nm
    mirrored = desc.mirror_x and abs(x0) < 1e-9
    nx = 2 * x.size - 1 if mirrored else x.size  # the reflection shares the plane x = 0
    volume = (x1 - x0) * (y1 - y0) * (qz1 - qz0) * (2 if mirrored else 1)
    quantum = 0.96 * volume / m.quantum_nm**3
    x0d, x1d, y0d, y1d = desc.domain_nm
    area = (x1d - x0d) * (y1d - y0d) / (270.0 * 200.0)  # relative to the Tunnel Falls domain
    rest = 16562 * area * (10.0 / m.near_gates_nm) ** 2 * (25.0 / m.far_nm)
    return _grid.vertex_counts(
        nx, y.size, z.size, device_quantum=quantum, device_rest=math.ceil(rest)
    )
