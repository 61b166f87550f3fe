"""Aperture photometry on simulated cutouts recovers the injected fluxes with honest errors."""

import numpy as np
import pytest

from spherex_sdt.archive import LocalArchive
from spherex_sdt.errors import InvalidInputError
from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.photometry import QUALITY_BITS, aperture_photometry, measure_cutout
from spherex_sdt.simulate import true_flux
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.spectra.binning import BINNING_EXCLUDES

from ..conftest import SMALL, config_section

REJECT = {k: config_section("photometry")[k] for k in ("reject_sigma", "reject_sigma_flagged", "psf_model_error")}
# measurements the binned spectrum leaves out: the flux is not a usable total flux
UNUSABLE = sum(QUALITY_BITS[n] for n in BINNING_EXCLUDES)
FLAGS = {"bad_flags": config_section("flags")["photometry_bad"],
         "background_flags": config_section("flags")["background_bad"]}


@pytest.fixture(scope="module", name="measurements")
def fixture_measurements(small_archive, tmp_path_factory):
    root, _, truth = small_archive
    archive = LocalArchive(root, "spherex_qr2")
    out = tmp_path_factory.mktemp("cutouts")
    omegas = {d: read_solid_angle_map(root / sapm_key(SMALL, d)) for d in range(1, 7)}
    rows = []
    for src in truth:
        for k, row in enumerate(archive.search_exposures(src["ra"], src["dec"])):
            path = out / f"{src['source_id']}-{k}.fits"
            archive.fetch_cutout(row, float(src["ra"]), float(src["dec"]), 0.1, path)
            image = read_spectral_image(path)
            m = measure_cutout(image, omegas[image.detector], float(src["ra"]), float(src["dec"]),
                               radii=[2.0, 3.0, 4.0], annulus=(7.0, 16.0), **FLAGS, **REJECT)
            if m is None:
                continue
            t = float(true_flux(src, m["wavelength"]))
            rows.extend((r["radius"], r["flux"], r["flux_err"], t, r["quality"], m["flux_psf"], m["flux_psf_err"],
                         r["n_rejected"]) for r in m["radii"])
    return np.array(rows)


@pytest.mark.parametrize("radius", [2.0, 3.0, 4.0])
def test_fluxes_are_total_and_errors_honest(measurements, radius):
    """With the default settings on the harsh sky (spikes on TRANSIENT, OUTLIER, OVERFLOW pixels the apertures
    keep, unflagged cosmic rays): median flux ratio within 1 %, pull sigma 1.0 +- 0.1 over every usable
    measurement (quality bits for artefacts and rejected pixels included), none off by more than 5 sigma with
    quality 0."""
    m = measurements[measurements[:, 0] == radius]
    quality = m[:, 4].astype(int)
    pull = (m[:, 1] - m[:, 3]) / m[:, 2]
    assert not np.any((np.abs(pull) > 5) & (quality == 0)), pull[(np.abs(pull) > 5) & (quality == 0)]
    usable = (quality & UNUSABLE) == 0
    assert usable.sum() > 150 and usable.mean() > 0.95
    m, pull, quality = m[usable], pull[usable], quality[usable]
    # after the PSF (aperture) correction the median flux is the total flux to 1 %
    assert np.median(m[:, 1] / m[:, 3]) == pytest.approx(1.0, abs=0.01)
    # (measured - true) / sigma has standard deviation 1.0 +- 0.1: the errors are neither inflated nor too small,
    # and no spike is left to widen it (before issue 17 it was 9.7 on such skies)
    assert np.std(pull) == pytest.approx(1.0, abs=0.1)
    assert abs(np.mean(pull)) < 0.15
    assert np.mean(np.abs(pull) < 3) > 0.97
    # the sky does put artefacts in apertures, and some are rejected
    assert np.mean(quality & 32 != 0) > 0.1 and np.mean(quality & 64 != 0) > 0.05


