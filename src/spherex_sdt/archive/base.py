"""What every archive backend returns: image tables in one normalised layout."""

import json
import re

import numpy as np
from astropy.table import Table

from ..detectors import parse_band_name
from ..errors import ArchiveError

__all__ = ["IMAGE_COLUMNS", "normalize_image_table", "empty_image_table", "safe_key", "search_positions"]

IMAGE_COLUMNS = ("obs_id", "detector", "band", "mjd", "access_url", "key", "file_name", "s_region", "collection")
"""Columns of an image table: one row per Level-2 file. ``mjd`` is the exposure start (SIA t_min / TAP
time_bounds_lower), ``key`` the path below the archive root (= the S3 key), ``access_url`` the full-file URL."""


def empty_image_table():
    return Table(
        names=IMAGE_COLUMNS, dtype=(str, int, str, float, str, str, str, str, str)
    )


_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")


def safe_key(key, *, source="archive"):
    """An archive key (``qr2/level2/.../file.fits``) checked to be a plain relative path.

    Keys come from the archive's answers and become URL paths and cache names, so each ``/``-separated part must be
    a plain name: no ``..``, no absolute path, no empty part, no query string, no unusual characters.

    Raises
    ------
    ArchiveError
        Naming ``source`` and the key.
    """
    text = str(key)
    parts = text.split("/")
    if not text or any(not _KEY_PART.match(part) or ".." in part for part in parts):
        raise ArchiveError(f"{source}: refusing archive key {text!r}: not a plain relative path "
                           "(letters, digits and ._+- in '/'-separated parts, no '..')")
    return text


def _key_from_row(row, colnames, source):
    if "cloud_access" in colnames and str(row["cloud_access"]).strip().startswith("{"):
        try:
            key = json.loads(str(row["cloud_access"]))["aws"]["key"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"{source}: malformed cloud_access for {row['obs_id']}: {exc}") from exc
    else:
        url = str(row["access_url"])
        marker = "ibe/data/spherex/"
        key = url.split(marker, 1)[1] if marker in url else url
    return safe_key(key, source=source)


def normalize_image_table(table, *, source):
    """Convert an SIA-like table (IRSA's columns, or the simulated index) to the image-table layout.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Needs ``obs_id``, ``energy_bandpassname``, ``t_min``, ``access_url``, ``s_region``; uses ``cloud_access``
        and ``obs_collection`` when present.
    source : str
        Named in errors (the query URL or index file).
    """
    needed = ("obs_id", "energy_bandpassname", "t_min", "access_url")
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        raise ArchiveError(f"{source}: image list lacks column(s) {', '.join(missing)}")
    out = empty_image_table()
    for row in table:
        try:
            det = parse_band_name(row["energy_bandpassname"])
        except ValueError as exc:
            raise ArchiveError(f"{source}: {exc}") from None
        key = _key_from_row(row, table.colnames, source)
        out.add_row(
            (
                str(row["obs_id"]),
                det,
                str(row["energy_bandpassname"]),
                float(row["t_min"]),
                str(row["access_url"]),
                key,
                key.rsplit("/", 1)[-1],
                str(row["s_region"]) if "s_region" in table.colnames else "",
                str(row["obs_collection"]) if "obs_collection" in table.colnames else "",
            )
        )
    out.sort(["mjd", "detector"])
    return out


def with_detectors(table, detectors):
    """Rows of an image table whose detector is in ``detectors`` (all if None)."""
    if detectors is None:
        return table
    keep = np.isin(table["detector"], list(detectors))
    return table[keep]


_GROUP_RADIUS_DEG = 1.0
"""Positions within this of a group's first are found by one image search (a target's sources are minutes apart)."""


def search_positions(backend, positions, detectors=None):
    """The Level-2 files containing each of several positions, from one search of the archive.

    One image search (SIA ``POS=CIRCLE``) over the smallest circle about the positions' mean that holds them all
    (positions more than a degree apart are searched apart),
    then each position's files by its containment in each file's footprint (``s_region``), as TAP's
    ``CONTAINS(POINT, poly)`` decides it for one position (`~spherex_sdt.archive.footprint.region_contains`).

    Parameters
    ----------
    backend : archive backend
        Has ``search_images(ra, dec, radius_deg, detectors)``.
    positions : sequence of (name, ra, dec)
    detectors : sequence of int, optional

    Returns
    -------
    `~astropy.table.Table`
        One row per position and file containing it: ``source`` (the name), the image-table columns, ``ra``,
        ``dec``; positions in the given order, each position's files by time.
    """
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    from .footprint import region_contains

    if not positions:
        return empty_image_table()
    coords = SkyCoord([float(p[1]) for p in positions] * u.deg, [float(p[2]) for p in positions] * u.deg)
    # positions far apart (a forced position elsewhere on the sky) are searched apart: one circle about them all
    # would be huge, and footprint tests and services are made for circles of a detector's size
    groups = []
    for k in range(len(positions)):
        for group in groups:
            if coords[group[0]].separation(coords[k]).deg <= _GROUP_RADIUS_DEG:
                group.append(k)
                break
        else:
            groups.append([k])
    found = {}
    for group in groups:
        members = coords[group]
        mean = SkyCoord(members.cartesian.mean(), representation_type="cartesian").spherical
        centre = SkyCoord(mean.lon, mean.lat)
        radius = float(centre.separation(members).deg.max()) + 1e-6
        images = with_detectors(backend.search_images(float(centre.ra.deg), float(centre.dec.deg), radius, detectors),
                                detectors)
        found.update(dict.fromkeys(group, images))
    rows = [{"source": str(name), **{c: image[c] for c in IMAGE_COLUMNS}, "ra": float(ra), "dec": float(dec)}
            for k, (name, ra, dec) in enumerate(positions) for image in found[k]
            if region_contains(image["s_region"], float(ra), float(dec))]
    if not rows:
        table = empty_image_table()
        table.add_column(Table.Column([], dtype=str, name="source"), index=0)
        table["ra"], table["dec"] = np.zeros(0), np.zeros(0)
        return table
    return Table(rows=rows, names=("source", *IMAGE_COLUMNS, "ra", "dec"))
