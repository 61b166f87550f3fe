"""Products removed or made incomplete after a finished run: a plain re-run makes them again, a failing re-run
keeps the earlier good products, and the summary blames the right rule."""

import shutil

import pytest
from astropy.table import Table

from .helpers import CHANNELS, CONFIG, job_counts, snakemake

pytestmark = pytest.mark.slow

BASE = ("results", "field-1", "D2-D4")


def _summary_row(workdir):
    summary = Table.read(workdir / "results" / "summary.ecsv")
    return summary[summary["target"] == "field-1"]


def test_removed_files_are_made_again_and_good_products_kept(run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(run[0], workdir, symlinks=True)
    base = workdir.joinpath(*BASE)
    baseline = Table.read(base / "spectra.ecsv")

    # a removed selected.ecsv is not a failure of select_sources, which finished (a run making only the catalogue
    # again writes the summary; a one-value option first: --configfile would take the target for a config file)
    (base / "selected.ecsv").unlink()
    (base / "catalog.ecsv").unlink()
    result = snakemake(workdir, "--latency-wait", "5", "/".join((*BASE, "catalog.ecsv")))
    assert result.returncode == 0, result.stderr[-3000:]
    # the product made from it is removed, so that the next run makes the missing one first
    assert ("catalog.ecsv is missing: results/field-1/D2-D4/exposures.ecsv, results/field-1/D2-D4/spectra.ecsv "
            "made again") in result.stderr
    [row] = _summary_row(workdir)
    assert row["status"] == "not_run" and row["stage"] == "select_sources"
    assert "selected.ecsv is missing although select_sources finished" in row["reason"]
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (base / "selected.ecsv").exists() and list(_summary_row(workdir)["status"]) == ["ok", "ok"]
    assert list(Table.read(base / "spectra.ecsv")["n_measured"]) == list(baseline["n_measured"])

    # a file removed inside sources/{source}/ is made again by a plain run
    source = str(baseline["source"][0])
    (base / "sources" / source / "spectrum.png").unlink()
    dry = snakemake(workdir, "-n")
    assert f"{source}/spectrum.png is missing: results/field-1/D2-D4/spectra.ecsv would be made again" in dry.stderr
    assert (base / "spectra.ecsv").exists()  # a dry run changes nothing
    assert snakemake(workdir).returncode == 0
    assert (base / "sources" / source / "spectrum.png").stat().st_size > 10_000

    # case 2: an emptied cutout cache and new radii: the cutouts are fetched again, the spectra complete
    shutil.rmtree(workdir / "cache" / "cutouts")
    (workdir / "radii.yaml").write_text(CONFIG.format(channels=CHANNELS, workdir=run[0], radii="[2.5, 3.5]"))
    result = snakemake(workdir, configfile="radii.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fetch_source_cutouts" in job_counts(result.stdout + result.stderr)
    again = Table.read(base / "spectra.ecsv")
    assert list(again["n_measured"]) == list(baseline["n_measured"]) and set(again["status"]) == {"ok"}

    # a cache that cannot be written: the fetch fails naming it, and the spectra made before are kept
    shutil.rmtree(workdir / "cache" / "cutouts")
    (workdir / "cache" / "cutouts").write_text("not a directory")
    before = {p: p.read_bytes() for p in (base / "sources").rglob("*.ecsv")}
    result = snakemake(workdir, configfile="radii.yaml")
    assert result.returncode != 0
    assert {p: p.read_bytes() for p in (base / "sources").rglob("*.ecsv")} == before
    [row] = _summary_row(workdir)
    assert row["status"] == "failed" and row["stage"] == "fetch_source_cutouts"
    assert "cutouts" in row["reason"] and "not fetched" in row["reason"]
    assert not [p for p in (workdir / "results").rglob("*") if ".part" in p.name]
