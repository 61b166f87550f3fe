"""Interruptions and failing targets: SIGKILL at every stage then resume; one poisoned target under --keep-going."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from astropy.table import Table

from spherex_sdt.archive import verify_fits

from ..conftest import ROOT
from .helpers import CHANNELS, CONFIG, assert_same_products, snakemake

pytestmark = pytest.mark.slow

PAIR_DIR = ("field-1", "D2-D4")
STAGE_LOGS = [  # the first file each stage's job writes: its log (opened as the job starts)
    ("search", "logs/search_images/field-1.log"),
    ("fetch", "logs/fetch_pair_images/field-1/D2-D4.log"),
    ("difference", "logs/make_difference/field-1/D2-D4.log"),
    ("extraction", "logs/extract_sources/field-1/D2-D4.log"),
    ("selection", "logs/select_sources/field-1/D2-D4.log"),
    ("cutouts", "logs/fetch_source_cutouts/field-1/D2-D4.log"),
    ("spectra", "logs/measure_spectra/field-1/D2-D4.log"),
]


def _local_config(tmp_path, root, targets):
    """The test configuration on an existing simulated archive ``root`` (no simulation step)."""
    (tmp_path / "targets.csv").write_text(targets)
    config = yaml.safe_load(CONFIG.format(channels=CHANNELS, workdir=tmp_path, radii="[2.0, 3.0, 4.0]"))
    del config["simulation"]
    config["archive"] = {"backend": "local", "root": str(root)}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(config))


def _cache_state(workdir):
    """Inode and mtime of every file under its final name in the download cache."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (workdir / "cache").rglob("*.fits")
            if not p.name.startswith(".")}


