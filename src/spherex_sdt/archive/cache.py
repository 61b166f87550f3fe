"""The download cache: one file per archive file name (and box, for cutouts), written atomically, verified once
when written and checked on every use.

- **Written:** a download is verified in full before it is renamed into place (astropy opens it, verifies every HDU
  and reads all data; a cutout built here is parsed by the block reader), the CHECKSUM/DATASUM cards it carries
  included. A file without them in every HDU gets its SHA-256 recorded next to it (``<name>.sha256``).
- **Used:** a hit is checked, not parsed: its size and structure (an END card in every header, data sizes that add
  up to the file) and its checksums, the file's own CHECKSUM/DATASUM or the SHA-256 recorded at download. That takes
  ~0.1 ms for a cutout, where opening it with astropy took ~25 ms.
- **Damaged:** a hit that fails its check is fetched again, once; a download that fails its checks raises
  `DataFormatError` naming the file. An entry that cannot be checked (written before checksums were kept) is
  fetched again too.

Concurrent jobs may fill the same entry: each writes its own temporary file and the last rename wins with identical
content, so no reader ever sees a partial file.
"""

import hashlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path

from astropy.io import fits

from ..errors import ArchiveError, DataFormatError
from ..io.atomic import atomic_path
from ..io.fits_file import FitsReadError, _NeedsAstropy, checksum_ok, hdu_spans, padded, read_hdus

