"""Bad input to the k.p model and its assembly raises ValueError naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from femvalley.kp import (
    KPModel,
    QuadraticTerm,
    assemble,
    check_hermitian,
    single_band_model,
    two_valley_model,
)
from femvalley.materials import Material, get_material, silicon_germanium

from .conftest import C_T, square_mesh


@pytest.fixture(scope="module")
def mesh():
    return square_mesh(6, 20.0)


def test_non_hermitian_constant_term(mesh):
    c = np.zeros((mesh.nvertices, 2, 2), dtype=complex)
    c[:, 0, 1] = 0.1
    c[:, 1, 0] = 0.2  # not the conjugate
    model = KPModel(
        n_components=2, quadratic=[QuadraticTerm(axes=(0, 0), coefficient=C_T)], constant=c
    )
    with pytest.raises(ValueError, match="not Hermitian"):
        assemble(model, mesh)
    # complex diagonal is not Hermitian either
    with pytest.raises(ValueError, match="not Hermitian"):
        assemble(KPModel(n_components=2, constant=np.diag([0.1j, 0.0])), mesh)


def test_check_hermitian_on_matrices():
    import scipy.sparse as sp

    a = sp.csr_matrix(np.array([[1.0, 2.0j], [-2.0j, 3.0]]))
    assert check_hermitian(a) == 0.0
    with pytest.raises(ValueError, match="H is not Hermitian"):
        check_hermitian(sp.csr_matrix(np.array([[1.0, 2.0j], [2.0j, 3.0]])))


def test_shape_mismatch_of_delta_and_potential(mesh):
    with pytest.raises(ValueError, match=r"constant has 5 node values"):
        assemble(two_valley_model(dim=2, delta_meV=np.ones(5) * 0.1, potential_meV=0.0), mesh)
    with pytest.raises(ValueError, match=r"potential has 7 values"):
        assemble(single_band_model(dim=2, potential_meV=np.zeros(7)), mesh)
    with pytest.raises(ValueError, match=r"delta_meV has shape \(3, 3\)"):
        two_valley_model(dim=2, delta_meV=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"constant has shape \(3,\)"):
        assemble(KPModel(n_components=2, constant=np.zeros(3)), mesh)


def test_nan_potential(mesh):
    u = np.zeros(mesh.nvertices)
    u[3] = np.nan
    with pytest.raises(ValueError, match="potential: 1 value"):
        assemble(single_band_model(dim=2, potential_meV=u), mesh)
    with pytest.raises(ValueError, match="potential"):
        assemble(
            single_band_model(dim=2, potential_meV=lambda x: np.where(x[0] > 0, np.nan, 0.0)), mesh
        )
    d = np.full(mesh.nvertices, 0.1 + 0j)
    d[0] = np.inf
    with pytest.raises(ValueError, match="delta_meV"):
        two_valley_model(dim=2, delta_meV=d)


def test_non_positive_mass():
    with pytest.raises(ValueError, match="m_t"):
        Material(name="bad", eps_r=11.7, band_offset_meV=0.0, m_t=-0.19, m_l=0.9)
    with pytest.raises(ValueError, match=r"inverse_mass_meV_nm2\[1\]"):
        single_band_model(dim=2, inverse_mass_meV_nm2=[C_T, 0.0])
    with pytest.raises(ValueError, match="no conduction-band masses"):
        single_band_model(dim=2, materials="HfO2")
    with pytest.raises(ValueError, match="material = 'unobtainium'"):
        single_band_model(dim=2, materials="unobtainium")


def test_negative_mass_field_rejected_at_assembly(mesh):
    model = single_band_model(dim=2, inverse_mass_meV_nm2=[lambda x: -1.0 + 0 * x[0], C_T])
    with pytest.raises(ValueError, match="inverse mass must be positive"):
        assemble(model, mesh)


def test_axes_and_regions_checked(mesh):
    with pytest.raises(ValueError, match="axes"):
        QuadraticTerm(axes=(0, 3), coefficient=1.0)
    with pytest.raises(ValueError, match="the mesh is 2-D"):
        assemble(single_band_model(dim=3), mesh)
    with pytest.raises(ValueError, match="region 'well' is not in the mesh"):
        assemble(single_band_model(dim=2, materials={"well": "Si"}), mesh)
    with pytest.raises(ValueError, match="boundary 'gate' is not in the mesh"):
        assemble(single_band_model(dim=2), mesh, dirichlet=["gate"])
    with pytest.raises(ValueError, match="element = 'P3'"):
        assemble(single_band_model(dim=2), mesh, element="P3")
    with pytest.raises(ValueError, match="n_components"):
        KPModel(n_components=0)


def test_named_dirichlet_boundary(mesh):
    m = mesh.with_boundaries({"left": lambda x: np.isclose(x[0], -20.0)})
    ops = assemble(single_band_model(dim=2), m, dirichlet=["left"])
    assert ops.interior.size == m.nvertices - 7
    ops_none = assemble(single_band_model(dim=2), m, dirichlet=None)
    assert ops_none.interior.size == m.nvertices


def test_material_table():
    assert get_material("Si").m_t == 0.19
    sige = silicon_germanium(0.3)
    assert 150.0 <= sige.band_offset_meV <= 170.0
    assert sige.eps_r == pytest.approx(11.7 + 4.5 * 0.3)
    with pytest.raises(ValueError, match="Ge fraction"):
        silicon_germanium(1.5)
