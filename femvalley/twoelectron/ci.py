"""Configuration interaction of two electrons in a basis of one-electron states.

The one-electron states ``phi_a`` (``a = 0 .. m-1``, energies ``e_a``; with valleys, each is a
valley-resolved spatial state) carry a spin each, giving ``2 m`` spin-orbitals ``(a, sigma)``
and ``m (2 m - 1)`` two-electron Slater determinants ``|p q>``, ``p < q``. In that basis

    H = sum_p e_p n_p + 1/2 sum <pq|V|rs> c+_p c+_q c_s c_r,

with ``<pq|V|rs> = (ar|bs) delta(sigma_p, sigma_r) delta(sigma_q, sigma_s)`` for spin-orbitals
``p = (a, sigma_p)``, ..., and the Coulomb integrals in chemists' order

    (ab|cd) = int int phi_a*(1) phi_b(1) V_C(1, 2) phi_c*(2) phi_d(2).

The Hamiltonian conserves S_z and S^2 (no spin-dependent term): it is diagonalised in the
S_z = 0 block within the eigenspaces of S^2 (S = 0 and S = 1), and in the S_z = +1 block,
whose levels are those of the triplets; every level is reported with its spin S, the
multiplicity 2 S + 1 and its eigenvector. Exchange J = E(T0) - E(S) of the lowest triplet and
singlet (:meth:`TwoElectronSpectrum.exchange_meV`).

The cost is that of a dense eigenproblem of size ``m^2`` (S_z = 0 block): ``m = 40`` is 1600.

Units: meV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["TwoElectronSpectrum", "two_electron_spectrum"]


@dataclass(frozen=True, eq=False)
class TwoElectronSpectrum:
    """The lowest two-electron levels.

    Attributes
    ----------
    energies_meV : ndarray (n,)
        Ascending; a triplet appears once (its three S_z states are degenerate).
    spin : ndarray of int (n,)
        S of each level: 0 (singlet) or 1 (triplet).
    vectors : ndarray (ndet, n)
        The S_z = 0 eigenvectors on :attr:`determinants`.
    determinants : ndarray of int (ndet, 2)
        The S_z = 0 determinants as spin-orbital pairs ``(p, q)``, ``p < q``; spin-orbital
        ``2 a + s`` is state ``a`` with spin up (s = 0) or down (s = 1).
    triplet_partners_meV : ndarray
        The levels of the S_z = +1 block (the triplets again, computed independently).
    """

    energies_meV: NDArray[np.float64]
    spin: NDArray[np.int64]
    vectors: NDArray[np.complex128]
    determinants: NDArray[np.int64]
    triplet_partners_meV: NDArray[np.float64]

    def lowest_meV(self, spin: int) -> float:
        """Energy of the lowest level of spin ``spin`` (0 or 1)."""
        sel = self.energies_meV[self.spin == spin]
        if not sel.size:
            raise ValueError(
                f"no level with S = {spin} among the {self.energies_meV.size} computed"
            )
        return float(sel[0])

    def exchange_meV(self) -> float:
        """J = E(T0) - E(S): the lowest triplet above the lowest singlet (meV)."""
        return self.lowest_meV(1) - self.lowest_meV(0)

    def occupation(self, level: int) -> NDArray[np.float64]:
        """Mean occupation of every one-electron state in a level (sums to 2)."""
        m = int(self.determinants.max()) // 2 + 1
        weights = np.abs(self.vectors[:, level]) ** 2
        out = np.zeros(m)
        for k in (0, 1):
            np.add.at(out, self.determinants[:, k] // 2, weights)
        return out


def _determinants(m: int, sz2: int) -> NDArray[np.int64]:
    """Spin-orbital pairs ``p < q`` with ``2 S_z = sz2`` (spin-orbital 2a + s, s = 1 down)."""
    p, q = np.triu_indices(2 * m, k=1)
    twice_sz = (1 - 2 * (p % 2)) + (1 - 2 * (q % 2))
    return np.stack([p[twice_sz == sz2], q[twice_sz == sz2]], axis=1).astype(np.int64)


def _hamiltonian(
    e: NDArray[np.float64], v: NDArray[np.complex128], dets: NDArray[np.int64]
) -> NDArray[np.complex128]:
    """H on the determinants ``dets`` (Slater-Condon rules for two electrons)."""
    p, q = dets[:, 0], dets[:, 1]
    a, sa = p // 2, p % 2
    b, sb = q // 2, q % 2
    # <pq|V|rs> = (a_p a_r | a_q a_s) delta(s_p, s_r) delta(s_q, s_s), for all pairs of rows
    direct = v[a[:, None], a[None, :], b[:, None], b[None, :]] * (
        (sa[:, None] == sa[None, :]) & (sb[:, None] == sb[None, :])
    )
    swapped = v[a[:, None], b[None, :], b[:, None], a[None, :]] * (
        (sa[:, None] == sb[None, :]) & (sb[:, None] == sa[None, :])
    )
    h = direct - swapped
    h[np.diag_indices_from(h)] += e[a] + e[b]
    return np.asarray(h, dtype=np.complex128)


def _spin_squared(m: int, dets: NDArray[np.int64]) -> NDArray[np.float64]:
    """S^2 on S_z = 0 determinants: 2 S1.S2 + 3/2 (each spin 1/2)."""
    p, q = dets[:, 0], dets[:, 1]
    index = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(p, q))}
    s2 = np.zeros((len(dets), len(dets)))
    for i, (x, y) in enumerate(zip(p, q)):
        a, sa, b, sb = x // 2, x % 2, y // 2, y % 2
        # S_z1 S_z2 = -1/4 for opposite spins (S_z = 0 block: always opposite)
        s2[i, i] += 3 / 2 + 2 * (-1 / 4)
        # (S+1 S-2 + S-1 S+2): swap the spins of the two electrons
        x2, y2 = 2 * a + sb, 2 * b + sa
        sign = 1.0
        if x2 > y2:
            x2, y2, sign = y2, x2, -1.0
        if x2 != y2:
            s2[index[(x2, y2)], i] += sign
    return s2


def two_electron_spectrum(
    energies_meV: ArrayLike, coulomb_meV: ArrayLike, *, n_levels: int | None = None
) -> TwoElectronSpectrum:
    """Return the lowest two-electron levels of ``m`` one-electron states.

    Parameters
    ----------
    energies_meV : array_like (m,)
        One-electron energies of the states.
    coulomb_meV : array_like (m, m, m, m)
        Coulomb integrals ``(ab|cd)`` in chemists' order (see the module docstring); the
        symmetries ``(ab|cd) = (cd|ab) = (ba|dc)*`` are checked.
    n_levels : int, optional
        How many levels to return (default: all of the S_z = 0 block).
    """
    e = np.asarray(energies_meV, dtype=np.float64)
    v = np.asarray(coulomb_meV, dtype=np.complex128)
    m = e.size
    if v.shape != (m, m, m, m):
        raise ValueError(f"coulomb_meV has shape {v.shape}; expected {(m, m, m, m)}")
    scale = max(float(np.abs(v).max()), 1e-300)
    if not np.allclose(v, v.transpose(2, 3, 0, 1), rtol=0, atol=1e-9 * scale):
        raise ValueError("coulomb_meV is not symmetric: (ab|cd) != (cd|ab)")
    if not np.allclose(v, v.transpose(1, 0, 3, 2).conj(), rtol=0, atol=1e-9 * scale):
        raise ValueError("coulomb_meV is not Hermitian: (ab|cd) != (ba|dc)*")
    dets = _determinants(m, 0)
    h = _hamiltonian(e, v, dets)
    s2 = _spin_squared(m, dets)
    # the eigenspaces of S^2 (eigenvalues 0 and 2), then H within each
    w, u = np.linalg.eigh(s2)
    levels, spins, vectors = [], [], []
    for spin, target in ((0, 0.0), (1, 2.0)):
        basis = u[:, np.abs(w - target) < 1e-6]
        if basis.shape[1] == 0:
            continue
        ev, ec = np.linalg.eigh(basis.conj().T @ h @ basis)
        levels.append(ev)
        spins.append(np.full(ev.size, spin))
        vectors.append(basis @ ec)
    energies = np.concatenate(levels)
    order = np.argsort(energies, kind="stable")
    n = energies.size if n_levels is None else min(int(n_levels), energies.size)
    up = _determinants(m, 2)
    partners = np.asarray(
        np.linalg.eigvalsh(_hamiltonian(e, v, up)) if len(up) else np.zeros(0), dtype=np.float64
    )
    return TwoElectronSpectrum(
        energies_meV=energies[order][:n],
        spin=np.concatenate(spins)[order][:n].astype(np.int64),
        vectors=np.concatenate(vectors, axis=1)[:, order][:, :n],
        determinants=dets,
        triplet_partners_meV=partners,
    )
