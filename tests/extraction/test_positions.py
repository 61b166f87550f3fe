"""Catalogue positions are fitted on the reference image's own pixels, which reach beyond the box: a source at the
edge of the box is fitted whole."""

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS
from scipy.special import erf

from spherex_sdt.extraction.catalogs import add_positions


def _pixelated_gaussian(shape, x0, y0, flux, sigma):
    """A Gaussian source integrated over each pixel (0-based centres)."""
    def edges(n, c):
        e = (np.arange(n + 1) - 0.5 - c) / (np.sqrt(2) * sigma)
        return 0.5 * np.diff(erf(e))

    return flux * np.outer(edges(shape[0], y0), edges(shape[1], x0))


def _wcs(crpix):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150.0, 2.0], crpix, [-6.15 / 3600, 6.15 / 3600]
    return wcs


def test_a_source_at_the_box_edge_is_fitted_on_the_margin():
    size, margin = 40, 8
    rng = np.random.default_rng(3)
    truths = [(0.4, 20.3), (39.2, 7.6), (18.7, 0.9), (20.2, 19.6)]  # box pixels: three at an edge, one inside
    big = np.zeros((size + 2 * margin,) * 2)  # a 1.53 px FWHM PSF (D4-D6 are ~1 px)
    for x, y in truths:
        big += _pixelated_gaussian(big.shape, x + margin, y + margin, 2000.0, 0.65)
    variance = np.full(big.shape, 4.0)
    big += rng.normal(0, 2.0, big.shape)
    # start positions as a windowed centroid of the cut box would give them, 0.2 px off
    starts = [(x + 0.2, y - 0.15) for x, y in truths]
    wcs = _wcs([20.5, 20.5])

    def positions(image, var, m):
        catalog = Table({"id": np.arange(1, len(truths) + 1), "XWIN_IMAGE": [s[0] + 1 for s in starts],
                         "YWIN_IMAGE": [s[1] + 1 for s in starts]})
        add_positions(catalog, wcs, image, var, margin=m, fwhm=0.65 * 2.3548)
        return catalog

    with_margin = positions(big, variance, margin)
    assert list(with_margin["position_method"]) == ["psf-fit"] * 4
    np.testing.assert_allclose(np.c_[with_margin["x"], with_margin["y"]], truths, atol=0.02)
    # the same image cut to the box: the edge sources keep their starts
    box = (slice(margin, margin + size),) * 2
    cut = positions(big[box], variance[box], 0)
    assert list(cut["position_method"]) == ["windowed"] * 3 + ["psf-fit"]
    np.testing.assert_allclose(cut["x"][3], truths[3][0], atol=0.02)
    # the sky positions follow the box's grid either way
    ra, dec = wcs.all_pix2world([list(t) for t in truths], 0).T
    np.testing.assert_allclose(with_margin["ra"], ra, atol=0.02 * 6.15 / 3600)
    np.testing.assert_allclose(with_margin["dec"], dec, atol=0.02 * 6.15 / 3600)
