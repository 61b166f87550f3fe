"""Score discovery on a simulated sky against its truth: what each source should look like on a difference grid,
which detections are real, which sources were found.

Used by the tests and `benchmarks/discovery_quality.py`; pure functions over tables, arrays and WCSs.
"""

import numpy as np
from astropy.table import Table

from .sky import true_flux

__all__ = ["expected_on_grid", "match_detections", "detection_snr", "discovery_scores"]


def expected_on_grid(truth, wcs, variance, mask, image_a, image_b, *, radius=3.0, core=1):
    """Each truth source on a difference grid: position, true fluxes in A and B, expected S/N, masked core pixels.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        The simulator's truth (``ra``, ``dec`` and SED columns).
    wcs : `~astropy.wcs.WCS`
        The difference grid.
    variance : 2D ndarray
        Variance of the difference (µJy²); NaN where masked.
    mask : 2D int ndarray
        The difference's MASK plane (0 = usable).
    image_a, image_b : `~spherex_sdt.io.SpectralImage` or list of them
        The two Level-2 images (or each side's visits of a stack): each source's wavelength there gives its true
        flux in that image (a stack's is the mean over its visits).
    radius : float
        Aperture radius (px) of the expected S/N: |F_A - F_B| over the noise of a disc of this radius, with the
        median variance around the source (so masked pixels do not lower the expectation).
    core : int
        Half-size of the core box whose masked pixels are counted ((2 core + 1)² pixels).

    Returns
    -------
    `~astropy.table.Table`
        The truth rows with ``x``, ``y``, ``flux_a``, ``flux_b``, ``expected_snr`` (signed, A - B),
        ``core_masked`` (count) and ``inside`` (the source and its core lie on the grid).
    """
    out = Table(truth, copy=True)
    ra, dec = np.asarray(truth["ra"], float), np.asarray(truth["dec"], float)
    x, y = wcs.all_world2pix(ra, dec, 0)
    fluxes = {}
    for tag, images in (("a", image_a), ("b", image_b)):
        per_visit = []
        for image in images if isinstance(images, list | tuple) else [images]:
            xi, yi = image.wcs.all_world2pix(ra, dec, 0)
            lam, _ = image.wavelength(xi, yi)
            per_visit.append([float(true_flux(row, wl)) for row, wl in zip(truth, np.atleast_1d(lam))])
        fluxes[tag] = np.mean(per_visit, axis=0)
    ny, nx = variance.shape
    inside = (x > core + 2) & (x < nx - core - 3) & (y > core + 2) & (y < ny - core - 3)
    snr = np.full(len(truth), np.nan)
    masked = np.zeros(len(truth), int)
    area = np.pi * radius**2
    for k in np.flatnonzero(inside):
        ix, iy = int(round(x[k])), int(round(y[k]))
        local = variance[max(iy - 4, 0):iy + 5, max(ix - 4, 0):ix + 5]
        sigma = np.sqrt(area * np.nanmedian(local)) if np.isfinite(local).any() else np.nan
        snr[k] = (fluxes["a"][k] - fluxes["b"][k]) / sigma
        masked[k] = np.count_nonzero(mask[iy - core:iy + core + 1, ix - core:ix + core + 1])
    out["x"], out["y"] = x, y
    out["flux_a"], out["flux_b"] = fluxes["a"], fluxes["b"]
    out["expected_snr"] = snr
    out["core_masked"] = masked
    out["inside"] = inside
    return out


def detection_snr(catalog):
    """|FLUX_AUTO| / FLUXERR_AUTO of each detection (the S/N the selection uses)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.asarray(catalog["FLUX_AUTO"], float)) / np.asarray(catalog["FLUXERR_AUTO"], float)


def match_detections(catalog, expected, *, radius_px=1.5):
    """Nearest truth source of each detection and nearest detection of each source, within ``radius_px``.

    Returns ``(source_of_detection, detection_of_source)``: index arrays, -1 where there is none. A detection is
    real when a truth source lies within ``radius_px`` of its ``x``, ``y``; a second detection of the same source
    is not matched (it counts as spurious).
    """
    n_det, n_src = len(catalog), len(expected)
    source_of = np.full(n_det, -1)
    detection_of = np.full(n_src, -1)
    if not (n_det and n_src):
        return source_of, detection_of
    dx = np.asarray(catalog["x"], float)[:, None] - np.asarray(expected["x"], float)[None, :]
    dy = np.asarray(catalog["y"], float)[:, None] - np.asarray(expected["y"], float)[None, :]
    dist = np.hypot(dx, dy)
    # closest pairs first, each detection and source used once
    for flat in np.argsort(dist, axis=None):
        d, s = np.unravel_index(flat, dist.shape)
        if dist[d, s] > radius_px:
            break
        if source_of[d] < 0 and detection_of[s] < 0:
            source_of[d], detection_of[s] = s, d
    return source_of, detection_of


def discovery_scores(catalog, expected, *, min_snr=10.0, complete_snr=None, radius_px=1.5):
    """Spurious fraction among detections with S/N >= ``min_snr`` and completeness of sources at expected
    |S/N| >= ``complete_snr`` (default ``min_snr``; all, and those with masked core pixels).

    Returns
    -------
    dict
        ``n_detections``, ``n_bright`` (detections at S/N >= min_snr), ``n_spurious`` (of those, not matched),
        ``spurious_fraction``, ``n_sources`` (inside, expected |S/N| >= min_snr), ``n_found``, ``completeness``,
        ``n_masked_core`` and ``n_masked_core_found`` (of those sources, the ones with masked core pixels),
        ``spurious_snr`` (S/N of the spurious detections) and ``missed`` (indices of missed sources).
    """
    source_of, detection_of = match_detections(catalog, expected, radius_px=radius_px)
    snr = detection_snr(catalog)
    bright = snr >= min_snr
    spurious = bright & (source_of < 0)
    limit = min_snr if complete_snr is None else complete_snr
    wanted = np.asarray(expected["inside"]) & (np.abs(np.asarray(expected["expected_snr"], float)) >= limit)
    found = wanted & (detection_of >= 0)
    masked = wanted & (np.asarray(expected["core_masked"]) > 0)
    return {
        "n_detections": len(catalog), "n_bright": int(bright.sum()), "n_spurious": int(spurious.sum()),
        "spurious_fraction": float(spurious.sum() / max(bright.sum(), 1)),
        "n_sources": int(wanted.sum()), "n_found": int(found.sum()),
        "completeness": float(found.sum() / max(wanted.sum(), 1)),
        "n_masked_core": int(masked.sum()), "n_masked_core_found": int((masked & found).sum()),
        "spurious_snr": np.sort(snr[spurious]), "missed": np.flatnonzero(wanted & ~found),
    }
