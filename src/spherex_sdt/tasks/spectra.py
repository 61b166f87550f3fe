"""Task of the spectra stage: photometry of every selected source, one spectrum folder per source."""

import io
import logging
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from .. import status
from ..calibration.flags import SPHEREX_FLAGS
from ..calibration.spectral import WAVELENGTH_SOURCES
from ..io import read_solid_angle_map, read_spectral_wcs, write_fits, write_table
from ..io.spectral_image import read_usable_cutout
from ..io.vo import BINNED_COLUMNS, SPECTRA_SUMMARY_COLUMNS, describe_columns
from ..photometry import ALGORITHM_VERSION
from ..io.atomic import atomic_path
from ..spectra import binned_spectrum, channel_table, light_curve, measure_source, spectrum_fits_meta, spectrum_table
from ..spectra.measure import OUTSIDE_CUTOUT
from .common import SOFTWARE, settings_hash

__all__ = ["measure_spectra", "source_spectrum", "spectrum_hdulist", "manifest_sources", "spectrum_status"]

log = logging.getLogger(__name__)


def source_spectrum(exposures, ra, dec, source, omegas, params, *, radius, query_time="", wavelength_maps=None):
    """The spectrum table of one source from its rows of an exposure manifest (see `fetch_source_cutouts`).

    ``radius`` is the aperture radius of its ``flux`` column (the others are kept as ``flux_r<radius>`` columns).

    ``wavelength_maps`` maps detector to its ``spectral_wcs`` (CWAVE, CBAND) images: wavelengths and bandwidths then
    come from that calibration, else from each cutout's WCS-WAVE table; ``meta['wavelength_source']`` says which.
    """
    mode = "table" if wavelength_maps is None else "calibration"
    measurements, skipped, position = measure_source(exposures, ra, dec, omegas, params,
                                                     read_cutout=read_usable_cutout, wavelength_maps=wavelength_maps,
                                                     label=source)
    meta = {
        "source": source, "ra_deg": ra, "dec_deg": dec,
        # where the photometry was done: the position fitted to every exposure, or (ra, dec) and why not
        "ra_measured_deg": position["ra"], "dec_measured_deg": position["dec"],
        "position_fitted": position["fitted"], "position_shift_arcsec": position["shift_arcsec"],
        "position_error_arcsec": position["error_arcsec"], "position_exposures": position["n_exposures"],
        "position_note": position["why"],
        "software": SOFTWARE, "photometry_algorithm": ALGORITHM_VERSION,
        # the calibration mode enters the hash; table (the default) keeps the hash it always had
        "settings_hash": settings_hash(params) if mode == "table" else settings_hash(params, mode),
        "settings": params, "archive_query_time_utc": query_time,
        "n_exposures_found": len(exposures), "n_measured": len(measurements),
        "skipped": [f"{name}: {why}" for name, why in skipped],
        "flux_unit": "uJy", "wavelengths": mode, "wavelength_source": WAVELENGTH_SOURCES[mode],
    }
    return spectrum_table(measurements, list(SPHEREX_FLAGS), meta, radius=radius)


def _write_spectrum_files(table, folder, binning, channels, truth, figures):
    folder.mkdir(parents=True, exist_ok=True)
    write_table(table, folder / "spectrum.ecsv")
    write_fits(spectrum_hdulist(table), folder / "spectrum.fits")
    binned = binned_spectrum(table, binning["radius_px"], channels, clip_sigma=binning["clip_sigma"])
    binned.meta["software"] = SOFTWARE
    write_table(describe_columns(binned, BINNED_COLUMNS), folder / "spectrum_binned.ecsv")
    with atomic_path(folder / "spectrum.png") as tmp:
        figures.spectrum.save(table, binning["radius_px"], _source_title(table.meta), tmp, truth=truth,
                              binned=binned)
    return _write_light_curve(table, channels, folder, figures)


def _source_title(meta):
    return f"source {meta['source']} ({meta['ra_deg']:.5f}, {meta['dec_deg']:.5f})"


