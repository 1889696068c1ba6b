"""The shipped device descriptions and the templates, by name or file.

A description file is either explicit (layers, gates, dots; see
:mod:`geometries.description`) or names a template and its parameters::

    template = "linear_array"      # a name of TEMPLATES
    [params]                       # fields of the template's parameter class
    n_dots = 3
    finger_pitch_nm = 50.0

:func:`load_description` reads either (a shipped name from :func:`shipped_devices`, or a
path), with parameter overrides (``{"finger_pitch_nm": 50.0}``) for templates.

Units: nm, V.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from geometries.description import DeviceDescription
from geometries.five_gate import FiveGateParams
from geometries.linear_array import LinearArrayParams

__all__ = [
    "DEVICE_DIR",
    "TEMPLATES",
    "TemplateParams",
    "TemplateParams",
    "dataclass_params",
    "description_path",
    "load_description",
    "load_with_params",
    "shipped_devices",
    "template_params",
]

#: where the shipped description files are
DEVICE_DIR = Path(__file__).with_name("devices")


class TemplateParams(Protocol):
    """The parameters of a template: a frozen dataclass that makes its description."""

    def description(self) -> DeviceDescription:
        """The device description of these parameters."""
        ...


#: templates by name: their parameter classes (with a ``description()`` method)
TEMPLATES: dict[str, type[Any]] = {"linear_array": LinearArrayParams, "five_gate": FiveGateParams}


def shipped_devices() -> list[str]:
    """Names of the description files shipped with the package."""
    return sorted(p.stem for p in DEVICE_DIR.glob("*.toml"))


def template_params(
    template: str, params: Mapping[str, Any], *, where: str = "params"
) -> TemplateParams:
    """Return the parameters of ``template`` with ``params`` set (checked by name)."""
    if template not in TEMPLATES:
        raise ValueError(f"template = {template!r} is not known; allowed: {sorted(TEMPLATES)}")
    return dataclass_params(
        TEMPLATES[template], params, where=where, owner=f"of template {template!r}"
    )


def dataclass_params(cls: type[Any], params: Mapping[str, Any], *, where: str, owner: str) -> Any:
    """Build the parameter dataclass ``cls`` from ``params``, checked by name.

    Lists become tuples (TOML has no tuples). An unknown field, or an error of the class's
    own checks, raises ``ValueError`` prefixed with ``where`` (``unknown field(s) [...]
    {owner}; allowed: [...]``).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} {owner}; allowed: {sorted(names)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from err


def description_path(device: str | Path) -> Path:
    """The file of a device description: a shipped name, or the path itself (``*.toml``)."""
    path = Path(device)
    if path.suffix == ".toml":
        return path
    if str(device) not in shipped_devices():
        raise ValueError(
            f"device = {str(device)!r} is neither a .toml file nor a shipped device; "
            f"shipped: {shipped_devices()}"
        )
    return DEVICE_DIR / f"{device}.toml"


def load_description(
    device: str | Path, params: Mapping[str, Any] | None = None
) -> DeviceDescription:
    """Read a device description: a shipped name (:func:`shipped_devices`) or a TOML path.

    ``params`` override the template parameters of a template file (an explicit description
    takes none).
    """
    return load_with_params(device, params)[0]


def load_with_params(
    device: str | Path, params: Mapping[str, Any] | None = None, *, where: str = "params"
) -> tuple[DeviceDescription, TemplateParams | None]:
    """Like :func:`load_description`; also return the template parameters (None if explicit).

    ``where`` names the overrides in messages (``"device.params"`` for a study's).
    """
    from femvalley.io.toml import read_toml

    path = description_path(device)
    data = read_toml(path, what="device description")
    try:
        if "template" in data:
            unknown = sorted(set(data) - {"template", "params"})
            if unknown:
                raise ValueError(
                    f"unknown key(s) {unknown} next to template; allowed: template, params"
                )
            merged = {**data.get("params", {}), **(params or {})}
            p = template_params(data["template"], merged, where=where)
            return p.description(), p
        if params:
            raise ValueError(
                f"params {sorted(params)} given, but the description is explicit (no template)"
            )
        return DeviceDescription.from_dict(data, base_dir=path.parent), None
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
