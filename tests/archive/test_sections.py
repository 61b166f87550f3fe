"""Batched section-read cutouts: requests counted on a filesystem that records every call, pixels and headers compared
with a local `make_cutout`."""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from spherex_sdt.archive.cutouts import make_cutout
from spherex_sdt.archive.sections import (LayoutCache, Transfer, _hinted_requests, _Ranges, batched_cutouts,
                                          merge_gap_bytes, merge_ranges, read_layout)
from spherex_sdt.errors import ArchiveError, NoCoverageError

from ..conftest import TARGET


class CountingFileSystem(LocalFileSystem):
    """A local filesystem that counts size queries, range batches (each one round trip) and ranges (requests)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = {"size": 0, "cat_ranges": 0, "ranges": 0, "cat_file": 0}
        self.fail_next = 0
        self.html_next = 0

    @classmethod
    def new(cls):
        return cls(skip_instance_cache=True)  # fsspec would otherwise hand back the instance of an earlier test

    def size(self, path):
        self.calls["size"] += 1
        return super().size(path)

    def cat_ranges(self, paths, starts, ends, **kwargs):
        self.calls["cat_ranges"] += 1
        self.calls["ranges"] += len(starts)
        self.last_batch = list(zip(starts, ends))
        self._batch = True  # the local implementation reads each range with cat_file: not a request of its own
        try:
            out = super().cat_ranges(paths, starts, ends, **kwargs)
        finally:
            self._batch = False
        if self.fail_next:  # the first ranges of this batch fail, as a dropped connection would
            out = [ConnectionResetError("dropped") if k < self.fail_next else chunk for k, chunk in enumerate(out)]
            self.fail_next = 0
        if self.html_next:  # the first ranges of this batch answered by a proxy's error page, short or long
            page = b"<!DOCTYPE html><html><head><title>Service temporarily unavailable</title></head></html>"
            out = [page * (1 + 200 * (k % 2)) if k < self.html_next else chunk for k, chunk in enumerate(out)]
            self.html_next = 0
        return out

    def cat_file(self, path, start=None, end=None, **kwargs):
        if not getattr(self, "_batch", False):
            self.calls["cat_file"] += 1
        return super().cat_file(path, start=start, end=end, **kwargs)


def _files(small_archive, n):
    root, index, _ = small_archive
    return [root / key for key in index["access_url"][:n]]


def _positions(path, n, *, spread=(0.3, 0.7)):
    """n sky positions inside the image (a spread of sources, as selected from one difference image)."""
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        wcs = WCS(hdul["IMAGE"].header)
        ny, nx = hdul["IMAGE"].shape
    xs = np.linspace(spread[0] * nx, spread[1] * nx, n)
    ys = np.linspace(0.6 * ny, 0.35 * ny, n)
    return [tuple(map(float, wcs.all_pix2world([[x, y]], 0)[0])) for x, y in zip(xs, ys)]


def _without_checksums(header):
    header = header.copy()
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    return header


def assert_equals_local_cut(cutout, path, ra, dec, size_deg):
    """The cutout's bytes equal a local `make_cutout` (nearest PSF plane), HDU by HDU, and carry valid checksums."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum that does not verify
        cut = fits.HDUList.fromstring(cutout)
        assert all(hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1 for hdu in cut)
    with fits.open(path) as hdul:
        local = make_cutout(hdul, ra, dec, size_deg, psf="nearest")
        assert [h.name for h in cut] == [h.name for h in local]
        for ours, theirs in zip(cut, local):
            assert _without_checksums(ours.header) == _without_checksums(theirs.header), ours.name
            if ours.name == "WCS-WAVE":
                np.testing.assert_array_equal(ours.data["VALUES"], theirs.data["VALUES"])
            elif theirs.data is not None:
                np.testing.assert_array_equal(ours.data, theirs.data)


