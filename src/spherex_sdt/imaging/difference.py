"""Difference of two detector images on the second detector's grid, with variance, S/N and mask.

For pair ``Da-Db`` the difference is image(Da) - image(Db) in µJy per pixel on Db's pixels. A source brighter in
Db (for D2-D4: a red, AGN-like source) is *negative*; detection must look at both signs.

Pixels whose flags mark an unreliable value (the detection list) are masked. Before A is resampled onto B's grid its
masked pixels are interpolated over from their neighbours, so that one bad A pixel does not spoil the ~4 output
pixels it overlaps; an output pixel is masked only when more than ``bad_fraction_limit`` of it came from them.
"""

from dataclasses import dataclass

import numpy as np
from astropy.convolution import Gaussian2DKernel, interpolate_replace_nans

from ..calibration.flags import bad_pixel_mask, canonical_flags, flag_bits
from ..calibration.units import flux_per_pixel_factor, solid_angle_at
from ..detectors import DETECTORS
from ..errors import DataFormatError
from .background import subtract_background
from .reprojection import bounding_box, cut_box, flags_onto, reference_grid, reproject_onto

__all__ = ["DifferenceImage", "difference_image", "fill_masked", "MASK_BAD_A", "MASK_BAD_B", "MASK_NO_COVERAGE"]

MASK_BAD_A = 1
MASK_BAD_B = 2
MASK_NO_COVERAGE = 4

FILL_KERNEL_PX = 1.0
"""σ (px) of the Gaussian that interpolates over A's masked pixels before resampling: about the PSF's size, so a
hole is filled from the pixels next to it."""


