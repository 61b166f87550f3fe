"""Circular-aperture photometry of one source on one Level-2 cutout.

For each radius the flux is the background-subtracted sum over good pixels divided by the PSF fraction those same
pixels hold. That one ratio is both the aperture correction (a total flux, not the flux inside r) and the
correction for masked pixels (no mean-filling, which biases peaked sources). The background is a sigma-clipped
plane fitted to the annulus over in-image, finite, background-good pixels (the sky follows wavelength across a
SPHEREx detector); its error enters the variance.

Apertures keep TRANSIENT, OUTLIER and OVERFLOW pixels (bright sources trip those flags on their own cores), so a
spike there must not reach the flux: every aperture pixel is compared with the PSF model fitted to the others
(`reject_spikes`), whatever its flags, and pixels off by more than ``reject_sigma`` are treated as masked.
"""

import numpy as np
from astropy.stats import sigma_clipped_stats
from photutils.aperture import CircularAperture, CircularAnnulus

from ..calibration.flags import ARTEFACT_FLAGS, bad_pixel_mask, flag_bits
from ..calibration.spectral import sample_parent_maps
from ..calibration.units import flux_per_pixel_factor, solid_angle_at
from ..errors import InvalidInputError
from ..versions import PHOTOMETRY_ALGORITHM
from .psf import pixelated_psf, psf_plane_for, psf_spline

__all__ = ["ALGORITHM_VERSION", "QUALITY_BITS", "aperture_photometry", "psf_photometry", "measure_cutout",
           "reject_spikes", "annulus_background"]

ALGORITHM_VERSION = PHOTOMETRY_ALGORITHM
"""Bumped whenever measured numbers change for the same inputs (the workflow re-runs photometry on a change)."""

QUALITY_BITS = {
    "MASKED_IN_APERTURE": 1,  # photometry-bad pixels inside the aperture (corrected with the PSF)
    "FEW_ANNULUS_PIXELS": 2,  # fewer than the minimum good annulus pixels: background unreliable
    "APERTURE_OFF_IMAGE": 4,  # part of the aperture lies outside the cutout
    "LOW_PSF_COVERAGE": 8,  # good pixels hold less than half the PSF flux
    "NO_PSF": 16,  # no PSF HDU: flux is the plain aperture sum, not a total flux
    "ARTEFACT_IN_APERTURE": 32,  # TRANSIENT, OUTLIER or OVERFLOW pixels inside the aperture (kept unless rejected)
    "PIXELS_REJECTED": 64,  # aperture pixels disagreeing with the PSF fit were rejected (corrected with the PSF)
}


def _plane_background(flux, use, x, y, *, sigma=3.0, iterations=5):
    """Background at (x, y) from a sigma-clipped plane fitted to the annulus pixels, and its variance.

    SPHEREx's background (zodiacal light above all) changes along the detector with wavelength, so the sky under a
    source is not the annulus median when the annulus is one-sided (cut by an edge or by masks). A plane removes
    that bias; for a complete annulus its constant term is the annulus mean.
    """
    yy, xx = np.nonzero(use)
    values = flux[yy, xx]
    design = np.stack([np.ones(values.size), xx - x, yy - y], axis=1)
    keep = np.ones(values.size, bool)
    for _ in range(iterations):
        coeffs, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        resid = values - design @ coeffs
        std = np.std(resid[keep], ddof=3)
        new = np.abs(resid) <= sigma * std
        if np.array_equal(new, keep) or new.sum() < 10:
            break
        keep = new
    cov = np.linalg.inv(design[keep].T @ design[keep])
    return float(coeffs[0]), float(std**2 * cov[0, 0])


