"""Memory and time of a study or an ensemble, estimated before anything is meshed.

A run that cannot fit should be refused at once, with the reason, not after minutes of
meshing with a ``MemoryError``. :func:`estimate_study` takes the mesh sizes of the study's
device (``vertex_estimate()`` of the device's parameters: the structured k.p grid is counted
exactly, the gmsh device mesh roughly from volumes and mesh sizes), the model, the elements,
the number of states, points and realisations, and returns a :class:`ResourceEstimate`.
:func:`check_fits` refuses an estimate above the machine's physical memory.

The coefficients are calibrated on the runs of ``benchmarks/RESULTS.md`` on the project's
2-core machine (3-D demo: 41,748 k.p vertices, peak RSS 2.4-4.1 GB, 78 s with its coarser
level; 3-D at 178k k.p vertices: 7.2 GB). They are rough: memory within about 2x, time within
about 3x (the machine's load changes it more). Set ``FEMVALLEY_SKIP_RESOURCE_CHECK=1`` to run
a refused study anyway.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from femvalley.config import StudyConfig

__all__ = [
    "ResourceEstimate",
    "ResourceLimitError",
    "SKIP_ENV",
    "check_fits",
    "estimate_study",
    "machine_memory_bytes",
    "size_fields",
]

#: environment variable that turns the refusal of :func:`check_fits` off
SKIP_ENV = "FEMVALLEY_SKIP_RESOURCE_CHECK"

_GB = 1e9
#: bytes of the interpreter and the libraries before any mesh
_BASE_BYTES = 0.4 * _GB
#: peak bytes per k.p unknown of a 3-D shift-invert solve (CHOLMOD fill; measured on P1)
_KP3D_BYTES = 36e3
#: the same for a 2-D problem (far less fill)
_KP2D_BYTES = 6e3
#: peak bytes per device-mesh vertex of the gate solves (P2: about 7.5 unknowns per vertex)
_DEVICE_BYTES = {1: 3e3, 2: 12e3}
#: P2 unknowns per vertex (edges), and the extra fill of their denser rows
_P2_UNKNOWNS = {3: 7.5, 2: 4.0}
_P2_FILL = 2.5


class ResourceLimitError(ValueError):
    """A run whose estimated peak memory exceeds the machine's memory."""


