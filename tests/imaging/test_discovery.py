"""Discovery on harsh simulated skies (the artefacts of real frames, `spherex_sdt.simulate.artefacts`): spurious
detections, completeness including sources with masked core pixels, flag-aware catalogues, positions, colours.

Every stage runs with the schema's defaults (flags, difference, SExtractor settings, selection)."""

import numpy as np
import pytest
import sep
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from spherex_sdt.calibration import SPHEREX_FLAGS
from spherex_sdt.extraction import select_sources
from spherex_sdt.imaging.reprojection import bounding_box, cut_box, reference_grid, reproject_onto
from spherex_sdt.io import read_spectral_image
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.simulate.scoring import detection_snr, discovery_scores, expected_on_grid, match_detections
from spherex_sdt.tasks.archive import fetch_pair_images, search_images
from spherex_sdt.tasks.extraction import extract_sources
from spherex_sdt.tasks.imaging import make_difference

from ..conftest import ROOT, config_section

SEX = ROOT / "config" / "sextractor"
FIELD = SimulationSettings(detector_size=256, exposures_per_target=6, margin_px=100, n_stars=25, n_red=25,
                           sky_radius_arcsec=330, seed=21)
RA, DEC = 35.0, -4.5
# three fields like the one of issue 17: ~55 sources in a 300 x 300 px box
WIDE = [(SimulationSettings(detector_size=512, exposures_per_target=6, margin_px=200, n_stars=45, n_red=10,
                            sky_radius_arcsec=1030, seed=seed), ra, dec)
        for seed, (ra, dec) in ((1, (35.0, -4.5)), (2, (359.9, 20.0)), (3, (150.1, 2.2)))]
ARTEFACT_BITS = sum(1 << SPHEREX_FLAGS[name][0] for name in ("TRANSIENT", "OUTLIER", "OVERFLOW"))


def difference_params(**changes):
    """The params rule make_difference gets (common.smk) with the schema's defaults, and ``changes``."""
    flags = config_section("flags")
    params = {k: v for k, v in config_section("difference", **changes).items() if k != "max_dt_days"}
    return {**params, "detection_flags": flags["detection_bad"], "background_flags": flags["background_bad"]}


def _run(work, settings, ra, dec, *, size, margin, visits=1, detection_flags=None, sextractor=SEX):
    """Simulate, search, choose the D2-D4 pair (``visits`` 1) or its visits, difference and extract, as the
    workflow does."""
    (work / "targets.csv").write_text(f"target,ra_deg,dec_deg\nfield,{ra},{dec}\n")
    archive = {"backend": "local", "root": str(work / "sim"), "collection": "spherex_qr2"}
    simulate_archive(Table.read(work / "targets.csv"), work / "sim", settings)
    search_images("field", ra, dec, 50.0, archive, work / "images.ecsv")
    fetch_pair_images(work / "images.ecsv", "D2-D4", ra, dec, size // 2 + margin + 2, None, archive,
                      work / "cache", work / "pair.ecsv", visits=visits,
                      max_visits=config_section("difference")["max_visits"], box_px=size, threads=2)
    params = difference_params(size_px=size, background_margin_px=margin)
    if detection_flags is not None:
        params["detection_flags"] = detection_flags
    make_difference(work / "pair.ecsv", work / "sim" / sapm_key(settings, 2), work / "sim" / sapm_key(settings, 4),
                    ra, dec, params, work / "difference.fits")
    outputs = {k: work / f"catalog{s}.{e}" for k, s, e in (("ecsv", "", "ecsv"), ("votable", "", "xml"),
                                                            ("ecsv_a", "_A", "ecsv"), ("votable_a", "_A", "xml"),
                                                            ("ecsv_b", "_B", "ecsv"), ("votable_b", "_B", "xml"))}
    extract_sources(work / "difference.fits", sextractor / "default.sex", sextractor / "default.param",
                    sextractor / "default.conv", outputs)
    return work


