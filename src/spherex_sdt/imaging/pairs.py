"""Choosing the two images of a detector pair for a target."""

import numpy as np

from ..archive.footprint import region_contains
from ..errors import NoCoverageError

__all__ = ["choose_pair", "choose_visits"]


def choose_pair(images, det_a, det_b, ra, dec, *, margin_deg, max_dt_days=None):
    """Pick one image of each detector covering (ra, dec) with a margin.

    Same-exposure images (one OBSID, possible for D1/D4, D2/D5, D3/D6) are preferred; otherwise the two images
    nearest in time. Ties go to the earliest.

    Parameters
    ----------
    images : `~astropy.table.Table`
        An image table (`spherex_sdt.archive.IMAGE_COLUMNS`).
    det_a, det_b : int
        Detector numbers.
    margin_deg : float
        Minimum distance from the target to the image edges.
    max_dt_days : float, optional
        Refuse pairs further apart in time.

    Returns
    -------
    row_a, row_b : table rows
    rule : str
        ``'same exposure'`` or ``'nearest in time (dt = … d)'``.

    Raises
    ------
    NoCoverageError
        If either detector has no image covering the target with the margin, or no pair is close enough in time.
    """
    cands = {}
    for det in (det_a, det_b):
        rows = images[images["detector"] == det]
        keep = np.array([region_contains(r, ra, dec, margin_deg=margin_deg) for r in rows["s_region"]], bool)
        cands[det] = rows[keep] if len(rows) else rows
        if len(cands[det]) == 0:
            raise NoCoverageError(
                f"no D{det} image contains ({ra:.6f}, {dec:.6f}) with a {margin_deg * 3600:.0f} arcsec margin "
                f"({len(rows)} D{det} image(s) found near it)"
            )
    a, b = cands[det_a], cands[det_b]
    common = sorted(set(a["obs_id"]) & set(b["obs_id"]))
    if common:
        ia = [i for i, o in enumerate(a["obs_id"]) if o in common]
        best = min(ia, key=lambda i: a["mjd"][i])
        jb = [j for j, o in enumerate(b["obs_id"]) if o == a["obs_id"][best]][0]
        return a[best], b[jb], "same exposure"
    dt = np.abs(np.asarray(a["mjd"])[:, None] - np.asarray(b["mjd"])[None, :])
    i, j = np.unravel_index(np.argmin(dt), dt.shape)
    if max_dt_days is not None and dt[i, j] > max_dt_days:
        raise NoCoverageError(f"the nearest D{det_a}/D{det_b} images are {dt[i, j]:.1f} d apart "
                              f"(limit {max_dt_days} d)")
    return a[i], b[j], f"nearest in time (dt = {dt[i, j]:.3f} d)"


def choose_visits(images, detector, ra, dec, *, margin_deg, reference, limit):
    """The visits of one detector for a stack: every image containing (ra, dec) with the margin, the reference
    first, then the nearest in time, at most ``limit``.

    Parameters
    ----------
    images : `~astropy.table.Table`
        An image table (`spherex_sdt.archive.IMAGE_COLUMNS`).
    detector : int
    margin_deg : float
        Minimum distance from the target to the image edges (the box and its background margin fit inside).
    reference : table row
        The image of this detector `choose_pair` chose; always used.
    limit : int
        The most visits to use.

    Returns
    -------
    list of (row, used, reason)
        Every image of the detector, ``used`` True for those chosen, ``reason`` saying why the others are not.
    """
    rows = images[images["detector"] == detector]
    ref_key = str(reference["key"])
    out, candidates = [], []
    for row in rows:
        if str(row["key"]) == ref_key:
            continue
        if region_contains(row["s_region"], ra, dec, margin_deg=margin_deg):
            candidates.append(row)
        else:
            out.append((row, False, f"the box and its margin ({margin_deg * 3600:.0f} arcsec) leave the image"))
    candidates.sort(key=lambda r: (abs(float(r["mjd"]) - float(reference["mjd"])), float(r["mjd"])))
    chosen = [reference, *candidates]
    used = [(row, True, "") for row in chosen[:limit]]
    capped = [(row, False, f"beyond the limit of {limit} visits") for row in chosen[limit:]]
    return used + capped + out
