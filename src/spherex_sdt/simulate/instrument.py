"""Simulated instrument: wavelength maps, solid-angle maps, PSFs, SIP distortion, noise and bad pixels.

Everything is a pure function of the detector number, the detector size and a seed, so that every exposure of a
detector shares one calibration, as on the real instrument.
"""

import numpy as np
from scipy.special import erf

from ..calibration.spectral import wave_table_bilinear
from ..detectors import DETECTORS

__all__ = [
    "wave_table",
    "wavelength_model",
    "spectral_wcs_maps",
    "true_wavelength",
    "solid_angle_map",
    "psf_fwhm_arcsec",
    "HALO_FRACTION",
    "HALO_WIDTH",
    "render_point_source",
    "psf_cube",
    "sip_coefficients",
    "zodi_level",
]

HALO_FRACTION = 0.08
"""Share of a point source's flux in a broad halo (a real SPHEREx PSF has wings; apertures miss some flux)."""
HALO_WIDTH = 3.5
"""Halo FWHM in units of the core FWHM."""


def wave_table(detector, size, *, grid=None):
    """WCS-WAVE control points and values for a simulated detector.

    Wavelength falls with y (row 0 is the longest), log-linearly from ``em_max`` to ``em_min`` as for a linear
    variable filter of constant resolving power, with a 0.3 % gradient along x as on the real detectors.
    Bandwidth is λ/R.

    Returns
    -------
    x_points, y_points : int ndarray
        1-based parent pixel positions of the control points.
    values : float32 ndarray, shape (m, n, 2)
        ``[iy, ix, k]`` with k = 0 wavelength, 1 bandwidth (µm); the layout of ``VALUES[0]``.
    """
    det = DETECTORS[int(detector)]
    n = int(grid or det.wave_grid)
    pts = np.unique(np.round(np.linspace(1, size, n)).astype(np.int32))
    xx, yy = np.meshgrid(pts, pts)  # [iy, ix]
    lam, band = wavelength_model(detector, size, xx - 1, yy - 1)
    values = np.stack([lam, band], axis=-1).astype(np.float32)
    return pts, pts.copy(), values


def wavelength_model(detector, size, x, y):
    """The simulated instrument's wavelength and bandwidth (µm) at 0-based full-frame pixels ``(x, y)``.

    The analytic model the WCS-WAVE table samples at its control points (`wave_table`) and the per-pixel
    ``spectral_wcs`` calibration images hold (`spectral_wcs_maps`): log-linear in y from ``em_max`` (row 0) to
    ``em_min``, with a 0.3 % fall along x as on the real D5 frame, and bandwidth λ/R.
    """
    det = DETECTORS[int(detector)]
    frac_y = np.asarray(y, float) / max(size - 1, 1)
    frac_x = np.asarray(x, float) / max(size - 1, 1)
    lam = det.em_max_um * (det.em_min_um / det.em_max_um) ** frac_y
    lam = lam * (1.0 - 0.003 * frac_x)
    return lam, lam / det.resolving_power


def spectral_wcs_maps(detector, size):
    """Per-pixel ``CWAVE`` and ``CBAND`` images (µm, float32, ``[y, x]``) of the ``spectral_wcs`` calibration."""
    yy, xx = np.mgrid[0:size, 0:size]
    lam, band = wavelength_model(detector, size, xx, yy)
    return lam.astype(np.float32), band.astype(np.float32)


def true_wavelength(table, x, y):
    """Wavelength and bandwidth (µm) at 0-based full-frame pixels as the WCS-WAVE table describes them (bilinear).

    This is what a reader of the table should get; the sky itself is rendered at `wavelength_model`, which the
    table samples on a coarse grid (as the real table samples the instrument).
    """
    x_points, y_points, values = table
    return wave_table_bilinear(x_points, y_points, values, 1.0, 1.0, x, y)


def solid_angle_map(detector, size):
    """Solid angle of each pixel (arcsec²): the detector's OMEGA_MEDIAN with a smooth ±0.5 % distortion pattern."""
    det = DETECTORS[int(detector)]
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1) - 0.5
    pattern = 0.6 * (xx**2 + yy**2) - 0.15 + 0.08 * xx * (1 + det.number % 3) - 0.05 * yy
    return (det.omega_median_arcsec2 * (1.0 + 0.01 * pattern)).astype(np.float32)


def psf_fwhm_arcsec(detector, wavelength_um):
    """Core FWHM at a wavelength: the detector's median FWHM, growing slowly with λ across the band."""
    det = DETECTORS[int(detector)]
    mid = 0.5 * (det.em_min_um + det.em_max_um)
    return det.psf_fwhm_arcsec * (np.asarray(wavelength_um, float) / mid) ** 0.3


def _pixel_integrated_gaussian(centre, sigma, lo, hi):
    """Fraction of a 1-D Gaussian falling in each pixel [i - 0.5, i + 0.5], i = lo..hi-1."""
    edges = np.arange(lo, hi + 1) - 0.5
    cdf = 0.5 * (1 + erf((edges - centre) / (np.sqrt(2) * sigma)))
    return np.diff(cdf)


