"""Matplotlib figures (PNG): valley-splitting maps and conduction-band-edge views.

matplotlib is imported lazily, with the non-interactive Agg backend. Every figure is written to
a temporary name and renamed, so an interrupted run never leaves half a file in place of a good
one. Units: nm, meV, ueV.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from femvalley.valley_map import ValleyGrid

__all__ = [
    "plot_band_edge_line",
    "plot_band_edge_top_view",
    "plot_valley_splitting_map",
]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, *, dpi: int) -> Path:
    """Save ``fig`` to ``path`` through a temporary name; close it; return the path."""
    import matplotlib.pyplot as plt

    out = Path(path)
    if out.suffix.lower() != ".png":
        raise ValueError(f"path = {str(path)!r}: figures are written as PNG; use a .png name")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    try:
        fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    tmp.replace(out)
    return out


def plot_valley_splitting_map(
    grid: ValleyGrid,
    path: str | Path,
    *,
    title: str | None = None,
    dpi: int = 200,
) -> Path:
    """Write a PNG of the valley-splitting map ``E_V = 2 |Delta|`` in ueV.

    Parameters
    ----------
    grid : ValleyGrid
        The sampled field.
    path : str or Path
        Output file (PNG). Written to a temporary name first, then renamed.
    title : str, optional
        Figure title; by default the map statistics.
    dpi : int
        Resolution.

    Returns
    -------
    Path
        The written file.
    """
    plt = _pyplot()
    ev = grid.valley_splitting_ueV
    extent = (grid.x_nm[0], grid.x_nm[-1], grid.y_nm[0], grid.y_nm[-1])
    width = 6.4
    aspect = (extent[3] - extent[2]) / max(extent[1] - extent[0], 1e-12)
    height = float(np.clip(width * aspect + 1.2, 2.4, 6.4))
    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    im = ax.imshow(
        ev.T,
        origin="lower",
        extent=extent,
        aspect="auto",
        cmap="viridis",
        interpolation="bilinear",
    )
    cbar = fig.colorbar(im, ax=ax)
    cbar.set_label(r"valley splitting $E_V = 2|\Delta|$ ($\mu$eV)")
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("y (nm)")
    s = grid.spec
    ax.set_title(
        title
        if title is not None
        else (
            rf"$\langle E_V\rangle$ = {s.mean_valley_splitting_ueV:g} $\mu$eV, "
            rf"$l_x$ = {s.lx_nm:g} nm, $l_y$ = {s.ly_nm:g} nm, seed {s.seed}"
        )
    )
    return _save(fig, path, dpi=dpi)


def plot_band_edge_line(
    path: str | Path,
    *,
    position_nm: ArrayLike,
    band_edge_meV: ArrayLike,
    gate_spans_nm: Mapping[str, tuple[float, float]] | None = None,
    axis_label: str = "x (nm)",
    title: str | None = None,
    dpi: int = 200,
) -> Path:
    """Write a PNG of the conduction-band edge U along a line (e.g. the channel axis).

    Parameters
    ----------
    path : str or Path
        Output file (PNG).
    position_nm : array_like, shape (n,)
        Position along the line.
    band_edge_meV : array_like, shape (n,) or (ncurves, n)
        U along the line; several curves (e.g. at several detunings) share the axes.
    gate_spans_nm : mapping of gate name to (start, end), optional
        Gates over the line, drawn as labelled bands along the top.
    axis_label, title : str
        Axis label and title.
    dpi : int
        Resolution.
    """
    plt = _pyplot()
    s = np.asarray(position_nm, dtype=float)
    u = np.atleast_2d(np.asarray(band_edge_meV, dtype=float))
    if u.shape[1] != s.size:
        raise ValueError(
            f"band_edge_meV has {u.shape[1]} points per curve; position_nm has {s.size}"
        )
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    for curve in u:
        ax.plot(s, curve, lw=1.5)
    if gate_spans_nm:
        lo, hi = float(np.nanmin(u)), float(np.nanmax(u))
        pad = 0.08 * max(hi - lo, 1e-9)
        ax.set_ylim(lo - pad, hi + 2.5 * pad)
        for name, (a, b) in gate_spans_nm.items():
            ax.axvspan(a, b, ymin=0.93, ymax=1.0, color="0.6")
            ax.axvspan(a, b, color="0.6", alpha=0.12, lw=0)
            ax.text((a + b) / 2, hi + 1.6 * pad, name, ha="center", va="center", fontsize=8)
    ax.set_xlim(s.min(), s.max())
    ax.set_xlabel(axis_label)
    ax.set_ylabel("conduction-band edge U (meV)")
    if title:
        ax.set_title(title)
    return _save(fig, path, dpi=dpi)


def plot_band_edge_top_view(
    path: str | Path,
    *,
    mesh: Any,
    band_edge_meV: ArrayLike,
    gate_outlines_nm: Mapping[str, tuple[float, float, float, float]] | None = None,
    title: str | None = None,
    dpi: int = 200,
) -> Path:
    """Write a PNG of U in a plane (top view), with the gate outlines drawn over it.

    Parameters
    ----------
    path : str or Path
        Output file (PNG).
    mesh : skfem.MeshTri
        The in-plane mesh (nm), e.g. ``geometries.<device>.build_plane``.
    band_edge_meV : array_like, shape (nvertices,)
        U at the mesh vertices (meV).
    gate_outlines_nm : mapping of gate name to (x0, x1, y0, y1), optional
        Gate footprints, drawn as labelled rectangles.
    title : str, optional
        Figure title.
    dpi : int
        Resolution.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle
    from matplotlib.tri import Triangulation

    u = np.asarray(band_edge_meV, dtype=float)
    if mesh.p.shape[0] != 2 or u.shape != (mesh.p.shape[1],):
        raise ValueError(
            f"band_edge_meV has shape {u.shape}; expected ({mesh.p.shape[1]},) on a 2-D mesh"
        )
    x, y = mesh.p
    lo_x, hi_x, lo_y, hi_y = x.min(), x.max(), y.min(), y.max()
    for x0, x1, y0, y1 in (gate_outlines_nm or {}).values():
        lo_x, hi_x = min(lo_x, x0), max(hi_x, x1)
        lo_y, hi_y = min(lo_y, y0), max(hi_y, y1)
    width = 7.0
    height = float(np.clip(width * (hi_y - lo_y) / max(hi_x - lo_x, 1e-9) + 1.0, 2.4, 7.0))
    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    ax.set_facecolor("0.35")  # outside the mesh: grey, so the white outlines show everywhere
    tpc = ax.tripcolor(Triangulation(x, y, mesh.t.T), u, shading="gouraud", cmap="viridis")
    fig.colorbar(tpc, ax=ax).set_label("U (meV)")
    for name, (x0, x1, y0, y1) in (gate_outlines_nm or {}).items():
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="w", lw=1.0))
        ax.text(
            (x0 + x1) / 2,
            min(y1, hi_y) - 0.04 * (hi_y - lo_y),
            name,
            color="w",
            ha="center",
            va="top",
            fontsize=8,
        )
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_aspect("equal")
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("y (nm)")
    if title:
        ax.set_title(title)
    return _save(fig, path, dpi=dpi)
