"""Catalogues of a detector pair: detections on the difference and on each image, cross-matched, with colours."""

import numpy as np
import sep
from photutils.psf import CircularGaussianPRF

from ..calibration.flags import SPHEREX_FLAGS

from .centroids import fit_positions
from .sextractor import run_sextractor

__all__ = ["add_positions", "extract_image", "cross_match", "add_pair_photometry", "add_footprint_flags"]


def add_positions(catalog, wcs, image=None, variance=None, *, margin=0, fwhm=1.0):
    """Add best 0-based pixel positions ``x``, ``y``, how they were found, and ``ra``/``dec`` (deg).

    With an ``image`` (the reference detector's own, unresampled pixels) positions come from a pixel-integrated
    Gaussian fit there (`fit_positions`), which removes the pixel-phase bias of windowed centroids on a ~1 px PSF;
    where the fit fails, or without an image, the windowed centroid is kept. ``image`` may extend ``margin`` pixels
    beyond the catalogue's grid on each side (so that a source at the edge is fitted whole); ``fwhm`` is its PSF's
    FWHM in pixels. Sky positions use astropy's WCS (SIP-aware), not SExtractor's.
    """
    x = np.asarray(catalog["XWIN_IMAGE"], float) - 1
    y = np.asarray(catalog["YWIN_IMAGE"], float) - 1
    method = np.full(len(catalog), "windowed", dtype="<U10")
    if image is not None and len(catalog):
        fx, fy = fit_positions(image, variance, x + margin, y + margin, fwhm=fwhm)
        fx, fy = fx - margin, fy - margin
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


def _psf_fraction_kept(bad, x, y, radius, fwhm_px):
    """Share of a point source's flux inside each aperture that falls on good pixels, for a pixel-integrated
    circular Gaussian of ``fwhm_px`` (rotation does not change it, so it serves A resampled onto B's grid)."""
    half = int(np.ceil(radius)) + 2
    ny, nx = bad.shape
    kept = np.ones(len(x))
    for k, (xk, yk) in enumerate(zip(x, y)):
        x0, y0 = int(np.floor(xk)) - half, int(np.floor(yk)) - half
        sl = (slice(max(y0, 0), min(y0 + 2 * half + 2, ny)), slice(max(x0, 0), min(x0 + 2 * half + 2, nx)))
        if not np.any(bad[sl]):
            continue
        yy, xx = np.mgrid[sl]
        model = np.ascontiguousarray(CircularGaussianPRF(flux=1.0, x_0=xk, y_0=yk, fwhm=fwhm_px)(xx, yy), float)
        origin_x, origin_y = sl[1].start, sl[0].start
        total, _, _ = sep.sum_circle(model, [xk - origin_x], [yk - origin_y], radius, subpix=5)
        good, _, _ = sep.sum_circle(np.where(bad[sl], 0.0, model), [xk - origin_x], [yk - origin_y], radius,
                                    subpix=5)
        kept[k] = good[0] / total[0] if total[0] > 0 else np.nan
    return kept


def _forced(image, variance, x, y, radius, fwhm_px):
    """sep aperture sums over good pixels, divided by the share of the PSF they hold: masked pixels are corrected
    with a Gaussian PSF model (filling them with the aperture's mean, as sep would, loses the core of a ~1 px PSF).
    The flag keeps sep's ``APER_HASMASKED`` bit for apertures that held any."""
    bad = ~np.isfinite(image) | ~np.isfinite(variance)
    data = np.ascontiguousarray(np.where(bad, 0.0, image), dtype=float)
    var = np.ascontiguousarray(np.where(bad, 0.0, variance), dtype=float)
    flux, err, flag = sep.sum_circle(data, x, y, radius, var=var, mask=np.ascontiguousarray(bad), subpix=5)
    # sep scaled the sums by area; undo that and correct by the PSF instead
    area, _, _ = sep.sum_circle(np.ones_like(data), x, y, radius, subpix=5)
    good_area, _, _ = sep.sum_circle(np.where(bad, 0.0, 1.0), x, y, radius, subpix=5)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = good_area / area / _psf_fraction_kept(bad, x, y, radius, fwhm_px)
    return flux * scale, err * scale, flag