def annulus_background(flux, background_bad, x, y, annulus, *, min_annulus_pixels=20):
    """Background per pixel at (x, y) from the annulus, its variance, and the annulus pixels used.

    An annulus cut by the image edge or by masks is widened (up to twice its outer radius) until it holds half the
    good pixels a full one would: few pixels let one neighbour's wings dominate. With at least
    ``min_annulus_pixels`` the background is a sigma-clipped plane (`_plane_background`), with fewer (but >= 3) the
    sigma-clipped median, else 0 with a NaN variance.

    Returns
    -------
    (float, float, int)
        Background, its variance, and the number of annulus pixels.
    """
    r_in, r_out = float(annulus[0]), float(annulus[1])
    background_bad = background_bad | ~np.isfinite(flux)
    nominal = np.pi * (r_out**2 - r_in**2)
    for outer in (r_out, 1.25 * r_out, 1.5 * r_out, 2.0 * r_out):
        ann = CircularAnnulus((x, y), r_in, outer).to_mask(method="center").to_image(flux.shape)
        use = (ann > 0) & ~background_bad if ann is not None else np.zeros(flux.shape, bool)
        n_ann = int(use.sum())
        if n_ann >= 0.5 * nominal:
            break
    if n_ann >= min_annulus_pixels:
        value, var = _plane_background(flux, use, x, y)
    elif n_ann >= 3:
        _, value, std = sigma_clipped_stats(flux[use], sigma=3.0, maxiters=5)
        var = (np.pi / 2) * std**2 / n_ann  # variance of a median
    else:
        value, var = 0.0, np.nan
    return float(value), float(var), n_ann


def _leave_one_out_rejection(d, v, basis, limit, model_error, keep):
    """Reject, worst first, the pixels farther than their ``limit`` from the linear model ``basis @ coeffs`` fitted
    to the other kept pixels (weights 1 / ``v``); returns the pixels kept.

    The fit without pixel i is had in closed form from the full fit: its residual there is ``r_i / (1 - h_i)`` and
    its prediction's variance ``q_i / (1 - h_i)``, with ``q_i = x_i C x_i`` (``C`` the coefficients' covariance)
    and the leverage ``h_i = q_i / v_i``.
    """
    keep = keep.copy()
    n_terms = basis.shape[1]
    while keep.sum() > n_terms + 2:
        w = np.where(keep, 1.0 / v, 0.0)
        weighted = basis * w[:, None]
        try:
            cov = np.linalg.inv(weighted.T @ basis)
        except np.linalg.LinAlgError:
            break
        coeffs = cov @ (weighted.T @ d)
        q = np.einsum("ij,jk,ik->i", basis, cov, basis)
        h = np.clip(w * q, 0.0, 1.0 - 1e-9)
        resid = (d - basis @ coeffs) / (1.0 - h)  # for rejected pixels (w = 0) simply the residual
        model = d - resid
        scale = np.sqrt(v + q / (1.0 - h) + (model_error * np.abs(model)) ** 2)
        z = np.where(keep, np.abs(resid) / scale / limit, 0.0)  # in units of each pixel's limit
        worst = int(np.argmax(z))
        if z[worst] <= 1.0:
            break
        keep[worst] = False
    return keep


def _fit_position(d, v, psf_at, rows, cols, x, y, keep, *, start, max_shift, iterations=12, step=0.02,
                  max_step=0.1):
    """Position of the PSF model fitted to the kept pixels (Gauss-Newton from ``start``, flux free), or None when
    it lies further than ``max_shift`` pixels from (x, y) or the fit finds no positive flux."""
    w = np.where(keep, 1.0 / v, 0.0)
    xf, yf = start
    for _ in range(iterations):
        p = psf_at(xf, yf)[rows, cols]
        dpx = (psf_at(xf + step, yf)[rows, cols] - psf_at(xf - step, yf)[rows, cols]) / (2 * step)
        dpy = (psf_at(xf, yf + step)[rows, cols] - psf_at(xf, yf - step)[rows, cols]) / (2 * step)
        basis = np.stack([p, dpx, dpy], axis=1)
        weighted = basis * w[:, None]
        try:
            flux, bx, by = np.linalg.solve(weighted.T @ basis, weighted.T @ d)
        except np.linalg.LinAlgError:
            return None
        if not flux > 0:
            return None
        dx, dy = bx / flux, by / flux
        length = np.hypot(dx, dy)
        if length > max_step:  # the linear model holds only near the current position: damped steps
            dx, dy = dx * max_step / length, dy * max_step / length
        xf, yf = xf + dx, yf + dy
        if np.hypot(xf - x, yf - y) > max_shift:
            return None
        if length < 1e-3:
            break
    return xf, yf


