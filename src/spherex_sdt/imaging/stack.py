"""Stacked differences: every visit of each detector resampled onto one grid and combined, then A - B.

A target is covered by 8 to more than 100 visits per detector. Each visit is cut around the reference grid (with a
margin for its background), masked with the detection flags, background-subtracted, its masked pixels interpolated
over, resampled cut-first onto the grid as surface brightness and converted to µJy with the grid's solid angles.
The visits of a detector are then combined per pixel by an inverse-variance mean after rejecting, one at a time,
values that disagree with the others (`combine_visits`): what hits one visit only (a cosmic ray flagging missed, a
satellite trail) is gone, and a pixel masked in one visit is taken from the others. The noise falls as 1/√N.

Each visit sees a source at its own wavelength inside the detector's band (the LVF), so a stack measures the
source's mean flux over the wavelengths its visits sample: ``info`` gives their mean and range.
"""

import numpy as np

from ..errors import DataFormatError, NoCoverageError
from .difference import (
    MASK_BAD_A,
    MASK_BAD_B,
    MASK_NO_COVERAGE,
    DifferenceImage,
    reference_box,
    reference_planes,
    require_planes,
    resample_onto,
    visit_info,
)

__all__ = ["combine_visits", "resample_visit", "stacked_difference"]

REFERENCE_MARGIN_PX = 8
"""Pixels of B's reference visit kept beyond the box on each side (`IMAGE_REF`): the position fit's 7 x 7 stamp and
the PSF's wings of a source at the box edge."""


def combine_visits(values, variances, valid, *, clip_sigma, flux_tolerance):
    """Inverse-variance mean of several visits per pixel, with iterative rejection of disagreeing values.

    At each pixel the value farthest from the weighted mean of the others (in units of
    ``sqrt(var_i + var_mean + (flux_tolerance * mean)²)``) is rejected while it lies beyond ``clip_sigma`` and more
    than two values remain. ``flux_tolerance`` lets a source's flux change between visits (each sees it at another
    wavelength) without its core being rejected; on the sky it is the noise that decides.

    Parameters
    ----------
    values, variances : ndarray, shape (n_visits, ny, nx)
    valid : bool ndarray, same shape
        Values that may be used.
    clip_sigma, flux_tolerance : float

    Returns
    -------
    mean, variance : ndarray (ny, nx)
        NaN where no visit is valid.
    coverage : int ndarray (ny, nx)
        Visits used at each pixel.
    rejected : int ndarray (ny, nx)
        Visits rejected at each pixel.
    """
    values = np.asarray(values, float)
    variances = np.asarray(variances, float)
    keep = np.asarray(valid, bool) & np.isfinite(values) & np.isfinite(variances) & (variances > 0)
    weights = np.where(keep, 1.0 / np.where(keep, variances, 1.0), 0.0)
    vals = np.where(keep, values, 0.0)
    for _ in range(max(values.shape[0] - 2, 0)):
        sw = weights.sum(axis=0)
        swv = (weights * vals).sum(axis=0)
        # leave-one-out mean of the others, so that one wild value does not hide in its own mean
        others = sw[None] - weights
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_i = (swv[None] - weights * vals) / others
            scale = np.sqrt(variances + 1.0 / others + (flux_tolerance * mean_i) ** 2)
            z = np.where(keep & (others > 0), np.abs(vals - mean_i) / scale, 0.0)
        worst = np.argmax(z, axis=0)
        zmax = np.take_along_axis(z, worst[None], axis=0)[0]
        drop = (zmax > clip_sigma) & (keep.sum(axis=0) > 2)
        if not drop.any():
            break
        iy, ix = np.nonzero(drop)
        keep[worst[iy, ix], iy, ix] = False
        weights[worst[iy, ix], iy, ix] = 0.0
    sw = weights.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(sw > 0, (weights * vals).sum(axis=0) / sw, np.nan)
        variance = np.where(sw > 0, 1.0 / sw, np.nan)
    coverage = keep.sum(axis=0)
    rejected = (np.asarray(valid, bool) & np.isfinite(values)).sum(axis=0) - coverage
    return mean, variance, coverage.astype(np.int16), rejected.astype(np.int16)


def resample_visit(image, omega, ref_wcs, ref_shape, omega_ref, *, background_margin, detection_flags,
                   background_flags, bkg_box, bkg_filter, bad_fraction_limit):
    """One visit on the reference grid in µJy per pixel: value, variance, usable pixels, FLAGS (OR-mapped), and
    the pixels it covers.

    The visit is cut around the grid with ``background_margin``, masked and background-subtracted there, its
    masked pixels interpolated over, resampled as surface brightness and converted with the grid's solid angles
    (``omega_ref``). A pixel is usable where the visit covers it and at most ``bad_fraction_limit`` of it came
    from masked pixels.

    Raises
    ------
    NoCoverageError
        If the visit does not overlap the grid.
    """
    value, variance, bad_fraction, footprint, flags = resample_onto(
        image, omega, ref_wcs, ref_shape, omega_ref, background_margin=background_margin,
        detection_flags=detection_flags, background_flags=background_flags, bkg_box=bkg_box, bkg_filter=bkg_filter)
    covered = footprint >= 0.99
    usable = covered & (bad_fraction <= bad_fraction_limit)
    return value, variance, usable, flags, covered


