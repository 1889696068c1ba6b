"""ParaView files read back by VTK's own readers (the library ParaView is built on).

The XDMF series must show one grid per time step (not an extra mesh block), carry the time
values and the point data unchanged, and integrate: a field linear in x, y, z is integrated
exactly by VTK on a P1 mesh, so the integrals are compared with the closed form. Tetrahedra are
written positively oriented (VTK integrates signed volumes).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import skfem

from femvalley.io.paraview import write_vtu, write_xdmf_series

vtk = pytest.importorskip("vtk", reason="the vtk package is in the test extra")
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402 - after the importorskip of vtk

TIMES = [-10.0, -2.5, 0.0, 7.5]


def _box_mesh(dim):
    """A box [0, 1] x [0, 2] (x [0, 3]) with half of its cells turned inside out."""
    if dim == 3:
        m = skfem.MeshTet.init_tensor(
            np.linspace(0, 1, 4), np.linspace(0, 2, 3), np.linspace(0, 3, 4)
        )
    else:
        m = skfem.MeshTri.init_tensor(np.linspace(0, 1, 5), np.linspace(0, 2, 4))
    t = m.t.copy()
    t[[0, 1], ::2] = t[[1, 0], ::2]  # every other cell reversed
    return m.p, t


def _field(p, time):
    """Linear in the coordinates: VTK's integral on P1 cells is exact."""
    return 1.0 + p[0] + time * p[1] + (0.5 * p[2] if p.shape[0] == 3 else 0.0)


def _exact_integral(dim, time):
    # box [0,1] x [0,2] (x [0,3]): volume V, centroid (1/2, 1, 3/2)
    if dim == 3:
        return 6.0 * (1.0 + 0.5 + time * 1.0 + 0.5 * 1.5)
    return 2.0 * (1.0 + 0.5 + time * 1.0)


def _integrate(dataset, name):
    f = vtk.vtkIntegrateAttributes()
    f.SetInputData(dataset)
    f.Update()
    out = f.GetOutput()
    value = float(vtk_to_numpy(out.GetPointData().GetArray(name))[0])
    size = "Volume" if out.GetCellData().GetArray("Volume") is not None else "Area"
    return value, float(vtk_to_numpy(out.GetCellData().GetArray(size))[0])


def _read_series(path):
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(path))
    reader.UpdateInformation()
    info = reader.GetOutputInformation(0)
    times = info.Get(vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS())
    steps = []
    for t in times:
        reader.UpdateTimeStep(t)
        out = reader.GetOutputDataObject(0)
        copy = out.NewInstance()
        copy.DeepCopy(out)
        steps.append(copy)
    return list(times), steps


@pytest.mark.parametrize("dim", [3, 2])
def test_xdmf_series_has_one_grid_per_step_that_vtk_reads_and_integrates(tmp_path, dim):
    p, t = _box_mesh(dim)
    data = [{"f": _field(p, ti), "g": np.full(p.shape[1], ti)} for ti in TIMES]
    still = (p[0] + 2 * p[1]).astype(np.float32)  # the same at every step: stored once
    path = write_xdmf_series(
        tmp_path / "series.xdmf", p, t, TIMES, data, static_data={"still": still}
    )
    assert sorted(x.name for x in tmp_path.iterdir()) == ["series.h5", "series.xdmf"]
    with h5py.File(tmp_path / "series.h5", "r") as h5:
        assert [n for n in h5 if n.startswith("step") and "still" in h5[n]] == []

    times, steps = _read_series(path)
    np.testing.assert_array_equal(times, TIMES)
    for ti, grid in zip(TIMES, steps):
        # one unstructured grid per step: no second block holding the bare mesh
        assert grid.IsA("vtkUnstructuredGrid"), grid.GetClassName()
        assert grid.GetNumberOfPoints() == p.shape[1]
        assert grid.GetNumberOfCells() == t.shape[1]
        pts = vtk_to_numpy(grid.GetPoints().GetData())
        np.testing.assert_array_equal(pts[:, :dim], p.T)
        if dim == 2:
            assert np.all(pts[:, 2] == 0.0)  # a plane is written at z = 0
        f = vtk_to_numpy(grid.GetPointData().GetArray("f"))
        np.testing.assert_allclose(f, _field(p, ti), rtol=1e-6)  # single precision
        np.testing.assert_array_equal(vtk_to_numpy(grid.GetPointData().GetArray("g")), ti)
        np.testing.assert_array_equal(vtk_to_numpy(grid.GetPointData().GetArray("still")), still)
        integral, size = _integrate(grid, "f")
        assert size == pytest.approx(6.0 if dim == 3 else 2.0, rel=1e-12)
        assert integral == pytest.approx(_exact_integral(dim, ti), rel=1e-6, abs=1e-6)