def test_every_source_of_a_file_in_one_round_trip(small_archive):
    (path,) = _files(small_archive, 1)
    header_fs = CountingFileSystem.new()
    header_trips = Transfer()
    read_layout(_Ranges(header_fs, str(path), lambda what, call: call(), header_trips), path.stat().st_size, 65536,
                source="f")
    fs = CountingFileSystem.new()
    positions = _positions(path, 5)
    layouts = LayoutCache()
    cutouts, transfer = batched_cutouts(fs, str(path), positions, 0.05, source="f", layouts=layouts, merge_gap=4096)
    for (ra, dec), cutout in zip(positions, cutouts):
        assert_equals_local_cut(cutout, path, ra, dec, 0.05)
    # the size, one read per header, one round trip for every source's pixels
    assert fs.calls["size"] == 1 and header_trips.round_trips <= len(fits.open(path))  # PRIMARY and IMAGE together
    assert transfer.round_trips == fs.calls["size"] + fs.calls["cat_ranges"] == 1 + header_trips.round_trips + 1
    # again with the headers known: one round trip, nothing else
    fs.calls = dict.fromkeys(fs.calls, 0)
    again, transfer = batched_cutouts(fs, str(path), positions, 0.05, source="f", layouts=layouts, merge_gap=4096)
    for (ra, dec), cutout in zip(positions, again):
        assert_equals_local_cut(cutout, path, ra, dec, 0.05)
    assert fs.calls == {"size": 0, "cat_ranges": 1, "ranges": transfer.requests, "cat_file": 0}


def test_a_file_laid_out_like_the_last_one_read_is_read_exactly(small_archive, tmp_path):
    first, second = _files(small_archive, 2)
    layouts = LayoutCache()
    batched_cutouts(CountingFileSystem.new(), str(first), _positions(first, 1), 0.05, source="1", layouts=layouts)
    fs = CountingFileSystem.new()
    cutouts, transfer = batched_cutouts(fs, str(second), _positions(second, 2), 0.05, source="2", layouts=layouts)
    with fits.open(second) as hdul:
        header_bytes = sum(len(hdu.header.tostring()) for hdu in hdul) + hdul["WCS-WAVE"].filebytes() - len(
            hdul["WCS-WAVE"].header.tostring())
    pixels = fs.last_batch
    assert fs.calls["size"] == 0  # the size comes from the hint, and the walk ends where the hint's did
    assert transfer.bytes - sum(e - s for s, e in pixels) == header_bytes  # every header asked for exactly
    # every header in one round trip (where they follow one another, one request), every pixel in another
    assert fs.calls["cat_ranges"] == transfer.round_trips == 2 and fs.calls["cat_file"] == 0
    for (ra, dec), cutout in zip(_positions(second, 2), cutouts):
        assert_equals_local_cut(cutout, second, ra, dec, 0.05)
    # a file laid out differently (a longer IMAGE header) is noticed and read as it comes
    with fits.open(second) as hdul:
        for k in range(40):
            hdul["IMAGE"].header[f"EXTRA{k}"] = k
        hdul.writeto(tmp_path / "other.fits")
    fs = CountingFileSystem.new()
    positions = _positions(tmp_path / "other.fits", 2)
    cutouts, _ = batched_cutouts(fs, str(tmp_path / "other.fits"), positions, 0.05, source="3", layouts=layouts)
    assert fs.calls["size"] == 1
    for (ra, dec), cutout in zip(positions, cutouts):
        assert_equals_local_cut(cutout, tmp_path / "other.fits", ra, dec, 0.05)
    # with that longer file as the hint, the last header guessed runs past the end of a file laid out as usual
    assert _hinted_requests(layouts.latest())[1][-1] > first.stat().st_size
    fs = CountingFileSystem.new()
    cutouts, _ = batched_cutouts(fs, str(first), _positions(first, 2), 0.05, source="4", layouts=layouts)
    assert layouts.latest() is layouts.get("4") and fs.calls["size"] == 1
    for (ra, dec), cutout in zip(_positions(first, 2), cutouts):
        assert_equals_local_cut(cutout, first, ra, dec, 0.05)
    # a guessed header that fails to arrive, or is answered by an error page (shorter or longer than asked), is read
    # again on its own through the retry hook (one round trip each), never parsed
    layouts.put("2", layouts.get("2"))  # the usual layout as the hint again
    for fault in ("fail_next", "html_next"):
        fs = CountingFileSystem.new()
        setattr(fs, fault, 2)
        retried = []
        cutouts, _ = batched_cutouts(fs, str(first), _positions(first, 2), 0.05, source=fault, layouts=layouts,
                                     retry=lambda what, call, retried=retried: retried.append(what) or call())
        assert fs.calls["size"] == 0 and fs.calls["cat_ranges"] == 2 and fs.calls["cat_file"] == len(retried) == 2
        for (ra, dec), cutout in zip(_positions(first, 2), cutouts):
            assert_equals_local_cut(cutout, first, ra, dec, 0.05)

