"""Shared helpers: meshes and closed-form spectra."""

from __future__ import annotations

import os

import numpy as np
import pytest
from skfem import MeshTet, MeshTri

from femvalley.units import HBAR2_OVER_2M0_MEV_NM2


def require_cholmod() -> None:
    """Skip a test that needs CHOLMOD (scikit-sparse) where it is not installed.

    CI installs it and sets ``FEMVALLEY_REQUIRE_CHOLMOD=1``: there a missing CHOLMOD fails
    the test instead, so no test is silently skipped on CI.
    """
    try:
        import sksparse.cholmod  # noqa: F401 - imported to see that it loads
    except ImportError:
        if os.environ.get("FEMVALLEY_REQUIRE_CHOLMOD") == "1":
            raise
        pytest.skip("scikit-sparse (CHOLMOD) is not installed: pip install 'femvalley[cholmod]'")


M_T = 0.19
C_T = HBAR2_OVER_2M0_MEV_NM2 / M_T  # hbar^2 / (2 m_t), meV nm^2


def square_mesh(n: int, half_width_nm: float) -> MeshTri:
    x = np.linspace(-half_width_nm, half_width_nm, n + 1)
    return MeshTri.init_tensor(x, x)


def box_mesh(n: tuple[int, int, int], size_nm: tuple[float, float, float]) -> MeshTet:
    axes = [np.linspace(0.0, s, k + 1) for s, k in zip(size_nm, n)]
    return MeshTet.init_tensor(*axes)


def ho_potential(hw_meV: tuple[float, ...], c_meV_nm2: tuple[float, ...]):
    """U = sum_a (hbar w_a)^2 x_a^2 / (4 c_a): levels sum_a hbar w_a (n_a + 1/2)."""

    def u(x):
        return sum(
            hw**2 * x[a] ** 2 / (4.0 * c) for a, (hw, c) in enumerate(zip(hw_meV, c_meV_nm2))
        )

    return u


def ho_levels(hw_meV: tuple[float, ...], count: int, nmax: int = 12) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(nmax)] * len(hw_meV), indexing="ij")
    e = sum(hw * (g + 0.5) for hw, g in zip(hw_meV, grids))
    return np.sort(np.ravel(e))[:count]


def box_levels(size_nm, c_meV_nm2, count: int, nmax: int = 10) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(1, nmax)] * len(size_nm), indexing="ij")
    e = sum(c * (np.pi * g / s) ** 2 for s, c, g in zip(size_nm, c_meV_nm2, grids))
    return np.sort(np.ravel(e))[:count]


@pytest.fixture(scope="session")
def small_dot_mesh() -> MeshTri:
    return square_mesh(24, 60.0)


def edge_lengths(mesh, region: str) -> np.ndarray:
    """Lengths (nm) of the six edges of every tetrahedron of a region."""
    t = mesh.t[:, mesh.subdomains[region]]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    return np.concatenate(
        [np.linalg.norm(mesh.p[:, t[a]] - mesh.p[:, t[b]], axis=0) for a, b in pairs]
    )


#: Tunnel Falls device parameters for fast study tests (coarse device and k.p meshes)
COARSE_STUDY_PARAMS = {
    "quantum_mesh_size_nm": 5.0,
    "device_mesh_size_nm": 15.0,
    "mesh_size_nm": 30.0,
    "kp_mesh_size_nm": 6.0,
    "kp_vertical_mesh_size_nm": 1.0,
}


@pytest.fixture(scope="session", autouse=True)
def _device_cache_of_the_session(tmp_path_factory):
    """The device cache of the tests: a folder of their own (never the user's ~/.cache),
    shared by the session (an entry is keyed by the whole description and the code)."""
    from femvalley.io.device_cache import CACHE_DIR_ENV, NO_CACHE_ENV

    old = {k: os.environ.get(k) for k in (CACHE_DIR_ENV, NO_CACHE_ENV)}
    os.environ[CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("device_cache"))
    os.environ.pop(NO_CACHE_ENV, None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
