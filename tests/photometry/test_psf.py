"""PSF cube handling: zone choice, the header-ordering fix for old pipeline versions, pixel integration."""

import numpy as np
import pytest
from astropy.io import fits

from spherex_sdt.io.spectral_image import fix_psf_zone_order, needs_psf_fix, psf_zone_centres
from spherex_sdt.photometry import pixelated_psf, psf_plane_for
from spherex_sdt.simulate import instrument


def _header(cards):
    header = fits.Header()
    for key, value, comment in cards:
        header[key] = (value, comment)
    return header


@pytest.mark.parametrize(("version", "expected"), [
    ("6.2.0.post8+g4d8e2ad", True), ("6.2.1", True), ("6.5.5", True), ("6.4+psffix1", False), ("6.5.6", False),
    ("7.0", False), ("not-a-version", False),
])
def test_which_versions_need_the_fix(version, expected):
    assert needs_psf_fix(version) is expected


def test_zone_cards_are_reordered_x_fast():
    n, size = 11, 2040
    _, cards = instrument.psf_cube(1, size, zones=n, stamp=11)
    good = _header(cards)
    # the old pipelines wrote the zone cards y-fast: card k0 described zone (ix, iy) = (k0 div n, k0 mod n)
    bad = good.copy()
    for k0 in range(n * n):
        ix, iy = k0 // n, k0 % n
        src = iy * n + ix + 1
        for key in ("XCTR", "YCTR", "XWID", "YWID"):
            bad[f"{key}_{k0 + 1}"] = (good[f"{key}_{src}"], good.comments[f"{key}_{src}"])
    assert not np.allclose(psf_zone_centres(bad, n * n), psf_zone_centres(good, n * n))
    fixed = fix_psf_zone_order(bad, n * n)
    np.testing.assert_array_equal(psf_zone_centres(fixed, n * n), psf_zone_centres(good, n * n))
    assert fixed["PSFFIXED"] is True
    # zone 2 of the real QR2 example: (278.682, 93.227), x-fast
    assert fixed["XCTR_2"] > fixed["XCTR_1"] and fixed["YCTR_2"] == fixed["YCTR_1"]


def test_nearest_zone_matches_the_real_example():
    """spherex-data.md §9: parent (223.17, 2007.35) is in zone 112, 81.4 px from its centre."""
    size = 2040
    cube, cards = instrument.psf_cube(3, size, zones=11, stamp=11)
    header = _header(cards)
    assert header["XCTR_1"] == pytest.approx(93.227, abs=1e-3) and header["XCTR_2"] == pytest.approx(278.682, abs=1e-3)
    assert header["XWID_1"] == pytest.approx(186.45, abs=1e-2) and header["XWID_2"] == pytest.approx(185.45, abs=1e-2)
    _, zone, oversample = psf_plane_for(cube, header, 223.17, 2007.35)
    assert zone == 112 and oversample == 10
    centre = psf_zone_centres(header, cube.shape[0])[zone - 1]
    assert np.hypot(centre[0] - 223.17, centre[1] - 2007.35) == pytest.approx(81.4, abs=0.1)


@pytest.mark.parametrize(("x", "y"), [(20.0, 20.0), (20.3, 19.55), (19.9, 20.45)])
def test_pixelated_psf_matches_exact_integration(x, y):
    """Integrating the oversampled plane over pixels gives the exactly pixel-integrated PSF."""
    cube, cards = instrument.psf_cube(2, 2040, zones=1, stamp=101)  # one zone: the PSF at the detector centre
    header = _header(cards)
    assert header["OVERSAMP"] == 10
    lam = instrument.wavelength_model(2, 2040, header["XCTR_1"], header["YCTR_1"])[0]
    fwhm_px = float(instrument.psf_fwhm_arcsec(2, lam)) / 6.15
    pix = pixelated_psf(cube[0], 10, x, y, (41, 41))
    slices, values = instrument.render_point_source((41, 41), x, y, 1.0, fwhm_px)
    expected = np.zeros((41, 41))
    expected[slices] = values
    assert pix.sum() == pytest.approx(expected.sum(), abs=2e-3)  # the 101-sample stamp holds all but the far halo
    np.testing.assert_allclose(pix, expected, atol=3e-3)
