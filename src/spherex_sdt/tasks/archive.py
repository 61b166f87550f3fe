"""Tasks of the archive stage: simulate an archive, search it, fetch pair images, calibration files and cutouts."""

import json
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
from ..errors import ArchiveError, NoCoverageError, SpherexSdtError
from ..imaging.pairs import choose_pair, choose_visits
from ..io import write_table
from ..io.atomic import atomic_path
from ..io.vo import ARCHIVE_COLUMNS, describe_columns
from .common import LEVEL2_HDUS, SOFTWARE, Progress, now_utc

__all__ = ["simulate_archive", "search_images", "fetch_pair_images", "fetch_calibration", "fetch_source_cutouts",
           "source_notes"]

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
        "archive_requests": backend.request_counts(),
    })
    write_table(describe_columns(table, ARCHIVE_COLUMNS), output)
    log.info("%s: %d images within %.1f arcsec", target, len(table), radius_arcsec)


def fetch_pair_images(images, pair, ra, dec, edge_margin_px, max_dt_days, archive, cache_dir, output, *, visits,
                      max_visits, box_px, threads):
    """Choose the images of a pair for the target, fetch them into the cache, record the choice.

    ``visits`` 1 (the notebook's single pair): the two whole Level-2 frames `choose_pair` picks. Otherwise (an
    integer, or ``"all"`` up to ``max_visits``) every visit of each detector containing the target with the margin
    is fetched as a section cutout covering the ``box_px`` box at any roll plus the margin (the byte-range
    machinery of the source cutouts; no whole frames), the pair's two images first. The manifest lists every
    image of both detectors: ``role``, ``reference`` (the pair, whose B image is the grid), ``used`` and ``why``
    for the others; a target with fewer visits than asked runs with what there is and says so (``visits_note``).
    """
    det_a, det_b = parse_pair(pair)
    table = Table.read(images, format="ascii.ecsv")
    margin_deg = edge_margin_px * PIXEL_SCALE_ARCSEC / 3600
    try:
        row_a, row_b, rule = choose_pair(table, det_a, det_b, ra, dec, margin_deg=margin_deg,
                                         max_dt_days=max_dt_days)
    except NoCoverageError as exc:
        _write_no_pair(table, pair, ra, dec, str(exc), output)
        return
    backend = open_archive(archive)
    meta = {"pair": pair, "rule": rule, "ra_deg": ra, "dec_deg": dec, "status": status.OK, "reason": "",
            "visits": visits}
    if visits == 1:
        rows = []
        for role, row in (("A", row_a), ("B", row_b)):
            name = safe_file_name(row["file_name"])
            dest = Path(cache_dir) / "level2" / name
            cached_fetch(dest, lambda tmp, row=row: backend.fetch_image(row, tmp), require=LEVEL2_HDUS,
                         source=row["access_url"])
            rows.append({"role": role, **{k: row[k] for k in row.colnames}, "path": str(dest), "reference": True,
                         "used": True, "why": ""})
        meta["archive_requests"] = backend.request_counts()
        write_table(describe_columns(Table(rows=rows, meta=meta), ARCHIVE_COLUMNS), output)
        log.info("%s: A = %s, B = %s (%s)", pair, rows[0]["file_name"], rows[1]["file_name"], rule)
        return
    limit = int(max_visits) if visits == "all" else int(visits)
    # a cutout holding the box at any roll, with the background margin around it
    size_deg = (int(np.ceil(box_px * np.sqrt(2))) + 2 * (edge_margin_px - box_px // 2) + 4) * PIXEL_SCALE_ARCSEC / 3600
    choice = []
    for role, det, ref in (("A", det_a, row_a), ("B", det_b, row_b)):
        choice += [(role, row, used, why, str(row["key"]) == str(ref["key"]))
                   for row, used, why in choose_visits(table, det, ra, dec, margin_deg=margin_deg, reference=ref,
                                                       limit=limit)]
    used_rows = [row for _, row, used, _, _ in choice if used]
    wanted = Table(rows=[{**{k: row[k] for k in row.colnames}, "source": "box", "ra": ra, "dec": dec}
                         for row in used_rows])
    transfer = _fetch_cutouts(wanted, backend, size_deg, threads, Path(cache_dir) / "cutouts")
    fetched = {str(key): (str(path), str(state), str(error))
               for key, path, state, error in zip(wanted["key"], wanted["path"], wanted["status"], wanted["error"])}
    records = []
    for role, row, used, why, ref in choice:
        path, state, error = fetched.get(str(row["key"]), ("", "", ""))
        if used and state != status.OK:
            used, why = False, f"cutout failed: {error}"
        records.append({"role": role, **{k: row[k] for k in row.colnames}, "path": path, "reference": ref,
                        "used": used, "why": why})
    manifest = Table(rows=records)
    manifest.meta.update(meta)
    notes = []
    for role in ("A", "B"):
        n = int(np.sum(manifest["used"] & (manifest["role"] == role)))
        if n < limit:
            notes.append(f"{role}: {n} visit(s) of the {limit} asked")
    manifest.meta.update(size_deg=size_deg, max_visits=limit, visits_note="; ".join(notes),
                         requests=transfer.requests, bytes_fetched=transfer.bytes,
                         archive_requests=backend.request_counts())
    for role, row, _, _, ref in choice:
        # the pair's own images are the grid: a bad one fails the job, with its own error (tried once more, alone)
        if ref and not manifest["used"][manifest["key"] == row["key"]][0]:
            cutouts, _ = backend.fetch_cutouts(row, [(ra, dec)], size_deg)
            if isinstance(cutouts[0], Exception):
                raise cutouts[0]
            raise ArchiveError(f"{row['file_name']} ({role}): "
                               f"{manifest['why'][manifest['key'] == row['key']][0]}")
    write_table(describe_columns(manifest, ARCHIVE_COLUMNS), output)
    log.info("%s: %d A and %d B visits (%s); %s", pair, int(np.sum(manifest["used"] & (manifest["role"] == "A"))),
             int(np.sum(manifest["used"] & (manifest["role"] == "B"))), rule,
             manifest.meta["visits_note"] or "as asked")


def _write_no_pair(images, pair, ra, dec, reason, output):
    """The pair manifest of a target no image pair covers: no rows, ``status = no_coverage`` and the reason."""
    manifest = Table(names=("role", *images.colnames, "path", "reference", "used", "why"),
                     dtype=("U1", *(images[c].dtype for c in images.colnames), "U1", bool, bool, "U1"))
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
    log.info("archive requests: %s", json.dumps(backend.request_counts()))


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
    cutouts are marked failed. The manifest lists every (source, exposure) with its cutout path and status
    (``ok``, ``failed`` with the error, or ``no_coverage``); its metadata lists every selected source (``sources``,
    also those without any exposure) and the requests made per endpoint. Cutouts that failed make the job fail
    (``archive.failed_cutouts: fail``; the cutouts fetched stay in the cache, so a re-run fetches only the missing
    ones), or are recorded and the manifest marked ``partial`` (``failed_cutouts: keep``).
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
    counts = backend.request_counts()
    log.info("archive requests: %s", json.dumps(counts))
    notes = source_notes(sources, exposures, detectors)
    missing = sum(note["n_failed"] for note in notes)
    product_status, reason = status.status_of(sources.meta)
    if product_status == status.OK and missing:
        product_status = status.PARTIAL
        reason = f"{missing} exposure(s) of {sum(n['n_failed'] > 0 for n in notes)} source(s) not fetched: " + \
            "; ".join(f"{n['source']}: {n['reason']}" for n in notes if n["n_failed"])[:2000]
        if archive["failed_cutouts"] == "fail":
            raise ArchiveError(f"{reason} -- the cutouts fetched are cached and a re-run fetches only the missing "
                               "ones (archive.failed_cutouts: keep makes partial spectra instead)")
    exposures.meta.update({"size_deg": size_deg, "query_time_utc": started, "backend": backend.name,
                           "n_sources": len(sources), "status": product_status, "reason": reason,
                           "n_detections": sources.meta.get("n_detections", 0),
                           "requests": transfer.requests, "bytes_fetched": transfer.bytes, "sources": notes,
                           "archive_requests": counts})
    write_table(describe_columns(exposures, ARCHIVE_COLUMNS), output)
    n_ok = int(np.sum(exposures["status"] == status.OK)) if len(exposures) else 0
    log.info("%d sources: %d exposures, %d cutouts (%d requests, %d bytes fetched), %d failed", len(sources),
             len(exposures), n_ok, transfer.requests, transfer.bytes, missing)


def source_notes(sources, exposures, detectors):
    """Per selected source: its position, exposures found and failed, and why any are missing.

    A source with no exposure at all is a failure of the search, not a lack of coverage, when it was detected on
    the pair's own images (its catalogue ``id`` is positive) and those detectors were searched: the archive then
    left out exposures it holds.
    """
    pair = str(sources.meta.get("pair", ""))
    pair_detectors = set(parse_pair(pair)) if pair else set()
    of_source = np.asarray(exposures["source"]).astype(str)
    notes = []
    for row in sources:
        name = str(row["source"])
        rows = exposures[of_source == name]
        found, failed = len(rows), int(np.sum(rows["status"] == status.FAILED)) if len(rows) else 0
        reason = ""
        if failed:
            first = str(rows["error"][rows["status"] == status.FAILED][0])
            reason = f"{failed} of {found} cutouts failed (first: {first[:600]})"
        elif not found:
            detected = "id" in sources.colnames and int(row["id"]) > 0
            if detected and pair_detectors & {int(d) for d in detectors}:
                failed = 1
                reason = ("the archive search found no exposure containing it, although it was detected on the "
                          f"{pair} images")
            else:
                reason = "no exposure in the archive contains it"
        notes.append({"source": name, "ra": float(row["ra"]), "dec": float(row["dec"]), "n_exposures": found,
                      "n_failed": failed, "reason": reason})
    return notes


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
                    return [(k, status.FAILED, f"{type(exc).__name__}: {exc}") for k in rows], Transfer()
                log.warning("cutouts of %s failed (%s); trying the file again", first["file_name"], exc)
        out = []
        for k, cutout in zip(rows, cutouts):
            try:
                if isinstance(cutout, Exception):
                    raise cutout
                store_cutout(paths[k], cutout, require=LEVEL2_HDUS, source=exposures["access_url"][k])
                out.append((k, status.OK, ""))
            except NoCoverageError as exc:  # the archive's footprint and the file disagree at the edge: coverage
                log.warning("cutout of %s for source %s: %s", first["file_name"], exposures["source"][k], exc)
                out.append((k, status.NO_COVERAGE, str(exc)))
            except (SpherexSdtError, OSError) as exc:
                log.warning("cutout of %s for source %s failed: %s", first["file_name"], exposures["source"][k], exc)
                out.append((k, status.FAILED, f"{type(exc).__name__}: {exc}"))
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
