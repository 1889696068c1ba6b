"""ParaView files of a detuning study, and a check that they hold normalised densities.

Exports a study directory (``femvalley.export.export_study``: VTU files of the lowest states at
both sweep ends, an XDMF series with the detuning as time), reads the VTU files back
with meshio and integrates each state's density over the mesh with scikit-fem: it must be 1.

Run:  python examples/paraview_export.py --study-dir femvalley-demo      (after femvalley demo)
      python examples/paraview_export.py --out out/paraview_demo          (runs a small study)
Open paraview/sweep.xdmf in ParaView and play the time axis (detuning, mV).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import meshio
import numpy as np

#: a small study (coarse meshes, 5 points) for when no study directory is given
SMALL_STUDY = {
    "device": {
        "params": {
            "quantum_mesh_size_nm": 6.0,
            "device_mesh_size_nm": 20.0,
            "mesh_size_nm": 40.0,
            "kp_mesh_size_nm": 8.0,
            "kp_vertical_mesh_size_nm": 1.2,
        }
    },
    "detuning": {"points": 5},
    "solver": {"n_states": 2},
    "output": {"figures": False, "vtu_states": 2},
}


def norm_from_vtu(vtu: Path) -> float:
    """``int |psi_+|^2 + |psi_-|^2`` of the finite-element state stored in a VTU file.

    The state is P1 in each Re/Im part, so its density is quadratic on every tetrahedron:
    integrate the squares of the interpolated parts exactly (the ``density`` point field is
    the density at the vertices, whose P1 interpolation is not the finite-element density).
    """
    from skfem import Basis, ElementTetP1, Functional, MeshTet

    m = meshio.read(vtu)
    mesh = MeshTet(np.ascontiguousarray(m.points.T), np.ascontiguousarray(m.cells_dict["tetra"].T))
    basis = Basis(mesh, ElementTetP1(), intorder=2)
    parts = ("psi_plus_re", "psi_plus_im", "psi_minus_re", "psi_minus_im")
    values = {k: basis.interpolate(np.asarray(m.point_data[k], dtype=float)) for k in parts}
    square = Functional(lambda w: sum(w[k] ** 2 for k in parts))
    return float(square.assemble(basis, **values))


def run(out_dir: Path, *, study_dir: Path | None = None) -> dict[str, Any]:
    """Export ``study_dir`` (or run the small study into ``out_dir``); check the norms."""
    from femvalley.export import export_study

    if study_dir is None:
        from femvalley.config import StudyConfig
        from femvalley.study import run_study

        run_study(StudyConfig.from_dict(SMALL_STUDY), out_dir=out_dir, progress=False)
        study_dir = out_dir
    files = export_study(study_dir)
    norms = {p.name: norm_from_vtu(p) for p in files if p.suffix == ".vtu"}
    return {"files": [str(p) for p in files], "norms": norms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study-dir", help="an existing study directory to export")
    parser.add_argument("--out", default="out/paraview_demo", help="where to run the small study")
    args = parser.parse_args()
    out = run(Path(args.out), study_dir=Path(args.study_dir) if args.study_dir else None)
    for f in out["files"]:
        print(f)
    for name, norm in out["norms"].items():
        print(f"norm of the state in {name}: {norm:.9f}")


if __name__ == "__main__":
    main()
