"""Finished products a plain re-run must make again, found while the workflow is planned.

Snakemake re-runs a job when its output is missing or its inputs changed; it cannot see that an existing product is
incomplete: an exposure manifest that records failed cutouts (``archive.failed_cutouts: keep``) or lists cutouts no
longer in the cache, a spectrum summary whose per-source files (inside the ``sources`` directory output) are gone.
Nor does it make a removed intermediate product again while the products made from it are present (`after_gap`).
The workflow removes such a product before the run (it is an index of other files, or made again from the same
inputs), so that Snakemake's own rules make it again; with the download cache, only what is missing is fetched.

These checks read the files as plain text (a header line and one column), so that planning stays fast at thousands
of targets; the package's usual readers are not imported.
"""

import csv
import re
from pathlib import Path

__all__ = ["SOURCE_PRODUCTS", "manifest_needs_refetch", "spectra_need_remake", "after_gap", "runs_jobs"]

SOURCE_PRODUCTS = ("spectrum.ecsv", "spectrum.fits", "spectrum_binned.ecsv", "spectrum.png", "lightcurve.ecsv",
                   "lightcurve.png")
"""The files ``measure_spectra`` writes in each source's folder."""

_STATUS = re.compile(r"^# - \{status: (\w+)\}\s*$")


def _read(path):
    """``(meta status, rows as dicts)`` of an ECSV file written by this package."""
    status, header, body = "", None, []
    with open(path, encoding="utf-8", newline="") as handle:
        for line in handle:
            if line.startswith("#"):
                match = _STATUS.match(line)
                status = match.group(1) if match else status
            elif header is None:
                header = next(csv.reader([line], delimiter=" ", quotechar='"'))
            else:
                body.append(line)
    rows = [dict(zip(header or [], values)) for values in csv.reader(body, delimiter=" ", quotechar='"')]
    return status, rows


def manifest_needs_refetch(path):
    """Why the exposure manifest at ``path`` must be made again (a sentence), or None.

    It must when it records failed cutouts (status ``partial``) or names cutouts that are no longer in the cache.
    """
    path = Path(path)
    if not path.is_file():
        return None
    status, rows = _read(path)
    if status == "partial":
        failed = sum(row.get("status") == "failed" for row in rows)
        return f"{path} records {failed or 'some'} cutouts that failed"
    gone = [row["path"] for row in rows if row.get("status") == "ok" and not Path(row.get("path", "")).is_file()]
    if gone:
        return f"{path} lists {len(gone)} cutouts no longer in the cache (e.g. {gone[0]})"
    return None


def spectra_need_remake(path):
    """Why the spectra of the summary at ``path`` must be made again (a sentence), or None.

    They must when a file of a listed source's folder (`SOURCE_PRODUCTS`) is missing.
    """
    path = Path(path)
    if not path.is_file():
        return None
    _, rows = _read(path)
    for row in rows:
        folder = Path(row.get("spectrum", "")).parent
        missing = [name for name in SOURCE_PRODUCTS if not (folder / name).is_file()]
        if missing:
            return f"{folder}/{missing[0]} is missing"
    return None


def after_gap(chain):
    """What to remove so that a removed product is made again: when a product of ``chain`` (one target and pair's
    products in pipeline order, each made from the one before) is missing while later ones exist, those later ones
    (Snakemake then runs their jobs, which need the missing one first). Returns ``(products, missing)`` or None."""
    present = [Path(product).exists() for product in chain]
    for i, here in enumerate(present):
        if not here:
            later = [product for product, there in zip(chain[i + 1:], present[i + 1:]) if there]
            return (later, chain[i]) if later and any(present[:i]) else None
    return None


# Snakemake options that plan or inspect a run without running jobs (prefixes of the long forms): with any of them,
# incomplete products are only reported, never removed (a report of a finished run, a lint, a graph, an unlock)
INSPECTING_OPTIONS = (
    "--dry-run", "--dryrun", "--report", "--lint", "--dag", "--rulegraph", "--filegraph", "--d3dag", "--summary",
    "--detailed-summary", "--list", "--unlock", "--cleanup", "--delete", "--archive", "--print-compilation",
    "--containerize", "--export-cwl", "--generate-unit-tests", "--touch", "--conda-create-envs-only",
    "--conda-cleanup", "--version", "--help",
)
_INSPECTING_SHORT = set("nSDlth")  # -n dry run, -S/-D summaries, -l list rules, -t touch, -h help


def runs_jobs(argv):
    """True when a Snakemake command line ``argv`` (without the program name) runs jobs.

    Snakemake does not tell a Snakefile whether it runs, plans or reports, so the command line is read; anything
    that may only inspect counts as not running, so that removal of incomplete products errs on the safe side.
    """
    for arg in argv:
        if arg.startswith("--"):
            if arg.split("=", 1)[0].startswith(INSPECTING_OPTIONS):
                return False
        elif arg.startswith("-") and arg[1:].isalpha() and set(arg[1:]) & _INSPECTING_SHORT:
            return False
    return True
