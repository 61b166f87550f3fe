"""Stacked differences: every visit of each detector combined on one grid, then A - B (issue 17, item 6)."""

import numpy as np
import pytest
import sep
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from spherex_sdt.imaging.stack import combine_visits, resample_visit, stacked_difference
from spherex_sdt.imaging.difference import reference_box
from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.simulate import SimulationSettings
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.simulate.scoring import discovery_scores, expected_on_grid

from ..conftest import config_section
from .test_discovery import RA, DEC, _expected, _run

# 24 exposures: 8 visits of D2 and 8 of D4 at new rows (wavelengths) and rolls
STACKED = SimulationSettings(detector_size=256, exposures_per_target=24, margin_px=100, n_stars=25, n_red=25,
                             sky_radius_arcsec=330, seed=21)
SIZE, MARGIN = 120, 20


def _options(**changes):
    flags, diff = config_section("flags"), config_section("difference")
    return {"size": SIZE, "background_margin": MARGIN, "detection_flags": flags["detection_bad"],
            "background_flags": flags["background_bad"], "bkg_box": diff["background_box_px"],
            "bkg_filter": diff["background_filter"], "bad_fraction_limit": diff["bad_fraction_limit"], **changes}


def _combine_options():
    diff = config_section("difference")
    return {"clip_sigma": diff["stack_clip_sigma"], "flux_tolerance": diff["stack_flux_tolerance"]}


@pytest.fixture(scope="module", name="stacked")
def fixture_stacked(tmp_path_factory):
    """The crowded red field with 8 visits per detector, through the workflow's tasks with visits: all."""
    return _run(tmp_path_factory.mktemp("stacked"), STACKED, RA, DEC, size=SIZE, margin=MARGIN, visits="all")


def _visits(work):
    pair = Table.read(work / "pair.ecsv")
    used = pair[pair["used"]]
    images = {role: [read_spectral_image(p) for p in used["path"][used["role"] == role]] for role in "AB"}
    reference = read_spectral_image(used["path"][(used["role"] == "B") & used["reference"]][0])
    omegas = {d: read_solid_angle_map(work / "sim" / sapm_key(STACKED, d)) for d in (2, 4)}
    return images, reference, omegas


def test_combine_rejects_what_one_visit_alone_shows():
    rng = np.random.default_rng(1)
    n, shape = 8, (40, 40)
    sigma = rng.uniform(0.8, 1.2, n)[:, None, None] * np.ones((n, *shape))
    values = rng.normal(size=(n, *shape)) * sigma
    values[3, 10, 10] += 30.0  # a cosmic ray in visit 3
    valid = np.ones(values.shape, bool)
    valid[5, 20:25, 20:25] = False  # masked in visit 5: taken from the others
    mean, variance, coverage, rejected = combine_visits(values, sigma**2, valid, clip_sigma=4.0, flux_tolerance=0.5)
    assert abs(mean[10, 10]) < 4 * np.sqrt(variance[10, 10]) and rejected[10, 10] == 1
    assert coverage[22, 22] == n - 1 and coverage[0, 0] == n
    # pure noise: almost nothing rejected, and the mean has the inverse-variance error
    assert np.mean(rejected) < 0.005
    pull = mean / np.sqrt(variance)
    assert np.std(pull) == pytest.approx(1.0, abs=0.05)


def test_combine_keeps_a_source_whose_flux_changes_between_visits():
    """A red source seen at 8 wavelengths: its flux triples across the visits; none of its values is rejected."""
    flux = np.geomspace(100.0, 300.0, 8)[:, None, None] * np.ones((8, 3, 3))
    mean, _, coverage, rejected = combine_visits(flux, np.ones(flux.shape), np.ones(flux.shape, bool),
                                                 clip_sigma=4.0, flux_tolerance=0.5)
    assert not rejected.any() and np.all(coverage == 8)
    assert mean[1, 1] == pytest.approx(np.mean(flux[:, 1, 1]))


