"""Static figures (PNG): the pair images and their overlap, the difference and its S/N with detections, spectra."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from astropy.visualization import ZScaleInterval  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import ListedColormap, to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Ellipse, Patch  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

__all__ = [
    "plot_difference",
    "plot_overlap",
    "plot_significance",
    "plot_spectrum",
    "plot_light_curve",
    "SpectrumFigure",
    "LightCurveFigure",
    "plot_message",
    "draw_ellipses",
    "draw_compass",
    "sky_directions",
    "DETECTOR_COLOURS",
    "ELLIPSE_SCALE",
]

DETECTOR_COLOURS = {1: "#4b0082", 2: "#1f77b4", 3: "#17becf", 4: "#2ca02c", 5: "#ff7f0e", 6: "#d62728"}
ELLIPSE_SCALE = 3.0  # ellipses are drawn at 3 A x 3 B (semi-axes), SExtractor's usual Kron-like display size
_SELECTED = "#e4007c"  # magenta: visible on both the RdBu difference and the grey S/N map


def _zscale(image):
    finite = np.asarray(image)[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    return ZScaleInterval().get_limits(finite)


def _symmetric_limit(image, percentile=99.5):
    """Half-range of a diverging scale: the ``percentile`` of |image| over finite pixels (1 if there are none)."""
    finite = np.abs(np.asarray(image, float))[np.isfinite(image)]
    lim = float(np.percentile(finite, percentile)) if finite.size else 1.0
    return lim if lim > 0 else 1.0


def _label_axes(ax, title):
    ax.set_title(title, fontsize=9)
    ax.coords[0].set_axislabel("RA")
    ax.coords[1].set_axislabel("Dec")


def draw_ellipses(ax, catalog, selected_ids=(), *, scale=ELLIPSE_SCALE, label="all"):
    """Draw SExtractor ellipses on image axes whose data coordinates are 0-based pixels.

    Parameters
    ----------
    ax : `~matplotlib.axes.Axes`
        Axes showing an image with ``origin="lower"`` (a `~astropy.visualization.wcsaxes.WCSAxes` is fine: patches
        are placed in pixel coordinates).
    catalog : `~astropy.table.Table`
        Needs ``id``, ``XWIN_IMAGE``, ``YWIN_IMAGE`` (1-based, SExtractor's convention), ``A_IMAGE``, ``B_IMAGE``
        (pixels) and ``THETA_IMAGE`` (degrees counter-clockwise from +x, -90...90).
    selected_ids : collection of int
        Catalogue ids drawn thicker, in magenta, with bold labels.
    scale : float
        Semi-axes drawn are ``scale * A`` and ``scale * B``.
    label : {'all', 'selected', 'none'}
        Which ellipses get their id written next to them.

    Returns
    -------
    list of `~matplotlib.patches.Ellipse`
        One per catalogue row, in catalogue order. ``angle`` is THETA_IMAGE in degrees: matplotlib measures it
        counter-clockwise from +x, like SExtractor, on an image drawn with its origin at the bottom.
    """
    if label not in ("all", "selected", "none"):
        raise ValueError(f"label must be 'all', 'selected' or 'none', got {label!r}")
    selected_ids = {int(i) for i in selected_ids}
    patches = []
    for row in catalog:
        chosen = int(row["id"]) in selected_ids
        x, y = float(row["XWIN_IMAGE"]) - 1, float(row["YWIN_IMAGE"]) - 1
        a, b = float(row["A_IMAGE"]), float(row["B_IMAGE"])
        ell = Ellipse((x, y), 2 * scale * a, 2 * scale * b, angle=float(row["THETA_IMAGE"]), fill=False,
                      lw=1.8 if chosen else 0.8, edgecolor=_SELECTED if chosen else "black", zorder=3)
        ax.add_patch(ell)
        patches.append(ell)
        if label == "all" or (label == "selected" and chosen):
            ax.annotate(str(int(row["id"])), (x + scale * a * 0.75, y + scale * a * 0.75), color=_SELECTED if chosen
                        else "black", fontsize=8 if chosen else 6.5, fontweight="bold" if chosen else "normal",
                        zorder=4, annotation_clip=True)
    return patches


def sky_directions(wcs, x, y, *, step_arcsec=5.0):
    """Unit vectors, in 0-based pixel coordinates, pointing north and east from pixel (x, y).

    Returns
    -------
    dict
        ``{'N': (dx, dy), 'E': (dx, dy)}``; on a SPHEREx field the detector's rotation turns both away from +y
        and -x.
    """
    ra, dec = (float(v) for v in wcs.pixel_to_world_values(x, y))
    step = step_arcsec / 3600.0
    out = {}
    for name, (d_ra, d_dec) in (("N", (0.0, step)), ("E", (step / max(np.cos(np.deg2rad(dec)), 1e-6), 0.0))):
        px, py = wcs.world_to_pixel_values((ra + d_ra) % 360.0, dec + d_dec)
        vector = np.array([float(px) - x, float(py) - y])
        out[name] = tuple(vector / np.hypot(*vector))
    return out


def draw_compass(ax, wcs, shape, *, size=0.13, inset=0.04, colour="black"):
    """Draw N and E arrows in the lower-left corner of image axes (0-based pixel data coordinates).

    ``size`` (arrow length) and ``inset`` (margin) are fractions of the image's smaller side; the arrows and their
    letters stay inside the image whichever way the field is rotated. Returns `sky_directions` at the arrows' foot.
    """
    ny, nx = shape
    length = size * min(nx, ny)
    x0 = y0 = inset * min(nx, ny) + 1.5 * length
    directions = sky_directions(wcs, x0, y0)
    for name, (dx, dy) in directions.items():
        ax.annotate("", xy=(x0 + length * dx, y0 + length * dy), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.4, "shrinkA": 0, "shrinkB": 0},
                    zorder=5)
        ax.text(x0 + 1.35 * length * dx, y0 + 1.35 * length * dy, name, color=colour, fontsize=9, fontweight="bold",
                ha="center", va="center", zorder=5,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "black" if colour == "white" else "white",
                      "edgecolor": "none", "alpha": 0.6})
    return directions


def _figure(figsize):
    """A figure outside pyplot (no global state; nothing to close), drawn by Agg."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path, dpi):
    """Save a figure as it is laid out; zlib level 3 encodes a figure in about 60 % of the default level's time
    for files about 6 % larger."""
    fig.savefig(path, dpi=dpi, pil_kwargs={"compress_level": 3})


def _save_pair_figure(fig, path, dpi):
    """Lay out a figure of image panels with ``tight_layout`` (sexagesimal tick labels of any width, colour bars)
    and save it as laid out: a tight bounding box on top would cost another full draw of every panel."""
    # TightLayoutEngine().execute is fig.tight_layout() without leaving a layout engine on the figure, for which
    # savefig would lay out the whole figure once more before drawing it
    TightLayoutEngine().execute(fig)
    _save_png(fig, path, dpi)


def plot_difference(diff, wcs, catalog, selected_ids, title, path, *, image_a=None, image_b=None, labels=("A", "B"),
                    dpi=110):
    """Write a PNG: the two detector images (zscale) and the difference with SExtractor ellipses and ids.

    Ellipses follow `draw_ellipses` (selected sources in magenta). The difference uses a symmetric diverging
    scale at the 99.5th percentile of |difference|.

    Returns
    -------
    int
        The number of ellipses drawn on the difference.
    """
    panels = [(image_a, labels[0]), (image_b, labels[1])] if image_a is not None and image_b is not None else []
    panels.append((diff, f"{labels[0]} − {labels[1]}"))
    fig = _figure((5 * len(panels), 4.6))
    drawn = 0
    for k, (img, label) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), k, projection=wcs)
        if k == len(panels):
            lim = _symmetric_limit(img)
            im = ax.imshow(img, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
            drawn = len(draw_ellipses(ax, catalog, selected_ids))
        else:
            vmin, vmax = _zscale(img)
            im = ax.imshow(img, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax)
        _label_axes(ax, label)
        draw_compass(ax, wcs, np.shape(img))
        fig.colorbar(im, ax=ax, shrink=0.75, label="µJy / pixel")
    fig.suptitle(title, fontsize=10)
    _save_pair_figure(fig, path, dpi)
    return drawn


# MASK bits of difference.fits (see spherex_sdt.tasks.make_difference)
_MASK_CLASSES = (  # (value shown, label, colour)
    (0, "good in both", "#f0f0f0"),
    (1, "bad in A", "#fdae61"),
    (2, "bad in B", "#abd9e9"),
    (3, "bad in both", "#7b3294"),
    (4, "A does not cover", "#404040"),
)


def _mask_classes(mask):
    mask = np.asarray(mask, int)
    return np.where(mask & 4, 4, mask & 3)


def plot_overlap(image_a, image_b, mask, wcs, title, path, *, labels=("A", "B"), dpi=110):
    """Write a PNG: A reprojected onto B's grid, B, and their overlap (which pixels each image makes usable).

    Parameters
    ----------
    image_a, image_b : 2D ndarray
        The pair on B's pixel grid (µJy per pixel); shown with zscale limits.
    mask : 2D int ndarray
        The difference's MASK (1 bad in A, 2 bad in B, 4 A does not cover).
    wcs : `~astropy.wcs.WCS`
        B's celestial WCS.

    Returns
    -------
    dict
        Fraction of pixels in each overlap class, keyed by its label.
    """
    classes = _mask_classes(mask)
    fig = _figure((15, 5.0))
    for k, (img, label) in enumerate(((image_a, f"{labels[0]} reprojected onto {labels[1]}"),
                                      (image_b, labels[1])), start=1):
        ax = fig.add_subplot(1, 3, k, projection=wcs)
        vmin, vmax = _zscale(img)
        im = ax.imshow(img, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax)
        ax.contour(classes == 4, levels=[0.5], colors="white", linewidths=0.8)
        _label_axes(ax, label)
        draw_compass(ax, wcs, np.shape(img), colour="white")
        fig.colorbar(im, ax=ax, shrink=0.75, label="µJy / pixel")
    ax = fig.add_subplot(1, 3, 3, projection=wcs)
    cmap = ListedColormap([c for _, _, c in _MASK_CLASSES])
    ax.imshow(classes, origin="lower", cmap=cmap, vmin=-0.5, vmax=len(_MASK_CLASSES) - 0.5, interpolation="nearest")
    fractions = {lab: float(np.mean(classes == v)) for v, lab, _ in _MASK_CLASSES}
    ax.legend(handles=[Patch(facecolor=c, edgecolor="0.5", label=f"{lab} ({100 * fractions[lab]:.1f} %)")
                       for _, lab, c in _MASK_CLASSES], fontsize=7, loc="upper right", framealpha=0.85)
    _label_axes(ax, f"overlap: {100 * fractions['good in both']:.1f} % of pixels usable")
    draw_compass(ax, wcs, np.shape(classes))
    fig.suptitle(title, fontsize=10)
    _save_pair_figure(fig, path, dpi)
    return fractions


def plot_significance(diff, snr, mask, wcs, catalog, selected_ids, title, path, *, labels=("A", "B"), dpi=110):
    """Write a PNG: the difference and its S/N image, masked pixels hatched grey, detections with ids on both.

    Returns
    -------
    int
        The number of ellipses drawn on each panel.
    """
    bad = np.asarray(mask, int) != 0
    overlay = np.ma.masked_where(~bad, np.ones(bad.shape))
    fig = _figure((11, 5.0))
    drawn = 0
    lim_snr = max(5.0, _symmetric_limit(snr, 99.0))
    for k, (img, label, lim, unit) in enumerate((
            (diff, f"{labels[0]} − {labels[1]}", _symmetric_limit(diff), "µJy / pixel"),
            (snr, "S/N per pixel (difference / √variance)", lim_snr, "σ")), start=1):
        ax = fig.add_subplot(1, 2, k, projection=wcs)
        im = ax.imshow(img, origin="lower", cmap="RdBu_r" if k == 1 else "PuOr_r", vmin=-lim, vmax=lim)
        ax.imshow(overlay, origin="lower", cmap=ListedColormap(["0.55"]), alpha=0.8, interpolation="nearest")
        drawn = len(draw_ellipses(ax, catalog, selected_ids))
        _label_axes(ax, label)
        draw_compass(ax, wcs, np.shape(img))
        fig.colorbar(im, ax=ax, shrink=0.75, label=unit)
    selected_set = {int(s) for s in selected_ids}
    n_sel = sum(int(i) in selected_set for i in catalog["id"]) if len(catalog) else 0
    fig.suptitle(f"{title}\n{len(catalog)} detections (ellipses 3A × 3B, THETA from +x), {n_sel} selected "
                 f"(magenta); grey: masked ({100 * bad.mean():.1f} %)", fontsize=9)
    _save_pair_figure(fig, path, dpi)
    return drawn


def _clear_data(ax):
    """Take off reused axes what the previous source drew, and forget its data limits, so that the next source's
    artists autoscale the axes as they would fresh ones (the ticks, grid and labels stay, which is the point)."""
    for artist in (*ax.lines, *ax.collections, *ax.patches, *ax.texts):
        artist.remove()
    ax.containers.clear()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.set_prop_cycle(None)
    ax.dataLim.set(Bbox.null())
    ax.ignore_existing_data_limits = True
    ax.set_xlim(0, 1, auto=True)  # a fresh axes' limits, autoscaled again by what is drawn next
    ax.set_ylim(*((1, 0) if ax.yaxis_inverted() else (0, 1)), auto=True)


def _spectrum_rows(spectrum, radius):
    spec = spectrum[np.isclose(np.asarray(spectrum["radius"], float), radius)] if len(spectrum) else spectrum
    det = np.asarray(spec["detector"], int)
    return spec, det


def _points_by_detector(ax, spec, det, value, error, *, keep=None):
    """Points with error bars coloured by detector, hollow where the quality flag is set; returns the number drawn.

    ``keep`` (bool array) limits the points drawn; non-finite values are never drawn. All the points are two
    artists (bars, markers), whatever the number of detectors: an ``errorbar`` call per detector and flag costs
    more than drawing them.
    """
    lam = np.asarray(spec["wavelength"], float)
    val, err = np.asarray(spec[value], float), np.asarray(spec[error], float)
    flagged = np.asarray(spec["quality"]) != 0
    ok = np.isfinite(val) if keep is None else np.isfinite(val) & keep
    if not ok.any():
        return 0
    lam, val, err, flagged, det = lam[ok], val[ok], err[ok], flagged[ok], det[ok]
    colours = np.array([to_rgba(DETECTOR_COLOURS.get(d, "k")) for d in det.tolist()])
    bar = np.where(np.isfinite(err), err, 0.0)
    ax.vlines(lam, val - bar, val + bar, colors=colours, lw=0.8, zorder=2)
    faces = colours.copy()
    faces[flagged] = 0.0  # hollow: no face
    ax.scatter(lam, val, s=16, facecolors=faces, edgecolors=colours, linewidths=1.0, zorder=2.1)
    return int(ok.sum())


def _detector_handles(det):
    """Legend entries of the detectors drawn, as `_points_by_detector` draws their points."""
    return [Line2D([], [], ls="none", marker="o", ms=4, color=DETECTOR_COLOURS.get(d, "k"), label=f"D{d}")
            for d in sorted(set(det.tolist()))]


class SpectrumFigure:
    """The spectrum figure of `plot_spectrum`, made once and drawn again for each source.

    A job drawing many spectra pays once for the figure, its axes, ticks and grid, and the layout is fixed (no
    ``tight_layout``, no tight bounding box: each of those costs a full draw), so a spectrum costs one draw and
    one PNG encoding. The PNG of a source does not depend on which sources were drawn before it.
    """

    def __init__(self, *, dpi=110):
        self.dpi = dpi
        self.figure = _figure((8, 7))
        self.flux_axes, self.mag_axes = self.figure.subplots(2, 1, sharex=True,
                                                             gridspec_kw={"height_ratios": [3, 2]})
        self.figure.subplots_adjust(left=0.11, right=0.98, bottom=0.085, top=0.95, hspace=0.07)
        self.mag_axes.invert_yaxis()
        self.flux_axes.set_ylabel("flux density (µJy)")
        self.mag_axes.set_xlabel("wavelength (µm)")
        for a in (self.flux_axes, self.mag_axes):
            a.grid(alpha=0.25, lw=0.5)

    def save(self, spectrum, radius, title, path, *, truth=None, binned=None, min_snr_mag=1.0):
        """Draw one spectrum (see `plot_spectrum`) and write it as a PNG; returns the points in the flux panel."""
        from ..spectra.assemble import ab_magnitude  # here: importing spectra brings photutils and scipy.stats

        ax, axm = self.flux_axes, self.mag_axes
        for a in (ax, axm):
            _clear_data(a)
        spec, det = _spectrum_rows(spectrum, radius)
        n = _points_by_detector(ax, spec, det, "flux", "flux_err")
        flux, flux_err = np.asarray(spec["flux"], float), np.asarray(spec["flux_err"], float)
        _points_by_detector(axm, spec, det, "ab_mag", "ab_mag_err", keep=flux > min_snr_mag * flux_err)
        handles = _detector_handles(det[np.isfinite(flux)])
        if binned is not None and len(binned):
            lam_b = np.asarray(binned["wavelength_mean"], float)
            f_b, e_b = np.asarray(binned["flux"], float), np.asarray(binned["flux_err"], float)
            handles.append(ax.errorbar(lam_b, f_b, yerr=e_b, fmt="s", ms=5, color="k", mfc="none", lw=1,
                                       label="binned (standard channels)", zorder=5))
            sig = f_b > min_snr_mag * e_b
            mag_b, mag_b_err = ab_magnitude(f_b[sig], e_b[sig])
            axm.errorbar(lam_b[sig], mag_b, yerr=mag_b_err, fmt="s", ms=5, color="k", mfc="none", lw=1, zorder=5)
        if truth is not None:
            handles += ax.plot(truth[0], truth[1], "k-", lw=1, alpha=0.6, label="injected SED")
            axm.plot(truth[0], ab_magnitude(truth[1], 0.0)[0], "k-", lw=1, alpha=0.6)
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_title(f"{title} — r = {radius:g} px; hollow: quality flag set", fontsize=9)
        if handles:
            ax.legend(handles=handles, fontsize=8, ncol=4)
        axm.set_ylabel(f"AB magnitude (S/N > {min_snr_mag:g})")
        _save_png(self.figure, path, self.dpi)
        return n


def plot_spectrum(spectrum, radius, title, path, *, truth=None, binned=None, min_snr_mag=1.0, dpi=110):
    """Write a PNG of a spectrum at one aperture radius: flux density (µJy) and AB magnitude against wavelength.

    Points are coloured by detector (`DETECTOR_COLOURS`), hollow where the measurement's quality flag is set.
    The flux panel draws every point, negative fluxes included; the magnitude panel only those with
    flux > ``min_snr_mag`` × error (a magnitude of a flux consistent with zero is meaningless). ``binned`` (from
    `spherex_sdt.spectra.bin_spectrum`) is drawn on top as black squares; ``truth`` is an optional
    ``(wavelength_um, flux_ujy)`` curve drawn for simulated sources. For many spectra, draw each with one
    `SpectrumFigure`.

    Returns
    -------
    int
        The number of points plotted in the flux panel.
    """
    return SpectrumFigure(dpi=dpi).save(spectrum, radius, title, path, truth=truth, binned=binned,
                                        min_snr_mag=min_snr_mag)


class LightCurveFigure:
    """The light-curve figure of `plot_light_curve`, made once and drawn again for each source (see
    `SpectrumFigure`). Each panel's points are three artists whatever the number of channels: error bars, the
    lines joining a channel's points, and the markers."""

    def __init__(self, *, dpi=100):
        self.dpi = dpi
        self.figure = _figure((13, 7))
        self.axes = self.figure.subplots(2, 3, squeeze=False).ravel()
        self.figure.subplots_adjust(left=0.055, right=0.985, bottom=0.075, top=0.87, wspace=0.24, hspace=0.3)
        for ax, det in zip(self.axes, range(1, 7)):
            ax.set_title(f"D{det}", fontsize=9, color=DETECTOR_COLOURS.get(det, "k"))
            ax.grid(alpha=0.25, lw=0.5)
            ax.tick_params(labelsize=7)
            # fewer ticks than the default ~9: MJD labels at 7 pt no longer crowd, and a draw is mostly tick labels
            ax.locator_params(axis="x", nbins=5)
            ax.locator_params(axis="y", nbins=6)
        self._cmap = matplotlib.colormaps["viridis"]

    def save(self, table, title, path):
        """Draw one source's light curves (see `plot_light_curve`) and write them as a PNG; returns the points."""
        detector = np.asarray(table["detector"], int)
        subchan = np.asarray(table["subchan"], int)
        mjd, flux, err = (np.asarray(table[c], float) for c in ("mjd", "flux", "flux_err"))
        p_variable, chi2 = np.asarray(table["p_variable"], float), np.asarray(table["chi2"], float)
        dof, lam = np.asarray(table["dof"], int), np.asarray(table["channel_wavelength"], float)
        n = 0
        for ax, det in zip(self.axes, range(1, 7)):
            _clear_data(ax)
            rows = np.flatnonzero(detector == det)
            if not rows.size:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="0.5")
                ax.set_xlabel("")
                ax.set_ylabel("")
                continue
            colours = self._cmap((subchan[rows] - 1) / 16)
            x, y, e = mjd[rows], flux[rows], err[rows]
            ax.vlines(x, y - e, y + e, colors=colours, lw=0.8)
            joins, join_colours, flagged = [], [], []
            for sub in np.unique(subchan[rows]):
                ch = rows[subchan[rows] == sub]  # in time order (light_curve sorts each channel by MJD)
                if ch.size > 1:
                    joins.append(np.column_stack((mjd[ch], flux[ch])))
                    join_colours.append(self._cmap((sub - 1) / 16))
                p = p_variable[ch[0]]
                if np.isfinite(p) and p < 0.01:
                    flagged.append(f"{lam[ch[0]]:.3f} µm: χ²/dof = {chi2[ch[0]]:.1f}/{dof[ch[0]]}, p = {p:.1g}")
            if joins:
                ax.add_collection(LineCollection(joins, colors=join_colours, lw=0.8), autolim=False)
            ax.scatter(x, y, s=16, c=colours, linewidths=1.0, zorder=2.5)
            n += rows.size
            if flagged:
                ax.text(0.02, 0.98, "\n".join(flagged[:4]), transform=ax.transAxes, va="top", fontsize=7,
                        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
            ax.set_xlabel("MJD", fontsize=8)
            ax.set_ylabel("flux density (µJy)", fontsize=8)
        meta = table.meta
        dof_total = int(meta.get("dof_total", 0))
        summary = (f"χ² = {meta.get('chi2_total', 0):.1f} for {dof_total} dof over "
                   f"{meta.get('n_channels_repeated', 0)} channels measured more than once, "
                   f"p = {meta.get('p_variable_total', float('nan')):.2g}" if dof_total else
                   "no channel measured more than once: no variability test")
        self.figure.suptitle(f"{title}\nlight curves per standard channel (colour: sub-channel 1-17); {summary}",
                             fontsize=9)
        _save_png(self.figure, path, self.dpi)
        return n


def plot_light_curve(table, title, path, *, dpi=100):
    """Write a PNG of a source's light curves: flux density against MJD in each standard channel, one panel per
    detector, each channel's points joined and coloured by sub-channel; channels with p_variable < 0.01 are named.

    ``table`` is `spherex_sdt.spectra.light_curve`'s. Returns the number of points drawn. For many sources, draw
    each with one `LightCurveFigure`.
    """
    return LightCurveFigure(dpi=dpi).save(table, title, path)


def plot_message(text, path):
    """Write a PNG holding only a message (e.g. why a target has no difference image)."""
    fig = _figure((8, 3))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11)
    fig.savefig(path, dpi=80)
