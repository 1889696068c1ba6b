"""Mesh a device description with pygmsh: labelled meshio meshes of the device.

:func:`build` turns a :class:`~geometries.description.DeviceDescription` into the tetrahedral
mesh the electrostatics solves on, with the physical groups the rest of femvalley reads:

- volume groups: every layer (by name), every dot region, and ``quantum`` (their union; these
  overlap the layers they cut);
- surface groups: every gate (its whole surface: the gates are holes in the dielectric, and
  their surfaces carry the Dirichlet data of the electrostatics).

The geometry is built with pygmsh's OpenCASCADE interface (:class:`pygmsh.occ.Geometry`:
boxes for the layers and the dot regions, gate outlines as polygons extruded over their z
range, Boolean differences to cut the gates out of their layers, Boolean fragments so that
every interface is conforming). Classifying the fragments, the physical groups, the mesh-size
fields and the meshing itself use the gmsh API beside it: pygmsh has no Box size fields, and
its physical groups need its own objects, which the fragments no longer are.

:func:`build_plane` meshes the dot regions in the plane (2-D studies) and
:func:`build_quantum` the structured tetrahedral k.p grid of the quantum region (no gmsh).

With ``symmetry.mirror_x`` the x >= 0 half is meshed and reflected in x = 0, so the mesh is
exactly mirror symmetric. Meshing is deterministic (one thread, fixed seed): the same
description gives the same mesh, node for node.

Units: nm.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geometries import _gmsh, _grid
from geometries.description import DeviceDescription

__all__ = ["build", "build_plane", "build_quantum", "half_description_parts", "kp_axes"]

Box = _gmsh.Box


@contextmanager
def _geometry(name: str) -> Iterator[Any]:
    """A pygmsh OCC geometry in a fresh gmsh session with femvalley's deterministic options,
    finalised after.

    The session is opened by :func:`geometries._gmsh.session`, not by the geometry's own
    ``with`` block: that calls ``gmsh.initialize()`` with its default ``interruptible=True``,
    which sets Ctrl-C to the default action (kill) and never restores Python's handler (gmsh
    4.15 keeps the previous handler in a local variable), so a run could no longer be
    interrupted cleanly and resumed.
    """
    import pygmsh

    with _gmsh.session(name):
        yield pygmsh.occ.Geometry()


def half_description_parts(
    desc: DeviceDescription,
) -> tuple[tuple[float, float, float, float], dict[str, list[Any]], dict[str, Any]]:
    """The domain, gate outlines and dot boxes to mesh (the x >= 0 half with ``mirror_x``).

    Returns ``(domain_nm, gates, dots)``: the (x0, x1, y0, y1) of the meshed domain, the
    shapely polygons of every gate that reaches it (a gate cut by x = 0 may become several),
    and the shapely box of every dot region that reaches it (dot regions wholly at x < 0 are
    the images of others and are left out).
    """
    import shapely

    x0, x1, y0, y1 = desc.domain_nm
    if desc.mirror_x:
        x0 = 0.0
    keep = shapely.box(x0, y0, x1, y1)
    gates: dict[str, list[Any]] = {}
    for g in desc.gates:
        part = g.outline().intersection(keep)
        polys = [p for p in getattr(part, "geoms", [part]) if p.geom_type == "Polygon"]
        polys = [p for p in polys if p.area > 1e-9]
        if polys:
            gates[g.name] = polys
    dots = {}
    for d in desc.dots:
        part = desc.dot_box(d).intersection(keep)
        if part.area > 1e-9:
            dots[d.name] = part
    return (x0, x1, y0, y1), gates, dots


def _pieces(
    sections: Sequence[tuple[float, float, tuple[float, float]]], x0: float, x1: float
) -> list[tuple[float, float, float, float]]:
    """(xa, xb, z0, z1) of the boxes of a stepped slab within [x0, x1]: its sections, with
    neighbours of equal height merged."""
    out: list[tuple[float, float, float, float]] = []
    for a, b, (z0, z1) in sections:
        a, b = max(a, x0), min(b, x1)
        if b - a <= 1e-9:
            continue
        if out and out[-1][1] == a and out[-1][2:] == (z0, z1):
            out[-1] = (out[-1][0], b, z0, z1)
        else:
            out.append((a, b, z0, z1))
    return out


def layer_pieces(
    desc: DeviceDescription, x0: float, x1: float
) -> dict[str, list[tuple[float, float, float, float]]]:
    """The boxes (xa, xb, z0, z1) of every layer within [x0, x1]: one per layer unless a
    boundary of it is stepped (``top_steps``)."""
    sections = desc.sections_nm()
    return {
        x.name: _pieces([(a, b, bounds[x.name]) for a, b, bounds in sections], x0, x1)
        for x in desc.layers
    }


def quantum_pieces(desc: DeviceDescription, x0: float, x1: float) -> list[tuple[float, ...]]:
    """The boxes (xa, xb, z0, z1) of the quantum region's z range within [x0, x1]."""
    sections = [(a, b, desc.quantum_z_at(0.5 * (a + b))) for a, b, _ in desc.sections_nm()]
    return list(_pieces(sections, x0, x1))


