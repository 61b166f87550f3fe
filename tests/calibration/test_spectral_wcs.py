"""The spectral_wcs calibration product (spherex-data.md §6.5): simulated files, reader, sampling at the parent
position, agreement with the WCS-WAVE table, archive access and its use in spectra."""

import numpy as np
import pytest
from astropy.io import fits

from spherex_sdt.tasks.archive import fetch_calibration
from spherex_sdt.tasks.common import settings_hash
from spherex_sdt.tasks.spectra import source_spectrum
from spherex_sdt.archive import open_archive
from spherex_sdt.testing.loopback import LoopbackIrsa
from spherex_sdt.calibration import WAVELENGTH_SOURCES, sample_parent_maps
from spherex_sdt.detectors import DETECTORS
from spherex_sdt.errors import DataFormatError
from spherex_sdt.io import read_solid_angle_map, read_spectral_image, read_spectral_wcs
from spherex_sdt.io.calibration_files import SPECTRAL_WCS_HDUS
from spherex_sdt.simulate import instrument
from spherex_sdt.simulate.archive import sapm_key, spectral_wcs_key

from ..conftest import SMALL, config_section, fetch_cutouts


def _maps(root, detector):
    return read_spectral_wcs(root / spectral_wcs_key(SMALL, detector))


def test_simulated_files_follow_the_documented_layout(small_archive):
    root, _, _ = small_archive
    n = SMALL.detector_size
    for det in DETECTORS:
        key = spectral_wcs_key(SMALL, det)
        tok = SMALL.spectral_wcs_token
        # spectral_wcs/cal-wcs-v{V}-{date}/{k}/spectral_wcs_D{k}_spx_cal-wcs-v{V}-{date}.fits
        assert key == f"qr2/spectral_wcs/{tok}/{det}/spectral_wcs_D{det}_spx_{tok}.fits"
        assert tok.startswith("cal-wcs-v")
        with fits.open(root / key) as hdul:
            assert [h.name for h in hdul] == ["PRIMARY", "CWAVE", "CBAND", "WCS-WAVE"]
            for name in ("CWAVE", "CBAND"):
                assert hdul[name].shape == (n, n) and hdul[name].header["BUNIT"] == "um"
        cwave, cband = _maps(root, det)
        lo, hi = DETECTORS[det].em_min_um, DETECTORS[det].em_max_um
        assert 0.996 * lo < cwave.min() < lo < hi - 1e-3 < cwave.max() < hi + 1e-6  # 0.3 % fall along x; float32
        np.testing.assert_allclose(cband, cwave / DETECTORS[det].resolving_power, rtol=1e-6)


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_sampled_wavelengths_equal_the_simulator_model(small_archive, detector):
    """Bilinear sampling of CWAVE/CBAND at random fractional parent positions reproduces the analytic model."""
    root, _, _ = small_archive
    cwave, cband = _maps(root, detector)
    n = SMALL.detector_size
    x, y = np.random.default_rng(detector).uniform(-0.5, n - 0.5, size=(2, 2000))
    lam, band = sample_parent_maps(cwave, cband, x, y)
    true_lam, true_band = instrument.wavelength_model(detector, n, x, y)
    assert np.all(np.isfinite(lam)) and np.all(np.isfinite(band))
    assert np.max(np.abs(lam - true_lam)) < 1e-4
    assert np.max(np.abs(band - true_band)) < 1e-4 / DETECTORS[detector].resolving_power * 10
    # integer positions are the stored pixel values, untouched
    ix, iy = np.array([0, 5, n - 1]), np.array([n - 1, 17, 0])
    np.testing.assert_array_equal(sample_parent_maps(cwave, cband, ix, iy)[0], cwave[iy, ix])


def test_off_detector_positions_are_nan():
    cwave = np.arange(12.0).reshape(3, 4)
    lam, band = sample_parent_maps(cwave, cwave, [-0.6, -0.5, 3.5, 3.6, 1.5], [1, 1, 1, 1, 2.6])
    assert np.isnan(lam[[0, 3, 4]]).all() and np.isfinite(lam[[1, 2]]).all()
    assert lam.shape == (5,) and np.isnan(band[0])
    # a fractional position is the bilinear mean of the four surrounding pixel centres
    assert sample_parent_maps(cwave, cwave, 1.5, 0.5)[0] == pytest.approx(np.mean(cwave[0:2, 1:3]))


