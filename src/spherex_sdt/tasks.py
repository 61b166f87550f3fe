"""One function per workflow rule: paths and plain values in, files out.

These join the I/O layers (archive, io) to one science call each. They never read the workflow config; everything
arrives as arguments, so the workflow's ``params:`` see every value that changes a result.
"""

import hashlib
import html
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack

from . import __version__
from .archive import cached_fetch, cutout_cache_name, open_archive, safe_file_name
from .archive.cutouts import cutout_pixels
from .calibration.flags import SPHEREX_FLAGS
from .calibration.spectral import WAVELENGTH_SOURCES
from .detectors import PIXEL_SCALE_ARCSEC, parse_pair
from .errors import DataFormatError, NoCoverageError, SpherexSdtError
from .extraction import extract_both_signs, select_sources as _select
from .extraction.sextractor import sextractor_version
from .imaging import difference_image
from .imaging.pairs import choose_pair
from .io import read_solid_angle_map, read_spectral_image, read_spectral_wcs, write_fits, write_table
from .io.atomic import atomic_path
from .io.vo import describe_columns
from .photometry import ALGORITHM_VERSION, measure_cutout
from .spectra import channel_table, spectrum_table

__all__ = [
    "log_to",
    "simulate_archive",
    "search_images",
    "fetch_pair_images",
    "fetch_calibration",
    "make_difference",
    "extract_sources",
    "select_sources",
    "fetch_source_cutouts",
    "source_spectrum",
    "measure_spectra",
    "binned_spectrum",
    "plot_difference",
    "interactive_page",
    "push_firefly",
    "plot_spectrum_table",
]

log = logging.getLogger(__name__)

LEVEL2_HDUS = ("IMAGE", "FLAGS", "VARIANCE", "WCS-WAVE")

STATUS_OK = "ok"
STATUS_NO_COVERAGE = "no_coverage"
"""Every product carries ``status`` (and ``reason``): ``ok``, or ``no_coverage`` when no image pair covers the
target. A no-coverage target gets empty but valid products all the way down, never a crash."""

DIFFERENCE_PLANES = ("DIFFERENCE", "VARIANCE", "SNR", "MASK", "IMAGE_A", "VARIANCE_A", "IMAGE_B", "VARIANCE_B")
CATALOG_COLUMNS = (("id", int), ("ra", float), ("dec", float), ("x", float), ("y", float), ("sign", int),
                   ("FLUX_AUTO", float), ("FLUXERR_AUTO", float))
"""Columns of an empty catalogue (what `select_sources` and the plots need)."""


def _status(meta):
    """``(status, reason)`` recorded in a product's metadata or FITS header (keys match case-insensitively there);
    old products without one count as ``ok``."""
    return str(meta.get("status", STATUS_OK)), str(meta.get("reason", ""))


def _empty_catalog(status, reason, **meta):
    table = Table(names=[c for c, _ in CATALOG_COLUMNS], dtype=[d for _, d in CATALOG_COLUMNS])
    table.meta.update(meta, status=status, reason=reason)
    return table


