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


def test_shared_file_temporaries_of_a_killed_writer_go_at_once(tmp_path):
    """A SIGKILLed download leaves its temporary; the next writer removes it at once when its process is gone (no
    six-hour wait), and keeps a live writer's and an unknown host's."""
    import signal
    import subprocess
    import sys

    from spherex_sdt.io.atomic import _HOST

    dest = tmp_path / "cache" / "file.fits"
    code = ("import sys, time; from spherex_sdt.io.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1], stale_after_s=6 * 3600) as tmp:\n"
            "    tmp.write_bytes(b'half'); print(tmp.name, flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", code, str(dest)], stdout=subprocess.PIPE, text=True)
    killed = writer.stdout.readline().strip()
    live = dest.parent / f".file.fits.{os.getpid()}@{_HOST}.abc.part.fits"
    other_host = dest.parent / ".file.fits.12345@elsewhere-node.abc.part.fits"
    for part in (live, other_host):
        part.write_bytes(b"x")
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert (dest.parent / killed).exists()
    with atomic_path(dest, stale_after_s=6 * 3600) as tmp:
        tmp.write_bytes(b"whole")
    assert not (dest.parent / killed).exists()
    assert live.exists() and other_host.exists()  # a live writer's, and one whose host cannot be asked
    assert dest.read_bytes() == b"whole"
