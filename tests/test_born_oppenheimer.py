"""Born-Oppenheimer reduction to 2-D: column solves, separable potentials, slices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as la
from skfem import MeshTet

from femvalley.born_oppenheimer import (
    TensorGrid,
    column_ground_states,
    column_matrices,
    reduce_to_plane,
)
from femvalley.eigen import solve
from femvalley.kp import assemble, single_band_model
from femvalley.units import HBAR2_OVER_2M0_MEV_NM2

from .conftest import C_T, ho_potential

C_L = HBAR2_OVER_2M0_MEV_NM2 / 0.92  # hbar^2 / (2 m_l), meV nm^2


def test_column_solves_equal_dense_generalized_eigh():
    rng = np.random.default_rng(1)
    z = np.sort(np.concatenate([[0.0, 20.0], rng.uniform(0, 20, 30)]))
    u = rng.normal(0, 30, (6, z.size)) - 5.0 * z
    off = np.where((z[:-1] >= 8) & (z[1:] <= 12.5), 0.0, 160.0)
    cs = column_ground_states(z, u, inverse_mass_meV_nm2=C_L, offset_meV=off)
    ad, ao, bd, bo = column_matrices(z, u, inverse_mass_meV_nm2=C_L, offset_meV=off)
    for j in range(6):
        a = np.diag(ad[j]) + np.diag(ao[j], 1) + np.diag(ao[j], -1)
        b = np.diag(bd[j]) + np.diag(bo[j], 1) + np.diag(bo[j], -1)
        w, v = la.eigh(a, b, subset_by_index=[0, 0])
        assert cs.energy_meV[j] == pytest.approx(w[0], abs=1e-9)
        # chi is the eigenvector, M-normalised, zero at the ends
        np.testing.assert_allclose(np.abs(cs.chi[j, 1:-1]), np.abs(v[:, 0]), atol=1e-8)
        assert cs.chi[j, 0] == 0 and cs.chi[j, -1] == 0
    # <chi|1|chi> = 1
    np.testing.assert_allclose(cs.expectation(np.ones(z.size)), 1.0, atol=1e-12)


def test_infinite_well_converges_at_second_order():
    exact = C_L * (np.pi / 10.0) ** 2
    errors = []
    for n in (20, 40, 80):
        z = np.linspace(0.0, 10.0, n + 1)
        e = column_ground_states(z, np.zeros((1, z.size)), inverse_mass_meV_nm2=C_L)
        errors.append(e.energy_meV[0] - exact)
    assert all(err > 0 for err in errors)  # Galerkin: from above
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(rates, 2.0, atol=0.05)


HW = 5.0  # meV, in-plane oscillator
FIELD = 5.0  # meV/nm vertical field (5 MV/m)


def _box(n_xy: int, n_z: int) -> MeshTet:
    x = np.linspace(-40.0, 40.0, n_xy + 1)
    z = np.linspace(0.0, 8.0, n_z + 1)
    mesh = MeshTet.init_tensor(x, x, z)
    return mesh.with_subdomains({"well": lambda p: np.ones(p.shape[1], dtype=bool)})


def _u_xy(p):
    return ho_potential((HW, HW), (C_T, C_T))(p[:2])


def _bo_and_3d(n_xy: int, n_z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    mesh = _box(n_xy, n_z)
    u_z = FIELD * (8.0 - mesh.p[2])  # pushes the electron up to z = 8
    red = reduce_to_plane(
        mesh,
        electron_energy_meV=_u_xy(mesh.p) + u_z,
        layer_offset_meV={"well": 0.0},
        inverse_mass_z_meV_nm2={"well": C_L},
    )
    # separable: every column has the same eps_0 on top of U_xy
    eps0 = red.potential_meV - _u_xy(red.grid.plane_points())
    mesh2 = red.plane_mesh()
    bo = solve(
        assemble(single_band_model(dim=2, potential_meV=red.potential_meV), mesh2), k=4
    ).energies_meV
    plane = solve(
        assemble(single_band_model(dim=2, potential_meV=_u_xy(mesh2.p)), mesh2), k=4
    ).energies_meV
    full = solve(
        assemble(
            single_band_model(
                dim=3, potential_meV=_u_xy(mesh.p) + u_z, inverse_mass_meV_nm2=(C_T, C_T, C_L)
            ),
            mesh,
        ),
        k=4,
    ).energies_meV
    return bo, full, plane, eps0


def test_separable_potential_bo2d_equals_3d_up_to_discretisation():
    """U = U_xy(x, y) + U_z(z): 3-D levels = 2-D levels of U_xy + the vertical eps_0."""
    diffs = []
    for n_xy in (16, 32):
        bo, full, plane, eps0 = _bo_and_3d(n_xy, 16)
        np.testing.assert_allclose(eps0, eps0[0], rtol=0, atol=1e-9)
        # the reduction is exact for a separable potential: BO-2D = 2-D levels + eps_0
        np.testing.assert_allclose(bo, plane + eps0[0], rtol=0, atol=1e-8)
        diffs.append(np.max(np.abs(full - bo)))
    # 3-D P1 on tetrahedra is not the tensor product of the 1-D and 2-D discretisations: the
    # two differ by discretisation errors, which fall at second order with the in-plane step
    assert diffs[1] < 0.1 * HW
    assert diffs[0] / diffs[1] > 3.0
    # the in-plane levels are the oscillator's, hbar w (nx + ny + 1) above eps_0
    # (P1 with h = 2.5 nm against an oscillator length of 9 nm: within 3 %)
    np.testing.assert_allclose(bo - eps0[0], HW * np.array([1, 2, 2, 3]), rtol=0.03)


def test_slice_is_the_potential_at_that_height_without_eps0():
    mesh = _box(8, 16)
    u = _u_xy(mesh.p) + FIELD * (8.0 - mesh.p[2])
    d = 0.01 * mesh.p[0] * (1 + 0.1 * mesh.p[2])  # a term that varies with height
    kw = dict(
        electron_energy_meV=u,
        layer_offset_meV={"well": 3.0},
        inverse_mass_z_meV_nm2={"well": C_L},
        terms={"detuning": d},
    )
    sl = reduce_to_plane(mesh, method="slice2d", slice_z_nm=7.25, **kw)
    xy = sl.grid.plane_points()
    np.testing.assert_allclose(sl.potential_meV, _u_xy(xy) + FIELD * 0.75 + 3.0, atol=1e-9)
    np.testing.assert_allclose(sl.terms["detuning"], 0.01 * xy[0] * 1.725, atol=1e-12)
    bo = reduce_to_plane(mesh, **kw)
    # <chi|D|chi> = 0.01 x (1 + 0.1 <z>), with <z> from the vertical state
    z_mean = bo.columns.expectation(bo.columns.z_nm)
    np.testing.assert_allclose(
        bo.terms["detuning"], 0.01 * xy[0] * (1 + 0.1 * z_mean), rtol=1e-9, atol=1e-12
    )
    assert np.all((z_mean > 4.0) & (z_mean < 8.0))  # the field pushes it up


def test_bad_meshes_and_fields_are_refused():
    mesh = _box(4, 4)
    kw = dict(
        electron_energy_meV=np.zeros(mesh.nvertices),
        layer_offset_meV={"well": 0.0},
        inverse_mass_z_meV_nm2={"well": C_L},
    )
    with pytest.raises(ValueError, match="method"):
        reduce_to_plane(mesh, method="3d", **kw)
    with pytest.raises(ValueError, match="slice_z_nm"):
        reduce_to_plane(mesh, method="slice2d", **kw)
    with pytest.raises(ValueError, match="outside the grid"):
        reduce_to_plane(mesh, method="slice2d", slice_z_nm=9.0, **kw)
    with pytest.raises(ValueError, match="inverse_mass_z"):
        reduce_to_plane(mesh, **{**kw, "inverse_mass_z_meV_nm2": {}})
    p = mesh.p.copy()
    p[0, 5] += 0.37  # no longer a tensor grid
    with pytest.raises(ValueError, match="tensor grid"):
        TensorGrid.from_points(p)
    two = _box(4, 4).with_subdomains(
        {"a": lambda x: x[0] < 10.0, "b": lambda x: x[0] >= 10.0}
    )  # an interface at x = 10 nm, between the grid planes 0 and 20
    with pytest.raises(ValueError, match="grid planes"):
        reduce_to_plane(
            two,
            electron_energy_meV=np.zeros(mesh.nvertices),
            layer_offset_meV={"a": 0.0, "b": 1.0},
            inverse_mass_z_meV_nm2={"a": C_L, "b": C_L},
        )
    with pytest.raises(ValueError, match="exactly one"):
        reduce_to_plane(mesh, method="slice2d", slice_z_nm=1.0, slice_at="interface", **kw)
    with pytest.raises(ValueError, match="slice_at"):
        reduce_to_plane(mesh, method="slice2d", slice_at="top", **kw)


def test_stepped_interface_columns_and_slices():
    """A step in the top interface: every column sees its own stack; slices stay in the well."""
    x = np.linspace(-20.0, 20.0, 11)  # planes every 4 nm, the step at x = 0
    z = np.linspace(-6.0, 1.0, 29)  # 0.25 nm: the interface at z = 0 (x < 0) and -1 (x > 0)
    mesh = MeshTet.init_tensor(x, np.linspace(-4.0, 4.0, 3), z)

    def top(p):
        return np.where(p[0] < 0, 0.0, -1.0)

    mesh = mesh.with_subdomains({"well": lambda p: p[2] < top(p), "oxide": lambda p: p[2] > top(p)})
    field = 4.0  # meV/nm, pushes the electron up against the interface
    u = field * (1.0 - mesh.p[2])
    kw = dict(
        electron_energy_meV=u,
        layer_offset_meV={"well": 0.0, "oxide": 3000.0},
        inverse_mass_z_meV_nm2={"well": C_L, "oxide": C_L},
    )
    bo = reduce_to_plane(mesh, **kw)
    xy = bo.grid.plane_points()

    def column(top_nm):  # the same column as a 1-D problem
        off = np.where(0.5 * (z[1:] + z[:-1]) < top_nm, 0.0, 3000.0)
        return column_ground_states(
            z, field * (1.0 - z)[None, :], inverse_mass_meV_nm2=C_L, offset_meV=off
        ).energy_meV[0]

    left, right = column(0.0), column(-1.0)
    np.testing.assert_allclose(bo.potential_meV[xy[0] < -1], left, rtol=0, atol=1e-7)
    np.testing.assert_allclose(bo.potential_meV[xy[0] > 1], right, rtol=0, atol=1e-7)
    assert right > left + 1.0  # 1 nm deeper in the field: higher
    edge = bo.potential_meV[np.abs(xy[0]) < 1e-9]  # mean coefficients: between both sides
    assert np.all((edge > left) & (edge < right))
    # the interface slice is the deepest interface (z = -1, in the well everywhere), on the
    # well's side of the plane; the max-density slice is the peak of the lowest column
    sl = reduce_to_plane(mesh, method="slice2d", slice_at="interface", **kw)
    assert sl.slice_z_nm == pytest.approx(-1.0)
    np.testing.assert_allclose(sl.potential_meV, field * 2.0, atol=1e-9)
    md = reduce_to_plane(mesh, method="slice2d", slice_at="max_density", **kw)
    j0 = int(np.argmin(bo.potential_meV))
    assert md.slice_z_nm == pytest.approx(z[np.argmax(bo.columns.chi[j0] ** 2)])
    # triangular well: the peak is ~1.02 (c_z / F)^(1/3) = 2.2 nm below the interface (z = 0)
    assert -3.0 < md.slice_z_nm < -1.5
