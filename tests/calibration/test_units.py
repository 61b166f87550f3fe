"""MJy/sr to µJy with the solid-angle map sampled at the parent-detector pixels of a cutout."""

import astropy.units as u
import numpy as np
import pytest
from astropy.tests.helper import assert_quantity_allclose

from spherex_sdt.calibration import MJY_SR_TO_UJY_ARCSEC2, flux_per_pixel_factor, solid_angle_at
from spherex_sdt.calibration import surface_brightness_to_flux
from spherex_sdt.errors import UnitMismatchError


def test_conversion_constant():
    assert pytest.approx(23.50443, rel=1e-6) == MJY_SR_TO_UJY_ARCSEC2  # spherex-data.md §10
    out = surface_brightness_to_flux(np.ones((2, 2)) * u.MJy / u.sr, np.full((2, 2), 37.8) * u.arcsec**2)
    assert_quantity_allclose(out, 37.8 * 23.50443 * u.uJy, rtol=1e-6)


def test_solid_angle_sampled_at_parent_pixels():
    """The notebook's defect 5 sampled the map at the detector corner; a cutout elsewhere must see its own pixels."""
    yy, xx = np.mgrid[0:2040, 0:2040]
    omega = 37.0 + xx / 1e4 + yy / 1e3
    crpix1a, crpix2a = -1455.0, -164.0  # a real QR1 cutout's offsets
    origin = (int(1 - crpix1a), int(1 - crpix2a))
    sub = solid_angle_at(omega, origin, (6, 6))
    assert sub[0, 0] == pytest.approx(37.0 + 1456 / 1e4 + 165 / 1e3)
    assert sub[5, 5] == pytest.approx(37.0 + 1461 / 1e4 + 170 / 1e3)


def test_solid_angle_at_parent_pixels_of_a_real_cutout():
    """On a real QR1 cutout header: pixel (x, y) of the cutout takes the map at [1 - CRPIX2A + y, 1 - CRPIX1A + x]."""
    from spherex_sdt.io import read_spectral_image

    from ..conftest import REAL

    path = sorted((REAL / "qr1-ngc6888-cutouts").glob("*D4_*.fits"))[0]
    image = read_spectral_image(path)
    h = image.header
    yy, xx = np.mgrid[0:2040, 0:2040]
    omega = 37.0 + xx / 1e4 + yy / 1e3  # each parent pixel tells where it is
    sub = solid_angle_at(omega, image.parent_origin, image.shape)
    for yc in range(image.shape[0]):
        for xc in range(image.shape[1]):
            x_parent, y_parent = 1 - h["CRPIX1A"] + xc, 1 - h["CRPIX2A"] + yc
            assert sub[yc, xc] == pytest.approx(37.0 + x_parent / 1e4 + y_parent / 1e3, abs=1e-12)
    # the file's own "0-based active pixel coordinates" (WCS A) give the same parent pixel
    from astropy.wcs import WCS

    alt = WCS(h.to_header(), key="A")
    alt.sip = None  # astropy copies the primary SIP onto alternates (astropy#13105)
    np.testing.assert_allclose(alt.wcs_pix2world([[0, 0]], 0)[0], image.parent_origin)


def test_solid_angle_off_detector_is_nan():
    sub = solid_angle_at(np.ones((10, 10)), (8, -1), (4, 4))
    assert np.isnan(sub[0]).all() and np.isnan(sub[:, 2:]).all() and (sub[1:, :2] == 1).all()


def test_factor_and_units():
    factor = flux_per_pixel_factor("MJy / sr", np.array([37.8]))
    assert factor[0] == pytest.approx(37.8 * 23.50443, rel=1e-6)
    assert flux_per_pixel_factor("MJy/sr", 1.0) == pytest.approx(flux_per_pixel_factor("MJy / sr", 1.0))
    with pytest.raises(UnitMismatchError, match="uJy.*not a surface brightness"):
        flux_per_pixel_factor("uJy", 1.0, source="cut.fits")
    with pytest.raises(UnitMismatchError, match="cut.fits: BUNIT 'furlong/fortnight2x'"):
        flux_per_pixel_factor("furlong/fortnight2x", 1.0, source="cut.fits")