def test_stacked_products_and_manifest(stacked):
    pair = Table.read(stacked / "pair.ecsv")
    assert {"role", "reference", "used", "why", "path"} <= set(pair.colnames)
    for role in "AB":
        mine = pair[pair["role"] == role]
        assert np.sum(mine["used"]) == 8 and np.sum(mine["reference"]) == 1
        assert np.all(mine["why"][~mine["used"]] != "")
    assert pair.meta["visits"] == "all" and pair.meta["visits_note"] == "A: 8 visit(s) of the 16 asked; " \
                                                                         "B: 8 visit(s) of the 16 asked"
    # section cutouts, not whole frames
    assert all("/cutouts/" in p for p in pair["path"][pair["used"]])
    with fits.open(stacked / "difference.fits") as hdul:
        header = hdul[0].header
        assert header["NVISIT_A"] == 8 and header["NVISIT_B"] == 8
        assert header["VISNOTE"] == pair.meta["visits_note"] and header["NDROPPED"] == 0
        assert header["LAMMIN_A"] < header["LAM_A"] < header["LAMMAX_A"]
        assert header["LAMMAX_B"] - header["LAMMIN_B"] > 0.1  # each D4 visit sees the target at its own wavelength
        coverage = hdul["COVERAGE_A"].data
        assert coverage.max() == 8 and np.median(coverage) >= 7
        mask = hdul["MASK"].data
        # B's reference visit extends 8 px beyond the box on each side, on the same sky grid
        margin = hdul["IMAGE_REF"].header["REFMARG"]
        assert margin == 8 and hdul["IMAGE_REF"].data.shape == tuple(n + 2 * margin for n in mask.shape)
        ref_wcs, wcs = WCS(hdul["IMAGE_REF"].header), WCS(hdul["DIFFERENCE"].header)
        sky = wcs.all_pix2world([[0.0, 0.0], [SIZE - 1.0, 17.0]], 0)
        np.testing.assert_allclose(ref_wcs.all_world2pix(sky, 0), [[margin, margin], [SIZE - 1 + margin, 17 + margin]],
                                   atol=1e-6)
    assert np.mean(mask != 0) < 0.01  # a pixel masked in one visit is taken from the others


def test_fewer_visits_than_asked_and_the_cap(stacked, tmp_path):
    """visits: 3 uses the pair's images and the two visits nearest in time; the others say why not."""
    from spherex_sdt.tasks.archive import fetch_pair_images

    archive = {"backend": "local", "root": str(stacked / "sim"), "collection": "spherex_qr2"}
    fetch_pair_images(stacked / "images.ecsv", "D2-D4", RA, DEC, SIZE // 2 + MARGIN + 2, None, archive,
                      stacked / "cache", tmp_path / "pair.ecsv", visits=3, max_visits=16, box_px=SIZE, threads=1)
    pair = Table.read(tmp_path / "pair.ecsv")
    for role in "AB":
        mine = pair[pair["role"] == role]
        assert np.sum(mine["used"]) == 3
        assert set(mine["why"][~mine["used"]]) == {"beyond the limit of 3 visits"}
        ref_mjd = mine["mjd"][mine["reference"]][0]
        dt = np.abs(mine["mjd"] - ref_mjd)
        assert dt[mine["used"]].max() <= dt[~mine["used"]].min()
    assert pair.meta["visits_note"] == ""


def test_stack_noise_falls_as_one_over_sqrt_n(stacked):
    """Aperture noise of each stack within 10 % of a single visit's / sqrt(N), measured (r = 3 px sums, MAD) on
    empty sky of each visit resampled onto the grid and of the stack."""
    images, reference, omegas = _visits(stacked)
    expected, _ = _expected(stacked)
    ref_wcs, ref_shape, omega_ref = reference_box(reference, omegas[4], RA, DEC, SIZE, MARGIN)
    gy, gx = np.mgrid[8:SIZE - 8:2, 8:SIZE - 8:2]  # every other pixel: ~900 apertures, so the MAD is stable
    x, y = gx.ravel().astype(float), gy.ravel().astype(float)
    far = np.min(np.hypot(x[:, None] - np.asarray(expected["x"])[None], y[:, None] - np.asarray(expected["y"])[None]),
                 axis=1) > 8
    x, y = x[far], y[far]
    assert len(x) > 500
    with fits.open(stacked / "difference.fits") as hdul:
        stacks = {"A": hdul["IMAGE_A"].data.astype(float), "B": hdul["IMAGE_B"].data.astype(float)}

    def aperture_noise(image):
        ok = np.isfinite(image)
        flux, _, flag = sep.sum_circle(np.where(ok, image, 0.0), x, y, 3.0, mask=~ok)
        good = (flag & sep.APER_HASMASKED) == 0
        return 1.4826 * np.median(np.abs(flux[good] - np.median(flux[good])))

    options = {k: v for k, v in _options().items() if k != "size"}
    for role in "AB":
        singles = []
        for image in images[role]:
            value, _, usable, _, _ = resample_visit(image, omegas[image.detector], ref_wcs, ref_shape, omega_ref,
                                                    **options)
            singles.append(aperture_noise(np.where(usable, value, np.nan)))
        assert len(singles) == 8
        single = np.sqrt(np.mean(np.square(singles)))  # a single visit's noise (their rms)
        assert aperture_noise(stacks[role]) == pytest.approx(single / np.sqrt(len(singles)), rel=0.10), singles


