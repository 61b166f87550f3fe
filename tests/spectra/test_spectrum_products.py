"""Spectrum products open in specutils: one flux per exposure at the chosen radius, sorted by wavelength, with its
uncertainty and a mask from the quality bits; the other radii stay as columns; the FITS keeps every metadata entry."""

import numpy as np
import pytest
import specutils  # the test extra (tools/setup.sh --test): a missing specutils fails, it does not skip
from astropy.io import fits
from astropy.table import QTable, Table

from spherex_sdt.calibration.flags import SPHEREX_FLAGS
from spherex_sdt.io import write_fits, write_table
from spherex_sdt.photometry import QUALITY_BITS
from spherex_sdt.spectra import binned_spectrum, channel_table
from spherex_sdt.spectra.assemble import MASK_BITS, spectrum_meta_from_fits, spectrum_table
from spherex_sdt.tasks.spectra import spectrum_hdulist


RADII = (2.0, 3.0, 4.5)


def _measurements(n=9, seed=3):
    """Exposures in random wavelength order; flux grows with radius so that each radius is told apart."""
    rng = np.random.default_rng(seed)
    wavelengths = rng.permutation(np.linspace(0.8, 4.8, n))
    out = []
    for k, lam in enumerate(wavelengths):
        radii = []
        for r in RADII:
            quality = 0
            if k == 2 and r == 3.0:
                quality = QUALITY_BITS["LOW_PSF_COVERAGE"]  # masks
            if k == 4:
                quality = QUALITY_BITS["MASKED_IN_APERTURE"]  # corrected: does not mask
            radii.append({"radius": r, "flux": 100.0 * lam + r, "flux_err": 1.0 + 0.1 * r, "background": 0.5,
                          "background_err": 0.05, "n_annulus": 400, "psf_fraction": 0.3 * r,
                          "n_bad_aperture": int(k == 4), "n_rejected": 0, "aperture_coverage": 1.0,
                          "quality": quality})
        out.append({"obs_id": f"2025{k:03d}", "expid": k, "detector": int(1 + lam // 0.81), "mjd": 60800.0 + k,
                    "x": 10.0, "y": 11.0, "parent_x": 500.0, "parent_y": 600.0, "wavelength": float(lam),
                    "bandwidth": float(lam) / 40, "flux_psf": 100.0 * lam, "flux_psf_err": 1.0, "chi2_psf": 1.1,
                    "flag_counts": {"HOT": k % 2}, "radii": radii})
    return out


META = {"source": "0007", "ra_deg": 150.78, "dec_deg": 3.35, "software": "spherex-sdt test",
        "photometry_algorithm": "4", "settings_hash": "abc",
        "settings": {"radii_px": list(RADII), "annulus_px": [7, 16]},
        "archive_query_time_utc": "2026-01-01T00:00:00+00:00", "n_exposures_found": 10, "n_measured": 9,
        "skipped": ["level2_x.fits: position outside the cutout", "level2_y.fits: µ not ASCII"],
        "flux_unit": "uJy", "wavelengths": "table", "wavelength_source": "spectral WCS W"}


@pytest.fixture(name="products")
def fixture_products(tmp_path):
    measurements = _measurements()
    table = spectrum_table(measurements, list(SPHEREX_FLAGS), dict(META), radius=3.0)
    write_table(table, tmp_path / "spectrum.ecsv")
    write_fits(spectrum_hdulist(table), tmp_path / "spectrum.fits")
    binned = binned_spectrum(table, 3.0, channel_table())
    write_table(binned, tmp_path / "spectrum_binned.ecsv")
    return tmp_path, measurements, table


def test_table_is_one_row_per_exposure_sorted_by_wavelength(products):
    _, measurements, table = products
    assert len(table) == len(measurements)
    lam = table["wavelength"].value
    assert np.all(np.diff(lam) > 0)
    by_lam = sorted(measurements, key=lambda m: m["wavelength"])
    for name, r in (("flux", 3.0), ("flux_r2", 2.0), ("flux_r3", 3.0), ("flux_r4p5", 4.5)):
        expected = [next(x["flux"] for x in m["radii"] if x["radius"] == r) for m in by_lam]
        np.testing.assert_allclose(table[name].value, expected, err_msg=name)
    assert set(table["radius"].value) == {3.0}
    assert table.meta["radii_px"] == list(RADII) and table.meta["radius_px"] == 3.0
    for name in table.colnames:  # every column says what it is
        assert table[name].info.description, name


def test_mask_follows_the_quality_bits(products):
    _, _, table = products
    quality = np.asarray(table["quality"])
    assert list(np.asarray(table["mask"])) == list((quality & MASK_BITS) != 0)
    assert np.asarray(table["mask"]).sum() == 1  # LOW_PSF_COVERAGE at r = 3 only; MASKED_IN_APERTURE does not mask
    assert np.asarray(table["quality_r2"]).max() == QUALITY_BITS["MASKED_IN_APERTURE"]


@pytest.mark.parametrize("name", ["spectrum.ecsv", "spectrum.fits"])
def test_specutils_reads_the_spectrum(products, name):
    folder, _, table = products
    spectrum = specutils.Spectrum.read(folder / name)
    assert spectrum.spectral_axis.unit == "um" and spectrum.flux.unit == "uJy"
    np.testing.assert_allclose(spectrum.spectral_axis.value, table["wavelength"].value)
    np.testing.assert_allclose(spectrum.flux.value, table["flux"].value)
    np.testing.assert_allclose(spectrum.uncertainty.array, table["flux_err"].value)
    assert list(np.asarray(spectrum.mask)) == list(np.asarray(table["mask"]))


def test_specutils_reads_the_binned_spectrum(products):
    folder, _, _ = products
    binned = Table.read(folder / "spectrum_binned.ecsv")
    spectrum = specutils.Spectrum.read(folder / "spectrum_binned.ecsv")
    np.testing.assert_allclose(spectrum.spectral_axis.value, binned["wavelength"])
    np.testing.assert_allclose(spectrum.flux.value, binned["flux"])
    np.testing.assert_allclose(spectrum.uncertainty.array, binned["flux_err"])


def test_fits_keeps_every_metadata_entry(products):
    folder, _, _ = products
    ecsv = Table.read(folder / "spectrum.ecsv").meta
    with fits.open(folder / "spectrum.fits") as hdul:
        for hdu in (hdul[0], hdul["SPECTRUM"]):
            assert spectrum_meta_from_fits(hdu.header) == dict(ecsv)
        assert hdul[0].header["NMEAS"] == 9 and hdul[0].header["SOURCE"] == "0007"
    fits_table = QTable.read(folder / "spectrum.fits", hdu="SPECTRUM")
    assert fits_table.colnames == Table.read(folder / "spectrum.ecsv").colnames
    assert fits_table["flux"].info.description.startswith("total flux density")


def test_no_measurements_give_a_valid_empty_spectrum(tmp_path):
    table = spectrum_table([], list(SPHEREX_FLAGS), dict(META), radius=3.0)
    assert len(table) == 0 and table["quality"].dtype.kind == "i" and table["mask"].dtype == bool
    write_table(table, tmp_path / "spectrum.ecsv")
    write_fits(spectrum_hdulist(table), tmp_path / "spectrum.fits")
    assert len(binned_spectrum(Table.read(tmp_path / "spectrum.ecsv"), 3.0, channel_table())) == 0
