"""The five-gate Si/SiO2 double dot of ref. 1 (Binder, Burkard, Fisher, section IV.1.1), as a
template of device descriptions.

Domain 160 x 160 nm: 25 nm of silicon below the Si/SiO2 interface (z = 0), 25 nm of SiO2 above.
The gates are metal volumes in the oxide:

- plungers P1 and P3 at x = -30 and +30 nm, 25 x 60 x 10 nm, bottom at ``gate_bottom_nm``;
- barrier P2 at x = 0, the same size, ``barrier_lowering_nm`` closer to the substrate;
- confinement gates C1 and C2 at y = -50 and +50 nm, 160 x 30 x 10 nm.

The paper does not give the gate heights; here the gates sit on ``gate_bottom_nm`` = 10 nm of
oxide (P2 on 5 nm).

Layers, bottom up: ``substrate`` (Si), ``Si`` (the top ``quantum_depth_nm`` of the silicon:
the quantum layer) and ``SiO2``. The quantum region is the ``Si`` layer and ``kp_oxide_nm`` of
oxide above it (the oxide's 3 eV barrier is part of the k.p problem, not a Dirichlet wall at
the interface); the dot regions ``dot_L`` and ``dot_R`` are its halves x < 0 and x > 0 under
P1 and P3. The structured k.p grid covers ``kp_box_nm`` (ref. 1 section IV.1.2 uses 120 x 24
nm), centred.

Optional stepped interface (ref. 1 Fig. 2, ``stepped_interface``): the interface is at
z = +0.5 nm for x in [-80, -10], -0.5 nm for x in [-10, 10] and 0 for x in [10, 80] (terraces
of the ``Si`` and ``substrate`` layers: the quantum layer follows the interface). The flat
device is mirror symmetric in x = 0 and meshed as a half; the stepped one is not.

Units: nm, V.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from femvalley.config.checks import check_number
from geometries.description import DeviceDescription, DotRegion, Gate, Layer, MeshSizes, Step

__all__ = ["FiveGateParams"]


@dataclass(frozen=True, kw_only=True)
class FiveGateParams:
    """Parameters of the five-gate device (lengths in nm, biases in V)."""

    name: str = "five_gate_dqd"
    domain_xy_nm: float = 160.0
    si_depth_nm: float = 25.0
    oxide_height_nm: float = 25.0
    gate_bottom_nm: float = 10.0
    gate_height_nm: float = 10.0
    barrier_lowering_nm: float = 5.0
    plunger_x_nm: float = 30.0
    plunger_size_nm: tuple[float, float] = (25.0, 60.0)
    confinement_y_nm: float = 50.0
    confinement_width_nm: float = 30.0
    stepped_interface: bool = False
    quantum_depth_nm: float = 10.0
    # mesh: the device mesh (far, under the gates, in the quantum region) ...
    mesh_size_nm: float = 12.0
    device_mesh_size_nm: float = 12.0
    quantum_mesh_size_nm: float = 2.0
    #: ... and the structured k.p grid: its in-plane extent (x, y), centred (ref. 1 section
    #: IV.1.2 uses 120 x 24 nm), the oxide it keeps above the interface, its steps
    kp_box_nm: tuple[float, float] = (120.0, 24.0)
    kp_oxide_nm: float = 1.5
    kp_mesh_size_nm: float = 2.0
    kp_vertical_mesh_size_nm: float = 0.5
    # biases of the exchange study of ref. 1 section IV.1.2: plungers at 400 mV, confinement
    # gates at -1000 mV, the barrier in its scanned range (-200 to -25 mV)
    plunger_V: float = 0.4
    barrier_V: float = -0.1
    confinement_V: float = -1.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_nm", "_V")) and not isinstance(value, tuple):
                positive = f.name.endswith("_nm") and f.name not in (
                    "gate_bottom_nm",
                    "barrier_lowering_nm",
                    "plunger_x_nm",
                    "confinement_y_nm",
                )
                check_number(f.name, value, positive=positive)
        for name in ("plunger_size_nm", "kp_box_nm"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 2:
                raise ValueError(f"{name} = {value!r} must be [x, y] in nm")
            for i, v in enumerate(value):
                check_number(f"{name}[{i}]", v, positive=True)
        if not isinstance(self.stepped_interface, bool):
            raise ValueError(f"stepped_interface = {self.stepped_interface!r} must be true/false")
        lowest = self.gate_bottom_nm - self.barrier_lowering_nm
        if lowest <= 1.0:
            raise ValueError(
                f"gate_bottom_nm - barrier_lowering_nm = {lowest!r}: the barrier gate must stay "
                "above the interface (> 1 nm of oxide)"
            )
        if self.gate_bottom_nm + self.gate_height_nm >= self.oxide_height_nm:
            raise ValueError(
                f"gate_bottom_nm + gate_height_nm = {self.gate_bottom_nm + self.gate_height_nm} "
                f"must be below oxide_height_nm = {self.oxide_height_nm}"
            )
        bx, by = self.kp_box_nm
        if not (bx <= self.domain_xy_nm and by <= self.domain_xy_nm):
            raise ValueError(
                f"kp_box_nm = {list(self.kp_box_nm)} must fit the domain ({self.domain_xy_nm} nm)"
            )
        if self.kp_oxide_nm >= lowest:
            raise ValueError(
                f"kp_oxide_nm = {self.kp_oxide_nm} must stay below the lowest gate "
                f"({lowest} nm above the interface)"
            )
        if self.quantum_depth_nm >= self.si_depth_nm - 0.5:
            raise ValueError(
                f"quantum_depth_nm = {self.quantum_depth_nm} must be < si_depth_nm - 0.5 = "
                f"{self.si_depth_nm - 0.5} (the substrate stays below the deepest terrace)"
            )

    def gate_boxes(self) -> dict[str, tuple[float, float, float, float, float, float]]:
        """Gate boxes as (x0, y0, z0, dx, dy, dz), nm."""
        px, py = self.plunger_size_nm
        h = self.gate_height_nm
        z0 = self.gate_bottom_nm
        half = self.domain_xy_nm / 2
        cw = self.confinement_width_nm
        cy = self.confinement_y_nm
        return {
            "P1": (-self.plunger_x_nm - px / 2, -py / 2, z0, px, py, h),
            "P2": (-px / 2, -py / 2, z0 - self.barrier_lowering_nm, px, py, h),
            "P3": (self.plunger_x_nm - px / 2, -py / 2, z0, px, py, h),
            "C1": (-half, -cy - cw / 2, z0, 2 * half, cw, h),
            "C2": (-half, cy - cw / 2, z0, 2 * half, cw, h),
        }

    def interface_sections(self) -> list[tuple[float, float, float]]:
        """(x_min, x_max, z) of the Si/SiO2 interface's terraces, nm."""
        half = self.domain_xy_nm / 2
        if not self.stepped_interface:
            return [(-half, half, 0.0)]
        return [(-half, -10.0, 0.5), (-10.0, 10.0, -0.5), (10.0, half, 0.0)]

    def description(self) -> DeviceDescription:
        """Return the device description of these parameters."""
        half = self.domain_xy_nm / 2
        steps = tuple(
            Step(x_nm=(x0, x1), dz_nm=z) for x0, x1, z in self.interface_sections() if z != 0.0
        )
        layers = (
            Layer(
                name="substrate",
                material="Si",
                thickness_nm=self.si_depth_nm - self.quantum_depth_nm,
                top_steps=steps,
            ),
            Layer(name="Si", material="Si", thickness_nm=self.quantum_depth_nm, top_steps=steps),
            Layer(name="SiO2", material="SiO2", thickness_nm=self.oxide_height_nm),
        )
        gates = tuple(
            Gate(
                name=name,
                polygon_nm=((x0, y0), (x0 + dx, y0), (x0 + dx, y0 + dy), (x0, y0 + dy)),
                z_nm=(z0, z0 + dz),
            )
            for name, (x0, y0, z0, dx, dy, dz) in self.gate_boxes().items()
        )
        dots = (
            DotRegion(name="dot_L", plunger="P1", rectangle_nm=(-half, 0.0, -half, half)),
            DotRegion(name="dot_R", plunger="P3", rectangle_nm=(0.0, half, -half, half)),
        )
        bx, by = self.kp_box_nm
        biases = {"P1": self.plunger_V, "P2": self.barrier_V, "P3": self.plunger_V}
        biases.update({"C1": self.confinement_V, "C2": self.confinement_V})
        return DeviceDescription(
            name=self.name,
            layers=layers,
            gates=gates,
            domain_nm=(-half, half, -half, half),
            dots=dots,
            quantum_layers=("Si",),
            quantum_margin_nm=(0.0, self.kp_oxide_nm),
            kp_box_nm=(-bx / 2, bx / 2, -by / 2, by / 2),
            origin_layer="Si",
            origin_at="top",
            mesh=MeshSizes.of(self),
            mirror_x=not self.stepped_interface,
            reference_biases_V=biases,
        )
