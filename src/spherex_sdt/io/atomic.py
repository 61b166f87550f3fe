"""Atomic writes: a product is either complete under its final name or absent.

Every writer goes through `atomic_path`: data goes to a temporary file in the destination directory, and only a
successful, closed write is renamed into place (``os.replace`` is atomic on one file system).
"""

import contextlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_path", "remove_parts", "write_fits", "write_table"]


def _process_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# read once at import (single-threaded): mkstemp creates files 0600, products should be readable like any file
_FILE_MODE = 0o666 & ~_process_umask()


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_WRITER = re.compile(r"^(\d+)@([A-Za-z0-9-]+)\.")


def _writer_is_gone(name, prefix):
    """True when a temporary's name says it was written by a process of this host that no longer runs."""
    match = _WRITER.match(name[len(prefix):])
    if not match or match.group(2) != _HOST:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


@contextlib.contextmanager
def atomic_path(path, *, stale_after_s=0.0):
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    The temporary name keeps the final suffix, so that writers choosing a format by extension still work, and
    names the writing process and host. Temporaries of ``path`` that a killed writer left are removed first: all of
    them for products (one job alone writes a product); for shared files such as the download cache, those whose
    writer on this host is gone, and any older than ``stale_after_s``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_parts(path, max_age_s=stale_after_s or None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{_HOST}.", suffix=f".part{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_parts(path, *, max_age_s=None):
    """Delete temporaries of ``path`` left by a killed writer.

    Products are written by one job alone, so any temporary is stale; for shared files (the download cache) pass
    ``max_age_s``: then a temporary is removed when its writer (named in it) was a process of this host that has
    ended, e.g. one killed by SIGKILL, or when it is older than any live writer (written on another host, whose
    processes cannot be looked up).
    """
    path = Path(path)
    cutoff = None if max_age_s is None else time.time() - max_age_s
    prefix = f".{path.name}."
    for part in path.parent.glob(f"{prefix}*.part{path.suffix}"):
        try:
            if cutoff is None or _writer_is_gone(part.name, prefix) or part.stat().st_mtime < cutoff:
                part.unlink()
        except FileNotFoundError:
            pass  # another job removed or renamed it


def write_fits(hdul, path, *, checksum=True):
    """Write an `~astropy.io.fits.HDUList` atomically (removing temporaries a killed run left)."""
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True, checksum=checksum)


def write_table(table, path, **kwargs):
    """Write an astropy table atomically (removing temporaries a killed run left).

    The format follows the suffix: ``.ecsv``, ``.fits``, ``.xml``/``.vot``.
    """
    path = Path(path)
    fmt = {".ecsv": "ascii.ecsv", ".fits": "fits", ".xml": "votable", ".vot": "votable"}.get(path.suffix)
    if fmt is None:
        raise ValueError(f"cannot choose a table format for {path} (use .ecsv, .fits, .xml or .vot)")
    with atomic_path(path) as tmp:
        table.write(tmp, format=fmt, overwrite=True, **kwargs)
