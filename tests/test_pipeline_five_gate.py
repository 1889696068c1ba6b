"""End to end: device mesh -> gate electrostatics -> quantum region -> two-valley k.p -> states."""

from __future__ import annotations

import numpy as np
import pytest
from skfem import ElementTetP1

from femvalley.eigen import solve
from femvalley.electrostatics import solve_gates
from femvalley.kp import assemble, make_basis, two_valley_model
from femvalley.materials import get_material
from femvalley.mesh import from_meshio, lumped_vertex_weights, submesh
from geometries.device import resolve_device

DEVICE = resolve_device(
    "five_gate_dqd",
    {"mesh_size_nm": 20.0, "device_mesh_size_nm": 20.0, "quantum_mesh_size_nm": 3.5},
)


@pytest.fixture(scope="module")
def pipeline():
    mesh = from_meshio(DEVICE.build())
    gp = solve_gates(mesh, permittivity=DEVICE.materials, gates=DEVICE.gates)
    sub = submesh(mesh, "quantum")
    basis = make_basis(sub.mesh, element="P1")
    return gp, sub, basis


def _ground_state(gp, sub, basis, volts):
    # the quantum region: the Si layer and 1.5 nm of the oxide above it (its 3 eV barrier)
    offsets = {r: get_material(DEVICE.materials[r]).band_offset_meV for r in ("Si", "SiO2")}
    u = gp.band_edge_meV(volts, band_offset_meV=offsets, basis=basis, node_map=sub.node_map)
    ops = assemble(two_valley_model(dim=3, delta_meV=0.05, potential_meV=u), basis)
    res = solve(ops, k=2)
    density = np.abs(res.components[0]) ** 2  # (2 valleys, N)
    from skfem import BilinearForm, asm

    m = asm(BilinearForm(lambda a, b, w: a * b), basis.with_element(ElementTetP1()))
    weights = m @ density.sum(axis=0)
    x_mean = float(sub.mesh.p[0] @ weights / weights.sum())
    return res, x_mean


def test_electron_sits_under_the_more_positive_plunger(pipeline):
    gp, sub, basis = pipeline
    base = {"P2": -0.1, "C1": -1.0, "C2": -1.0}
    left, x_left = _ground_state(gp, sub, basis, {**base, "P1": 0.45, "P3": 0.35})
    right, x_right = _ground_state(gp, sub, basis, {**base, "P1": 0.35, "P3": 0.45})
    assert x_left < -15.0 and x_right > 15.0  # under P1 (x = -30) and P3 (x = +30)
    # mirror-symmetric device meshed as a mirrored half: swapping the plungers mirrors the
    # state and keeps E0, to the eigensolver's tolerance
    assert x_left == pytest.approx(-x_right, abs=1e-6)
    assert left.energies_meV[0] == pytest.approx(right.energies_meV[0], rel=1e-9)
    # the constant valley coupling splits the ground doublet by exactly 2 |Delta|
    assert left.energies_meV[1] - left.energies_meV[0] == pytest.approx(0.1, rel=1e-6)


def test_plunger_lever_arm_is_positive_and_below_one(pipeline):
    gp, sub, basis = pipeline
    base = {"P2": -0.1, "C1": -1.0, "C2": -1.0, "P3": 0.35}
    dv = 0.01
    e_a = _ground_state(gp, sub, basis, {**base, "P1": 0.45})[0].energies_meV[0]
    e_b = _ground_state(gp, sub, basis, {**base, "P1": 0.45 + dv})[0].energies_meV[0]
    alpha = -(e_b - e_a) / (dv * 1000.0)  # meV per mV
    assert 0.05 < alpha < 1.0
    # Hellmann-Feynman: the density-weighted lever arm of the ground state matches the finite
    # difference (the lumped density weights are accurate to the mesh: 5 %)
    res = _ground_state(gp, sub, basis, {**base, "P1": 0.45})[0]
    density = (np.abs(res.components[0]) ** 2).sum(axis=0)
    weights = sub.extend(lumped_vertex_weights(sub.mesh) * density)
    arms = gp.lever_arms({"left": weights, "quantum": "quantum"})
    assert arms("left", "P1") == pytest.approx(alpha, rel=0.05)
    # the state sits under P1: P1 acts on it more than on the whole quantum layer
    assert arms("left", "P1") > arms("quantum", "P1")
