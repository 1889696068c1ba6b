"""Peak resident memory of a stage, sampled from /proc (counts C allocations too)."""

from __future__ import annotations

import os
import threading
import time


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Context manager: wall time and peak RSS (MB) above the level at entry."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.base_mb = 0.0
        self.seconds = 0.0

    def __enter__(self):
        self.base_mb = rss_mb()
        self.peak_mb = self.base_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb())
            time.sleep(self.interval_s)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())
        return False

    @property
    def delta_mb(self) -> float:
        return self.peak_mb - self.base_mb
