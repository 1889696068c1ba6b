"""Typed result records: frozen dataclasses whose fields also read as a mapping.

The runs of femvalley return typed records (:class:`femvalley.sweep.SweepResult`,
:class:`femvalley.study.StudyResult`, :class:`femvalley.ensemble.EnsembleResult`): every
field is an attribute mypy can check (``result.energies_meV``), and, for scripts written
against the stores' names, the record is also a read-only mapping of its fields
(``result["energies_meV"]``, ``"summary" in result``, ``result.get("reduced")``).

Summaries (the content of ``summary.json`` and ``ensemble_summary.json``) are
:class:`JsonRecord` dataclasses: typed attributes (``summary.numbers["lever_arm"].value``)
and, as a mapping, exactly the JSON object of their file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.io.atomic import write_text

__all__ = ["FieldMapping", "JsonRecord", "plain"]


class FieldMapping(Mapping[str, Any]):
    """Base of the result dataclasses: a read-only mapping of the dataclass's fields.

    Records are compared by identity (their fields are arrays).
    """

    __eq__ = object.__eq__  # not Mapping's: arrays do not compare to one truth value
    __hash__ = object.__hash__

    def _names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def plain(value: Any) -> Any:
    """Return ``value`` as JSON types: records, mappings, sequences and numpy scalars/arrays."""
    if isinstance(value, JsonRecord):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


class JsonRecord(Mapping[str, Any]):
    """Base of the summary dataclasses: a typed record that is written as one JSON object.

    Subclasses are frozen dataclasses. :meth:`to_dict` is the JSON object: every field by its
    name, except optional fields (default ``None``) that are ``None``, which are left out, and
    the field ``extra`` (keys from a file this version does not know, kept so that nothing
    read is lost), whose items are written at the top level. The record is also a read-only
    mapping of that JSON object (``summary["numbers"]``), so it compares equal to the
    ``json.load`` of its own file.
    """

    __hash__ = None  # type: ignore[assignment]  # records hold mappings and lists

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object of the record (plain dicts, lists, numbers and strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(plain(value))
            elif value is not None or f.default is not None:
                out[f.name] = plain(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Read the JSON object of a record (:meth:`to_dict`); unknown keys go to ``extra``.

        A key the record requires and the object lacks raises ``ValueError`` naming it.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a {cls.__name__} is a JSON object, not {type(data).__name__}")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        names = {f.name for f in fields} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        missing = [
            f.name
            for f in fields
            if f.name not in known
            and f.name != "extra"
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"not a {cls.__name__}: the key {missing[0]!r} is missing")
        if "extra" in {f.name for f in fields}:
            known["extra"] = {k: v for k, v in data.items() if k not in names}
        return cls(**known)

    def write(self, path: str | Path) -> Path:
        """Write the record as a JSON file (atomically: a temporary file, then renamed)."""
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> Any:
        """Read a record written by :meth:`write`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __getitem__(self, name: str) -> Any:
        return self.to_dict()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        mine = self.to_dict()
        theirs = other.to_dict() if isinstance(other, JsonRecord) else plain(other)
        return bool(mine == theirs)
