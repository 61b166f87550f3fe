"""What every task shares: the job log, timestamps and provenance of products."""

import atexit
import hashlib
import json
import logging
import sys
import threading
import time
from datetime import datetime, UTC

from .. import __version__
from ..status import JOB_FINISHED

__all__ = ["log_to", "now_utc", "settings_hash", "Progress", "SOFTWARE", "LEVEL2_HDUS", "JOB_FINISHED"]

SOFTWARE = f"spherex-sdt {__version__}"
"""Recorded in every product."""

LEVEL2_HDUS = ("IMAGE", "FLAGS", "VARIANCE", "WCS-WAVE")
"""HDUs a Level-2 file or cutout must hold to be used (downloads without them are refused)."""


def log_to(path):
    """Send stderr (tracebacks, warnings) and this package's log to a rule's log file; a job that ends without an
    uncaught exception ends its log with `JOB_FINISHED`."""
    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115  kept open for the life of the job
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    failed = []
    previous_hook = sys.excepthook

    def note_failure(*exc_info):
        failed.append(exc_info[0])
        previous_hook(*exc_info)

    def note_end(stream=sys.stderr):
        if not failed and not stream.closed:
            stream.write(f"{JOB_FINISHED}\n")
            stream.flush()

    sys.excepthook = note_failure
    atexit.register(note_end)


def now_utc():
    """The current UTC time, ISO 8601 to the second (query and run times in products)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def settings_hash(*values):
    """Short, stable hash of the settings that produced a product (recorded as provenance)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Progress of a long loop in the job log: ``cutouts: 50/480 (10 %), 3.2/s, ETA 2 min 14 s`` every ``every``
    items and at the last one. Thread-safe: workers of a pool may call `step` (or use `wrap`).

    Parameters
    ----------
    total : int
        Items to do.
    label : str
        What they are (``cutouts``).
    every : int, optional
        Items between lines; default a tenth of ``total`` (at least 1, at most 100).
    log : `logging.Logger`, optional
        Where the lines go (default this module's logger).
    clock : callable
        Seconds, monotonic (tests pass a fake clock).
    """

    def __init__(self, total, label, *, every=None, log=None, clock=time.monotonic):
        self.total, self.label = int(total), label
        self.every = max(1, int(every) if every else min(100, -(-self.total // 10)))
        self.log = log or logging.getLogger(__name__)
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._lock = threading.Lock()

    def line(self):
        """The progress line for the items done so far."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done}/{self.total} ({100 * self.done / max(self.total, 1):.0f} %), {rate:.1f}/s"
        if self.done < self.total and rate > 0:
            return f"{text}, ETA {_duration((self.total - self.done) / rate)}"
        return f"{text}, {_duration(elapsed)} in all" if self.done >= self.total else text

    def step(self, n=1):
        """Count ``n`` items done; log a line every ``every`` items and at the end."""
        with self._lock:
            before, self.done = self.done, self.done + n
            if self.done // self.every > before // self.every or self.done >= self.total > before:
                self.log.info("%s", self.line())

    def wrap(self, func):
        """``func`` that also counts one item each time it returns or raises."""
        def counted(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            finally:
                self.step()
        return counted
