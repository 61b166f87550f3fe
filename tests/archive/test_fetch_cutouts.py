"""fetch_source_cutouts per target: one search, one batch per exposure file, failures confined to their file; the
checksummed cache: cheap hits, damaged entries fetched again once, then an error naming the file."""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from spherex_sdt.archive import LocalArchive, cached_fetch, check_cached
from spherex_sdt.archive.irsa import IrsaArchive
from spherex_sdt.errors import ArchiveError, DataFormatError
from spherex_sdt.tasks.archive import fetch_pair_images, fetch_source_cutouts
from spherex_sdt.tasks.common import LEVEL2_HDUS
from spherex_sdt.testing.loopback import LoopbackIrsa

from ..conftest import TARGET, config_section
from .test_sections import assert_equals_local_cut


def _selected(small_archive, tmp_path, n=4):
    _, _, truth = small_archive
    rows = truth[:n]
    table = Table({"source": [f"s{k}" for k in range(len(rows))], "ra": np.asarray(rows["ra"], float),
                   "dec": np.asarray(rows["dec"], float)})
    table.meta["status"] = "ok"
    path = tmp_path / "selected.ecsv"
    table.write(path)
    return path, table


def test_a_target_costs_one_search_and_one_batch_per_file(small_archive, tmp_path):
    root, _, _ = small_archive
    selected, sources = _selected(small_archive, tmp_path)
    with LoopbackIrsa(root) as service:
        archive = config_section("archive", service.archive_settings(cutouts="http-section"))
        fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], 0.05, 2, archive, tmp_path / "cache",
                             tmp_path / "exposures.ecsv")
        searches = [r for r in service.requests if "/SIA/query" in r or "/TAP/" in r]
        ranged = [r for r in service.requests if r.startswith("GET /ibe/data/")]
    manifest = Table.read(tmp_path / "exposures.ecsv")
    assert list(dict.fromkeys(manifest["source"])) == list(sources["source"])
    assert set(manifest.colnames) >= {"source", "obs_id", "detector", "mjd", "file_name", "ra", "dec", "path",
                                      "status", "error"}
    assert len(searches) == 1  # one exposure search for the union of the sources
    local = LocalArchive(root, "spherex_qr2")
    for source in sources:  # the same files a per-source TAP search finds
        expected = set(local.search_exposures(source["ra"], source["dec"])["file_name"])
        assert set(manifest["file_name"][manifest["source"] == source["source"]]) == expected
    assert np.all(manifest["status"] == "ok")
    files = sorted(set(manifest["key"]))
    for row in manifest:
        assert_equals_local_cut(Path(row["path"]).read_bytes(), root / row["key"], row["ra"], row["dec"], 0.05)
    # headers: at most one read per HDU (a size request only for the files read before any other's layout was
    # known, at most one per thread); pixels: one round trip per file, however many sources
    n_hdus = len(fits.open(root / files[0]))
    heads = [r for r in service.requests if r.startswith("HEAD ")]
    assert 1 <= len(heads) <= 2 and len(ranged) <= len(files) * (n_hdus + 6)
    assert manifest.meta["requests"] == len(ranged) + len(heads)

    # a second run finds every cutout in the cache and fetches nothing
    with LoopbackIrsa(root) as service:
        archive = config_section("archive", service.archive_settings(cutouts="http-section"))
        fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], 0.05, 2, archive, tmp_path / "cache",
                             tmp_path / "again.ecsv")
        assert not [r for r in service.requests if r.startswith(("GET /ibe/", "HEAD "))]
    assert np.all(Table.read(tmp_path / "again.ecsv")["status"] == "ok")

    # a later job with one more source: the headers were kept, so one round trip per file that holds it
    _, _, truth = small_archive
    more = Table.read(selected)
    more.add_row(("s-new", float(truth["ra"][len(more)]), float(truth["dec"][len(more)])))
    more.write(tmp_path / "more.ecsv")
    with LoopbackIrsa(root) as service:
        archive = config_section("archive", service.archive_settings(cutouts="http-section"))
        fetch_source_cutouts(tmp_path / "more.ecsv", [1, 2, 3, 4, 5, 6], 0.05, 2, archive, tmp_path / "cache",
                             tmp_path / "more-exposures.ecsv")
        fetched = [r for r in service.requests if r.startswith(("GET /ibe/", "HEAD "))]
    new = Table.read(tmp_path / "more-exposures.ecsv")
    new = new[new["source"] == "s-new"]
    assert len(new) > 0 and np.all(new["status"] == "ok")
    # ranges of one round trip per file: a few requests each (planes, PSF planes), no HEAD and no header reads
    assert not [r for r in fetched if r.startswith("HEAD ")] and len(fetched) <= 6 * len(set(new["key"]))


