"""Tasks of the figures stage: PNGs of a pair, the interactive page, the Firefly push (the spectrum and light-curve
PNGs are made by `spherex_sdt.tasks.spectra.measure_spectra`)."""

import html
import json
import logging
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from .. import status
from ..io.atomic import atomic_path
from ..io.difference_file import read_difference
from .common import now_utc

__all__ = ["plot_difference", "interactive_page", "push_firefly"]

log = logging.getLogger(__name__)


def _pair_labels(h):
    """Panel labels and the figure title: the pair's two images, or for stacked sides the visits and wavelength
    range each stack holds (its images were taken at different wavelengths within the detector's band)."""
    visits = (int(h.get("NVISIT_A", 1)), int(h.get("NVISIT_B", 1)))
    if visits == (1, 1):
        labels = (f"D{h['DET_A']} {h['LAM_A']:.3f} µm", f"D{h['DET_B']} {h['LAM_B']:.3f} µm")
        return labels, f"{h['PAIR']}: A = {h['OBSID_A']}, B = {h['OBSID_B']} ({h['PAIRRULE']})"
    labels = tuple(f"D{h[f'DET_{s}']} {h[f'LAM_{s}']:.3f} µm ({n} visit{'s' if n > 1 else ''})"
                   for s, n in zip("AB", visits))
    ranges = ", ".join(f"{s} {h.get(f'LAMMIN_{s}', h[f'LAM_{s}']):.2f}-{h.get(f'LAMMAX_{s}', h[f'LAM_{s}']):.2f} µm"
                       for s in "AB")
    return labels, f"{h['PAIR']}: stacks of {visits[0]} and {visits[1]} visits ({ranges}); grid of B = {h['OBSID_B']}"


def plot_difference(difference, catalog, selected, outputs, *, target=""):
    """PNGs of a pair: the images and the difference with every detection, their overlap, the difference and S/N.

    ``outputs`` maps ``difference``, ``overlap`` and ``significance`` to paths (any may be absent). Returns a dict
    of what each figure drew (ellipse counts, overlap fractions), which is also logged.
    """
    from ..plotting import plot_difference as _difference, plot_message, plot_overlap, plot_significance

    planes, wcs, h, (product_status, reason) = read_difference(difference)
    if product_status != status.OK:  # no coverage or no usable pair: say so in every figure
        for path in outputs.values():
            if path:
                plot_message(f"{target} {h.get('PAIR', '')}: {product_status}\n{reason}".strip(), path)
        return {}
    cat = Table.read(catalog, format="ascii.ecsv")
    ids = {int(i) for i in Table.read(selected, format="ascii.ecsv")["id"]}
    labels, title = _pair_labels(h)
    title = f"{target} {title}".strip()
    drawn = {}
    if outputs.get("difference"):
        with atomic_path(outputs["difference"]) as tmp:
            drawn["difference"] = _difference(planes["DIFFERENCE"], wcs, cat, ids, title, tmp,
                                              image_a=planes["IMAGE_A"], image_b=planes["IMAGE_B"], labels=labels)
    if outputs.get("overlap"):
        with atomic_path(outputs["overlap"]) as tmp:
            drawn["overlap"] = plot_overlap(planes["IMAGE_A"], planes["IMAGE_B"], planes["MASK"], wcs, title, tmp,
                                            labels=labels)
    if outputs.get("significance"):
        with atomic_path(outputs["significance"]) as tmp:
            drawn["significance"] = plot_significance(planes["DIFFERENCE"], planes["SNR"], planes["MASK"], wcs, cat,
                                                      ids, title, tmp, labels=labels)
    log.info("figures of %s: %s", difference, drawn)
    return drawn


