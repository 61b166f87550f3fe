"""Archive access: one interface, two backends (a local archive directory, or IRSA's services).

Both backends return image tables in the layout of `base.IMAGE_COLUMNS` and write files to paths they are given;
`cache.cached_fetch` makes those writes atomic and verified.
"""

from .base import IMAGE_COLUMNS, empty_image_table, normalize_image_table, search_positions
from .cache import cached_fetch, check_cached, cutout_cache_name, safe_file_name, store_cutout, verify_fits
from .cutouts import make_cutout
from .footprint import region_contains, region_overlaps_circle
from .irsa import IrsaArchive
from .local import LocalArchive

__all__ = [
    "IMAGE_COLUMNS",
    "empty_image_table",
    "normalize_image_table",
    "search_positions",
    "cached_fetch",
    "check_cached",
    "store_cutout",
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


# config key of the archive section -> keyword of IrsaArchive
_IRSA_KEYWORDS = {
    "sia_url": "sia_url", "tap_url": "tap_url", "data_url": "data_url", "s3_endpoint_url": "s3_endpoint_url",
    "bucket": "bucket", "collection": "collection", "transport": "transport", "cutouts": "cutouts",
    "s3_block_size": "block_size", "timeout_s": "timeout", "retries": "retries", "backoff_s": "backoff_s",
    "backoff_max_s": "backoff_max_s",
    "range_merge_gap_bytes": "merge_gap", "round_trip_ms": "round_trip_ms", "bandwidth_mbps": "bandwidth_mbps",
}


def open_archive(settings):
    """Build the backend named by ``settings['backend']`` from the workflow's (complete) ``archive`` section.

    Raises
    ------
    InvalidInputError
        For an unknown backend, or settings that lack keys the backend needs (the workflow's schema fills them;
        other callers complete theirs with `spherex_sdt.config.with_defaults`).
    """
    from ..errors import InvalidInputError

    backend = settings.get("backend")
    needed = {"local": ("root", "collection"), "irsa": tuple(_IRSA_KEYWORDS)}.get(backend)
    if needed is None:
        raise InvalidInputError(f"archive.backend must be 'local' or 'irsa', got {backend!r}")
    missing = [key for key in needed if key not in settings]
    if missing:
        raise InvalidInputError(f"archive settings for backend {backend!r} lack {', '.join(missing)}")
    if backend == "local":
        return LocalArchive(settings["root"], settings["collection"])
    return IrsaArchive(**{keyword: settings[key] for key, keyword in _IRSA_KEYWORDS.items()})
