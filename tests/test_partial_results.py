"""Partial is not ok: exposures lost to failures are counted and named, a re-run fetches only what is missing,
sources without any usable cutout get valid empty products, and the run summary says what the products hold."""

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from spherex_sdt import status
from spherex_sdt.errors import ArchiveError
from spherex_sdt.products import SOURCE_PRODUCTS, after_gap, manifest_needs_refetch, runs_jobs, spectra_need_remake
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.summary import Stage, archive_requests, pair_summary
from spherex_sdt.tasks.archive import fetch_source_cutouts
from spherex_sdt.tasks.common import JOB_FINISHED
from spherex_sdt.tasks.spectra import measure_spectra
from spherex_sdt.testing.loopback import Faults, LoopbackIrsa

from .conftest import SMALL, config_section

PHOTOMETRY = {"radii_px": [2.0, 3.0], "annulus_px": [7.0, 16.0], "bad_flags": [], "background_flags": [],
              "reject_sigma": 5.0, "reject_sigma_flagged": 3.0, "psf_model_error": 0.05,
              "fit_position": True, "max_position_shift_px": 0.5}
BINNING = {"radius_px": 3.0, "clip_sigma": 4.0}
SIZE_DEG = 0.05


def _selected(tmp_path, truth, *, positions=(), n_detected=2):
    """A selected-sources table: the first ``n_detected`` injected sources as detections, plus forced positions."""
    rows = [{"source": f"{k + 1:04d}", "id": k + 1, "ra": float(truth["ra"][k]), "dec": float(truth["dec"][k])}
            for k in range(n_detected)]
    rows += [{"source": f"p{k + 1:03d}", "id": -1, "ra": ra, "dec": dec} for k, (ra, dec) in enumerate(positions)]
    table = Table(rows=rows)
    table.meta.update(pair="D2-D4", status="ok", reason="", n_detections=40)
    path = tmp_path / "results" / "selected.ecsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write(path)
    return path


def _local(root, **changes):
    return config_section("archive", {"backend": "local", "root": str(root), "collection": "spherex_qr2"}, **changes)


def _omegas(root, tmp_path):
    """Solid-angle maps of every detector (copied from the simulated archive)."""
    import shutil

    out = {}
    for det in range(1, 7):
        out[det] = tmp_path / f"sapm_D{det}.fits"
        shutil.copyfile(root / sapm_key(SMALL, det), out[det])
    return out


def _stages(base):
    names = ("selected.ecsv", "exposures.ecsv", "spectra.ecsv")
    return [Stage(name.split(".")[0], str(base / name), str(base / f"{name}.log")) for name in names]


def _measure(base, omegas):
    measure_spectra(base / "exposures.ecsv", omegas, PHOTOMETRY, BINNING, base / "sources", base / "spectra.ecsv")
    return Table.read(base / "spectra.ecsv")


def _parts(folder):
    return [p for p in folder.rglob("*") if ".part" in p.name]