def interactive_page(difference, catalog, selected, sources_dir, radius, output, *, target=""):
    """Standalone HTML page (bokeh, inline resources) of a pair: difference, linked catalogue table, spectra.

    Spectra are read from ``sources_dir/{source}/spectrum.ecsv`` (and ``spectrum_binned.ecsv``) for the sources of
    ``selected``; ``radius`` is the aperture radius shown. A source selected by position with no detection (id -1)
    is drawn as a circle at its position, with negative ids -1, -2, ... on the page.
    """
    from ..plotting import DETECTOR_COLOURS, explore_page

    planes, wcs, h, (product_status, reason) = read_difference(difference)
    if product_status != status.OK:  # a page that says why there is nothing to explore
        text = html.escape(f"{target} {h.get('PAIR', '')}: {product_status}. {reason}".strip())
        with atomic_path(output) as tmp:
            tmp.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{text}</title></head>"
                           f"<body><p>{text}</p></body></html>\n")
        return {}
    cat = Table.read(catalog, format="ascii.ecsv")
    sel = Table.read(selected, format="ascii.ecsv")
    chosen, spectra, binned, undetected, curves = {}, {}, {}, [], {}
    for row in sel:
        cid, name = int(row["id"]), str(row["source"])
        folder = Path(sources_dir) / name
        if not (folder / "spectrum.ecsv").is_file():
            log.info("source %s (id %d): no spectrum, left out of the page", name, cid)
            continue
        if cid < 0:
            cid = -1 - len(undetected)
            undetected.append((cid, float(row["ra"]), float(row["dec"])))
        chosen[cid] = name
        spectra[cid] = Table.read(folder / "spectrum.ecsv", format="ascii.ecsv")
        b = folder / "spectrum_binned.ecsv"
        binned[cid] = Table.read(b, format="ascii.ecsv") if b.is_file() else None
        if (folder / "lightcurve.png").is_file():
            curves[cid] = (f"{Path(sources_dir).name}/{name}/lightcurve.png", _variability_text(folder))
    if undetected:
        cat = with_position_rows(cat, undetected, wcs)
    _, title = _pair_labels(h)
    with atomic_path(output) as tmp:
        counts = explore_page(planes["DIFFERENCE"], cat, chosen, spectra, binned, float(radius), tmp,
                              title=f"{target} {title}".strip(), detector_colours=DETECTOR_COLOURS, wcs=wcs,
                              light_curves=curves)
    log.info("interactive page %s: %s", output, counts)
    return counts


def _variability_text(folder):
    """A source's variability test in a few words, from its lightcurve.ecsv."""
    path = Path(folder) / "lightcurve.ecsv"
    if not path.is_file():
        return ""
    meta = Table.read(path, format="ascii.ecsv").meta
    dof = int(meta.get("dof_total", 0))
    if not dof:
        return "(no channel measured twice)"
    return f"(χ²/dof = {meta['chi2_total']:.1f}/{dof}, p = {meta['p_variable_total']:.2g})"


def with_position_rows(catalog, positions, wcs):
    """The catalogue's page columns plus one circular row (1 px semi-axes) per ``(id, ra, dec)`` position."""
    columns = [c for c in ("id", "ra", "dec", "XWIN_IMAGE", "YWIN_IMAGE", "A_IMAGE", "B_IMAGE", "THETA_IMAGE",
                           "FLUX_AUTO", "FLUXERR_AUTO", "sign", "colour_ab") if c in catalog.colnames]
    ids, ras, decs = (np.array(v) for v in zip(*positions))
    x, y = wcs.world_to_pixel_values(ras, decs)
    values = {"id": ids, "ra": ras, "dec": decs, "XWIN_IMAGE": np.asarray(x) + 1, "YWIN_IMAGE": np.asarray(y) + 1,
              "A_IMAGE": np.ones(len(ids)), "B_IMAGE": np.ones(len(ids)), "THETA_IMAGE": np.zeros(len(ids)),
              "sign": np.zeros(len(ids), int)}
    extra = Table({c: values.get(c, np.full(len(ids), np.nan)) for c in columns})
    return vstack([catalog[columns], extra], metadata_conflicts="silent")


def push_firefly(difference, catalog, url, channel, output, *, target="", pair="", client=None):
    """Show a pair's difference and catalogue in the Firefly viewer at ``url``; record what was shown as JSON.

    ``client`` replaces the `firefly_client.FireflyClient` (tests pass a stand-in).
    """
    from ..io.firefly import make_client, push_pair

    client = client if client is not None else make_client(url, channel)
    shown = push_pair(client, difference, catalog, key=f"{target}-{pair}".strip("-") or "pair",
                      title=f"{target} {pair}".strip())
    record = {"url": url, "channel": channel, "target": target, "pair": pair, "time_utc": now_utc(), **shown}
    with atomic_path(output) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, default=str) + "\n")
    log.info("shown in Firefly at %s (channel %s): %s", url, channel, shown)
    return record
