"""Safe writes into output directories: whole files or nothing, one run per directory.

:func:`atomic_path` is the one place a file is written under a temporary name and renamed
into place (``os.replace`` is atomic on POSIX): a reader, or a run killed half-way, sees the
old file or the new one, never a half-written one. :func:`write_text` is its common case.

:class:`DirectoryLock` holds an exclusive ``flock`` on ``DIR/.femvalley.lock`` while a run
writes ``DIR``; the file names the holder (pid, host, start time). The kernel releases the
lock when the holder dies (even by ``kill -9``), so a lock file left behind by a dead run is
taken over, with a note on stderr. A second run into the same directory is refused at once
with the holder named, instead of both writing the same temporary files.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

__all__ = [
    "LOCK_NAME",
    "DirectoryLock",
    "OutputBusyError",
    "atomic_path",
    "remove_temporaries",
    "temporary_name",
    "write_text",
]

#: name of the lock file inside a locked directory
LOCK_NAME = ".femvalley.lock"


class OutputBusyError(RuntimeError):
    """Another run holds the lock of the output directory."""


def _describe(text: str) -> str:
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if not fields:
        return "another process"
    pid, host, started = (fields.get(k, "?") for k in ("pid", "host", "started"))
    return f"pid {pid} on {host} since {started}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class DirectoryLock:
    """Exclusive lock of an output directory for the duration of a ``with`` block.

    Parameters
    ----------
    directory : str or Path
        Created (with its parents) if missing.

    Raises
    ------
    OutputBusyError
        When another process holds the lock (the message names it).
    OSError
        When the directory cannot be created or the lock file cannot be written.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.note: str | None = None
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            raise OutputBusyError(
                f"{self.directory} is being written by another femvalley run "
                f"({_describe(holder)}); wait for it to finish or choose another --out"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        previous = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if previous:  # its holder died without releasing it (the kernel did)
            fields = dict(p.split("=", 1) for p in previous.split() if "=" in p)
            pid = fields.get("pid", "")
            gone = pid.isdigit() and (
                fields.get("host") != socket.gethostname() or not _alive(int(pid))
            )
            self.note = f"took over the lock of {self.directory} left by {_describe(previous)}" + (
                " (no longer running)" if gone else ""
            )
            print(f"femvalley: note: {self.note}", file=sys.stderr)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        text = f"pid={os.getpid()} host={socket.gethostname()} started={stamp}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is None:
            return
        if exc_type is not None:  # a failed or interrupted run: no half-written file stays
            remove_temporaries(self.directory)
        try:
            os.ftruncate(fd, 0)  # empty: no run holds it
        except OSError:  # a full disk must not hide the run's own error
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


#: names of the temporary files femvalley writes before renaming them into place
_TEMPORARY = re.compile(r"(\.tmp$|\.tmp\.|^\.tmp-)")


def temporary_name(path: str | Path, *, suffix: str = "") -> Path:
    """Return the temporary name :func:`atomic_path` writes ``path`` under (same directory).

    ``.NAME.PID.tmp`` followed by ``suffix`` (for writers that choose the format from the file
    extension, e.g. ``".png"``, ``".npy"``); hidden, unique per process, and matched by
    :func:`remove_temporaries`.
    """
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.tmp{suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; rename it over ``path`` when the block succeeds.

    If the block raises (a full disk, Ctrl-C), the temporary file is removed and ``path`` is
    left as it was. The directory of ``path`` must exist.

    Examples
    --------
    >>> with atomic_path(out / "summary.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text(text)
    """
    final = Path(path)
    tmp = temporary_name(final, suffix=suffix)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_temporaries(directory: str | Path) -> list[Path]:
    """Remove femvalley's temporary files below ``directory``; return what was removed.

    Only for a directory this process has locked (:class:`DirectoryLock` calls it when the run
    inside the lock fails or is interrupted): every temporary file there is then its own, left
    by a write that did not complete (a full disk, Ctrl-C). Finished files are untouched.
    """
    removed = []
    for path in Path(directory).rglob("*"):
        if _TEMPORARY.search(path.name) and path.is_file():
            try:
                path.unlink()
                removed.append(path)
            except OSError:  # pragma: no cover - best effort, the run's own error matters
                pass
    return removed