def test_uncovered_position_does_not_fail_the_target(tmp_path, small_archive):
    """Case 3: selection by positions with one position no exposure covers used to stop the whole target at the
    vstack (float vs str source column); now that source alone says why, with valid empty products."""
    root, _, truth = small_archive
    base = tmp_path / "results"
    selected = _selected(tmp_path, truth, positions=[(10.0, -40.0)], n_detected=1)
    fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], SIZE_DEG, 2, _local(root), tmp_path / "cache",
                         base / "exposures.ecsv")
    manifest = Table.read(base / "exposures.ecsv")
    assert manifest["source"].dtype.kind == "U" and set(manifest["source"]) == {"0001"}
    assert manifest.meta["status"] == status.OK
    assert [n["source"] for n in manifest.meta["sources"]] == ["0001", "p001"]

    spectra = _measure(base, _omegas(root, tmp_path))
    by_source = {row["source"]: row for row in spectra}
    assert by_source["0001"]["status"] == status.OK and by_source["0001"]["n_measured"] > 0
    assert by_source["p001"]["status"] == status.NO_MEASUREMENTS
    assert "no exposure in the archive contains it" in by_source["p001"]["reason"]
    folder = base / "sources" / "p001"
    assert sorted(p.name for p in folder.iterdir()) == sorted(SOURCE_PRODUCTS)
    empty = Table.read(folder / "spectrum.ecsv")
    assert len(empty) == 0 and empty.meta["status"] == status.NO_MEASUREMENTS
    assert len(Table.read(folder / "spectrum_binned.ecsv")) == 0
    rows = pair_summary("field-1", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert [(r["source"], r["status"]) for r in rows] == [("0001", "ok"), ("p001", "no_measurements")]
    assert not _parts(tmp_path)


def test_source_without_usable_cutout_gets_empty_products(tmp_path, small_archive):
    """Case 2: every cutout of a source gone (an emptied cache) used to crash binning (a float quality column of
    an empty table); now the source gets valid empty products and no_measurements with the reason."""
    root, _, truth = small_archive
    base = tmp_path / "results"
    selected = _selected(tmp_path, truth, n_detected=2)
    fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], SIZE_DEG, 2, _local(root), tmp_path / "cache",
                         base / "exposures.ecsv")
    manifest = Table.read(base / "exposures.ecsv")
    for path in manifest["path"][manifest["source"] == "0002"]:
        (tmp_path / path if not str(path).startswith("/") else __import__("pathlib").Path(path)).unlink()
    assert "no longer in the cache" in manifest_needs_refetch(base / "exposures.ecsv")

    spectra = _measure(base, _omegas(root, tmp_path))
    by_source = {row["source"]: row for row in spectra}
    assert by_source["0001"]["status"] == status.OK
    lost = by_source["0002"]
    assert lost["status"] == status.NO_MEASUREMENTS and lost["n_measured"] == 0
    assert lost["n_failed"] == int(np.sum(manifest["source"] == "0002")) > 0
    assert "no exposure measured" in lost["reason"] and "no such file" in lost["reason"]
    for name in SOURCE_PRODUCTS:
        assert (base / "sources" / "0002" / name).stat().st_size > 0
    binned = Table.read(base / "sources" / "0002" / "spectrum_binned.ecsv")
    assert len(binned) == 0 and binned["flux"].unit == "uJy"


def _faulted_cutouts(root, limit, policy):
    """A loopback IRSA whose cutout service fails the first ``limit`` requests (HTTP 503), and archive settings
    that do not retry: those cutouts fail for good."""
    service = LoopbackIrsa(root, faults=Faults.only("error", 1.0, endpoints=("cutout",), limit=limit)).start()
    settings = config_section("archive", service.archive_settings(cutouts="service"), retries=0,
                              failed_cutouts=policy)
    return service, settings


def test_failed_cutouts_fail_the_job_and_a_rerun_fetches_only_them(tmp_path, small_archive):
    root, _, truth = small_archive
    base = tmp_path / "results"
    selected = _selected(tmp_path, truth, n_detected=2)
    service, settings = _faulted_cutouts(root, 3, "fail")
    try:
        with pytest.raises(ArchiveError, match=r"\d exposure\(s\) of \d source\(s\) not fetched: .*HTTP Error "
                                               r"50[023].* a re-run fetches only the missing ones"):
            fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], SIZE_DEG, 2, settings, tmp_path / "cache",
                                 base / "exposures.ecsv")
        assert not (base / "exposures.ecsv").exists() and not _parts(tmp_path)
        cached = {p.name for p in (tmp_path / "cache" / "cutouts").glob("*.fits")}
        before = len(service.requests)
        fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], SIZE_DEG, 2, settings, tmp_path / "cache",
                             base / "exposures.ecsv")
        again = [r for r in service.requests[before:] if "center=" in r]
    finally:
        service.stop()
    manifest = Table.read(base / "exposures.ecsv")
    assert manifest.meta["status"] == status.OK and set(manifest["status"]) == {status.OK}
    refetched = {Path(p).name for p in manifest["path"]} - cached
    # only the files whose cutouts failed are asked for again (one request per file, for all its sources)
    files = {name.split("__")[0] for name in refetched}
    assert refetched and len(again) == len(files) <= 3
    assert manifest.meta["archive_requests"]["cutout"]["requests"] == len(files)


