"""Tasks of the archive stage: simulate an archive, search it, fetch pair images, calibration files and cutouts."""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import status
from ..archive import cached_fetch, cutout_cache_name, open_archive, safe_file_name, search_positions, store_cutout
from ..archive.cache import remove_stale_parts, usable
from ..archive.sections import Transfer
from ..detectors import PIXEL_SCALE_ARCSEC, parse_pair
from ..errors import NoCoverageError, SpherexSdtError
from ..imaging.pairs import choose_pair
from ..io import write_table
from ..io.atomic import atomic_path
from ..io.vo import ARCHIVE_COLUMNS, describe_columns
from .common import LEVEL2_HDUS, SOFTWARE, Progress, now_utc

__all__ = ["simulate_archive", "search_images", "fetch_pair_images", "fetch_calibration", "fetch_source_cutouts"]

log = logging.getLogger(__name__)


def simulate_archive(targets, archive_dir, settings, *, resolved_names=None):
    """Simulate a SPHEREx archive for a target list (see `spherex_sdt.simulate`).

    ``resolved_names`` is the frozen file of the list's names resolved to positions (`spherex_sdt.targets`).
    """
    from ..simulate import SimulationSettings, simulate_archive as _simulate
    from ..targets import read_targets

    table = read_targets(targets, frozen=resolved_names)["target", "ra_deg", "dec_deg"]
    index, truth = _simulate(table, archive_dir, SimulationSettings(**settings))
    log.info("simulated %d Level-2 files and %d sources in %s", len(index), len(truth), archive_dir)


def search_images(target, ra, dec, radius_arcsec, archive, output):
    """Search for every image overlapping a circle around the target; freeze the result as an ECSV."""
    backend = open_archive(archive)
    started = now_utc()
    table = backend.search_images(ra, dec, radius_arcsec / 3600.0)
    table.meta.update({
        "target": target, "ra_deg": ra, "dec_deg": dec, "radius_arcsec": radius_arcsec, "backend": backend.name,
        "collection": archive["collection"], "query_time_utc": started, "software": SOFTWARE,
        "status": status.OK if len(table) else status.NO_COVERAGE,
        "reason": "" if len(table) else f"no image within {radius_arcsec:g} arcsec of ({ra:.6f}, {dec:.6f})",
    })
    write_table(describe_columns(table, ARCHIVE_COLUMNS), output)
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
    manifest.meta.update({"pair": pair, "rule": rule, "ra_deg": ra, "dec_deg": dec, "status": status.OK,
                          "reason": ""})
    write_table(describe_columns(manifest, ARCHIVE_COLUMNS), output)
    log.info("%s: A = %s, B = %s (%s)", pair, rows[0]["file_name"], rows[1]["file_name"], rule)


def _write_no_pair(images, pair, ra, dec, reason, output):
    """The pair manifest of a target no image pair covers: no rows, ``status = no_coverage`` and the reason."""
    manifest = Table(names=("role", *images.colnames, "path"),
                     dtype=("U1", *(images[c].dtype for c in images.colnames), "U1"))
    manifest.meta.update({"pair": pair, "rule": "", "ra_deg": ra, "dec_deg": dec, "status": status.NO_COVERAGE,
                          "reason": reason})
    write_table(describe_columns(manifest, ARCHIVE_COLUMNS), output)
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
    with atomic_path(link) as tmp:
        tmp.unlink()
        os.symlink(os.path.relpath(target, link.parent), tmp)


_MANIFEST_COLUMNS = ("source", "obs_id", "detector", "mjd", "file_name", "ra", "dec", "path", "status", "error")


