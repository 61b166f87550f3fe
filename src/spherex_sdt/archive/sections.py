"""Cutouts from byte ranges of a remote Level-2 file (S3 or HTTP), fetching only the pixels a cutout needs.

Headers are read through a small block cache (one round trip per HDU, since each header says where the next one
starts) and kept in a `LayoutCache`: further cutouts of the same file, for other sources, skip them. Then each
cutout row of IMAGE, FLAGS, VARIANCE and ZODI is one byte range (a 60-pixel row of a 2040-pixel plane is 240 of
its 8160 bytes) and the PSF plane nearest the source one more, all requested together in one ``cat_ranges`` call.
Every request that fails or comes back short is retried on its own, so one dropped request among hundreds does not
restart the cutout. The result is the MEF `make_cutout` writes.
"""

import io
import threading
from collections import OrderedDict

import numpy as np

from ..io.spectral_image import nearest_psf_plane
from .cutouts import cutout_geometry, make_cutout

__all__ = ["LayoutCache", "RangeSection", "RemoteFile", "TruncatedRead", "remote_cutout"]

_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _no_retry(what, call):  # noqa: ARG001  the retry hook's signature: (what is being read, the read)
    return call()


class TruncatedRead(OSError):
    """A byte range came back shorter than asked (a dropped connection or a truncated body)."""


class _Ranges:
    """Fetches byte ranges of one remote file, checking lengths and retrying single failed ranges."""

    def __init__(self, fs, path, retry, merge_gap=0):
        self.fs, self.path, self.retry, self.merge_gap = fs, path, retry, int(merge_gap)
        self.bytes_fetched = 0
        self.round_trips = 0
        self._prefetched = {}

    def prefetch(self, starts, ends):
        """Fetch these ranges in one round trip; later `fetch` calls of exactly these ranges take them from here."""
        for start, end, chunk in zip(starts, ends, self._fetch(starts, ends)):
            self._prefetched[(start, end)] = chunk

    def _one(self, start, end):
        chunk = self.fs.cat_file(self.path, start=start, end=end)
        if len(chunk) != end - start:
            raise TruncatedRead(f"{self.path}: bytes {start}-{end - 1} came back as {len(chunk)} bytes")
        return chunk

    def fetch(self, starts, ends):
        if all((start, end) in self._prefetched for start, end in zip(starts, ends)):
            return [self._prefetched.pop((start, end)) for start, end in zip(starts, ends)]
        return self._fetch(starts, ends)

    def _fetch(self, starts, ends):
        if self.merge_gap > 0 and len(starts) > 1:
            # ranges closer than merge_gap become one request: fewer requests for a few more bytes
            from fsspec.utils import merge_offset_ranges

            _, merged_starts, merged_ends = merge_offset_ranges([self.path] * len(starts), list(starts), list(ends),
                                                                max_gap=self.merge_gap)
            if len(merged_starts) < len(starts):
                blocks = self._fetch_exact(merged_starts, merged_ends)
                out = []
                for start, end in zip(starts, ends):
                    k = int(np.searchsorted(merged_starts, start, side="right")) - 1
                    out.append(blocks[k][start - merged_starts[k]:end - merged_starts[k]])
                return out
        return self._fetch_exact(starts, ends)

    def _fetch_exact(self, starts, ends):
        self.round_trips += 1
        chunks = self.fs.cat_ranges([self.path] * len(starts), starts, ends, on_error="return")
        out = []
        for chunk, start, end in zip(chunks, starts, ends):
            if isinstance(chunk, BaseException) or len(chunk) != end - start:
                chunk = self.retry(f"{self.path} bytes {start}-{end - 1}", lambda s=start, e=end: self._one(s, e))
            out.append(chunk)
        self.bytes_fetched += int(sum(e - s for s, e in zip(starts, ends)))
        return out


class RemoteFile(io.RawIOBase):
    """A read-only, seekable binary file over byte ranges, fetched in cached blocks (for header parsing)."""

    def __init__(self, ranges, size, block_size):
        super().__init__()
        self.ranges, self.size, self.block_size = ranges, int(size), int(block_size)
        self.name, self.mode, self._pos, self._blocks = ranges.path, "rb", 0, {}

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + int(offset))
        return self._pos

    def _block(self, k):
        if k not in self._blocks:
            start = k * self.block_size
            end = min(start + self.block_size, self.size)
            (self._blocks[k],) = self.ranges.fetch([start], [end])
        return self._blocks[k]

    def readinto(self, buffer):
        n = min(len(buffer), max(self.size - self._pos, 0))
        done = 0
        while done < n:
            k, offset = divmod(self._pos + done, self.block_size)
            block = self._block(k)[offset : offset + n - done]
            buffer[done : done + len(block)] = block
            done += len(block)
        self._pos += n
        return n


class RangeSection:
    """``section``-like access to an uncompressed image HDU of a remote file, one byte range per row.

    Supports ``[y0:y1, x0:x1]`` on 2-D images and ``[k0:k1]`` (whole planes) on 3-D cubes.
    """

    def __init__(self, ranges, offset, shape, bitpix):
        self.ranges, self.offset, self.shape = ranges, int(offset), tuple(shape)
        self.dtype = np.dtype(_DTYPES[int(bitpix)])

    def byte_ranges(self, key):
        """``(starts, ends, shape)`` of the bytes ``self[key]`` reads: one range per row, or one for the planes."""
        size = self.dtype.itemsize
        if len(self.shape) == 2:
            ys, xs = key
            y0, y1, _ = ys.indices(self.shape[0])
            x0, x1, _ = xs.indices(self.shape[1])
            row = self.shape[1] * size
            starts = [self.offset + y * row + x0 * size for y in range(y0, y1)]
            return starts, [s + (x1 - x0) * size for s in starts], (y1 - y0, x1 - x0)
        k0, k1, _ = (key[0] if isinstance(key, tuple) else key).indices(self.shape[0])
        plane = int(np.prod(self.shape[1:])) * size
        return [self.offset + k0 * plane], [self.offset + k1 * plane], (k1 - k0,) + self.shape[1:]

    def __getitem__(self, key):
        starts, ends, shape = self.byte_ranges(key)
        return np.frombuffer(b"".join(self.ranges.fetch(starts, ends)), self.dtype).reshape(shape)


