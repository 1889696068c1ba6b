"""The two-band k.p model of the +-Z valleys on a monolayer grid (ref. 3 sections II.2-II.3).

The envelopes ``(phi_-, phi_+)`` of the two valleys carry the phase factors ``e^{-+ i k0' z}``
(``k0' = 2 pi / a - k0 = 0.15 * 2 pi / a``), so their kinetic energies are the effective-mass
ones shifted in k: ``c_z (k_z +- k0')^2`` (ref. 3 eq. 16-17; the kinetic valley-orbit term
``H_VOM`` is left out). Both see the intra-valley potential ``U(r)`` and are coupled by the
staggered inter-valley potential

    H_inter(r_k) = s_k V_inter(r_k) [[0, -i], [i, 0]],     s_k = (-1)^k,

on monolayer ``k`` (ref. 3 eq. 19), with ``V_inter = Y(r) * 514 meV`` for the Ge fraction
``Y`` (eq. 25; the field's direct term of eq. 27 is dropped, as in the paper). The model
gives the valley splitting non-perturbatively.

Discretisation: finite differences on a rectilinear grid, one z step per monolayer
(``a / 4``), the k-shift as a Peierls phase ``e^{+- i k0' dz}`` on the z hoppings (the
dispersion ``c_z (2 - 2 cos((k +- k0') dz)) / dz^2``), hard walls outside the grid.

- :func:`solve_two_band_1d`: a laterally uniform well with an in-plane ground state of energy
  ``hbar omega`` (a banded Hermitian problem, LAPACK);
- :func:`solve_two_band_3d`: the full 3-D problem in a box with an in-plane harmonic dot
  (sparse; LOBPCG preconditioned by the exact inverse of its separable, valley-diagonal part);
- :func:`first_order_coupling_meV`: the 2k0 coupling of ref. 3 eq. 18 on the same grid.

Units: nm, meV, MV/m (= meV/nm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from femvalley.heterostructure.profiles import Profile
from femvalley.materials import SIGE_OFFSET_MEV_PER_X, get_material
from femvalley.units import (
    K0_PER_NM,
    SI_LATTICE_CONSTANT_NM,
    inverse_mass_prefactor_meV_nm2,
)

__all__ = [
    "V_INTER_GE_MEV",
    "MonolayerGrid",
    "TwoBandSolution",
    "first_order_coupling_meV",
    "in_plane_operators",
    "k0_prime_per_nm",
    "in_plane_weights",
    "solve_single_valley_1d",
    "solve_two_band_1d",
    "solve_two_band_3d",
]

#: inter-valley potential of one unit of Ge fraction (ref. 3 eq. 25, fitted to TB)
V_INTER_GE_MEV = 514.0


@dataclass(frozen=True, kw_only=True)
class MonolayerGrid:
    """Monolayer positions ``z_k = centre + (k - (n - 1) / 2) a / 4``, ``k = 0..n-1``.

    The staggering sign is ``s_k = (-1)^k``; shifting the grid by one monolayer flips it (a
    global sign of ``H_inter``, which leaves the spectrum unchanged).
    """

    n_monolayers: int = 160
    centre_nm: float = 0.0
    lattice_constant_nm: float = SI_LATTICE_CONSTANT_NM

    def __post_init__(self) -> None:
        if isinstance(self.n_monolayers, bool) or not isinstance(self.n_monolayers, int):
            raise ValueError(f"n_monolayers = {self.n_monolayers!r} must be an integer")
        if self.n_monolayers < 8:
            raise ValueError(f"n_monolayers = {self.n_monolayers!r} must be >= 8")
        if not math.isfinite(self.centre_nm):
            raise ValueError(f"centre_nm = {self.centre_nm!r} must be finite")
        if not (math.isfinite(self.lattice_constant_nm) and self.lattice_constant_nm > 0):
            raise ValueError(f"lattice_constant_nm = {self.lattice_constant_nm!r} must be > 0")

    @property
    def step_nm(self) -> float:
        """One monolayer, ``a / 4``."""
        return self.lattice_constant_nm / 4

    @property
    def z_nm(self) -> NDArray[np.float64]:
        """Monolayer positions (nm)."""
        k = np.arange(self.n_monolayers)
        return np.asarray(self.centre_nm + (k - (self.n_monolayers - 1) / 2) * self.step_nm)

    @property
    def stagger(self) -> NDArray[np.float64]:
        """``s_k = (-1)^k``."""
        return np.where(np.arange(self.n_monolayers) % 2 == 0, 1.0, -1.0)


@dataclass(frozen=True)
class TwoBandSolution:
    """Lowest states of a two-band problem.

    Attributes
    ----------
    energies_meV : ndarray (n_states,)
        Ascending.
    states : ndarray, complex (n_states, 2, *grid)
        Envelopes ``(phi_-, phi_+)`` at the grid points, normalised to
        ``sum |phi|^2 dV = 1`` over both components.
    residual_meV : float
        Largest residual norm ``||H x - E x||`` (normalised vectors).
    """

    energies_meV: NDArray[np.float64]
    states: NDArray[np.complex128]
    residual_meV: float = 0.0

    @property
    def valley_splitting_meV(self) -> float:
        """``E_1 - E_0`` (the valley splitting while it is below the orbital spacing)."""
        return float(self.energies_meV[1] - self.energies_meV[0])


def k0_prime_per_nm(k0_per_nm: float, lattice_constant_nm: float) -> float:
    """``k0' = 2 pi / a - k0``, the envelopes' k-shift (0.15 * 2 pi / a = 1.74 nm^-1)."""
    return 2 * math.pi / lattice_constant_nm - k0_per_nm


def _vertical_terms(
    profile: Profile,
    grid: MonolayerGrid,
    field_MV_per_m: float,
    offset_meV_per_ge: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not math.isfinite(field_MV_per_m):
        raise ValueError(f"field_MV_per_m = {field_MV_per_m!r} must be finite")
    z = grid.z_nm
    ge = profile(z)
    return offset_meV_per_ge * ge - float(field_MV_per_m) * z, ge


def _cz(mass_m0: float | None) -> float:
    m = get_material("Si").m_l if mass_m0 is None else float(mass_m0)
    return inverse_mass_prefactor_meV_nm2(m)


def solve_single_valley_1d(
    profile: Profile,
    *,
    field_MV_per_m: float,
    grid: MonolayerGrid | None = None,
    mass_m0: float | None = None,
    offset_meV_per_ge: float = SIGE_OFFSET_MEV_PER_X,
) -> tuple[float, NDArray[np.float64]]:
    """Effective-mass ground state on the monolayer grid: ``(E_z, f_k)``, ``sum f^2 dz = 1``."""
    from scipy.linalg import eigh_tridiagonal

    grid = grid or MonolayerGrid()
    u, _ = _vertical_terms(profile, grid, field_MV_per_m, offset_meV_per_ge)
    c, h = _cz(mass_m0), grid.step_nm
    w, v = eigh_tridiagonal(
        2 * c / h**2 + u, np.full(u.size - 1, -c / h**2), select="i", select_range=(0, 0)
    )
    return float(w[0]), np.abs(v[:, 0]) / math.sqrt(h)


def first_order_coupling_meV(
    envelope_sq: ArrayLike,
    v_inter_meV: ArrayLike,
    *,
    grid: MonolayerGrid,
    k0_per_nm: float = K0_PER_NM,
) -> complex:
    """``J = <phi_-|H_inter|phi_+>`` on monolayers (ref. 3 eq. 18); ``E_V = 2 |J|``.

    ``J = -i sum_k dz e^{2 i k0' z_k} s_k V_inter(z_k) |f(z_k)|^2``, which samples the 2k0
    Fourier component of ``V_inter |f|^2`` on the monolayer grid.

    Parameters
    ----------
    envelope_sq : array_like (..., n_monolayers)
        ``|f(z_k)|^2`` with ``sum |f|^2 dz = 1`` (leading axes: several columns).
    v_inter_meV : array_like (..., n_monolayers)
        ``V_inter`` per monolayer (broadcast against ``envelope_sq``).
    """
    z = grid.z_nm
    kp = k0_prime_per_nm(k0_per_nm, grid.lattice_constant_nm)
    phase = -1j * grid.step_nm * np.exp(2j * kp * z)
    return complex(np.sum(phase * grid.stagger * np.asarray(envelope_sq) * v_inter_meV))


def solve_two_band_1d(
    profile: Profile,
    *,
    field_MV_per_m: float,
    hbar_omega_meV: float = 0.0,
    grid: MonolayerGrid | None = None,
    v_inter_meV: ArrayLike | None = None,
    v_inter_ge_meV: float = V_INTER_GE_MEV,
    n_states: int = 2,
    mass_m0: float | None = None,
    k0_per_nm: float = K0_PER_NM,
    offset_meV_per_ge: float = SIGE_OFFSET_MEV_PER_X,
) -> TwoBandSolution:
    """Two-band k.p for a laterally uniform heterostructure (2 x n_monolayers unknowns).

    Parameters
    ----------
    profile : Profile
        Ge fraction; the intra-valley potential is ``offset X(z_k) - F z_k`` on monolayer ``k``.
    field_MV_per_m : float
        Vertical field (``> 0`` pushes the electron to larger z).
    hbar_omega_meV : float
        In-plane ground energy added to every level.
    grid : MonolayerGrid, optional
        Default: 160 monolayers centred on z = 0.
    v_inter_meV : array_like (n_monolayers,), optional
        Inter-valley potential per monolayer (for instance a disorder realisation projected
        on the in-plane ground state); default ``v_inter_ge_meV * X(z_k)``.
    n_states : int
        Number of lowest levels returned (>= 2).
    """
    from scipy.linalg import eig_banded

    grid = grid or MonolayerGrid()
    if not (math.isfinite(hbar_omega_meV) and hbar_omega_meV >= 0):
        raise ValueError(f"hbar_omega_meV = {hbar_omega_meV!r} must be finite and >= 0")
    if not (isinstance(n_states, int) and 2 <= n_states <= 2 * grid.n_monolayers):
        raise ValueError(f"n_states = {n_states!r} must be an integer in [2, 2 n_monolayers]")
    u, ge = _vertical_terms(profile, grid, field_MV_per_m, offset_meV_per_ge)
    vi = v_inter_ge_meV * ge if v_inter_meV is None else np.asarray(v_inter_meV, dtype=float)
    if vi.shape != (grid.n_monolayers,):
        raise ValueError(
            f"v_inter_meV has shape {vi.shape}, expected ({grid.n_monolayers},) per monolayer"
        )
    n = grid.n_monolayers
    c, h = _cz(mass_m0), grid.step_nm
    theta = k0_prime_per_nm(k0_per_nm, grid.lattice_constant_nm) * h
    # interleaved unknowns (phi_-(z_0), phi_+(z_0), phi_-(z_1), ...): Hermitian, 2 bands above
    band = np.zeros((3, 2 * n), dtype=complex)
    band[2] = np.repeat(2 * c / h**2 + u + hbar_omega_meV, 2)
    band[1, 1::2] = -1j * grid.stagger * vi  # H[phi_-(k), phi_+(k)]
    band[0, 2::2] = -c / h**2 * np.exp(1j * theta)  # H[phi_-(k), phi_-(k+1)]
    band[0, 3::2] = -c / h**2 * np.exp(-1j * theta)  # H[phi_+(k), phi_+(k+1)]
    w, v = eig_banded(band, lower=False, select="i", select_range=(0, n_states - 1))
    states = (v.T.reshape(n_states, n, 2).transpose(0, 2, 1) / math.sqrt(h)).astype(complex)
    return TwoBandSolution(energies_meV=np.asarray(w, dtype=float), states=states)


def in_plane_operators(
    box_nm: tuple[float, float], step_nm: float, hbar_omega_meV: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Grid points and 1-D operators of the in-plane dot on the box grid.

    The interior points of ``[-L/2, L/2]`` at spacing ``step_nm`` along x and y (hard walls on
    the box faces) and ``A_x = -c_t d^2/dx^2 + m_t omega^2 x^2 / 2`` by three-point
    differences (likewise ``A_y``), with the transverse mass of Si.

    Returns
    -------
    x, y, a_x, a_y : ndarray
    """
    for name, value in (("box_nm[0]", box_nm[0]), ("box_nm[1]", box_nm[1])):
        if not (math.isfinite(value) and value > 4 * step_nm):
            raise ValueError(f"{name} = {value!r} must exceed 4 steps of {step_nm} nm")
    if not (math.isfinite(step_nm) and step_nm > 0):
        raise ValueError(f"step_nm = {step_nm!r} must be > 0")
    if not (math.isfinite(hbar_omega_meV) and hbar_omega_meV > 0):
        raise ValueError(f"hbar_omega_meV = {hbar_omega_meV!r} must be > 0")
    ct = inverse_mass_prefactor_meV_nm2(get_material("Si").m_t)
    k_osc = hbar_omega_meV**2 / (4 * ct)  # m omega^2 / 2 in meV / nm^2
    out = []
    for side in box_nm:
        n = int(round(side / step_nm)) - 1
        x = np.asarray((np.arange(n) + 1 - (n + 1) / 2) * step_nm, dtype=float)
        out.append((x, _second_difference(n, step_nm, ct) + np.diag(k_osc * x**2)))
    (x, ax), (y, ay) = out
    return x, y, ax, ay


def in_plane_weights(
    box_nm: tuple[float, float], step_nm: float, *, hbar_omega_meV: float
) -> NDArray[np.float64]:
    """``|phi_0(x_i, y_j)|^2 dx dy`` of the in-plane dot's ground state on the box grid.

    The discrete ground state of :func:`in_plane_operators` (the one the 3-D problem has), so
    first-order couplings from these weights are exactly those of :func:`solve_two_band_3d`;
    in a box much wider than the dot (``l = sqrt(hbar / m_t omega)``, 9 nm at 5 meV) they
    sample the Gaussian ``exp(-(x^2 + y^2) / l^2) / (pi l^2)``. The weights sum to 1.
    """
    _, _, ax, ay = in_plane_operators(box_nm, step_nm, hbar_omega_meV)
    qx = np.linalg.eigh(ax)[1][:, 0]
    qy = np.linalg.eigh(ay)[1][:, 0]
    return np.asarray(np.outer(qx**2, qy**2))


def _second_difference(n: int, h: float, c: float) -> NDArray[np.float64]:
    t = np.diag(np.full(n, 2 * c / h**2))
    i = np.arange(n - 1)
    t[i, i + 1] = t[i + 1, i] = -c / h**2
    return t


def solve_two_band_3d(
    profile: Profile,
    *,
    field_MV_per_m: float,
    hbar_omega_meV: float,
    box_nm: tuple[float, float] = (44.0, 44.0),
    step_nm: float = 1.0,
    grid: MonolayerGrid | None = None,
    v_inter_meV: NDArray[np.float64] | None = None,
    v_inter_ge_meV: float = V_INTER_GE_MEV,
    n_states: int = 2,
    tolerance_meV: float = 1e-7,
    max_iterations: int = 300,
    k0_per_nm: float = K0_PER_NM,
    offset_meV_per_ge: float = SIGE_OFFSET_MEV_PER_X,
) -> TwoBandSolution:
    """Two-band k.p in a 3-D box: an isotropic in-plane harmonic dot over the heterostructure.

    Unknowns: both envelopes on the ``nx x ny x n_monolayers`` interior points of the box
    (``nx = box_x / step - 1``, hard walls on the box faces and beyond the monolayer grid),
    with masses of Si (``m_t`` in plane, ``m_l`` along z). The intra-valley part is separable,
    so its exact inverse (three dense 1-D eigen-decompositions) preconditions LOBPCG; only the
    inter-valley potential couples the directions.

    Parameters
    ----------
    hbar_omega_meV : float
        In-plane oscillator spacing (``U = m_t omega^2 (x^2 + y^2) / 2``, centred in the box).
    box_nm, step_nm : float
        In-plane box sides and grid step.
    v_inter_meV : ndarray (nx, ny, n_monolayers), optional
        Inter-valley potential at the grid points (for instance an alloy-disorder realisation,
        :func:`femvalley.heterostructure.alloy.sample_ge_fraction`); default
        ``v_inter_ge_meV * X(z_k)`` everywhere.
    tolerance_meV : float
        Residual norm at which LOBPCG stops.
    """
    from scipy.sparse import diags, identity, kron
    from scipy.sparse.linalg import LinearOperator, lobpcg

    grid = grid or MonolayerGrid()
    x, y, ax, ay = in_plane_operators(box_nm, step_nm, hbar_omega_meV)
    nx, ny, nz = x.size, y.size, grid.n_monolayers
    cz = inverse_mass_prefactor_meV_nm2(get_material("Si").m_l)
    uz, ge = _vertical_terms(profile, grid, field_MV_per_m, offset_meV_per_ge)
    hz = grid.step_nm
    theta = k0_prime_per_nm(k0_per_nm, grid.lattice_constant_nm) * hz
    az = []
    for sign in (1, -1):  # phi_-: c (k + k0')^2, phi_+: c (k - k0')^2
        a = _second_difference(nz, hz, cz).astype(complex) + np.diag(uz)
        i = np.arange(nz - 1)
        a[i, i + 1] = -cz / hz**2 * np.exp(1j * sign * theta)
        a[i + 1, i] = np.conj(a[i, i + 1])
        az.append(a)
    if v_inter_meV is None:
        vi = np.broadcast_to(v_inter_ge_meV * ge, (nx, ny, nz))
    else:
        vi = np.asarray(v_inter_meV, dtype=float)
        if vi.shape != (nx, ny, nz):
            raise ValueError(f"v_inter_meV has shape {vi.shape}, expected {(nx, ny, nz)}")
    coupling = (-1j * grid.stagger * vi).ravel()

    # sparse H: two valley blocks (separable) and the node-wise coupling
    def block(a: NDArray[np.complex128]) -> object:
        return (
            kron(kron(ax, identity(ny)), identity(nz))
            + kron(kron(identity(nx), ay), identity(nz))
            + kron(identity(nx * ny), a)
        )

    from scipy.sparse import bmat

    c_op = diags(coupling)
    h = bmat([[block(az[0]), c_op], [c_op.conj().T, block(az[1])]], format="csr")

    # exact inverse of the separable part, shifted below its ground state
    lx, qx = np.linalg.eigh(ax)
    ly, qy = np.linalg.eigh(ay)
    lz, qz = zip(*(np.linalg.eigh(a) for a in az))
    e_sep = float(lx[0] + ly[0] + min(lz[0][0], lz[1][0]))
    sigma = e_sep - max(2.0, hbar_omega_meV)
    denom = [lx[:, None, None] + ly[None, :, None] + lzv[None, None, :] - sigma for lzv in lz]
    nv = nx * ny * nz

    def apply_inverse(r: NDArray[np.complex128]) -> NDArray[np.complex128]:
        r = r.reshape(2, nx, ny, nz, -1)
        out = np.empty_like(r)
        for v in range(2):
            t = np.einsum("ia,ijkm->ajkm", qx, r[v], optimize=True)
            t = np.einsum("jb,ajkm->abkm", qy, t, optimize=True)
            t = np.einsum("kc,abkm->abcm", qz[v].conj(), t, optimize=True)
            t /= denom[v][..., None]
            t = np.einsum("kc,abcm->abkm", qz[v], t, optimize=True)
            t = np.einsum("jb,abkm->ajkm", qy, t, optimize=True)
            out[v] = np.einsum("ia,ajkm->ijkm", qx, t, optimize=True)
        return out.reshape(2 * nv, -1)

    precond = LinearOperator(
        (2 * nv, 2 * nv), matvec=apply_inverse, matmat=apply_inverse, dtype=complex
    )
    # start from the lowest separable states of both valleys
    m = max(n_states + 2, 4)
    order = np.argsort(
        (lx[:, None, None] + ly[None, :, None] + lz[0][None, None, :]).ravel(), kind="stable"
    )[: (m + 1) // 2]
    x0 = np.zeros((2 * nv, m), dtype=complex)
    for col in range(m):
        v, idx = col % 2, order[col // 2]
        ix, rest = divmod(int(idx), ny * nz)
        iy, iz = divmod(rest, nz)
        vec = np.einsum("i,j,k->ijk", qx[:, ix], qy[:, iy], qz[v][:, iz]).ravel()
        x0[v * nv : (v + 1) * nv, col] = vec
    w, vecs = lobpcg(
        h,
        x0,
        M=precond,
        tol=tolerance_meV,
        maxiter=max_iterations,
        largest=False,
    )
    order_w = np.argsort(w)[:n_states]
    w, vecs = np.asarray(w)[order_w], vecs[:, order_w]
    res = float(np.max(np.linalg.norm(h @ vecs - vecs * w, axis=0)))
    if res > 100 * tolerance_meV:
        raise RuntimeError(
            f"two-band LOBPCG did not converge: residual {res:.3g} meV after {max_iterations} "
            "iterations (raise max_iterations or tolerance_meV)"
        )
    dv = step_nm * step_nm * hz
    states = (vecs.T.reshape(n_states, 2, nx, ny, nz) / math.sqrt(dv)).astype(complex)
    return TwoBandSolution(energies_meV=np.asarray(w, dtype=float), states=states, residual_meV=res)