@pytest.mark.parametrize("failures", [1, 2], ids=["fails-once", "fails-twice"])
def test_a_failed_file_batch_fails_only_its_cutouts_and_is_retried_alone(small_archive, tmp_path, monkeypatch,
                                                                         failures):
    root, _, _ = small_archive
    selected, _ = _selected(small_archive, tmp_path)
    calls = []
    real = LocalArchive.fetch_cutouts
    manifest_probe = LocalArchive(root, "spherex_qr2")
    victim = manifest_probe.search_exposures(*[float(v) for v in Table.read(selected)[0]["ra", "dec"]])["key"][0]

    def flaky(self, row, positions, size_deg):
        calls.append((row["key"], len(positions)))
        if row["key"] == victim and sum(key == victim for key, _ in calls) <= failures:
            raise ArchiveError(f"{row['key']}: HTTP Error 503: injected")
        return real(self, row, positions, size_deg)

    monkeypatch.setattr(LocalArchive, "fetch_cutouts", flaky)
    # failed cutouts recorded in the manifest (the default, fail, stops the job: tests/test_partial_results.py)
    archive = config_section("archive", {"backend": "local", "root": str(root), "collection": "spherex_qr2"},
                             failed_cutouts="keep")
    fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], 0.05, 2, archive, tmp_path / "cache", tmp_path / "e.ecsv")
    manifest = Table.read(tmp_path / "e.ecsv")
    on_victim = manifest["key"] == victim
    keys = [key for key, _ in calls]
    assert keys.count(victim) == 2 and all(keys.count(k) == 1 for k in set(keys) - {victim})  # retried alone
    assert len(set(keys)) == len(set(manifest["key"]))  # one batch per file
    if failures == 1:
        assert np.all(manifest["status"] == "ok")
    else:
        assert np.all(manifest["status"][on_victim] == "failed") and np.all(manifest["status"][~on_victim] == "ok")
        assert all("HTTP Error 503: injected" in e for e in manifest["error"][on_victim])
        paths = manifest["path"].filled("") if hasattr(manifest["path"], "filled") else manifest["path"]
        assert np.all(paths[on_victim] == "")


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _image_data_offset(path):
    with fits.open(path) as hdul:
        return hdul["IMAGE"].fileinfo()["datLoc"] + 1000


@pytest.mark.parametrize("own_checksums", [True, False], ids=["file-checksums", "recorded-sha256"])
def test_a_flipped_byte_in_a_cached_level2_image_is_caught_and_fetched_again(small_archive, tmp_path,
                                                                             own_checksums):
    """Issue 16, case 4: one flipped byte in a cached Level-2 IMAGE used to pass and change every product."""
    root, index, _ = small_archive
    original = root / index["access_url"][0]
    if own_checksums:
        source = original  # the simulator writes CHECKSUM/DATASUM, as astropy does with checksum=True
    else:
        source = tmp_path / "plain.fits"  # as real Level-2 files: no checksum cards
        with fits.open(original) as hdul:
            for hdu in hdul:
                hdu.header.remove("CHECKSUM", ignore_missing=True)
                hdu.header.remove("DATASUM", ignore_missing=True)
            hdul.writeto(source)
    fetches = []

    def producer(tmp):
        fetches.append(tmp)
        tmp.write_bytes(source.read_bytes())

    dest = tmp_path / "cache" / "level2" / original.name
    cached_fetch(dest, producer, require=LEVEL2_HDUS, source="qr2/level2/x.fits")
    assert dest.with_name(dest.name + ".sha256").exists() != own_checksums
    check_cached(dest, LEVEL2_HDUS)
    cached_fetch(dest, producer, require=LEVEL2_HDUS, source="qr2/level2/x.fits")
    assert len(fetches) == 1  # a hit: nothing fetched
    _flip(dest, _image_data_offset(dest))
    with pytest.raises(DataFormatError, match="damaged"):
        check_cached(dest, LEVEL2_HDUS)
    cached_fetch(dest, producer, require=LEVEL2_HDUS, source="qr2/level2/x.fits")
    assert len(fetches) == 2 and dest.read_bytes() == source.read_bytes()