class _Figures:
    """The job's two figures, made once and drawn again for every source (`spherex_sdt.plotting.SpectrumFigure`)."""

    def __init__(self):
        from ..plotting import LightCurveFigure, SpectrumFigure

        self.spectrum = SpectrumFigure()
        self.light_curve = LightCurveFigure()


def _write_light_curve(table, channels, folder, figures):
    """``lightcurve.ecsv`` and ``lightcurve.png`` of a spectrum: its unmasked measurements per channel in time."""
    use = ~np.asarray(table["mask"], bool) if len(table) else np.zeros(0, bool)
    rows = table[use]
    curve = light_curve(np.asarray(rows["wavelength"], float), np.asarray(rows["detector"], int),
                        np.asarray(rows["mjd"], float), np.asarray(rows["flux"], float),
                        np.asarray(rows["flux_err"], float), channels, obs_id=np.asarray(rows["obs_id"], str))
    curve.meta.update({"source": table.meta["source"], "ra_deg": table.meta["ra_deg"],
                       "dec_deg": table.meta["dec_deg"], "radius_px": table.meta["radius_px"], "software": SOFTWARE})
    write_table(curve, folder / "lightcurve.ecsv")
    with atomic_path(folder / "lightcurve.png") as tmp:
        figures.light_curve.save(curve, f"{_source_title(table.meta)}, r = {table.meta['radius_px']:g} px", tmp)
    return curve


def spectrum_hdulist(table):
    """The FITS form of a spectrum table: every metadata entry in the primary header (where specutils' reader
    looks) and in the ``SPECTRUM`` table HDU (where astropy's `~astropy.table.Table.read` looks)."""
    # Table.write (not table_to_hdu) keeps the column descriptions, as astropy's serialized-column comments
    buffer = io.BytesIO()
    Table(table, meta={}).write(buffer, format="fits", name="SPECTRUM")
    buffer.seek(0)
    hdul = fits.open(buffer, lazy_load_hdus=False)  # in memory: nothing to close
    cards = spectrum_fits_meta(table.meta)
    for hdu in hdul:
        for card in cards:
            hdu.header.append(card, end=True)
    return hdul


def measure_spectra(exposures, solid_angle_maps, params, binning, sources_dir, summary, *, channels=None,
                    truth=None, spectral_wcs=None):
    """Photometry of every selected source of a target and pair, one spectrum folder per source.

    Writes ``sources_dir/{source}/spectrum.ecsv`` (one row per exposure, by wavelength), ``spectrum.fits``,
    ``spectrum_binned.ecsv`` (the ``binning['radius_px']`` spectrum on the standard channels; ``channels`` is a
    spectral_channels file or None for the equal-R fallback), ``spectrum.png``, and the light curves per channel
    ``lightcurve.ecsv`` and ``lightcurve.png``; then the ``summary`` table.
    ``spectral_wcs`` maps detector to its spectral_wcs calibration file: wavelengths then come from it
    (``spectra.wavelengths: calibration``); None keeps each cutout's WCS-WAVE table.
    """
    from ..simulate import truth_sed_near

    manifest = Table.read(exposures, format="ascii.ecsv")
    omegas = {int(d): read_solid_angle_map(path) for d, path in solid_angle_maps.items()}
    wavelength_maps = ({int(d): read_spectral_wcs(path) for d, path in spectral_wcs.items()}
                       if spectral_wcs else None)
    truth_table = Table.read(truth, format="ascii.ecsv") if truth else None
    channel_rows = channel_table(channels)  # the same for every source
    sources_dir = Path(sources_dir)
    sources_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    figures = _Figures()
    source_of_row = np.asarray(manifest["source"]).astype(str)
    for note in manifest_sources(manifest):
        source, ra, dec = note["source"], float(note["ra"]), float(note["dec"])
        part = manifest[source_of_row == source]
        table = source_spectrum(part, ra, dec, source, omegas, params, radius=binning["radius_px"],
                                query_time=manifest.meta.get("query_time_utc", ""), wavelength_maps=wavelength_maps)
        source_status, reason, n_failed = spectrum_status(table.meta, note, part)
        table.meta.update({"status": source_status, "reason": reason, "n_failed": n_failed})
        curve = _write_spectrum_files(table, sources_dir / source, binning, channel_rows,
                                      truth_sed_near(truth_table, ra, dec), figures)
        radius = binning["radius_px"]  # the spectrum's flux column is at this radius (`source_spectrum`)
        snr = np.asarray(table["flux"], float) / np.asarray(table["flux_err"], float)
        rows.append({"source": source, "ra": ra, "dec": dec, "n_exposures": len(part),
                     "n_measured": int(table.meta["n_measured"]), "radius": radius,
                     "median_snr": float(np.median(snr)) if snr.size else np.nan,
                     "p_variable": float(curve.meta["p_variable_total"]),
                     "spectrum": str(sources_dir / source / "spectrum.ecsv"),
                     "lightcurve": str(sources_dir / source / "lightcurve.ecsv"), "status": source_status,
                     "reason": reason, "n_failed": n_failed})
        log.info("source %s: %d measurements from %d exposures (%s)", source, len(table), len(part), source_status)
    out = Table(rows=rows) if rows else Table(
        names=("source", "ra", "dec", "n_exposures", "n_measured", "radius", "median_snr", "p_variable", "spectrum",
               "lightcurve", "status", "reason", "n_failed"),
        dtype=(str, float, float, int, int, float, float, float, str, str, str, str, int))
    product_status, reason = status.status_of(manifest.meta)
    out.meta.update({"software": SOFTWARE, "manifest": str(exposures), "status": product_status,
                     "reason": reason, "n_detections": manifest.meta.get("n_detections", 0)})
    write_table(describe_columns(out, SPECTRA_SUMMARY_COLUMNS), summary)


