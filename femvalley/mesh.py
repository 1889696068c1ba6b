"""Meshes: meshio to scikit-fem with region and boundary tags, and quantum-region sub-meshes.

The device meshers in ``geometries/`` return meshio meshes whose physical groups are named:
material volumes (and dot regions) become ``mesh.subdomains`` (element indices), gate and other
surfaces become ``mesh.boundaries`` (facet indices, interior surfaces included). The conversion
itself is scikit-fem's :func:`skfem.io.meshio.from_meshio`; this module removes nodes that no
volume element uses (gmsh keeps geometry points), checks the labels and extracts sub-meshes.

A :class:`SubMesh` carries the node and element maps to its parent, so fields move both ways:
:meth:`SubMesh.restrict` (device -> quantum region) and :meth:`SubMesh.extend` (back).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.typing import Basis, Element, Indices, Mesh, SparseMatrix

__all__ = [
    "from_meshio",
    "require_groups",
    "group_names",
    "element_values",
    "p1_basis",
    "p1_element",
    "locate_points",
    "lumped_vertex_weights",
    "probe_matrix",
    "lagrange_element",
    "edge_dofs",
    "p2_probe_matrix",
    "SubMesh",
    "submesh",
]

_VOLUME_TYPES = ("tetra", "triangle")
_FACET_TYPES = {"tetra": "triangle", "triangle": "line"}


def _strip_orphans(m: Any) -> Any:
    """Return a meshio mesh without points that no cell of the top dimension uses."""
    import meshio

    kind = next((k for k in _VOLUME_TYPES if k in m.cells_dict), None)
    if kind is None:
        raise ValueError(
            f"the mesh has cells {sorted(m.cells_dict)}; need 'tetra' (3-D) or 'triangle' (2-D)"
        )
    used = np.unique(m.cells_dict[kind])
    if used.size == len(m.points):
        return m
    remap = np.full(len(m.points), -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    cells = []
    keep_idx = []
    for i, block in enumerate(m.cells):
        new = remap[block.data]
        if np.all(new >= 0):
            cells.append(meshio.CellBlock(block.type, new))
            keep_idx.append(i)
    cell_sets = {
        name: [blocks[i] for i in keep_idx] for name, blocks in (m.cell_sets or {}).items()
    }
    return meshio.Mesh(m.points[used], cells, cell_sets=cell_sets)


def from_meshio(m: Any, *, dim: int | None = None) -> Mesh:
    """Convert a labelled meshio mesh to a scikit-fem mesh, keeping region and boundary tags.

    Parameters
    ----------
    m : meshio.Mesh
        Coordinates in nm; physical groups as ``cell_sets`` (as written by gmsh/pygmsh).
    dim : {2, 3}, optional
        Expected dimension; checked if given.

    Returns
    -------
    skfem.MeshTet or skfem.MeshTri
        With ``subdomains`` (volume groups) and ``boundaries`` (surface groups).
    """
    from skfem.io.meshio import from_meshio as skfem_from_meshio

    clean = _strip_orphans(m)
    kind = next(k for k in _VOLUME_TYPES if k in clean.cells_dict)
    got_dim = 3 if kind == "tetra" else 2
    if dim is not None and dim != got_dim:
        raise ValueError(f"dim = {dim}, but the mesh holds {kind} cells ({got_dim}-D)")
    if got_dim == 2:
        # 2-D meshes from gmsh carry z = 0; scikit-fem wants 2 coordinates
        clean.points = np.ascontiguousarray(clean.points[:, :2])
    if not np.all(np.isfinite(clean.points)):
        raise ValueError("the mesh has non-finite node coordinates")
    return skfem_from_meshio(clean)


def group_names(mesh: Mesh) -> dict[str, list[str]]:
    """Names of the labelled regions and boundaries of a scikit-fem mesh."""
    return {
        "regions": sorted(mesh.subdomains or {}),
        "boundaries": sorted(mesh.boundaries or {}),
    }


def require_groups(
    mesh: Mesh, *, regions: Iterable[str] = (), boundaries: Iterable[str] = ()
) -> None:
    """Raise ``ValueError`` naming any missing group and listing the groups present."""
    present = group_names(mesh)
    for kind, wanted in (("regions", regions), ("boundaries", boundaries)):
        for name in wanted:
            if name not in present[kind]:
                raise ValueError(
                    f"{kind[:-1] if kind == 'regions' else 'boundary'} {name!r} is not in the "
                    f"mesh; regions present: {present['regions']}; boundaries present: "
                    f"{present['boundaries']}"
                )


def p1_element(mesh: Mesh) -> Element:
    """Return the P1 Lagrange element of a triangle or tetrahedron mesh."""
    from skfem import ElementTetP1, ElementTriP1
    from skfem.mesh import MeshTet1, MeshTri1

    if isinstance(mesh, MeshTri1):
        return ElementTriP1()
    if isinstance(mesh, MeshTet1):
        return ElementTetP1()
    raise ValueError(f"mesh of type {type(mesh).__name__}: use a triangle or tetrahedron mesh")


def lagrange_element(mesh: Mesh, order: int) -> Element:
    """Return the P1 or P2 Lagrange element of a triangle or tetrahedron mesh."""
    from skfem import ElementTetP2, ElementTriP2
    from skfem.mesh import MeshTet1, MeshTri1

    if order == 1:
        return p1_element(mesh)
    if order != 2:
        raise ValueError(f"order = {order!r}; allowed: 1, 2")
    if isinstance(mesh, MeshTri1):
        return ElementTriP2()
    if isinstance(mesh, MeshTet1):
        return ElementTetP2()
    raise ValueError(f"mesh of type {type(mesh).__name__}: use a triangle or tetrahedron mesh")


#: local vertex pairs of the edges of a triangle and of a tetrahedron, in the order that
#: :func:`edge_dofs` returns them
_LOCAL_EDGES = {3: ((0, 1), (0, 2), (1, 2)), 4: ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))}


def edge_dofs(basis: Basis) -> NDArray[np.int64]:
    """Edge-midpoint DOFs of every element of a P2 Lagrange basis, in a fixed local order.

    Row ``k`` belongs to the edge joining local vertices ``_LOCAL_EDGES[nverts][k]`` of each
    element (``mesh.t``). The order is found from the DOF locations, not assumed from the
    element's internal numbering; the vertex DOFs must be the vertices themselves.

    Returns
    -------
    ndarray of int, shape (nedges_per_element, nelems)
    """
    mesh = basis.mesh
    t = np.asarray(mesh.t)
    nv = t.shape[0]
    dofs = np.asarray(basis.element_dofs)
    if dofs.shape[0] != nv + len(_LOCAL_EDGES[nv]) or not np.array_equal(dofs[:nv], t):
        raise ValueError("basis: not a P2 Lagrange basis whose vertex DOFs are the vertices")
    locs = np.asarray(basis.doflocs)
    scale = float(np.ptp(mesh.p, axis=1).max()) or 1.0
    out = np.empty((len(_LOCAL_EDGES[nv]), t.shape[1]), dtype=np.int64)
    for k, (i, j) in enumerate(_LOCAL_EDGES[nv]):
        mid = 0.5 * (mesh.p[:, t[i]] + mesh.p[:, t[j]])
        for row in range(nv, dofs.shape[0]):
            if np.allclose(locs[:, dofs[row]], mid, rtol=0.0, atol=1e-9 * scale):
                out[k] = dofs[row]
                break
        else:
            raise ValueError(f"basis: no DOF at the midpoints of local edge {(i, j)}")
    return out


def p2_probe_matrix(
    mesh: Mesh, element_edges: NDArray[np.int64], ndofs: int, points_nm: ArrayLike
) -> SparseMatrix:
    """Sparse matrix mapping P2 Lagrange DOF values to values at ``points_nm``.

    Parameters
    ----------
    mesh : skfem.MeshTri or skfem.MeshTet
        The mesh (nm); its vertices are DOFs ``0 .. nvertices - 1``.
    element_edges : ndarray of int, shape (nedges_per_element, nelems)
        Edge-midpoint DOF of every element edge (:func:`edge_dofs`).
    ndofs : int
        Number of DOFs (columns).
    points_nm : array_like, shape (dim, npoints)
        Points inside the mesh.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (npoints, ndofs)
        Exact for quadratic functions.
    """
    import scipy.sparse as sp

    elements, lam = locate_points(mesh, points_nm)
    npts, nv = lam.shape
    pairs = np.asarray(_LOCAL_EDGES[nv])
    coef = np.hstack([lam * (2.0 * lam - 1.0), 4.0 * lam[:, pairs[:, 0]] * lam[:, pairs[:, 1]]])
    cols = np.hstack([mesh.t[:, elements].T, np.asarray(element_edges)[:, elements].T])
    rows = np.repeat(np.arange(npts), coef.shape[1])
    return sp.csr_matrix((coef.ravel(), (rows, cols.ravel())), shape=(npts, ndofs))


def p1_basis(basis: Basis) -> Basis:
    """Return the P1 basis on the same mesh and quadrature as ``basis`` (itself if P1).

    Vertex arrays are interpolated with it, whatever the degree of ``basis``.
    """
    if basis.elem.maxdeg == 1:
        return basis
    return basis.with_element(p1_element(basis.mesh))


def element_values(mesh: Mesh, values: Mapping[str, Any], name: str) -> NDArray[np.float64]:
    """Element-wise array from ``{region: number}``, checking that every element is covered.

    Parameters
    ----------
    mesh : skfem.Mesh
        Mesh with ``subdomains``.
    values : mapping of str to float
        One number per region name.
    name : str
        Name of the quantity, for error messages.
    """
    regions = mesh.subdomains or {}
    out = np.full(mesh.t.shape[1], np.nan)
    for region, value in values.items():
        if region not in regions:
            raise ValueError(
                f"{name}: region {region!r} is not in the mesh; regions present: "
                f"{sorted(regions) if regions else 'none (mesh.subdomains is empty)'}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{name}[{region!r}] = {value!r} must be a real number")
        out[np.asarray(regions[region])] = value
    missing = int(np.count_nonzero(np.isnan(out)))
    if missing:
        raise ValueError(
            f"{name}: {missing} element(s) belong to none of the regions {sorted(values)}; "
            "give a value for every region of the mesh"
        )
    return out


def lumped_vertex_weights(mesh: Mesh, *, elements: ArrayLike | None = None) -> NDArray[np.float64]:
    """Volume (area in 2-D) attached to every vertex: each element gives 1/(d+1) of its own.

    ``w @ f`` is the exact integral of a P1 field ``f`` over the elements (all by default), so
    ``w * density`` turns a density at the vertices into weights. Units: nm^d.
    """
    t = mesh.t if elements is None else mesh.t[:, np.asarray(elements)]
    p = mesh.p
    d = p.shape[0]
    edges = np.stack([p[:, t[i]] - p[:, t[0]] for i in range(1, d + 1)], axis=1)  # (d, d, ne)
    size = np.abs(np.linalg.det(np.moveaxis(edges, -1, 0))) / math.factorial(d)
    w = np.zeros(mesh.nvertices)
    np.add.at(w, t.ravel(), np.tile(size / (d + 1), t.shape[0]))
    return w


def locate_points(
    mesh: Mesh, points_nm: ArrayLike, *, tol: float = 1e-9
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Element containing every point, and the point's barycentric coordinates in it.

    Candidates come from a k-d tree of element centroids (8, then 64 nearest, then all
    elements for the few points left), so the cost is about linear in the number of points,
    unlike a dense search over every candidate of every point.

    Parameters
    ----------
    mesh : skfem.MeshTri or skfem.MeshTet
        Simplex mesh (nm).
    points_nm : array_like, shape (dim, npoints)
        The points.
    tol : float
        Barycentric tolerance: points this far outside an element (relative) still count.

    Returns
    -------
    elements : ndarray of int, shape (npoints,)
    barycentric : ndarray, shape (npoints, dim + 1)

    Raises
    ------
    ValueError
        If a point lies outside the mesh (naming it and the mesh's bounding box).
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points_nm, dtype=np.float64)
    d = mesh.p.shape[0]
    if pts.ndim != 2 or pts.shape[0] != d:
        raise ValueError(f"points_nm has shape {pts.shape}; expected ({d}, npoints)")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points_nm holds non-finite coordinates")
    p, t = mesh.p, mesh.t
    v0 = p[:, t[0]].T  # (ne, d)
    jac = np.stack([(p[:, t[i]] - p[:, t[0]]).T for i in range(1, d + 1)], axis=2)
    inv = np.linalg.inv(jac)  # (ne, d, d): x -> reference coordinates
    x = pts.T
    npts, ne = x.shape[0], t.shape[1]
    found = np.full(npts, -1, dtype=np.int64)
    best = np.full(npts, -np.inf)
    tree = cKDTree(p[:, t].mean(axis=1).T)

    def bary(cand: NDArray[np.int64], xi: NDArray[np.float64]) -> NDArray[np.float64]:
        # cand (m, k) element indices, xi (m, d) points -> (m, k, d + 1)
        ref = np.einsum("mkij,mkj->mki", inv[cand], xi[:, None, :] - v0[cand])
        return np.concatenate([1.0 - ref.sum(axis=2, keepdims=True), ref], axis=2)

    todo = np.arange(npts)
    for k in (8, 64):
        if todo.size == 0:
            break
        cand = tree.query(x[todo], k=min(k, ne))[1].reshape(todo.size, -1)
        worst = bary(cand, x[todo]).min(axis=2)  # most negative coordinate per candidate
        j = np.argmax(worst, axis=1)
        score = worst[np.arange(todo.size), j]
        ok = score >= -tol
        found[todo[ok]] = cand[np.arange(todo.size), j][ok]
        best[todo[ok]] = score[ok]
        todo = todo[~ok]
    for i in todo:  # rare: brute force over all elements, one point at a time
        worst = bary(np.arange(ne)[None, :], x[i : i + 1]).min(axis=2)[0]
        j = int(np.argmax(worst))
        if worst[j] >= -tol:
            found[i] = j
        else:
            lo, hi = p.min(axis=1), p.max(axis=1)
            raise ValueError(
                f"points_nm: point {x[i].tolist()} lies outside the mesh (bounding box "
                f"{lo.tolist()} to {hi.tolist()} nm)"
            )
    lam = bary(found[:, None], x)[:, 0, :]
    return found, np.clip(lam, 0.0, 1.0) / np.clip(lam, 0.0, 1.0).sum(axis=1, keepdims=True)


def probe_matrix(mesh: Mesh, points_nm: ArrayLike) -> SparseMatrix:
    """Sparse matrix mapping P1 vertex values of ``mesh`` to values at ``points_nm``.

    Parameters
    ----------
    mesh : skfem.MeshTri or skfem.MeshTet
        The mesh (nm).
    points_nm : array_like, shape (dim, npoints)
        Points inside the mesh.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (npoints, nvertices)
    """
    import scipy.sparse as sp

    elements, lam = locate_points(mesh, points_nm)
    npts, nv = lam.shape
    rows = np.repeat(np.arange(npts), nv)
    cols = mesh.t[:, elements].T.ravel()
    return sp.csr_matrix((lam.ravel(), (rows, cols)), shape=(npts, mesh.nvertices))


@dataclass(frozen=True, eq=False)
class SubMesh:
    """A sub-mesh with maps to its parent.

    Attributes
    ----------
    mesh : skfem.Mesh
        The sub-mesh (its regions are the parent's, restricted).
    parent : skfem.Mesh
        The parent mesh.
    node_map : ndarray of int, shape (sub nvertices,)
        Parent vertex index of every sub-mesh vertex.
    element_map : ndarray of int, shape (sub nelements,)
        Parent element index of every sub-mesh element.
    """

    mesh: Mesh
    parent: Mesh
    node_map: NDArray[np.int64]
    element_map: Indices  # the parent's region indices as they are (int32 from scikit-fem)

    def restrict(self, parent_values: ArrayLike) -> NDArray[Any]:
        """Values at the parent's vertices -> values at the sub-mesh vertices."""
        v = np.asarray(parent_values)
        if v.shape[0] != self.parent.nvertices:
            raise ValueError(
                f"parent_values has {v.shape[0]} entries; expected {self.parent.nvertices}"
            )
        return v[self.node_map]

    def extend(self, sub_values: ArrayLike, *, fill: Any = 0.0) -> NDArray[Any]:
        """Values at the sub-mesh vertices -> parent vertices (``fill`` elsewhere)."""
        v = np.asarray(sub_values)
        if v.shape[0] != self.mesh.nvertices:
            raise ValueError(f"sub_values has {v.shape[0]} entries; expected {self.mesh.nvertices}")
        out = np.full((self.parent.nvertices, *v.shape[1:]), fill, dtype=np.result_type(v, fill))
        out[self.node_map] = v
        return out


def submesh(mesh: Mesh, regions: str | Iterable[str]) -> SubMesh:
    """Extract the elements of one or more labelled regions as a new mesh.

    Parameters
    ----------
    mesh : skfem.MeshTet or skfem.MeshTri
        Parent mesh with ``subdomains``.
    regions : str or iterable of str
        Region names; their union is extracted.

    Returns
    -------
    SubMesh
        The sub-mesh (with the parent's regions restricted to it) and the node/element maps.
    """
    names = [regions] if isinstance(regions, str) else list(regions)
    if not names:
        raise ValueError("regions is empty; name at least one region")
    require_groups(mesh, regions=names)
    assert mesh.subdomains is not None  # require_groups found the regions
    elems = np.unique(np.concatenate([np.asarray(mesh.subdomains[r]) for r in names]))
    t = mesh.t[:, elems]
    node_map = np.unique(t)
    remap = np.full(mesh.nvertices, -1, dtype=np.int64)
    remap[node_map] = np.arange(node_map.size)
    sub = type(mesh)(np.ascontiguousarray(mesh.p[:, node_map]), np.ascontiguousarray(remap[t]))
    # carry the parent's regions over (restricted to the extracted elements)
    elem_remap = np.full(mesh.t.shape[1], -1, dtype=np.int64)
    elem_remap[elems] = np.arange(elems.size)
    sub_regions: Mapping[str, NDArray[np.int64]] = {
        name: elem_remap[np.asarray(idx)][elem_remap[np.asarray(idx)] >= 0]
        for name, idx in (mesh.subdomains or {}).items()
    }
    sub = sub.with_subdomains({k: v for k, v in sub_regions.items() if v.size})
    return SubMesh(mesh=sub, parent=mesh, node_map=node_map.astype(np.int64), element_map=elems)