def test_masked_pixels_do_not_bias(measurements):
    """Apertures with photometry-bad pixels are corrected with the PSF, not mean-filled."""
    m = measurements[(measurements[:, 0] == 3.0) & ((measurements[:, 4].astype(int) & 1) != 0)]
    assert len(m) > 10
    assert np.median(m[:, 1] / m[:, 3]) == pytest.approx(1.0, abs=0.03)


def test_forced_psf_photometry(measurements):
    """The PSF fit gives total fluxes with honest errors, and smaller errors than apertures on faint sources."""
    m = measurements[measurements[:, 0] == 3.0]
    ok = np.isfinite(m[:, 5])
    assert ok.mean() > 0.97
    pull = (m[ok, 5] - m[ok, 3]) / m[ok, 6]
    assert np.median(m[ok, 5] / m[ok, 3]) == pytest.approx(1.0, abs=0.01)
    # the fit covers the largest aperture: where that held no TRANSIENT/OUTLIER/OVERFLOW pixel the errors are
    # honest; where it did, spikes too small to reject (a few sigma on a bright core) widen the tails a little
    clean = (measurements[measurements[:, 0] == 4.0][ok, 4].astype(int) & QUALITY_BITS["ARTEFACT_IN_APERTURE"]) == 0
    assert clean.sum() > 150
    assert np.std(pull[clean]) == pytest.approx(1.0, abs=0.15)
    assert 1.4826 * np.median(np.abs(pull[~clean] - np.median(pull[~clean]))) == pytest.approx(1.0, abs=0.2)
    faint = ok & (m[:, 3] < np.percentile(m[:, 3], 30))
    assert np.median(m[faint, 6] / m[faint, 2]) < 0.95  # PSF errors below the r = 3 px aperture's


