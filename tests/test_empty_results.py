"""Explicit empty results instead of crashes: a target without coverage, a difference without detections; and the
run summary that names every target and pair with its status and reason."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from spherex_sdt.io.difference_file import DIFFERENCE_PLANES
from spherex_sdt.tasks.archive import fetch_pair_images, fetch_source_cutouts
from spherex_sdt.tasks.extraction import extract_sources, select_sources
from spherex_sdt.tasks.imaging import make_difference
from spherex_sdt.tasks.plots import interactive_page, plot_difference
from spherex_sdt.tasks.spectra import measure_spectra
from spherex_sdt.archive import empty_image_table
from spherex_sdt.summary import Stage, log_reason, pair_summary, run_summary

from .conftest import ROOT, config_section

SEXTRACTOR = {k: str(ROOT / "config" / "sextractor" / f"default.{e}")
              for k, e in (("config", "sex"), ("parameters", "param"), ("filter_kernel", "conv"))}
PHOTOMETRY = {"radii_px": [2.0, 3.0], "annulus_px": [7.0, 16.0], "bad_flags": [], "background_flags": [],
              "reject_sigma": 5.0, "reject_sigma_flagged": 3.0, "psf_model_error": 0.05,
              "fit_position": True, "max_position_shift_px": 0.5}
BINNING = {"radius_px": 3.0, "clip_sigma": 4.0}


def _stages(base):
    names = ("pair_images.ecsv", "difference.fits", "catalog.ecsv", "selected.ecsv", "exposures.ecsv",
             "spectra.ecsv", "difference.png")
    return [Stage(name.split(".")[0], str(base / name), str(base / f"{name}.log")) for name in names]


def _downstream(base, archive, cache):
    """Run every stage after make_difference on ``base``; return the catalogue outputs."""
    outputs = {f"{kind}{tag}": str(base / f"catalog{tag}.{ext}") for kind, ext in (("ecsv", "ecsv"), ("votable", "xml"))
               for tag in ("", "_a", "_b")}
    extract_sources(base / "difference.fits", **SEXTRACTOR, outputs=outputs)
    select_sources(base / "catalog.ecsv", config_section("selection", strategy="brightest", n=2, sign="both"),
                   base / "selected.ecsv")
    fetch_source_cutouts(base / "selected.ecsv", [1, 2, 3, 4, 5, 6], 0.1, 2, archive, cache,
                         base / "exposures.ecsv")
    measure_spectra(base / "exposures.ecsv", {}, PHOTOMETRY, BINNING, base / "sources", base / "spectra.ecsv")
    plot_difference(base / "difference.fits", base / "catalog.ecsv", base / "selected.ecsv",
                    {name: base / f"{name}.png" for name in ("difference", "overlap", "significance")})
    interactive_page(base / "difference.fits", base / "catalog.ecsv", base / "selected.ecsv", base / "sources",
                     3.0, base / "explore.html")
    return outputs


def test_target_without_coverage_gets_empty_valid_products(tmp_path):
    base, cache = tmp_path / "results", tmp_path / "cache"
    archive = {"backend": "local", "root": str(tmp_path / "archive"), "collection": "spherex_qr2"}
    images = empty_image_table()
    images.meta.update(status="no_coverage", reason="no image within 50 arcsec")
    images.write(tmp_path / "images.ecsv")
    fetch_pair_images(tmp_path / "images.ecsv", "D2-D4", 10.0, -40.0, 50, None, archive, cache,
                      base / "pair_images.ecsv", visits="all", max_visits=8, box_px=48, threads=1)
    make_difference(base / "pair_images.ecsv", "unused-a.fits", "unused-b.fits", 10.0, -40.0, {},
                    base / "difference.fits")
    outputs = _downstream(base, archive, cache)

    with fits.open(base / "difference.fits") as hdul:
        assert hdul[0].header["STATUS"] == "no_coverage" and "no D2 image contains" in hdul[0].header["REASON"]
        assert [h.name for h in hdul][1:] == list(DIFFERENCE_PLANES)
    for path in [*outputs.values(), base / "selected.ecsv", base / "exposures.ecsv", base / "spectra.ecsv"]:
        table = Table.read(path, format="votable" if str(path).endswith(".xml") else "ascii.ecsv")
        assert len(table) == 0
        if str(path).endswith(".ecsv"):
            assert table.meta["status"] == "no_coverage"
    for name in ("difference", "overlap", "significance"):
        assert (base / f"{name}.png").stat().st_size > 1000
    assert "no_coverage" in (base / "explore.html").read_text()
    assert not (cache / "level2").exists()  # nothing fetched
    [row] = pair_summary("nowhere", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert row["status"] == "no_coverage" and "no D2 image contains (10.000000, -40.000000)" in row["reason"]


def _blank_difference(path):
    """A difference file as make_difference writes it, with nothing in it (zero signal, unit variance)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150.0, 2.0], [24.5, 24.5], [-6.15 / 3600, 6.15 / 3600]
    header = fits.Header({"PAIR": "D2-D4", "STATUS": "ok", "DET_A": 2, "DET_B": 4, "OBSID_A": "a", "OBSID_B": "b",
                          "LAM_A": 1.3, "LAM_B": 3.0, "PAIRRULE": "same exposure"})
    planes = {"DIFFERENCE": 0.0, "VARIANCE": 1.0, "SNR": 0.0, "MASK": 0, "IMAGE_A": 0.0, "VARIANCE_A": 1.0,
              "IMAGE_B": 0.0, "VARIANCE_B": 1.0, "FLAGS_A": 0, "FLAGS_B": 0, "COVERAGE_A": 1, "COVERAGE_B": 1,
              "IMAGE_REF": 0.0, "VARIANCE_REF": 1.0}
    hdus = [fits.PrimaryHDU(header=header)]
    for name, value in planes.items():
        dtype = np.uint8 if name == "MASK" else np.int32 if name.startswith(("FLAGS", "COVERAGE")) else np.float32
        data = np.full((48, 48), value, dtype)
        hdus.append(fits.ImageHDU(data, header=wcs.to_header(), name=name))
    fits.HDUList(hdus).writeto(path)


