"""Matplotlib figures (PNG): spectra, densities, valley-splitting maps and band-edge views.

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

from femvalley.io.atomic import atomic_path
from femvalley.valley_map import ValleyGrid

__all__ = [
    "plot_band_edge_line",
    "plot_band_edge_top_view",
    "plot_convergence",
    "plot_density_slices",
    "plot_device_layout",
    "plot_ensemble_distributions",
    "plot_ensemble_parameters",
    "plot_spectrum",
    "plot_tunnel_coupling_scan",
    "plot_spin",
    "plot_two_electron",
    "plot_valley_splitting_curves",
    "plot_valley_splitting_histogram",
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
    try:
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
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
    if title is None:
        title = (
            grid.label
            if s is None
            else (
                rf"$\langle E_V\rangle$ = {s.mean_valley_splitting_ueV:g} $\mu$eV, "
                rf"$l_x$ = {s.lx_nm:g} nm, $l_y$ = {s.ly_nm:g} nm, seed {s.seed}"
            )
        )
    ax.set_title(title)
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


def plot_spectrum(
    path: str | Path,
    *,
    detuning_mV: ArrayLike,
    energies_meV: ArrayLike,
    valley_parity: ArrayLike | None = None,
    n_states: int = 4,
    model_meV: Any = None,
    title: str | None = None,
    dpi: int = 200,
    zoom: Mapping[str, Any] | None = None,
) -> Path:
    """Write a PNG of the spectrum ``E - min(E0)`` (meV) against detuning (mV).

    Parameters
    ----------
    path : str or Path
        Output file (PNG).
    detuning_mV : array_like, shape (P,)
        Detuning of every point.
    energies_meV : array_like, shape (P, k)
        Energies, ascending per point; unfinished points may be NaN.
    valley_parity : array_like, shape (P, k), optional
        Valley parity ``<tau_Delta>`` of every state, -1 (lower local valley state) .. +1
        (upper); colours the lines (blue -1 .. red +1).
    n_states : int
        How many of the lowest states to draw (4 by default).
    model_meV : callable, optional
        ``model_meV(detuning_mV) -> (P, m)`` energies of a fitted model, drawn dashed
        (e.g. :meth:`femvalley.analysis.AnticrossingFit.energies_meV`).
    title : str, optional
        Figure title.
    dpi : int
        Resolution.
    zoom : mapping, optional
        A side panel on one anticrossing: ``detuning_mV`` (its position), ``width_mV`` (the
        half-width shown), ``energies_meV`` (callable: detunings (n,) -> the two branches
        (n, 2) in meV, e.g. from the reduced basis), ``label`` (text: the resolved gap and
        its bound).
    """
    plt = _pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    eps = np.asarray(detuning_mV, dtype=float)
    e = np.asarray(energies_meV, dtype=float)
    if e.ndim != 2 or e.shape[0] != eps.size:
        raise ValueError(f"energies_meV has shape {e.shape}; need ({eps.size}, k)")
    if not isinstance(n_states, int) or n_states < 1:
        raise ValueError(f"n_states = {n_states!r} must be an integer >= 1")
    ok = np.all(np.isfinite(e), axis=1)
    if not ok.any():
        raise ValueError("energies_meV has no finished point to plot")
    n = min(n_states, e.shape[1])
    ref = float(np.min(e[ok, 0]))
    if zoom is None:
        fig, ax = plt.subplots(figsize=(5.6, 4.0), constrained_layout=True)
    else:  # the zoom gets a panel of its own: an inset would hide the lines
        fig, (ax, ins) = plt.subplots(
            1,
            2,
            figsize=(8.6, 4.0),
            constrained_layout=True,
            gridspec_kw={"width_ratios": [1.9, 1.0]},
        )
    norm = Normalize(-1.0, 1.0)
    order = np.argsort(eps)
    x, rel = eps[order], e[order] - ref
    pol = None if valley_parity is None else np.asarray(valley_parity)[order]
    line = None
    for j in range(n):
        if pol is None:
            ax.plot(x, rel[:, j], "-", lw=1.6, color="k")
            continue
        pts = np.column_stack([x, rel[:, j]])
        segs = np.stack([pts[:-1], pts[1:]], axis=1)
        c = 0.5 * (pol[:-1, j] + pol[1:, j])
        line = LineCollection(list(segs), cmap="coolwarm", norm=norm, linewidths=2.0)
        line.set_array(c)
        ax.add_collection(line)
        ax.scatter(x, rel[:, j], c=pol[:, j], cmap="coolwarm", norm=norm, s=8, zorder=3)
    if model_meV is not None:
        fine = np.linspace(x[ok[order]].min(), x[ok[order]].max(), 400)
        me = np.asarray(model_meV(fine))
        for j in range(min(n, me.shape[1])):
            ax.plot(
                fine,
                me[:, j] - ref,
                "--",
                lw=0.8,
                color="0.3",
                label="two-dot model fit" if j == 0 else None,
            )
        ax.legend(loc="best", fontsize=8, frameon=False)
    if line is not None:
        fig.colorbar(line, ax=ax).set_label(
            r"valley parity $\langle\tau_\Delta\rangle$ (-1: lower, +1: upper valley state)"
        )
    ax.set_xlim(x.min(), x.max())
    finite = rel[:, :n][np.isfinite(rel[:, :n])]
    pad = 0.05 * max(float(np.ptp(finite)), 1e-6)
    ax.set_ylim(float(finite.min()) - pad, float(finite.max()) + pad)
    ax.set_xlabel("detuning (mV)")
    ax.set_ylabel(r"$E - \min(E_0)$ (meV)")
    ax.set_title(title or f"lowest {n} states", fontsize=9)
    if zoom is not None:
        x0, w = float(zoom["detuning_mV"]), float(zoom["width_mV"])
        fine = np.linspace(x0 - w, x0 + w, 201)
        branches = np.asarray(zoom["energies_meV"](fine), dtype=float)
        mid = 0.5 * (branches[:, 0] + branches[:, 1])
        for b in range(2):
            ins.plot(fine - x0, 1e3 * (branches[:, b] - mid), "-", color="k", lw=1.2)
        ins.axvline(0.0, color="0.6", lw=0.6, ls=":")
        ins.set_xlabel(r"detuning $-\ \epsilon_0$ (mV)")
        ins.set_ylabel(r"$E - \bar E$ ($\mu$eV), two lowest states")
        ins.set_title(
            rf"lowest anticrossing, $\epsilon_0$ = {x0:.4g} mV" + "\n" + str(zoom.get("label", "")),
            fontsize=8,
        )
        ins.grid(True, alpha=0.3)
    return _save(fig, path, dpi=dpi)


def plot_density_slices(
    path: str | Path,
    *,
    mesh: Any,
    densities: Mapping[str, ArrayLike],
    outlines_nm: Mapping[str, tuple[float, float, float, float]] | None = None,
    resolution_nm: float = 1.0,
    dpi: int = 200,
) -> Path:
    """Write a PNG of densities: top view (x-y) and side view (x-z) of each (3-D), or the map.

    In 3-D the top view is taken at the height of the density maximum, the side view through
    it; a 2-D (reduced) density is drawn as it is, one panel per entry.

    Parameters
    ----------
    path : str or Path
        Output file (PNG).
    mesh : skfem.MeshTet or skfem.MeshTri
        The k.p mesh (nm).
    densities : mapping of label to array of shape (nvertices,)
        E.g. ``{"detuning -10 mV": n0, "detuning +10 mV": n1}`` (one column per entry).
    outlines_nm : mapping of name to (x0, x1, y0, y1), optional
        Rectangles drawn on the top views (gates, dot regions).
    resolution_nm : float
        Pixel size of the slices.
    dpi : int
        Resolution.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    from femvalley.mesh import probe_matrix

    p = np.asarray(mesh.p, dtype=float)
    dim = p.shape[0]
    if dim not in (2, 3):
        raise ValueError(f"plot_density_slices needs a 2-D or 3-D mesh, not {dim}-D")
    if not densities:
        raise ValueError("densities is empty")
    if not resolution_nm > 0:
        raise ValueError(f"resolution_nm = {resolution_nm!r} must be > 0")
    lo, hi = p.min(axis=1), p.max(axis=1)
    inset = 1e-9 * float(np.max(hi - lo))
    xs = np.linspace(lo[0] + inset, hi[0] - inset, int((hi[0] - lo[0]) / resolution_nm) + 1)
    ys = np.linspace(lo[1] + inset, hi[1] - inset, int((hi[1] - lo[1]) / resolution_nm) + 1)
    ncol = len(densities)
    if dim == 3:
        zs = np.linspace(
            lo[2] + inset, hi[2] - inset, max(int((hi[2] - lo[2]) / (resolution_nm / 4)), 2) + 1
        )
        fig, axes = plt.subplots(
            2,
            ncol,
            figsize=(4.6 * ncol, 3.6),
            squeeze=False,
            constrained_layout=True,
            gridspec_kw={"height_ratios": [hi[1] - lo[1], 2.5 * (hi[2] - lo[2])]},
        )
    else:
        fig, axes = plt.subplots(
            1, ncol, figsize=(4.6 * ncol, 2.4), squeeze=False, constrained_layout=True
        )
    for c, (label, values) in enumerate(densities.items()):
        n = np.asarray(values, dtype=float)
        if n.shape != (p.shape[1],):
            raise ValueError(f"densities[{label!r}] has shape {n.shape}; need ({p.shape[1]},)")
        peak = p[:, int(np.argmax(n))]
        gx, gy = np.meshgrid(xs, ys)
        plane = [gx.ravel(), gy.ravel()] + ([np.full(gx.size, peak[2])] if dim == 3 else [])
        img_top = (probe_matrix(mesh, np.vstack(plane)) @ n).reshape(gx.shape)
        vmax = float(max(img_top.max(), 1e-300))
        if dim == 3:
            gx2, gz2 = np.meshgrid(xs, zs)
            side = probe_matrix(
                mesh, np.vstack([gx2.ravel(), np.full(gx2.size, peak[1]), gz2.ravel()])
            )
            img_side = (side @ n).reshape(gx2.shape)
            vmax = float(max(vmax, img_side.max()))
        ax = axes[0, c]
        im = ax.imshow(
            img_top,
            origin="lower",
            extent=(xs[0], xs[-1], ys[0], ys[-1]),
            cmap="magma",
            vmin=0,
            vmax=vmax,
            aspect="equal",
        )
        for name, (x0, x1, y0, y1) in (outlines_nm or {}).items():
            if not (y1 > ys[0] + 1e-6 and y0 < ys[-1] - 1e-6):
                continue  # outside the slice (e.g. screening gates beside the channel)
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="w", lw=0.8))
            ax.text(
                (x0 + x1) / 2,
                min(y1, ys[-1]) - 2,
                name,
                color="w",
                ha="center",
                va="top",
                fontsize=7,
            )
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        where = f"top view at z = {peak[2]:.1f} nm" if dim == 3 else "in-plane density"
        ax.set_title(f"{label}\n{where}", fontsize=9)
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y (nm)")
        if dim == 2:
            fig.colorbar(im, ax=ax, shrink=0.8).set_label(r"density (nm$^{-2}$)")
            continue
        ax2 = axes[1, c]
        im = ax2.imshow(
            img_side,
            origin="lower",
            extent=(xs[0], xs[-1], zs[0], zs[-1]),
            cmap="magma",
            vmin=0,
            vmax=vmax,
            aspect=2.5,
        )
        ax2.set_title(f"side view at y = {peak[1]:.1f} nm", fontsize=9)
        ax2.set_xlabel("x (nm)")
        ax2.set_ylabel("z (nm)")
        fig.colorbar(im, ax=[ax, ax2], shrink=0.8).set_label(r"density (nm$^{-3}$)")
    return _save(fig, path, dpi=dpi)


