"""The download cache: one file per archive file name (and box, for cutouts), written atomically and verified.

Concurrent jobs may fill the same entry: each writes its own temporary file and the last rename wins with identical
content, so no reader ever sees a partial file. A cached file that fails verification is fetched again.
"""

import re
from pathlib import Path

from astropy.io import fits

from ..errors import ArchiveError, DataFormatError
from ..io.atomic import atomic_path

__all__ = ["safe_file_name", "cutout_cache_name", "cached_fetch", "verify_fits"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")


def safe_file_name(name):
    """The base name of an archive key or URL, refused if it could escape the cache directory.

    Raises
    ------
    ArchiveError
        For empty names, ``..``, path separators left after taking the base name, or unusual characters.
    """
    base = str(name).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not _SAFE.match(base) or ".." in base:
        raise ArchiveError(f"refusing archive file name {name!r}: not a plain file name")
    return base


def cutout_cache_name(file_name, ra, dec, size_deg):
    """Cache name of a cutout: the archive file name plus its box."""
    stem = safe_file_name(file_name)
    stem = stem[:-5] if stem.endswith(".fits") else stem
    return f"{stem}__{ra:.6f}_{dec:+.6f}_{size_deg:.5f}.fits"


def verify_fits(path, require=("IMAGE",), *, expected_size=None, source=None):
    """Check that a file opens as FITS, holds the required HDUs and, if given, has the expected size.

    Raises
    ------
    DataFormatError
        Naming ``source`` (URL or key) when given, else the path.
    """
    path = Path(path)
    label = source or str(path)
    size = path.stat().st_size
    if expected_size is not None and size != int(expected_size):
        raise DataFormatError(f"{label}: got {size} bytes, expected {expected_size}")
    try:
        with fits.open(path, memmap=False) as hdul:
            names = [h.name for h in hdul]
            hdul.verify("exception")
            for hdu in hdul:  # touching the data catches truncated files
                _ = hdu.data
    except (OSError, ValueError, TypeError, fits.VerifyError) as exc:
        raise DataFormatError(f"{label}: not a valid FITS file ({exc})") from exc
    missing = [n for n in require if n not in names]
    if missing:
        raise DataFormatError(f"{label}: missing HDU(s) {', '.join(missing)}; found {', '.join(names)}")


def cached_fetch(dest, producer, *, require=("IMAGE",), source=None):
    """Return ``dest``, producing it first with ``producer(tmp_path)`` unless a verified copy exists.

    ``producer`` writes the file to the temporary path it is given; the result is verified before the rename.
    """
    dest = Path(dest)
    if dest.exists():
        try:
            verify_fits(dest, require, source=source)
            return dest
        except DataFormatError:
            dest.unlink(missing_ok=True)  # a damaged entry is replaced, never trusted
    # a concurrent job may be writing the same entry: only temporaries older than any live download are stale
    with atomic_path(dest, stale_after_s=6 * 3600) as tmp:
        producer(tmp)
        verify_fits(tmp, require, source=source)
    return dest
