"""The HDUs of a FITS cutout, read straight from its 2880-byte blocks, with card values parsed on demand; and the
FITS block layout, byte order and checksums shared by every module that handles FITS bytes.

astropy.io.fits spends some 10 µs of Python on every header card it touches (card objects, keyword checks,
configuration look-ups). A SPHEREx cutout carries ~640 cards in seven HDUs, so opening one and finding its HDUs by
EXTNAME cost ~6 ms, more than the photometry done on it. Here a header is indexed by slicing its 80-character
cards, and a value is parsed only when it is asked for.

Only what can be decoded exactly is read this way: uncompressed image HDUs without scaling and binary tables of
fixed-size numeric columns. Any other file (gzip, tile compression, BSCALE/BZERO, heap columns) is
read by astropy and presented in the same form, so the caller never sees the difference; so is any card value
beyond the plain forms (CONTINUE'd strings, complex numbers), which astropy's card parser reads. Any failure of this
fast path (a file it finds malformed, e.g. padding after the last HDU) is handed to astropy before an error is
raised. Tests compare both readers on simulated and real SPHEREx files.

This reader is for cutouts (tens of kB, read whole): full frames are read through astropy with memory mapping
(`spherex_sdt.io.read_spectral_image`).

The FITS checksum convention (Seaman et al., FITS standard 4.0 appendix J) is implemented with numpy here:
`datasum`, `checksum_value`, `checksum_ok`. Cutouts written by this package carry CHECKSUM and DATASUM in every HDU;
cache hits are checked with them (`spherex_sdt.archive.cache`) in microseconds, where astropy needs milliseconds.
"""

import re
from collections.abc import Mapping
from functools import cached_property

import numpy as np

__all__ = ["BITPIX_DTYPE", "FitsReadError", "HeaderCards", "Hdu", "read_hdus", "hdu_spans", "native", "datasum",
           "checksum_value", "checksum_ok", "padded"]