def plot_tunnel_coupling_scan(
    path: str | Path,
    *,
    voltages_V: ArrayLike,
    tunnel_coupling_ueV: Mapping[str, ArrayLike],
    gate: str = "barrier",
    title: str | None = None,
    dpi: int = 200,
    ylabel: str = r"tunnel coupling $t$ ($\mu$eV)",
) -> Path:
    """Write a PNG of tunnel couplings (ueV, log scale) against a gate voltage (mV), per model.

    The same figure draws any positive quantity in ueV per model (e.g. the exchange J, with
    ``ylabel``).

    Parameters
    ----------
    path : str or Path
        Output file (PNG).
    voltages_V : array_like (n,)
        The scanned gate voltage (V); drawn in mV.
    tunnel_coupling_ueV : mapping of model name to array_like (n,)
        E.g. the ``tunnel_coupling_ueV`` of :func:`femvalley.study.barrier_scan`.
    gate : str
        Name of the scanned gate (axis label).
    title : str, optional
        Figure title.
    dpi : int
        Resolution.
    """
    plt = _pyplot()
    v = 1e3 * np.asarray(voltages_V, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"voltages_V has shape {v.shape}; need a non-empty 1-D array")
    if not tunnel_coupling_ueV:
        raise ValueError("tunnel_coupling_ueV is empty")
    style = {"3d": ("o", "C0"), "bo2d": ("s", "C1")}
    fig, ax = plt.subplots(figsize=(5.2, 3.6), constrained_layout=True)
    for k, (name, t) in enumerate(tunnel_coupling_ueV.items()):
        t = np.asarray(t, dtype=float)
        if t.shape != v.shape:
            raise ValueError(f"tunnel_coupling_ueV[{name!r}] has shape {t.shape}; need {v.shape}")
        marker, color = style.get(name, ("^v"[k % 2], f"C{2 + k}"))
        ax.semilogy(v, np.where(t > 0, t, np.nan), marker=marker, color=color, label=name)
    ax.set_xlabel(f"{gate} voltage (mV)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path, dpi=dpi)


def plot_two_electron(sweep: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG of two-electron levels and the exchange J against detuning.

    ``sweep``: a :class:`femvalley.twoelectron.TwoElectronSweep`. Left: the levels relative
    to the lowest at each detuning (meV; singlets solid, triplets dashed). Right: ``|J|``
    (ueV, log scale) with its basis error; filled markers where J > 0 (singlet ground state),
    open where J < 0, grey triangles at the bound where J is not above its basis error.
    """
    plt = _pyplot()
    eps = np.asarray(sweep.detuning_mV, dtype=float)
    e = np.asarray(sweep.energies_meV, dtype=float)
    spin = np.asarray(sweep.spin)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.0, 3.6), constrained_layout=True)
    rel = e - np.nanmin(e, axis=1, keepdims=True)
    for s, style, label in ((0, "-", "singlet"), (1, "--", "triplet")):
        for j in range(e.shape[1]):
            y = np.where(spin[:, j] == s, rel[:, j], np.nan)
            color = "C0" if s == 0 else "C3"
            ax.plot(eps, y, style, color=color, marker=".", lw=1, label=label if j == 0 else None)
    ax.legend(fontsize=8)
    ax.set_xlabel("detuning (mV)")
    ax.set_ylabel(r"$E - E_0$ (meV)")
    ax.grid(True, alpha=0.3)
    j_ueV = 1e3 * np.asarray(sweep.exchange_meV, dtype=float)
    err = np.nan_to_num(1e3 * np.asarray(sweep.exchange_error_meV, dtype=float))
    resolved = np.abs(j_ueV) > err
    pos = resolved & (j_ueV > 0)
    neg = resolved & (j_ueV < 0)
    bx.errorbar(eps[pos], j_ueV[pos], yerr=err[pos], fmt="o", color="C0", label="J > 0", capsize=2)
    if np.any(neg):
        bx.errorbar(
            eps[neg],
            -j_ueV[neg],
            yerr=err[neg],
            fmt="o",
            mfc="none",
            color="C3",
            label="J < 0 (|J|)",
            capsize=2,
        )
    bound = ~resolved & np.isfinite(j_ueV)
    if np.any(bound):  # not resolved: only the bound |J| + error is known
        bx.plot(
            eps[bound],
            np.abs(j_ueV[bound]) + err[bound],
            "v",
            color="0.5",
            label="not resolved: |J| below",
        )
    if np.any(np.abs(j_ueV) + err > 0):
        bx.set_yscale("log")
    bx.set_xlabel("detuning (mV)")
    bx.set_ylabel(r"exchange $|J|$ ($\mu$eV)")
    bx.grid(True, which="both", alpha=0.3)
    bx.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path, dpi=150)


def plot_spin(
    sweep: Any,
    path: str | Path,
    *,
    crossing_T: float | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG of a spin-valley qubit against the field (four panels).

    ``sweep``: a :class:`femvalley.magnetic.QubitSweep`. (a) the levels relative to the
    lowest (meV); (b) the Rabi frequency of the drive (MHz, log); (c) ``T2*`` of the gate
    noise (us, log); (d) ``Gamma_1`` with and without the phonons' shear coupling (1/s, log).
    ``crossing_T``: the spin-valley crossing field, drawn as a dashed line in every panel.
    """
    plt = _pyplot()
    b = np.asarray(sweep.field_T, dtype=float)
    e = np.asarray(sweep.energies_meV, dtype=float)
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 6.4), constrained_layout=True)
    ax, rx, tx, gx = axes.ravel()
    rel = e - e[:, :1]
    for j in range(e.shape[1]):
        ax.plot(b, rel[:, j], "-", marker=".", lw=1, label=f"level {j}")
    ax.set_ylabel(r"$E - E_0$ (meV)")
    ax.legend(fontsize=7)

    def positive(values: Any) -> Any:
        v = np.asarray(values, dtype=float)
        return np.where(np.isfinite(v) & (v > 0), v, np.nan)

    rx.plot(b, positive(sweep.rabi_MHz), "o-", ms=3, color="C0")
    rx.set_ylabel(
        f"Rabi frequency (MHz), {sweep.attrs.get('drive_amplitude_mV', 1.0):g} mV on "
        f"{sweep.attrs.get('drive_gate', '?')}"
    )
    tx.plot(b, positive(sweep.t2star_us), "o-", ms=3, color="C2")
    tx.set_ylabel(r"$T_2^*$ ($\mu$s)")
    gx.plot(b, positive(sweep.gamma1_per_s), "o-", ms=3, color="C3", label="with shear")
    gx.plot(b, positive(sweep.gamma1_no_shear_per_s), "--", color="C0", label="without shear")
    gx.set_ylabel(r"$\Gamma_1$ (1/s), T = " + f"{sweep.attrs.get('temperature_K', 0):g} K")
    gx.legend(fontsize=7)
    for axis, values in (
        (rx, sweep.rabi_MHz),
        (tx, sweep.t2star_us),
        (gx, sweep.gamma1_no_shear_per_s),
    ):
        if np.any(np.isfinite(positive(values))):
            axis.set_yscale("log")
    for axis in axes.ravel():
        axis.set_xlabel("field (T)")
        axis.grid(True, which="both", alpha=0.3)
        if crossing_T is not None and b.min() <= crossing_T <= b.max():
            axis.axvline(crossing_T, ls="--", color="0.4", lw=1)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path, dpi=150)