def render_point_source(shape, x, y, flux, fwhm_px, *, halo_fraction=HALO_FRACTION, halo_width=HALO_WIDTH):
    """Add nothing; return (slices, stamp): the pixel-integrated PSF times ``flux`` around 0-based (x, y).

    The PSF is a Gaussian core plus a broad Gaussian halo, integrated exactly over each pixel.
    Returns None when the stamp falls entirely off the image.
    """
    ny, nx = shape
    half = int(np.ceil(4 * halo_width * fwhm_px)) + 2
    x0, x1 = max(int(np.floor(x)) - half, 0), min(int(np.floor(x)) + half + 1, nx)
    y0, y1 = max(int(np.floor(y)) - half, 0), min(int(np.floor(y)) + half + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return None
    stamp = np.zeros((y1 - y0, x1 - x0))
    for frac, width in ((1 - halo_fraction, 1.0), (halo_fraction, halo_width)):
        sigma = width * fwhm_px / 2.3548200450309493
        gx = _pixel_integrated_gaussian(x, sigma, x0, x1)
        gy = _pixel_integrated_gaussian(y, sigma, y0, y1)
        stamp += frac * np.outer(gy, gx)
    return (slice(y0, y1), slice(x0, x1)), flux * stamp


def psf_cube(detector, size, *, zones=11, stamp=101, oversample=10, pixel_scale=6.15):
    """Oversampled PSF cube with one plane per zone and the zone-centre header cards.

    Zones tile the detector ``zones`` × ``zones``, x-fast (plane k0 = iy * zones + ix), each plane the PSF at the
    wavelength of its zone centre, normalised to unit sum. Returns ``(cube, cards)`` where ``cards`` is a list of
    ``(keyword, value, comment)``.
    """
    cube = np.zeros((zones * zones, stamp, stamp), np.float32)
    width = size / zones
    # as on real QR2 headers: 93.227, 278.682, 464.136, ... for 2040 px, the first zone 1 px wider
    centres = (np.arange(zones) + 0.5) * width + 0.5
    widths = np.where(np.arange(zones) == 0, width + 1, width)
    c = (stamp - 1) / 2.0
    cards = [
        ("WCSAXES", 2, "Number of coordinate axes"),
        ("CRPIX1", c + 1, "Pixel coordinate of reference point"),
        ("CRPIX2", c + 1, "Pixel coordinate of reference point"),
        ("CDELT1", round(pixel_scale / oversample, 6), "[arcsec] Coordinate increment"),
        ("CDELT2", round(pixel_scale / oversample, 6), "[arcsec] Coordinate increment"),
        ("CUNIT1", "arcsec", "Units of coordinate increment and value"),
        ("CUNIT2", "arcsec", "Units of coordinate increment and value"),
        ("CTYPE1", "XANG", ""),
        ("CTYPE2", "YANG", ""),
        ("CRVAL1", 0.0, ""),
        ("CRVAL2", 0.0, ""),
        ("OVERSAMP", oversample, "PSF oversampling factor"),
    ]
    for iy in range(zones):
        for ix in range(zones):
            k0 = iy * zones + ix
            lam = wavelength_model(detector, size, centres[ix], centres[iy])[0]
            fwhm = psf_fwhm_arcsec(detector, lam) / pixel_scale * oversample
            plane = np.zeros((stamp, stamp))
            for frac, w in ((1 - HALO_FRACTION, 1.0), (HALO_FRACTION, HALO_WIDTH)):
                sigma = w * fwhm / 2.3548200450309493
                g = _pixel_integrated_gaussian(c, sigma, 0, stamp)
                plane += frac * np.outer(g, g)
            cube[k0] = plane / plane.sum()
            k = k0 + 1
            cards += [
                (f"XCTR_{k}", round(float(centres[ix]), 4), f"Center of x zone ({ix}, {iy})"),
                (f"YCTR_{k}", round(float(centres[iy]), 4), f"Center of y zone ({ix}, {iy})"),
                (f"XWID_{k}", round(float(widths[ix]), 4), f"Width of x zone ({ix}, {iy})"),
                (f"YWID_{k}", round(float(widths[iy]), 4), f"Width of y zone ({ix}, {iy})"),
            ]
    return cube, cards


def sip_coefficients(order=3):
    """Forward SIP coefficients (pixels) like those of a real QR1 frame, and a fitted inverse.

    Returns
    -------
    a, b, ap, bp : dict
        ``{(p, q): coefficient}`` for the A, B (pixel to intermediate) and AP, BP (inverse) polynomials.
    """
    a = {(0, 0): 0.384454, (0, 1): -9.528e-06, (0, 2): -1.4208e-06, (1, 0): 4.01549e-04, (1, 1): 4.1696e-06,
         (2, 0): -1.6122e-06, (0, 3): 1.2457e-11, (1, 2): 6.521e-10, (2, 1): -1.2559e-10, (3, 0): 5.398e-10}
    b = {(0, 0): -1.186104, (0, 1): -4.19956e-04, (0, 2): 1.98701e-06, (1, 0): 5.54021e-05, (1, 1): -6.9277e-07,
         (2, 0): 6.6768e-06, (0, 3): 4.3215e-10, (1, 2): -7.963e-11, (2, 1): 6.3367e-10, (3, 0): -3.437e-11}
    # fit the inverse polynomials on a grid covering a full 2040 px detector
    g = np.linspace(-1020, 1020, 41)
    uu, vv = [m.ravel() for m in np.meshgrid(g, g)]
    terms = [(p, q) for p in range(order + 1) for q in range(order + 1 - p)]
    du = sum(c * uu**p * vv**q for (p, q), c in a.items())
    dv = sum(c * uu**p * vv**q for (p, q), c in b.items())
    up, vp = uu + du, vv + dv
    design = np.stack([up**p * vp**q for p, q in terms], axis=1)
    ap = dict(zip(terms, np.linalg.lstsq(design, -du, rcond=None)[0]))
    bp = dict(zip(terms, np.linalg.lstsq(design, -dv, rcond=None)[0]))
    return a, b, ap, bp


def zodi_level(wavelength_um):
    """Zodiacal surface brightness (MJy/sr) at high ecliptic latitude, a smooth function of λ."""
    lam = np.asarray(wavelength_um, float)
    return 0.12 + 0.30 * np.exp(-(((lam - 1.2) / 0.9) ** 2)) + 0.25 * (lam / 5.0) ** 4
