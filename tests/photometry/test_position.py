"""One position per source, fitted to all its exposures at once: it finds the injected position from a start a
fraction of a pixel off, and photometry there is as good as at the truth (spike rejection keeps good cores)."""

import numpy as np
import pytest

from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.photometry.position import fit_position
from spherex_sdt.simulate import true_flux
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.spectra import measure_source

from ..conftest import SMALL, config_section, fetch_cutouts

PIXEL_ARCSEC = 6.15
FLAGS = config_section("flags")
PHOTOMETRY = config_section("photometry")
OPTIONS = {"bad_flags": FLAGS["photometry_bad"], "background_flags": FLAGS["background_bad"],
           "annulus": PHOTOMETRY["annulus_px"], "radius": max(PHOTOMETRY["radii_px"])}


def _offset(ra, dec, px, angle):
    shift = px * PIXEL_ARCSEC / 3600
    return ra + shift * np.cos(angle) / np.cos(np.radians(dec)), dec + shift * np.sin(angle)


def _px_between(ra1, dec1, ra2, dec2):
    return float(np.hypot((ra1 - ra2) * np.cos(np.radians(dec2)), dec1 - dec2) * 3600 / PIXEL_ARCSEC)


@pytest.fixture(scope="module", name="bright")
def fixture_bright(small_archive, tmp_path_factory):
    """The 4 brightest injected sources, each with the cutouts of every exposure that covers it (harsh sky)."""
    root, _, truth = small_archive
    out = tmp_path_factory.mktemp("position-cutouts")
    sources = []
    for src in truth[np.argsort(-np.asarray(truth["flux_ref_ujy"], float))[:4]]:
        rows = [{"file_name": path.name, "path": str(path), "status": "ok", "error": ""}
                for path in fetch_cutouts(root, src, 0.1, out)]
        sources.append((src, rows))
    return root, sources


@pytest.mark.parametrize("start_px", [0.0, 0.15, 0.3])
def test_the_fit_finds_the_injected_position(bright, start_px):
    _, sources = bright
    for k, (src, rows) in enumerate(sources):
        ra, dec = _offset(float(src["ra"]), float(src["dec"]), start_px, angle=1.3 * k)
        fit = fit_position([read_spectral_image(r["path"]) for r in rows], ra, dec, **OPTIONS)
        assert fit["fitted"] and fit["n_exposures"] >= 0.8 * len(rows), fit
        miss = _px_between(fit["ra"], fit["dec"], float(src["ra"]), float(src["dec"]))
        assert miss < 0.01, (src["source_id"], start_px, miss, fit)
        assert fit["error_arcsec"] < 0.01 * PIXEL_ARCSEC
        assert fit["shift_arcsec"] == pytest.approx(start_px * PIXEL_ARCSEC, abs=0.01 * PIXEL_ARCSEC)


def test_no_source_no_fit(bright):
    """Blank sky (between sources) has no flux to fit: the start is kept, and the answer says why."""
    _, sources = bright
    src, rows = sources[0]
    ra, dec = _offset(float(src["ra"]), float(src["dec"]), 3.5, angle=0.4)  # still inside the 0.1 deg cutouts
    images = [read_spectral_image(r["path"]) for r in rows]
    fit = fit_position(images, ra, dec, **OPTIONS)
    assert not fit["fitted"] and (fit["ra"], fit["dec"]) == (ra, dec) and fit["why"]
    assert fit_position([], ra, dec, **OPTIONS)["why"] == "no exposure with PSF and usable pixels"


def test_photometry_at_the_fitted_position_keeps_good_cores(bright):
    """Started 0.15 px off, the spectra with the fit match the truth as well as spectra measured at the truth; without
    it, spike rejection takes good core pixels (more rejected pixels, a wider pull)."""
    root, sources = bright
    omegas = {d: read_solid_angle_map(root / sapm_key(SMALL, d)) for d in range(1, 7)}
    params = {"radii_px": PHOTOMETRY["radii_px"], "annulus_px": PHOTOMETRY["annulus_px"],
              "bad_flags": FLAGS["photometry_bad"], "background_flags": FLAGS["background_bad"],
              **{k: PHOTOMETRY[k] for k in ("reject_sigma", "reject_sigma_flagged", "psf_model_error",
                                            "fit_position", "max_position_shift_px")}}
    assert params["fit_position"]  # the default

    def spectra(start_px, fit):
        pulls, rejected = [], 0
        for k, (src, rows) in enumerate(sources):
            ra, dec = _offset(float(src["ra"]), float(src["dec"]), start_px, angle=1.3 * k)
            measured, skipped, position = measure_source(rows, ra, dec, omegas, {**params, "fit_position": fit},
                                                         read_cutout=read_spectral_image)
            assert not skipped and position["fitted"] == fit
            for m in measured:
                r = next(r for r in m["radii"] if r["radius"] == 3.0)
                pulls.append((r["flux"] - float(true_flux(src, m["wavelength"]))) / r["flux_err"])
                rejected += r["n_rejected"]
        return np.std(pulls), rejected

    truth_pull, truth_rejected = spectra(0.0, fit=False)
    fitted_pull, fitted_rejected = spectra(0.15, fit=True)
    off_pull, off_rejected = spectra(0.15, fit=False)
    assert fitted_pull < 1.15 and fitted_pull < truth_pull + 0.05, (fitted_pull, truth_pull)
    assert fitted_rejected <= truth_rejected + 2
    assert off_pull > fitted_pull + 0.1 and off_rejected > fitted_rejected, (off_pull, off_rejected)


def test_a_blend_keeps_the_catalogue_position(tmp_path, monkeypatch):
    """A red source 1.5 px from a bright star: each exposure's fit is drawn towards whichever of the two is brighter
    at its wavelength, most disagree with any common position, and the start is kept (with the reason)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import Table, vstack

    import spherex_sdt.simulate.archive as simulated

    make_sky = simulated.make_sky

    def with_companion(*args, **kwargs):
        sky = make_sky(*args, **kwargs)
        star = int(np.argmax(np.where(sky["kind"] == "star", np.asarray(sky["flux_ref_ujy"], float), -1)))
        at = SkyCoord(sky["ra"][star] * u.deg, sky["dec"][star] * u.deg).directional_offset_by(
            70 * u.deg, 1.5 * PIXEL_ARCSEC * u.arcsec)
        companion = Table(sky[star:star + 1], copy=True)
        companion["source_id"], companion["kind"] = ["companion"], ["red"]
        companion["ra"], companion["dec"] = [at.ra.deg], [at.dec.deg]
        companion["flux_ref_ujy"], companion["temperature_k"], companion["alpha"] = [
            0.3 * float(sky["flux_ref_ujy"][star])], [0.0], [2.0]
        return vstack([sky, companion])

    monkeypatch.setattr(simulated, "make_sky", with_companion)
    from spherex_sdt.simulate import SimulationSettings

    settings = SimulationSettings(detector_size=128, exposures_per_target=12, margin_px=40, n_stars=6, n_red=2, seed=3)
    _, truth = simulated.simulate_archive(Table(rows=[{"target": "t", "ra_deg": 359.9, "dec_deg": 20.0}]), tmp_path,
                                          settings)
    src = truth[truth["source_id"] == "companion"][0]
    images = [read_spectral_image(path) for path in fetch_cutouts(tmp_path, src, 0.1, tmp_path)]
    fit = fit_position(images, float(src["ra"]), float(src["dec"]), **OPTIONS)
    assert not fit["fitted"] and (fit["ra"], fit["dec"]) == (float(src["ra"]), float(src["dec"])), fit
    assert "disagree with a common position" in fit["why"]
