"""Simulated Level-2 files follow the SPHEREx format (spherex-data.md) and carry the truth they claim."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from spherex_sdt.archive import make_cutout
from spherex_sdt.calibration import flag_bits, wavelength_at
from spherex_sdt.calibration.flags import SPHEREX_FLAGS
from spherex_sdt.detectors import DETECTORS, SAME_EXPOSURE_PARTNER
from spherex_sdt.io import read_spectral_image
from spherex_sdt.simulate import instrument, true_flux
from spherex_sdt.simulate.archive import sapm_key

from ..conftest import REAL, SMALL


def _first_file(root, index, detector=None):
    rows = index if detector is None else index[index["energy_bandpassname"] == f"SPHEREx-D{detector}"]
    return root / rows["access_url"][0]


def test_archive_layout_and_index(small_archive):
    root, index, truth = small_archive
    assert len(index) == 2 * SMALL.exposures_per_target
    for key in index["access_url"]:
        parts = key.split("/")
        # qr2/level2/{period}/l2b-v..-{doy}/{det}/level2_{OBSID}D{det}_spx_l2b-....fits
        assert parts[0] == "qr2" and parts[1] == "level2" and parts[3].startswith("l2b-v20-2025-")
        assert parts[5] == f"level2_{parts[5][7:]}" and parts[5].endswith(f"_spx_{parts[3]}.fits")
        assert parts[5].split("_spx_")[0].endswith(f"D{parts[4]}")
        assert (root / key).is_file()
    for det in DETECTORS:
        assert (root / sapm_key(SMALL, det)).is_file()
    cloud = json.loads(index["cloud_access"][0])
    assert cloud["aws"]["bucket_name"] == "nasa-irsa-spherex" and cloud["aws"]["key"] == index["access_url"][0]
    assert (root / "truth.ecsv").is_file() and len(truth) == 1 + SMALL.n_red + SMALL.n_stars


def test_hdus_dtypes_and_units(small_archive):
    root, index, _ = small_archive
    with fits.open(_first_file(root, index)) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF", "WCS-WAVE"]
        assert hdul[0].header["VERSION"] == "6.4+psffix1"
        n = SMALL.detector_size
        assert hdul["IMAGE"].data.dtype == np.dtype(">f4") and hdul["IMAGE"].shape == (n, n)
        assert hdul["FLAGS"].data.dtype == np.dtype(">i4")
        assert hdul["VARIANCE"].data.dtype == np.dtype(">f4") and hdul["ZODI"].data.dtype == np.dtype(">f4")
        assert hdul["IMAGE"].header["BUNIT"] == "MJy / sr" and hdul["VARIANCE"].header["BUNIT"] == "MJy2 / sr2"
        assert hdul["ZODI"].header["BUNIT"] == "MJy / sr" and hdul["FLAGS"].header["EXTTYPE"] == "MASK"
        assert hdul["PSF"].shape == (SMALL.psf_zones**2, SMALL.psf_stamp, SMALL.psf_stamp)
        assert hdul["PSF"].header["OVERSAMP"] == 10
        np.testing.assert_allclose(hdul["PSF"].data.sum(axis=(1, 2)), 1.0, rtol=1e-5)
        table = hdul["WCS-WAVE"]
        grid = DETECTORS[hdul["IMAGE"].header["DETECTOR"]].wave_grid
        assert table.columns["X"].format == f"{grid}J" and table.columns["VALUES"].format == f"{2 * grid * grid}E"
        assert table.header["TDIM3"] == f"(2,{grid},{grid})"
        assert table.data["VALUES"][0].shape == (grid, grid, 2)


def test_flags_declare_bits_like_real_headers(small_archive):
    root, index, _ = small_archive
    header = fits.getheader(_first_file(root, index), "FLAGS")
    bits = flag_bits(header)
    assert bits == {name: bit for name, (bit, _) in SPHEREX_FLAGS.items()}
    # the same MP_* declarations as a real Dec-2025 QR2 FLAGS header
    real = {}
    for line in (REAL / "archive-responses" / "qr2_flags_header_MP_lines.txt").read_text().splitlines():
        if "MP_" in line:
            key, value = line.split("=")[0], line.split("=")[1].split("/")[0]
            real[key.replace("HIERARCH", "").strip()[3:]] = int(value)
    assert bits == real


def test_header_cards_match_real_qr1(small_archive):
    root, index, _ = small_archive
    sim = fits.getheader(_first_file(root, index), "IMAGE")
    real = fits.getheader(sorted((REAL / "qr1-ngc6888-cutouts").glob("*.fits"))[0], "IMAGE")
    wcs_cards = [k for k in real if k.endswith(("A", "W")) and k[:-1] in
                 ("WCSAXES", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CUNIT1", "CUNIT2", "CTYPE1", "CTYPE2",
                  "CRVAL1", "CRVAL2", "LATPOLE", "WCSNAME", "CNAME1", "CNAME2", "PV1_3", "PV2_3", "PS1_0",
                  "PS2_0", "PS1_1", "PS2_1", "PS1_2", "PS2_2")]
    assert len(wcs_cards) >= 30
    for key in wcs_cards:
        assert key in sim, key
        if not key.startswith(("CRPIX", "WCSNAMEW")):
            assert sim[key] == real[key], key
    for key in ("CTYPE1", "CTYPE2", "CUNIT1", "CDELT1", "LONPOLE", "A_ORDER", "BP_ORDER", "PC1_1", "PC2_2",
                "MJD-AVG", "MJD-OBS", "XPOSURE", "DETECTOR", "OBSID", "EXPIDN", "PSF_FWHM", "DETCOORD"):
        assert key in sim, key
    assert sim["CTYPE1"] == "RA---TAN-SIP" and sim["CRPIX1"] == (SMALL.detector_size + 1) / 2
    assert sim["CRPIX1A"] == 1.0 and sim["CRPIX1W"] == sim["CRPIX1A"]
    scale = np.hypot(sim["PC1_1"], sim["PC2_1"]) * 3600
    assert scale == pytest.approx(6.15, rel=1e-6)


def test_cutout_offsets_follow_the_real_rule(small_archive):
    """Real QR1 cutouts satisfy CRPIXn = (full-frame CRPIXn - 1) + CRPIXnA; ours must too."""
    root, index, truth = small_archive
    path = _first_file(root, index)
    with fits.open(path) as hdul:
        from astropy.wcs import WCS

        x, y = WCS(hdul["IMAGE"].header).all_world2pix([[truth["ra"][0], truth["dec"][0]]], 0)[0]
        cut = make_cutout(hdul, float(truth["ra"][0]), float(truth["dec"][0]), 0.01)
        full = hdul["IMAGE"].header
    h = cut["IMAGE"].header
    assert cut["IMAGE"].shape == (6, 6)  # IRSA returns 6 x 6 px for size=0.01 deg
    for axis in ("1", "2"):
        assert h[f"CRPIX{axis}"] == full[f"CRPIX{axis}"] - 1 + h[f"CRPIX{axis}A"]
        assert h[f"CRPIX{axis}W"] == h[f"CRPIX{axis}A"]
        assert float(h[f"CRPIX{axis}A"]).is_integer()
    assert [hdu.name for hdu in cut] == ["PRIMARY", "IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF", "WCS-WAVE"]
    # the same sky position maps to the same parent pixel through the cutout's offsets
    image = read_spectral_image(_write(cut, root / "cut.fits"))
    xc, yc = image.wcs.all_world2pix([[truth["ra"][0], truth["dec"][0]]], 0)[0]
    assert 1 + xc - h["CRPIX1A"] == pytest.approx(x, abs=1e-6)
    assert 1 + yc - h["CRPIX2A"] == pytest.approx(y, abs=1e-6)


def _write(hdul, path):
    hdul.writeto(path, overwrite=True)
    return path


def test_spectral_wcs_evaluates_to_injected_wavelength(small_archive):
    root, index, _ = small_archive
    rng = np.random.default_rng(3)
    for det in DETECTORS:
        path = _first_file(root, index, det) if np.any(index["energy_bandpassname"] == f"SPHEREx-D{det}") else None
        if path is None:
            continue
        image = read_spectral_image(path)
        x, y = rng.uniform(0, SMALL.detector_size - 1, size=(2, 50))
        lam, band = wavelength_at(image.spectral_wcs, x, y)
        true_lam, true_band = instrument.true_wavelength(instrument.wave_table(det, SMALL.detector_size), x, y)
        np.testing.assert_allclose(lam, true_lam, atol=1e-6)  # float32 table values
        np.testing.assert_allclose(band, true_band, atol=1e-7)
        assert DETECTORS[det].em_min_um - 1e-3 <= lam.min() and lam.max() <= DETECTORS[det].em_max_um + 1e-3
        # wavelength falls with y (row 0 is the longest), bandwidth is lambda / R
        assert np.corrcoef(y, lam)[0, 1] < -0.99
        np.testing.assert_allclose(band, lam / DETECTORS[det].resolving_power, rtol=2e-3)


def test_variance_matches_the_noise(small_archive):
    """Pixels away from sources and defects scatter about ZODI with the VARIANCE the file declares."""
    root, index, _ = small_archive
    with fits.open(_first_file(root, index)) as hdul:
        image, zodi, var = (hdul[n].data.astype(float) for n in ("IMAGE", "ZODI", "VARIANCE"))
        flags = hdul["FLAGS"].data
    clean = flags == 0
    pull = ((image - zodi) / np.sqrt(var))[clean]
    assert clean.sum() > 5000
    # faint source wings bias the mean a little; the core of the distribution is unit normal
    assert abs(np.median(pull)) < 0.1
    q16, q84 = np.percentile(pull, [16, 84])
    assert (q84 - q16) / 2 == pytest.approx(1.0, abs=0.05)


def test_defect_rates_and_source_bit(small_archive):
    root, index, _ = small_archive
    header = fits.getheader(_first_file(root, index), "IMAGE")
    flags = fits.getdata(_first_file(root, index), "FLAGS")
    bits = flag_bits(fits.getheader(_first_file(root, index), "FLAGS"))
    n = flags.size
    frac = {name: np.count_nonzero(flags & (1 << bit)) / n for name, bit in bits.items()}
    assert 0.005 < frac["TRANSIENT"] < 0.03 and 0.002 < frac["SUR_ERROR"] < 0.012
    assert frac["SOURCE"] > 0.005 and frac["NONFUNC"] > 0
    # L2 N_* counts in the IMAGE header agree with the plane
    assert header["L2 N_SOURCE"] == np.count_nonzero(flags & (1 << bits["SOURCE"]))
    assert header["L2 N_MISSING"] == 0


def test_pairs_share_obsid_and_epoch(small_archive):
    root, index, _ = small_archive
    for obs_id in set(index["obs_id"]):
        rows = index[index["obs_id"] == obs_id]
        dets = sorted(int(b[-1]) for b in rows["energy_bandpassname"])
        assert len(dets) == 2 and SAME_EXPOSURE_PARTNER[dets[0]] == dets[1]
        headers = [fits.getheader(root / key, "IMAGE") for key in rows["access_url"]]
        assert headers[0]["MJD-AVG"] == headers[1]["MJD-AVG"]
        assert str(headers[0]["EXPIDN"])[:-1] == str(headers[1]["EXPIDN"])[:-1]


def test_sources_fall_at_many_wavelengths(small_archive):
    """Pointing and roll vary, so the target's red source is seen at a new wavelength in every exposure."""
    root, index, truth = small_archive
    src = truth[0]
    waves = []
    for key in index["access_url"]:
        image = read_spectral_image(root / key)
        x, y = image.wcs.all_world2pix([[src["ra"], src["dec"]]], 0)[0]
        waves.append(float(wavelength_at(image.spectral_wcs, x, y)[0]))
    waves = np.array(waves)
    assert len(np.unique(np.round(waves, 3))) == len(waves)
    assert waves.min() < 1.0 and waves.max() > 4.5
    assert src["kind"] == "red"
    flux = true_flux(src, waves)
    assert np.all(np.diff(flux[np.argsort(waves)]) > 0)  # red: rising towards 5 um