def build(desc: DeviceDescription) -> Any:
    """Mesh the device and return a labelled meshio mesh (tetrahedra, nm)."""
    import gmsh

    (x0, x1, y0, y1), gates, dots = half_description_parts(desc)
    pieces = layer_pieces(desc, x0, x1)
    with _geometry(desc.name) as geom:
        occ = gmsh.model.occ
        slabs: dict[str, list[Any]] = {
            name: [geom.add_box([a, y0, z0], [b - a, y1 - y0, z1 - z0]) for a, b, z0, z1 in boxes]
            for name, boxes in pieces.items()
        }
        metal = []  # (gate, volume) of every extruded gate piece
        for g in desc.gates:
            zb, zt = desc.gate_z_nm(g)
            for poly in gates.get(g.name, []):
                pts = np.asarray(poly.exterior.coords)[:-1]
                base = geom.add_polygon(np.column_stack([pts, np.full(len(pts), zb)]))
                _, volume, _ = geom.extrude(base, [0.0, 0.0, zt - zb])
                metal.append((g, volume))
        for name, boxes in pieces.items():
            z0, z1 = min(p[2] for p in boxes), max(p[3] for p in boxes)
            tools = [
                v
                for g, v in metal
                if desc.gate_z_nm(g)[0] < z1 - 1e-9 and desc.gate_z_nm(g)[1] > z0 + 1e-9
            ]
            if tools:  # the metal is a hole in every layer it crosses
                slabs[name] = geom.boolean_difference(
                    slabs[name], tools, delete_first=True, delete_other=False
                )
        if metal:
            occ.remove([v.dim_tag for _, v in metal], recursive=True)
        dot_boxes = [
            geom.add_box([a, b.bounds[1], z0], [c - a, b.bounds[3] - b.bounds[1], z1 - z0])
            for b in dots.values()
            for a, c, z0, z1 in quantum_pieces(desc, b.bounds[0], b.bounds[2])
        ]
        geom.boolean_fragments([s for parts in slabs.values() for s in parts], dot_boxes)
        occ.synchronize()
        _volume_groups(gmsh, desc, dots)
        _gate_groups(gmsh, desc, gates)
        _mesh_sizes(gmsh, desc, (x0, x1, y0, y1), gates, dots)
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT: 5-10x faster (measured here)
        gmsh.model.mesh.generate(3)
        half = _gmsh.to_meshio(gmsh, dim=3)
    if not desc.mirror_x:
        return half
    return _gmsh.mirror_x(half, mirrored_names=_images(desc, dots, gates), scale_nm=_scale(desc))