def _expected(work):
    """The truth on the difference grid (`expected_on_grid`) and the catalogue."""
    pair = Table.read(work / "pair.ecsv")
    images = {r["role"]: read_spectral_image(r["path"]) for r in pair}
    with fits.open(work / "difference.fits") as hdul:
        wcs = WCS(hdul["DIFFERENCE"].header)
        variance, mask = hdul["VARIANCE"].data.astype(float), hdul["MASK"].data
    expected = expected_on_grid(Table.read(work / "sim" / "truth.ecsv"), wcs, variance, mask, images["A"],
                                images["B"])
    return expected, Table.read(work / "catalog.ecsv")


@pytest.fixture(scope="module", name="field")
def fixture_field(tmp_path_factory):
    """A crowded field of red sources (140 px box)."""
    return _run(tmp_path_factory.mktemp("discovery"), FIELD, RA, DEC, size=140, margin=20)


@pytest.fixture(scope="module", name="wide")
def fixture_wide(tmp_path_factory):
    """Three 300 px fields: (expected, catalogue) of each."""
    return [_expected(_run(tmp_path_factory.mktemp(f"wide{k}"), settings, ra, dec, size=300, margin=32))
            for k, (settings, ra, dec) in enumerate(WIDE)]


def test_spurious_detections_are_rare(wide):
    """With the defaults, at most 2 % of detections at S/N >= 10 have no injected source within 1.5 px (before
    issue 17, 1202 of 1286 on such fields); what remains are unflagged cosmic rays."""
    scores = [discovery_scores(catalog, expected) for expected, catalog in wide]
    bright = sum(s["n_bright"] for s in scores)
    spurious = sum(s["n_spurious"] for s in scores)
    assert bright >= 90
    assert spurious <= 0.02 * bright, [s["spurious_snr"] for s in scores]


def test_completeness_includes_masked_cores(wide):
    """>= 95 % of all injected sources (red or not) at expected |S/N| >= 10 are found, counting those with masked
    pixels in their 3 x 3 core (a third of them), which alone are found at >= 90 %."""
    scores = [discovery_scores(catalog, expected) for expected, catalog in wide]
    wanted, found = sum(s["n_sources"] for s in scores), sum(s["n_found"] for s in scores)
    masked = sum(s["n_masked_core"] for s in scores)
    masked_found = sum(s["n_masked_core_found"] for s in scores)
    assert wanted >= 90 and masked >= 20
    assert found >= 0.95 * wanted, (found, wanted)
    assert masked_found >= 0.9 * masked, (masked_found, masked)


def test_before_issue_17_the_same_sky_fails(tmp_path):
    """The tests above can fail: the old policy (detection masked with the photometry list, no interpolation over
    masked pixels) on the crowded field gives mostly spurious detections and loses masked-core sources."""
    old_sex = tmp_path / "sextractor"
    old_sex.mkdir()
    for path in SEX.iterdir():
        text = path.read_text()
        if path.name == "default.sex":
            text = text.replace("INTERP_TYPE      ALL", "INTERP_TYPE      NONE")
        (old_sex / path.name).write_text(text)
    work = _run(tmp_path, FIELD, RA, DEC, size=140, margin=20,
                detection_flags=config_section("flags")["photometry_bad"], sextractor=old_sex)
    expected, catalog = _expected(work)
    scores = discovery_scores(catalog, expected)
    assert scores["spurious_fraction"] > 0.5
    assert scores["n_masked_core_found"] < 0.8 * scores["n_masked_core"]


