"""One retry policy for every archive request: SIA, TAP, HTTP files and byte ranges, sizes, the cutout service, S3.

A failure is *permanent* only when that is positively known: an HTTP status 4xx other than 408 and 429 (anywhere in
the chain of exceptions a client library wraps it in), a service error document that parsed completely and refuses
the query (pyvo's ``DALQueryError``), an error this package raised on purpose after judging a complete answer (a FITS
file without IMAGE, a position outside the image), or a local file system refusing to write. Everything else —
5xx, 408, 429, timeouts, resets, truncated bodies, an HTML page where FITS or a VOTable was expected, whatever
library wraps it — is *transient* and retried with exponential backoff and jitter, up to ``retries`` times. The
final error names what was requested, the number of attempts and the root cause.

Each endpoint's requests, retries and failures are counted, so that products and the run summary can say how hard
the archive was to read.
"""

import errno
import logging
import random
import threading
import time
import urllib.error
from dataclasses import dataclass

from ..errors import ArchiveError, SpherexSdtError
from ..io.fits_file import BLOCK

__all__ = ["BadAnswer", "Verdict", "RetryPolicy", "judge", "http_status", "exception_chain", "check_fits_answer"]

log = logging.getLogger(__name__)

RETRIED_4XX = (408, 429)
"""Client-error statuses that mean "try again later" (request timeout, too many requests)."""

_LOCAL_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG,
                 errno.EISDIR, errno.ENOTDIR}
"""A local file system refusing a write: retrying in a few seconds will not help."""


class BadAnswer(OSError):
    """An answer that is not what was asked for (an HTML page instead of FITS, a size no FITS file has): transient,
    since proxies and overloaded services send such pages and the next attempt usually gets the real answer."""


@dataclass(frozen=True)
class Verdict:
    """How a failure is judged: ``permanent`` (not retried) or not, why, and the innermost exception."""

    permanent: bool
    why: str
    root: BaseException


def exception_chain(exc):
    """``exc`` and every exception it wraps, outermost first: ``__cause__``, ``__context__`` and the ``cause``
    attribute pyvo uses, each once."""
    seen, out, todo = set(), [], [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        out.append(current)
        wrapped = getattr(current, "cause", None) if type(current).__module__.startswith("pyvo") else None
        reason = current.reason if isinstance(current, urllib.error.URLError) else None
        todo += [current.__cause__, wrapped, reason, current.__context__]
    return out


def _status_of(value):
    try:
        status = int(value)
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def http_status(exc):
    """The HTTP status of the answer an exception reports, whichever client raised it (urllib, requests, aiohttp,
    botocore, pyvo), or None. Only statuses of real answers count: aiohttp's parser errors also carry a ``code``
    (400) that no server sent."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, urllib.error.HTTPError):
        return _status_of(exc.code)
    if "ClientResponseError" in names:  # aiohttp
        return _status_of(getattr(exc, "status", None))
    if "DALServiceError" in names:  # pyvo: the code of the HTTP answer, None or 0 without one
        return _status_of(getattr(exc, "code", None))
    response = getattr(exc, "response", None)
    if "ClientError" in names and isinstance(response, dict):  # botocore
        return _status_of(response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    if "RequestException" in names and response is not None:  # requests
        return _status_of(getattr(response, "status_code", None))
    return None


def judge(exc):
    """Judge a failed request: a `Verdict` saying whether it is permanent, and why."""
    chain = exception_chain(exc)
    for link in chain:
        if isinstance(link, SpherexSdtError):
            return Verdict(True, f"{type(link).__name__}: {link}", link)
        status = http_status(link)
        if status is not None:
            permanent = 400 <= status < 500 and status not in RETRIED_4XX
            return Verdict(permanent, f"HTTP {status}", chain[-1])
        if type(link).__name__ == "DALQueryError":
            return Verdict(True, "the service refused the query", link)
    root = chain[-1]
    if isinstance(root, OSError) and not isinstance(root, BadAnswer) and root.errno in _LOCAL_ERRNOS:
        return Verdict(True, f"local file system: {root.strerror or root}", root)
    if isinstance(root, FileNotFoundError) and len(chain) == 1:  # fsspec's own signal for HTTP 404
        return Verdict(True, "not found", root)
    return Verdict(False, f"{type(root).__name__}", root)


def _describe(exc):
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


class RetryPolicy:
    """Runs requests, retrying transient failures; counts requests, retries and failures per endpoint.

    Parameters
    ----------
    retries : int
        Attempts after the first for transient failures.
    backoff_s : float
        First retry delay; it doubles per attempt, times a random factor in [0.5, 1.5).
    backoff_max_s : float
        Longest delay between two attempts.
    """

    def __init__(self, retries, backoff_s, backoff_max_s):
        self.retries, self.backoff_s, self.backoff_max_s = int(retries), float(backoff_s), float(backoff_max_s)
        self._counts = {}
        self._lock = threading.Lock()

    def count(self, endpoint, key, n=1):
        """Add ``n`` to an endpoint's ``requests``, ``retries`` or ``failed`` (for requests made outside `call`,
        such as batched byte ranges)."""
        with self._lock:
            counts = self._counts.setdefault(endpoint, {"requests": 0, "retries": 0, "failed": 0})
            counts[key] += n

    def counts(self):
        """``{endpoint: {"requests": n, "retries": n, "failed": n}}`` so far (a copy)."""
        with self._lock:
            return {endpoint: dict(c) for endpoint, c in sorted(self._counts.items())}

    def note_retry(self, endpoint):
        """Count a retry made outside `call` (a byte range re-requested after a batched read)."""
        self.count(endpoint, "retries")

    def call(self, endpoint, what, request):
        """Run ``request()``; retry transient failures; raise `ArchiveError` naming ``what`` otherwise.

        Errors this package raises on purpose (`SpherexSdtError`) pass through unchanged.
        """
        for attempt in range(self.retries + 1):
            self.count(endpoint, "requests")
            try:
                return request()
            except SpherexSdtError:
                self.count(endpoint, "failed")
                raise
            except Exception as exc:  # clients raise many unrelated types; judge() sorts them
                verdict = judge(exc)
                if verdict.permanent:
                    self.count(endpoint, "failed")
                    raise ArchiveError(f"{what}: {_describe(exc)} (permanent: {verdict.why}; not retried)") from exc
                if attempt == self.retries:
                    self.count(endpoint, "failed")
                    root = "" if verdict.root is exc else f"; root cause {_describe(verdict.root)}"
                    raise ArchiveError(f"{what}: failed after {attempt + 1} attempts: {_describe(exc)}{root}") \
                        from exc
                self.count(endpoint, "retries")
                wait = min(self.backoff_s * 2**attempt * (0.5 + random.random()), self.backoff_max_s)
                log.warning("%s: %s, retry %d/%d in %.2f s", what, verdict.why, attempt + 1, self.retries, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")


def check_fits_answer(path, *, source):
    """Refuse a downloaded body that cannot be a FITS file (an HTML page, a cut-off transfer) as a transient
    `BadAnswer`; whether a FITS file holds what it should is judged later, and that judgement is permanent."""
    with open(path, "rb") as handle:
        head = handle.read(80)
        size = handle.seek(0, 2)
    if not head.startswith(b"SIMPLE  ="):
        raise BadAnswer(f"{source}: the answer is not FITS (it starts {head[:40]!r})")
    if size % BLOCK:
        raise BadAnswer(f"{source}: {size} bytes is not a whole number of 2880-byte FITS blocks")