def reject_spikes(data, variance, bad, psf, x, y, *, radius, sigma, model_error, suspect=None, suspect_sigma=None,
                  psf_at=None, max_shift=0.5):
    """Pixels near (x, y) that disagree with the PSF model fitted to the other pixels by more than ``sigma``.

    The flux is fitted linearly (position fixed, background already subtracted) to the good pixels a circle of
    ``radius`` overlaps; each pixel is compared with the fit made *without it* (leave-one-out, in closed form), so
    a spike on the peak cannot drag the fit with it. The worst pixel beyond ``sigma`` is rejected and the fit redone,
    until none is left. The error of a residual includes the pixel's variance, the leave-one-out fit's and a
    ``model_error`` fraction of the model (PSF models are never exact on bright sources). Pixels whose flags
    already make them ``suspect`` (TRANSIENT, OUTLIER, OVERFLOW) are held to the stricter ``suspect_sigma``: a
    flag is evidence, and a spike of a few sigma on a bright core otherwise hides in the model error.

    A bright source a fraction of a pixel from (x, y) (a catalogue position error, proper motion) leaves a
    residual of both signs across its core that a fixed-position fit calls spikes. So when pixels are rejected
    and ``psf_at`` is given, the source's position is fitted (within ``max_shift`` pixels, to the pixels not
    rejected) and the comparison made again from scratch with the PSF there (up to three times, until the
    rejected pixels stay the same): what the shift explains is kept, a spike still is not. The fit only ever
    gives back pixels the fixed-position comparison rejected.

    Parameters
    ----------
    data, variance : 2D ndarray
        Background-subtracted flux and its variance per pixel.
    bad : 2D bool ndarray
        Pixels already excluded (never rejected again).
    psf : 2D ndarray
        Fraction of the source's flux in each pixel (`pixelated_psf`) at (x, y).
    radius, sigma, model_error : float
    suspect : 2D bool ndarray, optional
    suspect_sigma : float, optional
    psf_at : callable, optional
        ``psf_at(x, y)``: the ``psf`` image for a source at (x, y), e.g. `pixelated_psf` of the zone's plane.
    max_shift : float
        The largest position change (pixels) fitted; a source further off keeps the fixed-position rejection.

    Returns
    -------
    2D bool ndarray
        True at rejected pixels.
    """
    rejected = np.zeros(data.shape, bool)
    ny, nx = data.shape
    yy, xx = np.ogrid[0:ny, 0:nx]
    reach = radius + np.sqrt(0.5)  # every pixel a circle of this radius overlaps, not only those it centres on
    use = (((xx - x) ** 2 + (yy - y) ** 2 <= reach**2) & ~bad & np.isfinite(data) & np.isfinite(variance)
           & (variance > 0) & (psf > 0))
    rows, cols = np.nonzero(use)
    d, v, p = data[rows, cols], variance[rows, cols], psf[rows, cols]
    limit = np.full(d.size, float(sigma))
    if suspect is not None and suspect_sigma is not None:
        limit[suspect[rows, cols]] = float(suspect_sigma)
    every = np.ones(d.size, bool)
    keep = first = _leave_one_out_rejection(d, v, p[:, None], limit, model_error, every)
    position = (x, y)
    for _ in range(3 if psf_at is not None else 0):
        if keep.all() or keep.sum() <= 5:
            break
        # the position the pixels kept say, then every pixel judged again with the PSF there
        position = _fit_position(d, v, psf_at, rows, cols, x, y, keep, start=position, max_shift=max_shift)
        if position is None:
            break
        again = _leave_one_out_rejection(d, v, psf_at(*position)[rows, cols][:, None], limit, model_error, every)
        # the fit may only give back pixels the fixed position rejected: a position drawn towards a cluster of
        # spikes must not trade them for good pixels
        if np.array_equal(again, keep) or np.any(~again & first):
            break
        keep = again
    rejected[rows[~keep], cols[~keep]] = True
    return rejected


