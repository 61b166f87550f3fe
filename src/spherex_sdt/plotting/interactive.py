"""A standalone interactive HTML page per target and pair (bokeh, resources inline: no network, no server)."""

import numpy as np

from .figures import _symmetric_limit

__all__ = ["explore_page", "standalone_html", "catalog_source_data", "spectrum_source_data", "sky_grid",
           "SOURCE_MARKERS", "source_markers"]

SOURCE_MARKERS = (("circle", "●"), ("triangle", "▲"), ("square", "■"), ("diamond", "◆"), ("inverted_triangle", "▼"),
                  ("hex", "⬢"), ("star", "★"), ("plus", "✚"))
"""Bokeh marker and its symbol in text, one per measured source (in turn): several spectra shown at once are told
apart by marker, while colour stays the detector's."""


def source_markers(ids):
    """Catalogue id -> (bokeh marker, symbol) for the sources with spectra, in the order given."""
    return {int(cid): SOURCE_MARKERS[k % len(SOURCE_MARKERS)] for k, cid in enumerate(ids)}

# grid spacings: RA in seconds of time, Dec in arcseconds (the steps of an astronomer's finding chart)
_RA_STEPS_S = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_DEC_STEPS_ARCSEC = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)

_SPECTRUM_JS = """
const ids = new Set(cat.selected.indices.map((i) => Number(cat.data.id[i])));
for (const [full, shown] of pairs) {
    const out = {};
    const keys = Object.keys(full.data);
    for (const k of keys) out[k] = [];
    const col = full.data.id;
    for (let i = 0; i < col.length; i++) {
        if (ids.has(Number(col[i]))) {
            for (const k of keys) out[k].push(full.data[k][i]);
        }
    }
    shown.data = out;
}
const names = [];
const missing = [];
for (const i of cat.selected.indices) {
    if (cat.data.has_spectrum[i]) names.push(String(cat.data.id[i]) + " " + cat.data.symbol[i]);
    else missing.push(String(cat.data.id[i]));
}
let text = names.length ? "Spectra of source(s) " + names.join(", ") : "Select sources with spectra (bold rows).";
if (missing.length) text += " &mdash; no spectrum measured for " + missing.join(", ");
info.text = text;
"""


# Starts BokehJS from its gzip-compressed copy, then the document: decompression is the browser's own
# (DecompressionStream), so the page needs no network and no server, from disk or from a data: URL alike.
_LOADER_JS = """
(async () => {
  const packed = document.getElementById("bokehjs-gzip-base64").textContent.replace(/\\s+/g, "");
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const bokehjs = await new Response(stream).text();
  for (const code of [bokehjs, document.getElementById("bokeh-document").textContent]) {
    const script = document.createElement("script");
    script.text = code;
    document.head.appendChild(script);
  }
})().catch((error) => {
  document.getElementById("bokeh-failed").hidden = false;
  console.error("spherex-sdt page: could not start BokehJS: " + error);
});
"""


def standalone_html(layout, title):
    """One self-contained HTML file of a bokeh layout, about a third the size of `bokeh.embed.file_html`'s.

    BokehJS (core, widgets, tables: ~2 MB) is written gzip-compressed and base64-encoded (~0.7 MB) and started by a
    short script with the browser's ``DecompressionStream``; the document itself (its data and the page's own
    JavaScript) stays plain JSON. The Snakemake report embeds the page as a ``data:`` URL, which Chromium refuses
    beyond 2 MB: the plain page is over that (issue 15), this one is well under it.

    Parameters
    ----------
    layout : `bokeh.model.Model`
        The root of the page.
    title : str
        The page's title.

    Returns
    -------
    str
        The HTML text.
    """
    import base64
    import gzip
    import html

    from bokeh.embed import components
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.resources import INLINE

    bundle = bundle_for_objs_and_resources([layout], INLINE)
    script, div = components(layout, wrap_script=False)
    packed = base64.encodebytes(gzip.compress("\n;\n".join(bundle.js_raw).encode("utf-8"), mtime=0)).decode()
    css = "\n".join(bundle.css_raw)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{div}\n"
            "<noscript>This page needs JavaScript.</noscript>\n"
            "<p id=\"bokeh-failed\" hidden>This page needs a browser with DecompressionStream (Chrome 80, Firefox 113, "
            "Safari 16.4 or later).</p>\n"
            f"<script type=\"application/gzip;base64\" id=\"bokehjs-gzip-base64\">\n{packed}</script>\n"
            f"<script type=\"text/x-bokeh-document\" id=\"bokeh-document\">{_script_text(script)}</script>\n"
            f"<script>{_LOADER_JS}</script>\n</body>\n</html>\n")


