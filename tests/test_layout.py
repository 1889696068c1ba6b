"""The package's layout: no module uses another module's private names; no import cycles.

The whole package is read with ``ast`` (nothing is imported): every ``from femvalley... import
name`` and every ``import femvalley...`` gives an edge of the import graph (imports inside
functions included, since a lazy import can close a cycle just as well), and every imported
name or attribute reached through another object that starts with one underscore is a use of
a private name. Helpers two modules need belong, public, in the lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "femvalley"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(name: str) -> str | None:
    """The module a dotted import name refers to (a module, or a name inside one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _scan(module: str) -> tuple[set[str], list[str]]:
    """Modules ``module`` imports, and its uses of other modules' private names."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    deps: set[str] = set()
    private: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            if not base.startswith("femvalley"):
                continue
            for alias in node.names:
                target = _resolve(f"{base}.{alias.name}")
                if target:
                    deps.add(target)
                if _private(alias.name) or any(_private(p) for p in base.split(".")):
                    private.append(f"line {node.lineno}: from {base} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("femvalley"):
                    target = _resolve(alias.name)
                    if target:
                        deps.add(target)
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                private.append(f"line {node.lineno}: {ast.unparse(node)}")
    deps.discard(module)
    return deps, private


def test_the_package_has_the_modules_of_the_design():
    for name in (
        "femvalley.config.study",
        "femvalley.config.ensemble",
        "femvalley.config.checks",
        "femvalley.forms",
        "femvalley.kp",
        "femvalley.linalg",
        "femvalley.eigen.driver",
        "femvalley.eigen.backends",
        "femvalley.eigen.bounds",
        "femvalley.eigen.sweep",
        "femvalley.rb.certificate",
        "femvalley.rb.single_valley",
        "femvalley.rb.two_valley",
        "femvalley.born_oppenheimer",
        "femvalley.system",
        "femvalley.sweep",
        "femvalley.execution",
        "femvalley.io.atomic",
        "femvalley.io.toml",
        "femvalley.io.results",
        "femvalley.io.snapshots",
        "femvalley.io.ensemble",
        "femvalley.io.paraview",
        "femvalley.typing",
        "femvalley.records",
    ):
        assert name in MODULES, name


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_uses_a_private_name_of_another(module):
    _, private = _scan(module)
    assert not private, f"{module} uses private names: {private}"


def test_the_import_graph_has_no_cycles():
    # a package's __init__ imports its submodules (the curated API): a submodule importing
    # from its own package's __init__ then closes a cycle, and is reported
    graph = {m: _scan(m)[0] for m in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = path[path.index(d) :] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_scanner_finds_a_private_import_and_a_cycle(tmp_path, monkeypatch):
    """The checks above can fail: a planted private import and a planted cycle are found."""
    pkg = tmp_path / "femvalley"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from femvalley.b import _helper\n")
    (pkg / "b.py").write_text("def f():\n    import femvalley.a\n    return femvalley.a.x._y\n")
    fake = {
        "femvalley": pkg / "__init__.py",
        "femvalley.a": pkg / "a.py",
        "femvalley.b": pkg / "b.py",
    }
    monkeypatch.setitem(globals(), "MODULES", fake)
    deps_a, private_a = _scan("femvalley.a")
    deps_b, private_b = _scan("femvalley.b")
    assert deps_a == {"femvalley.b"} and deps_b == {"femvalley.a"}
    assert private_a and "_helper" in private_a[0]
    assert private_b and "x._y" in private_b[0]
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_the_import_graph_has_no_cycles()


def test_every_noqa_says_why():
    """A noqa comment silences a check: the same line must name it and say why (`- reason`)."""
    import re

    root = PACKAGE.parent
    bare = []
    for folder in ("femvalley", "geometries", "tests", "benchmarks", "examples"):
        for path in sorted((root / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = re.search(r"#\s*noqa\b(.*)$", line)
                if m and not re.match(r":\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*\s+-\s+\S", m.group(1)):
                    bare.append(f"{path.relative_to(root)}:{n}")
    assert not bare, f"noqa without a code and a reason: {bare}"