def aperture_photometry(flux, variance, bad, background_bad, x, y, radii, annulus, *, psf=None, rejected=None,
                        artefact=None, background=None, min_annulus_pixels=20):
    """Measure one source at 0-based (x, y).

    Parameters
    ----------
    flux, variance : 2D ndarray
        µJy per pixel and µJy².
    bad, background_bad : 2D bool ndarray
        Pixels excluded from the aperture and from the annulus (non-finite pixels are always excluded).
    radii : sequence of float
        Aperture radii in pixels.
    annulus : (float, float)
        Inner and outer annulus radii; inner must exceed max(radii).
    psf : 2D ndarray, optional
        Fraction of the source flux in each pixel (`pixelated_psf`); without it no correction is made.
    rejected : 2D bool ndarray, optional
        Pixels `reject_spikes` rejected: excluded like ``bad`` and reported with ``PIXELS_REJECTED``.
    artefact : 2D bool ndarray, optional
        Pixels carrying `ARTEFACT_FLAGS` (TRANSIENT, OUTLIER, OVERFLOW): reported with ``ARTEFACT_IN_APERTURE``
        when inside an aperture.
    background : (float, float, int), optional
        `annulus_background` already computed for this position.

    Returns
    -------
    list of dict
        One per radius: ``radius, flux, flux_err, background, background_err, n_annulus, psf_fraction,
        n_bad_aperture, n_rejected, aperture_coverage, quality``.
    """
    radii = [float(r) for r in radii]
    if not radii or min(radii) <= 0:
        raise InvalidInputError(f"radii must be positive, got {radii}")
    r_in, r_out = float(annulus[0]), float(annulus[1])
    if not max(radii) < r_in < r_out:
        raise InvalidInputError(f"annulus must satisfy max(radii) < inner < outer, got radii {radii} and "
                                f"annulus {tuple(annulus)}")
    finite = np.isfinite(flux) & np.isfinite(variance)
    bad = bad | ~finite
    rejected = np.zeros(flux.shape, bool) if rejected is None else rejected & ~bad
    artefact = np.zeros(flux.shape, bool) if artefact is None else artefact
    if background is None:
        background = annulus_background(flux, background_bad | ~finite, x, y, annulus,
                                        min_annulus_pixels=min_annulus_pixels)
    median, bkg_var_per_pixel, n_ann = background
    quality = QUALITY_BITS["FEW_ANNULUS_PIXELS"] if n_ann < min_annulus_pixels else 0
    results = []
    for r in radii:
        q = quality
        weights = CircularAperture((x, y), r).to_mask(method="exact")
        full_area = weights.data.sum()
        w = weights.to_image(flux.shape)
        w = np.zeros(flux.shape) if w is None else w
        coverage = w.sum() / full_area
        if coverage < 0.999:
            q |= QUALITY_BITS["APERTURE_OFF_IMAGE"]
        inside = w > 0
        good = inside & ~bad & ~rejected
        n_bad = int(np.count_nonzero(inside & bad))
        n_rejected = int(np.count_nonzero(inside & rejected))
        if n_bad:
            q |= QUALITY_BITS["MASKED_IN_APERTURE"]
        if n_rejected:
            q |= QUALITY_BITS["PIXELS_REJECTED"]
        if np.any(inside & artefact):
            q |= QUALITY_BITS["ARTEFACT_IN_APERTURE"]
        wg = np.where(good, w, 0.0)
        raw = np.sum(wg * np.where(good, flux - median, 0.0))
        raw_var = np.sum(wg**2 * np.where(good, variance, 0.0)) + wg.sum() ** 2 * bkg_var_per_pixel
        if psf is not None:
            frac = float(np.sum(wg * psf))
            if frac < 0.5:
                q |= QUALITY_BITS["LOW_PSF_COVERAGE"]
        else:
            frac = 1.0
            q |= QUALITY_BITS["NO_PSF"]
        total = raw / frac if frac > 0 else np.nan
        err = np.sqrt(raw_var) / frac if frac > 0 else np.nan
        results.append({
            "radius": r, "flux": total, "flux_err": err, "background": float(median),
            "background_err": float(np.sqrt(bkg_var_per_pixel)), "n_annulus": n_ann, "psf_fraction": frac,
            "n_bad_aperture": n_bad, "n_rejected": n_rejected, "aperture_coverage": float(coverage), "quality": q,
        })
    return results