def test_sampling_is_scipy_bilinear_inside_the_pixel_centres():
    from scipy.interpolate import RegularGridInterpolator

    rng = np.random.default_rng(3)
    cwave, cband = rng.normal(size=(2, 40, 50))
    x, y = rng.uniform(0, 49, 500), rng.uniform(0, 39, 500)
    lam, band = sample_parent_maps(cwave, cband, x, y)
    for got, plane in ((lam, cwave), (band, cband)):
        want = RegularGridInterpolator((np.arange(40.0), np.arange(50.0)), plane)(np.stack([y, x], axis=-1))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.fixture(scope="module", name="cutouts")
def fixture_cutouts(small_archive, tmp_path_factory):
    """Cutouts (0.05 deg) around the simulated sources from every exposure that contains them."""
    root, _, truth = small_archive
    out = tmp_path_factory.mktemp("swcs-cutouts")
    return [path for src in truth[:6] for path in fetch_cutouts(root, src, 0.05, out)]


def test_agrees_with_the_cutout_wcs_wave_table(small_archive, cutouts):
    """At random positions in real-layout cutouts, the product sampled at the parent index (§5) and the cutout's own
    WCS-WAVE table agree to the table's accuracy, and the table is measurably coarser than the product."""
    root, _, _ = small_archive
    maps = {d: _maps(root, d) for d in DETECTORS}
    rng = np.random.default_rng(5)
    worst, worst_vs_sky, detectors = 0.0, {"product": 0.0, "table": 0.0}, set()
    for path in cutouts:
        image = read_spectral_image(path)
        ny, nx = image.shape
        x, y = rng.uniform(0, nx - 1, 50), rng.uniform(0, ny - 1, 50)
        table_lam, table_band = image.wavelength(x, y)
        px, py = image.parent_origin[0] + x, image.parent_origin[1] + y
        lam, band = sample_parent_maps(*maps[image.detector], px, py)
        # the simulated sky is rendered at the model's wavelengths: the product holds them per pixel, the table
        # only on its coarse grid
        sky = instrument.wavelength_model(image.detector, SMALL.detector_size, px, py)[0]
        worst_vs_sky["product"] = max(worst_vs_sky["product"], float(np.max(np.abs(lam - sky))))
        worst_vs_sky["table"] = max(worst_vs_sky["table"], float(np.max(np.abs(table_lam - sky))))
        worst = max(worst, float(np.max(np.abs(lam - table_lam))))
        assert np.max(np.abs(band - table_band)) < 1e-4
        detectors.add(image.detector)
    assert len(cutouts) > 30 and detectors == set(DETECTORS)
    # measured 7.8e-4 µm at 128 px (a grid point every ~13 rows); AD quotes ~1 nm for the real table
    assert 1e-5 < worst < 1e-3
    assert worst_vs_sky["product"] < 2e-5 < 1e-4 < worst_vs_sky["table"], worst_vs_sky


@pytest.mark.parametrize("drop", SPECTRAL_WCS_HDUS)
def test_reader_names_file_and_missing_hdu(small_archive, tmp_path, drop):
    root, _, _ = small_archive
    with fits.open(root / spectral_wcs_key(SMALL, 2)) as hdul:
        kept = fits.HDUList([h.copy() for h in hdul if h.name != drop])
    path = tmp_path / f"no-{drop}.fits"
    kept.writeto(path)
    with pytest.raises(DataFormatError, match=rf"{path}: spectral_wcs file has no {drop} HDU"):
        read_spectral_wcs(path)


def test_reader_rejects_unreadable_and_non_wavelength_files(small_archive, tmp_path):
    bad = tmp_path / "garbage.fits"
    bad.write_bytes(b"not a FITS file at all" * 200)
    with pytest.raises(DataFormatError, match=str(bad)):
        read_spectral_wcs(bad)
    root, _, _ = small_archive
    with fits.open(root / spectral_wcs_key(SMALL, 1)) as hdul:
        hdul["CBAND"].header["BUNIT"] = "MJy / sr"
        odd = tmp_path / "odd-unit.fits"
        hdul.writeto(odd)
    with pytest.raises(DataFormatError, match=rf"{odd} CBAND: BUNIT 'MJy / sr' is not a wavelength unit"):
        read_spectral_wcs(odd)


