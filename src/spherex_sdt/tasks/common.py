"""What every task shares: the job log, timestamps and provenance of products."""

import hashlib
import json
import logging
import sys
from datetime import datetime, UTC

from .. import __version__

__all__ = ["log_to", "now_utc", "settings_hash", "SOFTWARE", "LEVEL2_HDUS"]

SOFTWARE = f"spherex-sdt {__version__}"
"""Recorded in every product."""

LEVEL2_HDUS = ("IMAGE", "FLAGS", "VARIANCE", "WCS-WAVE")
"""HDUs a Level-2 file or cutout must hold to be used (downloads without them are refused)."""


def log_to(path):
    """Send stderr (tracebacks, warnings) and this package's log to a rule's log file."""
    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115  kept open for the life of the job
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)


def now_utc():
    """The current UTC time, ISO 8601 to the second (query and run times in products)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def settings_hash(*values):
    """Short, stable hash of the settings that produced a product (recorded as provenance)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