def test_background_ignores_off_image_and_flagged_pixels():
    """A source near the cutout corner: the annulus uses only in-image, good pixels (defect 40)."""
    rng = np.random.default_rng(1)
    image = 1.0 + rng.normal(scale=0.01, size=(60, 60))
    bad = np.zeros(image.shape, bool)
    bg_bad = np.zeros(image.shape, bool)
    bg_bad[10:14, 10:14] = True
    image[10:14, 10:14] = 50.0  # a neighbour masked from the background
    res = aperture_photometry(image, np.full(image.shape, 1e-4), bad, bg_bad, 5.0, 5.0, [3.0], (7.0, 16.0))[0]
    assert res["background"] == pytest.approx(1.0, abs=0.005)
    assert abs(res["flux"]) < 5 * res["flux_err"]
    assert res["quality"] & 16  # no PSF given: flagged as not total flux


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"radii": [0.0]}, r"radii must be positive, got \[0.0\]"),
    ({"annulus": (2.0, 16.0)}, r"annulus must satisfy max\(radii\) < inner < outer"),
    ({"annulus": (16.0, 7.0)}, r"annulus \(16.0, 7.0\)"),
])
def test_rejects_bad_geometry(kwargs, match):
    image = np.zeros((20, 20))
    args = {"radii": [3.0], "annulus": (7.0, 16.0), **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        aperture_photometry(image, image, image > 0, image > 0, 10.0, 10.0, args["radii"], args["annulus"])


def test_sources_at_cutout_edges_are_not_biased(small_archive, tmp_path):
    """A source 5-6 px from the cutout edge: half its annulus is off the image, yet the flux stays unbiased."""
    root, _, truth = small_archive
    archive = LocalArchive(root, "spherex_qr2")
    omegas = {d: read_solid_angle_map(root / sapm_key(SMALL, d)) for d in range(1, 7)}
    ratios, pulls = [], []
    for src in truth[:8]:
        ra, dec = float(src["ra"]), float(src["dec"])
        for k, row in enumerate(archive.search_exposures(ra, dec)):
            path = tmp_path / f"{src['source_id']}-{k}.fits"
            # a 0.05 deg (29 px) cutout centred 9 px away from the source
            try:
                archive.fetch_cutout(row, ra + 9 * 6.15 / 3600 / np.cos(np.radians(dec)), dec, 0.05, path)
            except Exception:  # the shifted centre may leave the detector
                continue
            image = read_spectral_image(path)
            m = measure_cutout(image, omegas[image.detector], ra, dec, radii=[3.0], annulus=(7.0, 16.0), **FLAGS,
                               **REJECT)
            if m is None:
                continue
            ny, nx = image.shape
            edge = min(m["x"], m["y"], nx - 1 - m["x"], ny - 1 - m["y"])
            if not 4.0 < edge < 8.0:
                continue
            r = m["radii"][0]
            t = float(true_flux(src, m["wavelength"]))
            ratios.append(r["flux"] / t)
            pulls.append((r["flux"] - t) / r["flux_err"])
    assert len(ratios) > 20
    assert np.median(ratios) == pytest.approx(1.0, abs=0.015)
    assert np.std(pulls) < 1.3 and abs(np.mean(pulls)) < 0.3


def test_a_position_error_does_not_reject_good_pixels(small_archive, tmp_path, monkeypatch):
    """The 8 brightest sources of the harsh sky measured 0.2 px from their injected positions (a catalogue error):
    the fixed-position PSF comparison takes the dipole a shift leaves for spikes and rejects good core pixels (225
    in 113 apertures without artefact pixels); with the position fitted inside the comparison a tenth of that (20,
    in 9 apertures of sources at S/N 5-30 whose position fit wanders off), and the flux stays the injected one."""
    from spherex_sdt.photometry import apertures

    root, _, truth = small_archive
    archive = LocalArchive(root, "spherex_qr2")
    omegas = {d: read_solid_angle_map(root / sapm_key(SMALL, d)) for d in range(1, 7)}
    bright = truth[np.argsort(-np.asarray(truth["flux_ref_ujy"], float))[:8]]
    rng = np.random.default_rng(3)
    cutouts = []
    for src in bright:
        ra, dec = float(src["ra"]), float(src["dec"])
        angle = rng.uniform(0, 2 * np.pi)
        off = 0.2 * 6.15 / 3600
        position = (ra + off * np.cos(angle) / np.cos(np.radians(dec)), dec + off * np.sin(angle))
        for k, row in enumerate(archive.search_exposures(ra, dec)):
            path = tmp_path / f"{src['source_id']}-{k}.fits"
            archive.fetch_cutout(row, ra, dec, 0.1, path)
            cutouts.append((read_spectral_image(path), position, src))

    def measure():
        rows = []
        for image, (ra, dec), src in cutouts:
            m = measure_cutout(image, omegas[image.detector], ra, dec, radii=[3.0], annulus=(7.0, 16.0), **FLAGS,
                               **REJECT)
            r = m["radii"][0]
            rows.append((r["flux"], r["flux_err"], float(true_flux(src, m["wavelength"])), r["quality"],
                         r["n_rejected"]))
        return np.array(rows)

    fitted = measure()
    fixed_position = apertures.reject_spikes

    def without_position_fit(*args, **kwargs):
        kwargs.pop("psf_at", None)
        return fixed_position(*args, **kwargs)

    monkeypatch.setattr(apertures, "reject_spikes", without_position_fit)
    fixed = measure()
    clean = (fitted[:, 3].astype(int) & QUALITY_BITS["ARTEFACT_IN_APERTURE"]) == 0
    assert clean.sum() > 40
    # the problem is real: at a fixed position good core pixels go
    assert fixed[clean, 4].sum() > 0.5 * clean.sum()
    assert fitted[clean, 4].sum() <= 0.15 * fixed[clean, 4].sum()
    assert np.mean(fitted[clean, 4] > 0) < 0.1
    usable = (fitted[:, 3].astype(int) & UNUSABLE) == 0
    ratio = fitted[usable, 0] / fitted[usable, 2]
    pull = (fitted[usable, 0] - fitted[usable, 2]) / fitted[usable, 1]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert 1.4826 * np.median(np.abs(pull - np.median(pull))) == pytest.approx(1.0, abs=0.15)