@dataclass
class DifferenceImage:
    """Products of `difference_image`; fluxes in µJy per pixel, variances in µJy².

    ``image_a``/``variance_a`` are image A reprojected onto B's grid, ``image_b``/``variance_b`` image B, each
    background-subtracted and NaN where that image is bad.

    ``mask`` is a bit mask: 1 bad pixel in image A, 2 bad pixel in image B, 4 A does not cover the pixel.
    ``flags_a``/``flags_b`` are each image's FLAGS on B's grid in the `SPHEREX_FLAGS` bit layout (for A, the OR of
    the A pixels each output pixel overlaps).
    ``info`` records both inputs (detector, OBSID, EXPIDN, MJD, wavelength and bandwidth at the target, the
    frame's PSF FWHM: its ``PSF_FWHM`` card, else the detector's typical value; for a stack their means, the
    wavelength range and every visit). ``coverage_a``/``coverage_b`` count the visits used at each pixel;
    ``image_ref``/``variance_ref`` are B's reference visit on its own, unresampled pixels (image B for a pair),
    where positions are fitted: resampling a ~1 px PSF shifts its centroid by up to ~0.3 px; they extend
    ``ref_margin`` pixels beyond the box on each side, so that sources at its edge are fitted whole.
    """

    difference: np.ndarray
    variance: np.ndarray
    image_a: np.ndarray
    image_b: np.ndarray
    variance_a: np.ndarray
    variance_b: np.ndarray
    mask: np.ndarray
    flags_a: np.ndarray
    flags_b: np.ndarray
    wcs: object
    info: dict
    coverage_a: np.ndarray | None = None
    coverage_b: np.ndarray | None = None
    image_ref: np.ndarray | None = None
    variance_ref: np.ndarray | None = None
    ref_margin: int = 0

    def __post_init__(self):
        # B's reference visit on its own pixels (for positions): for a single pair, image B itself
        if self.image_ref is None:
            self.image_ref, self.variance_ref = self.image_b, self.variance_b
        # a single pair: one visit wherever that image is usable
        if self.coverage_a is None:
            self.coverage_a = np.isfinite(self.image_a).astype(np.int16)
        if self.coverage_b is None:
            self.coverage_b = np.isfinite(self.image_b).astype(np.int16)

    @property
    def snr(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = self.difference / np.sqrt(self.variance)
        return np.where(self.mask == 0, snr, np.nan)


def fill_masked(data, bad, kernel_px=FILL_KERNEL_PX):
    """``data`` with its ``bad`` pixels interpolated from their neighbours (astropy's normalised convolution with a
    Gaussian of σ ``kernel_px``); pixels too far from any good one get the median of the good ones."""
    filled = interpolate_replace_nans(np.where(bad, np.nan, data), Gaussian2DKernel(kernel_px))
    left = ~np.isfinite(filled)
    if left.any():
        filled[left] = np.median(data[~bad]) if (~bad).any() else 0.0
    return filled


def _prepared(image, omega, box, bad_names, background_names, bkg_box, bkg_filter, *, fill=False):
    """Cut, mask and background-subtract one image (in its own units, MJy/sr).

    Bad pixels hold the local background (0), or with ``fill`` values interpolated from their neighbours; the
    returned mask says which they are. Also returns the box's FLAGS in the `SPHEREX_FLAGS` layout.
    """
    x0, x1, y0, y1 = box
    data = image.image[y0:y1, x0:x1].astype(float)
    variance = image.variance[y0:y1, x0:x1].astype(float)
    flags = image.flags[y0:y1, x0:x1]
    bits = flag_bits(image.flags_header, source=f"{image.path} FLAGS")
    if not np.isfinite(data).any():
        raise DataFormatError(f"{image.path}: IMAGE has no finite pixel in the box x {x0}:{x1}, y {y0}:{y1} (all NaN)")
    bad = bad_pixel_mask(flags, bits, bad_names) | ~np.isfinite(data) | ~np.isfinite(variance)
    bg_bad = bad_pixel_mask(flags, bits, background_names) | bad
    data, _ = subtract_background(data, bg_bad, box=bkg_box, filter_size=bkg_filter)
    if fill and bad.any() and not bad.all():
        data, variance = fill_masked(data, bad), fill_masked(variance, bad)
    else:
        data = np.where(bad, 0.0, data)
        variance = np.where(bad, 0.0, variance)
    origin = (image.parent_origin[0] + x0, image.parent_origin[1] + y0)
    omega_box = solid_angle_at(omega, origin, data.shape)
    return data, variance, bad, omega_box, canonical_flags(flags, bits)


def require_planes(image, label=""):
    """Raise `DataFormatError` naming the file (and ``label``) if it lacks FLAGS or VARIANCE."""
    missing = [hdu for hdu, plane in (("FLAGS", image.flags), ("VARIANCE", image.variance)) if plane is None]
    if missing:
        raise DataFormatError(f"{image.path}{label}: missing HDU(s) {', '.join(missing)}; a difference needs "
                              "IMAGE, FLAGS and VARIANCE")


def visit_info(image, ra, dec):
    """What a difference records of one input image: file, detector, exposure, time, wavelength and bandwidth at
    (ra, dec), and the PSF FWHM (its ``PSF_FWHM`` card, else the detector's typical value)."""
    x, y = image.wcs.all_world2pix([[ra, dec]], 0)[0]
    lam, band = image.wavelength(x, y)
    return {"path": image.path, "detector": image.detector, "obs_id": image.obs_id, "expid": image.expid,
            "mjd": image.mjd, "wavelength_um": float(lam), "bandwidth_um": float(band),
            "psf_fwhm_arcsec": float(image.header.get("PSF_FWHM", DETECTORS[image.detector].psf_fwhm_arcsec))}


def resample_onto(image, omega, ref_wcs, ref_shape, omega_ref, *, background_margin, detection_flags,
                  background_flags, bkg_box, bkg_filter):
    """An image on the reference grid in µJy per pixel: ``(value, variance, bad_fraction, footprint, flags)``.

    The image is cut around the grid with ``background_margin``, masked and background-subtracted there, its masked
    pixels interpolated over, resampled as surface brightness (with the fraction of each output pixel that came
    from masked pixels, and the footprint) and converted with the grid's solid angles ``omega_ref``; its FLAGS are
    OR-mapped onto the grid.
    """
    box = bounding_box(image.wcs, image.shape, ref_wcs, ref_shape, margin=background_margin)
    data, var, bad, _, flags = _prepared(image, omega, box, detection_flags, background_flags, bkg_box, bkg_filter,
                                         fill=True)
    wcs = image.wcs[box[2]:box[3], box[0]:box[1]]
    (planes,), footprint = reproject_onto([np.stack([data, var, bad.astype(float)])], wcs, ref_wcs, ref_shape)
    value, variance, bad_fraction = planes
    factor = flux_per_pixel_factor(image.bunit, omega_ref, source=image.path)
    return (value * factor, variance * factor**2, bad_fraction, footprint[0],
            flags_onto(flags, wcs, ref_wcs, ref_shape))


def reference_box(image, omega, ra, dec, size, margin):
    """The grid of a difference: ``size`` pixels of ``image`` around (ra, dec), which must fit with ``margin``
    around it. Returns its WCS, shape and solid angles (arcsec², at the image's parent pixels)."""
    x0, x1, y0, y1 = cut_box(image.wcs, image.shape, ra, dec, size, margin=margin)
    box = (x0 + margin, x0 + margin + size, y0 + margin, y0 + margin + size)
    ref_wcs, ref_shape = reference_grid(image.wcs, box)
    origin = (image.parent_origin[0] + box[0], image.parent_origin[1] + box[2])
    return ref_wcs, ref_shape, solid_angle_at(omega, origin, ref_shape)


def reference_planes(image, omega, ra, dec, size, margin, detection_flags, background_flags, bkg_box, bkg_filter,
                     *, keep=0):
    """The reference image on its own pixels of the grid (`reference_box`), in µJy per pixel: value and variance
    (background-subtracted over the box with its margin; 0 where masked), the mask, and FLAGS (`SPHEREX_FLAGS`
    layout). ``keep`` pixels of the margin (at most ``margin``) are kept on each side: a source at the edge of the
    box then has its whole PSF there, for its position."""
    box = cut_box(image.wcs, image.shape, ra, dec, size, margin=margin)
    value, variance, bad, omega_box, flags = _prepared(image, omega, box, detection_flags, background_flags,
                                                       bkg_box, bkg_filter)
    keep = min(int(keep), margin)
    inner = (slice(margin - keep, margin + size + keep), slice(margin - keep, margin + size + keep))
    factor = flux_per_pixel_factor(image.bunit, omega_box[inner], source=image.path)
    return value[inner] * factor, variance[inner] * factor**2, bad[inner], flags[inner]


def difference_image(image_a, image_b, omega_a, omega_b, ra, dec, *, size, background_margin, detection_flags,
                     background_flags, bkg_box, bkg_filter, bad_fraction_limit):
    """Difference image ``A - B`` of a box around (ra, dec) on B's grid.

    Parameters
    ----------
    image_a, image_b : `~spherex_sdt.io.SpectralImage`
        Level-2 images (full frames or large cutouts) with FLAGS and VARIANCE, in MJy/sr.
    omega_a, omega_b : 2D ndarray
        Full-detector solid-angle maps (arcsec²) of A's and B's detectors.
    ra, dec : float
        Box centre (deg).
    size : int
        Side of the output box in B pixels.
    background_margin : int
        Extra pixels on each side used for the background estimate, then discarded.
    detection_flags, background_flags : sequence of str
        FLAGS names masked in the difference (for detection) and for the background estimate.
    bkg_box, bkg_filter : int
        sep mesh size and filter size.
    bad_fraction_limit : float
        An output pixel is masked when more than this fraction of its area comes from bad A pixels (those are
        interpolated over before A is resampled).
    """
    for name, img in (("image_a", image_a), ("image_b", image_b)):
        require_planes(img, f" ({name})")
    # B: the reference grid, cut with a margin for its background
    ref_wcs, ref_shape, omega_ref = reference_box(image_b, omega_b, ra, dec, size, background_margin)
    b_ujy, var_b, bad_b, flags_b = reference_planes(image_b, omega_b, ra, dec, size, background_margin,
                                                    detection_flags, background_flags, bkg_box, bkg_filter)
    # A: cut what covers the reference grid (plus margin), reprojected as surface brightness, in µJy per pixel with
    # B's solid angles at B's parent pixels
    a_ujy, var_a_ujy, bad_frac, footprint, flags_a = resample_onto(
        image_a, omega_a, ref_wcs, ref_shape, omega_ref, background_margin=background_margin,
        detection_flags=detection_flags, background_flags=background_flags, bkg_box=bkg_box, bkg_filter=bkg_filter)
    var = var_a_ujy + var_b

    mask = np.zeros(ref_shape, np.uint8)
    mask[~(bad_frac <= bad_fraction_limit)] |= MASK_BAD_A
    mask[bad_b] |= MASK_BAD_B
    mask[~(footprint >= 0.99)] |= MASK_NO_COVERAGE
    diff = np.where(mask == 0, a_ujy - b_ujy, np.nan)
    info = {tag: visit_info(img, ra, dec) for tag, img in (("A", image_a), ("B", image_b))}
    bad_a, bad_b = (mask & (MASK_BAD_A | MASK_NO_COVERAGE)) != 0, (mask & MASK_BAD_B) != 0
    return DifferenceImage(
        difference=diff.astype(np.float32),
        variance=np.where(mask == 0, var, np.nan).astype(np.float32),
        image_a=np.where(bad_a, np.nan, a_ujy).astype(np.float32),
        image_b=np.where(bad_b, np.nan, b_ujy).astype(np.float32),
        variance_a=np.where(bad_a, np.nan, var_a_ujy).astype(np.float32),
        variance_b=np.where(bad_b, np.nan, var_b).astype(np.float32),
        mask=mask,
        flags_a=flags_a,
        flags_b=flags_b.astype(np.int32),
        wcs=ref_wcs,
        info=info,
    )
