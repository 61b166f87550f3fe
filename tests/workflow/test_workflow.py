"""The whole workflow, run by Snakemake in a subprocess on a small simulated archive."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
import astropy.units as u
from astropy.io import fits
from astropy.table import Table

from spherex_sdt.simulate import true_flux

from ..conftest import ROOT

pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module", name="run")
def fixture_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "targets.csv").write_text("target,ra_deg,dec_deg\nfield-1,150.7817877,3.3502204\n")
    (workdir / "test.yaml").write_text(CONFIG.format(workdir=workdir, radii="[2.0, 3.0, 4.0]"))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "NETWORK ATTEMPT" not in result.stderr
    return workdir, result


def test_products(run):
    workdir, _ = run
    base = workdir / "results" / "field-1" / "D2-D4"
    with fits.open(base / "difference.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "DIFFERENCE", "VARIANCE", "SNR", "MASK", "IMAGE_A", "IMAGE_B"]
        assert hdul["DIFFERENCE"].header["BUNIT"] == "uJy" and hdul[0].header["DET_A"] == 2
    catalog = Table.read(base / "catalog.ecsv")
    assert len(catalog) > 3 and {"ra", "dec", "sign", "FLUX_AUTO"} <= set(catalog.colnames)
    assert len(Table.read(base / "catalog.xml", format="votable")) == len(catalog)
    selected = Table.read(base / "selected.ecsv")
    assert len(selected) == 2 and np.all(selected["sign"] == -1)
    summary = Table.read(base / "spectra.ecsv")
    assert list(summary["source"]) == list(selected["source"])
    for source in selected["source"]:
        folder = base / "sources" / source
        spectrum = Table.read(folder / "spectrum.ecsv")
        assert spectrum["flux"].unit == u.uJy and spectrum["wavelength"].unit == u.um
        assert spectrum.meta["software"].startswith("spherex-sdt") and spectrum.meta["settings_hash"]
        assert spectrum.meta["archive_query_time_utc"]
        assert len(Table.read(folder / "spectrum.fits")) == len(spectrum)
        assert (folder / "spectrum.png").stat().st_size > 10_000
    assert (base / "difference.png").stat().st_size > 10_000


def test_injected_red_source_spectrum(run):
    """The target's injected red source is found, selected and measured: within 3 sigma at >= 80 % of points."""
    workdir, _ = run
    truth = Table.read(workdir / "sim" / "truth.ecsv")
    red = truth[0]
    base = workdir / "results" / "field-1" / "D2-D4"
    selected = Table.read(base / "selected.ecsv")
    sep = SkyCoord(red["ra"], red["dec"], unit="deg").separation(SkyCoord(selected["ra"], selected["dec"], unit="deg")).arcsec
    assert sep.min() < 6.15  # within 1 px
    spectrum = Table.read(base / "sources" / selected["source"][int(np.argmin(sep))] / "spectrum.ecsv")
    r3 = spectrum[np.isclose(spectrum["radius"].value, 3.0)]
    assert len(r3) >= 20 and len(set(r3["detector"])) == 6
    expected = true_flux(red, r3["wavelength"].value)
    pull = (r3["flux"].value - expected) / r3["flux_err"].value
    assert np.mean(np.abs(pull) < 3) >= 0.8


def test_rerun_does_nothing(run):
    workdir, _ = run
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_radii_reruns_photometry_only(run):
    workdir, _ = run
    (workdir / "radii.yaml").write_text(CONFIG.format(workdir=workdir, radii="[2.5, 3.5]"))
    cutouts = sorted((workdir / "cache" / "cutouts").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in cutouts}
    dry = snakemake(workdir, "-n", configfile="radii.yaml")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts == {"source_photometry": 2, "plot_spectrum": 2, "summarize_spectra": 1, "all": 1}
    real = snakemake(workdir, configfile="radii.yaml")
    assert real.returncode == 0, real.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in cutouts} == stamps  # nothing re-downloaded
    spectrum = Table.read(next((workdir / "results" / "field-1" / "D2-D4" / "sources").glob("*/spectrum.ecsv")))
    assert sorted(set(spectrum["radius"].value)) == [2.5, 3.5]


def test_bad_target_list_stops_before_any_job(tmp_path):
    (tmp_path / "targets.csv").write_text("target,ra_deg,dec_deg\nm101,210.8,54.3\nbad,210.8,95\n")
    (tmp_path / "test.yaml").write_text(CONFIG.format(workdir=tmp_path, radii="[3.0]"))
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "line 3, column dec_deg: 95 is outside [-90, 90]" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "sim").exists()


def test_bad_config_is_rejected(tmp_path):
    (tmp_path / "targets.csv").write_text("target,ra_deg,dec_deg\nm101,210.8,54.3\n")
    (tmp_path / "test.yaml").write_text(CONFIG.format(workdir=tmp_path, radii="[-3.0]"))
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0 and "radii_px" in result.stdout + result.stderr


def test_real_archive_config_builds_dag_offline(tmp_path):
    """With config/config.yaml (IRSA), a dry run plans the searches without touching the network."""
    (tmp_path / "targets.csv").write_text("target,ra_deg,dec_deg\nm101,210.80227,54.34895\ncosmos,150.78,3.35\n")
    (tmp_path / "test.yaml").write_text(f"targets: {tmp_path}/targets.csv\n")
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NETWORK ATTEMPT" not in result.stdout + result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["search_images"] == 2 and counts["make_difference"] == 2 and counts["select_sources"] == 2


def test_irsa_backend_through_loopback_gives_identical_products(run, tmp_path):
    """The same archive served over SIA, TAP, S3 and the cutout service yields the local backend's products."""
    import yaml

    from spherex_sdt.archive.loopback import LoopbackIrsa

    workdir, _ = run
    (tmp_path / "targets.csv").write_text((workdir / "targets.csv").read_text())
    with LoopbackIrsa(workdir / "sim", s3=True) as service:
        config = yaml.safe_load(CONFIG.format(workdir=tmp_path, radii="[2.0, 3.0, 4.0]"))
        del config["simulation"]
        config["archive"] = service.archive_settings(transport="s3")
        (tmp_path / "test.yaml").write_text(yaml.safe_dump(config))
        result = snakemake(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "NETWORK ATTEMPT" not in result.stderr
    here, there = (d / "results" / "field-1" / "D2-D4" for d in (workdir, tmp_path))
    for name in ("DIFFERENCE", "VARIANCE", "MASK"):
        np.testing.assert_array_equal(fits.getdata(here / "difference.fits", name),
                                      fits.getdata(there / "difference.fits", name))
    assert list(Table.read(here / "selected.ecsv")["source"]) == list(Table.read(there / "selected.ecsv")["source"])
    for source in Table.read(there / "selected.ecsv")["source"]:
        a = Table.read(here / "sources" / source / "spectrum.ecsv")
        b = Table.read(there / "sources" / source / "spectrum.ecsv")
        assert len(a) == len(b) > 0
        np.testing.assert_array_equal(a["flux"], b["flux"])
        assert b.meta["archive_query_time_utc"]