def plot_valley_splitting_histogram(
    valley_splitting_ueV: ArrayLike,
    path: str | Path,
    *,
    rician_ueV: tuple[float, float] | None = None,
    title: str | None = None,
    dpi: int = 150,
) -> Path:
    """Write a PNG histogram of valley splittings (ueV) with an optional Rician density.

    Parameters
    ----------
    valley_splitting_ueV : array_like (n,)
        One value per realisation.
    rician_ueV : (nu, sigma), optional
        Parameters of the expected law (:func:`femvalley.heterostructure.alloy.rician_parameters`,
        in ueV), drawn as a line.
    """
    plt = _pyplot()
    ev = np.asarray(valley_splitting_ueV, dtype=float)
    if ev.ndim != 1 or ev.size == 0 or not np.all(np.isfinite(ev)):
        raise ValueError(f"valley_splitting_ueV must be a non-empty 1-D finite array: {ev.shape}")
    fig, ax = plt.subplots(figsize=(5.0, 3.4), constrained_layout=True)
    bins = int(np.clip(np.sqrt(ev.size) * 2, 10, 60))
    ax.hist(ev, bins=bins, density=True, color="C0", alpha=0.6, label=f"{ev.size} realisations")
    q25, med, q75 = np.percentile(ev, [25, 50, 75])
    ax.axvline(med, color="k", lw=1.2, label=f"median {med:.3g} $\\mu$eV")
    ax.axvspan(q25, q75, color="k", alpha=0.08, label="inter-quartile range")
    if rician_ueV is not None:
        from scipy import stats

        nu, sigma = rician_ueV
        x = np.linspace(0, max(ev.max(), nu + 4 * sigma), 400)
        ax.plot(x, stats.rice(nu / sigma, scale=sigma).pdf(x), "C3", label="Rician (eq. 28)")
    ax.set_xlabel(r"valley splitting $E_V$ ($\mu$eV)")
    ax.set_ylabel(r"probability density (1/$\mu$eV)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path, dpi=dpi)


def plot_valley_splitting_curves(
    path: str | Path,
    *,
    x: ArrayLike,
    curves_ueV: Mapping[str, ArrayLike],
    spread_ueV: Mapping[str, tuple[ArrayLike, ArrayLike]] | None = None,
    xlabel: str,
    log: bool = True,
    markers: Mapping[str, float] | None = None,
    title: str | None = None,
    dpi: int = 150,
) -> Path:
    """Write a PNG of valley-splitting curves (ueV) against one parameter.

    Parameters
    ----------
    x : array_like (n,)
        The parameter (its unit in ``xlabel``).
    curves_ueV : mapping of label to array_like (n,)
        One line per model or statistic (e.g. the median).
    spread_ueV : mapping of label to (low, high), optional
        Error bars of a curve (e.g. the quartiles).
    markers : mapping of label to float, optional
        Vertical reference lines (e.g. ``{"2 k0": 19.67}``).
    log : bool
        Logarithmic E_V axis.
    """
    plt = _pyplot()
    xv = np.asarray(x, dtype=float)
    if xv.ndim != 1 or xv.size == 0:
        raise ValueError(f"x has shape {xv.shape}; need a non-empty 1-D array")
    if not curves_ueV:
        raise ValueError("curves_ueV is empty")
    fig, ax = plt.subplots(figsize=(5.4, 3.6), constrained_layout=True)
    for k, (name, y) in enumerate(curves_ueV.items()):
        yv = np.asarray(y, dtype=float)
        if yv.shape != xv.shape:
            raise ValueError(f"curves_ueV[{name!r}] has shape {yv.shape}; need {xv.shape}")
        spread = (spread_ueV or {}).get(name)
        if spread is not None:
            lo, hi = (np.asarray(s, dtype=float) for s in spread)
            ax.errorbar(xv, yv, yerr=[yv - lo, hi - yv], fmt="o-", ms=3, capsize=2, label=name)
        else:
            ax.plot(xv, yv, "-" if xv.size > 30 else "o-", ms=3, color=f"C{k}", label=name)
    for name, xm in (markers or {}).items():
        ax.axvline(xm, color="k", ls=":", lw=1)
        ax.annotate(name, (xm, 1), xycoords=("data", "axes fraction"), fontsize=8, va="top")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"valley splitting $E_V$ ($\mu$eV)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path, dpi=dpi)


def plot_ensemble_distributions(
    results: Mapping[str, Any], config: Any, path: str | Path, *, dpi: int = 150
) -> Path:
    """Write a PNG of an ensemble's distributions: histograms (top) and CDFs (bottom).

    Columns: valley splitting of each dot and the resolved tunnel coupling (ueV), one colour
    per parameter combination; the CDF panel of the valley splittings marks
    ``ensemble.threshold_ueV``. Tunnel couplings that are not resolved (smaller than their
    certified bound) are left out; the ensemble summary counts them.

    Parameters
    ----------
    results : mapping
        As returned by :func:`femvalley.ensemble.run_ensemble` or read by
        :func:`femvalley.ensemble.read_ensemble`.
    config : EnsembleConfig
    """
    plt = _pyplot()
    columns = (
        ("valley_splitting_L_ueV", "valley splitting, left dot"),
        ("valley_splitting_R_ueV", "valley splitting, right dot"),
        ("tunnel_coupling_ueV", "tunnel coupling $t_c$ (resolved)"),
    )
    combos = config.ensemble.combinations()
    done = np.asarray(results["done"], dtype=bool)
    fig, axes = plt.subplots(2, len(columns), figsize=(3.2 * len(columns), 5.4))
    thr = float(config.ensemble.threshold_ueV)
    for col, (name, label) in enumerate(columns):
        top, bottom = axes[0, col], axes[1, col]
        for c, combo in enumerate(combos):
            sel = done & (np.asarray(results["combination"]) == c)
            v = np.asarray(results[name], dtype=float)[sel]
            v = np.sort(v[np.isfinite(v)])
            if v.size == 0:
                continue
            tag = ", ".join(f"{k.split('.')[-1]}={_short(x)}" for k, x in combo.items()) or "all"
            bins = int(np.clip(np.sqrt(v.size) * 2, 8, 50))
            top.hist(v, bins=bins, histtype="step", color=f"C{c % 10}", label=tag)
            bottom.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=f"C{c % 10}")
            bottom.axvline(np.median(v), color=f"C{c % 10}", lw=0.6, ls=":")
        if name.startswith("valley_splitting"):
            bottom.axvline(thr, color="k", lw=0.8, ls="--")
        top.set_title(label, fontsize=9)
        top.set_ylabel("realisations")
        bottom.set_xlabel(r"$\mu$eV")
        bottom.set_ylabel("cumulative fraction")
        bottom.set_ylim(0, 1)
    if len(combos) > 1 or combos[0]:
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"{int(done.sum())} realisations (seeds x parameters); dashed: threshold {thr:g} "
        r"$\mu$eV, dotted: medians",
        fontsize=9,
    )
    fig.tight_layout()
    return _save(fig, path, dpi=dpi)


