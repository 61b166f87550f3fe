"""Difference of two detector images on the second detector's grid, with variance, S/N and mask.

For pair ``Da-Db`` the difference is image(Da) - image(Db) in µJy per pixel on Db's pixels. A source brighter in
Db (for D2-D4: a red, AGN-like source) is *negative*; detection must look at both signs.
"""

from dataclasses import dataclass

import numpy as np

from ..calibration.flags import bad_pixel_mask, flag_bits
from ..calibration.units import flux_per_pixel_factor, solid_angle_at
from ..errors import DataFormatError
from .background import subtract_background
from .reprojection import bounding_box, cut_box, reference_grid, reproject_onto

__all__ = ["DifferenceImage", "difference_image", "MASK_BAD_A", "MASK_BAD_B", "MASK_NO_COVERAGE"]

MASK_BAD_A = 1
MASK_BAD_B = 2
MASK_NO_COVERAGE = 4


@dataclass
class DifferenceImage:
    """Products of `difference_image`; fluxes in µJy per pixel, variances in µJy².

    ``image_a``/``variance_a`` are image A reprojected onto B's grid, ``image_b``/``variance_b`` image B, each
    background-subtracted and NaN where that image is bad.

    ``mask`` is a bit mask: 1 bad pixel in image A, 2 bad pixel in image B, 4 A does not cover the pixel.
    ``info`` records both inputs (detector, OBSID, EXPIDN, MJD, wavelength and bandwidth at the target).
    """

    difference: np.ndarray
    variance: np.ndarray
    image_a: np.ndarray
    image_b: np.ndarray
    variance_a: np.ndarray
    variance_b: np.ndarray
    mask: np.ndarray
    wcs: object
    info: dict

    @property
    def snr(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = self.difference / np.sqrt(self.variance)
        return np.where(self.mask == 0, snr, np.nan)


def _prepared(image, omega, box, bad_names, background_names, bkg_box, bkg_filter):
    """Cut, mask and background-subtract one image (in its own units, MJy/sr)."""
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
    data = np.where(bad, 0.0, data)  # bad pixels hold the local background; the mask says they are bad
    variance = np.where(bad, 0.0, variance)
    origin = (image.parent_origin[0] + x0, image.parent_origin[1] + y0)
    omega_box = solid_angle_at(omega, origin, data.shape)
    return data, variance, bad, omega_box


def difference_image(image_a, image_b, omega_a, omega_b, ra, dec, *, size=64, background_margin=32,
                     bad_flags=(), background_flags=(), bkg_box=32, bkg_filter=3, bad_fraction_limit=0.1):
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
    bad_flags, background_flags : sequence of str
        FLAGS names masked for detection and for the background estimate.
    bkg_box, bkg_filter : int
        sep mesh size and filter size.
    bad_fraction_limit : float
        An output pixel is masked when more than this fraction of its area comes from bad A pixels.
    """
    for name, img in (("image_a", image_a), ("image_b", image_b)):
        missing = [hdu for hdu, plane in (("FLAGS", img.flags), ("VARIANCE", img.variance)) if plane is None]
        if missing:
            raise DataFormatError(f"{img.path} ({name}): missing HDU(s) {', '.join(missing)}; a difference needs "
                                  "IMAGE, FLAGS and VARIANCE")
    # B: the reference grid, cut with a margin for its background
    box_b = cut_box(image_b.wcs, image_b.shape, ra, dec, size, margin=background_margin)
    b, var_b, bad_b, omega_box_b = _prepared(image_b, omega_b, box_b, bad_flags, background_flags, bkg_box,
                                             bkg_filter)
    m = background_margin
    inner = (slice(m, m + size), slice(m, m + size))
    ref_wcs, ref_shape = reference_grid(image_b.wcs, (box_b[0] + m, box_b[0] + m + size,
                                                      box_b[2] + m, box_b[2] + m + size))
    b, var_b, bad_b, omega_ref = b[inner], var_b[inner], bad_b[inner], omega_box_b[inner]

    # A: cut what covers the reference grid (plus margin), then reproject as surface brightness
    box_a = bounding_box(image_a.wcs, image_a.shape, ref_wcs, ref_shape, margin=background_margin)
    a, var_a, bad_a, _ = _prepared(image_a, omega_a, box_a, bad_flags, background_flags, bkg_box, bkg_filter)
    wcs_a = image_a.wcs[box_a[2]:box_a[3], box_a[0]:box_a[1]]
    (stack,), footprint = reproject_onto([np.stack([a, var_a, bad_a.astype(float)])], wcs_a, ref_wcs, ref_shape)
    a_ref, var_a_ref, bad_frac = stack
    footprint = footprint[0]

    # to µJy per pixel with B's solid angles at B's parent pixels
    fa = flux_per_pixel_factor(image_a.bunit, omega_ref, source=image_a.path)
    fb = flux_per_pixel_factor(image_b.bunit, omega_ref, source=image_b.path)
    a_ujy, b_ujy = a_ref * fa, b * fb
    var = var_a_ref * fa**2 + var_b * fb**2

    mask = np.zeros(ref_shape, np.uint8)
    mask[~(bad_frac <= bad_fraction_limit)] |= MASK_BAD_A
    mask[bad_b] |= MASK_BAD_B
    mask[~(footprint >= 0.99)] |= MASK_NO_COVERAGE
    diff = np.where(mask == 0, a_ujy - b_ujy, np.nan)

    info = {}
    for tag, img in (("A", image_a), ("B", image_b)):
        x, y = img.wcs.all_world2pix([[ra, dec]], 0)[0]
        lam, band = img.wavelength(x, y)
        info[tag] = {
            "path": img.path, "detector": img.detector, "obs_id": img.obs_id, "expid": img.expid,
            "mjd": img.mjd, "wavelength_um": float(lam), "bandwidth_um": float(band),
        }
    bad_a, bad_b = (mask & (MASK_BAD_A | MASK_NO_COVERAGE)) != 0, (mask & MASK_BAD_B) != 0
    return DifferenceImage(
        difference=diff.astype(np.float32),
        variance=np.where(mask == 0, var, np.nan).astype(np.float32),
        image_a=np.where(bad_a, np.nan, a_ujy).astype(np.float32),
        image_b=np.where(bad_b, np.nan, b_ujy).astype(np.float32),
        variance_a=np.where(bad_a, np.nan, var_a_ref * fa**2).astype(np.float32),
        variance_b=np.where(bad_b, np.nan, var_b * fb**2).astype(np.float32),
        mask=mask,
        wcs=ref_wcs,
        info=info,
    )