def _scale(desc: DeviceDescription) -> float:
    x0, x1, y0, y1 = desc.domain_nm
    return max(x1 - x0, y1 - y0)


def _images(
    desc: DeviceDescription, dots: Mapping[str, Any], gates: Mapping[str, Any]
) -> dict[str, str]:
    """Groups of the x >= 0 half whose mirror image is another group."""
    names = desc.mirror_names()
    return {n: names[n] for n in (*dots, *gates) if names[n] != n}


def _volume_groups(gmsh: Any, desc: DeviceDescription, dots: Mapping[str, Any]) -> None:
    """Layer groups by the fragments' centres of mass, dot groups by their bounding boxes
    (the layer bounds and the quantum region's z range where the fragment is: every fragment
    lies within one section of the terraces).

    (The notched remainder of a layer can have its centre of mass inside a dot box: the
    bounding box decides the dot regions.)
    """
    occ = gmsh.model.occ
    groups: dict[str, list[int]] = {x.name: [] for x in desc.layers}
    groups.update({name: [] for name in (*dots, "quantum")})
    eps = 1e-6
    for _, tag in gmsh.model.getEntities(3):
        cx, _, cz = occ.getCenterOfMass(3, tag)
        lo, hi = np.split(np.asarray(gmsh.model.getBoundingBox(3, tag)), 2)
        mid = 0.5 * (lo[0] + hi[0])
        layers = desc.layer_bounds_at(mid)
        layer = next(n for n, (z0, z1) in layers.items() if z0 - eps <= cz <= z1 + eps)
        groups[layer].append(tag)
        qz0, qz1 = desc.quantum_z_at(mid)
        for name, box in dots.items():
            bx0, by0, bx1, by1 = box.bounds
            if np.all(lo >= np.array([bx0, by0, qz0]) - eps) and np.all(
                hi <= np.array([bx1, by1, qz1]) + eps
            ):
                groups[name].append(tag)
                groups["quantum"].append(tag)
    for name, tags in groups.items():
        if not tags:
            raise RuntimeError(f"{desc.name}: group {name}: no volume found")
        gmsh.model.addPhysicalGroup(3, sorted(tags), name=name)


def _gate_groups(gmsh: Any, desc: DeviceDescription, gates: Mapping[str, Sequence[Any]]) -> None:
    """Every surface of the holes the gates leave: inside the gate's bounding box, with its
    centre of mass on the gate's solid (the outline, within a tolerance, over its z range)."""
    import shapely

    occ = gmsh.model.occ
    eps = 1e-6
    surfaces = [tag for _, tag in gmsh.model.getEntities(2)]
    for g in desc.gates:
        if g.name not in gates:
            continue
        zb, zt = desc.gate_z_nm(g)
        found = []
        for poly in gates[g.name]:
            bx0, by0, bx1, by1 = poly.bounds
            near = poly.buffer(1e-6 * _scale(desc))
            for tag in surfaces:
                lo, hi = np.split(np.asarray(gmsh.model.getBoundingBox(2, tag)), 2)
                if np.any(lo < np.array([bx0, by0, zb]) - eps) or np.any(
                    hi > np.array([bx1, by1, zt]) + eps
                ):
                    continue
                cx, cy, _ = occ.getCenterOfMass(2, tag)
                if near.contains(shapely.Point(cx, cy)):
                    found.append(tag)
        if not found:
            raise RuntimeError(f"{desc.name}: gate {g.name}: no surface found")
        gmsh.model.addPhysicalGroup(2, sorted(set(found)), name=g.name)