def _script_text(code):
    """JavaScript made safe to sit between script tags (no closing tag inside)."""
    return code.replace("</", "<\\/")


def catalog_source_data(catalog, selected, *, markers, scale=3.0):
    """Columns for the catalogue `~bokeh.models.ColumnDataSource`: one row per detection.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Difference catalogue (``id``, ``ra``, ``dec``, ``XWIN_IMAGE``, ``YWIN_IMAGE``, ``A_IMAGE``, ``B_IMAGE``,
        ``THETA_IMAGE``, ``FLUX_AUTO``, ``FLUXERR_AUTO``, ``sign``; ``colour_ab`` if present).
    selected : dict
        Catalogue id -> source name (``selected.ecsv``) of the sources measured for spectra.
    scale : float
        Ellipse semi-axes are ``scale * A`` and ``scale * B``.
    markers : dict
        Catalogue id -> (marker, symbol) of the measured sources (`source_markers`).

    Returns
    -------
    dict of str to list or ndarray
        ``angle`` is THETA_IMAGE in radians (bokeh's unit, counter-clockwise from +x like SExtractor); ``symbol``
        is the source's marker in text (empty for sources without a spectrum).
    """
    n = len(catalog)

    def col(name, default=np.nan):
        return np.asarray(catalog[name], float) if name in catalog.colnames else np.full(n, default)

    ids = np.asarray(catalog["id"], int) if n else np.zeros(0, int)
    flux, err = col("FLUX_AUTO"), col("FLUXERR_AUTO")
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(err > 0, np.abs(flux) / err, np.nan)
    return {
        "id": ids.tolist(),
        "source": [selected.get(int(i), "") for i in ids],
        "ra": col("ra"), "dec": col("dec"),
        "x": col("XWIN_IMAGE") - 1, "y": col("YWIN_IMAGE") - 1,
        "width": 2 * scale * col("A_IMAGE"), "height": 2 * scale * col("B_IMAGE"),
        "angle": np.deg2rad(col("THETA_IMAGE")), "theta_deg": col("THETA_IMAGE"),
        "flux": flux, "flux_err": err, "snr": snr,
        "sign": (np.asarray(catalog["sign"], int) if n else np.zeros(0, int)).tolist(),
        "colour_ab": col("colour_ab"),
        "has_spectrum": [int(i) in selected for i in ids],
        "symbol": [markers.get(int(i), ("", ""))[1] for i in ids],
        "line_colour": ["#e4007c" if int(i) in selected else "black" for i in ids],
        "label_y": col("YWIN_IMAGE") - 1 + scale * col("A_IMAGE") * 0.8,
    }


def _append_points(out, cid, wavelength, flux, err, mag):
    """Append one source's points (flux with its ±1σ ends, magnitude) to the page's column lists."""
    out["id"] += [int(cid)] * len(flux)
    out["wavelength"] += np.asarray(wavelength, float).tolist()
    out["flux"] += flux.tolist()
    out["lo"] += (flux - err).tolist()
    out["hi"] += (flux + err).tolist()
    out["mag"] += mag.tolist()


