"""A linear array of quantum dots: n plungers with barriers between them, over a Si/SiGe stack.

The template of the Tunnel Falls-like devices: a line of finger gates at one pitch, barrier,
plunger, barrier, ..., plunger, barrier (``2 n + 1`` fingers for ``n`` dots), across a
channel between two screening strips in a lower gate layer. :class:`LinearArrayParams` holds
the parameters (lengths in nm, biases in V) and :meth:`LinearArrayParams.description` makes
the :class:`~geometries.description.DeviceDescription` that :mod:`geometries.mesher` meshes.

Stack, bottom up: Si0.7Ge0.3 buffer, strained-Si well, SiGe barrier, Si cap, SiO2, HfO2, the
screening layer (the strips, in Al2O3), an Al2O3 inter-layer dielectric, the finger layer (in
Al2O3) and an Al2O3 cover; z = 0 at the middle of the well.

Dot regions follow the layout: they tile the channel along x from a quarter pitch inside the
centres of the two outer barriers, and are split at the centres of the inner barriers; across
the channel they span ``dot_width_nm`` (default: the channel width). Two dots are called
``dot_L`` and ``dot_R``; more are ``dot_1`` ... ``dot_n`` from the left. At the defaults
(pitch 60 nm, two dots) the regions are 105 x 80 nm centred at x = -52.5 and +52.5 nm: the
Tunnel Falls study's.

The domain ends at the outer edges of the outer barriers (``margin_x_nm`` = 0) and
``margin_y_nm`` beyond the screening strips. Its sides carry zero normal field: they are
mirror planes, so the model is a section of a longer array. The description is mirror
symmetric in x = 0 and meshed as a half.

Units: nm, V.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from femvalley.config.checks import check_number
from geometries.description import DeviceDescription, DotRegion, Gate, Layer, MeshSizes

__all__ = ["LinearArrayParams", "STACK"]

#: the layers (name, material, parameter holding the thickness), bottom up
STACK = (
    ("buffer", "SiGe", "buffer_nm"),
    ("well", "strained_Si", "well_nm"),
    ("barrier", "SiGe", "barrier_nm"),
    ("cap", "Si", "cap_nm"),
    ("SiO2", "SiO2", "sio2_nm"),
    ("HfO2", "HfO2", "hfo2_nm"),
    ("screening_layer", "Al2O3", "screening_thickness_nm"),
    ("ILD", "Al2O3", "ild_nm"),
    ("finger_layer", "Al2O3", "finger_thickness_nm"),
    ("cover", "Al2O3", "cover_nm"),
)


@dataclass(frozen=True, kw_only=True)
class LinearArrayParams:
    """Parameters of a linear dot array (lengths in nm, biases in V)."""

    name: str = "linear_array"
    n_dots: int = 2
    #: names of the fingers from the left (2 n_dots + 1: barrier, plunger, ..., barrier);
    #: default B1, P1, B2, P2, ..., B(n+1)
    finger_names: tuple[str, ...] | None = None
    #: names of the screening strips at negative and positive y
    screening_names: tuple[str, str] = ("SG", "CS")
    # layer stack, bottom up
    buffer_nm: float = 50.0
    well_nm: float = 4.6
    barrier_nm: float = 50.0
    cap_nm: float = 1.0
    sio2_nm: float = 5.0
    hfo2_nm: float = 5.0
    screening_thickness_nm: float = 10.0
    ild_nm: float = 5.0
    finger_thickness_nm: float = 10.0
    cover_nm: float = 10.0
    # layout
    finger_pitch_nm: float = 60.0
    finger_width_nm: float = 30.0
    finger_length_nm: float = 90.0
    channel_width_nm: float = 80.0
    screening_width_nm: float = 30.0
    margin_x_nm: float = 0.0
    margin_y_nm: float = 30.0
    # dot regions
    dot_width_nm: float | None = None
    quantum_margin_nm: float = 6.0
    # mesh
    mesh_size_nm: float = 25.0
    device_mesh_size_nm: float = 10.0
    quantum_mesh_size_nm: float = 2.0
    kp_mesh_size_nm: float = 2.5
    kp_vertical_mesh_size_nm: float = 0.5
    # reference biases
    plunger_V: float = 2.5
    barrier_V: float = 1.2
    outer_barrier_V: float = 1.0
    screening_V: float = -0.5

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_nm", "_V")) and value is not None:
                # lengths > 0 except the margins (>= 0); biases of any sign
                positive = f.name.endswith("_nm") and not f.name.startswith("margin_")
                check_number(f.name, value, positive=positive)
                if f.name.startswith("margin_") and value < 0:
                    raise ValueError(f"{f.name} = {value!r} must be >= 0")
        n = self.n_dots
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n_dots = {n!r} must be an integer >= 1")
        if self.finger_names is not None and len(self.finger_names) != 2 * n + 1:
            raise ValueError(
                f"finger_names = {list(self.finger_names)} must name 2 n_dots + 1 = {2 * n + 1} "
                "fingers (barrier, plunger, ..., barrier)"
            )
        if not self.finger_width_nm < self.finger_pitch_nm:
            raise ValueError(
                f"finger_width_nm = {self.finger_width_nm} must be < finger_pitch_nm = "
                f"{self.finger_pitch_nm} (fingers must not touch)"
            )
        q, below, above = self.quantum_margin_nm, self.buffer_nm, self.barrier_nm
        numbers = all(isinstance(v, (int, float)) for v in (q, below, above))
        if numbers and not q < min(below, above):
            raise ValueError(
                f"quantum_margin_nm = {q!r} must be < buffer_nm = {below!r} and barrier_nm = "
                f"{above!r}: the quantum region ends inside the SiGe on both sides of the well"
            )
        w = self.dot_width_nm
        if w is not None and not (math.isfinite(w) and 0 < w <= self.domain_nm[3] * 2):
            raise ValueError(f"dot_width_nm = {w!r} must be > 0 and fit the domain")

    @property
    def fingers(self) -> tuple[str, ...]:
        """The finger gates from the left."""
        if self.finger_names is not None:
            return tuple(self.finger_names)
        names = []
        for i in range(self.n_dots):
            names += [f"B{i + 1}", f"P{i + 1}"]
        return (*names, f"B{self.n_dots + 1}")

    @property
    def dot_names(self) -> tuple[str, ...]:
        """The dot regions from the left."""
        if self.n_dots == 2:
            return ("dot_L", "dot_R")
        return tuple(f"dot_{i + 1}" for i in range(self.n_dots))

    def finger_centres_nm(self) -> dict[str, float]:
        """x of every finger's centre line."""
        mid = (len(self.fingers) - 1) / 2
        return {g: (i - mid) * self.finger_pitch_nm for i, g in enumerate(self.fingers)}

    @property
    def domain_nm(self) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1) of the simulated region."""
        half_x = (len(self.fingers) - 1) * self.finger_pitch_nm / 2 + self.finger_width_nm / 2
        half_x += self.margin_x_nm
        half_y = max(self.channel_width_nm / 2 + self.screening_width_nm, self.finger_length_nm / 2)
        half_y += self.margin_y_nm
        return (-half_x, half_x, -half_y, half_y)

    def description(self) -> DeviceDescription:
        """Return the device description of these parameters."""
        x0, x1, _, _ = self.domain_nm
        centres = self.finger_centres_nm()
        fingers = self.fingers
        w, length = self.finger_width_nm, self.finger_length_nm
        gates = [
            Gate(
                name=g,
                layer="finger_layer",
                polygon_nm=_rect(centres[g] - w / 2, centres[g] + w / 2, -length / 2, length / 2),
            )
            for g in fingers
        ]
        half_channel, sw = self.channel_width_nm / 2, self.screening_width_nm
        low, high = self.screening_names
        gates += [
            Gate(
                name=low,
                layer="screening_layer",
                polygon_nm=_rect(x0, x1, -half_channel - sw, -half_channel),
            ),
            Gate(
                name=high,
                layer="screening_layer",
                polygon_nm=_rect(x0, x1, half_channel, half_channel + sw),
            ),
        ]
        barriers = [centres[g] for g in fingers[::2]]
        plungers = fingers[1::2]
        inset = self.finger_pitch_nm / 4
        cuts = [barriers[0] + inset, *barriers[1:-1], barriers[-1] - inset]
        dy = (self.dot_width_nm or self.channel_width_nm) / 2
        dots = [
            DotRegion(name=name, plunger=p, rectangle_nm=(cuts[i], cuts[i + 1], -dy, dy))
            for i, (name, p) in enumerate(zip(self.dot_names, plungers))
        ]
        biases = {g: self.barrier_V for g in fingers[::2]}
        biases[fingers[0]] = biases[fingers[-1]] = self.outer_barrier_V
        biases.update({p: self.plunger_V for p in plungers})
        biases.update({low: self.screening_V, high: self.screening_V})
        return DeviceDescription(
            name=self.name,
            layers=tuple(
                Layer(name=n, material=m, thickness_nm=getattr(self, attr)) for n, m, attr in STACK
            ),
            gates=tuple(gates),
            domain_nm=self.domain_nm,
            dots=tuple(dots),
            quantum_layers=("well",),
            quantum_margin_nm=self.quantum_margin_nm,
            origin_layer="well",
            origin_at="middle",
            mesh=MeshSizes.of(self),
            mirror_x=True,
            reference_biases_V={g: biases[g] for g in (*fingers, low, high)},
        )


def _rect(x0: float, x1: float, y0: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
