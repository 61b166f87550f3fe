"""The ``irsa`` backend: SIA (astroquery), TAP (pyvo), HTTP full files and cutouts, anonymous S3 (s3fs).

Every endpoint is an argument, so the same code serves IRSA and a stand-in on loopback. Every request has a
timeout and goes through one `~spherex_sdt.archive.retry.RetryPolicy`: failures are permanent only when positively
known (HTTP 4xx other than 408/429, a refused query, a complete answer that is invalid), everything else is retried
with exponential backoff and jitter; the final error names the URL, the attempts and the root cause. Requests,
retries and failures are counted per endpoint (`IrsaArchive.request_counts`).
"""

import logging
import tempfile
import threading
import urllib.request
from http.client import IncompleteRead
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ..config import check_collection
from ..detectors import DETECTORS, band_name
from ..errors import ArchiveError, InvalidInputError, NoCoverageError, SpherexSdtError
from ..io.fits_file import BLOCK
from .base import empty_image_table, normalize_image_table, safe_key, with_detectors
from .retry import BadAnswer, RetryPolicy, check_fits_answer
from .sections import LayoutCache, Transfer, batched_cutouts, merge_gap_bytes

__all__ = ["IrsaArchive", "exposure_query", "ENDPOINTS"]

log = logging.getLogger(__name__)

ENDPOINTS = ("sia", "tap", "file", "cutout", "size", "range", "s3-file", "s3-size", "s3-range")
"""What request counts are kept by: SIA and TAP searches, full files over HTTP (frames and calibration), the cutout
service, HTTP sizes (HEAD) and byte ranges of section reads, and the same three over S3."""

def exposure_query(ra, dec, detectors=None):
    """ADQL for the Level-2 images containing a position, built only from validated numbers and band names."""
    ra, dec = float(ra), float(dec)
    if not (0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0):
        raise InvalidInputError(f"position ({ra}, {dec}) is outside RA [0, 360), Dec [-90, 90]")
    where = [f"CONTAINS(POINT('ICRS', {ra:.10f}, {dec:.10f}), pl.poly) = 1"]
    if detectors:
        bad = [d for d in detectors if int(d) not in DETECTORS or int(d) != d]
        if bad:
            raise InvalidInputError(f"detectors must be among {list(DETECTORS)}, got {bad}")
        bands = ", ".join(f"'{band_name(int(d))}'" for d in sorted(set(detectors)))
        where.append(f"pl.energy_bandpassname IN ({bands})")
    return (
        "SELECT art.uri, pl.time_bounds_lower, pl.energy_bandpassname, pl.obs_publisher_did "
        "FROM spherex.plane AS pl JOIN spherex.artifact AS art ON art.planeid = pl.planeid "
        f"WHERE {' AND '.join(where)} ORDER BY pl.time_bounds_lower"
    )


def _session(timeout):
    """A requests session whose every request has a timeout (pyvo and astroquery's SIA client set none)."""
    import requests

    class TimeoutSession(requests.Session):
        def request(self, *args, **kwargs):
            kwargs.setdefault("timeout", timeout)
            return super().request(*args, **kwargs)

    return TimeoutSession()


