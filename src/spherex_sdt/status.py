"""What every product says about itself: a ``status`` and a ``reason``.

ECSV products carry them in their metadata, FITS products as ``STATUS``/``REASON`` in the primary header. The
tasks write them; the run summary reads them back. One home for the values, so the two never disagree.
"""

__all__ = [
    "OK",
    "NO_COVERAGE",
    "NO_SOURCES",
    "NO_MEASUREMENTS",
    "PARTIAL",
    "FAILED",
    "NOT_RUN",
    "JOB_FINISHED",
    "status_of",
]

OK = "ok"
"""The product holds a result."""
NO_COVERAGE = "no_coverage"
"""No image pair covers the target (or it is too near a detector edge): every product is empty but valid."""
NO_SOURCES = "no_sources"
"""The difference image gave no source to measure (summary only)."""
NO_MEASUREMENTS = "no_measurements"
"""A selected source without a usable cutout: its spectrum products are empty but valid, and the reason says why
(no exposure contains it, or every cutout failed)."""
PARTIAL = "partial"
"""Some exposures of a source were not measured because of failures (a download that failed after its retries, an
unreadable cutout), not for lack of coverage: the reason gives the count and the first error. A re-run fetches
only what is missing."""
FAILED = "failed"
"""A job failed; the summary names its rule (summary only)."""
NOT_RUN = "not_run"
"""A job did not run: a shared input failed or the run stopped (summary only)."""

JOB_FINISHED = "spherex-sdt: job finished"
"""The last line of the log of a job that ended without an exception (`spherex_sdt.tasks.common.log_to` writes
it): the run summary does not blame a job that finished for a product removed since."""


def status_of(meta):
    """``(status, reason)`` recorded in a product's metadata or FITS header (keys match case-insensitively there);
    products written before statuses existed count as ``ok``."""
    return str(meta.get("status", OK)), str(meta.get("reason", ""))
