"""The public API: what ``import femvalley`` gives, what it does not load, and ``__all__`` lists
that match the modules (every public definition listed, every listed name defined)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import femvalley

PACKAGE = Path(femvalley.__file__).parent
MODULES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if p.name != "__main__.py"  # running it is the command line
)


def test_every_name_of_the_top_level_api_resolves():
    assert len(femvalley.__all__) == len(set(femvalley.__all__))
    for name in femvalley.__all__:
        assert getattr(femvalley, name) is not None, name
    assert femvalley.run_study.__module__ == "femvalley.study"
    assert femvalley.build_system.__module__ == "femvalley.system"


def test_import_femvalley_loads_no_plotting_hdf5_cluster_or_meshing_library():
    code = (
        "import sys, femvalley; "
        "print(','.join(m for m in ('matplotlib', 'h5py', 'dask', 'distributed', 'gmsh', "
        "'pygmsh', 'vtk') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _public_definitions(module: str) -> set[str]:
    path = Path(importlib.import_module(module).__file__ or "")
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper())
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("module", MODULES)
def test_the_all_list_of_every_module_matches_its_definitions(module):
    mod = importlib.import_module(module)
    listed = getattr(mod, "__all__", None)
    assert listed is not None, f"{module} has no __all__"
    assert len(listed) == len(set(listed)), f"{module}.__all__ repeats a name"
    undefined = [n for n in listed if not hasattr(mod, n)]
    assert not undefined, f"{module}.__all__ lists undefined names {undefined}"
    unlisted = sorted(_public_definitions(module) - set(listed))
    assert not unlisted, f"{module} defines public names missing from __all__: {unlisted}"


def test_the_type_protocols_match_the_objects_of_scikit_fem_and_scipy():
    """femvalley.typing names what femvalley uses of meshes, bases and sparse matrices: the
    library objects must have all of it (a renamed attribute in a new release fails here)."""
    import scipy.sparse as sp
    import skfem

    from femvalley.typing import Basis, Mesh, SparseMatrix

    mesh = skfem.MeshTet.init_tensor(*(np.linspace(0, 1, 3),) * 3).with_subdomains(
        {"left": lambda x: x[0] < 0.5}
    )
    basis = skfem.Basis(mesh, skfem.ElementTetP1())
    assert isinstance(mesh, Mesh) and isinstance(basis, Basis)
    assert isinstance(sp.csr_matrix(np.eye(3)), SparseMatrix)
    assert not isinstance(np.eye(3), Mesh)