class IrsaArchive:
    """Archive access over IRSA's protocols.

    Parameters
    ----------
    sia_url, tap_url : str
        SIA2 and TAP service roots.
    data_url : str
        HTTP root that archive keys hang from (IRSA's ``.../ibe/data/spherex/``).
    s3_endpoint_url : str
        Empty for AWS; a URL for an S3 stand-in.
    bucket : str
        S3 bucket holding the same keys.
    collection : str
        SIA collection, e.g. ``spherex_qr2``.
    transport : {'http', 's3'}
        How full files are fetched.
    cutouts : {'auto', 's3-section', 'http-section', 'service'}
        How cutouts are made: byte-range section reads of the file over S3 or over HTTP (only the headers, the
        cutouts' rows and their PSF planes travel, every source of a file in one round trip), IRSA's cutout service
        (one cutout per file holding every source's box, cut here; the service returns the whole 4.9 MB PSF cube
        with each), or S3 section reads falling back to the service when S3 cannot be reached (``auto``).
    block_size : int
        Bytes asked for per header read before section reads (a longer header takes another request).
    timeout : float
        Seconds per request.
    retries : int
        Attempts after the first for transient failures.
    backoff_s : float
        First retry delay; it doubles per attempt, times a random factor in [0.5, 1.5).
    backoff_max_s : float
        Longest delay between two attempts.
    merge_gap : int or None
        Section reads: byte ranges less than this many bytes apart are fetched as one request (0: a request per
        row); None chooses it from ``round_trip_ms`` and ``bandwidth_mbps`` (`sections.merge_gap_bytes`).
    round_trip_ms, bandwidth_mbps : float
        The network model that chooses the merge gap: a request costs a round trip, a byte 8 / bandwidth.
    """

    name = "irsa"

    def __init__(self, *, sia_url, tap_url, data_url, s3_endpoint_url, bucket, collection, transport, cutouts,
                 block_size, timeout, retries, backoff_s, backoff_max_s, merge_gap, round_trip_ms, bandwidth_mbps):
        self.sia_url, self.tap_url = sia_url, tap_url
        self.data_url = data_url.rstrip("/") + "/"
        self.s3_endpoint_url, self.bucket = s3_endpoint_url, bucket
        self.collection, self.transport = check_collection(collection), transport
        if cutouts not in ("auto", "s3-section", "http-section", "service"):
            raise InvalidInputError(
                f"cutouts must be 'auto', 's3-section', 'http-section' or 'service', got {cutouts!r}")
        self.cutouts, self.block_size = cutouts, int(block_size)
        self.timeout = float(timeout)
        self.policy = RetryPolicy(retries, backoff_s, backoff_max_s)
        self.merge_gap = int(merge_gap) if merge_gap is not None else merge_gap_bytes(round_trip_ms, bandwidth_mbps)
        self.layouts = LayoutCache()  # headers of files already read, for later batches of the same file
        self._filesystems = {}
        self._fs_lock = threading.Lock()

    def request_counts(self):
        """Requests, retries and failures per endpoint (`ENDPOINTS`) since this backend was made."""
        return self.policy.counts()

    def _section_retry(self, kind):
        """The retry hook section reads get: sizes and byte ranges counted apart (``kind`` is 'http' or 's3')."""
        prefix = "" if kind == "http" else "s3-"

        def retry(what, call):
            if what.endswith("(size)"):
                return self.policy.call(f"{prefix}size", what, call)
            # a single range is retried here only after it failed inside a batched read: that was one attempt
            self.policy.note_retry(f"{prefix}range")
            return self.policy.call(f"{prefix}range", what, call)

        return retry

    # -- searches -------------------------------------------------------------------------------------------
    def search_images(self, ra, dec, radius_deg, detectors=None):
        """Images overlapping a circle, from SIA2 through astroquery."""
        from astroquery.ipac.irsa import IrsaClass

        irsa = IrsaClass()
        irsa.sia_url = self.sia_url  # the SIA client is built lazily from these two attributes
        irsa._session = _session(self.timeout)
        # the capabilities and the query are separate requests, each retried on its own
        self.policy.call("sia", f"SIA {self.sia_url} (capabilities)", lambda: irsa.sia)
        table = Table(self.policy.call("sia", f"SIA {self.sia_url}", lambda: irsa.query_sia(
            pos=(SkyCoord(ra * u.deg, dec * u.deg), radius_deg * u.deg), collection=self.collection)))
        if len(table) == 0:
            return empty_image_table()
        return with_detectors(normalize_image_table(table, source=self.sia_url), detectors)

    def search_exposures(self, ra, dec, detectors=None):
        """Images containing a position, from TAP (spherex.plane joined to spherex.artifact) through pyvo."""
        import pyvo

        query = exposure_query(ra, dec, detectors)
        service = pyvo.dal.TAPService(self.tap_url, session=_session(self.timeout))
        result = self.policy.call("tap", f"TAP {self.tap_url}", lambda: service.run_sync(query).to_table())
        rows = []
        prefix = f"ivo://irsa.ipac/{self.collection}?"
        for row in result:
            did = str(row["obs_publisher_did"])
            if not did.startswith(prefix):  # TAP may mix releases: keep the configured collection only
                continue
            key = str(row["uri"]).split("ibe/data/spherex/", 1)[-1]
            rows.append({
                "obs_id": did[len(prefix):].split("/")[0],
                "energy_bandpassname": str(row["energy_bandpassname"]),
                "t_min": float(row["time_bounds_lower"]),
                "access_url": self.data_url + key,
                "cloud_access": f'{{"aws": {{"bucket_name": "{self.bucket}", "key": "{key}"}}}}',
                "obs_collection": self.collection,
            })
        if not rows:
            return empty_image_table()
        return normalize_image_table(Table(rows=rows), source=self.tap_url)

    # -- downloads ------------------------------------------------------------------------------------------
    def _get_once(self, url, dest):
        with urllib.request.urlopen(url, timeout=self.timeout) as resp, open(dest, "wb") as out:
            expected = resp.headers.get("Content-Length")
            size = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                size += len(chunk)
        if expected is not None and size != int(expected):
            raise IncompleteRead(b"", int(expected) - size)
        check_fits_answer(dest, source=url)

    def _get(self, endpoint, url, dest):
        """GET the FITS file at ``url`` into ``dest`` (the body must match Content-Length and look like FITS)."""
        self.policy.call(endpoint, url, lambda: self._get_once(url, dest))

    def _s3(self):
        import s3fs

        kwargs = {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}} if self.s3_endpoint_url else {}
        config = {"connect_timeout": self.timeout, "read_timeout": self.timeout,
                  "retries": {"total_max_attempts": 1}}  # retried here, with the same policy as HTTP
        fs = s3fs.S3FileSystem(anon=True, default_block_size=self.block_size, config_kwargs=config, **kwargs)
        fs.retries = 1  # s3fs would retry some errors itself, outside the policy and its counts
        return fs

    def _s3_get_once(self, url, key, dest):
        # one GET of the whole object: s3fs's get() lists the key first, and both it and a concurrent cat_file
        # read in ranges whose lengths nobody checks (an HTML page in place of a range would pass)
        data = self._s3().cat_file(f"{self.bucket}/{key}", max_concurrency=1)
        Path(dest).write_bytes(data)
        check_fits_answer(dest, source=url)

    def fetch_image(self, row, dest):
        """Download a full Level-2 file over S3 or HTTP; returns the bytes fetched."""
        if self.transport == "s3":
            url = f"s3://{self.bucket}/{row['key']}"
            self.policy.call("s3-file", url, lambda: self._s3_get_once(url, row["key"], dest))
        else:
            self._get("file", self.data_url + row["key"], dest)
        return Path(dest).stat().st_size

    def keep_headers(self, directory):
        """Keep the headers of files read for cutouts in ``directory`` too, for later jobs (see `LayoutCache`)."""
        self.layouts.directory = directory

    def fetch_cutouts(self, row, positions, size_deg):
        """Cutouts of several positions on one Level-2 file, all fetched together.

        Returns
        -------
        cutouts : list
            Per ``(ra, dec)``, the cutout MEF as bytes or the `NoCoverageError` of a position off the image.
        transfer : `~spherex_sdt.archive.sections.Transfer`
            Requests, round trips and bytes fetched from the archive.
        """
        if self.cutouts != "service":
            try:
                return self._section_cutouts(row, positions, size_deg)
            except ArchiveError:
                if self.cutouts != "auto":
                    raise
                log.warning("S3 section read of %s failed; using the cutout service", row["key"])
        return self._service_cutouts(row, positions, size_deg)

    def fetch_cutout(self, row, ra, dec, size_deg, dest):
        """Write one cutout MEF around (ra, dec) to ``dest``; returns the bytes fetched from the archive."""
        (cutout,), transfer = self.fetch_cutouts(row, [(ra, dec)], size_deg)
        if isinstance(cutout, Exception):
            raise cutout
        Path(dest).write_bytes(cutout)
        return transfer.bytes

    def fetch_calibration(self, key, dest):
        """Download a calibration file (e.g. a solid-angle pixel map) by archive key."""
        self._get("file", self.data_url + safe_key(key, source="calibration"), dest)

    def _filesystem(self, kind):
        """One fsspec filesystem per kind and backend, shared by the threads fetching files (connections reused)."""
        with self._fs_lock:
            if kind not in self._filesystems:
                if kind == "http":
                    import aiohttp
                    import fsspec

                    timeout = aiohttp.ClientTimeout(total=self.timeout)
                    fs = fsspec.filesystem("http", client_kwargs={"timeout": timeout}, skip_instance_cache=True)
                    self._filesystems[kind] = _CheckedFS(fs, self.policy, "range")
                else:
                    self._filesystems[kind] = _CheckedFS(self._s3(), self.policy, "s3-range")
            return self._filesystems[kind]

    def _section_cutouts(self, row, positions, size_deg):
        """Cutouts from byte-range reads: the headers (once per file), then every position's pixels at once."""
        if self.cutouts == "http-section":
            url = path = self.data_url + row["key"]
            fs, retry = self._filesystem("http"), self._section_retry("http")
        else:
            url, path, fs = f"s3://{self.bucket}/{row['key']}", f"{self.bucket}/{row['key']}", self._filesystem("s3")
            retry = self._section_retry("s3")
        # each range request is retried on its own; a failure that survives its retries fails the file's batch
        try:
            cutouts, transfer = batched_cutouts(fs, path, positions, size_deg, source=url, retry=retry,
                                                layouts=self.layouts, merge_gap=self.merge_gap,
                                                header_bytes=self.block_size)
        except SpherexSdtError:
            raise
        except Exception as exc:  # e.g. a header astropy cannot parse
            raise ArchiveError(f"{url}: section read failed: {type(exc).__name__}: {exc}") from exc
        log.debug("%s: %d cutouts in %d requests (%d round trips), %d bytes", url, len(positions),
                  transfer.requests, transfer.round_trips, transfer.bytes)
        return cutouts, transfer

    def _service_cutouts(self, row, positions, size_deg):
        """Cutouts through IRSA's cutout service: one request per file for a box holding every position's cutout
        (the service returns the whole PSF cube with every answer, so one answer beats one per source), cut here.

        Positions whose box the service refuses (a centre off the image) are asked for one by one.
        """
        from fsspec.implementations.local import LocalFileSystem

        transfer = Transfer()
        center, union_deg = union_box(positions, size_deg)
        single = len(positions) == 1
        with tempfile.TemporaryDirectory(prefix="spherex-sdt-cutout-") as tmp:
            local = Path(tmp) / "union.fits"
            try:
                self._get("cutout", self._cutout_url(row, *center, size_deg if single else union_deg), local)
            except ArchiveError as exc:
                if "HTTP Error 400" not in str(exc):  # not a refused box: a missing file, or faults past retries
                    raise
                if not single:
                    return self._service_one_by_one(row, positions, size_deg, transfer)
                (ra, dec), = positions
                return [NoCoverageError(f"{self.data_url}{row['key']}: the cutout service refused ({ra:.6f}, "
                                        f"{dec:.6f}): {exc}")], transfer
            transfer.requests += 1
            transfer.round_trips += 1
            transfer.bytes += local.stat().st_size
            try:
                cutouts, _ = batched_cutouts(LocalFileSystem(), str(local), positions, size_deg,
                                             source=self.data_url + row["key"])
            except SpherexSdtError:
                raise
            except Exception as exc:
                raise ArchiveError(f"{self.data_url}{row['key']}: cutout service answer unreadable: "
                                   f"{type(exc).__name__}: {exc}") from exc
        return cutouts, transfer

    def _service_one_by_one(self, row, positions, size_deg, transfer):
        out = []
        for position in positions:
            (cutout,), more = self._service_cutouts(row, [position], size_deg)
            transfer += more
            out.append(cutout)
        return out, transfer

    def _cutout_url(self, row, ra, dec, size_deg):
        return f"{self.data_url}{row['key']}?center={ra:.7f},{dec:.7f}d&size={size_deg:.6g}"


