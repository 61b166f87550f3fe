"""Difference images: pair choice, calibration, reprojection, and both-sign detection of an injected red source."""

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
import astropy.units as u

from spherex_sdt.archive import LocalArchive
from spherex_sdt.errors import NoCoverageError
from spherex_sdt.extraction import extract_both_signs
from spherex_sdt.imaging import difference_image
from spherex_sdt.imaging.pairs import choose_pair
from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.simulate.archive import sapm_key

from ..conftest import ROOT, SMALL, TARGET, config_section

FLAGS = config_section("flags")
DEFAULTS = config_section("difference")

SEX = ROOT / "config" / "sextractor"
SIZE, MARGIN = 32, 16


def _pair(root, index, a, b):
    table = LocalArchive(root, "spherex_qr2").search_images(TARGET["ra_deg"], TARGET["dec_deg"], 50 / 3600)
    margin = (SIZE // 2 + MARGIN + 2) * 6.15 / 3600
    return choose_pair(table, a, b, TARGET["ra_deg"], TARGET["dec_deg"], margin_deg=margin)


def test_same_exposure_pairs_are_preferred(small_archive):
    root, index, _ = small_archive
    row_a, row_b, rule = _pair(root, index, 2, 5)
    assert rule == "same exposure" and row_a["obs_id"] == row_b["obs_id"]
    row_a, row_b, rule = _pair(root, index, 2, 4)  # never simultaneous: nearest in time
    assert rule.startswith("nearest in time") and row_a["obs_id"] != row_b["obs_id"]
    table = LocalArchive(root, "spherex_qr2").search_images(TARGET["ra_deg"], TARGET["dec_deg"], 50 / 3600)
    mjd_a = table["mjd"][table["detector"] == 2]
    mjd_b = table["mjd"][table["detector"] == 4]
    best = np.min(np.abs(mjd_a[:, None] - mjd_b[None, :]))
    assert abs(row_a["mjd"] - row_b["mjd"]) == pytest.approx(best)


def test_no_coverage_is_reported(small_archive):
    root, index, _ = small_archive
    table = LocalArchive(root, "spherex_qr2").search_images(TARGET["ra_deg"], TARGET["dec_deg"], 50 / 3600)
    with pytest.raises(NoCoverageError, match="no D2 image contains"):
        choose_pair(table, 2, 4, TARGET["ra_deg"] + 1.0, TARGET["dec_deg"], margin_deg=0.01)


@pytest.fixture(scope="module", name="difference")
def fixture_difference(small_archive):
    root, index, _ = small_archive
    row_a, row_b, _ = _pair(root, index, 2, 4)
    a, b = read_spectral_image(root / row_a["key"]), read_spectral_image(root / row_b["key"])
    return difference_image(
        a, b, read_solid_angle_map(root / sapm_key(SMALL, 2)), read_solid_angle_map(root / sapm_key(SMALL, 4)),
        TARGET["ra_deg"], TARGET["dec_deg"], size=SIZE, background_margin=MARGIN,
        detection_flags=FLAGS["detection_bad"], background_flags=FLAGS["background_bad"], bkg_box=16,
        bkg_filter=DEFAULTS["background_filter"], bad_fraction_limit=DEFAULTS["bad_fraction_limit"],
    )


def test_difference_noise_model(difference):
    """Away from sources the S/N image is unit-normal-ish; the variance is not ignored."""
    d = difference
    assert d.difference.shape == (SIZE, SIZE) and d.mask.shape == (SIZE, SIZE)
    snr = d.snr[np.isfinite(d.snr)]
    core = snr[np.abs(snr) < 5]
    q16, q84 = np.percentile(core, [16, 84])
    # reprojection correlates pixels and the reprojected variance is an average: the width sits below 1
    assert 0.5 < (q84 - q16) / 2 < 1.2
    assert d.info["A"]["detector"] == 2 and d.info["B"]["detector"] == 4
    assert 1.10 < d.info["A"]["wavelength_um"] < 1.65 and 2.40 < d.info["B"]["wavelength_um"] < 3.85


def test_red_source_is_found_negative(difference, small_archive):
    _, _, truth = small_archive
    d = difference
    header = d.wcs.to_header(relax=True)
    catalog = extract_both_signs(np.nan_to_num(d.difference), np.nan_to_num(d.variance, nan=np.inf), d.mask, header,
                                 config=SEX / "default.sex", parameters=SEX / "default.param",
                                 filter_kernel=SEX / "default.conv")
    assert len(catalog) > 0 and set(catalog["sign"]) <= {-1, 1}
    red = truth[0]
    assert red["kind"] == "red"
    x, y = d.wcs.all_world2pix([[red["ra"], red["dec"]]], 0)[0]
    dist = np.hypot(catalog["XWIN_IMAGE"] - 1 - x, catalog["YWIN_IMAGE"] - 1 - y)
    best = int(np.argmin(dist))
    assert dist[best] < 1.0  # the issue asks for 1 px
    assert catalog["sign"][best] == -1 and catalog["FLUX_AUTO"][best] < 0
    # every negative detection with S/N > 10 is a red injected source (stars are positive in D2 - D4)
    world = d.wcs.all_pix2world(np.c_[catalog["XWIN_IMAGE"] - 1, catalog["YWIN_IMAGE"] - 1], 0)
    pos = SkyCoord(world[:, 0] * u.deg, world[:, 1] * u.deg)
    idx, sep, _ = pos.match_to_catalog_sky(SkyCoord(truth["ra"], truth["dec"]))
    strong_negative = (catalog["sign"] == -1) & (np.abs(catalog["FLUX_AUTO"] / catalog["FLUXERR_AUTO"]) > 10)
    assert np.all(np.asarray(truth["kind"])[idx[strong_negative]] == "red")
    assert np.all(sep.arcsec[strong_negative] < 6.15)


def test_clean_pair_difference_equals_before_issue_17():
    """Where no artefact is present, today's difference is the one main made before issue 17 (2ecea0d).

    ``tests/data/clean-pair`` holds a simulated D2/D4 pair with no per-exposure artefacts (only the permanent
    NONFUNC, FULLSAMPLE defects) and the difference main computed from it; pixels away from any masked pixel
    must agree to float32 precision.
    """
    from astropy.io import fits
    from scipy.ndimage import binary_dilation

    data = ROOT / "tests" / "data" / "clean-pair"
    a, b = read_spectral_image(data / "image_A.fits"), read_spectral_image(data / "image_B.fits")
    result = difference_image(a, b, read_solid_angle_map(data / "solid_angle_A.fits"),
                              read_solid_angle_map(data / "solid_angle_B.fits"), 35.0, -4.5, size=40,
                              background_margin=16, detection_flags=FLAGS["detection_bad"],
                              background_flags=FLAGS["background_bad"], bkg_box=16, bkg_filter=3,
                              bad_fraction_limit=DEFAULTS["bad_fraction_limit"])
    with fits.open(data / "expected_difference.fits") as hdul:
        expected, variance, mask = (hdul[n].data for n in ("DIFFERENCE", "VARIANCE", "MASK"))
    away = ~binary_dilation((mask != 0) | (result.mask != 0), structure=np.ones((3, 3)))
    assert away.mean() > 0.95
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(result.difference[away], expected[away], rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(result.variance[away], variance[away], rtol=1e-6)
