"""Catalogues of a detector pair: detections on the difference and on each image, cross-matched, with colours."""

import numpy as np
import sep

from .centroids import fit_positions
from .sextractor import run_sextractor

__all__ = ["add_positions", "extract_image", "cross_match", "add_pair_photometry"]


def add_positions(catalog, wcs, image=None, variance=None):
    """Add best 0-based pixel positions ``x``, ``y``, how they were found, and ``ra``/``dec`` (deg).

    With an ``image`` (the reference detector's own, unresampled pixels) positions come from a pixel-integrated
    Gaussian fit there (`fit_positions`), which removes the pixel-phase bias of windowed centroids on a ~1 px PSF;
    where the fit fails, or without an image, the windowed centroid is kept. Sky positions use astropy's WCS
    (SIP-aware), not SExtractor's.
    """
    x = np.asarray(catalog["XWIN_IMAGE"], float) - 1
    y = np.asarray(catalog["YWIN_IMAGE"], float) - 1
    method = np.full(len(catalog), "windowed", dtype="<U10")
    if image is not None and len(catalog):
        fx, fy = fit_positions(image, variance, x, y)
        fitted = np.isfinite(fx)
        x, y = np.where(fitted, fx, x), np.where(fitted, fy, y)
        method[fitted] = "psf-fit"
    if len(catalog):
        world = wcs.all_pix2world(np.c_[x, y], 0)
        ra, dec = world[:, 0], world[:, 1]
    else:
        ra = dec = np.zeros(0)
    index = 1 if "id" in catalog.colnames else 0
    for offset, (name, values) in enumerate((("ra", ra), ("dec", dec), ("x", x), ("y", y),
                                             ("position_method", method))):
        catalog.add_column(values, name=name, index=index + offset)
    catalog["ra"].unit = catalog["dec"].unit = "deg"
    catalog["x"].unit = catalog["y"].unit = "pix"
    catalog["x"].description = "0-based column on the reference (second) detector's grid"
    return catalog


def extract_image(image, variance, header, **sextractor):
    """SExtractor on one calibrated image (positive sources); ``id`` numbers them by decreasing FLUX_AUTO."""
    bad = ~np.isfinite(image) | ~np.isfinite(variance) | ~(variance > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(bad, 0.0, 1.0 / variance)
    table = run_sextractor(np.where(bad, 0.0, image), weight, bad.astype(np.int32), header, **sextractor)
    order = np.argsort(-np.asarray(table["FLUX_AUTO"], float), kind="stable")
    table = table[order]
    table.add_column(np.arange(1, len(table) + 1), name="id", index=0)
    return table


def cross_match(catalog, other, tag, *, radius_px=1.5):
    """Add the nearest ``other`` detection within ``radius_px``: ``id_{tag}``, ``FLUX_AUTO_{tag}``, its error.

    Unmatched rows get id 0 and NaN fluxes.
    """
    n = len(catalog)
    ids = np.zeros(n, int)
    flux = np.full(n, np.nan)
    err = np.full(n, np.nan)
    if n and len(other):
        dx = np.asarray(catalog["XWIN_IMAGE"])[:, None] - np.asarray(other["XWIN_IMAGE"])[None, :]
        dy = np.asarray(catalog["YWIN_IMAGE"])[:, None] - np.asarray(other["YWIN_IMAGE"])[None, :]
        dist = np.hypot(dx, dy)
        best = np.argmin(dist, axis=1)
        ok = dist[np.arange(n), best] <= radius_px
        ids[ok] = np.asarray(other["id"])[best[ok]]
        flux[ok] = np.asarray(other["FLUX_AUTO"], float)[best[ok]]
        err[ok] = np.asarray(other["FLUXERR_AUTO"], float)[best[ok]]
    catalog[f"id_{tag}"] = ids
    catalog[f"FLUX_AUTO_{tag}"] = flux
    catalog[f"FLUXERR_AUTO_{tag}"] = err
    return catalog


def _forced(image, variance, x, y, radius):
    bad = ~np.isfinite(image) | ~np.isfinite(variance)
    data = np.ascontiguousarray(np.where(bad, 0.0, image), dtype=float)
    var = np.ascontiguousarray(np.where(bad, 0.0, variance), dtype=float)
    flux, err, flag = sep.sum_circle(data, x, y, radius, var=var, mask=np.ascontiguousarray(bad), subpix=5)
    return flux, err, flag


def add_pair_photometry(catalog, image_a, variance_a, image_b, variance_b, *, radius=3.0):
    """Forced aperture fluxes on both images at each difference detection, and the AB colour ``m_A - m_B``.

    sep corrects the sum for masked pixels by the unmasked area (``flag_a``/``flag_b`` record it). Fluxes are
    aperture fluxes (not total); the colour is unbiased when both detectors' PSFs put similar fractions inside
    ``radius`` (SPHEREx FWHM is ~1 px, so r = 3 px holds most of the flux in both).
    """
    x = np.asarray(catalog["x"], float)
    y = np.asarray(catalog["y"], float)
    for tag, image, variance in (("a", image_a, variance_a), ("b", image_b, variance_b)):
        if len(catalog):
            flux, err, flag = _forced(image, variance, x, y, radius)
        else:
            flux = err = flag = np.zeros(0)
        catalog[f"flux_{tag}"] = flux
        catalog[f"flux_err_{tag}"] = err
        catalog[f"flag_{tag}"] = np.asarray(flag, int)
        catalog[f"flux_{tag}"].unit = catalog[f"flux_err_{tag}"].unit = "uJy"
    fa, fb = np.asarray(catalog["flux_a"], float), np.asarray(catalog["flux_b"], float)
    ea, eb = np.asarray(catalog["flux_err_a"], float), np.asarray(catalog["flux_err_b"], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        good = (fa > 0) & (fb > 0)
        colour = np.where(good, -2.5 * np.log10(fa / fb), np.nan)
        colour_err = np.where(good, 1.0857 * np.hypot(ea / fa, eb / fb), np.nan)
    catalog["colour_ab"] = colour
    catalog["colour_ab_err"] = colour_err
    catalog["colour_ab"].unit = catalog["colour_ab_err"].unit = "mag"
    catalog["colour_ab"].description = "m_A - m_B (AB); positive = redder (brighter in B)"
    return catalog
