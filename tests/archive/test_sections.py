"""Section-read cutouts: round trips counted on a filesystem that records every call, pixels compared with a local
cut."""

import numpy as np
import pytest
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from spherex_sdt.archive.cutouts import make_cutout
from spherex_sdt.archive.sections import LayoutCache, _Ranges, _read_layout, remote_cutout

from ..conftest import TARGET


class CountingFileSystem(LocalFileSystem):
    """A local filesystem that counts size queries and range batches (each batch is one round trip)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = {"size": 0, "cat_ranges": 0}

    @classmethod
    def new(cls):
        return cls(skip_instance_cache=True)  # fsspec would otherwise hand back the instance of an earlier test

    def size(self, path):
        self.calls["size"] += 1
        return super().size(path)

    def cat_ranges(self, paths, starts, ends, **kwargs):
        self.calls["cat_ranges"] += 1
        self.last_batch = len(starts)
        return super().cat_ranges(paths, starts, ends, **kwargs)


def _level2(small_archive):
    root, index, truth = small_archive
    return root / index["access_url"][0], truth


def _positions(path, n):
    """n sky positions well inside the image (a spread of sources, as selected from one difference image)."""
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        wcs = WCS(hdul["IMAGE"].header)
        ny, nx = hdul["IMAGE"].shape
    xs = np.linspace(0.3 * nx, 0.7 * nx, n)
    ys = np.linspace(0.6 * ny, 0.35 * ny, n)
    return [tuple(map(float, wcs.all_pix2world([[x, y]], 0)[0])) for x, y in zip(xs, ys)]


def test_pixels_come_in_one_round_trip_and_headers_once_per_file(small_archive):
    path, _ = _level2(small_archive)
    fs = CountingFileSystem.new()
    header_trips = _Ranges(fs, str(path), lambda what, call: call())
    _read_layout(header_trips, path.stat().st_size, 16_384)
    fs.calls = dict.fromkeys(fs.calls, 0)

    layouts = LayoutCache()
    positions = _positions(path, 3)
    trips, fetched_bytes = [], []
    for ra, dec in positions:
        cut, fetched, round_trips = remote_cutout(fs, str(path), ra, dec, 0.05, source="file-1", layouts=layouts)
        trips.append(round_trips)
        with fits.open(path) as hdul:
            local = make_cutout(hdul, ra, dec, 0.05, psf="nearest")
            for name in ("IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF"):
                np.testing.assert_array_equal(cut[name].data, local[name].data)
                assert cut[name].header == local[name].header
            np.testing.assert_array_equal(cut["WCS-WAVE"].data["VALUES"], local["WCS-WAVE"].data["VALUES"])
        fetched_bytes.append(fetched)
    # the first cutout: the size, one trip per header block read, one for all pixels; later ones: the pixels only
    assert trips == [1 + header_trips.round_trips + 1, 1, 1]
    assert fs.calls["size"] == 1 and fs.calls["cat_ranges"] == header_trips.round_trips + 3
    assert header_trips.round_trips >= 2  # headers do take several sequential trips: what the cache saves
    assert fetched_bytes[0] > fetched_bytes[1] + header_trips.bytes_fetched * 0.9 and fetched_bytes[1] > 0


def test_without_a_layout_cache_every_cutout_reads_the_headers(small_archive):
    path, _ = _level2(small_archive)
    fs = CountingFileSystem.new()
    (ra, dec), = _positions(path, 1)
    first = remote_cutout(fs, str(path), ra, dec, 0.05)[2]
    second = remote_cutout(fs, str(path), ra, dec, 0.05)[2]
    assert first == second > 2 and fs.calls["size"] == 2


def test_layout_cache_keeps_the_most_recent_files():
    cache = LayoutCache(max_files=2)
    for key in ("a", "b", "c"):
        cache.put(key, [key])
    assert cache.get("a") is None and cache.get("b") == ["b"]
    cache.put("d", ["d"])  # "b" was used last, so "c" goes
    assert cache.get("c") is None and cache.get("b") == ["b"] and cache.get("d") == ["d"]


def test_a_position_off_the_image_fetches_no_pixels(small_archive):
    from spherex_sdt.errors import NoCoverageError

    path, _ = _level2(small_archive)
    fs = CountingFileSystem.new()
    with pytest.raises(NoCoverageError, match="falls outside the image"):
        remote_cutout(fs, str(path), TARGET["ra_deg"] + 5.0, TARGET["dec_deg"], 0.05)
    calls = dict(fs.calls)
    with pytest.raises(NoCoverageError):
        remote_cutout(fs, str(path), TARGET["ra_deg"] + 5.0, TARGET["dec_deg"], 0.05)
    assert fs.calls["cat_ranges"] - calls["cat_ranges"] == calls["cat_ranges"]  # headers again, never pixels


@pytest.mark.parametrize("gap, requests", [(0, "one per row and plane"), (4096, "one per plane")])
def test_nearby_rows_merge_into_one_request_per_plane(small_archive, gap, requests):
    path, _ = _level2(small_archive)
    fs = CountingFileSystem.new()
    (ra, dec), = _positions(path, 1)
    layouts = LayoutCache()
    remote_cutout(fs, str(path), ra, dec, 0.05, source="f", layouts=layouts, merge_gap=gap)  # headers cached
    cut, fetched, trips = remote_cutout(fs, str(path), ra, dec, 0.05, source="f", layouts=layouts, merge_gap=gap)
    with fits.open(path) as hdul:
        local = make_cutout(hdul, ra, dec, 0.05, psf="nearest")
        for name in ("IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF"):
            np.testing.assert_array_equal(cut[name].data, local[name].data)
    rows = cut["IMAGE"].shape[0]
    row_bytes = cut["IMAGE"].shape[1] * 4
    psf_bytes = local["PSF"].data.nbytes
    assert trips == 1
    if gap:  # rows ~300 bytes apart merge, planes ~50 kB apart do not: one request per plane, plus the PSF plane
        assert fs.last_batch == 5 and fetched == 4 * ((rows - 1) * 128 * 4 + row_bytes) + psf_bytes
    else:
        assert fs.last_batch == 4 * rows + 1 and fetched == 4 * rows * row_bytes + psf_bytes