def test_n_sources_on_m_files_cost_m_round_trips_beyond_uncached_headers(small_archive):
    files = _files(small_archive, 4)
    fs = CountingFileSystem.new()
    layouts = LayoutCache()
    header_trips = 0
    for path in files:
        header_fs = CountingFileSystem.new()
        read_layout(_Ranges(header_fs, str(path), lambda what, call: call(), Transfer()), path.stat().st_size,
                    65536, source=str(path))
        header_trips += 1 + header_fs.calls["cat_ranges"]  # the size, then the header reads
    n_sources = 6
    for path in files:
        positions = _positions(path, n_sources, spread=(0.1, 0.9))
        cutouts, _ = batched_cutouts(fs, str(path), positions, 0.05, source=str(path), layouts=layouts,
                                     merge_gap=merge_gap_bytes(30, 100))
        for (ra, dec), cutout in zip(positions, cutouts):
            assert_equals_local_cut(cutout, path, ra, dec, 0.05)
    assert fs.calls["size"] + fs.calls["cat_ranges"] <= len(files) + header_trips
    fs.calls = dict.fromkeys(fs.calls, 0)
    for path in files:  # headers cached: one round trip per file, whatever the number of sources
        batched_cutouts(fs, str(path), _positions(path, n_sources), 0.05, source=str(path), layouts=layouts,
                        merge_gap=merge_gap_bytes(30, 100))
    assert fs.calls["size"] == 0 and fs.calls["cat_ranges"] == len(files)


def test_a_source_off_the_image_fetches_nothing(small_archive):
    (path,) = _files(small_archive, 1)
    fs = CountingFileSystem.new()
    layouts = LayoutCache()
    off = (TARGET["ra_deg"] + 5.0, TARGET["dec_deg"])
    (result,), _ = batched_cutouts(fs, str(path), [off], 0.05, source="f", layouts=layouts)
    assert isinstance(result, NoCoverageError) and "falls outside the image" in str(result)
    fs.calls = dict.fromkeys(fs.calls, 0)
    (result,), _ = batched_cutouts(fs, str(path), [off], 0.05, source="f", layouts=layouts)
    assert isinstance(result, NoCoverageError) and fs.calls["cat_ranges"] == 0  # headers known, no pixels wanted
    on = _positions(path, 2)
    batched_cutouts(fs, str(path), on, 0.05, source="f", layouts=layouts)
    alone = fs.last_batch
    mixed, _ = batched_cutouts(fs, str(path), [on[0], off, on[1]], 0.05, source="f", layouts=layouts)
    assert fs.last_batch == alone and isinstance(mixed[1], NoCoverageError)  # the same ranges, not one more byte


def test_merge_gap_trades_bytes_for_requests(small_archive):
    (path,) = _files(small_archive, 1)
    (ra, dec), = _positions(path, 1)
    layouts = LayoutCache()
    batched_cutouts(CountingFileSystem.new(), str(path), [(ra, dec)], 0.05, source="f", layouts=layouts)
    results = {}
    for gap in (0, 4096, merge_gap_bytes(30, 100)):
        fs = CountingFileSystem.new()
        (cutout,), transfer = batched_cutouts(fs, str(path), [(ra, dec)], 0.05, source="f", layouts=layouts,
                                              merge_gap=gap)
        assert_equals_local_cut(cutout, path, ra, dec, 0.05)
        results[gap] = transfer
    rows = fits.HDUList.fromstring(cutout)["IMAGE"].shape[0]
    assert results[0].requests == 4 * rows + 1  # a request per row and plane, and the PSF plane
    assert results[4096].requests == 5  # rows ~300 bytes apart merge; planes ~50 kB apart do not
    assert results[merge_gap_bytes(30, 100)].requests < 5  # 375 kB: planes of a 128-pixel detector merge too
    assert results[0].bytes < results[4096].bytes < results[merge_gap_bytes(30, 100)].bytes
    assert merge_gap_bytes(30, 100) == 375_000