class _RemoteHDU:
    """An image HDU of a remote file: its header, and its pixels as a `RangeSection`."""

    def __init__(self, name, header, shape, section):
        self.name, self.header, self.shape, self.section = name, header, tuple(shape), section


class _RemoteHDUList(list):
    def __getitem__(self, key):
        if isinstance(key, str):
            for hdu in self:
                if hdu.name == key:
                    return hdu
            raise KeyError(key)
        return super().__getitem__(key)

    def __contains__(self, name):
        return any(hdu.name == name for hdu in self)


_PIXEL_PLANES = ("IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF")


class LayoutCache:
    """What the headers of remote files said, kept for the next cutout of the same file (thread-safe, bounded).

    A layout is a list with, per HDU, either ``(name, header, data_offset, shape, bitpix)`` for a pixel plane or
    the small HDU itself (PRIMARY, WCS-WAVE), read whole.
    """

    def __init__(self, max_files=1024):
        self.max_files = int(max_files)
        self._layouts = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._layouts:
                self._layouts.move_to_end(key)
                return self._layouts[key]
            return None

    def put(self, key, layout):
        with self._lock:
            self._layouts[key] = layout
            self._layouts.move_to_end(key)
            while len(self._layouts) > self.max_files:
                self._layouts.popitem(last=False)


def _read_layout(ranges, size, block_size):
    from astropy.io import fits

    layout = []
    raw = RemoteFile(ranges, size, block_size)
    with fits.open(io.BufferedReader(raw, buffer_size=2880), lazy_load_hdus=True) as hdul:
        for index in range(len(hdul)):
            hdu = hdul[index]
            if hdu.name in _PIXEL_PLANES and hdu.header.get("NAXIS", 0) >= 2:
                layout.append((hdu.name, hdu.header.copy(), hdu.fileinfo()["datLoc"], hdu.shape,
                               int(hdu.header["BITPIX"])))
            else:
                layout.append(hdu.copy())  # PRIMARY and WCS-WAVE: small, read whole
    return layout


def remote_cutout(fs, path, ra, dec, size_deg, *, block_size=16_384, source=None, retry=_no_retry, layouts=None,
                  merge_gap=0):
    """Cutout of a remote Level-2 file with only the needed bytes fetched.

    Parameters
    ----------
    fs : fsspec filesystem
        S3 or HTTP.
    retry : callable
        ``retry(what, call)`` runs ``call()`` with the caller's retry policy; applied to every single request.
    layouts : `LayoutCache`, optional
        Headers of files read before (keyed by ``source``); the file's are added after reading them.
    merge_gap : int
        Pixel ranges less than this many bytes apart are fetched as one request (0: one request per row).

    Returns
    -------
    hdulist, bytes_fetched, round_trips
    """
    from astropy.io import fits

    source = source or path
    ranges = _Ranges(fs, path, retry, merge_gap)
    layout = layouts.get(source) if layouts is not None else None
    if layout is None:
        size = retry(f"{source} (size)", lambda: fs.size(path))
        ranges.round_trips += 1
        layout = _read_layout(ranges, size, block_size)
        if layouts is not None:
            layouts.put(source, layout)
    hdul = _RemoteHDUList()
    for entry in layout:
        if isinstance(entry, tuple):
            name, header, offset, shape, bitpix = entry
            hdul.append(_RemoteHDU(name, header, shape, RangeSection(ranges, offset, shape, bitpix)))
        else:
            hdul.append(entry)
    _prefetch_cutout(ranges, hdul, ra, dec, size_deg, source)
    cut = make_cutout(hdul, ra, dec, size_deg, source=source, psf="nearest")
    cut = fits.HDUList([h.copy() for h in cut])  # detach from the layout cache
    return cut, ranges.bytes_fetched, ranges.round_trips


def _prefetch_cutout(ranges, hdul, ra, dec, size_deg, source):
    """Request every row `make_cutout` will read, and the PSF plane, in one round trip."""
    if "IMAGE" not in hdul:
        return  # make_cutout says what is wrong
    _, (x0, x1, y0, y1), parent = cutout_geometry(hdul["IMAGE"].header, hdul["IMAGE"].shape, ra, dec, size_deg,
                                                  source=source)
    starts, ends = [], []
    for hdu in hdul:
        if not isinstance(hdu, _RemoteHDU):
            continue
        if hdu.name == "PSF" and len(hdu.shape) == 3:
            k0, _ = nearest_psf_plane(hdu.header, hdu.shape[0], *parent, source=source)
            key = slice(k0, k0 + 1)
        elif hdu.name != "PSF" and len(hdu.shape) == 2:
            key = (slice(y0, y1), slice(x0, x1))
        else:
            continue
        more_starts, more_ends, _ = hdu.section.byte_ranges(key)
        starts += more_starts
        ends += more_ends
    if starts:
        ranges.prefetch(starts, ends)