def test_a_download_that_keeps_failing_its_checksum_fails_naming_the_file(small_archive, tmp_path):
    root, index, _ = small_archive
    original = root / index["access_url"][0]
    fetches = []

    def damaged(tmp):
        fetches.append(tmp)
        tmp.write_bytes(original.read_bytes())
        _flip(tmp, _image_data_offset(tmp))

    dest = tmp_path / "cache" / "level2" / original.name
    with pytest.raises(DataFormatError, match=r"qr2/level2/bad\.fits: checksum of HDU 1 \(IMAGE\) does not match"):
        cached_fetch(dest, damaged, require=LEVEL2_HDUS, source="qr2/level2/bad.fits")
    assert len(fetches) == 2 and not dest.exists()  # fetched once more, then refused; nothing left to trust


def test_pair_images_with_a_flipped_byte_are_fetched_again(small_archive, tmp_path):
    root, _, _ = small_archive
    archive = {"backend": "local", "root": str(root), "collection": "spherex_qr2"}
    images = LocalArchive(root, "spherex_qr2").search_images(TARGET["ra_deg"], TARGET["dec_deg"], 50 / 3600)
    images.write(tmp_path / "images.ecsv")
    args = (tmp_path / "images.ecsv", "D2-D4", TARGET["ra_deg"], TARGET["dec_deg"], 10, None, archive,
            tmp_path / "cache")
    single = {"visits": 1, "max_visits": 1, "box_px": 0, "threads": 1}
    fetch_pair_images(*args, tmp_path / "pair.ecsv", **single)
    pair = Table.read(tmp_path / "pair.ecsv")
    cached = tmp_path / "cache" / "level2" / pair["file_name"][0]
    _flip(cached, _image_data_offset(cached))
    fetch_pair_images(*args, tmp_path / "pair2.ecsv", **single)
    assert cached.read_bytes() == (root / pair["key"][0]).read_bytes()


def test_a_damaged_cached_cutout_is_fetched_again(small_archive, tmp_path):
    root, _, _ = small_archive
    selected, _ = _selected(small_archive, tmp_path, n=2)
    archive = {"backend": "local", "root": str(root), "collection": "spherex_qr2"}
    fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], 0.05, 1, archive, tmp_path / "cache", tmp_path / "a.ecsv")
    first = Table.read(tmp_path / "a.ecsv")[0]
    _flip(Path(first["path"]), _image_data_offset(first["path"]))
    fetch_source_cutouts(selected, [1, 2, 3, 4, 5, 6], 0.05, 1, archive, tmp_path / "cache", tmp_path / "b.ecsv")
    again = Path(first["path"]).read_bytes()  # the damaged entry was replaced: pixels as cut, checksums verify
    assert_equals_local_cut(again, root / first["key"], first["ra"], first["dec"], 0.05)


def test_irsa_backend_builds_from_the_schema_defaults():
    irsa = IrsaArchive(sia_url="http://127.0.0.1:9/SIA", tap_url="http://127.0.0.1:9/TAP",
                       data_url="http://127.0.0.1:9/", s3_endpoint_url="", bucket="b", collection="spherex_qr2",
                       transport="http", cutouts="auto", block_size=49152, timeout=1, retries=0, backoff_s=0,
                       backoff_max_s=0, merge_gap=None, round_trip_ms=30, bandwidth_mbps=100)
    assert irsa.merge_gap == 375_000
    defaults = config_section("archive", {"backend": "irsa", "collection": "spherex_qr2"})
    assert defaults["range_merge_gap_bytes"] is None and defaults["round_trip_ms"] == 30