def _mesh_sizes(
    gmsh: Any,
    desc: DeviceDescription,
    domain: tuple[float, float, float, float],
    gates: Mapping[str, Sequence[Any]],
    dots: Mapping[str, Any],
) -> None:
    """Fine in the quantum region, medium under the gates' footprint, coarse elsewhere."""
    m = desc.mesh
    qz0, qz1 = desc.quantum_z_nm
    qx0 = min(b.bounds[0] for b in dots.values())
    qy0 = min(b.bounds[1] for b in dots.values())
    qx1 = max(b.bounds[2] for b in dots.values())
    qy1 = max(b.bounds[3] for b in dots.values())
    polys = [p for ps in gates.values() for p in ps]
    gx0 = min(min(p.bounds[0] for p in polys), qx0)
    gy0 = min(min(p.bounds[1] for p in polys), qy0)
    gx1 = max(max(p.bounds[2] for p in polys), qx1)
    gy1 = max(max(p.bounds[3] for p in polys), qy1)
    top = max(desc.gate_z_nm(g)[1] for g in desc.gates)
    # the gate footprint stays within the domain (the fingers reach its ends)
    x0, x1, y0, y1 = domain
    gx0, gx1, gy0, gy1 = max(gx0, x0), min(gx1, x1), max(gy0, y0), min(gy1, y1)
    bottom = min(qz0, min(desc.gate_z_nm(g)[0] for g in desc.gates))
    _gmsh.size_boxes(
        gmsh,
        [
            ((qx0, qy0, qz0, qx1 - qx0, qy1 - qy0, qz1 - qz0), m.quantum_nm, 3 * m.near_gates_nm),
            ((gx0, gy0, bottom, gx1 - gx0, gy1 - gy0, top - bottom), m.near_gates_nm, 2 * m.far_nm),
        ],
        background_nm=m.far_nm,
    )


def build_plane(desc: DeviceDescription) -> Any:
    """2-D triangle mesh of the dot regions in the plane, for 2-D studies.

    Groups: every dot region, their union ``quantum`` (triangles) and ``edge`` (the outer
    boundary lines). Mesh size ``mesh.quantum_nm``; mirror symmetric with ``mirror_x``.
    """
    _, _, dots = half_description_parts(desc)
    rects = {n: (b.bounds[0], b.bounds[2], b.bounds[1], b.bounds[3]) for n, b in dots.items()}
    half = _gmsh.rectangle_plane_mesh(
        f"{desc.name}_plane", rects, mesh_size_nm=desc.mesh.quantum_nm
    )
    if not desc.mirror_x:
        return half
    return _gmsh.mirror_x(half, mirrored_names=_images(desc, dots, {}), scale_nm=_scale(desc))


def _axis(breaks: Sequence[float], step: float) -> NDArray[np.float64]:
    """Uniform steps of at most ``step`` between consecutive breaks (all of them grid points)."""
    b: list[float] = []
    for v in sorted(float(v) for v in breaks):
        if not b or v - b[-1] > 1e-9:
            b.append(v)
    parts = [_grid.uniform_axis(p, q, step)[:-1] for p, q in zip(b[:-1], b[1:])]
    return np.concatenate([*parts, [b[-1]]])


