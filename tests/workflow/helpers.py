"""Helpers shared by the workflow tests: the test configuration and running Snakemake in a subprocess."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..conftest import REAL, ROOT

CHANNELS = REAL / "calibration" / "spectral_channels_spx_cal-sch-v1-2026-106.fits"

CONFIG = """
targets: {workdir}/targets.csv
pairs: [D2-D4]
cache_dir: cache
archive: {{backend: local, root: sim}}
simulation: {{detector_size: 128, exposures_per_target: 12, psf_zones: 3, psf_stamp: 101, n_stars: 12, n_red: 4,
             margin_px: 44, sky_radius_arcsec: 170, seed: 7}}
difference: {{size_px: 48, background_margin_px: 16, background_box_px: 16}}
selection: {{strategy: brightest, n: 2, sign: red}}
photometry: {{radii_px: {radii}, download_threads: 2}}
spectra: {{channels: {channels}}}
"""


def snakemake(workdir, *args, configfile="test.yaml", timeout=900):
    cmd = [sys.executable, str(ROOT / "tests" / "netguard.py"), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", "--configfile", str(Path(workdir) / configfile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def job_counts(output):
    """Rule -> count from Snakemake's 'Job stats' table."""
    block = output.split("Job stats:", 1)[1].split("\n\n", 1)[0] if "Job stats:" in output else ""
    counts = {}
    for line in block.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def assert_same_products(here, there):
    """Products of two runs agree: FITS by FITSDiff, tables numerically."""
    diff = fits.FITSDiff(str(here / "difference.fits"), str(there / "difference.fits"),
                         ignore_keywords=["DATE", "CHECKSUM", "DATASUM", "FILE_A", "FILE_B"])
    assert diff.identical, diff.report()
    for name in ("catalog.ecsv", "selected.ecsv"):
        a, b = Table.read(here / name), Table.read(there / name)
        assert a.colnames == b.colnames and len(a) == len(b)
        for col in a.colnames:
            if a[col].dtype.kind in "fiu":
                np.testing.assert_allclose(a[col], b[col], rtol=1e-12, err_msg=f"{name}:{col}")
            else:
                assert list(a[col]) == list(b[col]), f"{name}:{col}"
    for source in Table.read(there / "selected.ecsv")["source"]:
        a = Table.read(here / "sources" / source / "spectrum.ecsv")
        b = Table.read(there / "sources" / source / "spectrum.ecsv")
        assert len(a) == len(b) > 0
        for col in ("mjd", "wavelength", "flux", "flux_err", "background", "quality"):
            np.testing.assert_allclose(a[col], b[col], rtol=1e-12, err_msg=f"{source}:{col}")


