"""Figures, the interactive page, the Snakemake report and the VOTable of the small simulated run (`run` fixture)."""

import re

import matplotlib.image as mpimg
import numpy as np
import pytest
from astropy.io import votable
from astropy.table import Table

from spherex_sdt.tasks.plots import interactive_page, plot_difference, with_position_rows

from ..browser import page_errors, pixel_std, render, report_showing
from .helpers import job_counts, snakemake

pytestmark = pytest.mark.slow

PAIR_FIGURES = ("difference.png", "overlap.png", "significance.png")


def _base(run):
    return run[0] / "results" / "field-1" / "D2-D4"


@pytest.mark.parametrize("name", PAIR_FIGURES)
def test_pair_figures_are_not_blank(run, name):
    path = _base(run) / name
    assert path.stat().st_size > 30_000
    assert pixel_std(path) > 0.08  # a white page with axes only is ~0.05


def test_spectrum_figures_are_not_blank(run):
    base = _base(run)
    sources = list(Table.read(base / "selected.ecsv")["source"])
    assert len(sources) == 2
    for source in sources:
        path = base / "sources" / source / "spectrum.png"
        assert path.stat().st_size > 30_000 and pixel_std(path) > 0.05


def test_one_ellipse_per_detection(run, tmp_path):
    """Re-drawing the run's figures draws exactly one ellipse per catalogue row, on the difference and on S/N."""
    base = _base(run)
    catalog = Table.read(base / "catalog.ecsv")
    outputs = {k: tmp_path / f"{k}.png" for k in ("difference", "overlap", "significance")}
    drawn = plot_difference(base / "difference.fits", base / "catalog.ecsv", base / "selected.ecsv", outputs)
    assert drawn["difference"] == drawn["significance"] == len(catalog) > 3
    assert sum(drawn["overlap"].values()) == pytest.approx(1.0) and drawn["overlap"]["good in both"] > 0.5


def test_votable_opens_in_viewers(run):
    """catalog.xml declares ra/dec as the main position, with units, and flux/shape UCDs (TOPCAT, Firefly)."""
    base = _base(run)
    for name in ("catalog.xml", "catalog_A.xml", "catalog_B.xml"):
        table = votable.parse(base / name).get_first_table()
        fields = {f.name: f for f in table.fields}
        assert fields["ra"].ucd == "pos.eq.ra;meta.main" and str(fields["ra"].unit) == "deg"
        assert fields["dec"].ucd == "pos.eq.dec;meta.main" and str(fields["dec"].unit) == "deg"
        assert fields["id"].ucd == "meta.id;meta.main"
        assert fields["FLUX_AUTO"].ucd == "phot.flux.density" and str(fields["FLUX_AUTO"].unit) == "uJy"
        assert fields["FLUXERR_AUTO"].ucd == "stat.error;phot.flux.density"
        assert fields["THETA_IMAGE"].ucd == "pos.posAng;instr.det" and str(fields["THETA_IMAGE"].unit) == "deg"
        assert sum(f.ucd is not None for f in table.fields) >= 15
        assert len(table.array) == len(Table.read(base / name.replace(".xml", ".ecsv")))
    fields = {f.name: f for f in votable.parse(base / "catalog.xml").get_first_table().fields}
    assert fields["colour_ab"].ucd == "phot.color" and fields["sign"].ucd == "meta.code"
    # COOSYS that ra/dec refer to; PARAMs for the target, the pair and the sign convention
    for name in ("catalog.xml", "catalog_A.xml", "catalog_B.xml"):
        document = votable.parse(base / name)
        systems = {c.ID: c.system for c in document.resources[0].coordinate_systems}
        table = document.get_first_table()
        fields = {f.name: f for f in table.fields}
        assert systems[fields["ra"].ref] == systems[fields["dec"].ref] == "ICRS"
        params = {p.name: p.value for p in table.params}
        assert params["target"] == "field-1" and params["pair"] == "D2-D4"
    params = {p.name: p.value for p in votable.parse(base / "catalog.xml").get_first_table().params}
    assert "A - B" in params["sign_convention"] and "-1: brighter in B" in params["sign_convention"]


def test_explore_page_renders_offline(run, tmp_path):
    base = _base(run)
    page = base / "explore.html"
    html = page.read_text()
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", html), "page loads remote resources"
    catalog = Table.read(base / "catalog.ecsv")
    assert f"{len(catalog)} detections" in html
    messages, _ = render(page, tmp_path / "explore.png", tmp_path / "profile", size=(1500, 1100))
    assert not page_errors(messages), messages
    assert any("document idle" in m for m in messages), messages  # bokeh rendered the document
    assert pixel_std(tmp_path / "explore.png") > 0.08


