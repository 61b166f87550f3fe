"""Cutouts from byte ranges of a remote Level-2 file (S3 or HTTP), fetching only the pixels a cutout needs.

Headers are read through a small block cache; then each cutout row of IMAGE, FLAGS, VARIANCE and ZODI is one byte
range (a 60-pixel row of a 2040-pixel plane is 240 of its 8160 bytes), and the PSF plane nearest the source is one
more. Row ranges are fetched concurrently with ``cat_ranges``; every request that fails or comes back short is
retried on its own, so one dropped request among hundreds does not restart the cutout. The result is the MEF
`make_cutout` writes.
"""

import io

import numpy as np

from .cutouts import make_cutout

__all__ = ["RangeSection", "RemoteFile", "TruncatedRead", "remote_cutout"]

_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _no_retry(what, call):
    return call()


class TruncatedRead(OSError):
    """A byte range came back shorter than asked (a dropped connection or a truncated body)."""


class _Ranges:
    """Fetches byte ranges of one remote file, checking lengths and retrying single failed ranges."""

    def __init__(self, fs, path, retry):
        self.fs, self.path, self.retry = fs, path, retry
        self.bytes_fetched = 0

    def _one(self, start, end):
        chunk = self.fs.cat_file(self.path, start=start, end=end)
        if len(chunk) != end - start:
            raise TruncatedRead(f"{self.path}: bytes {start}-{end - 1} came back as {len(chunk)} bytes")
        return chunk

    def fetch(self, starts, ends):
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

    def __getitem__(self, key):
        size = self.dtype.itemsize
        if len(self.shape) == 2:
            ys, xs = key
            y0, y1, _ = ys.indices(self.shape[0])
            x0, x1, _ = xs.indices(self.shape[1])
            row = self.shape[1] * size
            starts = [self.offset + y * row + x0 * size for y in range(y0, y1)]
            chunks = self.ranges.fetch(starts, [s + (x1 - x0) * size for s in starts])
            return np.frombuffer(b"".join(chunks), self.dtype).reshape(y1 - y0, x1 - x0)
        k0, k1, _ = (key[0] if isinstance(key, tuple) else key).indices(self.shape[0])
        plane = int(np.prod(self.shape[1:])) * size
        (chunk,) = self.ranges.fetch([self.offset + k0 * plane], [self.offset + k1 * plane])
        return np.frombuffer(chunk, self.dtype).reshape((k1 - k0,) + self.shape[1:])


class _RemoteHDU:
    """An HDU whose header is read and whose pixels come from byte ranges on demand."""

    def __init__(self, hdu, section):
        self.name, self.header, self.shape, self.section, self._hdu = hdu.name, hdu.header, hdu.shape, section, hdu

    def copy(self):
        return self._hdu.copy()


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


def remote_cutout(fs, path, ra, dec, size_deg, *, block_size=16_384, source=None, retry=_no_retry):
    """Cutout of a remote Level-2 file with only the needed bytes fetched.

    Parameters
    ----------
    fs : fsspec filesystem
        S3 or HTTP.
    retry : callable
        ``retry(what, call)`` runs ``call()`` with the caller's retry policy; applied to every single request.

    Returns
    -------
    hdulist, bytes_fetched
    """
    from astropy.io import fits

    source = source or path
    ranges = _Ranges(fs, path, retry)
    size = retry(f"{source} (size)", lambda: fs.size(path))
    raw = RemoteFile(ranges, size, block_size)
    with fits.open(io.BufferedReader(raw, buffer_size=2880), lazy_load_hdus=True) as hdul:
        wrapped = _RemoteHDUList()
        for index in range(len(hdul)):
            hdu = hdul[index]
            if hdu.name in ("IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF") and hdu.header.get("NAXIS", 0) >= 2:
                section = RangeSection(ranges, hdu.fileinfo()["datLoc"], hdu.shape, hdu.header["BITPIX"])
                wrapped.append(_RemoteHDU(hdu, section))
            else:
                wrapped.append(hdu)
        cut = make_cutout(wrapped, ra, dec, size_deg, source=source, psf="nearest")
        cut = fits.HDUList([h.copy() for h in cut])  # detach from the remote file
    return cut, ranges.bytes_fetched