def log_to(path):
    """Send stderr (tracebacks, warnings) and this package's log to a rule's log file."""
    import sys

    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115  kept open for the life of the job
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def settings_hash(*values):
    """Short, stable hash of the settings that produced a product (recorded as provenance)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- archive ------------------------------------------------------------------------------------------------------
def simulate_archive(targets, archive_dir, settings):
    """Simulate a SPHEREx archive for a target list (see `spherex_sdt.simulate`)."""
    from .simulate import SimulationSettings, simulate_archive as _simulate
    from .targets import read_targets

    index, truth = _simulate(read_targets(targets), archive_dir, SimulationSettings(**settings))
    log.info("simulated %d Level-2 files and %d sources in %s", len(index), len(truth), archive_dir)


def search_images(target, ra, dec, radius_arcsec, archive, output):
    """Search for every image overlapping a circle around the target; freeze the result as an ECSV."""
    backend = open_archive(archive)
    started = _now()
    table = backend.search_images(ra, dec, radius_arcsec / 3600.0)
    table.meta.update({
        "target": target, "ra_deg": ra, "dec_deg": dec, "radius_arcsec": radius_arcsec, "backend": backend.name,
        "collection": archive["collection"], "query_time_utc": started, "software": f"spherex-sdt {__version__}",
        "status": STATUS_OK if len(table) else STATUS_NO_COVERAGE,
        "reason": "" if len(table) else f"no image within {radius_arcsec:g} arcsec of ({ra:.6f}, {dec:.6f})",
    })
    write_table(table, output)
    log.info("%s: %d images within %.1f arcsec", target, len(table), radius_arcsec)


def fetch_pair_images(images, pair, ra, dec, edge_margin_px, max_dt_days, archive, cache_dir, output):
    """Choose the two images of a pair for the target, download them to the cache, record the choice."""
    det_a, det_b = parse_pair(pair)
    table = Table.read(images, format="ascii.ecsv")
    try:
        row_a, row_b, rule = choose_pair(table, det_a, det_b, ra, dec,
                                         margin_deg=edge_margin_px * PIXEL_SCALE_ARCSEC / 3600, max_dt_days=max_dt_days)
    except NoCoverageError as exc:
        _write_no_pair(table, pair, ra, dec, str(exc), output)
        return
    backend = open_archive(archive)
    rows = []
    for role, row in (("A", row_a), ("B", row_b)):
        name = safe_file_name(row["file_name"])
        dest = Path(cache_dir) / "level2" / name
        cached_fetch(dest, lambda tmp, row=row: backend.fetch_image(row, tmp), require=LEVEL2_HDUS,
                     source=row["access_url"])
        rows.append({"role": role, **{k: row[k] for k in row.colnames}, "path": str(dest)})
    manifest = Table(rows=rows)
    manifest.meta.update({"pair": pair, "rule": rule, "ra_deg": ra, "dec_deg": dec, "status": STATUS_OK, "reason": ""})
    write_table(manifest, output)
    log.info("%s: A = %s, B = %s (%s)", pair, rows[0]["file_name"], rows[1]["file_name"], rule)


def _write_no_pair(images, pair, ra, dec, reason, output):
    """The pair manifest of a target no image pair covers: no rows, ``status = no_coverage`` and the reason."""
    manifest = Table(names=("role", *images.colnames, "path"),
                     dtype=("U1", *(images[c].dtype for c in images.colnames), "U1"))
    manifest.meta.update({"pair": pair, "rule": "", "ra_deg": ra, "dec_deg": dec, "status": STATUS_NO_COVERAGE,
                          "reason": reason})
    write_table(manifest, output)
    log.warning("%s: no coverage: %s", pair, reason)


def fetch_calibration(key, archive, output, *, require=("IMAGE",)):
    """Download one calibration file (a solid-angle pixel map, a spectral_wcs file) into place.

    ``require`` names the HDUs the download must hold (``IMAGE`` for a solid-angle map, ``CWAVE`` and ``CBAND`` for
    a spectral_wcs file); a download without them is refused.

    The download lands in ``.downloads/`` next to ``output``, and ``output`` is a relative symbolic link to it:
    Snakemake deletes (and touches) the outputs of jobs, and a killed job's output is deleted before its re-run;
    the link keeps that from throwing the verified download away. The re-run job only links it again.
    """
    output = Path(output)
    store = output.parent / ".downloads" / output.name
    backend = open_archive(archive)
    cached_fetch(store, lambda tmp: backend.fetch_calibration(key, tmp), require=tuple(require), source=key)
    _link(store, output)


def _link(target, link):
    """Make ``link`` a relative symbolic link to ``target``, atomically."""
    import os

    with atomic_path(link) as tmp:
        tmp.unlink()
        os.symlink(os.path.relpath(target, link.parent), tmp)


# -- discovery ----------------------------------------------------------------------------------------------------
def make_difference(pair_images, solid_angle_a, solid_angle_b, ra, dec, params, output):
    """Difference image of a pair around the target, written as one FITS file (µJy per pixel).

    HDUs: DIFFERENCE, VARIANCE, SNR, MASK, IMAGE_A (A reprojected onto B), VARIANCE_A, IMAGE_B, VARIANCE_B.
    """
    manifest = Table.read(pair_images, format="ascii.ecsv")
    status, reason = _status(manifest.meta)
    if status != STATUS_OK or len(manifest) == 0:
        _write_empty_difference(manifest.meta.get("pair", ""), status, reason or "no image pair", ra, dec, output)
        return
    paths = {r["role"]: r["path"] for r in manifest}
    a = read_spectral_image(paths["A"], require=LEVEL2_HDUS)
    b = read_spectral_image(paths["B"], require=LEVEL2_HDUS)
    result = difference_image(
        a, b, read_solid_angle_map(solid_angle_a), read_solid_angle_map(solid_angle_b), ra, dec,
        size=params["size_px"], background_margin=params["background_margin_px"],
        bad_flags=params["bad_flags"], background_flags=params["background_flags"],
        bkg_box=params["background_box_px"], bkg_filter=params["background_filter"],
        bad_fraction_limit=params["bad_fraction_limit"],
    )
    header = result.wcs.to_header(relax=True)
    header["BUNIT"] = "uJy"
    header["PAIR"] = (manifest.meta["pair"], "difference = A - B on B's grid")
    header["PAIRRULE"] = (manifest.meta["rule"], "how the two images were chosen")
    for tag, info in result.info.items():
        header[f"DET_{tag}"] = (info["detector"], f"detector of image {tag}")
        header[f"OBSID_{tag}"] = (info["obs_id"], f"OBSID of image {tag}")
        header[f"EXPID_{tag}"] = (info["expid"], f"EXPIDN of image {tag}")
        header[f"MJD_{tag}"] = (info["mjd"], f"mid-exposure MJD of image {tag}")
        header[f"LAM_{tag}"] = (round(info["wavelength_um"], 6), f"[um] wavelength of {tag} at target, WCS-WAVE")
        header[f"BW_{tag}"] = (round(info["bandwidth_um"], 6), f"[um] bandwidth of {tag} at target, WCS-WAVE")
        header[f"FILE_{tag}"] = Path(info["path"]).name
    header["TARG_RA"], header["TARG_DEC"] = ra, dec
    header["SOFTWARE"] = f"spherex-sdt {__version__}"
    header["STATUS"] = (STATUS_OK, "ok, or why the planes are empty")
    hdus = [fits.PrimaryHDU(header=header)]
    for name, data, unit in (("DIFFERENCE", result.difference, "uJy"), ("VARIANCE", result.variance, "uJy2"),
                             ("SNR", result.snr.astype(np.float32), ""), ("MASK", result.mask, ""),
                             ("IMAGE_A", result.image_a, "uJy"), ("VARIANCE_A", result.variance_a, "uJy2"),
                             ("IMAGE_B", result.image_b, "uJy"), ("VARIANCE_B", result.variance_b, "uJy2")):
        hdu = fits.ImageHDU(data=data, header=result.wcs.to_header(relax=True), name=name)
        hdu.header["BUNIT"] = unit
        hdus.append(hdu)
    hdus[4].header["MASKBITS"] = "1 bad in A, 2 bad in B, 4 A does not cover"
    write_fits(fits.HDUList(hdus), output)


def _write_empty_difference(pair, status, reason, ra, dec, output):
    """A valid difference file without data: PRIMARY with STATUS and REASON, every plane present but empty."""
    header = fits.Header()
    header["PAIR"] = (pair, "difference = A - B on B's grid")
    header["TARG_RA"], header["TARG_DEC"] = ra, dec
    header["SOFTWARE"] = f"spherex-sdt {__version__}"
    header["STATUS"] = (status, "ok, or why the planes are empty")
    header["REASON"] = reason[:2000]  # long strings become CONTINUE cards
    hdus = [fits.PrimaryHDU(header=header)] + [fits.ImageHDU(name=name) for name in DIFFERENCE_PLANES]
    write_fits(fits.HDUList(hdus), output)
    log.warning("no difference image (%s): %s", status, reason)


def _open_difference(path):
    """Open a difference file written by `make_difference`; `DataFormatError` naming it if unreadable or incomplete."""
    try:
        hdul = fits.open(path, memmap=False)
        names = [h.name for h in hdul]
    except (OSError, ValueError, TypeError) as exc:
        raise DataFormatError(f"{path}: not a readable difference file ({exc})") from exc
    missing = [n for n in DIFFERENCE_PLANES if n not in names]
    if missing:
        hdul.close()
        raise DataFormatError(f"{path}: missing HDU(s) {', '.join(missing)}; found {', '.join(names)}")
    return hdul


def _write_catalogs(outputs, tables):
    """Write each ``(name, table)`` to its ECSV and VOTable outputs."""
    for tag, table in tables:
        write_table(table, outputs[f"ecsv{tag}"])
        write_table(table, outputs[f"votable{tag}"])


def extract_sources(difference, config, parameters, filter_kernel, outputs):
    """Detect sources on the difference (both signs) and on each image; cross-match; write ECSV and VOTable.

    ``outputs`` maps ``ecsv``/``votable`` (difference catalogue) and ``ecsv_a``/``votable_a``/``ecsv_b``/
    ``votable_b`` (single-image catalogues) to paths. Each difference detection carries the matched single-image
    detections, forced aperture fluxes on both images and the AB colour m_A - m_B.
    """
    from astropy.wcs import WCS

    from .extraction.catalogs import add_pair_photometry, add_positions, cross_match, extract_image

    with _open_difference(difference) as hdul:
        status, reason = _status(hdul[0].header)
        if status != STATUS_OK:
            empty = _empty_catalog(status, reason, pair=hdul[0].header.get("PAIR", ""))
            _write_catalogs(outputs, [("", empty), ("_a", empty), ("_b", empty)])
            log.warning("no catalogue (%s): %s", status, reason)
            return
        planes = {name: hdul[name].data.astype(float) for name in
                  ("DIFFERENCE", "VARIANCE", "IMAGE_A", "VARIANCE_A", "IMAGE_B", "VARIANCE_B")}
        mask = hdul["MASK"].data.astype(np.int32)
        header = hdul["DIFFERENCE"].header.copy()
        primary = hdul[0].header.copy()
    wcs = WCS(header)
    sextractor = {"config": config, "parameters": parameters, "filter_kernel": filter_kernel}
    catalog = extract_both_signs(np.nan_to_num(planes["DIFFERENCE"]), np.nan_to_num(planes["VARIANCE"], nan=np.inf),
                                 mask, header, **sextractor)
    add_positions(catalog, wcs, planes["IMAGE_B"], planes["VARIANCE_B"])  # B's own pixels: no resampling
    meta = {"pair": primary.get("PAIR", ""), "sextractor": sextractor_version(),
            "software": f"spherex-sdt {__version__}", "status": STATUS_OK, "reason": ""}
    for tag in ("A", "B"):
        single = add_positions(extract_image(planes[f"IMAGE_{tag}"], planes[f"VARIANCE_{tag}"], header,
                                             **sextractor), wcs)
        for col in ("FLUX_AUTO", "FLUXERR_AUTO", "FLUX_APER", "FLUXERR_APER", "FLUX_MAX"):
            single[col].unit = "uJy"
        single.meta.update(meta, image=f"{tag}: detector D{primary[f'DET_{tag}']}, OBSID {primary[f'OBSID_{tag}']}, "
                                       f"{primary[f'LAM_{tag}']:.4f} um at the target")
        describe_columns(single)
        _write_catalogs(outputs, [(f"_{tag.lower()}", single)])
        cross_match(catalog, single, tag)
    add_pair_photometry(catalog, planes["IMAGE_A"], planes["VARIANCE_A"], planes["IMAGE_B"], planes["VARIANCE_B"])
    for col in ("FLUX_AUTO", "FLUXERR_AUTO", "FLUX_APER", "FLUXERR_APER", "FLUX_MAX", "FLUX_AUTO_A",
                "FLUXERR_AUTO_A", "FLUX_AUTO_B", "FLUXERR_AUTO_B"):
        catalog[col].unit = "uJy"
    catalog.meta.update(meta, sign_convention="sign=+1 brighter in A, -1 brighter in B (difference A - B)")
    describe_columns(catalog)
    _write_catalogs(outputs, [("", catalog)])
    log.info("%d detections (%d negative)", len(catalog), int(np.sum(catalog["sign"] < 0)) if len(catalog) else 0)


def select_sources(catalog, params, output):
    """Apply the selection strategy; the output table lists one row per source to measure."""
    table = Table.read(catalog, format="ascii.ecsv")
    selected = _select(table, strategy=params["strategy"], n=params.get("n", 5), min_snr=params.get("min_snr", 10.0),
                       sign=params.get("sign", "both"), ids=params.get("ids", ()),
                       positions=[tuple(p) for p in params.get("positions", ())])
    status, reason = _status(table.meta)
    selected.meta.update({"selection": params, "catalog": str(catalog), "status": status, "reason": reason,
                          "n_detections": len(table)})
    write_table(selected, output)
    log.info("selected %d of %d sources", len(selected), len(table))


# -- spectra ------------------------------------------------------------------------------------------------------
def fetch_source_cutouts(selected, detectors, size_deg, threads, archive, cache_dir, output):
    """For every selected source, find each exposure containing it and fetch a cutout (in parallel, cached).

    One job per target and pair, never per cutout. The manifest lists every (source, exposure) with its cutout
    path and status; failures are recorded, not dropped.
    """
    sources = Table.read(selected, format="ascii.ecsv")
    backend = open_archive(archive)
    started = _now()
    tables = []
    for row in sources:
        ra, dec = float(row["ra"]), float(row["dec"])
        found = backend.search_exposures(ra, dec, detectors)
        found.add_column([str(row["source"])] * len(found), name="source", index=0)
        found["ra"], found["dec"] = np.full(len(found), ra), np.full(len(found), dec)
        tables.append(found)
    exposures = vstack(tables, metadata_conflicts="silent") if tables else None
    if exposures is None or len(exposures) == 0:
        exposures = Table(names=("source", "obs_id", "detector", "mjd", "file_name", "ra", "dec", "path", "status",
                                 "error"), dtype=(str, str, int, float, str, float, float, str, str, str))
    else:

        def fetch(item):
            name = cutout_cache_name(item["file_name"], item["ra"], item["dec"], size_deg)
            dest = Path(cache_dir) / "cutouts" / name
            try:
                cached_fetch(dest, lambda tmp: backend.fetch_cutout(item, item["ra"], item["dec"], size_deg, tmp),
                             require=LEVEL2_HDUS, source=item["access_url"])
                return str(dest), "ok", ""
            except (SpherexSdtError, OSError) as exc:
                log.warning("cutout of %s for source %s failed: %s", item["file_name"], item["source"], exc)
                return "", "failed", str(exc)

        with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
            results = list(pool.map(fetch, exposures))
        exposures["path"] = [r[0] for r in results]
        exposures["status"] = [r[1] for r in results]
        exposures["error"] = [r[2] for r in results]
    status, reason = _status(sources.meta)
    exposures.meta.update({"size_deg": size_deg, "query_time_utc": started, "backend": backend.name,
                           "n_sources": len(sources), "status": status, "reason": reason,
                           "n_detections": sources.meta.get("n_detections", 0)})
    write_table(exposures, output)
    n_ok = int(np.sum(exposures["status"] == "ok")) if len(exposures) else 0
    log.info("%d sources: %d exposures, %d cutouts fetched", len(sources), len(exposures), n_ok)


def _usable_cutout(path):
    """Read a cutout for photometry; `DataFormatError` (naming the file) if it is unreadable or has no finite pixel."""
    image = read_spectral_image(path, require=LEVEL2_HDUS)
    if not np.isfinite(image.image).any():
        raise DataFormatError(f"{path}: IMAGE has no finite pixel (all NaN)")
    return image


def source_spectrum(exposures, ra, dec, source, omegas, params, *, query_time="", wavelength_maps=None):
    """The spectrum table of one source from its rows of an exposure manifest (see `fetch_source_cutouts`).

    ``wavelength_maps`` maps detector to its ``spectral_wcs`` (CWAVE, CBAND) images: wavelengths and bandwidths then
    come from that calibration, else from each cutout's WCS-WAVE table; ``meta['wavelength_source']`` says which.
    """
    mode = "table" if wavelength_maps is None else "calibration"
    measurements = []
    skipped = []
    for item in exposures:
        if item["status"] != "ok":
            skipped.append((item["file_name"], item["error"]))
            continue
        try:
            image = _usable_cutout(item["path"])
        except DataFormatError as exc:
            log.warning("source %s: skipping %s: %s", source, item["file_name"], exc)
            skipped.append((item["file_name"], str(exc)))
            continue
        m = measure_cutout(image, omegas[image.detector], ra, dec, radii=params["radii_px"],
                           annulus=params["annulus_px"], bad_flags=params["bad_flags"],
                           background_flags=params["background_flags"],
                           wavelength_maps=None if wavelength_maps is None else wavelength_maps[image.detector])
        if m is None:
            skipped.append((item["file_name"], "position outside the cutout"))
            continue
        m.update(obs_id=image.obs_id, expid=image.expid, detector=image.detector, mjd=image.mjd)
        measurements.append(m)
    meta = {
        "source": source, "ra_deg": ra, "dec_deg": dec,
        "software": f"spherex-sdt {__version__}", "photometry_algorithm": ALGORITHM_VERSION,
        # the calibration mode enters the hash; table (the default) keeps the hash it always had
        "settings_hash": settings_hash(params) if mode == "table" else settings_hash(params, mode),
        "settings": params, "archive_query_time_utc": query_time,
        "n_exposures_found": len(exposures), "n_measured": len(measurements),
        "skipped": [f"{name}: {why}" for name, why in skipped],
        "flux_unit": "uJy", "wavelengths": mode, "wavelength_source": WAVELENGTH_SOURCES[mode],
    }
    return spectrum_table(measurements, list(SPHEREX_FLAGS), meta)


def _write_spectrum_files(table, folder, binning, channels, truth):
    folder.mkdir(parents=True, exist_ok=True)
    meta = table.meta
    write_table(table, folder / "spectrum.ecsv")
    fits_table = table.copy()
    fits_table.meta = {  # FITS headers hold scalars with short keys; the ECSV keeps the full provenance
        "SOURCE": meta["source"], "RA": meta["ra_deg"], "DEC": meta["dec_deg"], "SOFTWARE": meta["software"],
        "PHOTALG": ALGORITHM_VERSION, "SETHASH": meta["settings_hash"], "QUERYUTC": meta["archive_query_time_utc"],
        "NEXPFND": meta["n_exposures_found"], "NMEAS": meta["n_measured"],
        "WAVESRC": meta.get("wavelengths", "table"),
    }
    write_table(fits_table, folder / "spectrum.fits")
    binned = binned_spectrum(table, binning["radius_px"], channels, clip_sigma=binning["clip_sigma"])
    write_table(binned, folder / "spectrum_binned.ecsv")
    plot_spectrum_table(table, binning["radius_px"], folder / "spectrum.png", truth=truth, binned=binned)


def measure_spectra(exposures, solid_angle_maps, params, binning, sources_dir, summary, *, channels=None,
                    truth=None, spectral_wcs=None):
    """Photometry of every selected source of a target and pair, one spectrum folder per source.

    Writes ``sources_dir/{source}/spectrum.ecsv`` (one row per exposure and radius), ``spectrum.fits``,
    ``spectrum_binned.ecsv`` (the ``binning['radius_px']`` spectrum on the standard channels; ``channels`` is a
    spectral_channels file or None for the equal-R fallback) and ``spectrum.png``; then the ``summary`` table.
    ``spectral_wcs`` maps detector to its spectral_wcs calibration file: wavelengths then come from it
    (``spectra.wavelengths: calibration``); None keeps each cutout's WCS-WAVE table.
    """
    manifest = Table.read(exposures, format="ascii.ecsv")
    omegas = {int(d): read_solid_angle_map(path) for d, path in solid_angle_maps.items()}
    wavelength_maps = ({int(d): read_spectral_wcs(path) for d, path in spectral_wcs.items()}
                       if spectral_wcs else None)
    truth_table = Table.read(truth, format="ascii.ecsv") if truth else None
    channel_rows = channel_table(channels)  # the same for every source
    sources_dir = Path(sources_dir)
    sources_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    source_of_row = np.asarray(manifest["source"]).astype(str)
    for source in dict.fromkeys(source_of_row):
        part = manifest[source_of_row == source]
        ra, dec = float(part["ra"][0]), float(part["dec"][0])
        table = source_spectrum(part, ra, dec, source, omegas, params,
                                query_time=manifest.meta.get("query_time_utc", ""), wavelength_maps=wavelength_maps)
        _write_spectrum_files(table, sources_dir / source, binning, channel_rows, _truth_curve(truth_table, ra, dec))
        radius = binning["radius_px"]
        sel = np.isclose(np.asarray(table["radius"], float), radius) if len(table) else np.zeros(0, bool)
        snr = np.asarray(table["flux"], float)[sel] / np.asarray(table["flux_err"], float)[sel]
        rows.append({"source": source, "ra": ra, "dec": dec, "n_exposures": len(part),
                     "n_measured": int(table.meta["n_measured"]), "radius": radius,
                     "median_snr": float(np.median(snr)) if snr.size else np.nan,
                     "spectrum": str(sources_dir / source / "spectrum.ecsv")})
        log.info("source %s: %d measurements from %d exposures", source, len(table), len(part))
    out = Table(rows=rows) if rows else Table(
        names=("source", "ra", "dec", "n_exposures", "n_measured", "radius", "median_snr", "spectrum"),
        dtype=(str, float, float, int, int, float, float, str))
    status, reason = _status(manifest.meta)
    out.meta.update({"software": f"spherex-sdt {__version__}", "manifest": str(exposures), "status": status,
                     "reason": reason, "n_detections": manifest.meta.get("n_detections", 0)})
    write_table(out, summary)


# quality bits that keep a measurement out of the binned spectrum (masked pixels are corrected, so they stay)
_BINNING_EXCLUDES = ("FEW_ANNULUS_PIXELS", "APERTURE_OFF_IMAGE", "LOW_PSF_COVERAGE", "NO_PSF")


def binned_spectrum(spectrum, radius, channels, *, clip_sigma=4.0):
    """The spectrum at one aperture radius on the standard channels (see `spherex_sdt.spectra.bin_spectrum`).

    ``channels`` is the channel table (`spherex_sdt.spectra.channel_table`), read once per job by the caller.
    """
    from .photometry import QUALITY_BITS
    from .spectra import bin_spectrum

    radii = np.asarray(spectrum["radius"].value if hasattr(spectrum["radius"], "value") else spectrum["radius"])
    bad = sum(QUALITY_BITS[name] for name in _BINNING_EXCLUDES)
    use = np.isclose(radii, radius) & ((np.asarray(spectrum["quality"]) & bad) == 0)
    rows = spectrum[use]
    binned = bin_spectrum(rows["detector"], np.asarray(rows["wavelength"]), np.asarray(rows["flux"]),
                          np.asarray(rows["flux_err"]), channels, clip_sigma=clip_sigma)
    binned.meta.update({"source": spectrum.meta.get("source", ""), "radius_px": float(radius),
                        "excluded_quality": list(_BINNING_EXCLUDES), "software": f"spherex-sdt {__version__}"})
    return binned


# -- figures ------------------------------------------------------------------------------------------------------
def _read_difference(difference):
    """Planes, WCS and the primary header of a difference file (see `make_difference`)."""
    from astropy.wcs import WCS

    with _open_difference(difference) as hdul:
        status, reason = _status(hdul[0].header)
        if status != STATUS_OK:
            return None, None, hdul[0].header.copy(), (status, reason)
        planes = {name: hdul[name].data for name in ("DIFFERENCE", "SNR", "MASK", "IMAGE_A", "IMAGE_B")}
        wcs = WCS(hdul["DIFFERENCE"].header)
        primary = hdul[0].header.copy()
    return planes, wcs, primary, (status, reason)


def _pair_labels(h):
    labels = (f"D{h['DET_A']} {h['LAM_A']:.3f} µm", f"D{h['DET_B']} {h['LAM_B']:.3f} µm")
    title = f"{h['PAIR']}: A = {h['OBSID_A']}, B = {h['OBSID_B']} ({h['PAIRRULE']})"
    return labels, title


def plot_difference(difference, catalog, selected, outputs, *, target=""):
    """PNGs of a pair: the images and the difference with every detection, their overlap, the difference and S/N.

    ``outputs`` maps ``difference``, ``overlap`` and ``significance`` to paths (any may be absent). Returns a dict
    of what each figure drew (ellipse counts, overlap fractions), which is also logged.
    """
    from .plotting import plot_difference as _difference, plot_message, plot_overlap, plot_significance

    planes, wcs, h, (status, reason) = _read_difference(difference)
    if status != STATUS_OK:  # no coverage or no usable pair: say so in every figure
        for path in outputs.values():
            if path:
                plot_message(f"{target} {h.get('PAIR', '')}: {status}\n{reason}".strip(), path)
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
    from .plotting import DETECTOR_COLOURS, explore_page

    planes, wcs, h, (status, reason) = _read_difference(difference)
    if status != STATUS_OK:  # a page that says why there is nothing to explore
        text = html.escape(f"{target} {h.get('PAIR', '')}: {status}. {reason}".strip())
        with atomic_path(output) as tmp:
            tmp.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{text}</title></head>"
                           f"<body><p>{text}</p></body></html>\n")
        return {}
    cat = Table.read(catalog, format="ascii.ecsv")
    sel = Table.read(selected, format="ascii.ecsv")
    chosen, spectra, binned, undetected = {}, {}, {}, []
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
    if undetected:
        cat = _with_position_rows(cat, undetected, wcs)
    _, title = _pair_labels(h)
    with atomic_path(output) as tmp:
        counts = explore_page(planes["DIFFERENCE"], cat, chosen, spectra, binned, float(radius), tmp,
                              title=f"{target} {title}".strip(), detector_colours=DETECTOR_COLOURS, wcs=wcs)
    log.info("interactive page %s: %s", output, counts)
    return counts


def _with_position_rows(catalog, positions, wcs):
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
    from .io.firefly import make_client, push_pair

    client = client if client is not None else make_client(url, channel)
    shown = push_pair(client, difference, catalog, key=f"{target}-{pair}".strip("-") or "pair",
                      title=f"{target} {pair}".strip())
    record = {"url": url, "channel": channel, "target": target, "pair": pair, "time_utc": _now(), **shown}
    with atomic_path(output) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, default=str) + "\n")
    log.info("shown in Firefly at %s (channel %s): %s", url, channel, shown)
    return record


def _truth_curve(truth, ra, dec):
    """The injected SED of the simulated source at (ra, dec), as (wavelength, flux), or None."""
    if truth is None or len(truth) == 0:
        return None
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    from .simulate import true_flux

    sep = SkyCoord(ra * u.deg, dec * u.deg).separation(
        SkyCoord(np.asarray(truth["ra"]) * u.deg, np.asarray(truth["dec"]) * u.deg)).arcsec
    best = int(np.argmin(sep))
    if sep[best] >= PIXEL_SCALE_ARCSEC:
        return None
    lam = np.linspace(0.72, 5.05, 300)
    return lam, true_flux(truth[best], lam)


def plot_spectrum_table(table, radius, output, *, truth=None, binned=None):
    """PNG of a spectrum table at one aperture radius, with its binned spectrum and an optional truth curve."""
    from .plotting import plot_spectrum as _plot

    _plot(table, radius, f"source {table.meta['source']} ({table.meta['ra_deg']:.5f}, {table.meta['dec_deg']:.5f})",
          output, truth=truth, binned=binned)
