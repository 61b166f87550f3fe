"""Figures drawn from a synthetic catalogue: ellipse count and orientation, non-blank PNGs, an offline HTML page."""

import base64
import re

import astropy.units as u
import matplotlib
import numpy as np
import pytest
from astropy.io import votable
from astropy.table import QTable, Table
from astropy.wcs import WCS

from spherex_sdt.io.vo import describe_columns
from spherex_sdt.plotting import (DETECTOR_COLOURS, LightCurveFigure, SpectrumFigure, draw_ellipses, explore_page,
                                  plot_difference, plot_light_curve, plot_overlap, plot_significance, plot_spectrum)
from spherex_sdt.spectra import channel_table, light_curve

from ..browser import page_errors, pixel_std, render

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

THETAS = [-75.0, -30.0, 0.0, 30.0, 60.0, 89.0]


@pytest.fixture(name="scene")
def fixture_scene():
    """A 60x60 difference with six elongated sources at known angles, a mask, a WCS and their catalogue."""
    rng = np.random.default_rng(3)
    ny = nx = 60
    yy, xx = np.mgrid[:ny, :nx]
    diff = rng.normal(0, 1.0, (ny, nx))
    rows = []
    for k, theta in enumerate(THETAS):
        x0, y0 = 10 + 8 * k, 15 + 5 * (k % 3) * 3
        t = np.deg2rad(theta)
        u_ = (xx - x0) * np.cos(t) + (yy - y0) * np.sin(t)
        v_ = -(xx - x0) * np.sin(t) + (yy - y0) * np.cos(t)
        amp = 40.0 * (-1) ** k
        diff += amp * np.exp(-0.5 * ((u_ / 2.5) ** 2 + (v_ / 1.0) ** 2))
        rows.append({"id": k + 1, "XWIN_IMAGE": x0 + 1.0, "YWIN_IMAGE": y0 + 1.0, "A_IMAGE": 2.5, "B_IMAGE": 1.0,
                     "THETA_IMAGE": theta, "FLUX_AUTO": amp * 15, "FLUXERR_AUTO": 5.0, "sign": (-1) ** k,
                     "ra": 150.0 + k * 1e-3, "dec": 3.0, "colour_ab": 0.1 * k})
    mask = np.zeros((ny, nx), np.int32)
    mask[:, :4] = 4
    mask[30:33, 40:43] = 1
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 3.0]
    wcs.wcs.crpix = [30, 30]
    wcs.wcs.cdelt = [-6.15 / 3600, 6.15 / 3600]
    return diff, mask, wcs, Table(rows=rows)


def _major_axis_angle(ell):
    """Direction (deg, in [-90, 90)) of the point of an ellipse patch farthest from its centre, in data units."""
    t = np.linspace(0, 2 * np.pi, 3600, endpoint=False)
    verts = ell.get_patch_transform().transform(np.c_[np.cos(t), np.sin(t)])  # the unit circle, as the patch maps it
    d = verts - np.asarray(ell.center)
    far = d[np.argmax(np.hypot(d[:, 0], d[:, 1]))]
    return (np.degrees(np.arctan2(far[1], far[0])) + 90) % 180 - 90


def test_ellipses_one_per_row_at_theta_degrees(scene):
    diff, _, _, cat = scene
    fig, ax = plt.subplots()
    ax.imshow(diff, origin="lower")
    patches = draw_ellipses(ax, cat, selected_ids={2, 5})
    assert len(patches) == len(cat) == sum(isinstance(p, Ellipse) for p in ax.patches)
    for ell, row in zip(patches, cat):
        assert ell.angle == pytest.approx(row["THETA_IMAGE"])  # degrees, not radians (the notebook's defect 51)
        assert ell.width == pytest.approx(6 * row["A_IMAGE"]) and ell.height == pytest.approx(6 * row["B_IMAGE"])
        assert ell.center == pytest.approx((row["XWIN_IMAGE"] - 1, row["YWIN_IMAGE"] - 1))
        # the drawn major axis points along THETA, counter-clockwise from +x, in pixel coordinates
        got = _major_axis_angle(ell)
        assert min(abs(got - row["THETA_IMAGE"]), 180 - abs(got - row["THETA_IMAGE"])) < 1.0
    assert [p.get_linewidth() > 1 for p in patches] == [i in (2, 5) for i in cat["id"]]
    labels = [t.get_text() for t in ax.texts]
    assert labels == [str(i) for i in cat["id"]]
    plt.close(fig)