def _short(value: Any) -> str:
    """Return a parameter value for a label: numbers with %g, anything else as text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value)


def plot_ensemble_parameters(summary: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Write a PNG of a parameter study: the device and its statistics against the parameter.

    Panels: the dot centres (nm), the orbital spacing of each dot (meV), the detuning lever
    arm, the resolved tunnel coupling (log scale) and the valley splitting of both dots
    pooled (ueV): medians with their inter-quartile ranges over the seeds. The x axis is the
    varied parameter when one numeric parameter varies, else the combination's index (with
    the combinations listed under the figure).

    Parameters
    ----------
    summary : EnsembleSummary
        As written to ``ensemble_summary.json`` (:func:`femvalley.ensemble.run_ensemble`).
    """
    plt = _pyplot()
    combos = list(summary.combinations)
    names = list(combos[0].parameters) if combos else []
    varying = [n for n in names if len({repr(c.parameters[n]) for c in combos}) > 1]
    numeric = [
        n
        for n in varying
        if all(
            isinstance(c.parameters[n], (int, float)) and not isinstance(c.parameters[n], bool)
            for c in combos
        )
    ]
    # a numeric parameter with a different value in every combination is the x axis (the
    # others varied with it, "zip", are named in its label)
    axis = next((n for n in numeric if len({c.parameters[n] for c in combos}) == len(combos)), None)
    if axis is not None:
        x = np.array([float(c.parameters[axis]) for c in combos])
        others = [n.split(".")[-1] for n in varying if n != axis]
        xlabel = axis.split(".")[-1] + (f" (with {', '.join(others)})" if others else "")
    else:
        x = np.arange(len(combos), dtype=float)
        xlabel = "combination"

    def column(get: Any) -> Any:
        return np.array([np.nan if (v := get(c)) is None else float(v) for c in combos])

    def stats(name: str, scale: float = 1.0) -> tuple[Any, Any, Any]:
        def pick(key: str) -> Any:
            return column(lambda c: getattr(getattr(c, name), key) if getattr(c, name) else None)

        return pick("median") * scale, pick("q25") * scale, pick("q75") * scale

    fig, axes = plt.subplots(1, 5, figsize=(16.5, 3.4))
    for side, colour, style in (("L", "C0", "o-"), ("R", "C3", "s--")):
        for ax, name in ((axes[0], f"dot_{side}_x_nm"), (axes[1], f"orbital_spacing_{side}_meV")):
            ax.plot(
                x,
                column(lambda c, n=name: c.device.get(n)),
                style,
                color=colour,
                label=f"dot {side}",
                mfc="none",
            )
    axes[0].set_ylabel("dot centre x (nm)")
    axes[1].set_ylabel("orbital spacing (meV)")
    panels = (
        (axes[2], "lever_arm_meV_per_mV", "detuning lever arm (meV/mV)", False),
        (axes[3], "tunnel_coupling_ueV", r"tunnel coupling $t_c$ ($\mu$eV)", True),
        (axes[4], "valley_splitting_ueV", r"valley splitting, both dots ($\mu$eV)", False),
    )
    for ax, name, label, log in panels:
        med, q25, q75 = stats(name)
        ok = np.isfinite(med)
        if ok.any():
            ax.errorbar(
                x[ok], med[ok], yerr=[med[ok] - q25[ok], q75[ok] - med[ok]], fmt="o-", capsize=3
            )
        if log and np.any(med[ok] > 0):
            ax.set_yscale("log")
        ax.set_ylabel(label)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    if xlabel == "combination":
        lines = [
            f"{i}: " + ", ".join(f"{k}={_short(v)}" for k, v in c.parameters.items())
            for i, c in enumerate(combos)
        ]
        fig.text(0.01, 0.0, "; ".join(lines)[:400], fontsize=7, va="bottom")
    fig.suptitle(
        "the device against its parameter: medians and inter-quartile ranges over "
        f"{summary.done} realisations",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.05 if xlabel == "combination" else 0, 1, 1))
    return _save(fig, path, dpi=dpi)


