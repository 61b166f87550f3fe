"""Atomic writes: the product appears whole under its name, readable as an ordinary file, or not at all."""

import os
import stat

import pytest
from astropy.table import Table

from spherex_sdt.io import write_table
from spherex_sdt.io.atomic import atomic_path


def test_written_product_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_table(Table({"a": [1, 2]}), tmp_path / "t.ecsv")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "t.ecsv").stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)  # group and others can read it (mkstemp alone gives 0600)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.fits") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []
