"""The small simulated workflow run that several test modules compare against."""

import pytest

from .helpers import CHANNELS, CONFIG, snakemake


@pytest.fixture(scope="session", name="run")
def fixture_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "targets.csv").write_text("target,ra_deg,dec_deg\nfield-1,150.7817877,3.3502204\n")
    (workdir / "test.yaml").write_text(CONFIG.format(channels=CHANNELS, workdir=workdir, radii="[2.0, 3.0, 4.0]"))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "NETWORK ATTEMPT" not in result.stderr
    return workdir, result


