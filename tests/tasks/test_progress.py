"""Progress lines for long loops in job logs: count, percentage, rate and ETA every N items and at the end."""

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from spherex_sdt.tasks.common import Progress


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_lines_every_n_items_with_rate_and_eta(caplog):
    clock = _Clock()
    progress = Progress(480, "cutouts", every=50, log=logging.getLogger("test.progress"), clock=clock)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(480):
            clock.now += 0.25  # 4 cutouts a second
            progress.step()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10  # at 50, 100, ..., 450, and the last one
    assert lines[0] == "cutouts: 50/480 (10 %), 4.0/s, ETA 1 min 48 s"  # 430 left at 4 per second
    assert lines[-1] == "cutouts: 480/480 (100 %), 4.0/s, 2 min 00 s in all"


def test_default_step_and_threads(caplog):
    progress = Progress(37, "cutouts", log=logging.getLogger("test.progress2"))
    assert progress.every == 4
    with caplog.at_level(logging.INFO, logger="test.progress2"), ThreadPoolExecutor(4) as pool:
        results = list(pool.map(progress.wrap(lambda k: k * k), range(37)))
    assert results == [k * k for k in range(37)] and progress.done == 37
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10 and lines[-1].startswith("cutouts: 37/37 (100 %)")


def test_failures_count_too():
    progress = Progress(2, "cutouts")

    def fail(_):
        raise OSError("boom")

    with pytest.raises(OSError):
        progress.wrap(fail)(1)
    assert progress.done == 1