def test_ellipses_follow_the_source_light(scene):
    """The image's own second moments around each source agree with the ellipse angle drawn."""
    diff, _, _, cat = scene
    yy, xx = np.mgrid[:diff.shape[0], :diff.shape[1]]
    for row in cat:
        x0, y0 = row["XWIN_IMAGE"] - 1, row["YWIN_IMAGE"] - 1
        near = np.hypot(xx - x0, yy - y0) < 5
        w = np.clip(np.abs(diff) * near - 3, 0, None)
        dx, dy = xx - x0, yy - y0
        mxx, myy, mxy = (np.sum(w * dx * dx), np.sum(w * dy * dy), np.sum(w * dx * dy))
        theta = np.degrees(0.5 * np.arctan2(2 * mxy, mxx - myy))
        assert min(abs(theta - row["THETA_IMAGE"]), 180 - abs(theta - row["THETA_IMAGE"])) < 8


def test_pair_figures_are_not_blank(scene, tmp_path):
    diff, mask, wcs, cat = scene
    a = np.random.default_rng(1).normal(10, 2, diff.shape)
    paths = {k: tmp_path / f"{k}.png" for k in ("difference", "overlap", "significance")}
    assert plot_difference(diff, wcs, cat, {1}, "t", paths["difference"], image_a=a, image_b=a - diff) == len(cat)
    fractions = plot_overlap(a, a - diff, mask, wcs, "t", paths["overlap"])
    assert fractions["A does not cover"] == pytest.approx(4 / 60) and fractions["bad in A"] == pytest.approx(9 / 3600)
    assert plot_significance(diff, diff / 1.0, mask, wcs, cat, {1}, "t", paths["significance"]) == len(cat)
    for path in paths.values():
        assert path.stat().st_size > 20_000 and pixel_std(path) > 0.05


