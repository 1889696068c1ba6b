"""What a run is doing, on stderr: one line per phase, with its wall time.

Every phase of a study that can take more than a few seconds (device meshing, gate solves,
the k.p mesh and assembly, the reduced basis, the analysis, figures and ParaView files, each
ensemble group) is announced when it starts and timed when it ends; the sweep's points have
their own progress bar. ``Phases(False)`` (``--quiet``) prints nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["QUIET", "Phases", "progress_bar"]


class Phases:
    """Announce and time the phases of a run on ``stream`` (stderr), or stay quiet."""

    def __init__(self, on: bool = True, *, stream: TextIO | None = None) -> None:
        self.on = bool(on)
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        """Where the lines go (stderr unless given)."""
        return self._stream if self._stream is not None else sys.stderr

    @contextmanager
    def phase(self, what: str) -> Iterator[None]:
        """Print ``what ...`` now and ``what: N s`` when the block ends (or fails)."""
        if not self.on:
            yield
            return
        print(f"femvalley: {what} ...", file=self.stream, flush=True)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            print(
                f"femvalley: {what}: {time.perf_counter() - t0:.1f} s", file=self.stream, flush=True
            )

    def note(self, text: str) -> None:
        """Print one line."""
        if self.on:
            print(f"femvalley: {text}", file=self.stream, flush=True)


#: prints nothing
QUIET = Phases(False)


class _NoBar:
    """A progress bar that shows nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, *, initial: int = 0, on: bool = True, unit: str, desc: str) -> Any:
    """Return a tqdm progress bar on stderr (``update``, ``close``), or one that shows nothing."""
    if on:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, initial=initial, unit=unit, desc=desc)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass
    return _NoBar()