BLOCK = 2880
CARD = 80
_END_CARD = b"END     "  # the keyword field; what follows it on the card is not checked, as in astropy
_NON_VALUE = {"COMMENT", "HISTORY", "", "CONTINUE"}
_INTEGER = re.compile(r"[+-]?\d+")
_STRING = re.compile(r"'((?:[^']|'')*)'")
BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
"""numpy dtype of FITS image pixels by BITPIX (FITS data are big-endian)."""
_TFORM = re.compile(r"\s*(\d*)([LXBIJKAEDCMPQ])")
_TFORM_DTYPE = {"B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}
# text (A), logical (L), bit (X) and heap (P, Q) columns are left to astropy, which decodes them


class FitsReadError(ValueError):
    """The file is not FITS, or is truncated or malformed (the message says where)."""


class _NeedsAstropy(Exception):
    """The file is valid FITS that this reader does not decode itself; astropy reads it."""


class HeaderCards(Mapping):
    """A read-only view of one FITS header: ``cards[key]``, ``get``, ``in``, keys in file order.

    Look-ups ignore case, like astropy's. A repeated keyword gives its first value; COMMENT, HISTORY and blank
    cards are not keys. `to_header` gives the equivalent `astropy.io.fits.Header` (built on request).

    Parameters
    ----------
    text : str
        The header's cards, 80 characters each (END and padding may be included).
    """

    def __init__(self, text):
        self._text = text
        self._astropy = None
        self._index = {}  # keyword -> (card start, value field start)
        self._values = {}
        for start in range(0, len(text) - CARD + 1, CARD):
            keyword = text[start:start + 8].rstrip()
            if keyword == "END":
                break
            if keyword == "HIERARCH":
                # ESO convention: 'HIERARCH <words> = value'; astropy finds it with or without the prefix
                equals = text.find("=", start + 9, start + CARD)
                if equals < 0:
                    continue
                keyword = " ".join(text[start + 9:equals].split())
                self._index.setdefault(keyword.upper(), (start, equals + 1))
                continue
            if keyword in _NON_VALUE or text[start + 8:start + 10] != "= ":
                continue  # commentary cards, and keywords without a value indicator, have no value
            self._index.setdefault(keyword.upper(), (start, start + 10))

    @classmethod
    def from_header(cls, header):
        """The view of an astropy Header (its values are looked up there)."""
        view = cls("")
        view._astropy = header
        view._index = {key.upper(): None for key in header if key.upper() not in _NON_VALUE}
        return view

    @staticmethod
    def _key(key):
        """The index key of a keyword: upper case, 'HIERARCH ' prefix dropped (astropy finds it either way)."""
        key = key.upper()
        return " ".join(key[9:].split()) if key.startswith("HIERARCH ") else key

    def __getitem__(self, key):
        key = self._key(key)
        try:
            return self._values[key]
        except KeyError:
            pass
        position = self._index[key]  # KeyError names the keyword, as astropy's does
        value = self._astropy[key] if self._astropy is not None else self._parse(*position)
        self._values[key] = value
        return value

    def __contains__(self, key):
        return isinstance(key, str) and self._key(key) in self._index

    def __iter__(self):
        return iter(self._index)

    def __len__(self):
        return len(self._index)

    def get(self, key, default=None):
        return self[key] if key in self else default  # noqa: SIM401  this is the mapping's own get

    def to_header(self):
        """The same header as an `astropy.io.fits.Header` (a new one each call)."""
        from astropy.io import fits

        if self._astropy is not None:
            return self._astropy.copy()
        return fits.Header.fromstring(self._text)

    def _parse(self, start, value_start):
        field = self._text[value_start:start + CARD].strip()
        if field.startswith("'"):
            match = _STRING.match(field)
            if match and not match.group(1).endswith("&"):
                return match.group(1).replace("''", "'").rstrip()
        else:
            token = field.split("/", 1)[0].strip()
            if not token:
                return None  # an undefined value, which astropy's Header also gives as None
            if token in ("T", "F"):
                return token == "T"
            if _INTEGER.fullmatch(token):
                return int(token)
            try:
                return float(token.replace("D", "E"))
            except ValueError:
                pass
        # anything else (CONTINUE'd strings, complex or undefined values, odd spacing): astropy's parser decides
        from astropy.io import fits

        text = self._text[start:start + CARD]
        following = start + CARD
        while self._text[following:following + 8] == "CONTINUE":
            text += self._text[following:following + CARD]
            following += CARD
        value = fits.Card.fromstring(text).value
        return None if isinstance(value, fits.card.Undefined) else value


class Hdu:
    """One HDU: its ``name`` (EXTNAME, or PRIMARY), ``header`` (`HeaderCards`) and ``data``.

    ``data`` is None without data, a native-byte-order ndarray for an image, and a record array (one record per
    row, columns by TTYPE, shaped by TDIM) for a binary table; it is decoded when first asked for.
    """

    def __init__(self, name, header, *, buffer=None, offset=0, data=None):
        self.name = name
        self.header = header
        self._buffer, self._offset = buffer, offset
        if buffer is None:
            self.__dict__["data"] = data

    @cached_property
    def data(self):
        header = self.header
        naxis = _axes(header)
        if not naxis or 0 in naxis:
            return None
        if header.get("XTENSION", "IMAGE") == "BINTABLE":
            dtype = _table_dtype(header)
            return np.frombuffer(self._buffer, dtype=dtype, count=naxis[1], offset=self._offset)
        raw = np.frombuffer(self._buffer, dtype=BITPIX_DTYPE[int(header["BITPIX"])], count=int(np.prod(naxis)),
                            offset=self._offset)
        return native(raw.reshape(naxis[::-1]))


def _table_dtype(header):
    fields = []
    for k in range(1, int(header["TFIELDS"]) + 1):
        match = _TFORM.match(str(header[f"TFORM{k}"]))
        repeat, code = int(match.group(1) or 1), match.group(2)
        shape = (repeat,) if repeat != 1 else ()
        if f"TDIM{k}" in header:
            shape = _tdim(header[f"TDIM{k}"])
        fields.append((header.get(f"TTYPE{k}", f"col{k}"), _TFORM_DTYPE[code], shape))
    return np.dtype(fields)


def _tdim(value):
    """numpy shape of a TDIM value: '(2,9,9)' (FITS order, fastest first) -> (9, 9, 2)."""
    try:
        return tuple(int(n) for n in str(value).strip(" ()").split(","))[::-1]
    except ValueError:
        raise _NeedsAstropy(f"TDIM {value!r}") from None


def _plain_or_raise(header, position):
    """Raise `_NeedsAstropy` unless this reader decodes the HDU exactly."""
    if header.get("GROUPS") is True:
        raise _NeedsAstropy("random groups")
    if header.get("ZIMAGE") is True or header.get("ZTABLE") is True:
        raise _NeedsAstropy("tile-compressed HDU")
    kind = header.get("XTENSION", "IMAGE") if position else "IMAGE"
    if kind == "IMAGE":
        if header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0:
            raise _NeedsAstropy("scaled image")
        if int(header["BITPIX"]) not in BITPIX_DTYPE:
            raise FitsReadError(f"HDU {position}: BITPIX = {header['BITPIX']} is not a FITS value")
    elif kind == "BINTABLE":
        row = 0
        for k in range(1, int(header["TFIELDS"]) + 1):
            if f"TSCAL{k}" in header or f"TZERO{k}" in header:
                raise _NeedsAstropy("scaled column")
            match = _TFORM.match(str(header.get(f"TFORM{k}", "")))
            if not match or match.group(2) not in _TFORM_DTYPE:
                raise _NeedsAstropy("column type decoded by astropy")  # text, logical, bit and heap columns
            repeat = int(match.group(1) or 1)
            if f"TDIM{k}" in header and int(np.prod(_tdim(header[f"TDIM{k}"]))) != repeat:
                raise _NeedsAstropy("TDIM that does not fill its column")
            row += repeat * np.dtype(_TFORM_DTYPE[match.group(2)]).itemsize
        if row != int(header["NAXIS1"]) or int(header.get("PCOUNT", 0)):
            raise _NeedsAstropy("table with padding or a heap")
    else:
        raise _NeedsAstropy(f"{kind} extension")


def _axes(header):
    """NAXIS1, NAXIS2, ... in FITS order."""
    return [int(header[f"NAXIS{k}"]) for k in range(1, int(header["NAXIS"]) + 1)]


def _data_size(header):
    naxis = _axes(header)
    if not naxis:
        return 0
    return abs(int(header["BITPIX"])) // 8 * int(header.get("GCOUNT", 1)) * (
        int(header.get("PCOUNT", 0)) + int(np.prod(naxis)))