def test_no_detection_gives_empty_catalogue_and_no_spectra(tmp_path):
    base = tmp_path / "results"
    base.mkdir()
    _blank_difference(base / "difference.fits")
    (base / "pair_images.ecsv").write_text("# the pair (not read here)\n")
    archive = {"backend": "local", "root": str(tmp_path / "archive"), "collection": "spherex_qr2"}
    _downstream(base, archive, tmp_path / "cache")
    catalog = Table.read(base / "catalog.ecsv")
    assert len(catalog) == 0 and {"id", "ra", "dec", "sign", "FLUX_AUTO"} <= set(catalog.colnames)
    assert len(Table.read(base / "catalog.xml", format="votable")) == 0
    assert len(Table.read(base / "selected.ecsv")) == 0 and len(Table.read(base / "spectra.ecsv")) == 0
    assert not any((base / "sources").iterdir())
    [row] = pair_summary("blank", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert row["status"] == "no_sources" and "0 detections" in row["reason"]


TRACEBACK = """2026-11-25 INFO spherex_sdt.tasks: starting
Traceback (most recent call last):
  File "scripts/fetch_pair_images.py", line 7, in <module>
spherex_sdt.errors.DataFormatError: qr2/level2/x/level2_bad.fits: not a valid FITS file (truncated)
"""


@pytest.mark.parametrize(("log", "status", "reason"), [
    pytest.param(TRACEBACK, "failed", "DataFormatError: qr2/level2/x/level2_bad.fits: not a valid FITS file",
                 id="failed-with-traceback"),
    pytest.param("2026-11-25 INFO starting\n", "failed", "interrupted: the log ends without an error", id="killed"),
    pytest.param(None, "not_run", "difference did not run", id="never-started"),
])
def test_summary_names_the_failed_stage_and_reason(tmp_path, log, status, reason):
    stages = _stages(tmp_path)
    (tmp_path / "pair_images.ecsv").write_text("# done\n")
    if log is not None:
        (tmp_path / "difference.fits.log").write_text(log)
    [row] = pair_summary("t1", "D2-D4", stages, tmp_path / "spectra.ecsv")
    assert row["status"] == status and row["stage"] == "difference" and reason in row["reason"]


def test_run_summary_lists_every_target(tmp_path):
    ok = tmp_path / "ok"
    ok.mkdir()
    for stage in _stages(ok):
        open(stage.product, "w").close()
    Table(rows=[("0001", 1.0, 2.0, 10, 9, 3.0, 5.0, "s"), ("0002", 1.0, 2.0, 10, 0, 3.0, np.nan, "s")],
          names=("source", "ra", "dec", "n_exposures", "n_measured", "radius", "median_snr", "spectrum"),
          meta={"status": "ok"}).write(ok / "spectra.ecsv", overwrite=True)
    bad = tmp_path / "bad"
    bad.mkdir()
    table = run_summary([("good", "D2-D4", _stages(ok), ok / "spectra.ecsv"),
                         ("bad", "D2-D4", _stages(bad), bad / "spectra.ecsv")])
    assert list(table["target"]) == ["good", "good", "bad"]
    assert list(table["status"]) == ["ok", "no_measurements", "not_run"]
    assert "1 of 10 exposures not measured" in table["reason"][0]
    assert table.meta["status_counts"] == {"ok": 1, "no_measurements": 1, "not_run": 1}
    assert log_reason(tmp_path / "absent.log") is None