def test_catalogue_says_which_flags_touch_each_detection(wide):
    """footprint_flags(_a/_b) and core_masked_fraction are in the catalogue, described in the VOTable; real
    sources carry TRANSIENT/OUTLIER/OVERFLOW in their footprint and masked core pixels, and are kept."""
    expected, catalog = wide[0]
    for col in ("footprint_flags", "footprint_flags_a", "footprint_flags_b", "core_masked_fraction"):
        assert col in catalog.colnames
    flags = np.asarray(catalog["footprint_flags"], np.int64)
    np.testing.assert_array_equal(flags, np.asarray(catalog["footprint_flags_a"]) | catalog["footprint_flags_b"])
    source_of, _ = match_detections(catalog, expected)
    real = (source_of >= 0) & (detection_snr(catalog) >= 10)
    assert np.sum(real & ((flags & ARTEFACT_BITS) != 0)) >= 5
    assert np.sum(real & (np.asarray(catalog["core_masked_fraction"]) > 0)) >= 5
    # the SOURCE bit of the real sources' own pixels is there, in both images
    source_bit = 1 << SPHEREX_FLAGS["SOURCE"][0]
    assert np.mean((np.asarray(catalog["footprint_flags_a"])[real] & source_bit) != 0) > 0.9


def test_default_selection_keeps_flagged_real_sources(wide):
    """The default selection (no flag cut) keeps the real sources with flagged or masked core pixels; nearly all
    it chooses at S/N >= 10 are real."""
    options = config_section("selection", strategy="snr")
    assert options["exclude_flags"] == [] and options["max_core_masked_fraction"] == 1.0
    chosen, real_chosen, flagged_real = 0, 0, 0
    for expected, catalog in wide:
        selected = select_sources(catalog, strategy="snr", min_snr=options["min_snr"], sign=options["sign"],
                                  exclude_flags=options["exclude_flags"],
                                  max_core_masked_fraction=options["max_core_masked_fraction"])
        source_of, _ = match_detections(selected, expected)
        chosen += len(selected)
        real_chosen += int(np.sum(source_of >= 0))
        flagged = ((np.asarray(selected["footprint_flags"], np.int64) & ARTEFACT_BITS) != 0) | (
            np.asarray(selected["core_masked_fraction"]) > 0)
        flagged_real += int(np.sum(flagged & (source_of >= 0)))
    assert real_chosen >= 0.98 * chosen and flagged_real >= 30
    # the option works: excluding TRANSIENT drops every detection it touches
    expected, catalog = wide[0]
    strict = select_sources(catalog, strategy="snr", min_snr=10, exclude_flags=["TRANSIENT"])
    bit = 1 << SPHEREX_FLAGS["TRANSIENT"][0]
    assert len(strict) < len(select_sources(catalog, strategy="snr", min_snr=10))
    assert not np.any(np.asarray(strict["footprint_flags"], np.int64) & bit)


def test_injection_recovery_of_red_sources(field):
    """>= 95 % of the red sources at expected S/N < -10 are found with the right sign, masked cores included;
    PSF-fit positions within 0.3 px (windowed centroids of a ~1 px PSF would be pulled towards pixel centres by up
    to ~0.5 px), 0.5 px where core pixels are masked."""
    expected, catalog = _expected(field)
    red = expected[(expected["kind"] == "red") & expected["inside"] & (expected["expected_snr"] < -10)]
    assert len(red) >= 15, "the field must hold enough bright red sources for the statistic to mean something"
    neg = catalog[catalog["sign"] == -1]
    dist = np.hypot(np.asarray(neg["x"])[None, :] - np.asarray(red["x"])[:, None],
                    np.asarray(neg["y"])[None, :] - np.asarray(red["y"])[:, None])
    nearest = dist.min(axis=1)
    found = nearest < 1.0
    assert found.mean() >= 0.95, f"found {found.sum()} of {len(red)} red sources above 10 sigma"
    clean = np.asarray(red["core_masked"]) == 0
    assert np.all(nearest[found & clean] < 0.3), np.sort(nearest[found & clean])[-5:]
    assert np.all(nearest[found & ~clean] < 0.5), np.sort(nearest[found & ~clean])[-5:]
    assert np.all(neg["position_method"][dist.argmin(axis=1)[found]] == "psf-fit")


