"""Every relative link in README.md, geometries/README.md and docs/*.md names a file of the
repository, and nothing points outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "geometries" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_name_files_of_the_repository(doc):
    text = doc.read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    for link in links:
        if "://" in link:
            continue
        target = (doc.parent / link).resolve()
        assert target.exists(), f"{doc.name} links to {link}, which does not exist"
        assert ROOT.resolve() in target.parents or target == ROOT.resolve(), link
    # no document of the project refers to the developers' shared folder or its files
    for name in ("../shared", "PHYSICS.md", "DESIGN.md", "MEASURED.md", "refs/00"):
        assert name not in text, f"{doc.name} refers to {name}, which is not in the project"