def union_box(positions, size_deg):
    """Centre and side (deg) of one square cutout that holds the cutouts of every position, at any roll.

    The centre is the mean position; the side twice the largest distance from it plus the cutout's diagonal, 3 %
    more for the detector's distortion (its pixels are not all 6.15") and two pixels on each side (the service's box
    is pixel-aligned, so the union is cut on whole pixels).
    """
    from ..detectors import PIXEL_SCALE_ARCSEC

    coords = SkyCoord([p[0] for p in positions] * u.deg, [p[1] for p in positions] * u.deg)
    center = SkyCoord(coords.cartesian.mean(), representation_type="cartesian").spherical
    middle = SkyCoord(center.lon, center.lat)
    reach = float(middle.separation(coords).deg.max())
    side = 1.03 * (2 * reach + size_deg * np.sqrt(2)) + 4 * PIXEL_SCALE_ARCSEC / 3600
    return (float(middle.ra.deg), float(middle.dec.deg)), side


class _CheckedFS:
    """An fsspec file system for section reads: its ``size`` refuses answers no FITS file has (the length of an
    HTML page a proxy sent instead) as a transient `BadAnswer`, and its batched range reads are counted under the
    policy's ``range`` endpoint; everything else is the wrapped file system's."""

    def __init__(self, fs, policy, endpoint):
        self._fs, self._policy, self._endpoint = fs, policy, endpoint

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def size(self, path):
        size = self._fs.size(path)
        if not size or size % BLOCK:
            raise BadAnswer(f"{path}: size {size} is not a whole number of 2880-byte FITS blocks")
        return size

    def cat_ranges(self, paths, starts, ends, **kwargs):
        self._policy.count(self._endpoint, "requests", len(paths))
        return self._fs.cat_ranges(paths, starts, ends, **kwargs)
