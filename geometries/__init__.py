"""Gate-defined devices: descriptions, templates and their pygmsh mesher (the only place gmsh
and pygmsh are imported: the project's layout rule).

A device is a :class:`~geometries.description.DeviceDescription` (layers, gate outlines, dot
regions, mesh sizes, symmetry), read from a TOML file or made by a template
(:mod:`geometries.linear_array`, :mod:`geometries.five_gate`); :mod:`geometries.mesher` meshes
it (the labelled 3-D device mesh, the 2-D mesh of the dot regions, the structured k.p grid);
:mod:`geometries.catalog` holds the shipped files (``devices/*.toml``) and the templates; and
:func:`geometries.device.resolve_device` turns a name or a file and parameter overrides into
the :class:`~geometries.device.Device` that studies use.
"""

from __future__ import annotations

__all__: list[str] = []
