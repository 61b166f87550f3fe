"""The block reader returns what astropy.io.fits returns, on simulated and real SPHEREx files and on edge cases."""

import gzip

import numpy as np
import pytest
from astropy.io import fits

from spherex_sdt.io.fits_file import FitsReadError, HeaderCards, read_hdus

from ..conftest import REAL


def _assert_same_as_astropy(path):
    hdus = read_hdus(path)
    with fits.open(path, memmap=False) as hdul:
        assert [h.name for h in hdus] == [h.name for h in hdul]
        for ours, theirs in zip(hdus, hdul):
            keys = [k for k in dict.fromkeys(theirs.header.keys()) if k not in ("COMMENT", "HISTORY", "")]
            assert list(ours.header) == [k.upper() for k in keys]
            for key in keys:
                value = ours.header[key]
                assert value == theirs.header[key] and type(value) is type(theirs.header[key]), (path, key)
            if theirs.data is None:
                assert ours.data is None
            elif isinstance(theirs, fits.BinTableHDU):
                assert ours.data.dtype.names == theirs.data.dtype.names
                for name in theirs.data.dtype.names:
                    np.testing.assert_array_equal(ours.data[name], theirs.data[name])
                    assert ours.data[name].shape == theirs.data[name].shape
            else:
                np.testing.assert_array_equal(ours.data, theirs.data)
                assert ours.data.dtype == theirs.data.dtype.newbyteorder("=") and ours.data.dtype.isnative
    return hdus


def test_simulated_level2_files_read_as_astropy_reads_them(small_archive):
    root, index, _ = small_archive
    for key in index["access_url"][:6]:
        hdus = _assert_same_as_astropy(root / key)
        assert [h.name for h in hdus] == ["PRIMARY", "IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF", "WCS-WAVE"]
        # HIERARCH cards, found with or without the prefix as astropy finds them
        image = hdus[1].header
        assert "OMEGA_MEDIAN" in image and image["HIERARCH OMEGA_MEDIAN"] == image["omega_median"]


@pytest.mark.parametrize("path", sorted((REAL / "qr1-ngc6888-cutouts").glob("*.fits"))[:8]
                         + [REAL / "calibration" / "spectral_channels_spx_cal-sch-v1-2026-106.fits"],
                         ids=lambda p: p.name[:40])
def test_real_files_read_as_astropy_reads_them(path):
    _assert_same_as_astropy(path)


def _write(tmp_path, name, hdul):
    path = tmp_path / name
    hdul.writeto(path)
    return path


def test_card_values_of_every_form(tmp_path):
    header = fits.Header()
    header["STR"] = "it's  "  # the quote is doubled in the card; trailing blanks are not significant
    header["LEAD"] = "  lead"
    header["EMPTY"] = ""
    header["LOGIC"], header["FALSE"] = True, False
    header["INT"], header["NEG"] = 42, -7
    header["FLOAT"], header["EXP"] = 1.5, -2.5e-12
    header["CPLX"] = complex(1, -2)
    header["LONGSTR"] = "a long value " * 12  # CONTINUE cards
    header["HIERARCH L2 N_HOT"] = 3
    header["DUP"] = 1
    header.append(("DUP", 2))
    header["UNDEF"] = None
    header.add_comment("a comment card")
    cards = fits.Card.fromstring("DEXP    =              1.25D+3 / D exponent")
    header.append(cards)
    path = _write(tmp_path, "cards.fits", fits.HDUList([fits.PrimaryHDU(header=header)]))
    _assert_same_as_astropy(path)
    ours = read_hdus(path)[0].header
    assert ours["str"] == "it's" and ours["LEAD"] == "  lead" and ours["DEXP"] == 1250.0
    assert ours["DUP"] == 1 and ours["LONGSTR"] == ("a long value " * 12).rstrip()
    assert ours["L2 N_HOT"] == 3 and "COMMENT" not in ours
    with pytest.raises(KeyError, match="ABSENT"):
        ours["ABSENT"]
    assert ours.get("ABSENT", "default") == "default"
    assert ours.to_header()["CPLX"] == complex(1, -2)


@pytest.mark.parametrize("kind", ["scaled-int", "compressed", "gzip", "variable-length", "unsigned", "text-column",
                                  "short-tdim"])