def test_merge_ranges():
    starts, ends = merge_ranges([100, 0, 50, 400], [150, 10, 60, 410], 45)
    assert list(starts) == [0, 400] and list(ends) == [150, 410]  # gaps of 40 merge; 250 does not
    starts, ends = merge_ranges([100, 0, 50, 400], [150, 10, 60, 410], 40)  # "less than 40 apart": none
    assert list(starts) == [0, 50, 100, 400] and list(ends) == [10, 60, 150, 410]
    starts, ends = merge_ranges([0, 10, 5], [10, 20, 8], 0)  # touching and overlapping ranges always merge
    assert list(starts) == [0] and list(ends) == [20]


def test_a_failed_range_is_retried_alone(small_archive):
    (path,) = _files(small_archive, 1)
    positions = _positions(path, 3)
    layouts = LayoutCache()
    fs = CountingFileSystem.new()
    batched_cutouts(fs, str(path), positions, 0.05, source="f", layouts=layouts, merge_gap=4096)
    fs.calls = dict.fromkeys(fs.calls, 0)
    fs.fail_next = 2
    attempts = []

    def retry(what, call):
        attempts.append(what)
        return call()

    cutouts, _ = batched_cutouts(fs, str(path), positions, 0.05, source="f", layouts=layouts, merge_gap=4096,
                                 retry=retry)
    assert len(attempts) == 2 and fs.calls["cat_file"] == 2 and fs.calls["cat_ranges"] == 1
    for (ra, dec), cutout in zip(positions, cutouts):
        assert_equals_local_cut(cutout, path, ra, dec, 0.05)


def test_compressed_planes_are_refused_by_name(tmp_path):
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((8, 8), np.float32), name="IMAGE"),
                         fits.CompImageHDU(np.ones((8, 8), np.int32), name="FLAGS")])
    hdul.writeto(tmp_path / "c.fits")
    with pytest.raises(ArchiveError, match="FLAGS is not a plain image HDU"):
        read_layout(_Ranges(LocalFileSystem(), str(tmp_path / "c.fits"), lambda w, c: c(), Transfer()),
                    (tmp_path / "c.fits").stat().st_size, 65536, source="c.fits")


def test_headers_kept_on_disk_spare_a_later_job_the_header_reads(small_archive, tmp_path):
    (path,) = _files(small_archive, 1)
    positions = _positions(path, 3)
    first = LayoutCache(directory=tmp_path / "headers")
    batched_cutouts(CountingFileSystem.new(), str(path), positions[:1], 0.05, source="f/x.fits", layouts=first)
    kept = tmp_path / "headers" / "x.fits.headers"
    assert kept.exists() and kept.with_name("x.fits.headers.sha256").exists()
    assert kept.stat().st_size < path.stat().st_size / 4  # headers and WCS-WAVE, not the pixels
    later = LayoutCache(directory=tmp_path / "headers")  # a new job
    fs = CountingFileSystem.new()
    cutouts, transfer = batched_cutouts(fs, str(path), positions, 0.05, source="f/x.fits", layouts=later)
    assert fs.calls["size"] == 0 and fs.calls["cat_ranges"] == 1 and transfer.round_trips == 1
    for (ra, dec), cutout in zip(positions, cutouts):
        assert_equals_local_cut(cutout, path, ra, dec, 0.05)
    data = bytearray(kept.read_bytes())  # damaged kept headers are not trusted: read again from the file
    data[200] ^= 1
    kept.write_bytes(bytes(data))
    fs = CountingFileSystem.new()
    batched_cutouts(fs, str(path), positions, 0.05, source="f/x.fits",
                    layouts=LayoutCache(directory=tmp_path / "headers"))
    assert fs.calls["cat_ranges"] > 1