def test_explore_page_shows_a_source_selected_by_position_only(run, tmp_path):
    """A position with no detection (id -1) that has a spectrum is on the page, at its position."""
    import shutil

    base = _base(run)
    selected = Table.read(base / "selected.ecsv")
    first = selected[0]
    shutil.copytree(base / "sources", tmp_path / "sources")
    shutil.copytree(base / "sources" / str(first["source"]), tmp_path / "sources" / "p001")
    extra = selected[:1].copy()
    extra["id"], extra["source"] = -1, "p001"
    extra["ra"], extra["dec"] = first["ra"] + 10 / 3600, first["dec"]  # 10 arcsec east of a detection
    from astropy.table import vstack

    vstack([selected, extra]).write(tmp_path / "selected.ecsv")
    catalog = Table.read(base / "catalog.ecsv")
    counts = interactive_page(base / "difference.fits", base / "catalog.ecsv", tmp_path / "selected.ecsv",
                              tmp_path / "sources", 3.0, tmp_path / "explore.html")
    assert counts["n_sources"] == len(catalog) + 1 and counts["n_spectra"] == len(selected) + 1
    messages, _ = render(tmp_path / "explore.html", tmp_path / "explore.png", tmp_path / "profile", size=(1500, 1100))
    assert not page_errors(messages), messages
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(fits.getheader(base / "difference.fits", "DIFFERENCE"))
    with_position = with_position_rows(catalog, [(-1, float(extra["ra"][0]), float(extra["dec"][0]))], wcs)
    row = with_position[-1]
    x, y = wcs.world_to_pixel_values(float(extra["ra"][0]), float(extra["dec"][0]))
    assert row["id"] == -1 and row["XWIN_IMAGE"] == pytest.approx(x + 1) and row["YWIN_IMAGE"] == pytest.approx(y + 1)
    # 10 arcsec east of the detection it was copied from: ~1.6 px in x on B's grid, not on top of it
    det = catalog[catalog["id"] == first["id"]][0]
    assert 1.0 < np.hypot(row["XWIN_IMAGE"] - det["XWIN_IMAGE"], row["YWIN_IMAGE"] - det["YWIN_IMAGE"]) < 2.5


def test_snakemake_report(run, tmp_path):
    workdir, _ = run
    report = tmp_path / "report.html"
    result = snakemake(workdir, "--report", str(report))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "NETWORK ATTEMPT" not in result.stderr
    text = report.read_text()
    assert report.stat().st_size > 1_000_000
    for name in (*PAIR_FIGURES, "spectrum.png", "explore.html"):
        assert name in text, name
    messages, stderr = render(report, tmp_path / "report.png", tmp_path / "profile", size=(1400, 1000))
    assert not page_errors(messages), messages
    assert pixel_std(tmp_path / "report.png") > 0.05
    # the interactive page, opened inside the report as its button does (an iframe of its data: URL), renders
    showing = report_showing(report, "explore.html", tmp_path / "report-explore.html")
    messages, _ = render(showing, tmp_path / "report-explore.png", tmp_path / "profile-explore", size=(1600, 1100))
    assert any("opening results/field-1/D2-D4/explore.html" in m for m in messages), messages
    assert not page_errors(messages), messages
    assert any("document idle" in m for m in messages), messages  # bokeh rendered the page inside the report
    content = mpimg.imread(tmp_path / "report-explore.png")[:, 400:, :3]  # right of the report's navigation bar
    assert float(np.std(content)) > 0.05  # a blank iframe (a data: URL over Chromium's 2 MB) is 0


def test_firefly_push_is_off_by_default(run):
    counts = job_counts(run[1].stdout + run[1].stderr)
    assert counts["interactive_page"] == 1 and "push_firefly" not in counts


def test_firefly_push_planned_when_configured(tmp_path):
    """With firefly.url set, each target and pair gets a push job; planning it imports nothing and sends nothing."""
    (tmp_path / "targets.csv").write_text("target,ra_deg,dec_deg\nm101,210.80227,54.34895\ncosmos,150.78,3.35\n")
    (tmp_path / "test.yaml").write_text(f"targets: {tmp_path}/targets.csv\n"
                                        "firefly: {url: 'http://127.0.0.1:9/firefly', channel: test}\n")
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NETWORK ATTEMPT" not in result.stdout + result.stderr
    assert job_counts(result.stdout + result.stderr)["push_firefly"] == 2


def test_light_curves_are_written_and_linked_from_the_page(run):
    base = _base(run)
    html = (base / "explore.html").read_text()
    spectra = Table.read(base / "spectra.ecsv")
    repeated = 0
    for row in spectra:
        folder = base / "sources" / row["source"]
        curve = Table.read(folder / "lightcurve.ecsv")
        spectrum = Table.read(folder / "spectrum.ecsv")
        assert len(curve) == int(np.sum(~np.asarray(spectrum["mask"])))  # every unmasked measurement, once
        # a source whose 24 measurements fall in 24 different channels has no repeat to test (NaN)
        if curve.meta["dof_total"] > 0:
            repeated += 1
            assert 0 <= curve.meta["p_variable_total"] <= 1
            assert row["p_variable"] == pytest.approx(curve.meta["p_variable_total"])
        else:
            assert np.isnan(curve.meta["p_variable_total"]) and np.isnan(row["p_variable"])
        assert row["lightcurve"].endswith(f"{row['source']}/lightcurve.ecsv")
        assert pixel_std(folder / "lightcurve.png") > 0.05
        assert f"sources/{row['source']}/lightcurve.png" in html
    assert repeated >= 1