def _blocks(n):
    return -(-n // BLOCK) * BLOCK


def padded(n):
    """``n`` bytes rounded up to whole 2880-byte FITS blocks."""
    return _blocks(n)


def native(array):
    """``array`` in native byte order and C order (FITS data are big-endian; sep and numba refuse them)."""
    array = np.asarray(array)
    if array.dtype.isnative:
        return np.ascontiguousarray(array)
    return np.ascontiguousarray(array.astype(array.dtype.newbyteorder("=")))


def hdu_spans(buffer, *, plain=False):
    """The HDUs of a FITS byte string: ``(header, header_start, data_start, data_size)`` for each, in file order.

    ``header`` is a `HeaderCards`. The walk checks the structure only: every header ends with an END card and every
    HDU's data (of the size its NAXISn, BITPIX, PCOUNT and GCOUNT give) lies inside the buffer, which must end at the
    last HDU's padded end (zero padding after it is allowed). With ``plain=True`` HDUs this reader does not decode
    raise `_NeedsAstropy`.

    Raises
    ------
    FitsReadError
        Saying which HDU and byte.
    """
    if not buffer.startswith(b"SIMPLE  ="):
        raise _NeedsAstropy("compressed (gzip, bzip2, zip) or not FITS: astropy decides")
    spans, start = [], 0
    while start < len(buffer):
        if spans and not buffer[start:].strip(b"\0"):
            break  # zero padding after the last HDU, which astropy accepts too
        end = start
        while True:
            end = buffer.find(_END_CARD, end)
            if end < 0:
                raise FitsReadError(f"HDU {len(spans)} at byte {start} has no END card (truncated?)")
            if (end - start) % CARD == 0:
                break
            end += 1
        try:
            text = buffer[start:end].decode("ascii")
        except UnicodeDecodeError:
            raise _NeedsAstropy("non-ASCII header") from None
        header = HeaderCards(text)
        try:
            if plain:
                _plain_or_raise(header, len(spans))
            size = _data_size(header)
        except FitsReadError:
            raise
        except (KeyError, ValueError) as exc:
            raise FitsReadError(f"HDU {len(spans)}: structural keyword missing or invalid ({exc})") from None
        offset = start + _blocks(end + CARD - start)
        if offset + size > len(buffer):
            raise FitsReadError(f"HDU {len(spans)} needs {offset + size} bytes, the file has {len(buffer)} "
                                "(truncated)")
        spans.append((header, start, offset, size))
        start = offset + _blocks(size)
    return spans


def _read_plain(buffer):
    hdus = []
    for header, _, offset, _ in hdu_spans(buffer, plain=True):
        name = str(header.get("EXTNAME", "PRIMARY" if not hdus else "")).strip()
        hdus.append(Hdu(name, header, buffer=buffer, offset=offset))
    return hdus


def _native_image(data):
    if data is None or data.dtype.names is not None:
        return data  # tables stay astropy's FITS_rec, which applies column scaling on access
    return native(data)


def _read_with_astropy(path):
    """The HDUs as astropy reads them; its warnings that the file is truncated or corrupt are raised as errors
    (astropy would otherwise return the HDUs before the damage and carry on)."""
    import warnings

    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", AstropyUserWarning)  # VerifyWarning is one
        with fits.open(path, memmap=False) as hdul:
            return [Hdu(hdu.name, HeaderCards.from_header(hdu.header), data=_native_image(hdu.data))
                    for hdu in hdul]


def read_hdus(path):
    """Every HDU of a FITS file (a cutout: it is read whole), in file order.

    Files this reader does not decode, and files it finds malformed, are read by astropy; an error is raised only
    when astropy cannot read the file either.

    Raises
    ------
    FitsReadError
        If the file is not FITS or is truncated (the message says which HDU and byte, and what astropy said).
    """
    with open(path, "rb") as handle:
        buffer = handle.read()
    try:
        return _read_plain(buffer)
    except _NeedsAstropy:
        fast_error = None
    except FitsReadError as exc:
        fast_error = exc
    try:
        return _read_with_astropy(path)
    except (OSError, ValueError, TypeError, IndexError, KeyError, Warning) as exc:
        where = f"{fast_error}; " if fast_error else ""
        raise FitsReadError(f"{where}astropy: {exc}") from exc


# -- FITS checksums (FITS standard 4.0, appendix J) ----------------------------------------------------------------
_EXCLUDE = frozenset(range(0x3A, 0x41)) | frozenset(range(0x5B, 0x61))  # punctuation not allowed in the encoding


def _sum32(buffer, start=0):
    """32-bit ones' complement sum of a buffer of big-endian words (its length a multiple of 4)."""
    words = np.frombuffer(buffer, dtype=">u4")
    total = int(start)
    step = 1 << 22  # uint64 partial sums cannot overflow for 2**32 words of < 2**32; chunks bound the memory
    for k in range(0, words.size, step):
        total += int(words[k:k + step].sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def datasum(data):
    """DATASUM of an HDU's data (its padded bytes), as the unsigned integer the card holds as a string."""
    return _sum32(data) if len(data) else 0


def _encode(value):
    """The 16-character ASCII encoding of a 32-bit checksum (appendix J)."""
    out = bytearray(16)
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = byte // 4 + 0x30, byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                while ch[j] in _EXCLUDE or ch[j + 1] in _EXCLUDE:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            out[4 * j + i] = ch[j]
    return (out[15:] + out[:15]).decode("ascii")  # rotated one place right


def checksum_value(header_bytes, data_sum):
    """CHECKSUM of an HDU whose header (its padded bytes, with ``CHECKSUM = '0000000000000000'`` and the DATASUM
    card already in place) is ``header_bytes`` and whose data sum is ``data_sum``."""
    return _encode(0xFFFFFFFF - _sum32(header_bytes, data_sum))


def checksum_ok(header_bytes, data):
    """True unless the HDU's CHECKSUM or DATASUM card disagrees with its bytes; None when it carries neither.

    ``header_bytes`` and ``data`` are the HDU's padded header and padded data, as in the file.
    """
    header = HeaderCards(header_bytes.decode("ascii", "replace"))
    if "CHECKSUM" not in header and "DATASUM" not in header:
        return None
    data_sum = datasum(data)
    if "DATASUM" in header:
        try:
            if int(str(header["DATASUM"]).strip()) != data_sum:
                return False
        except ValueError:
            return False
    if "CHECKSUM" in header:
        return _sum32(header_bytes, data_sum) == 0xFFFFFFFF
    return True