def plot_convergence(
    table: Any,
    path: str | Path,
    *,
    names: list[str] | None = None,
    dpi: int = 150,
) -> Path:
    """Deviation of each observable from its extrapolated value against the mesh size.

    One log-log panel per observable of a :class:`femvalley.convergence.ConvergenceTable`
    (``names``: a selection), with the estimated error of the finest level as a dashed line
    and the observed order and status in the title. Levels where an observable is not
    resolved (NaN) are left out.
    """
    plt = _pyplot()
    chosen = list(table.observables) if names is None else list(names)
    n = len(chosen)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    h = np.asarray(table.h, dtype=float)
    for ax, name in zip(axes.ravel(), chosen):
        ex = table.extrapolations[name]
        dev = np.asarray(table.deviation(name), dtype=float)
        ok = np.isfinite(dev) & (dev > 0)
        unit = table.units.get(name, "")
        if ok.any():
            ax.loglog(h[ok], dev[ok], "o-", color="C0", label="|value - extrapolated|")
        if np.isfinite(ex.error) and ex.error > 0:
            ax.axhline(ex.error, color="C3", ls="--", lw=1, label="error estimate, finest")
        order = f"order {ex.order:.2g}" if np.isfinite(ex.order) else "no order"
        ax.set_title(f"{name}\n{ex.status}, {order}", fontsize=9)
        ax.set_xlabel(f"{table.refinement}")
        ax.set_ylabel(f"deviation [{unit}]" if unit else "deviation")
        ax.grid(True, which="both", alpha=0.3)
        if ok.any():
            ax.legend(fontsize=7)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path, dpi=dpi)


