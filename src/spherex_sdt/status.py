"""What every product says about itself: a ``status`` and a ``reason``.

ECSV products carry them in their metadata, FITS products as ``STATUS``/``REASON`` in the primary header. The
tasks write them; the run summary reads them back. One home for the values, so the two never disagree.
"""

__all__ = [
    "OK",
    "NO_COVERAGE",
    "NO_SOURCES",
    "NO_MEASUREMENTS",
    "FAILED",
    "NOT_RUN",
    "status_of",
]

OK = "ok"
"""The product holds a result."""
NO_COVERAGE = "no_coverage"
"""No image pair covers the target (or it is too near a detector edge): every product is empty but valid."""
NO_SOURCES = "no_sources"
"""The difference image gave no source to measure (summary only)."""
NO_MEASUREMENTS = "no_measurements"
"""A selected source without a usable cutout (summary only)."""
FAILED = "failed"
"""A job failed; the summary names its rule (summary only)."""
NOT_RUN = "not_run"
"""A job did not run: a shared input failed or the run stopped (summary only)."""


def status_of(meta):
    """``(status, reason)`` recorded in a product's metadata or FITS header (keys match case-insensitively there);
    products written before statuses existed count as ``ok``."""
    return str(meta.get("status", OK)), str(meta.get("reason", ""))
