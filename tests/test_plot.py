"""Figures: written atomically as PNG, with input checks."""

from __future__ import annotations

import numpy as np
import pytest
from skfem import MeshTri

from femvalley.plot import plot_band_edge_line, plot_band_edge_top_view

PNG = b"\x89PNG\r\n\x1a\n"


def test_band_edge_line_and_top_view(tmp_path):
    x = np.linspace(-100, 100, 101)
    out = plot_band_edge_line(
        tmp_path / "line.png",
        position_nm=x,
        band_edge_meV=np.vstack([x**2 / 100, x**2 / 100 + 1]),
        gate_spans_nm={"P1": (-60.0, -30.0)},
    )
    assert out.read_bytes()[:8] == PNG
    mesh = MeshTri.init_tensor(np.linspace(-50, 50, 11), np.linspace(-20, 20, 5))
    out = plot_band_edge_top_view(
        tmp_path / "top.png",
        mesh=mesh,
        band_edge_meV=mesh.p[0] ** 2,
        gate_outlines_nm={"P1": (-40.0, -10.0, -30.0, 30.0)},
    )
    assert out.read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.png", "top.png"]  # no temp left


def test_bad_figure_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        plot_band_edge_line(tmp_path / "a.pdf", position_nm=[0, 1], band_edge_meV=[0, 1])
    with pytest.raises(ValueError, match="position_nm has 3"):
        plot_band_edge_line(tmp_path / "a.png", position_nm=[0, 1, 2], band_edge_meV=[0, 1])
    mesh = MeshTri()
    with pytest.raises(ValueError, match="band_edge_meV has shape"):
        plot_band_edge_top_view(tmp_path / "b.png", mesh=mesh, band_edge_meV=np.zeros(3))
    assert not any(tmp_path.iterdir())