def test_an_unflagged_cosmic_ray_in_one_visit_is_absent_from_the_stack(stacked):
    """A 40-sigma hit with no flag, put on empty sky of one B visit: that visit alone shows it, the stack not."""
    images, reference, omegas = _visits(stacked)
    expected, _ = _expected(stacked)
    ref_wcs, ref_shape, omega_ref = reference_box(reference, omegas[4], RA, DEC, SIZE, MARGIN)
    gx, gy = 60.0, 30.0
    assert np.min(np.hypot(np.asarray(expected["x"]) - gx, np.asarray(expected["y"]) - gy)) > 8
    ra, dec = ref_wcs.all_pix2world([[gx, gy]], 0)[0]
    hit = next(image for image in images["B"] if image is not reference)
    hx, hy = (int(round(v)) for v in hit.wcs.all_world2pix([[ra, dec]], 0)[0])
    sigma = np.sqrt(hit.variance[hy, hx])
    hit.image[hy, hx] += 40 * sigma
    hit.image[hy, hx + 1] += 8 * sigma
    box = (slice(int(gy) - 1, int(gy) + 2), slice(int(gx) - 1, int(gx) + 2))
    options = {k: v for k, v in _options().items() if k != "size"}
    value, var, _, _, _ = resample_visit(hit, omegas[4], ref_wcs, ref_shape, omega_ref, **options)
    assert np.nanmax(value[box] / np.sqrt(var[box])) > 10
    result = stacked_difference(images["A"], images["B"], omegas, reference, RA, DEC, **_options(),
                                **_combine_options())
    snr = result.difference[box] / np.sqrt(result.variance[box])
    assert np.nanmax(np.abs(snr)) < 4, snr


def test_stacked_discovery_spurious_and_completeness(stacked):
    """Stacks: spurious <= 2 % at S/N >= 10 and >= 95 % of the sources at expected |S/N| >= 5 found."""
    images, _, _ = _visits(stacked)
    catalog = Table.read(stacked / "catalog.ecsv")
    with fits.open(stacked / "difference.fits") as hdul:
        wcs = WCS(hdul["DIFFERENCE"].header)
        variance, mask = hdul["VARIANCE"].data.astype(float), hdul["MASK"].data
    truth = Table.read(stacked / "sim" / "truth.ecsv")
    expected = expected_on_grid(truth, wcs, variance, mask, images["A"], images["B"])
    scores = discovery_scores(catalog, expected, complete_snr=5.0)
    assert scores["n_bright"] >= 30 and scores["n_sources"] >= 30
    assert scores["n_spurious"] <= 0.02 * scores["n_bright"], scores["spurious_snr"]
    assert scores["n_found"] >= 0.95 * scores["n_sources"], (scores["n_found"], scores["n_sources"])


def test_a_visit_whose_flags_cannot_be_read_is_dropped_and_said(stacked, tmp_path):
    """A B visit whose FLAGS header declares no bit: the stack goes on without it and the product says why."""
    from spherex_sdt.tasks.imaging import make_difference

    pair = Table.read(stacked / "pair.ecsv")
    k = int(np.flatnonzero(pair["used"] & (pair["role"] == "B") & ~pair["reference"])[0])
    broken = tmp_path / "broken.fits"
    with fits.open(pair["path"][k]) as hdul:
        for key in [key for key in hdul["FLAGS"].header if key.startswith("MP_")]:
            del hdul["FLAGS"].header[key]
        hdul.writeto(broken)
    pair["path"][k] = str(broken)
    pair.write(tmp_path / "pair.ecsv")
    params = dict(config_section("difference", size_px=SIZE, background_margin_px=MARGIN))
    flags = config_section("flags")
    params.update(detection_flags=flags["detection_bad"], background_flags=flags["background_bad"])
    make_difference(tmp_path / "pair.ecsv", stacked / "sim" / sapm_key(STACKED, 2),
                    stacked / "sim" / sapm_key(STACKED, 4), RA, DEC, params, tmp_path / "difference.fits")
    header = fits.getheader(tmp_path / "difference.fits")
    assert header["NVISIT_A"] == 8 and header["NVISIT_B"] == 7
    assert header["NDROPPED"] == 1
    assert header["DROP1"].startswith("broken.fits: ") and "no MP_* (or MSKNnnnn) keywords" in header["DROP1"]


def test_stacked_positions_come_from_the_reference_visit_pixels(stacked):
    """Resampling a ~1 px PSF moves its centroid by up to ~0.3 px, differently in every visit; positions are
    fitted on B's reference visit (its own pixels), so bright sources land within 0.05 px."""
    from spherex_sdt.simulate.scoring import detection_snr, match_detections

    expected, catalog = _expected(stacked)
    source_of, _ = match_detections(catalog, expected)
    bright = (source_of >= 0) & (detection_snr(catalog) > 30) & (catalog["position_method"] == "psf-fit")
    assert bright.sum() >= 20
    offset = np.hypot(np.asarray(catalog["x"])[bright] - np.asarray(expected["x"])[source_of[bright]],
                      np.asarray(catalog["y"])[bright] - np.asarray(expected["y"])[source_of[bright]])
    assert np.median(offset) < 0.03 and np.percentile(offset, 90) < 0.05