def spectrum_source_data(spectra, radius, *, detector_colours, markers):
    """Columns of every measured spectrum point at one radius, keyed by catalogue id (for filtering in the page).

    Parameters
    ----------
    spectra : dict
        Catalogue id -> spectrum `~astropy.table.Table` (``spherex_sdt.spectra.spectrum_table``).
    radius : float
        Aperture radius (pixels) to show.
    detector_colours : dict
        Detector number -> colour.
    markers : dict
        Catalogue id -> (marker, symbol) (`source_markers`).

    Returns
    -------
    dict of str to list
        ``fill`` is white for points whose quality flag is set; ``mag`` is NaN where flux <= its error; ``marker``
        is the source's bokeh marker.
    """
    out = {k: [] for k in ("id", "wavelength", "flux", "lo", "hi", "mag", "mag_lo", "mag_hi", "detector", "colour",
                           "fill", "quality", "obs_id", "marker")}
    for cid, spec in spectra.items():
        if len(spec) == 0:
            continue
        rows = spec[np.isclose(np.asarray(spec["radius"], float), radius)]
        flux, err = np.asarray(rows["flux"], float), np.asarray(rows["flux_err"], float)
        mag, mag_err = np.asarray(rows["ab_mag"], float), np.asarray(rows["ab_mag_err"], float)
        mag = np.where(flux > err, mag, np.nan)  # no magnitude for fluxes consistent with zero (S/N <= 1)
        det = np.asarray(rows["detector"], int)
        quality = np.asarray(rows["quality"], int)
        colours = [detector_colours.get(int(d), "black") for d in det]
        _append_points(out, cid, rows["wavelength"], flux, err, mag)
        out["mag_lo"] += (mag - mag_err).tolist()
        out["mag_hi"] += (mag + mag_err).tolist()
        out["detector"] += [f"D{d}" for d in det]
        out["colour"] += colours
        out["fill"] += [c if q == 0 else "white" for c, q in zip(colours, quality)]
        out["quality"] += quality.tolist()
        out["obs_id"] += [str(o) for o in rows["obs_id"]]
        out["marker"] += [markers.get(int(cid), SOURCE_MARKERS[0])[0]] * len(rows)
    # JSON has no NaN: bokeh serialises float columns as typed arrays only when they are numpy arrays
    return {k: (np.asarray(v, float) if k in ("wavelength", "flux", "lo", "hi", "mag", "mag_lo", "mag_hi") else v)
            for k, v in out.items()}


def _binned_source_data(binned, markers):
    from ..spectra.assemble import ab_magnitude  # here: importing spectra brings photutils and scipy.stats

    out = {k: [] for k in ("id", "wavelength", "flux", "lo", "hi", "mag", "n", "marker")}
    for cid, table in binned.items():
        if table is None or len(table) == 0:
            continue
        flux, err = np.asarray(table["flux"], float), np.asarray(table["flux_err"], float)
        mag = np.where(flux > err, ab_magnitude(flux, err)[0], np.nan)
        _append_points(out, cid, table["wavelength_mean"], flux, err, mag)
        out["n"] += np.asarray(table["n"], int).tolist()
        out["marker"] += [markers.get(int(cid), SOURCE_MARKERS[0])[0]] * len(table)
    return {k: (np.asarray(v, float) if k not in ("id", "n", "marker") else v) for k, v in out.items()}


def _subset(data, ids):
    """The rows of a column dict whose ``id`` is in ``ids`` (numpy columns stay numpy)."""
    keep = np.isin(np.asarray(data["id"], int), list(ids)) if len(data["id"]) else np.zeros(0, bool)
    return {k: (v[keep] if isinstance(v, np.ndarray) else [x for x, ok in zip(v, keep) if ok]) for k, v in data.items()}


def _grid_step(span, steps, max_lines):
    for step in steps:
        if span / step <= max_lines:
            return step
    return steps[-1]


