"""The run summary: one row per target, pair and source with a status and a reason, read from the products and logs.

It is written at the end of every run, successful or not (the workflow's ``onsuccess``/``onerror`` handlers), so it
also names targets whose jobs failed under ``--keep-going``: for those, the first missing product tells the stage,
and that stage's log tells the reason. The workflow passes the paths; this module knows no directory layout.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from .status import FAILED, JOB_FINISHED, NO_MEASUREMENTS, NO_SOURCES, NOT_RUN, OK, PARTIAL, status_of
from .io import write_table
from .io.vo import RUN_SUMMARY_COLUMNS, describe_columns

__all__ = ["Stage", "SUMMARY_COLUMNS", "pair_summary", "run_summary", "write_summary", "log_reason",
           "read_ecsv_meta", "archive_requests"]

SUMMARY_COLUMNS = (("target", str), ("pair", str), ("source", str), ("ra", float), ("dec", float), ("status", str),
                   ("stage", str),
                   ("reason", str), ("n_exposures", int), ("n_measured", int))
"""``status`` is one of ``ok``, ``partial`` (exposures of a source lost to failures, not to coverage: the reason
counts them), ``no_measurements`` (a source without a usable cutout), ``no_sources`` (nothing selected),
``no_coverage`` (no image pair covers the target), ``failed`` (a job failed: ``stage`` names its rule) or
``not_run`` (stopped before the job ran, e.g. a shared input failed or the run was interrupted, or a product
removed after its job finished). Every status comes from what the products say about themselves."""

_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt)\w*): ?(.*)$")


@dataclass(frozen=True)
class Stage:
    """One job's product for a target and pair: the rule, the file it writes and its log."""

    rule: str
    product: str
    log: str


def log_reason(path, *, limit=500):
    """The last exception line of a job log (``ErrorType: message``, module prefix dropped), ``JOB_FINISHED`` for
    a job that ended without an exception, or None without a log."""
    path = Path(path)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if lines and lines[-1].strip() == JOB_FINISHED:
        return JOB_FINISHED
    for line in reversed(lines):
        match = _ERROR_LINE.match(line.strip())
        if match:
            return f"{match.group(1)}: {match.group(2)}"[:limit]
    return "interrupted: the log ends without an error (job killed or run stopped)"


def _row(target, pair, *, source="", status, stage="", reason="", n_exposures=0, n_measured=0, ra=np.nan,
         dec=np.nan):
    return {"target": target, "pair": pair, "source": source, "ra": float(ra), "dec": float(dec), "status": status,
            "stage": stage, "reason": reason, "n_exposures": int(n_exposures), "n_measured": int(n_measured)}


def _missing_stage_row(target, pair, stage):
    reason = log_reason(stage.log)
    if reason is None:
        return _row(target, pair, status=NOT_RUN, stage=stage.rule,
                    reason=f"{stage.rule} did not run (an earlier or shared job failed, or the run stopped)")
    if reason == JOB_FINISHED:
        return _row(target, pair, status=NOT_RUN, stage=stage.rule,
                    reason=f"{stage.product} is missing although {stage.rule} finished (removed since?); the next "
                           "run makes it again")
    return _row(target, pair, status=FAILED, stage=stage.rule, reason=reason)


def _source_rows(target, pair, spectra):
    table = Table.read(spectra, format="ascii.ecsv")
    product_status, reason = status_of(table.meta)
    if product_status not in (OK, PARTIAL):
        return [_row(target, pair, status=product_status, reason=reason)]
    if len(table) == 0:
        detections = int(table.meta.get("n_detections", 0))
        return [_row(target, pair, status=NO_SOURCES, stage="select_sources",
                     reason=f"no source selected ({detections} detections in the difference image)")]
    rows = []
    for entry in table:
        n_exp, n_meas = int(entry["n_exposures"]), int(entry["n_measured"])
        if "status" in table.colnames:  # what the spectrum says about itself
            source_status, note = str(entry["status"]), str(entry["reason"])
        else:  # written before spectra carried a status
            source_status = OK if n_meas else NO_MEASUREMENTS
            note = "" if n_meas == n_exp else f"{n_exp - n_meas} of {n_exp} exposures not measured"
        rows.append(_row(target, pair, source=str(entry["source"]), status=source_status,
                         stage="" if source_status == OK else "measure_spectra", reason=note, n_exposures=n_exp,
                         n_measured=n_meas, ra=entry["ra"], dec=entry["dec"]))
    return rows