def _stack(images, omegas, ref_wcs, ref_shape, omega_ref, ra, dec, options, combine):
    """Resample and combine one detector's visits; ``(mean, variance, coverage, flags, covered, visits)``."""
    values, variances, valids, flags, visits = [], [], [], [], []
    covered = np.zeros(ref_shape, bool)
    for image in images:
        record = {**visit_info(image, ra, dec), "used": True, "reason": ""}
        try:
            value, variance, usable, flag, reached = resample_visit(image, omegas[image.detector], ref_wcs,
                                                                    ref_shape, omega_ref, **options)
        except (NoCoverageError, DataFormatError) as exc:
            record.update(used=False, reason=str(exc))
            visits.append(record)
            continue
        values.append(value)
        variances.append(variance)
        valids.append(usable)
        flags.append(np.where(usable, flag, 0))
        covered |= reached
        visits.append(record)
    if not values:
        raise NoCoverageError(f"no visit of D{images[0].detector} covers the box: "
                              + "; ".join(v["reason"] for v in visits))
    mean, variance, coverage, _ = combine_visits(np.stack(values), np.stack(variances), np.stack(valids),
                                                 **combine)
    return mean, variance, coverage, np.bitwise_or.reduce(np.stack(flags), axis=0), covered, visits


def _summary(visits):
    """The stack's provenance: the used visits' mean wavelength and range, epochs, PSF FWHM."""
    used = [v for v in visits if v["used"]]
    lam = np.array([v["wavelength_um"] for v in used])
    band = np.array([v["bandwidth_um"] for v in used])
    first = used[0]
    return {
        "path": first["path"], "detector": first["detector"], "obs_id": first["obs_id"], "expid": first["expid"],
        "mjd": float(np.mean([v["mjd"] for v in used])), "wavelength_um": float(lam.mean()),
        "bandwidth_um": float(band.mean()), "wavelength_min_um": float(lam.min()),
        "wavelength_max_um": float(lam.max()), "n_visits": len(used),
        "psf_fwhm_arcsec": float(np.mean([v["psf_fwhm_arcsec"] for v in used])), "visits": visits,
    }


def stacked_difference(images_a, images_b, omegas, reference, ra, dec, *, size, background_margin, detection_flags,
                       background_flags, bkg_box, bkg_filter, bad_fraction_limit, clip_sigma, flux_tolerance):
    """Difference ``stack(A) - stack(B)`` of a box around (ra, dec) on the reference visit's grid.

    Parameters
    ----------
    images_a, images_b : list of `~spherex_sdt.io.SpectralImage`
        The visits of each detector (cutouts or full frames with FLAGS and VARIANCE).
    omegas : dict
        Detector to its full-detector solid-angle map (arcsec²).
    reference : `~spherex_sdt.io.SpectralImage`
        The visit of B whose pixels are the grid (one of ``images_b``).
    size, background_margin, detection_flags, background_flags, bkg_box, bkg_filter, bad_fraction_limit
        As for `spherex_sdt.imaging.difference_image`, applied to every visit.
    clip_sigma, flux_tolerance : float
        Rejection across visits (`combine_visits`).

    Returns
    -------
    `~spherex_sdt.imaging.DifferenceImage`
        With ``coverage_a``/``coverage_b`` (visits per pixel) and, in ``info``, each stack's mean wavelength and
        range, its number of visits and every visit with whether it was used and why not.
    """
    for img in (*images_a, *images_b):
        require_planes(img)
    ref_wcs, ref_shape, omega_ref = reference_box(reference, omegas[reference.detector], ra, dec, size,
                                                  background_margin)
    options = {"background_margin": background_margin, "detection_flags": detection_flags,
               "background_flags": background_flags, "bkg_box": bkg_box, "bkg_filter": bkg_filter,
               "bad_fraction_limit": bad_fraction_limit}
    combine = {"clip_sigma": clip_sigma, "flux_tolerance": flux_tolerance}
    a, var_a, cov_a, flags_a, covered_a, visits_a = _stack(images_a, omegas, ref_wcs, ref_shape, omega_ref, ra, dec,
                                                           options, combine)
    b, var_b, cov_b, flags_b, _, visits_b = _stack(images_b, omegas, ref_wcs, ref_shape, omega_ref, ra, dec,
                                                   options, combine)
    mask = np.zeros(ref_shape, np.uint8)
    mask[cov_a == 0] |= MASK_BAD_A
    mask[cov_b == 0] |= MASK_BAD_B
    mask[~covered_a] |= MASK_NO_COVERAGE  # no A visit reaches the pixel at all (not only masked in every one)
    good = mask == 0
    ref_margin = min(REFERENCE_MARGIN_PX, background_margin)
    ref, var_ref, bad_ref, _ = reference_planes(reference, omegas[reference.detector], ra, dec, size,
                                                background_margin, detection_flags, background_flags, bkg_box,
                                                bkg_filter, keep=ref_margin)
    return DifferenceImage(
        difference=np.where(good, a - b, np.nan).astype(np.float32),
        variance=np.where(good, var_a + var_b, np.nan).astype(np.float32),
        image_a=np.where(cov_a > 0, a, np.nan).astype(np.float32),
        image_b=np.where(cov_b > 0, b, np.nan).astype(np.float32),
        variance_a=np.where(cov_a > 0, var_a, np.nan).astype(np.float32),
        variance_b=np.where(cov_b > 0, var_b, np.nan).astype(np.float32),
        mask=mask, flags_a=flags_a.astype(np.int32), flags_b=flags_b.astype(np.int32), wcs=ref_wcs,
        info={"A": _summary(visits_a), "B": _summary(visits_b)},
        coverage_a=cov_a, coverage_b=cov_b,
        image_ref=np.where(bad_ref, np.nan, ref).astype(np.float32),
        variance_ref=np.where(bad_ref, np.nan, var_ref).astype(np.float32), ref_margin=ref_margin,
    )