def test_xdmf_series_reads_back_with_meshio(tmp_path):
    import meshio

    p, t = _box_mesh(3)
    data = [{"f": _field(p, ti)} for ti in TIMES]
    write_xdmf_series(tmp_path / "s.xdmf", p, t, TIMES, data, static_data={"still": p[2]})
    with meshio.xdmf.TimeSeriesReader(tmp_path / "s.xdmf") as reader:
        points, cells = reader.read_points_cells()
        np.testing.assert_array_equal(points, p.T)
        assert cells[0].type == "tetra" and cells[0].data.shape == (t.shape[1], 4)
        assert reader.num_steps == len(TIMES)
        for k, ti in enumerate(TIMES):
            time, point_data, _ = reader.read_data(k)
            assert time == ti
            np.testing.assert_allclose(point_data["f"], _field(p, ti), rtol=1e-6)
            np.testing.assert_allclose(point_data["still"], p[2], rtol=1e-6)


@pytest.mark.parametrize("dim", [3, 2])
def test_vtu_files_read_back_with_vtk(tmp_path, dim):
    p, t = _box_mesh(dim)
    f = _field(p, 2.0)
    path = write_vtu(tmp_path / "one.vtu", p, t, {"f": f})
    assert [x.name for x in tmp_path.iterdir()] == ["one.vtu"]
    reader = vtk.vtkXMLUnstructuredGridReader()
    reader.SetFileName(str(path))
    reader.Update()
    grid = reader.GetOutput()
    assert grid.GetNumberOfPoints() == p.shape[1] and grid.GetNumberOfCells() == t.shape[1]
    np.testing.assert_array_equal(vtk_to_numpy(grid.GetPointData().GetArray("f")), f)
    integral, size = _integrate(grid, "f")
    assert size == pytest.approx(6.0 if dim == 3 else 2.0, rel=1e-12)
    assert integral == pytest.approx(_exact_integral(dim, 2.0), rel=1e-12)


def test_series_input_errors_name_the_problem(tmp_path):
    p, t = _box_mesh(3)
    with pytest.raises(ValueError, match="must end in .xdmf"):
        write_xdmf_series(tmp_path / "s.h5", p, t, [0.0], [{"f": p[0]}])
    with pytest.raises(ValueError, match="2 sets of point data for 1 times"):
        write_xdmf_series(tmp_path / "s.xdmf", p, t, [0.0], [{"f": p[0]}, {"f": p[0]}])
    with pytest.raises(ValueError, match="'f' at step 0 has shape"):
        write_xdmf_series(tmp_path / "s.xdmf", p, t, [0.0], [{"f": p[0, :5]}])
    with pytest.raises(ValueError, match="static data 'g' has shape"):
        write_xdmf_series(tmp_path / "s.xdmf", p, t, [0.0], [{"f": p[0]}], static_data={"g": [1]})
    with pytest.raises(ValueError, match="cells have shape"):
        write_vtu(tmp_path / "x.vtu", p, t[:2], {})
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left
