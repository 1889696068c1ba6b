"""Typed result records: frozen dataclasses whose fields also read as a mapping.

The runs of femvalley return typed records (:class:`femvalley.sweep.SweepResult`,
:class:`femvalley.study.StudyResult`, :class:`femvalley.ensemble.EnsembleResult`): every
field is an attribute mypy can check (``result.energies_meV``), and, for scripts written
against the stores' names, the record is also a read-only mapping of its fields
(``result["energies_meV"]``, ``"summary" in result``, ``result.get("reduced")``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FieldMapping"]


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
