"""The readers on real QR1 Level-2 cutouts of NGC 6888 (IMAGE + WCS-WAVE only)."""

import numpy as np
import pytest
from astropy.io import fits

from spherex_sdt.calibration import wave_table_bilinear, wavelength_at
from spherex_sdt.errors import DataFormatError
from spherex_sdt.io import read_spectral_image

from ..conftest import REAL

CUTOUTS = sorted((REAL / "qr1-ngc6888-cutouts").glob("*.fits"))


def test_there_are_real_cutouts():
    assert len(CUTOUTS) >= 20


@pytest.mark.parametrize("path", CUTOUTS, ids=[p.name[27:57] for p in CUTOUTS])
def test_wavelength_at_centre_matches_independent_bilinear(path):
    image = read_spectral_image(path)
    table = fits.getdata(path, "WCS-WAVE")
    ny, nx = image.shape
    xc, yc = (nx - 1) / 2, (ny - 1) / 2
    lam, band = wavelength_at(image.spectral_wcs, xc, yc)
    ref_lam, ref_band = wave_table_bilinear(table["X"][0], table["Y"][0], table["VALUES"][0],
                                            image.header["CRPIX1W"], image.header["CRPIX2W"], xc, yc)
    assert lam == pytest.approx(float(ref_lam), abs=1e-4)
    assert band == pytest.approx(float(ref_band), abs=1e-4)
    # the reader's direct table evaluation (what the pipeline uses) equals astropy's WAVE-TAB evaluation
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-0.5, nx - 0.5, 20), rng.uniform(-0.5, ny - 0.5, 20)
    direct = image.wavelength(x, y)
    via_astropy = wavelength_at(image.spectral_wcs, x, y)
    np.testing.assert_allclose(direct[0], via_astropy[0], atol=1e-10)
    np.testing.assert_allclose(direct[1], via_astropy[1], atol=1e-10)
    # the centre wavelength lies in the detector's band (spherex-data.md §2)
    lo, hi = {1: (0.74, 1.12), 2: (1.09, 1.66), 3: (1.62, 2.44), 4: (2.40, 3.85), 5: (3.80, 4.44), 6: (4.40, 5.01)}[
        image.detector]
    assert lo <= lam <= hi


@pytest.mark.parametrize("path", CUTOUTS[:5], ids=[p.name[27:57] for p in CUTOUTS[:5]])
def test_parent_offsets_and_crpix_rule(path):
    image = read_spectral_image(path)
    h = image.header
    assert image.parent_origin == (1 - int(h["CRPIX1A"]), 1 - int(h["CRPIX2A"]))
    assert h["CRPIX1"] == 1019.5 + h["CRPIX1A"] and h["CRPIX2"] == 1019.5 + h["CRPIX2A"]


def test_real_cutouts_lack_flags_and_variance():
    with pytest.raises(DataFormatError, match="missing HDU.*FLAGS"):
        read_spectral_image(CUTOUTS[0], require=("IMAGE", "FLAGS", "VARIANCE"))
    image = read_spectral_image(CUTOUTS[0])
    assert image.flags is None and image.version.startswith("6.2")
    assert np.isfinite(image.mjd) and image.obs_id


@pytest.mark.parametrize("path", CUTOUTS[:6], ids=[p.name[27:57] for p in CUTOUTS[:6]])
def test_fast_spatial_wcs_equals_astropy_header_wcs(path):
    """The TAN-SIP WCS built from values maps pixels to sky exactly as astropy's WCS of the whole header."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    from spherex_sdt.io.spectral_image import spatial_wcs

    header = fits.getheader(path, "IMAGE")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        reference = WCS(header)
    fast = spatial_wcs(read_spectral_image(path).header)  # the header as the pipeline reads it
    assert fast.sip is not None and fast.pixel_shape == reference.pixel_shape
    x, y = np.random.default_rng(1).uniform(-100, 2140, (2, 200))
    np.testing.assert_allclose(fast.all_pix2world(x, y, 0), reference.all_pix2world(x, y, 0), rtol=0, atol=1e-12)
    ra, dec = reference.all_pix2world(x, y, 0)
    np.testing.assert_allclose(fast.all_world2pix(ra, dec, 0), reference.all_world2pix(ra, dec, 0), rtol=0, atol=1e-9)
