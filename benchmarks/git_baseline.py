"""The package as it was at a commit of this repository, importable beside this one (for the benchmarks' baselines).

    from git_baseline import baseline_package
    old = baseline_package("68e16e0", workdir)  # the package ``spherex_sdt_baseline``
    old_tasks = importlib.import_module("spherex_sdt_baseline.tasks.spectra")

Every import of the package by itself is relative, so the copy (``src/spherex_sdt`` of the commit, extracted with
``git archive`` under the name ``spherex_sdt_baseline``) runs in the same process as this one, on the same
dependencies.
"""

import importlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "spherex_sdt_baseline"


def baseline_path(commit, workdir):
    """The directory holding ``spherex_sdt_baseline`` as it was at ``commit`` (extracted on first use)."""
    dest = Path(workdir) / f"baseline-{commit}"
    if not (dest / NAME).exists():
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src/spherex_sdt"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest / "extract", filter="data")
        (dest / "extract" / "src" / "spherex_sdt").rename(dest / NAME)
    return dest


def baseline_package(commit, workdir):
    """Import ``spherex_sdt_baseline`` (the package at ``commit``) and return it."""
    path = str(baseline_path(commit, workdir))
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(NAME)
