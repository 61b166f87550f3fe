"""Static figures: difference image with detections, and spectra."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.visualization import ZScaleInterval  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

__all__ = ["plot_difference", "plot_spectrum", "plot_message", "DETECTOR_COLOURS"]

DETECTOR_COLOURS = {1: "#4b0082", 2: "#1f77b4", 3: "#17becf", 4: "#2ca02c", 5: "#ff7f0e", 6: "#d62728"}


def _zscale(image):
    finite = np.asarray(image)[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    return ZScaleInterval().get_limits(finite)


def plot_difference(diff, wcs, catalog, selected_ids, title, path, *, image_a=None, image_b=None, labels=("A", "B")):
    """Write a PNG: the two detector images and the difference with SExtractor ellipses (selected in red).

    Ellipses use A_IMAGE, B_IMAGE and THETA_IMAGE (degrees, counter-clockwise from +x), drawn at 3 A × 3 B in
    pixel coordinates with the origin at the bottom. Returns the number of ellipses drawn on the difference.
    """
    panels = [(image_a, labels[0]), (image_b, labels[1])] if image_a is not None and image_b is not None else []
    panels.append((diff, f"{labels[0]} − {labels[1]}"))
    fig = plt.figure(figsize=(5 * len(panels), 5.2))
    drawn = 0
    for k, (img, label) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), k, projection=wcs)
        if k == len(panels):
            lim = np.nanpercentile(np.abs(img), 99.5) if np.isfinite(img).any() else 1.0
            im = ax.imshow(img, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
            for row in catalog:
                chosen = int(row["id"]) in selected_ids
                ell = Ellipse(
                    (row["XWIN_IMAGE"] - 1, row["YWIN_IMAGE"] - 1), 6 * row["A_IMAGE"], 6 * row["B_IMAGE"],
                    angle=float(row["THETA_IMAGE"]), fill=False, lw=1.6 if chosen else 0.8,
                    edgecolor="red" if chosen else "black",
                )
                ax.add_patch(ell)
                drawn += 1
                if chosen:
                    ax.annotate(str(int(row["id"])), (row["XWIN_IMAGE"] + 2, row["YWIN_IMAGE"] + 2), color="red",
                                fontsize=8)
        else:
            vmin, vmax = _zscale(img)
            im = ax.imshow(img, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_title(label, fontsize=9)
        ax.coords[0].set_axislabel("RA")
        ax.coords[1].set_axislabel("Dec")
        fig.colorbar(im, ax=ax, shrink=0.75, label="µJy / pixel")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def plot_spectrum(spectrum, radius, title, path, *, truth=None, binned=None):
    """Write a PNG of a spectrum: flux (µJy) against wavelength, coloured by detector, flagged points hollow.

    ``binned`` (from `spherex_sdt.spectra.bin_spectrum`) is drawn on top as black squares; ``truth`` is an optional
    ``(wavelength_um, flux_ujy)`` curve drawn for simulated sources.
    Returns the number of points plotted.
    """
    sel = np.isclose(np.asarray(spectrum["radius"], float), radius)
    spec = spectrum[sel]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    n = 0
    for det in sorted(set(int(d) for d in spec["detector"])):
        rows = spec[np.asarray(spec["detector"]) == det]
        lam = np.asarray(rows["wavelength"], float)
        flux = np.asarray(rows["flux"], float)
        err = np.asarray(rows["flux_err"], float)
        flagged = np.asarray(rows["quality"]) != 0
        colour = DETECTOR_COLOURS.get(det, "k")
        for mask, face in ((~flagged, colour), (flagged, "none")):
            if mask.any():
                ax.errorbar(lam[mask], flux[mask], yerr=err[mask], fmt="o", ms=4, color=colour, mfc=face,
                            label=f"D{det}" if face != "none" else None, elinewidth=0.8)
                n += int(mask.sum())
    if binned is not None and len(binned):
        ax.errorbar(np.asarray(binned["wavelength_mean"], float), np.asarray(binned["flux"], float),
                    yerr=np.asarray(binned["flux_err"], float), fmt="s", ms=5, color="k", mfc="none", lw=1,
                    label="binned (102 channels)", zorder=5)
    if truth is not None:
        ax.plot(truth[0], truth[1], "k-", lw=1, alpha=0.6, label="injected SED")
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("wavelength (µm)")
    ax.set_ylabel("flux density (µJy)")
    ax.set_title(f"{title} — r = {radius:g} px; hollow: quality flag set", fontsize=9)
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return n


def plot_message(text, path):
    """Write a PNG holding only a message (e.g. why a target has no difference image)."""
    fig = plt.figure(figsize=(8, 3))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11)
    fig.savefig(path, dpi=80)
    plt.close(fig)