def add_pair_photometry(catalog, image_a, variance_a, image_b, variance_b, *, fwhm_px, radius=3.0):
    """Forced aperture fluxes on both images at each difference detection, and the AB colour ``m_A - m_B``.

    Masked pixels are left out and the sum divided by the share of a Gaussian PSF of ``fwhm_px`` (``(A, B)``, in
    pixels) they hold inside the aperture; ``flag_a``/``flag_b`` carry sep's APER_HASMASKED bit, 32, where the
    aperture held any. Fluxes are aperture fluxes (not total); the colour is unbiased when both detectors' PSFs put
    similar fractions inside ``radius`` (SPHEREx FWHM is ~1 px, so r = 3 px holds most of the flux in both).
    """
    x = np.asarray(catalog["x"], float)
    y = np.asarray(catalog["y"], float)
    for tag, image, variance, fwhm in (("a", image_a, variance_a, fwhm_px[0]), ("b", image_b, variance_b, fwhm_px[1])):
        if len(catalog):
            flux, err, flag = _forced(image, variance, x, y, radius, fwhm)
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


def add_footprint_flags(catalog, flags_a, flags_b, mask, *, radius=2.0, core=1):
    """Which flag bits touch each detection, and how much of its core is masked.

    Adds ``footprint_flags_a``, ``footprint_flags_b`` (OR of each image's FLAGS, `SPHEREX_FLAGS` layout, over the
    pixels within ``radius`` of the position: the PSF core of a ~1 px FWHM source and its first ring),
    ``footprint_flags`` (both) and ``core_masked_fraction`` (share of the (2 core + 1)² pixels nearest the
    position that the difference's MASK excludes: detection saw interpolated values there).

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Needs ``x``, ``y`` (0-based, on the grid of the planes).
    flags_a, flags_b : 2D int ndarray
        FLAGS of A and B on the difference grid (`spherex_sdt.imaging.DifferenceImage`).
    mask : 2D int ndarray
        The difference's MASK (0 = usable).
    """
    n = len(catalog)
    ny, nx = mask.shape
    out = {"a": np.zeros(n, np.int64), "b": np.zeros(n, np.int64)}
    masked = np.zeros(n)
    half = int(np.ceil(radius))
    dy, dx = np.mgrid[-half:half + 1, -half:half + 1]
    for k, (x, y) in enumerate(zip(np.asarray(catalog["x"], float), np.asarray(catalog["y"], float))):
        ix, iy = int(round(x)), int(round(y))
        yy, xx = iy + dy, ix + dx
        use = ((xx - x) ** 2 + (yy - y) ** 2 <= radius**2) & (xx >= 0) & (xx < nx) & (yy >= 0) & (yy < ny)
        for tag, plane in (("a", flags_a), ("b", flags_b)):
            out[tag][k] = int(np.bitwise_or.reduce(plane[yy[use], xx[use]])) if use.any() else 0
        box = mask[max(iy - core, 0):iy + core + 1, max(ix - core, 0):ix + core + 1]
        masked[k] = np.count_nonzero(box) / (2 * core + 1) ** 2 + (1 - box.size / (2 * core + 1) ** 2)
    catalog["footprint_flags_a"] = out["a"]
    catalog["footprint_flags_b"] = out["b"]
    catalog["footprint_flags"] = out["a"] | out["b"]
    catalog["core_masked_fraction"] = masked
    bits = ", ".join(f"{bit} {name}" for name, (bit, _) in SPHEREX_FLAGS.items())
    catalog.meta["footprint_flag_bits"] = bits
    return catalog
