"""Shared gmsh plumbing of the device mesher (the only other place gmsh is touched).

- :func:`session`: an initialised, deterministic gmsh model, always finalised;
- :func:`deterministic_options`: one thread, a fixed seed, quiet (also for pygmsh geometries);
- :func:`in_box`: entities inside an axis-aligned box;
- :func:`size_boxes`: a minimum of Box size fields (fine boxes in a coarse background);
- :func:`to_meshio`: the physical groups as a meshio mesh, with groups that may overlap
  (a quantum region cut out of several material layers belongs to both);
- :func:`rectangle_plane_mesh`: a 2-D triangle mesh of rectangles (the in-plane quantum
  regions), for 2-D studies.

Units: nm.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

Box = tuple[float, float, float, float, float, float]  # x0, y0, z0, dx, dy, dz

_TETRA = 4  # gmsh element types
_TRIANGLE = 2
_LINE = 1


@contextmanager
def session(name: str) -> Iterator[Any]:
    """Yield the ``gmsh`` module with a fresh model; deterministic options; finalise after."""
    import gmsh

    if gmsh.isInitialized():
        gmsh.finalize()
    gmsh.initialize(interruptible=False)
    try:
        deterministic_options(gmsh)
        gmsh.model.add(name)
        yield gmsh
    finally:
        gmsh.finalize()


def deterministic_options(gmsh: Any) -> None:
    """Quiet, one thread, a fixed seed; sizes from the size fields only (not points, curves)."""
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.NumThreads", 1)  # deterministic meshes
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)


def in_box(gmsh: Any, dim: int, box: Box, eps: float = 1e-3) -> list[int]:
    """Tags of the entities of dimension ``dim`` lying inside ``box`` (with tolerance ``eps``)."""
    x0, y0, z0, dx, dy, dz = box
    ents = gmsh.model.getEntitiesInBoundingBox(
        x0 - eps, y0 - eps, z0 - eps, x0 + dx + eps, y0 + dy + eps, z0 + dz + eps, dim
    )
    return sorted(tag for _, tag in ents)


def size_boxes(
    gmsh: Any, boxes: Sequence[tuple[Box, float, float]], *, background_nm: float
) -> None:
    """Set the mesh size to the minimum of Box fields over a ``background_nm`` size.

    ``boxes`` holds ``(box, size_nm, transition_nm)``: size ``size_nm`` inside ``box`` (padded
    by one element so its faces are fine too), growing to the background over ``transition_nm``.
    """
    field = gmsh.model.mesh.field
    tags = []
    for (x0, y0, z0, dx, dy, dz), size, transition in boxes:
        f = field.add("Box")
        field.setNumber(f, "VIn", size)
        field.setNumber(f, "VOut", background_nm)
        field.setNumber(f, "XMin", x0 - size)
        field.setNumber(f, "XMax", x0 + dx + size)
        field.setNumber(f, "YMin", y0 - size)
        field.setNumber(f, "YMax", y0 + dy + size)
        field.setNumber(f, "ZMin", z0 - size)
        field.setNumber(f, "ZMax", z0 + dz + size)
        field.setNumber(f, "Thickness", transition)
        tags.append(f)
    if len(tags) == 1:
        field.setAsBackgroundMesh(tags[0])
        return
    fmin = field.add("Min")
    field.setNumbers(fmin, "FieldsList", tags)
    field.setAsBackgroundMesh(fmin)


def to_meshio(gmsh: Any, *, dim: int) -> Any:
    """The meshed physical groups of dimension ``dim`` and ``dim - 1`` as a meshio mesh.

    Every element appears once, whatever the number of groups it belongs to; groups become
    ``cell_sets`` (volume groups index the first cell block, surface groups the second).
    """
    import meshio

    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    order = np.argsort(node_tags)
    node_tags = node_tags[order]
    points = coords.reshape(-1, 3)[order]

    kinds = {dim: (_TETRA, 4, "tetra") if dim == 3 else (_TRIANGLE, 3, "triangle")}
    kinds[dim - 1] = (_TRIANGLE, 3, "triangle") if dim == 3 else (_LINE, 2, "line")
    blocks: dict[int, list[np.ndarray]] = {dim: [], dim - 1: []}
    count = {dim: 0, dim - 1: 0}
    entity_cells: dict[tuple[int, int], np.ndarray] = {}  # element indices of each entity
    groups: dict[int, dict[str, list[np.ndarray]]] = {dim: {}, dim - 1: {}}
    for gdim, ptag in gmsh.model.getPhysicalGroups():
        if gdim not in kinds:
            continue
        etype, npe, _ = kinds[gdim]
        name = gmsh.model.getPhysicalName(gdim, ptag)
        for ent in gmsh.model.getEntitiesForPhysicalGroup(gdim, ptag):
            key = (gdim, int(ent))
            if key not in entity_cells:
                etypes, _, enodes = gmsh.model.mesh.getElements(gdim, ent)
                cells = [
                    np.searchsorted(node_tags, en).reshape(-1, npe)
                    for et, en in zip(etypes, enodes)
                    if et == etype
                ]
                block = np.vstack(cells) if cells else np.zeros((0, npe), dtype=np.int64)
                blocks[gdim].append(block)
                entity_cells[key] = count[gdim] + np.arange(len(block))
                count[gdim] += len(block)
            groups[gdim].setdefault(name, []).append(entity_cells[key])
    cell_blocks = [
        meshio.CellBlock(
            kinds[d][2],
            np.vstack(blocks[d]) if blocks[d] else np.zeros((0, kinds[d][1]), dtype=np.int64),
        )
        for d in (dim, dim - 1)
    ]
    empty = np.zeros(0, dtype=np.int64)
    cell_sets = {k: [np.unique(np.concatenate(v)), empty] for k, v in groups[dim].items()}
    cell_sets.update({k: [empty, np.unique(np.concatenate(v))] for k, v in groups[dim - 1].items()})
    return meshio.Mesh(points, cell_blocks, cell_sets=cell_sets)


def rectangle_plane_mesh(
    name: str,
    rectangles: Mapping[str, tuple[float, float, float, float]],
    *,
    mesh_size_nm: float,
    union_name: str = "quantum",
) -> Any:
    """Triangle mesh of touching axis-aligned rectangles ``{group: (x0, x1, y0, y1)}``.

    Each rectangle becomes a 2-D group, their union ``union_name``, and the outer boundary of
    the union the line group ``edge``. Conforming across shared sides. Units: nm.
    """
    with session(name) as gmsh:
        occ = gmsh.model.occ
        tags = {
            g: occ.addRectangle(x0, y0, 0.0, x1 - x0, y1 - y0)
            for g, (x0, x1, y0, y1) in rectangles.items()
        }
        occ.fragment([(2, t) for t in tags.values()], [])
        occ.synchronize()
        all_surfaces: list[int] = []
        for g, (x0, x1, y0, y1) in rectangles.items():
            surfaces = in_box(gmsh, 2, (x0, y0, 0.0, x1 - x0, y1 - y0, 0.0))
            gmsh.model.addPhysicalGroup(2, surfaces, name=g)
            all_surfaces += surfaces
        if union_name not in rectangles:
            gmsh.model.addPhysicalGroup(2, sorted(set(all_surfaces)), name=union_name)
        boundary = gmsh.model.getBoundary([(2, s) for s in sorted(set(all_surfaces))])
        gmsh.model.addPhysicalGroup(1, sorted({abs(t) for _, t in boundary}), name="edge")
        gmsh.option.setNumber("Mesh.MeshSizeMin", mesh_size_nm)
        gmsh.option.setNumber("Mesh.MeshSizeMax", mesh_size_nm)
        gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay: well-shaped triangles
        gmsh.model.mesh.generate(2)
        return to_meshio(gmsh, dim=2)


def outlines(boxes: Mapping[str, Box]) -> dict[str, tuple[float, float, float, float]]:
    """Top-view outline (x0, x1, y0, y1) of every box."""
    return {g: (b[0], b[0] + b[3], b[1], b[1] + b[4]) for g, b in boxes.items()}


def clip_box_to_positive_x(box: Box) -> Box | None:
    """The part of ``box`` at x >= 0 (None if empty)."""
    x0, y0, z0, dx, dy, dz = box
    x1 = x0 + dx
    if x1 <= 0.0:
        return None
    x0 = max(x0, 0.0)
    return (x0, y0, z0, x1 - x0, dy, dz)


def mirror_x(half: Any, *, mirrored_names: Mapping[str, str], scale_nm: float) -> Any:
    """Complete a mesh of the x >= 0 half of a mirror-symmetric device by reflection in x = 0.

    Nodes on the plane x = 0 are shared by both halves (the mesh is conforming there, and
    exactly mirror symmetric). A group named in ``mirrored_names`` keeps its half as it is and
    gives its reflection to the group it maps to (``{"P6": "P5"}``: P6 is the half's, P5 its
    image); every other group takes both halves.
    """
    import meshio

    pts = np.array(half.points, dtype=np.float64)
    on_plane = np.abs(pts[:, 0]) <= 1e-9 * scale_nm
    if np.any(pts[:, 0] < -1e-9 * scale_nm):
        raise RuntimeError("mirror_x: the half mesh has nodes at x < 0")
    pts[on_plane, 0] = 0.0
    n = len(pts)
    image = np.arange(n)
    image[~on_plane] = n + np.arange(int((~on_plane).sum()))
    mirrored_pts = pts[~on_plane] * np.array([-1.0, 1.0, 1.0])
    on_plane_all = np.concatenate([on_plane, np.zeros(len(mirrored_pts), dtype=bool)])
    blocks = []
    offsets = []
    renumber = []  # new index of every cell of the doubled block (-1: dropped)
    for b, block in enumerate(half.cells):
        cells = np.asarray(block.data)
        flipped = image[cells]
        if cells.shape[1] >= 3:  # reflection flips orientation: swap two vertices back
            flipped[:, [0, 1]] = flipped[:, [1, 0]]
        both = np.vstack([cells, flipped])
        keep = np.ones(len(both), dtype=bool)
        if b > 0:  # facets in the mirror plane become interior (and would be doubled): drop
            keep = ~np.all(on_plane_all[both], axis=1)
        new = np.full(len(both), -1)
        new[keep] = np.arange(int(keep.sum()))
        blocks.append(meshio.CellBlock(block.type, both[keep]))
        offsets.append(len(cells))
        renumber.append(new)
    cell_sets: dict[str, list[np.ndarray]] = {}
    targets = set(mirrored_names.values())

    def moved(ix: np.ndarray, b: int) -> np.ndarray:
        out = renumber[b][ix]
        return out[out >= 0]

    for name, per_block in half.cell_sets.items():
        if name in targets:
            raise RuntimeError(f"mirror_x: group {name!r} is both in the half and an image")
        own = [moved(np.asarray(ix), b) for b, ix in enumerate(per_block)]
        refl = [moved(np.asarray(ix) + offsets[b], b) for b, ix in enumerate(per_block)]
        if name in mirrored_names:
            cell_sets[name] = own
            cell_sets[mirrored_names[name]] = refl
        else:
            cell_sets[name] = [np.concatenate([a, r]) for a, r in zip(own, refl)]
    return meshio.Mesh(np.vstack([pts, mirrored_pts]), blocks, cell_sets=cell_sets)