def psf_photometry(flux, variance, bad, psf, x, y, *, background=0.0, background_err=0.0, radius=4.0):
    """Forced PSF photometry at a fixed position: the inverse-variance weighted linear fit of the PSF.

    With the position fixed, fitting ``F * P + background`` is linear, so the maximum-likelihood flux is
    ``F = sum(P (d - b) / var) / sum(P^2 / var)`` over good pixels within ``radius`` (the estimator photutils'
    PSF photometry converges to with fixed centres, in closed form). Its variance is ``1 / sum(P^2 / var)`` plus
    the propagated error of the subtracted background.

    Returns
    -------
    dict
        ``flux_psf``, ``flux_psf_err`` (µJy), ``chi2_psf`` (reduced chi-square of the fit), ``n_psf`` pixels.
    """
    ny, nx = flux.shape
    yy, xx = np.ogrid[0:ny, 0:nx]
    use = ((xx - x) ** 2 + (yy - y) ** 2 <= radius**2) & ~bad & np.isfinite(flux) & (variance > 0) & (psf > 0)
    if use.sum() < 3:
        return {"flux_psf": np.nan, "flux_psf_err": np.nan, "chi2_psf": np.nan, "n_psf": int(use.sum())}
    p, d, w = psf[use], flux[use] - background, 1.0 / variance[use]
    norm = np.sum(w * p * p)
    total = np.sum(w * p * d) / norm
    background_term = (np.sum(w * p) / norm) * background_err
    chi2 = np.sum(w * (d - total * p) ** 2) / max(use.sum() - 1, 1)
    return {"flux_psf": float(total), "flux_psf_err": float(np.sqrt(1.0 / norm + background_term**2)),
            "chi2_psf": float(chi2), "n_psf": int(use.sum())}


def _psf_at(plane, oversample, shape):
    """``psf_at(x, y)``: the pixelated PSF of ``plane`` at any position, its spline filtered once."""
    spline = psf_spline(plane)
    return lambda xs, ys: pixelated_psf(spline, oversample, xs, ys, shape, prefiltered=True)