def plot_device_layout(description: Any, path: str | Path) -> Path:
    """Top view and cross-section of a device description, before anything is meshed.

    Left: the domain, every gate's outline (coloured by the layer it sits in, named) and the
    dot regions (dashed, with their plungers). Right: the cross-section at y = 0 (x, z): the
    layers with their names and materials, the gates the plane cuts, and the quantum region
    (dashed). ``description``: a :class:`geometries.description.DeviceDescription`. Units: nm.
    """
    import shapely

    plt = _pyplot()
    d = description
    x0, x1, y0, y1 = d.domain_nm
    layers = d.layer_bounds_nm()
    names = [x.name for x in d.layers]
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(names), 2)))
    colour = dict(zip(names, colours))
    fig, (top, side) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 1]})
    top.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.0, color="0.3"))
    for g in d.gates:
        xy = np.asarray(g.polygon_nm)
        z0, _ = d.gate_z_nm(g)
        layer = g.layer or next((n for n, (a, b) in layers.items() if a <= z0 < b), names[-1])
        top.add_patch(plt.Polygon(xy, closed=True, alpha=0.55, color=colour[layer], lw=0.8))
        c = g.outline().representative_point()
        top.text(c.x, c.y, g.name, ha="center", va="center", fontsize=8)
    for dot in d.dots:
        a, b, c0, c1 = dot.rectangle_nm
        top.add_patch(plt.Rectangle((a, c0), b - a, c1 - c0, fill=False, ls="--", color="k"))
        top.text(
            (a + b) / 2, c0, f"{dot.name} ({dot.plunger})", ha="center", va="bottom", fontsize=7
        )
    top.set(
        xlim=(x0, x1),
        ylim=(y0, y1),
        xlabel="x (nm)",
        ylabel="y (nm)",
        aspect="equal",
        title=f"{d.name}: top view (gates by layer; dot regions dashed)",
    )
    for name, (a, b) in layers.items():
        side.add_patch(plt.Rectangle((x0, a), x1 - x0, b - a, color=colour[name], alpha=0.35, lw=0))
        material = d.materials[name]
        side.text(x1, (a + b) / 2, f" {name} ({material}, {b - a:g} nm)", va="center", fontsize=7)
    cut = shapely.LineString([(x0, 0.0), (x1, 0.0)])
    for g in d.gates:
        z0, z1 = d.gate_z_nm(g)
        part = g.outline().intersection(cut)
        for seg in getattr(part, "geoms", [part]):
            if seg.is_empty or seg.length <= 0:
                continue
            a, b = seg.bounds[0], seg.bounds[2]
            side.add_patch(plt.Rectangle((a, z0), b - a, z1 - z0, color="0.25"))
            side.text((a + b) / 2, z1, g.name, ha="center", va="bottom", fontsize=7)
    q0, q1 = d.quantum_z_nm
    qx = [dot.rectangle_nm[i] for dot in d.dots for i in (0, 1)]
    side.add_patch(
        plt.Rectangle((min(qx), q0), max(qx) - min(qx), q1 - q0, fill=False, ls="--", color="k")
    )
    bottom, top_z = d.stack_z_nm
    side.set(
        xlim=(x0, x1),
        ylim=(bottom, top_z),
        xlabel="x (nm)",
        ylabel="z (nm)",
        title="cross-section at y = 0 (gates dark; quantum region dashed)",
    )
    fig.tight_layout()
    return _save(fig, path, dpi=130)