@pytest.mark.parametrize("transport", ["local", "http", "s3"])
def test_served_like_the_solid_angle_map(small_archive, tmp_path, transport):
    """fetch_calibration gets the spectral_wcs file from the local archive and from loopback IRSA (HTTP and S3)."""
    root, _, _ = small_archive
    key = spectral_wcs_key(SMALL, 5)
    out = tmp_path / "cache" / "calibration" / key.rsplit("/", 1)[1]
    if transport == "local":
        fetch_calibration(key, {"backend": "local", "root": str(root), "collection": "spherex_qr2"}, out,
                          require=SPECTRAL_WCS_HDUS)
    else:
        with LoopbackIrsa(root, s3=transport == "s3") as service:
            settings = config_section("archive", service.archive_settings(transport=transport))
            assert open_archive(settings).name
            fetch_calibration(key, settings, out, require=SPECTRAL_WCS_HDUS)
    assert out.is_symlink() and out.read_bytes() == (root / key).read_bytes()
    # the solid-angle map is not a spectral_wcs file: the download is refused, naming the key
    with pytest.raises(DataFormatError, match=r"solid_angle_pixel_map_D5_spx.*missing HDU\(s\) CWAVE, CBAND"):
        fetch_calibration(sapm_key(SMALL, 5), {"backend": "local", "root": str(root),
                                               "collection": "spherex_qr2"},
                          tmp_path / "wrong.fits", require=SPECTRAL_WCS_HDUS)


def test_source_spectrum_takes_wavelengths_from_the_calibration(small_archive, cutouts):
    """Spectra measured with the product: the same fluxes, wavelengths within 2e-3 µm of the table's, and the
    metadata says where the wavelengths came from."""
    root, _, truth = small_archive
    from astropy.table import Table

    src = truth[0]
    rows = [{"file_name": p.name, "path": str(p), "status": "ok", "error": ""}
            for p in cutouts if p.name.startswith(f"{src['source_id']}-")]
    manifest = Table(rows=rows)
    omegas = {d: read_solid_angle_map(root / sapm_key(SMALL, d)) for d in DETECTORS}
    flags = config_section("flags")
    params = {"radii_px": [2.0, 3.0], "annulus_px": [7.0, 16.0], "bad_flags": flags["photometry_bad"],
              "background_flags": flags["background_bad"], "reject_sigma": 5.0, "reject_sigma_flagged": 3.0,
              "psf_model_error": 0.05,
              "fit_position": True, "max_position_shift_px": 0.5}
    ra, dec = float(src["ra"]), float(src["dec"])
    table = source_spectrum(manifest, ra, dec, "0001", omegas, params, radius=2.0)
    calib = source_spectrum(manifest, ra, dec, "0001", omegas, params, radius=2.0,
                            wavelength_maps={d: _maps(root, d) for d in DETECTORS})
    # rows are sorted by wavelength, which the two sources of wavelengths may order differently: compare by exposure
    table, calib = table[np.argsort(table["mjd"].value)], calib[np.argsort(calib["mjd"].value)]
    assert table.meta["wavelength_source"] == WAVELENGTH_SOURCES["table"]
    assert calib.meta["wavelength_source"] == WAVELENGTH_SOURCES["calibration"]
    assert calib.meta["wavelength_source"].startswith("spectral_wcs calibration")
    assert (table.meta["wavelengths"], calib.meta["wavelengths"]) == ("table", "calibration")
    assert calib.meta["settings_hash"] != table.meta["settings_hash"] == settings_hash(params)
    assert len(calib) == len(table) > 20
    diff = np.abs(np.asarray(calib["wavelength"].value) - np.asarray(table["wavelength"].value))
    assert np.all(diff < 2e-3) and np.any(diff > 0)
    np.testing.assert_allclose(calib["bandwidth"].value, table["bandwidth"].value, atol=1e-4)
    np.testing.assert_array_equal(calib["flux"].value, table["flux"].value)
    model = instrument.wavelength_model(np.asarray(calib["detector"])[0], SMALL.detector_size,
                                        np.asarray(calib["parent_x"].value)[0], np.asarray(calib["parent_y"].value)[0])
    assert calib["wavelength"].value[0] == pytest.approx(float(model[0]), abs=1e-4)