def measure_cutout(image, solid_angle_map, ra, dec, *, radii, annulus, bad_flags, background_flags, reject_sigma,
                   reject_sigma_flagged, psf_model_error, wavelength_maps=None, refit_position=True):
    """Photometry of a sky position on one Level-2 cutout.

    Parameters
    ----------
    image : `~spherex_sdt.io.SpectralImage`
        A cutout (or full frame) with FLAGS and VARIANCE.
    solid_angle_map : 2D ndarray
        The full-detector solid-angle map (arcsec²) of the image's detector.
    reject_sigma, reject_sigma_flagged, psf_model_error : float
        Pixels of the largest aperture that disagree with the PSF fit by more than ``reject_sigma`` (the error
        including ``psf_model_error`` times the model), or ``reject_sigma_flagged`` for pixels carrying
        `ARTEFACT_FLAGS`, are rejected (`reject_spikes`); ``reject_sigma`` None or 0 turns the rejection off.
        Needs the PSF HDU.
    refit_position : bool
        Let the spike rejection fit the position on this cutout when it rejects pixels (a catalogue position a
        fraction of a pixel off). Off for a position already fitted to every exposure
        (`spherex_sdt.photometry.position.fit_position`): there a spike cluster would only draw it away.
    wavelength_maps : (2D ndarray, 2D ndarray), optional
        The detector's ``spectral_wcs`` CWAVE and CBAND images (µm, `spherex_sdt.io.read_spectral_wcs`): wavelength
        and bandwidth are then sampled there at the parent position (`sample_parent_maps`). Without them they come
        from the image's spectral WCS ``W`` (its WCS-WAVE table).

    Returns
    -------
    dict or None
        Per-exposure values (position, wavelength, bandwidth, flag counts) and ``radii``: the list from
        `aperture_photometry`. None if the position falls outside the cutout.
    """
    x, y = image.wcs.all_world2pix([[ra, dec]], 0)[0]
    ny, nx = image.shape
    if not (-0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
        return None
    omega = solid_angle_at(solid_angle_map, image.parent_origin, image.shape)
    factor = flux_per_pixel_factor(image.bunit, omega, source=image.path)
    flux = image.image * factor
    variance = image.variance * factor**2
    bits = flag_bits(image.flags_header, source=f"{image.path} FLAGS")
    bad = bad_pixel_mask(image.flags, bits, bad_flags)
    background_bad = bad_pixel_mask(image.flags, bits, background_flags) | bad
    parent_x, parent_y = image.parent_origin[0] + x, image.parent_origin[1] + y
    psf = zone = None
    if image.psf is not None:
        plane, zone, oversample = psf_plane_for(image.psf, image.psf_header, parent_x, parent_y, source=image.path)
        psf = pixelated_psf(plane, oversample, x, y, image.shape)
    if wavelength_maps is None:
        lam, band = image.wavelength(x, y)
    else:
        lam, band = sample_parent_maps(*wavelength_maps, parent_x, parent_y)
    r_max = max(radii)
    near = CircularAperture((x, y), r_max).to_mask(method="center").to_image(image.shape)
    near = np.zeros(image.shape, bool) if near is None else near > 0
    counts = {name: int(np.count_nonzero(near & ((image.flags & (1 << bit)) != 0))) for name, bit in bits.items()}
    artefact = bad_pixel_mask(image.flags, bits, ARTEFACT_FLAGS)
    finite = np.isfinite(flux) & np.isfinite(variance)
    background = annulus_background(flux, background_bad | ~finite, x, y, annulus)
    rejected = np.zeros(image.shape, bool)
    if psf is not None and reject_sigma:
        rejected = reject_spikes(flux - background[0], variance, bad | ~finite, psf, x, y, radius=r_max,
                                 sigma=float(reject_sigma), model_error=float(psf_model_error), suspect=artefact,
                                 suspect_sigma=reject_sigma_flagged,
                                 psf_at=_psf_at(plane, oversample, image.shape) if refit_position else None)
    apertures = aperture_photometry(flux, variance, bad, background_bad, x, y, radii, annulus, psf=psf,
                                    rejected=rejected, artefact=artefact, background=background)
    if psf is not None:
        fit = psf_photometry(flux, variance, bad | rejected, psf, x, y, background=apertures[0]["background"],
                             background_err=apertures[0]["background_err"], radius=max(radii))
    else:
        fit = {"flux_psf": np.nan, "flux_psf_err": np.nan, "chi2_psf": np.nan, "n_psf": 0}
    return {
        "x": float(x), "y": float(y), "parent_x": float(parent_x), "parent_y": float(parent_y),
        "wavelength": float(lam), "bandwidth": float(band), "psf_zone": zone if zone is not None else -1,
        "flag_counts": counts, "radii": apertures, **fit,
    }
