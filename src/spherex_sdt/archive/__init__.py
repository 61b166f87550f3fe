"""Archive access: one interface, two backends (a local archive directory, or IRSA's services).

Both backends return image tables in the layout of `base.IMAGE_COLUMNS` and write files to paths they are given;
`cache.cached_fetch` makes those writes atomic and verified.
"""

from .base import IMAGE_COLUMNS, empty_image_table, normalize_image_table
from .cache import cached_fetch, cutout_cache_name, safe_file_name, verify_fits
from .cutouts import make_cutout
from .footprint import region_contains, region_overlaps_circle
from .irsa import IrsaArchive
from .local import LocalArchive

__all__ = [
    "IMAGE_COLUMNS",
    "empty_image_table",
    "normalize_image_table",
    "cached_fetch",
    "cutout_cache_name",
    "safe_file_name",
    "verify_fits",
    "make_cutout",
    "region_contains",
    "region_overlaps_circle",
    "IrsaArchive",
    "LocalArchive",
    "open_archive",
    "run_settings",
]


def run_settings(data_settings, config_settings):
    """A job's archive settings: those that decide the data from its rule's params, the rest (timeouts, retries,
    transports) from the run's config, which can change without re-running finished jobs."""
    return {**config_settings, **data_settings}


def open_archive(settings):
    """Build the backend named by ``settings['backend']`` from the workflow's ``archive`` settings."""
    from ..errors import InvalidInputError

    backend = settings.get("backend")
    if backend == "local":
        return LocalArchive(settings["root"], settings["collection"])
    if backend == "irsa":
        return IrsaArchive(
            sia_url=settings["sia_url"], tap_url=settings["tap_url"], data_url=settings["data_url"],
            s3_endpoint_url=settings.get("s3_endpoint_url", ""), bucket=settings.get("bucket", "nasa-irsa-spherex"),
            collection=settings["collection"], transport=settings.get("transport", "http"),
            cutouts=settings.get("cutouts", "auto"), block_size=settings.get("s3_block_size", 16_384),
            timeout=settings.get("timeout_s", 120.0), retries=settings.get("retries", 3),
            backoff_s=settings.get("backoff_s", 2.0), merge_gap=settings.get("range_merge_gap_bytes", 65_536),
        )
    raise InvalidInputError(f"archive.backend must be 'local' or 'irsa', got {backend!r}")