__all__ = ["safe_file_name", "cutout_cache_name", "cached_fetch", "check_cached", "store_cutout", "usable",
           "verify_fits", "remove_stale_parts", "write_recorded", "read_recorded"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")
STALE_AFTER_S = 6 * 3600
"""Temporaries older than this are left by killed writers (no download takes this long)."""


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


def _record(path):
    return Path(path).with_name(Path(path).name + ".sha256")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _own_checksums(buffer, label):
    """Whether every HDU carries CHECKSUM or DATASUM that agree with its bytes, and the HDU names.

    Returns ``(every, names)``: ``every`` is False when some HDU has neither card (``names`` is None when the block
    reader cannot walk the file: compressed, non-ASCII headers).

    Raises
    ------
    DataFormatError
        For a checksum that disagrees, or a broken structure (END card, data sizes), naming the HDU.
    """
    try:
        spans = hdu_spans(buffer)
    except _NeedsAstropy:
        return False, None
    except FitsReadError as exc:
        raise DataFormatError(f"{label}: {exc}") from None
    every, names = True, []
    for k, (header, start, offset, size) in enumerate(spans):
        names.append(str(header.get("EXTNAME", "PRIMARY" if k == 0 else "")).strip().upper())
        ok = checksum_ok(buffer[start:offset], buffer[offset:offset + padded(size)])
        if ok is False:
            raise DataFormatError(f"{label}: checksum of HDU {k} ({names[-1]}) does not match its bytes "
                                  "(the file is damaged)")
        every &= ok is True
    return every, names


def _names(path):
    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        return [hdu.name for hdu in hdul]


def _require(names, require, label):
    missing = [n for n in require if n not in names]
    if missing:
        raise DataFormatError(f"{label}: missing HDU(s) {', '.join(missing)}; found {', '.join(names)}")


def verify_fits(path, require=("IMAGE",), *, expected_size=None, source=None):
    """Check in full that a file opens as FITS, holds the required HDUs, agrees with its own checksums and, if given,
    has the expected size.

    Returns
    -------
    bool
        True when every HDU carries checksums (CHECKSUM or DATASUM) that agree; False when some HDU has none.

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
    _require(names, require, label)
    return _own_checksums(path.read_bytes(), label)[0]


def check_cached(path, require=("IMAGE",), *, source=None):
    """The cheap check of a cache hit: size, structure and checksums, no parse of the data.

    Raises
    ------
    DataFormatError
        If the file fails (naming it and why), or cannot be checked (no checksums, no record).
    """
    path = Path(path)
    label = f"cached {path}" + (f" (from {source})" if source else "")
    record = _record(path)
    if record.exists():
        try:
            digest, size = record.read_text().split()[:2]
        except ValueError:
            raise DataFormatError(f"{label}: unreadable checksum record {record}") from None
        if path.stat().st_size != int(size):
            raise DataFormatError(f"{label}: {path.stat().st_size} bytes, {size} when downloaded")
        if _sha256(path) != digest:
            raise DataFormatError(f"{label}: SHA-256 differs from the one recorded at download (the file is "
                                  "damaged)")
        _require(_names(path), require, label)
        return
    every, names = _own_checksums(path.read_bytes(), label)
    if not every:
        raise DataFormatError(f"{label}: carries no checksum and none was recorded; it cannot be trusted")
    _require(names, require, label)


def _discard(path):
    Path(path).unlink(missing_ok=True)
    _record(path).unlink(missing_ok=True)


def usable(dest, require=("IMAGE",), *, source=None):
    """True if ``dest`` is in the cache and passes its check; a damaged entry is removed (to be fetched again)."""
    dest = Path(dest)
    if not dest.exists():
        return False
    try:
        check_cached(dest, require, source=source)
        return True
    except (DataFormatError, OSError) as exc:
        log.warning("%s; fetching it again", exc)
        _discard(dest)  # a damaged entry is replaced, never trusted
        return False


def cached_fetch(dest, producer, *, require=("IMAGE",), source=None):
    """Return ``dest``, producing it first with ``producer(tmp_path)`` unless a copy that passes its check exists.

    ``producer`` writes the file to the temporary path it is given; the result is verified in full before the
    rename, and its SHA-256 recorded unless every HDU carries its own checksum. A download whose own checksums
    disagree is fetched once more before the error is raised.

    Raises
    ------
    DataFormatError
        Naming ``source`` and ``dest``, if the download fails verification.
    """
    dest = Path(dest)
    if usable(dest, require, source=source):
        return dest
    for attempt in (1, 2):
        try:
            # a concurrent job may write the same entry: only temporaries older than any live download are stale
            with atomic_path(dest, stale_after_s=STALE_AFTER_S) as tmp:
                producer(tmp)
                own = verify_fits(tmp, require, source=source or str(dest))
                _record(dest).unlink(missing_ok=True)
                if not own:  # recorded before the file is renamed into place: never a file without its record
                    with atomic_path(_record(dest), stale_after_s=STALE_AFTER_S) as record:
                        record.write_text(f"{_sha256(tmp)} {tmp.stat().st_size}\n")
            return dest
        except DataFormatError as exc:
            if attempt == 2 or "checksum" not in str(exc):
                raise
            log.warning("%s; fetching it again", exc)
    raise AssertionError("unreachable")


def store_cutout(dest, data, *, require=("IMAGE",), source=None):
    """Write a cutout built in memory (its HDUs carrying CHECKSUM/DATASUM) to ``dest`` atomically, after verifying
    it in full: the block reader parses every HDU, the required HDUs are there, every checksum agrees.

    Raises
    ------
    DataFormatError
        Naming ``source``, if the bytes fail verification (nothing is written).
    """
    dest = Path(dest)
    label = source or str(dest)
    if not _own_checksums(data, label)[0]:
        raise DataFormatError(f"{label}: cutout without checksums")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part.fits", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        try:
            hdus = read_hdus(tmp)
            names = [hdu.name.upper() for hdu in hdus]
            for hdu in hdus:
                _ = hdu.data
        except FitsReadError as exc:
            raise DataFormatError(f"{label}: not a valid FITS file ({exc})") from exc
        _require(names, require, label)
        _record(dest).unlink(missing_ok=True)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def write_recorded(dest, data):
    """Write bytes that are not a FITS file (kept headers) atomically, with their SHA-256 recorded first."""
    dest = Path(dest)
    with atomic_path(_record(dest), stale_after_s=STALE_AFTER_S) as record:
        record.write_text(f"{hashlib.sha256(data).hexdigest()} {len(data)}\n")
    with atomic_path(dest, stale_after_s=STALE_AFTER_S) as tmp:
        tmp.write_bytes(data)
    return dest


def read_recorded(path):
    """The bytes `write_recorded` wrote, or None if absent or damaged (a damaged file is removed)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        digest, size = _record(path).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if len(data) != int(size) or hashlib.sha256(data).hexdigest() != digest:
        log.warning("%s: SHA-256 differs from the one recorded; discarded", path)
        _discard(path)
        return None
    return data


def remove_stale_parts(directory, *, max_age_s=STALE_AFTER_S):
    """Delete temporaries (``.*.part.*``) in a cache directory that killed writers left (one listing)."""
    cutoff = time.time() - max_age_s
    directory = Path(directory)
    if not directory.is_dir():
        return
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(".") and ".part" in entry.name:
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    pass