def manifest_sources(manifest):
    """The selected sources of an exposure manifest, with what `~spherex_sdt.tasks.archive.source_notes` recorded
    (manifests written before that list only the sources that have exposures)."""
    if "sources" in manifest.meta:
        return list(manifest.meta["sources"])
    of_row = np.asarray(manifest["source"]).astype(str)
    return [{"source": name, "ra": float(manifest["ra"][of_row == name][0]),
             "dec": float(manifest["dec"][of_row == name][0]), "n_exposures": int(np.sum(of_row == name)),
             "n_failed": 0, "reason": ""} for name in dict.fromkeys(of_row)]


def spectrum_status(meta, note, exposures):
    """``(status, reason, n_failed)`` of one source's spectrum, from what it holds.

    Exposures lost to failures (a cutout not fetched after its retries, a cutout that cannot be read) make it
    ``partial``; an exposure whose cutout does not reach the position is coverage, not a failure. No measurement
    at all is ``no_measurements``, with the reason. ``note`` is the source's entry of the manifest's ``sources``
    and ``exposures`` its rows of the manifest.
    """
    states = np.asarray(exposures["status"]).astype(str) if len(exposures) else np.zeros(0, str)
    outside = sum(why.endswith(f": {OUTSIDE_CUTOUT}") for why in meta["skipped"])
    n_measured = int(meta["n_measured"])
    unreadable = int(np.sum(states == status.OK)) - n_measured - outside
    errors = [str(e) for e in exposures["error"][states == status.FAILED]] if len(exposures) else []
    fetched = {str(name) for name in exposures["file_name"][states == status.OK]} if len(exposures) else set()
    errors += [why for why in meta["skipped"]
               if why.split(": ", 1)[0] in fetched and not why.endswith(f": {OUTSIDE_CUTOUT}")]
    n_failed = int(np.sum(states == status.FAILED)) + unreadable
    if not len(exposures):
        n_failed = int(note.get("n_failed", 0))  # the search itself left exposures out
    first = (errors[0] if errors else note.get("reason", ""))[:600]
    if n_measured == 0:
        why = first or note.get("reason") or "no cutout reaches the position"
        return status.NO_MEASUREMENTS, f"no exposure measured: {why}", n_failed
    if n_failed:
        return status.PARTIAL, (f"{n_failed} of {len(exposures)} exposures not measured because of failures "
                                f"(first: {first})"), n_failed
    return status.OK, "", 0
