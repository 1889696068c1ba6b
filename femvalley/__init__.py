"""femvalley: finite-element simulator for single electrons in silicon quantum dots.

Position-dependent two-valley (and general n-band) k.p models on scikit-fem meshes,
correlated random valley-coupling maps, and fast sparse eigensolvers.

"ref. 1", "ref. 2" and "ref. 3" in docstrings are the papers listed in docs/references.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
