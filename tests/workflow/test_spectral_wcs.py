"""spectra.wavelengths: calibration in the workflow: the spectral_wcs files are fetched and only photometry re-runs."""

import shutil

import numpy as np
import pytest
from astropy.table import Table

from spherex_sdt.calibration import WAVELENGTH_SOURCES

from .helpers import CHANNELS, CONFIG, job_counts, snakemake

pytestmark = pytest.mark.slow


def test_calibration_wavelengths_rerun_photometry_only(run, tmp_path):
    # work on a copy (mtimes kept), so that the other tests still see the original products
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    text = CONFIG.format(channels=CHANNELS, workdir=run[0], radii="[2.0, 3.0, 4.0]")
    line = f"spectra: {{channels: {CHANNELS}}}"
    assert line in text
    (workdir / "calib.yaml").write_text(text.replace(line, f"spectra: {{channels: {CHANNELS}, "
                                                           "wavelengths: calibration}"))
    dry = snakemake(workdir, "-n", configfile="calib.yaml")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout + dry.stderr) == {"fetch_spectral_wcs": 6, "measure_spectra": 1,
                                                   "interactive_page": 1, "all": 1}
    real = snakemake(workdir, configfile="calib.yaml")
    assert real.returncode == 0, real.stderr[-3000:]
    assert "NETWORK ATTEMPT" not in real.stderr
    assert len(list((workdir / "cache" / "calibration").glob("spectral_wcs_D*_spx_cal-wcs-v*.fits"))) == 6

    here = workdir / "results" / "field-1" / "D2-D4"
    there = run[0] / "results" / "field-1" / "D2-D4"
    sources = list(Table.read(there / "selected.ecsv")["source"])
    assert sources
    for source in sources:
        table = Table.read(there / "sources" / source / "spectrum.ecsv")
        calib = Table.read(here / "sources" / source / "spectrum.ecsv")
        assert table.meta["wavelength_source"] == WAVELENGTH_SOURCES["table"]
        assert calib.meta["wavelength_source"] == WAVELENGTH_SOURCES["calibration"]
        assert len(calib) == len(table) > 0
        diff = np.abs(np.asarray(calib["wavelength"]) - np.asarray(table["wavelength"]))
        assert np.all(diff < 2e-3) and np.any(diff > 0)
        np.testing.assert_array_equal(np.asarray(calib["flux"]), np.asarray(table["flux"]))
        assert Table.read(here / "sources" / source / "spectrum.fits").meta["WAVESRC"] == "calibration"
    # back to the table: the input set changes again, so the spectra are measured from the table once more
    dry = snakemake(workdir, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout + dry.stderr) == {"measure_spectra": 1, "interactive_page": 1, "all": 1}
