"""Gates from a GDS layout: polygons on mapped GDS layers become the gates of a description.

A description file may take its gate outlines from a GDS file instead of (or besides) listing
them in ``[[gates]]``::

    [gds]
    file = "layout.gds"        # relative to the description file
    cell = "DQD"               # default: the library's only top cell

    [[gds.layers]]             # one table per GDS layer/datatype that holds gates
    layer = 10
    datatype = 0
    gate_layer = "finger_layer"              # the stack layer these gates fill
    names = ["B4", "P5", "B5", "P6", "B6"]   # optional: names by increasing x (then y)

Every polygon on a mapped layer/datatype (references and repetitions flattened) becomes one
gate filling ``gate_layer``. Its name is the text label (any text type, on the same GDS
layer) that lies inside it; otherwise the next entry of ``names``, the polygons taken by
increasing x then y of their centres; otherwise ``L<layer>_<i>``. Coordinates are read in nm
whatever the library's unit. Reading needs the optional dependency gdstk
(``pip install 'femvalley[gds]'``).

Units: nm.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geometries.description import Gate

__all__ = ["gates_from_gds"]


def _gdstk() -> Any:
    try:
        import gdstk
    except ImportError as err:  # an optional dependency
        raise ValueError(
            "gds: reading a GDS layout needs gdstk; install it with pip install 'femvalley[gds]'"
        ) from err
    return gdstk


def gates_from_gds(table: Mapping[str, Any], *, base_dir: str | Path | None = None) -> list[Gate]:
    """Return the gates of the ``[gds]`` table of a description (see the module docstring)."""
    allowed = {"file", "cell", "layers"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"gds: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    if "file" not in table:
        raise ValueError("gds: 'file' is missing (the GDS file, relative to the description)")
    path = Path(table["file"])
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise ValueError(f"gds.file = {str(table['file'])!r}: no such file ({path})")
    gdstk = _gdstk()
    try:
        library = gdstk.read_gds(str(path), unit=1e-9)  # coordinates in nm
    except (OSError, RuntimeError) as err:
        raise ValueError(f"gds.file = {str(path)!r} cannot be read as GDS: {err}") from err
    cell = _cell(library, table.get("cell"))
    layers = table.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("gds.layers: give at least one [[gds.layers]] table")
    gates: list[Gate] = []
    for i, entry in enumerate(layers):
        gates += _layer_gates(cell, f"gds.layers[{i}]", entry)
    return gates


def _layer_gates(cell: Any, where: str, entry: Any) -> list[Gate]:
    """The gates of one mapped GDS layer/datatype, named by label, list or position."""
    import shapely

    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a table")
    keys = {"layer", "datatype", "gate_layer", "names"}
    unknown = sorted(set(entry) - keys)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(keys)}")
    for key in ("layer", "gate_layer"):
        if key not in entry:
            raise ValueError(f"{where}: {key!r} is missing")
    layer, datatype = entry["layer"], entry.get("datatype", 0)
    for key, value in (("layer", layer), ("datatype", datatype)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where}.{key} = {value!r} must be an integer >= 0")
    polys = cell.get_polygons(layer=layer, datatype=datatype)
    if not polys:
        raise ValueError(
            f"{where}: no polygon on GDS layer {layer}/{datatype} of cell {cell.name!r}"
        )
    shapes = [shapely.Polygon([tuple(map(float, p)) for p in poly.points]) for poly in polys]
    order = sorted(range(len(shapes)), key=lambda k: (shapes[k].centroid.x, shapes[k].centroid.y))
    labels = [lb for lb in cell.get_labels() if lb.layer == layer]
    names = list(entry.get("names", []))
    if len(names) > len(shapes):
        raise ValueError(
            f"{where}.names lists {len(names)} gates, but layer {layer}/{datatype} has "
            f"{len(shapes)} polygons"
        )
    fallback = iter(names)
    gates = []
    for rank, k in enumerate(order):
        inside = [lb.text for lb in labels if shapes[k].covers(shapely.Point(*lb.origin))]
        if len(inside) > 1:
            raise ValueError(
                f"{where}: a polygon on layer {layer}/{datatype} holds the labels {inside}"
            )
        name = inside[0] if inside else next(fallback, f"L{layer}_{rank + 1}")
        points = tuple((float(x), float(y)) for x, y in polys[k].points)
        gates.append(Gate(name=name, layer=entry["gate_layer"], polygon_nm=points))
    return gates


def _cell(library: Any, name: Any) -> Any:
    if name is not None:
        cells = {c.name: c for c in library.cells}
        if name not in cells:
            raise ValueError(f"gds.cell = {name!r} is not in the file; cells: {sorted(cells)}")
        return cells[name]
    tops = library.top_level()
    if len(tops) != 1:
        raise ValueError(
            f"gds: the file has the top cells {sorted(c.name for c in tops)}; choose one with "
            "gds.cell"
        )
    return tops[0]
