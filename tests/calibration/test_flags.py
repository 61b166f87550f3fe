"""FLAGS bits are read from each file's own header and masks are built by bit, never by value."""

import numpy as np
import pytest
from astropy.io import fits

from spherex_sdt.calibration import bad_pixel_mask, flag_bits, flag_counts
from spherex_sdt.errors import DataFormatError

from ..conftest import REAL, config_section


@pytest.fixture(name="real_flags_header")
def fixture_real_flags_header():
    header = fits.Header()
    for line in (REAL / "archive-responses" / "qr2_flags_header_MP_lines.txt").read_text().splitlines():
        if "MP_" in line:
            header.append(fits.Card.fromstring(line.ljust(80)))
    return header


def test_bits_from_real_header(real_flags_header):
    bits = flag_bits(real_flags_header)
    assert bits["SOURCE"] == 21 and bits["TRANSIENT"] == 0 and bits["HALO"] == 28 and bits["MISSING_DATA"] == 9
    assert len(bits) == 22


def test_mask_by_bit_not_by_value(real_flags_header):
    bits = flag_bits(real_flags_header)
    source, overflow, hot, full = (1 << bits[n] for n in ("SOURCE", "OVERFLOW", "HOT", "FULLSAMPLE"))
    flags = np.array([[0, source, source | overflow, source | full], [hot, hot | source, overflow, full]], np.int32)
    bad = bad_pixel_mask(flags, bits, config_section("flags")["photometry_bad"])  # the default on-source list
    # SOURCE and FULLSAMPLE never make a pixel bad; OVERFLOW is not in the on-source list; HOT is, in any combination
    assert bad.tolist() == [[False, False, False, False], [True, True, False, False]]
    bad_bg = bad_pixel_mask(flags, bits, ("SOURCE", "OVERFLOW"))
    assert bad_bg.tolist() == [[False, True, True, True], [False, True, True, False]]


def test_names_the_file_does_not_declare_are_ignored():
    header = fits.Header([("MP_HOT", 10), ("MP_COLD", 11)])
    flags = np.array([[1 << 10, 1 << 22]], np.int32)
    assert bad_pixel_mask(flags, flag_bits(header), ["HOT", "GHOST"]).tolist() == [[True, False]]


def test_mskn_form_is_accepted():
    header = fits.Header([("MSKN0010", "HOT"), ("MSKN0021", "SOURCE")])
    assert flag_bits(header) == {"HOT": 10, "SOURCE": 21}


def test_header_without_declarations_is_an_error():
    with pytest.raises(DataFormatError, match="no MP_"):
        flag_bits(fits.Header([("EXTNAME", "FLAGS")]), source="x.fits FLAGS")


def test_flag_counts():
    bits = {"HOT": 10, "SOURCE": 21}
    flags = np.array([1 << 10, (1 << 10) | (1 << 21), 0], np.int32)
    assert flag_counts(flags, bits) == {"HOT": 2, "SOURCE": 1}