def _spectrum(n=40, seed=0):
    rng = np.random.default_rng(seed)
    lam = np.sort(rng.uniform(0.75, 5.0, n))
    flux = 50 + 20 * lam + rng.normal(0, 5, n)
    flux[3] = -4.0  # a negative flux stays in the flux panel
    t = QTable({"radius": np.full(n, 3.0) * u.pix, "detector": np.clip((lam - 0.75) // 0.71 + 1, 1, 6).astype(int),
                "wavelength": lam * u.um, "flux": flux * u.uJy, "flux_err": np.full(n, 5.0) * u.uJy,
                "quality": (np.arange(n) % 7 == 0).astype(int), "obs_id": [f"obs{i}" for i in range(n)]})
    with np.errstate(invalid="ignore"):
        t["ab_mag"] = np.where(flux > 0, 23.9 - 2.5 * np.log10(np.abs(flux)), np.nan) * u.mag
        t["ab_mag_err"] = (1.0857 * 5 / np.abs(flux)) * u.mag
    t.meta["source"] = "0001"
    return t


def test_spectrum_plot_has_every_point(tmp_path):
    spec = _spectrum()
    binned = Table({"wavelength_mean": [1.0, 2.0, 3.0], "flux": [70.0, 90.0, 110.0], "flux_err": [2.0, 2.0, 2.0]})
    path = tmp_path / "spectrum.png"
    assert plot_spectrum(spec, 3.0, "source 0001", path, binned=binned) == len(spec)
    assert path.stat().st_size > 20_000 and pixel_std(path) > 0.05


def _curves(seed, flux, visits=3, n_channels=30):
    """Light curves of ``n_channels`` channels (none on D6), one with a 30-sigma jump, each seen ``visits`` times."""
    rng = np.random.default_rng(seed)
    ch = channel_table()[:n_channels]
    lam = np.repeat(np.asarray(ch["wavelength"], float), visits)
    det = np.repeat(np.asarray(ch["detector"], int), visits)
    mjd = np.tile(60800.0 + 180.0 * np.arange(visits), n_channels) + rng.uniform(0, 2, lam.size)
    err = np.full(lam.size, 0.05 * flux)
    values = flux + rng.normal(0, 0.05 * flux, lam.size)
    values[1] += 30 * err[1]
    return light_curve(lam, det, mjd, values, err, channel_table())


def _pixels(path):
    return np.asarray(matplotlib.image.imread(path))


def test_reused_figures_draw_what_fresh_ones_do(tmp_path):
    """A job draws every source on the same two figures: a source's PNG does not depend on the sources drawn
    before it (limits, legend, texts, empty panels), pixel for pixel."""
    spectra = [(_spectrum(seed=1), None), (_spectrum(n=6, seed=2), (np.linspace(0.75, 5, 50), np.full(50, 80.0))),
               (_spectrum(n=5)[:0], None), (_spectrum(seed=3), None)]
    spectra[0][0]["flux"] *= 1000  # limits far from the next source's
    curves = [_curves(1, 5e4), _curves(2, 20.0, visits=1, n_channels=5), _curves(3, 20.0)[:0], _curves(4, 300.0)]
    spectrum_figure, curve_figure = SpectrumFigure(), LightCurveFigure()
    for k, ((spec, truth), curve) in enumerate(zip(spectra, curves)):
        binned = Table({"wavelength_mean": [1.0, 2.0], "flux": [70.0, 90.0], "flux_err": [2.0, 2.0]}) if k else None
        drawn = spectrum_figure.save(spec, 3.0, f"source {k}", tmp_path / f"reused-{k}.png", truth=truth,
                                     binned=binned)
        assert drawn == plot_spectrum(spec, 3.0, f"source {k}", tmp_path / f"fresh-{k}.png", truth=truth,
                                      binned=binned) == len(spec)
        assert np.array_equal(_pixels(tmp_path / f"reused-{k}.png"), _pixels(tmp_path / f"fresh-{k}.png")), k
        drawn = curve_figure.save(curve, f"source {k}", tmp_path / f"reused-curve-{k}.png")
        assert drawn == plot_light_curve(curve, f"source {k}", tmp_path / f"fresh-curve-{k}.png") == len(curve)
        assert np.array_equal(_pixels(tmp_path / f"reused-curve-{k}.png"), _pixels(tmp_path / f"fresh-curve-{k}.png"))
        if k == 2:  # nothing measured: what the sources before drew is gone
            assert [t.get_text() for ax in curve_figure.axes for t in ax.texts] == ["not measured"] * 6
            legend = spectrum_figure.flux_axes.get_legend()
            assert [t.get_text() for t in legend.get_texts()] == ["binned (standard channels)"]
    assert pixel_std(tmp_path / "reused-curve-0.png") > 0.05 and pixel_std(tmp_path / "reused-3.png") > 0.05
    assert len(spectrum_figure.flux_axes.get_legend().get_texts()) == 7  # D1-D6 and the binned points


def test_explore_page_is_standalone_and_renders(scene, tmp_path):
    diff, _, _, cat = scene
    path = tmp_path / "explore.html"
    counts = explore_page(diff, cat, {2: "0002", 4: "0004"}, {2: _spectrum(), 4: _spectrum(seed=1)},
                          {2: None, 4: None}, 3.0, path, title="field-1 D2-D4", detector_colours=DETECTOR_COLOURS)
    assert counts == {"n_sources": len(cat), "n_spectra": 2, "n_points": 80}
    html = path.read_text()
    # the first source with a spectrum starts selected, with its marker (● is JSON-escaped inside a JS string)
    assert "Spectra of source(s) 2 \\\\u25cf" in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", html), "page loads remote resources"
    assert "bokehjs-gzip-base64" in html and len(html) > 500_000  # bokeh's JS is inline (compressed)
    # the Snakemake report embeds the page as a base64 data: URL, which Chromium refuses beyond 2 MB
    assert len(base64.b64encode(path.read_bytes())) < 1_500_000
    messages, stderr = render(path, tmp_path / "shot.png", tmp_path / "profile", size=(1500, 1100))
    assert not page_errors(messages), messages
    assert any("document idle" in m for m in messages), messages  # bokeh finished rendering the document
    assert pixel_std(tmp_path / "shot.png") > 0.05


def test_votable_has_ucds(scene, tmp_path):
    _, _, _, cat = scene
    cat["ra"].unit = cat["dec"].unit = "deg"
    describe_columns(cat)
    cat.write(tmp_path / "c.xml", format="votable")
    fields = {f.name: f for f in votable.parse(tmp_path / "c.xml").get_first_table().fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["dec"].ucd == "pos.eq.dec;meta.main"
    assert str(fields["ra"].unit) == "deg" and fields["id"].ucd == "meta.id;meta.main"
    assert fields["FLUX_AUTO"].ucd == "phot.flux.density" and fields["THETA_IMAGE"].ucd == "pos.posAng;instr.det"
    assert fields["THETA_IMAGE"].description.startswith("major-axis angle")


def test_browser_harness_reports_javascript_errors(tmp_path):
    """The console capture used above does see an uncaught error (so its silence means something)."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    messages, _ = render(page, tmp_path / "bad.png", tmp_path / "profile")
    assert page_errors(messages), messages


def test_explore_page_selection_shows_spectra(scene, tmp_path):
    """Selecting catalogue rows (as the table or a click does) replaces the spectrum points by theirs."""
    diff, _, _, cat = scene
    path = tmp_path / "explore.html"
    explore_page(diff, cat, {2: "0002", 4: "0004"}, {2: _spectrum(n=40), 4: _spectrum(n=25, seed=1)},
                 {2: None, 4: None}, 3.0, path, title="t", detector_colours=DETECTOR_COLOURS)
    probe = """<script>
    const pause = () => new Promise((resolve) => setTimeout(resolve, 300));  // CustomJS callbacks run async
    async function probe() {
      if (!window.Bokeh || !Bokeh.documents.length) { setTimeout(probe, 100); return; }
      const doc = Bokeh.documents[0];
      const cat = doc.get_model_by_name("catalog"), shown = doc.get_model_by_name("spectrum_shown");
      const report = (tag) => console.log(tag + " " + shown.data.id.length + " " + Array.from(new Set(shown.data.id))
                                          + " " + Array.from(new Set(shown.data.marker)));
      report("START");
      for (const [tag, rows] of [["ONE", [3]], ["TWO", [1, 3]], ["NONE", [0]]]) {
        cat.selected.indices = rows;  // what selecting table rows or clicking sources does
        await pause();
        report(tag);
      }
    }
    setTimeout(probe, 500);
    </script>"""
    head, _, tail = path.read_text().rpartition("</body>")  # the last one: bokeh's inline JS contains others
    path.write_text(head + probe + tail)
    messages, _ = render(path, tmp_path / "shot.png", tmp_path / "profile")
    assert not page_errors(messages), messages
    # each source keeps its own marker, so two sources shown together are told apart
    for expected in ("START 40 2 circle", "ONE 25 4 triangle", "TWO 65 2,4 circle,triangle", "NONE 0  "):
        assert expected in messages, messages


class _FakeFirefly:
    """Records the calls a FireflyClient would receive (no network)."""

    def __init__(self):
        self.calls = []

    def upload_file(self, path):
        from astropy.io import fits as _fits

        if path.endswith(".fits"):
            with _fits.open(path) as hdul:
                self.calls.append(("upload", "fits", len(hdul), hdul[0].header.get("CTYPE1")))
        else:
            self.calls.append(("upload", "table", len(votable.parse(path).get_first_table().array), None))
        return f"${{upload}}/{len(self.calls)}"

    def show_fits(self, **kw):
        self.calls.append(("show_fits", kw))
        return {"success": True}

    def show_table(self, **kw):
        self.calls.append(("show_table", kw))
        return {"success": True}


def test_push_firefly_uploads_difference_and_catalogue(scene, tmp_path):
    import json
    import sys

    from astropy.io import fits

    from spherex_sdt.tasks.plots import push_firefly

    diff, _, wcs, cat = scene
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(diff, wcs.to_header(), name="DIFFERENCE")]).writeto(
        tmp_path / "difference.fits")
    describe_columns(cat).write(tmp_path / "catalog.xml", format="votable")
    fake = _FakeFirefly()
    record = push_firefly(tmp_path / "difference.fits", tmp_path / "catalog.xml", "http://127.0.0.1:9/firefly",
                          "chan", tmp_path / "firefly.json", target="field-1", pair="D2-D4", client=fake)
    assert fake.calls[0] == ("upload", "fits", 1, "RA---TAN")  # the DIFFERENCE plane alone, with its WCS
    assert fake.calls[1] == ("upload", "table", len(cat), None)
    assert fake.calls[2] == ("show_fits", {"file_on_server": "${upload}/1", "plot_id": "field-1-D2-D4-difference",
                                           "title": "field-1 D2-D4 difference"})
    assert fake.calls[3][1]["file_on_server"] == "${upload}/2" and fake.calls[3][1]["tbl_id"] == "field-1-D2-D4-catalog"
    assert json.loads((tmp_path / "firefly.json").read_text())["plot_id"] == record["plot_id"]
    assert "firefly_client" not in sys.modules  # imported only when no client is given


@pytest.mark.parametrize("crval, rotation", [((150.0, 3.0), 0.0), ((0.01, -30.0), 35.0), ((270.0, 66.5), -120.0)],
                         ids=["cosmos", "ra-zero-rotated", "nep-rotated"])
def test_sky_grid_lines_follow_constant_ra_and_dec(crval, rotation):
    """Every point of an RA line has that RA and of a Dec line that Dec (WCS round trip), labels say the value."""
    from astropy.coordinates import Angle

    from spherex_sdt.plotting.interactive import sky_grid

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [32.5, 32.5]
    t = np.deg2rad(rotation)
    wcs.wcs.cd = 6.15 / 3600 * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    grid = sky_grid(wcs, (64, 64), max_lines=5)
    kinds = grid["kind"]
    assert 2 <= kinds.count("ra") <= 6 and 2 <= kinds.count("dec") <= 6  # a 6.6' field: a few lines of each
    for xs, ys, value, kind, label, lx, ly in zip(*(grid[k] for k in ("xs", "ys", "value", "kind", "label",
                                                                      "label_x", "label_y"))):
        ra, dec = wcs.pixel_to_world_values(xs, ys)
        if kind == "ra":
            np.testing.assert_allclose((ra - value + 180) % 360 - 180, 0, atol=1e-9)
            assert abs(Angle(label, unit=u.hourangle).deg - value) < 1e-6 or abs(
                abs(Angle(label, unit=u.hourangle).deg - value) - 360) < 1e-6
        else:
            np.testing.assert_allclose(dec, value, atol=1e-9)
            assert abs(Angle(label.replace("′", "m").replace("″", "s").replace("°", "d"), unit=u.deg).deg
                       - value) < 1e-6
        assert -0.5 <= lx <= 63.5 and -0.5 <= ly <= 63.5  # the label sits on the image
    steps = np.diff(sorted(v for v, k in zip(grid["value"], kinds) if k == "dec")) * 3600
    assert np.allclose(steps, steps[0]) and round(steps[0], 6) in (15, 30, 60, 120)


def test_explore_page_draws_the_sky_grid(scene, tmp_path):
    diff, _, wcs, cat = scene
    explore_page(diff, cat, {}, {}, {}, 3.0, tmp_path / "grid.html", title="grid", detector_colours=DETECTOR_COLOURS,
                 wcs=wcs)
    html = (tmp_path / "grid.html").read_text()
    assert '"name":"sky_grid"' in html and '"10h00m00s"' in html  # the grid's data and the RA label of crval
    messages, _ = render(tmp_path / "grid.html", tmp_path / "grid.png", tmp_path / "profile", size=(1500, 1100))
    assert not page_errors(messages), messages
    assert any("document idle" in m for m in messages), messages


@pytest.mark.parametrize("rotation", [0.0, 30.0, -120.0, 200.0])
def test_compass_points_north_and_east_on_rotated_fields(rotation, tmp_path):
    """With CD = s [[-cos t, sin t], [sin t, cos t]], north is (sin t, cos t) and east (-cos t, sin t) in pixels."""
    import matplotlib.pyplot as plt
    from astropy.wcs import WCS

    from spherex_sdt.plotting import draw_compass

    t = np.deg2rad(rotation)
    scale = 6.15 / 3600
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [32.5, 32.5]
    wcs.wcs.cd = scale * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    fig = plt.figure()
    ax = fig.add_subplot(projection=wcs)
    ax.imshow(np.zeros((64, 64)), origin="lower")
    directions = draw_compass(ax, wcs, (64, 64))
    np.testing.assert_allclose(directions["N"], (np.sin(t), np.cos(t)), atol=2e-3)
    np.testing.assert_allclose(directions["E"], (-np.cos(t), np.sin(t)), atol=2e-3)
    labels = [text for text in ax.texts if text.get_text() in ("N", "E")]
    assert len(labels) == 2
    for text in labels:  # the letters stay on the image whatever the rotation
        x, y = text.get_position()
        assert 0 <= x <= 63 and 0 <= y <= 63
    fig.savefig(tmp_path / "compass.png")
    plt.close(fig)


def test_light_curve_figure_draws_every_point(tmp_path):
    from spherex_sdt.plotting import plot_light_curve
    from spherex_sdt.spectra import channel_table, light_curve

    channels = channel_table()
    rng = np.random.default_rng(2)
    lam = np.repeat(np.asarray(channels["wavelength"], float)[::6], 2)
    det = np.repeat(np.asarray(channels["detector"], int)[::6], 2)
    table = light_curve(lam, det, 60800 + 180 * (np.arange(lam.size) % 2), 100 + rng.normal(0, 1, lam.size),
                        np.ones(lam.size), channels)
    path = tmp_path / "lightcurve.png"
    assert plot_light_curve(table, "source 0001", path) == len(table) == lam.size
    assert pixel_std(path) > 0.05
