"""The ``irsa`` backend: SIA (astroquery), TAP (pyvo), HTTP full files and cutouts, anonymous S3 (s3fs).

Every endpoint is an argument, so the same code serves IRSA and a stand-in on loopback.
"""

import logging
import random
import time
import urllib.error
import urllib.request
from http.client import IncompleteRead

import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ..detectors import band_name
from ..errors import ArchiveError, InvalidInputError
from .base import empty_image_table, normalize_image_table, with_detectors

__all__ = ["IrsaArchive", "exposure_query"]

log = logging.getLogger(__name__)

_TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


def exposure_query(ra, dec, detectors=None):
    """ADQL for the Level-2 images containing a position, built only from validated numbers and band names."""
    ra, dec = float(ra), float(dec)
    if not (0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0):
        raise InvalidInputError(f"position ({ra}, {dec}) is outside RA [0, 360), Dec [-90, 90]")
    where = [f"CONTAINS(POINT('ICRS', {ra:.10f}, {dec:.10f}), pl.poly) = 1"]
    if detectors:
        bands = ", ".join(f"'{band_name(int(d))}'" for d in sorted(set(detectors)) if 1 <= int(d) <= 6)
        where.append(f"pl.energy_bandpassname IN ({bands})")
    return (
        "SELECT art.uri, pl.time_bounds_lower, pl.energy_bandpassname, pl.obs_publisher_did "
        "FROM spherex.plane AS pl JOIN spherex.artifact AS art ON art.planeid = pl.planeid "
        f"WHERE {' AND '.join(where)} ORDER BY pl.time_bounds_lower"
    )


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
    timeout : float
        Seconds per request.
    retries : int
        Attempts after the first for transient failures (5xx, timeouts, truncated bodies).
    """

    name = "irsa"

    def __init__(self, *, sia_url, tap_url, data_url, s3_endpoint_url="", bucket="nasa-irsa-spherex",
                 collection="spherex_qr2", transport="http", timeout=120.0, retries=3, backoff_s=2.0):
        self.sia_url, self.tap_url = sia_url, tap_url
        self.data_url = data_url.rstrip("/") + "/"
        self.s3_endpoint_url, self.bucket = s3_endpoint_url, bucket
        self.collection, self.transport = collection, transport
        self.timeout, self.retries, self.backoff_s = float(timeout), int(retries), float(backoff_s)

    # -- searches -------------------------------------------------------------------------------------------
    def search_images(self, ra, dec, radius_deg, detectors=None):
        from astroquery.ipac.irsa import IrsaClass

        irsa = IrsaClass()
        irsa.sia_url = self.sia_url  # the service is built lazily from this attribute
        try:
            table = irsa.query_sia(pos=(SkyCoord(ra * u.deg, dec * u.deg), radius_deg * u.deg),
                                   collection=self.collection)
        except Exception as exc:  # astroquery/pyvo raise many types; name the service either way
            raise ArchiveError(f"SIA query to {self.sia_url} failed: {exc}") from exc
        table = Table(table)
        if len(table) == 0:
            return empty_image_table()
        return with_detectors(normalize_image_table(table, source=self.sia_url), detectors)

    def search_exposures(self, ra, dec, detectors=None):
        import pyvo

        query = exposure_query(ra, dec, detectors)
        try:
            result = pyvo.dal.TAPService(self.tap_url).run_sync(query).to_table()
        except Exception as exc:
            raise ArchiveError(f"TAP query to {self.tap_url} failed: {exc}") from exc
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
    def _get(self, url, dest):
        """GET ``url`` into ``dest`` with retries; permanent errors raise at once, naming the URL."""
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as resp, open(dest, "wb") as out:
                    expected = resp.headers.get("Content-Length")
                    size = 0
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        size += len(chunk)
                if expected is not None and size != int(expected):
                    raise IncompleteRead(b"", int(expected) - size)
                return
            except urllib.error.HTTPError as exc:
                if exc.code not in _TRANSIENT_HTTP or attempt == self.retries:
                    raise ArchiveError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, IncompleteRead, ConnectionError) as exc:
                if attempt == self.retries:
                    raise ArchiveError(f"{url}: {type(exc).__name__}: {exc}") from exc
                reason = type(exc).__name__
            wait = self.backoff_s * 2**attempt * (0.5 + random.random())
            log.warning("%s: %s, retry %d/%d in %.1f s", url, reason, attempt + 1, self.retries, wait)
            time.sleep(wait)

    def fetch_image(self, row, dest):
        if self.transport == "s3":
            import s3fs

            kwargs = {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}} if self.s3_endpoint_url else {}
            fs = s3fs.S3FileSystem(anon=True, **kwargs)
            try:
                fs.get(f"{self.bucket}/{row['key']}", str(dest))
            except Exception as exc:
                raise ArchiveError(f"s3://{self.bucket}/{row['key']}: {exc}") from exc
        else:
            self._get(self.data_url + row["key"], dest)

    def fetch_cutout(self, row, ra, dec, size_deg, dest):
        self._get(f"{self.data_url}{row['key']}?center={ra:.7f},{dec:.7f}d&size={size_deg:g}", dest)

    def fetch_calibration(self, key, dest):
        self._get(self.data_url + key, dest)