def test_failed_cutouts_kept_make_partial_spectra(tmp_path, small_archive):
    root, _, truth = small_archive
    base = tmp_path / "results"
    selected = _selected(tmp_path, truth, n_detected=2)
    service, settings = _faulted_cutouts(root, 2, "keep")
    try:
        fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], SIZE_DEG, 1, settings, tmp_path / "cache",
                             base / "exposures.ecsv")
    finally:
        service.stop()
    manifest = Table.read(base / "exposures.ecsv")
    assert manifest.meta["status"] == status.PARTIAL and "2 exposure(s)" in manifest.meta["reason"]
    assert list(manifest["status"]).count(status.FAILED) == 2
    assert manifest.meta["archive_requests"]["cutout"]["failed"] == 2
    assert "records 2 cutouts that failed" in manifest_needs_refetch(base / "exposures.ecsv")

    spectra = _measure(base, _omegas(root, tmp_path))
    partial = spectra[spectra["status"] == status.PARTIAL]
    assert len(partial) >= 1 and int(np.sum(partial["n_failed"])) == 2
    for row in partial:
        assert row["n_measured"] == row["n_exposures"] - row["n_failed"] > 0
        assert f"{row['n_failed']} of {row['n_exposures']} exposures not measured because of failures" in row["reason"]
        spectrum = Table.read(base / "sources" / row["source"] / "spectrum.ecsv")
        assert spectrum.meta["status"] == status.PARTIAL and spectrum.meta["n_failed"] == row["n_failed"]
    rows = pair_summary("field-1", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert {r["status"] for r in rows} <= {"ok", "partial"} and any(r["status"] == "partial" for r in rows)
    assert all("HTTP Error 50" in r["reason"] for r in rows if r["status"] == "partial")


@pytest.mark.parametrize("policy", ["fail", "keep"])
def test_empty_search_answer_is_not_a_false_summary(tmp_path, small_archive, monkeypatch, policy):
    """Case 5: the archive answering no exposure for sources detected on the pair's own images (an empty TAP
    answer then, an empty SIA answer since cutouts are searched per target) is an incomplete answer, not 'no source
    selected'."""
    root, _, truth = small_archive
    base = tmp_path / "results"
    selected = _selected(tmp_path, truth, n_detected=2)
    with LoopbackIrsa(root) as service:
        monkeypatch.setattr(service, "sia_rows", lambda *args: LoopbackIrsa.sia_rows(service, *args)[:0])
        settings = config_section("archive", service.archive_settings(cutouts="service"), failed_cutouts=policy)
        call = lambda: fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], SIZE_DEG, 2, settings,  # noqa: E731
                                            tmp_path / "cache", base / "exposures.ecsv")
        if policy == "fail":
            with pytest.raises(ArchiveError, match="the archive search found no exposure containing it, although "
                                                   "it was detected on the D2-D4 images"):
                call()
            assert not (base / "exposures.ecsv").exists()
            return
        call()
    spectra = _measure(base, {})
    assert list(spectra["status"]) == [status.NO_MEASUREMENTS] * 2
    rows = pair_summary("field-1", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert [r["status"] for r in rows] == ["no_measurements", "no_measurements"]
    assert all("although it was detected on the D2-D4 images" in r["reason"] for r in rows)
    assert manifest_needs_refetch(base / "exposures.ecsv")  # a plain re-run asks TAP again


def test_summary_does_not_blame_a_finished_job_for_a_removed_product(tmp_path):
    base = tmp_path / "results"
    base.mkdir()
    for name in ("selected.ecsv", "exposures.ecsv", "spectra.ecsv"):
        (base / f"{name}.log").write_text(f"2026 INFO spherex_sdt: done\n{JOB_FINISHED}\n")
    [row] = pair_summary("field-1", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert row["status"] == status.NOT_RUN and row["stage"] == "selected"
    assert "selected.ecsv is missing although selected finished (removed since?)" in row["reason"]
    (base / "selected.ecsv.log").write_text("Traceback\nArchiveError: http://x: failed after 4 attempts\n")
    [row] = pair_summary("field-1", "D2-D4", _stages(base), base / "spectra.ecsv")
    assert row["status"] == status.FAILED and "failed after 4 attempts" in row["reason"]


def test_summary_sums_archive_requests_per_endpoint(tmp_path):
    stages = []
    for k, counts in enumerate(({"tap": {"requests": 5, "retries": 2, "failed": 0}},
                                {"tap": {"requests": 1, "retries": 0, "failed": 0},
                                 "cutout": {"requests": 9, "retries": 4, "failed": 1}})):
        table = Table({"x": [1]})
        table.meta["archive_requests"] = counts
        table.write(tmp_path / f"p{k}.ecsv")
        stages.append(Stage(f"rule{k}", str(tmp_path / f"p{k}.ecsv"), str(tmp_path / f"p{k}.log")))
    (tmp_path / "map.fits").write_bytes(b"")
    (tmp_path / "map.log").write_text('x\n2026 INFO x: archive requests: {"file": {"requests": 3, "retries": 1, '
                                      '"failed": 0}}\n')
    stages.append(Stage("fetch_solid_angle_map", str(tmp_path / "map.fits"), str(tmp_path / "map.log")))
    stages.append(stages[0])  # a shared job counts once
    assert archive_requests(stages) == {"cutout": {"requests": 9, "retries": 4, "failed": 1},
                                        "file": {"requests": 3, "retries": 1, "failed": 0},
                                        "tap": {"requests": 6, "retries": 2, "failed": 0}}


def test_spectra_with_a_removed_file_are_remade(tmp_path):
    table = Table({"source": ["0001"], "spectrum": [str(tmp_path / "sources" / "0001" / "spectrum.ecsv")]})
    table.meta["status"] = "ok"
    table.write(tmp_path / "spectra.ecsv")
    folder = tmp_path / "sources" / "0001"
    folder.mkdir(parents=True)
    for name in SOURCE_PRODUCTS:
        (folder / name).write_text("x")
    assert spectra_need_remake(tmp_path / "spectra.ecsv") is None
    (folder / "spectrum.png").unlink()
    assert "0001/spectrum.png is missing" in spectra_need_remake(tmp_path / "spectra.ecsv")


def test_the_product_after_a_removed_one_is_named(tmp_path):
    chain = [tmp_path / name for name in ("a", "b", "c", "d")]
    for path in chain:
        path.write_text("x")
    assert after_gap(chain) is None
    chain[1].unlink()
    chain[2].unlink()
    assert after_gap(chain) == ([chain[3]], chain[1])  # the products after the gap that exist
    chain[3].unlink()
    assert after_gap(chain) is None  # nothing made from the missing one: Snakemake makes it anyway


@pytest.mark.parametrize(("argv", "runs"), [
    pytest.param(["--cores", "2", "--configfile", "c.yaml"], True, id="run"),
    pytest.param(["-j2", "-k", "-p", "--directory", "d"], True, id="run-short-options"),
    pytest.param(["-n"], False, id="dry-run-short"),
    pytest.param(["-np", "--cores", "1"], False, id="dry-run-combined"),
    pytest.param(["--dry-run"], False, id="dry-run"),
    pytest.param(["--report", "report.html"], False, id="report"),
    pytest.param(["--report=report.zip"], False, id="report-equals"),
    pytest.param(["--lint"], False, id="lint"),
    pytest.param(["--rulegraph"], False, id="rulegraph"),
    pytest.param(["--unlock"], False, id="unlock"),
    pytest.param(["--list-rules"], False, id="list-rules"),
    pytest.param(["--delete-all-output"], False, id="delete-all-output"),
    pytest.param(["-S"], False, id="summary-short"),
])
def test_only_runs_that_run_jobs_remove_incomplete_products(argv, runs):
    """A report, lint, graph or dry run of a run never removes a product; a run does."""
    assert runs_jobs(argv) is runs