def fetch_source_cutouts(selected, detectors, size_deg, threads, archive, cache_dir, output):
    """Every exposure containing each selected source, and its cutout (cached; fetched per file, in parallel).

    One job per target and pair, never per cutout. One exposure search for all the sources
    (`spherex_sdt.archive.search_positions`); then per exposure file one batched fetch of every source's cutout
    that is not cached yet (`fetch_cutouts` of the backend: one round trip for all their pixels over section reads),
    ``threads`` files at a time. A file whose batch fails is tried once more on its own; if it fails again only its
    cutouts are marked failed. The manifest lists every (source, exposure) with its cutout path and status;
    failures are recorded, not dropped.
    """
    sources = Table.read(selected, format="ascii.ecsv")
    backend = open_archive(archive)
    started = now_utc()
    positions = [(str(row["source"]), float(row["ra"]), float(row["dec"])) for row in sources]
    exposures = search_positions(backend, positions, detectors)
    if len(exposures) == 0:
        exposures = Table(names=_MANIFEST_COLUMNS, dtype=(str, str, int, float, str, float, float, str, str, str))
        transfer = Transfer()
    else:
        transfer = _fetch_cutouts(exposures, backend, size_deg, threads, Path(cache_dir) / "cutouts")
    product_status, reason = status.status_of(sources.meta)
    exposures.meta.update({"size_deg": size_deg, "query_time_utc": started, "backend": backend.name,
                           "n_sources": len(sources), "status": product_status, "reason": reason,
                           "n_detections": sources.meta.get("n_detections", 0),
                           "requests": transfer.requests, "bytes_fetched": transfer.bytes})
    write_table(describe_columns(exposures, ARCHIVE_COLUMNS), output)
    n_ok = int(np.sum(exposures["status"] == status.OK)) if len(exposures) else 0
    log.info("%d sources: %d exposures, %d cutouts (%d requests, %d bytes fetched)", len(sources), len(exposures),
             n_ok, transfer.requests, transfer.bytes)


def _fetch_cutouts(exposures, backend, size_deg, threads, folder):
    """Fill ``path``, ``status`` and ``error`` of a manifest: cache hits first, then one batch per file."""
    remove_stale_parts(folder)
    if hasattr(backend, "keep_headers"):  # section reads: file headers kept next to the cutouts, for later jobs
        backend.keep_headers(folder.parent / "headers")
        remove_stale_parts(folder.parent / "headers")
    n = len(exposures)
    paths = [str(folder / cutout_cache_name(r["file_name"], r["ra"], r["dec"], size_deg)) for r in exposures]
    states, errors = [status.FAILED] * n, [""] * n
    pending = {}
    for k, row in enumerate(exposures):
        if usable(paths[k], LEVEL2_HDUS, source=row["access_url"]):
            states[k] = status.OK
        else:
            pending.setdefault(str(row["key"]), []).append(k)
    total = Transfer()

    def fetch_file(rows):
        first = exposures[rows[0]]
        positions = [(float(exposures["ra"][k]), float(exposures["dec"][k])) for k in rows]
        for attempt in (1, 2):  # a failed batch is tried once more, alone
            try:
                cutouts, transfer = backend.fetch_cutouts(first, positions, size_deg)
                break
            except (SpherexSdtError, OSError) as exc:
                if attempt == 2:
                    log.warning("cutouts of %s failed: %s", first["file_name"], exc)
                    return [(k, status.FAILED, str(exc)) for k in rows], Transfer()
                log.warning("cutouts of %s failed (%s); trying the file again", first["file_name"], exc)
        out = []
        for k, cutout in zip(rows, cutouts):
            try:
                if isinstance(cutout, Exception):
                    raise cutout
                store_cutout(paths[k], cutout, require=LEVEL2_HDUS, source=exposures["access_url"][k])
                out.append((k, status.OK, ""))
            except (SpherexSdtError, OSError) as exc:
                log.warning("cutout of %s for source %s failed: %s", first["file_name"], exposures["source"][k], exc)
                out.append((k, status.FAILED, str(exc)))
        return out, transfer

    progress = Progress(sum(map(len, pending.values())), "cutouts", log=log)  # rate and ETA in the job log
    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        for results, transfer in pool.map(fetch_file, pending.values()):
            progress.step(len(results))
            total += transfer
            for k, state, error in results:
                states[k], errors[k] = state, error
    exposures["path"] = [p if s == status.OK else "" for p, s in zip(paths, states)]
    exposures["status"] = states
    exposures["error"] = errors
    log.info("%d cutouts cached, %d fetched from %d files", n - sum(map(len, pending.values())),
             sum(map(len, pending.values())), len(pending))
    return total