@dataclass(frozen=True)
class ResourceEstimate:
    """Estimated size, peak memory and wall time of a run (rough; see the module)."""

    model: str
    kp_unknowns: int  # per valley component
    device_vertices: int
    realisations: int
    memory_bytes: float
    time_s: float
    #: the largest contributions to the memory, bytes
    memory_parts: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the user: sizes, memory, time."""
        return (
            f"estimate: {self.model} k.p problem of ~{_count(self.kp_unknowns)} unknowns per "
            f"valley, device mesh ~{_count(self.device_vertices)} vertices"
            + (f", {self.realisations} realisations" if self.realisations > 1 else "")
            + f"; peak memory ~{_bytes(self.memory_bytes)}, time ~{_seconds(self.time_s)} "
            "(rough)"
        )


def _count(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.3g}M"
    if n >= 1e3:
        return f"{n / 1e3:.3g}k"
    return f"{n:.0f}"


def _bytes(b: float) -> str:
    if b >= 1e12:
        return f"{b / 1e12:.3g} TB"
    if b >= _GB:
        return f"{b / _GB:.2g} GB"
    return f"{b / 1e6:.0f} MB"


def _seconds(t: float) -> str:
    if t >= 7200:
        return f"{t / 3600:.3g} h"
    if t >= 120:
        return f"{t / 60:.2g} min"
    return f"{t:.0f} s"


def estimate_study(config: StudyConfig, *, realisations: int = 1) -> ResourceEstimate:
    """Estimate the peak memory and wall time of ``config`` (``realisations`` valley maps).

    Nothing is meshed or allocated: the k.p grid is counted from the mesh sizes, the device
    mesh estimated from its volumes. ``realisations`` > 1 adds an ensemble's per-realisation
    results (one system and basis shared by all).
    """
    counts = config.device.resolved().vertex_estimate()
    device = int(counts["device"])
    dim = 3 if config.model == "3d" else 2
    if config.device.uses_structured_mesh():
        vertices = counts["structured_kp"] if dim == 3 else counts["plane"]
    else:  # the quantum region of the device mesh (its plane: about its 2/3 power)
        q = counts["device_quantum"]
        vertices = q if dim == 3 else math.ceil(q ** (2 / 3))
    p2 = config.solver.element == "P2"
    n = math.ceil(vertices * (_P2_UNKNOWNS[dim] if p2 else 1.0))
    fill = _P2_FILL if p2 else 1.0
    k = config.solver.n_states
    points = config.detuning.points
    snapshots = config.solver.max_snapshots
    orbitals = config.solver.orbitals_per_snapshot()

    parts: dict[str, float] = {"libraries": _BASE_BYTES}
    parts["gate solves"] = device * _DEVICE_BYTES[config.device.electrostatics_order]
    if dim == 3:
        parts["k.p solve"] = n * _KP3D_BYTES * fill
    else:
        columns = (
            counts["plane"] * counts["columns_z"] if config.device.uses_structured_mesh() else 0
        )
        parts["k.p solve"] = n * _KP2D_BYTES * fill + 64.0 * columns
    parts["reduced basis"] = 8.0 * n * orbitals * snapshots
    vm = config.valley_map
    nx, ny = int(getattr(vm, "nx", 0)), int(getattr(vm, "ny", 0))
    parts["valley map"] = 32.0 * (nx * nx + ny * ny) + 16.0 * (nx * ny + n)
    if vm.model == "gaussian" and getattr(vm, "sampler", "kronecker") != "kronecker":
        parts["valley map"] += 8.0 * (nx * ny) ** 2
    parts["results"] = float(realisations) * (points * k * 40.0 + 6e3)
    memory = sum(parts.values())

    if dim == 3:
        setup = 5.0 + 4e-4 * device + 1.5e-4 * n * fill
        basis = 1.8e-4 * n * fill * max(2, min(snapshots, 3))
        per_point = 2e-5 * n
    else:
        setup = 5.0 + 4e-4 * device + 2e-6 * counts["plane"] * counts["columns_z"]
        basis = 2e-5 * n * fill * max(2, min(snapshots, 3))
        per_point = 2e-6 * n
    time_s = setup + basis + points * per_point
    if config.convergence.estimate == "coarser_level":
        time_s *= 1.35
    if realisations > 1:
        time_s += realisations * points * 3e-3
    return ResourceEstimate(
        model=config.model,
        kp_unknowns=n,
        device_vertices=device,
        realisations=int(realisations),
        memory_bytes=memory,
        time_s=time_s,
        memory_parts=parts,
    )


def size_fields(config: StudyConfig) -> str:
    """Return the fields that set a study's size, with their values (for messages)."""
    params = config.device.build_params()
    names = [n for n in dir(params) if n.endswith("mesh_size_nm") and not n.startswith("_")]
    sizes = ", ".join(f"{n} = {getattr(params, n):g}" for n in sorted(names))
    return f"device.params mesh sizes ({sizes})"


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (bytes), or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def check_fits(
    estimate: ResourceEstimate, *, sizes: str = "", memory_bytes: int | None = None
) -> None:
    """Refuse (:class:`ResourceLimitError`) an estimate above the machine's memory.

    ``sizes`` names the fields that set the size (printed in the message);
    ``memory_bytes`` overrides the machine's memory (tests).
    """
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return
    total = machine_memory_bytes() if memory_bytes is None else memory_bytes
    if total is None or estimate.memory_bytes <= total:
        return
    biggest = max(estimate.memory_parts, key=lambda name: estimate.memory_parts[name])
    raise ResourceLimitError(
        f"this run needs an estimated {_bytes(estimate.memory_bytes)} of memory (mostly the "
        f"{biggest}: a {estimate.model} k.p problem of ~{_count(estimate.kp_unknowns)} unknowns "
        f"per valley, a device mesh of ~{_count(estimate.device_vertices)} vertices"
        + (f", {estimate.realisations} realisations" if estimate.realisations > 1 else "")
        + f"), more than this machine's {_bytes(total)}"
        + (f"; choose larger {sizes}" if sizes else "")
        + f" (or set {SKIP_ENV}=1 to try anyway)"
    )