def _start(workdir):
    cmd = [sys.executable, str(ROOT / "tests" / "netguard.py"), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", "--configfile", str(workdir / "test.yaml")]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_when(proc, path, *, delay_s, timeout_s=180):
    """SIGKILL the whole process group ``delay_s`` after ``path`` appears; False if the run ended first."""
    deadline = time.time() + timeout_s
    while not path.exists():
        if proc.poll() is not None or time.time() > deadline:
            return False
        time.sleep(0.02)
    time.sleep(delay_s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _assert_nothing_half_written(workdir):
    """Every cache file under its final name is complete, and every finished product reads."""
    for path in (workdir / "cache").rglob("*.fits"):
        if not path.name.startswith("."):
            verify_fits(path, require=("IMAGE",))
    for path in (workdir / "results").rglob("*.ecsv"):
        if not path.name.startswith("."):
            Table.read(path, format="ascii.ecsv")


def test_sigkill_at_every_stage_then_resume(run, tmp_path):
    """Kill the run (SIGKILL to Snakemake's process group) once inside each stage, resuming each time: the final
    products equal an uninterrupted run's, and no finished download is repeated (inodes and mtimes unchanged)."""
    baseline, _ = run
    _local_config(tmp_path, baseline / "sim", (baseline / "targets.csv").read_text())
    seen = {}
    killed = []
    for stage, log in STAGE_LOGS:
        started_before = (tmp_path / log).exists()  # a fast stage may have started before the previous kill
        proc = _start(tmp_path)
        if _kill_when(proc, tmp_path / log, delay_s=0.3) and not started_before:
            killed.append(stage)
        _assert_nothing_half_written(tmp_path)
        state = _cache_state(tmp_path)
        for path, stamp in seen.items():
            assert state.get(path) == stamp, f"{path.name} was downloaded again after the kill in {stage}"
        seen.update(state)
        assert snakemake(tmp_path, "--unlock").returncode == 0
    assert len(killed) >= 5, f"the run outran the kills: killed only in {killed}"
    result = snakemake(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    for path, stamp in seen.items():
        assert path.stat().st_ino == stamp[0] and path.stat().st_mtime_ns == stamp[1], f"{path.name} re-fetched"
    here, there = (d / "results" / PAIR_DIR[0] / PAIR_DIR[1] for d in (tmp_path, baseline))
    assert_same_products(here, there)
    a, b = Table.read(here / "spectra.ecsv"), Table.read(there / "spectra.ecsv")
    assert list(a["source"]) == list(b["source"]) and list(a["n_measured"]) == list(b["n_measured"])
    assert not list((tmp_path / "results").rglob(".*.part*")), "a killed job's temporary survived the resume"


def _poisoned_archive(source, dest, shift_deg=1.0):
    """A copy of archive ``source`` (hard links) plus a shifted copy of every image whose file is truncated.

    The copies cover (ra + shift_deg, dec) under new names (``poison_...``), so a target there finds images, but
    every file holds only the first half of its bytes.
    """
    shutil.copytree(source, dest, copy_function=os.link)
    index = Table.read(source / "index.ecsv", format="ascii.ecsv")
    rows = [{c: row[c] for c in index.colnames} for row in index]
    extra = []
    for row in rows:
        old_key = str(row["access_url"])
        folder, name = old_key.rsplit("/", 1)
        key = f"{folder}/poison_{name}"
        words = str(row["s_region"]).split()
        coords = np.array(words[2:], float).reshape(-1, 2)
        coords[:, 0] += shift_deg
        extra.append({**row, "access_url": key, "cloud_access": str(row["cloud_access"]).replace(old_key, key),
                      "obs_id": f"{row['obs_id']}P", "s_ra": row["s_ra"] + shift_deg,
                      "obs_publisher_did": str(row["obs_publisher_did"]).replace("?", "?P"),
                      "s_region": " ".join(words[:2] + [f"{v:.10f}" for v in coords.ravel()])})
        data = (source / old_key).read_bytes()
        (dest / key).write_bytes(data[: len(data) // 2])
    (dest / "index.ecsv").unlink()  # a hard link to the original: replace it, never write through it
    Table(rows=rows + extra, names=index.colnames, meta=index.meta).write(dest / "index.ecsv", format="ascii.ecsv")
    return dest


def test_poisoned_target_does_not_stop_the_others(run, tmp_path):
    """Three targets under --keep-going: one is fine, one has no coverage (an explicit empty result), one has
    corrupt archive files (its job fails). The good one completes as in the reference run; the summary names all
    three with status and reason."""
    baseline, _ = run
    archive = _poisoned_archive(baseline / "sim", tmp_path / "archive")
    ra, dec = 150.7817877, 3.3502204
    _local_config(tmp_path, archive, f"target,ra_deg,dec_deg\nfield-1,{ra},{dec}\npoison,{ra + 1.0},{dec}\n"
                                     "nowhere,10.0,-40.0\n")
    result = snakemake(tmp_path, "--keep-going")
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the poisoned target should fail its job"
    assert "NETWORK ATTEMPT" not in output
    assert_same_products(*(d / "results" / PAIR_DIR[0] / PAIR_DIR[1] for d in (tmp_path, baseline)))

    summary = Table.read(tmp_path / "results" / "summary.ecsv")
    by_target = {t: summary[summary["target"] == t] for t in ("field-1", "poison", "nowhere")}
    assert list(by_target["field-1"]["status"]) == ["ok", "ok"] and all(by_target["field-1"]["n_measured"] > 0)
    poison = by_target["poison"]
    assert len(poison) == 1 and poison["status"][0] == "failed" and poison["stage"][0] == "fetch_pair_images"
    # whole frames (visits: 1) are verified on download; stacks read sections, whose reader finds the file short
    reason = poison["reason"][0]
    assert ("DataFormatError" in reason or "ArchiveError" in reason) and "poison_level2_" in reason
    assert any(text in reason for text in ("not a valid FITS file", "missing HDU", "the file has"))
    nowhere = by_target["nowhere"]
    assert len(nowhere) == 1 and nowhere["status"][0] == "no_coverage" and "no D2 image" in nowhere["reason"][0]
    assert "poison D2-D4 : failed fetch_pair_images" in output  # the summary is also printed

    # the no-coverage target has every product, empty but valid, each saying why
    base = tmp_path / "results" / "nowhere" / "D2-D4"
    for name in ("catalog.ecsv", "selected.ecsv", "exposures.ecsv", "spectra.ecsv"):
        table = Table.read(base / name)
        assert len(table) == 0 and table.meta["status"] == "no_coverage"
    assert (base / "difference.png").stat().st_size > 1000
    # the failed target left no product and no cache entry under a final name
    assert not (tmp_path / "results" / "poison" / "D2-D4").exists() or not any(
        (tmp_path / "results" / "poison" / "D2-D4").glob("*.ecsv"))
    assert not [p for p in (tmp_path / "cache").rglob("poison_*") if not p.name.startswith(".")]
