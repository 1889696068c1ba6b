"""Heterostructure valley physics (issue 6, first part): profiles, vertical solver, 2k0 theory."""

from __future__ import annotations

import numpy as np
import pytest

from femvalley.heterostructure import (
    GeSpike,
    QuantumWell,
    UniformGe,
    WiggleWell,
    local_valley_coupling_meV,
    solve_vertical,
)
from femvalley.heterostructure.valley import A_AB_INITIO
from femvalley.materials import SIGE_OFFSET_MEV_PER_X
from femvalley.units import HBAR2_OVER_2M0_MEV_NM2, K0_PER_NM


def test_profiles_compose_and_validate():
    well = QuantumWell(width_nm=10.0, barrier_ge=0.3, interface_width_nm=0.0)
    assert well(np.array([-6.0, 0.0, 6.0])).tolist() == [0.3, 0.0, 0.3]
    assert well(np.array([-5.0, 5.0])).tolist() == [0.15, 0.15]  # sharp: half at the edge
    smooth = QuantumWell(width_nm=10.0, barrier_ge=0.3, interface_width_nm=1.0)
    # tanh with w = 0.5 nm: from 12 % to 88 % over the interface width
    np.testing.assert_allclose(
        smooth(np.array([4.5, 5.5])), [0.3 * 0.1192, 0.3 * 0.8808], rtol=1e-3
    )
    total = smooth + GeSpike(peak_ge=0.1, centre_nm=0.0, sigma_nm=0.5) + UniformGe(ge=0.01)
    assert total(np.array([0.0]))[0] == pytest.approx(0.1 + 0.01 + smooth(np.array([0.0]))[0])
    ww = WiggleWell(amplitude_ge=0.04, wavenumber_per_nm=4.0, start_nm=-1.0, stop_nm=1.0)
    assert ww(np.array([0.0, np.pi / 4, 3.0])).tolist() == pytest.approx([0.0, 0.04, 0.0])
    for bad, match in (
        (lambda: QuantumWell(barrier_ge=1.5), "barrier_ge"),
        (lambda: QuantumWell(interface_width_nm=-1.0), "interface_width_nm"),
        (lambda: GeSpike(sigma_nm=0.0), "sigma_nm"),
        (lambda: WiggleWell(start_nm=1.0, stop_nm=0.0), "stop_nm"),
        (lambda: solve_vertical(well, field_MV_per_m=float("nan")), "field_MV_per_m"),
    ):
        with pytest.raises(ValueError, match=match):
            bad()


def test_vertical_solver_infinite_well_at_second_order():
    c = HBAR2_OVER_2M0_MEV_NM2 / 0.916
    exact = c * (np.pi / 10.0) ** 2
    errs = []
    for step in (0.1, 0.05, 0.025):
        st = solve_vertical(
            UniformGe(ge=0.0),
            field_MV_per_m=0.0,
            z_range_nm=(-5.0, 5.0),
            step_nm=step,
            hbar_omega_meV=2.0,
        )
        errs.append(abs(st.energy_meV - 2.0 - exact))
        assert np.sum(st.envelope**2) * step == pytest.approx(1.0)
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    np.testing.assert_allclose(rates, 2.0, atol=0.05)


def test_wiggle_well_resonates_at_two_k0():
    """Valley splitting against the wiggle wave number, 5 to 30 nm^-1: the peak is at 2 k0."""
    step = 0.05
    qs = np.arange(5.0, 30.0 + step / 2, step)
    ev = []
    for q in qs:
        prof = QuantumWell(width_nm=10.0, interface_width_nm=0.5) + WiggleWell(
            amplitude_ge=0.05, wavenumber_per_nm=q, start_nm=-5.0, stop_nm=5.0
        )
        st = solve_vertical(prof, field_MV_per_m=5.0)
        ev.append(2 * abs(local_valley_coupling_meV(st.z_nm, st.potential_meV, st.envelope)))
    q_peak = qs[int(np.argmax(ev))]
    assert abs(q_peak - 2 * K0_PER_NM) <= step
    assert 19.6 <= q_peak <= 19.7
    assert max(ev) > 20 * np.median(ev)  # a resonance, not a drift


def test_local_model_changes_linearly_under_a_constant_shift():
    """refs/002 eq. 38: Delta(U + U0) - Delta(U) = U0 R, R = A int e^{-2 i k0 z} f^2 dz."""
    st = solve_vertical(QuantumWell(width_nm=8.0, interface_width_nm=0.3), field_MV_per_m=4.0)
    d0 = local_valley_coupling_meV(st.z_nm, st.potential_meV, st.envelope)
    u0 = 500.0
    d1 = local_valley_coupling_meV(st.z_nm, st.potential_meV + u0, st.envelope)
    r = local_valley_coupling_meV(st.z_nm, np.ones_like(st.z_nm), st.envelope)
    assert d1 - d0 == pytest.approx(u0 * r, rel=1e-9)
    assert abs(r) > 0  # the local model is not invariant (the filtered one will be)
    # a smooth interface suppresses the splitting against a sharp one (tens to hundreds of ueV)
    sharp = solve_vertical(QuantumWell(width_nm=8.0, interface_width_nm=0.0), field_MV_per_m=4.0)
    ev_sharp = 2 * abs(local_valley_coupling_meV(sharp.z_nm, sharp.potential_meV, sharp.envelope))
    assert 0.05 < ev_sharp < 1.0
    assert 2 * abs(d0) < 0.2 * ev_sharp
    assert A_AB_INITIO == -0.26 and SIGE_OFFSET_MEV_PER_X == pytest.approx(160 / 0.3)
