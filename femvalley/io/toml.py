"""TOML in and out: reading a file with one clear error, and writing nested mappings.

The standard library reads TOML (``tomllib``, Python >= 3.11; ``tomli`` before) but does not
write it; :func:`dump_toml` writes the small subset femvalley stores (tables, strings,
numbers, booleans, arrays and inline tables inside arrays).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: what :func:`loads` raises for text that is not TOML
TOMLDecodeError = tomllib.TOMLDecodeError
__all__ = ["TOMLDecodeError", "dump_toml", "loads", "read_toml", "text_digest"]


def text_digest(text: str) -> str:
    """Return the SHA-256 of a text (hex): the identity of a resolved configuration."""
    return hashlib.sha256(text.encode()).hexdigest()


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib.loads``)."""
    return tomllib.loads(text)


def read_toml(path: str | Path, *, what: str) -> dict[str, Any]:
    """Read a TOML file; a missing file or bad TOML is a ``ValueError`` naming ``what``."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {str(p)!r} is a directory, not a file")
    if not p.is_file():
        raise ValueError(f"{what} {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{p}: not UTF-8 text (byte {err.object[err.start]:#04x} at position {err.start}); "
            "save the file as UTF-8"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{p}: not valid TOML: {err}") from err


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):  # an inline table (inside an array)
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"cannot write {v!r} to TOML")


def _toml_key(key: str) -> str:
    """Return a bare key where TOML allows one, else a quoted key (a dotted path)."""
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return _toml_value(key)


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """Return ``data`` (nested mappings of TOML values) as TOML text; tables follow values."""
    lines = []
    tables = []
    for k, v in data.items():
        if isinstance(v, Mapping):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    text = "\n".join(lines)
    for k, v in tables:
        name = f"{prefix}{_toml_key(k)}"
        body = dump_toml(v, prefix=f"{name}.")
        text += f"\n\n[{name}]\n{body}" if text or prefix else f"[{name}]\n{body}"
    return text.strip("\n") + "\n"