def read_ecsv_meta(path):
    """The ``meta`` of an ECSV file from its header alone (the rows are not parsed); {} if it has none."""
    import yaml

    lines = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            lines.append(line[2:] if line.startswith("# ") else line[1:])
    header = yaml.load("".join(lines[1:]), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    meta = header.get("meta") or {}
    if isinstance(meta, dict):
        return meta
    out = {}  # an !!omap: (key, value) pairs, or one-key mappings
    for item in meta:
        out.update([item] if isinstance(item, tuple) else dict(item))
    return out


_REQUESTS_LINE = re.compile(r"archive requests: (\{.*\})\s*$")


def _requests_of(stage):
    """The archive requests a job recorded: in its ECSV product's metadata, else in its log's last such line."""
    product = Path(stage.product)
    if product.suffix == ".ecsv" and product.is_file():
        return read_ecsv_meta(product).get("archive_requests")
    log = Path(stage.log)
    if log.is_file() and product.exists():
        for line in reversed(log.read_text(encoding="utf-8", errors="replace").splitlines()):
            match = _REQUESTS_LINE.search(line)
            if match:
                return json.loads(match.group(1))
    return None


def archive_requests(stages):
    """Requests, retries and failures per archive endpoint, summed over the jobs of ``stages`` (each product once:
    shared jobs such as calibration downloads serve several targets)."""
    totals, seen = {}, set()
    for stage in stages:
        if stage.product in seen:
            continue
        seen.add(stage.product)
        for endpoint, counts in (_requests_of(stage) or {}).items():
            total = totals.setdefault(endpoint, {"requests": 0, "retries": 0, "failed": 0})
            for key in total:
                total[key] += int(counts.get(key, 0))
    return dict(sorted(totals.items()))


def pair_summary(target, pair, stages, spectra):
    """Rows for one target and pair.

    Parameters
    ----------
    target, pair : str
    stages : sequence of `Stage`
        Every job the pair's products depend on, in pipeline order (shared calibration jobs included).
    spectra : path-like
        The pair's spectrum summary table (``measure_spectra``'s output), read when every product exists.
    """
    for stage in stages:
        if not Path(stage.product).exists():
            return [_missing_stage_row(target, pair, stage)]
    return _source_rows(target, pair, spectra)


def run_summary(entries, positions=None):
    """The summary table of a run: ``entries`` holds ``(target, pair, stages, spectra)`` for every target and pair.

    ``positions`` maps target to its (ra, dec): the position of rows without a source's own. The metadata holds
    ``status_counts`` and ``archive_requests``: requests, retries and failures per archive endpoint over every job
    of the run's products.
    """
    entries = list(entries)
    rows = [row for target, pair, stages, spectra in entries for row in pair_summary(target, pair, stages, spectra)]
    for row in rows:
        if not np.isfinite(row["ra"]) and positions and row["target"] in positions:
            row["ra"], row["dec"] = (float(v) for v in positions[row["target"]])
    names = [c for c, _ in SUMMARY_COLUMNS]
    if rows:
        table = Table(rows=[[row[c] for c in names] for row in rows], names=names)
    else:
        table = Table(names=names, dtype=[d for _, d in SUMMARY_COLUMNS])
    counts = {str(s): int(np.sum(table["status"] == s)) for s in dict.fromkeys(table["status"])}
    table.meta["status_counts"] = counts
    table.meta["archive_requests"] = archive_requests([stage for _, _, stages, _ in entries for stage in stages])
    return table


def write_summary(entries, output, positions=None):
    """Write `run_summary` to ``output`` (atomically, every column described) and return it."""
    table = describe_columns(run_summary(entries, positions), RUN_SUMMARY_COLUMNS)
    write_table(table, output)
    return table