def test_selected_sources_are_real(field):
    expected, catalog = _expected(field)
    selected = select_sources(catalog, strategy="snr", min_snr=10, sign="red")
    assert len(selected) >= 10
    dist = np.hypot(np.asarray(selected["x"])[:, None] - np.asarray(expected["x"])[None, :],
                    np.asarray(selected["y"])[:, None] - np.asarray(expected["y"])[None, :])
    match = dist.min(axis=1) < 1.0
    assert match.mean() >= 0.95
    assert np.all(np.asarray(expected["kind"])[dist.argmin(axis=1)[match]] == "red")


def test_pair_catalogues_and_colours(field, wide):
    cat_a, cat_b = Table.read(field / "catalog_A.ecsv"), Table.read(field / "catalog_B.ecsv")
    assert len(cat_a) > 10 and len(cat_b) > 10
    assert len(Table.read(field / "catalog_A.xml", format="votable")) == len(cat_a)
    errors, masked = [], []
    for expected, catalog in wide:
        for col in ("id_A", "FLUX_AUTO_A", "id_B", "FLUX_AUTO_B", "flux_a", "flux_b", "colour_ab", "colour_ab_err"):
            assert col in catalog.colnames
        usable = expected[expected["inside"] & (expected["flux_a"] > 300) & (expected["flux_b"] > 300)]
        dist = np.hypot(np.asarray(catalog["x"])[:, None] - np.asarray(usable["x"])[None, :],
                        np.asarray(catalog["y"])[:, None] - np.asarray(usable["y"])[None, :])
        rows, cols = np.nonzero(dist < 1.0)
        true_colour = -2.5 * np.log10(np.asarray(usable["flux_a"])[cols] / np.asarray(usable["flux_b"])[cols])
        errors.append(np.asarray(catalog["colour_ab"])[rows] - true_colour)
        masked.append(((np.asarray(catalog["flag_a"]) | np.asarray(catalog["flag_b"]))[rows] & sep.APER_HASMASKED)
                      != 0)
    errors, masked = np.abs(np.concatenate(errors)), np.concatenate(masked)
    assert len(errors) >= 90 and np.isfinite(errors).all()
    # most r = 3 px apertures hold masked pixels on this sky (the flags say which); correcting them with the PSF
    # keeps the forced colours within a few hundredths of a magnitude (sep's mean fill: median 0.07-0.09 mag,
    # 90th percentile 0.28-0.39)
    assert masked.mean() > 0.5
    assert np.median(errors) < 0.07 and np.percentile(errors, 90) < 0.25


def test_cut_first_equals_full_frame_reprojection(field):
    """Reprojecting a cut (with margin) gives the full-frame result inside the footprint, to 1e-6."""
    pair = Table.read(field / "pair.ecsv")
    a, b = (read_spectral_image(r["path"]) for r in pair)
    box_b = cut_box(b.wcs, b.shape, RA, DEC, 48)
    ref_wcs, ref_shape = reference_grid(b.wcs, box_b)
    full, foot_full = reproject_onto([np.nan_to_num(a.image.astype(float))], a.wcs, ref_wcs, ref_shape)
    box_a = bounding_box(a.wcs, a.shape, ref_wcs, ref_shape, margin=8)
    cut = a.image[box_a[2]:box_a[3], box_a[0]:box_a[1]].astype(float)
    wcs_cut = a.wcs[box_a[2]:box_a[3], box_a[0]:box_a[1]]
    part, foot_cut = reproject_onto([np.nan_to_num(cut)], wcs_cut, ref_wcs, ref_shape)
    inside = (foot_full > 0.999) & (foot_cut > 0.999)
    assert inside.mean() > 0.95
    rel = np.abs(part[0] - full[0])[inside] / np.maximum(np.abs(full[0][inside]), 1e-12)
    assert rel.max() <= 1e-6