def kp_axes(
    desc: DeviceDescription,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The axes (nm) of the structured k.p grid of :func:`build_quantum` (the x >= 0 half
    with ``mirror_x``): ``mesh.kp_nm`` steps over ``quantum.kp_box_nm`` (default: the dot
    regions' bounding box) in x and y, with grid planes on the dot regions' edges and the
    terraces' edges; in z ``mesh.kp_vertical_nm`` steps in the quantum layers, with a plane on
    each of their interfaces (every terrace's height), growing geometrically (ratio 1.5, up
    to ``mesh.kp_nm``) into the margins.

    Raises ``ValueError`` when the dot regions do not tile their bounding box (and no
    ``kp_box_nm`` is given).
    """
    (hx0, _, _, _), _, dots = half_description_parts(desc)
    if desc.kp_box_nm is None:
        bounds = np.array([b.bounds for b in dots.values()])
        x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
        x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
        area = (x1 - x0) * (y1 - y0)
        if abs(sum(b.area for b in dots.values()) - area) > 1e-6 * area:
            raise ValueError(
                f"{desc.name}: the dot regions do not tile their bounding box; the structured "
                "k.p mesh needs a rectangular quantum region (set quantum.kp_box_nm inside "
                "them, or use the device mesh: kp_mesh = 'device')"
            )
    else:
        x0, x1, y0, y1 = desc.kp_box_nm
        x0 = max(x0, hx0)
    h, hz = desc.mesh.kp_nm, desc.mesh.kp_vertical_nm
    sections = [
        (a, b, bounds) for a, b, bounds in desc.sections_nm() if b > x0 + 1e-9 and a < x1 - 1e-9
    ]
    xs = [x0, x1] + [v for a, b, _ in sections for v in (a, b) if x0 < v < x1]
    ys = [y0, y1]
    for box in dots.values():
        xs += [v for v in (box.bounds[0], box.bounds[2]) if x0 < v < x1]
        ys += [v for v in (box.bounds[1], box.bounds[3]) if y0 < v < y1]
    planes = sorted(
        {bounds[q][k] for _, _, bounds in sections for q in desc.quantum_layers for k in (0, 1)}
    )
    lo, hi = planes[0], planes[-1]
    below, above = desc.quantum_margins_nm
    z = np.concatenate(
        [
            _grid.graded_axis(lo, lo - below, fine_step_nm=hz, max_step_nm=h)[:-1]
            if below > 0
            else np.zeros(0),
            _axis(planes, hz),
            _grid.graded_axis(hi, hi + above, fine_step_nm=hz, max_step_nm=h)[1:]
            if above > 0
            else np.zeros(0),
        ]
    )
    return _axis(xs, h), _axis(ys, h), z


def build_quantum(desc: DeviceDescription) -> Any:
    """Structured tetrahedral k.p mesh of the quantum region (no gmsh), for 3-D studies.

    A tensor grid over the bounding box of the dot regions: ``mesh.kp_nm`` steps in x and y,
    ``mesh.kp_vertical_nm`` steps across the quantum layers, growing geometrically (ratio
    1.5, up to ``mesh.kp_nm``) into the margins, with grid planes on every interface of the
    quantum layers. Every (x, y) column is discretised the same way, so the error of the
    vertical confinement is the same everywhere and does not act as an in-plane potential.
    The dot regions must tile their bounding box. Built for x >= 0 and mirrored with
    ``mirror_x``.

    Groups: the quantum layers and their neighbours (by name, materials of the description),
    every dot region and ``quantum`` (everything).
    """
    import meshio

    _, _, dots = half_description_parts(desc)
    points, tets = _grid.tensor_tetra(*kp_axes(desc))
    centres = points[tets].mean(axis=1)
    everything = np.arange(len(tets))
    # the layer bounds where each cell is (the terraces' sections)
    sections = desc.sections_nm()
    starts = np.array([a for a, _, _ in sections])
    where = np.clip(np.searchsorted(starts, centres[:, 0], side="right") - 1, 0, None)
    cell_sets: dict[str, list[Any]] = {}
    for layer in desc.layers:
        z0, z1 = (np.array([b[layer.name][k] for _, _, b in sections])[where] for k in (0, 1))
        sel = everything[(centres[:, 2] > z0) & (centres[:, 2] < z1)]
        if sel.size:
            cell_sets[layer.name] = [sel]
    for name, b in dots.items():
        bx0, by0, bx1, by1 = b.bounds
        inside_box = (
            (centres[:, 0] > bx0)
            & (centres[:, 0] < bx1)
            & (centres[:, 1] > by0)
            & (centres[:, 1] < by1)
        )
        cell_sets[name] = [everything[inside_box]]
    cell_sets["quantum"] = [everything]
    half = meshio.Mesh(points, [meshio.CellBlock("tetra", tets)], cell_sets=cell_sets)
    if not desc.mirror_x:
        return half
    return _gmsh.mirror_x(half, mirrored_names=_images(desc, dots, {}), scale_nm=_scale(desc))