def test_simulation_is_deterministic(tmp_path):
    from spherex_sdt.simulate import SimulationSettings, simulate_archive

    settings = SimulationSettings(detector_size=96, exposures_per_target=3, margin_px=30, n_stars=3, n_red=1, seed=3)
    targets = Table(rows=[{"target": "t", "ra_deg": 10.0, "dec_deg": -5.0}])
    a, _ = simulate_archive(targets, tmp_path / "a", settings)
    b, _ = simulate_archive(targets, tmp_path / "b", settings)
    for ka, kb in zip(a["access_url"], b["access_url"]):
        assert ka == kb
        np.testing.assert_array_equal(fits.getdata(tmp_path / "a" / ka, "IMAGE"),
                                      fits.getdata(tmp_path / "b" / kb, "IMAGE"))


def test_sed_truth_function():
    row = Table(rows=[{"kind": "red", "flux_ref_ujy": 1000.0, "temperature_k": 0.0, "alpha": 2.0}])[0]
    assert float(true_flux(row, 2.0)) == pytest.approx(1000.0)
    assert float(true_flux(row, 4.0)) == pytest.approx(4000.0)
    star = Table(rows=[{"kind": "star", "flux_ref_ujy": 500.0, "temperature_k": 5000.0, "alpha": 0.0}])[0]
    assert float(true_flux(star, 2.0)) == pytest.approx(500.0)
    # stars are blackbodies in f_nu: compare with astropy's independent implementation
    import astropy.units as u
    from astropy.modeling.models import BlackBody

    bb = BlackBody(temperature=5000 * u.K)
    for lam in (0.8, 1.5, 3.0, 5.0):
        expected = 500.0 * (bb(lam * u.um) / bb(2.0 * u.um)).decompose().value
        assert float(true_flux(star, lam)) == pytest.approx(expected, rel=1e-4)
