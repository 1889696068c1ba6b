"""Certified reduced bases: sweeps and ensembles at the cost of small dense problems.

- :mod:`femvalley.rb.certificate`: the error bounds (residual in the ``M^-1`` norm, Kahan and
  quadratic Rayleigh-Ritz bounds, Weyl state counts) and the greedy choice of snapshots;
- :mod:`femvalley.rb.single_valley`: the default basis, real single-valley orbitals used in
  both valleys (``solver.reduced_basis = "single_valley"``);
- :mod:`femvalley.rb.two_valley`: full two-valley snapshots (``"two_valley"``).
"""

from femvalley.rb.certificate import (
    MassSolver,
    ReducedSolution,
    orthonormal_span,
    ritz_bound,
    state_bounds,
)
from femvalley.rb.single_valley import (
    OrbitalSnapshot,
    SingleValleyBasis,
    build_single_valley_basis,
    orbital_snapshot,
)
from femvalley.rb.two_valley import (
    Snapshot,
    TwoValleyBasis,
    build_two_valley_basis,
    full_snapshot,
)

__all__ = [
    "MassSolver",
    "OrbitalSnapshot",
    "ReducedSolution",
    "SingleValleyBasis",
    "Snapshot",
    "TwoValleyBasis",
    "build_single_valley_basis",
    "build_two_valley_basis",
    "full_snapshot",
    "orbital_snapshot",
    "orthonormal_span",
    "ritz_bound",
    "state_bounds",
]