def test_files_it_does_not_decode_go_to_astropy(tmp_path, kind):
    data = np.arange(20, dtype=np.float32).reshape(4, 5)
    if kind == "scaled-int":
        hdu = fits.ImageHDU(data=np.arange(20, dtype=np.int16).reshape(4, 5), name="SCALED")
        hdu.header["BSCALE"], hdu.header["BZERO"] = 2.0, 10.0
        hdul = fits.HDUList([fits.PrimaryHDU(), hdu])
    elif kind == "unsigned":
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.arange(20, dtype=np.uint16), name="U")])
    elif kind == "compressed":
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data=data, name="COMP")])
    elif kind == "text-column":
        columns = [fits.Column(name="NAME", format="8A", array=np.array(["a", "bb  c"])),
                   fits.Column(name="V", format="2E", array=np.ones((2, 2)))]
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns, name="TXT")])
    elif kind == "short-tdim":
        column = fits.Column(name="V", format="6E", dim="(2,2)", array=np.arange(8.0).reshape(2, 2, 2))
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([column], name="TDIM")])
    elif kind == "variable-length":
        column = fits.Column(name="V", format="PJ()", array=np.array([[1, 2], [3]], dtype=object))
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([column], name="VLA")])
    else:
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="PLAIN")])
    path = _write(tmp_path, "file.fits", hdul)
    if kind == "gzip":
        path.with_suffix(".fits.gz").write_bytes(gzip.compress(path.read_bytes()))
        path = path.with_suffix(".fits.gz")
    hdus = read_hdus(path)
    with fits.open(path) as reference:
        assert [h.name for h in hdus] == [h.name for h in reference]
        last = reference[-1].data
        if kind == "variable-length":
            assert [list(v) for v in hdus[-1].data["V"]] == [[1, 2], [3]]
        elif kind in ("text-column", "short-tdim"):
            for name in last.dtype.names:
                np.testing.assert_array_equal(hdus[-1].data[name], last[name])
            if kind == "text-column":
                assert list(hdus[-1].data["NAME"]) == ["a", "bb  c"]  # str, as astropy gives it
        else:
            np.testing.assert_array_equal(hdus[-1].data, last)
            assert hdus[-1].data.dtype == last.dtype.newbyteorder("=")


def test_broken_files_raise_and_say_where(tmp_path):
    good = _write(tmp_path, "good.fits", fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((50, 50)))]))
    data = good.read_bytes()
    (tmp_path / "short.fits").write_bytes(data[: len(data) - 2880])
    with pytest.raises(FitsReadError, match=r"HDU 1 needs \d+ bytes, the file has \d+ \(truncated\)"):
        read_hdus(tmp_path / "short.fits")
    (tmp_path / "noend.fits").write_bytes(data[:2880 + 80 * 3])
    with pytest.raises(FitsReadError, match=r"HDU 1 at byte 2880 has no END card"):
        read_hdus(tmp_path / "noend.fits")
    (tmp_path / "text.fits").write_text("hello")
    with pytest.raises(FitsReadError, match="SIMPLE"):
        read_hdus(tmp_path / "text.fits")


def test_header_view_of_an_astropy_header_behaves_the_same():
    header = fits.Header([("A", 1), ("HIERARCH LONG KEY", "x"), ("COMMENT", "c")])
    view = HeaderCards.from_header(header)
    assert list(view) == ["A", "LONG KEY"] and view["a"] == 1 and view["HIERARCH LONG KEY"] == "x"
    assert "COMMENT" not in view and view.to_header() == header


def test_padding_after_the_last_hdu_is_read_as_astropy_reads_it(tmp_path):
    path = _write(tmp_path, "padded.fits", fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((5, 7)))]))
    path.write_bytes(path.read_bytes() + b"\0" * 5760)
    hdus = _assert_same_as_astropy(path)
    assert len(hdus) == 2


def test_any_fast_path_failure_falls_back_to_astropy(tmp_path, monkeypatch):
    from spherex_sdt.io import fits_file

    path = _write(tmp_path, "ok.fits", fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((5, 7)), name="X")]))

    def refuses(buffer):
        raise FitsReadError("the block reader refused this file")

    monkeypatch.setattr(fits_file, "_read_plain", refuses)
    hdus = read_hdus(path)
    assert [h.name for h in hdus] == ["PRIMARY", "X"] and hdus[1].data.shape == (5, 7)
    (tmp_path / "junk.fits").write_bytes(path.read_bytes()[:2880] + b"XTENSION= 'IMAGE' " + b"\1" * 3000)
    with pytest.raises(FitsReadError, match="the block reader refused this file; astropy: "):
        read_hdus(tmp_path / "junk.fits")


def test_checksums_agree_with_astropy_and_catch_one_flipped_byte(tmp_path):
    from spherex_sdt.io.fits_file import checksum_ok, datasum, hdu_spans

    rng = np.random.default_rng(3)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.normal(size=(31, 17)).astype(np.float32), name="A"),
                         fits.ImageHDU(rng.integers(0, 2**31, (9, 4), dtype=np.int32), name="B"),
                         fits.ImageHDU(np.zeros((3, 3), np.float32), name="ZERO")])
    path = tmp_path / "sums.fits"
    hdul.writeto(path, checksum=True)
    buffer = path.read_bytes()
    spans = hdu_spans(buffer)
    with fits.open(path) as reference:
        for (_, start, offset, size), theirs in zip(spans, reference):
            data = buffer[offset:offset + -(-size // 2880) * 2880]
            assert str(datasum(data)) == theirs.header["DATASUM"]
            assert checksum_ok(buffer[start:offset], data) is True
    header, start, offset, size = spans[1]
    flipped = bytearray(buffer)
    flipped[offset + 100] ^= 0x10
    assert checksum_ok(bytes(flipped[start:offset]), bytes(flipped[offset:offset + 2880 * 1])) is False
    flipped = bytearray(buffer)
    flipped[start + 80 * 5 + 20] ^= 0x01  # a header byte: DATASUM still agrees, CHECKSUM does not
    assert checksum_ok(bytes(flipped[start:offset]), buffer[offset:offset + 2880]) is False
