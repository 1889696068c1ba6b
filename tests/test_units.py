import math

import pytest

from femvalley import units


def test_k0_value():
    assert units.K0_PER_NM == pytest.approx(0.85 * 2 * math.pi / 0.5431)
    assert 2 * units.K0_PER_NM == pytest.approx(19.67, abs=0.01)


def test_inverse_mass_prefactor():
    assert units.inverse_mass_prefactor_meV_nm2(1.0) == units.HBAR2_OVER_2M0_MEV_NM2
    assert units.inverse_mass_prefactor_meV_nm2(0.19) == pytest.approx(200.525, rel=1e-4)
    with pytest.raises(ValueError, match="mass_m0"):
        units.inverse_mass_prefactor_meV_nm2(-0.2)
    with pytest.raises(ValueError, match="mass_m0"):
        units.inverse_mass_prefactor_meV_nm2(0.0)


def test_energy_conversions_roundtrip():
    assert units.meV_to_ueV(units.ueV_to_meV(183.0)) == pytest.approx(183.0)
    assert units.MEV_PER_VOLT == -1000.0