def sky_grid(wcs, shape, *, max_lines=5, samples=64):
    """Lines of constant RA and of constant Dec across an image, in its 0-based pixels, with sexagesimal labels.

    Bokeh has no celestial axes, so the interactive page draws this grid over the image instead.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the image.
    shape : (int, int)
        Image shape ``(ny, nx)``.
    max_lines : int
        At most this many lines of each kind (the step is the smallest round value that allows it).

    Returns
    -------
    dict
        Columns ``xs``, ``ys`` (pixel arrays per line), ``value`` (deg), ``kind`` ('ra' or 'dec'), ``label`` and
        ``label_x``, ``label_y`` (where the line meets the bottom edge for RA, the left edge for Dec).
    """
    from astropy import units as u
    from astropy.coordinates import Angle

    ny, nx = shape
    gy, gx = np.mgrid[-0.5:ny - 0.5:17j, -0.5:nx - 0.5:17j]
    ra, dec = wcs.pixel_to_world_values(gx.ravel(), gy.ravel())
    ra_centre = float(ra[len(ra) // 2])
    d_ra = (np.asarray(ra) - ra_centre + 180.0) % 360.0 - 180.0  # unwrapped around the centre (RA 0/360)
    dec_lo, dec_hi = float(np.min(dec)), float(np.max(dec))
    ra_lo, ra_hi = ra_centre + float(d_ra.min()), ra_centre + float(d_ra.max())
    ra_step = _grid_step((ra_hi - ra_lo) * 240.0, _RA_STEPS_S, max_lines) / 240.0  # 1 s of time = 1/240 deg
    dec_step = _grid_step((dec_hi - dec_lo) * 3600.0, _DEC_STEPS_ARCSEC, max_lines) / 3600.0
    out = {"xs": [], "ys": [], "value": [], "kind": [], "label": [], "label_x": [], "label_y": []}

    def add(kind, value, x, y, label):
        inside = (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)
        if inside.sum() < 2:
            return
        xi, yi = x[inside], y[inside]
        ends = [0, len(xi) - 1]  # where the line enters and leaves the image
        if kind == "ra":  # RA labels along the bottom
            end = min(ends, key=lambda k: yi[k])
        else:  # Dec labels along the left side, never on the bottom edge with the RA labels
            end = min(ends, key=lambda k: xi[k])
            if yi[end] < 0.5:
                end = ends[1] if end == ends[0] else ends[0]
        out["xs"].append(x)
        out["ys"].append(y)
        out["value"].append(value)
        out["kind"].append(kind)
        out["label"].append(label)
        out["label_x"].append(float(xi[end]))
        out["label_y"].append(float(yi[end]))

    along_dec = np.linspace(dec_lo, dec_hi, samples)
    ra_precision = 1 if ra_step < 1 / 240.0 else 0
    for value in np.arange(np.ceil(ra_lo / ra_step), np.floor(ra_hi / ra_step) + 1) * ra_step:
        x, y = wcs.world_to_pixel_values(np.full(samples, value % 360.0), along_dec)
        label = Angle(value % 360.0, u.deg).to_string(unit=u.hourangle, sep="hms", precision=ra_precision, pad=True)
        add("ra", float(value % 360.0), np.asarray(x), np.asarray(y), label)
    along_ra = np.linspace(ra_lo, ra_hi, samples) % 360.0
    for value in np.arange(np.ceil(dec_lo / dec_step), np.floor(dec_hi / dec_step) + 1) * dec_step:
        x, y = wcs.world_to_pixel_values(along_ra, np.full(samples, value))
        label = Angle(value, u.deg).to_string(unit=u.deg, sep=("°", "′", "″"), precision=0, alwayssign=True,
                                              pad=True)
        add("dec", float(value), np.asarray(x), np.asarray(y), label)
    return out


def _image_figure(diff, title, catalog_source, *, height=560, grid=None):
    from bokeh.models import ColorBar, HoverTool, LinearColorMapper, TapTool
    from bokeh.palettes import RdBu11
    from bokeh.plotting import figure

    ny, nx = diff.shape
    lim = _symmetric_limit(diff)
    mapper = LinearColorMapper(palette=list(RdBu11), low=-lim, high=lim, nan_color="#bdbdbd")
    fig = figure(title=title, width=int(height * nx / ny) + 90, height=height, x_range=(-0.5, nx - 0.5),
                 y_range=(-0.5, ny - 0.5), match_aspect=True, tools="pan,wheel_zoom,box_zoom,reset,save",
                 x_axis_label="x (pixel, B's grid)", y_axis_label="y (pixel)")
    fig.image(image=[np.asarray(diff, float)], x=-0.5, y=-0.5, dw=nx, dh=ny, color_mapper=mapper)
    fig.add_layout(ColorBar(color_mapper=mapper, title="µJy/px", width=10), "right")
    if grid is not None and grid["xs"]:
        from bokeh.models import ColumnDataSource

        lines = ColumnDataSource({k: grid[k] for k in ("xs", "ys", "label", "label_x", "label_y")}, name="sky_grid")
        fig.multi_line(xs="xs", ys="ys", source=lines, line_color="#555555", line_alpha=0.5, line_dash="dashed",
                       line_width=1)
        fig.text(x="label_x", y="label_y", text="label", source=lines, text_font_size="8pt", text_color="#333333",
                 x_offset=2, y_offset=-2, text_baseline="top")
    fig.ellipse(x="x", y="y", width="width", height="height", angle="angle", source=catalog_source,
                fill_color=None, line_color="line_colour", line_width=1.5, selection_line_color="#ffd700",
                selection_line_width=3.5, nonselection_line_alpha=0.6, nonselection_fill_color=None)
    markers = fig.scatter(x="x", y="y", source=catalog_source, size=14, marker="circle", fill_alpha=0.0,
                          line_alpha=0.0, selection_fill_alpha=0.0, selection_line_alpha=0.0,
                          nonselection_fill_alpha=0.0, nonselection_line_alpha=0.0)
    fig.text(x="x", y="label_y", text="id", source=catalog_source, text_font_size="9pt", text_color="line_colour",
             x_offset=4, text_baseline="bottom", nonselection_text_alpha=0.6)
    fig.add_tools(HoverTool(renderers=[markers], tooltips=[
        ("id", "@id"), ("spectrum", "@source"), ("RA, Dec", "@ra{0.00000}, @dec{0.00000}"),
        ("FLUX_AUTO", "@flux{0.0} ± @flux_err{0.0} µJy"), ("S/N", "@snr{0.0}"), ("sign", "@sign"),
        ("m_A − m_B", "@colour_ab{0.00}"), ("THETA", "@theta_deg{0.0}°")]))
    fig.add_tools(TapTool(renderers=[markers], behavior="select"))
    return fig


def _spectrum_figures(spec_shown, binned_shown, *, width=620):
    from bokeh.models import DataRange1d, HoverTool
    from bokeh.plotting import figure

    hover = [("source", "@id"), ("λ", "@wavelength{0.000} µm"), ("detector", "@detector"), ("obs", "@obs_id"),
             ("quality", "@quality")]
    flux = figure(title="Flux density (colour: detector; marker: source; hollow: quality flag set; black: binned)",
                  width=width, height=300,
                  x_axis_label="wavelength (µm)", y_axis_label="µJy", tools="pan,wheel_zoom,box_zoom,reset,save")
    flux.segment(x0="wavelength", y0="lo", x1="wavelength", y1="hi", source=spec_shown, line_color="colour")
    points = flux.scatter(x="wavelength", y="flux", source=spec_shown, size=7, marker="marker", line_color="colour",
                          fill_color="fill")
    flux.segment(x0="wavelength", y0="lo", x1="wavelength", y1="hi", source=binned_shown, line_color="black")
    flux.scatter(x="wavelength", y="flux", source=binned_shown, size=10, marker="marker", line_color="black",
                 fill_color=None, line_width=1.5)
    flux.add_tools(HoverTool(renderers=[points], tooltips=hover + [("flux", "@flux{0.0} µJy")]))
    mag = figure(title="AB magnitude (S/N > 1)", width=width, height=260, x_range=flux.x_range,
                 y_range=DataRange1d(flipped=True), x_axis_label="wavelength (µm)", y_axis_label="AB mag",
                 tools="pan,wheel_zoom,box_zoom,reset,save")
    mag.segment(x0="wavelength", y0="mag_lo", x1="wavelength", y1="mag_hi", source=spec_shown, line_color="colour")
    mpoints = mag.scatter(x="wavelength", y="mag", source=spec_shown, size=7, marker="marker", line_color="colour",
                          fill_color="fill")
    mag.scatter(x="wavelength", y="mag", source=binned_shown, size=10, marker="marker", line_color="black",
                fill_color=None, line_width=1.5)
    mag.add_tools(HoverTool(renderers=[mpoints], tooltips=hover + [("AB", "@mag{0.00}")]))
    return flux, mag


def _table(catalog_source):
    from bokeh.models import DataTable, NumberFormatter, TableColumn

    def num(fmt):
        return NumberFormatter(format=fmt, nan_format="—")

    columns = [
        TableColumn(field="id", title="id", width=40), TableColumn(field="source", title="spectrum", width=80),
        TableColumn(field="symbol", title="marker", width=50),
        TableColumn(field="ra", title="RA (deg)", formatter=num("0.00000")),
        TableColumn(field="dec", title="Dec (deg)", formatter=num("0.00000")),
        TableColumn(field="flux", title="FLUX_AUTO (µJy)", formatter=num("0.0")),
        TableColumn(field="flux_err", title="error (µJy)", formatter=num("0.0")),
        TableColumn(field="snr", title="S/N", formatter=num("0.0")), TableColumn(field="sign", title="sign"),
        TableColumn(field="colour_ab", title="m_A − m_B", formatter=num("0.00")),
    ]
    return DataTable(source=catalog_source, columns=columns, width=1000, height=260, selectable=True,
                     sortable=True, reorderable=False, index_position=None)


def explore_page(diff, catalog, selected, spectra, binned, radius, path, *, title, detector_colours, wcs=None,
                 light_curves=None):
    """Write a standalone HTML page: difference image with hoverable sources, a linked table and spectra.

    Selecting a table row (or clicking a source, shift for several) highlights its ellipse and shows the
    spectra of the selected sources that have one. All JavaScript and CSS are inline (`standalone_html`), so the
    file opens offline, from disk, with no server.

    Parameters
    ----------
    diff : 2D ndarray
        Difference image (µJy per pixel), 0-based pixels with the origin at the bottom.
    catalog : `~astropy.table.Table`
        Difference catalogue (see `catalog_source_data`).
    selected : dict
        Catalogue id -> source name for the sources with spectra.
    spectra, binned : dict
        Catalogue id -> spectrum table, and -> binned spectrum table (or None).
    radius : float
        Aperture radius (pixels) of the spectra shown.
    path : path-like
        Output HTML file (written as given; callers write atomically).
    title : str
        Page title.
    detector_colours : dict
        Detector number -> colour of its spectrum points.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of ``diff``: an RA/Dec grid (`sky_grid`) is drawn over the image.
    light_curves : dict, optional
        Catalogue id -> ``(href, text)``: a link, relative to the page, to the source's light-curve figure and a
        short summary of its variability test, listed under the page.

    Returns
    -------
    dict
        ``n_sources`` (catalogue rows), ``n_spectra`` (sources with spectra) and ``n_points`` (spectrum points).
    """
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div

    markers = source_markers(sorted(selected))
    cat = ColumnDataSource(catalog_source_data(catalog, selected, markers=markers), name="catalog")
    spec_data = spectrum_source_data(spectra, radius, detector_colours=detector_colours, markers=markers)
    binned_data = _binned_source_data(binned, markers)
    spec_all, binned_all = ColumnDataSource(spec_data), ColumnDataSource(binned_data)
    # start with the first source that has a spectrum selected (several overlaid are hard to tell apart)
    initial = [k for k, i in enumerate(cat.data["id"]) if i in selected][:1]
    cat.selected.indices = initial
    chosen = {cat.data["id"][k] for k in initial}
    spec_shown = ColumnDataSource(_subset(spec_data, chosen), name="spectrum_shown")
    binned_shown = ColumnDataSource(_subset(binned_data, chosen))
    info = Div(text="Spectra of source(s) " + ", ".join(f"{i} {markers[i][1]}" for i in sorted(chosen)) if chosen
               else "No source was measured for spectra.")
    cat.selected.js_on_change("indices", CustomJS(
        args={"cat": cat, "pairs": [[spec_all, spec_shown], [binned_all, binned_shown]], "info": info},
        code=_SPECTRUM_JS))
    grid = sky_grid(wcs, np.shape(diff)) if wcs is not None else None
    image = _image_figure(np.asarray(diff, float), "Difference image: hover a source, click or select rows", cat,
                          grid=grid)
    flux, mag = _spectrum_figures(spec_shown, binned_shown)
    colours = " ".join(f'<span style="color:{c}">&#9679; D{d}</span>' for d, c in sorted(detector_colours.items()))
    header = Div(text=f"<h2 style='margin:4px 0'>{title}</h2><p style='margin:2px 0'>{len(catalog)} detections; "
                      f"magenta: measured for spectra; gold: selected in the table. Ellipses 3A × 3B at THETA"
                      f"{'; dashed: RA and Dec' if grid and grid['xs'] else ''}. "
                      f"Spectra at r = {radius:g} px, coloured by detector ({colours}), one marker per source "
                      f"(table column 'marker'); select several rows to compare.</p>", width=1200)
    parts = [header, row(image, column(info, flux, mag)), _table(cat)]
    if light_curves:
        import html as _html

        links = " &nbsp;|&nbsp; ".join(
            f"<a href=\"{_html.escape(href)}\">{cid} {markers.get(cid, ('', ''))[1]}</a> {_html.escape(text)}"
            for cid, (href, text) in sorted(light_curves.items()))
        parts.append(Div(text=f"<p style='margin:4px 0'><b>Light curves</b> (flux against time per standard "
                              f"channel, χ² test of variability): {links}</p>", width=1200, name="light_curves"))
    layout = column(*parts)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(standalone_html(layout, title))
    return {"n_sources": len(catalog), "n_spectra": len(selected), "n_points": len(spec_data["id"])}
