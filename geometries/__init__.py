"""Parametric gate-defined devices: the only place gmsh is imported (the project's layout rule).

Every device module has the same interface: ``Params`` (a frozen dataclass of lengths in nm),
``build(params)`` (labelled 3-D meshio mesh), ``build_plane(params)`` (2-D mesh of the dot
regions), ``GATES``, ``MATERIALS`` (material of every volume group), ``REFERENCE_BIASES_V``
and ``PLUNGERS`` (the plunger over each dot region ``dot_L`` / ``dot_R``); the parameters
give ``gate_outlines_nm()`` and ``plane_z_nm``. A device with a planar quantum region may also
have ``build_quantum(params)``: a structured k.p mesh of it (no gmsh), which studies use by
default (``device.kp_mesh``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEVICES = ("five_gate_dqd",)

__all__ = ["DEVICES", "get_device"]


def get_device(name: str) -> ModuleType:
    """The device module called ``name`` (one of :data:`DEVICES`)."""
    if name not in DEVICES:
        raise ValueError(f"device = {name!r} is not known; the devices are {list(DEVICES)}")
    return importlib.import_module(f"geometries.{name}")
