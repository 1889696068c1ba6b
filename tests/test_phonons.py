"""Phonon relaxation: the dipole formula against the full angular integral, and the B^5 and
B^7 laws of spin relaxation (femvalley.phonons)."""

from __future__ import annotations

import numpy as np
import pytest

from .test_qubit import MU_B, _dot_operators


def _synthetic_pair(ops):
    """Two orthogonal four-component states on a symmetric mesh: the initial one has an
    intra-valley part odd in x and an inter-valley part odd in x or y, the final one is even
    and sits in the +z valley. By parity every overlap S_ij vanishes (no zeroth-order shear
    term) while the dipoles do not."""
    ni = int(ops.interior.size)
    p = ops.basis.doflocs[:, ops.interior]
    g = np.exp(-(p[0] ** 2 + p[1] ** 2) / (2 * 8.0**2))
    final = np.zeros((4, ni), dtype=complex)
    final[0] = g
    final[1] = 0.5 * np.exp(0.3j) * g
    initial = np.zeros((4, ni), dtype=complex)
    initial[0] = p[0] * g / 8.0
    initial[2] = (p[0] + 0.5 * p[1]) * g / 8.0
    initial[3] = 0.7j * p[1] * g / 8.0
    m = ops.mass
    vectors = []
    for v in (final.ravel(), initial.ravel()):
        vectors.append(v / np.sqrt(np.vdot(v, m @ v).real))
    assert abs(np.vdot(vectors[0], m @ vectors[1])) < 1e-12
    return vectors


def test_the_dipole_formula_is_the_small_q_limit_of_the_angular_integral():
    """For two orthogonal states (a tilted sheet, so that z enters, and a constant complex
    valley form factor), the closed-form dipole rate and the full angular integral with
    exp(i q.r) agree to O((q r)^2): within 1e-4 at 2 ueV, and the difference grows 100x per
    10x in energy (second order). Both branches and all deformation potentials contribute."""
    from femvalley.magnetic import with_spin
    from femvalley.phonons import PhononCoupling, PhononParameters

    ops = with_spin(_dot_operators(cells=20, delta=0.1))
    coupling = PhononCoupling(
        ops,
        positions_nm=[lambda p: p[0], lambda p: p[1], lambda p: 0.2 * p[0] + 0.1 * p[1] + 1.0],
        valley_form_factor=0.3 + 0.2j,
    )
    final, initial = _synthetic_pair(ops)
    s, r, _ = coupling.moments(final, initial)
    assert np.abs(s).max() < 1e-12 and np.abs(r["x"]).max() > 0.1
    for params in (PhononParameters(), PhononParameters(xi_d_eV=0.0, xi_u_eV=0.0)):
        errors = []
        for energy in (0.002, 0.02):
            d = coupling.rate(initial, final, energy, temperature_K=0.0, parameters=params)
            x = coupling.rate(
                initial, final, energy, temperature_K=0.0, parameters=params, method="exact"
            )
            assert d.longitudinal_per_s > 0 and d.transverse_per_s > 0
            errors.append(abs(x.rate_per_s / d.rate_per_s - 1))
        assert errors[0] < 1e-4
        assert 50 < errors[1] / errors[0] < 200


def test_temperature_and_bad_input():
    """coth(hbar w / 2 k T) multiplies the T = 0 rate; shear needs a form factor on a plane."""
    from femvalley.magnetic import with_spin
    from femvalley.phonons import PhononCoupling, PhononParameters

    ops = with_spin(_dot_operators(cells=12, delta=0.1))
    final, initial = _synthetic_pair(ops)
    plain = PhononCoupling(ops)
    params = PhononParameters().without_shear()
    cold = plain.rate(initial, final, 0.05, temperature_K=0.0, parameters=params)
    warm = plain.rate(initial, final, 0.05, temperature_K=0.5, parameters=params)
    kt = 8.617333262e-2 * 0.5
    assert warm.rate_per_s / cold.rate_per_s == pytest.approx(1 / np.tanh(0.05 / (2 * kt)))
    with pytest.raises(ValueError, match="xi_s_eV = 7.4: the shear coupling"):
        plain.rate(initial, final, 0.05)
    with pytest.raises(ValueError, match="energy_meV"):
        plain.rate(initial, final, -1.0, parameters=params)
    with pytest.raises(ValueError, match="method = 'fermi'"):
        plain.rate(initial, final, 0.05, parameters=params, method="fermi")
    with pytest.raises(ValueError, match="density_kg_m3"):
        PhononParameters(density_kg_m3=0.0)
    with pytest.raises(ValueError, match="4 components"):
        PhononCoupling(_dot_operators(cells=4))


def _exponent(qubit, fields_T, **kwargs):
    from femvalley.phonons import PhononParameters

    rates = [
        qubit.point(b)
        .relaxation(temperature_K=0.0, parameters=PhononParameters().without_shear(), **kwargs)
        .rate_per_s
        for b in fields_T
    ]
    return np.log(rates[1] / rates[0]) / np.log(fields_T[1] / fields_T[0])


def test_spin_relaxation_grows_as_b5_with_a_micro_magnet_and_b7_with_spin_orbit():
    """A harmonic dot (hbar w = 3 meV) in the lower valley branch of a large uniform valley
    splitting, field in plane: with a micro-magnet's transverse gradient the spin-flip dipole
    does not depend on B and Gamma_1 ~ w^5 ~ B^5; with an intrinsic (Dresselhaus) spin-orbit
    coupling only, time reversal makes the dipole proportional to B, so Gamma_1 ~ B^7.
    Both exponents are measured from computed rates over a decade of B (0.2 to 2 T)."""
    from femvalley.magnetic import MicroMagnet, spin_qubit_from_operators

    ops = _dot_operators(cells=24, delta=2.0)
    magnet = MicroMagnet(gradient_mT_per_nm=((0, 0, 1.0), (0, 0, 0), (1.0, 0, 0)))
    with_magnet = spin_qubit_from_operators(ops, direction=(1.0, 0.0, 0.0), magnet=magnet)
    assert _exponent(with_magnet, (0.2, 2.0)) == pytest.approx(5.0, abs=0.02)  # 5.005
    intrinsic = spin_qubit_from_operators(
        ops, direction=(1.0, 0.0, 0.0), dresselhaus_meV_nm=10.0, valley_form_factor=1.0
    )
    assert _exponent(intrinsic, (0.2, 2.0)) == pytest.approx(7.0, abs=0.02)  # 7.003
    ez = 2.0 * MU_B * 2.0
    assert ez < 0.1 * 4.0  # still a spin qubit: E_Z far below E_V = 4 meV
