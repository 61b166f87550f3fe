"""The workflow through a real one-node Slurm (tools/slurm.sh) gives the products of a local run."""

import re
import subprocess
import sys

import pytest
import yaml

from ..conftest import ROOT
from .helpers import CHANNELS, CONFIG, assert_same_products

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", name="cluster")
def fixture_cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    subprocess.run([str(ROOT / "tools" / "slurm.sh"), "start", str(state)], check=True, timeout=120)
    yield state
    subprocess.run([str(ROOT / "tools" / "slurm.sh"), "stop", str(state)], timeout=60)


def test_slurm_profile_runs_jobs_through_sbatch(run, cluster, tmp_path):
    workdir, _ = run
    (tmp_path / "targets.csv").write_text((workdir / "targets.csv").read_text())
    config = yaml.safe_load(CONFIG.format(channels=CHANNELS, workdir=tmp_path, radii="[2.0, 3.0, 4.0]"))
    del config["simulation"]
    config["archive"]["root"] = str(workdir / "sim")  # the archive the local run simulated
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(config))
    cmd = ["timeout", "-s", "KILL", "1200", sys.executable, str(ROOT / "tests" / "netguard.py"),
           "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--workflow-profile", str(ROOT / "profiles" / "slurm"), "--configfile", str(tmp_path / "test.yaml"),
           "--jobs", "4", "--default-resources", "slurm_partition=debug", "mem_mb=1000", "runtime=30",
           # no accounting database here: poll with squeue (sacct would make the plugin wait forever)
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    job_ids = set(re.findall(r"SLURM jobid (\d+)", output))
    # the analysis group job (difference, extraction, selection, figures) and the spectra group job
    assert len(job_ids) >= 2, output[-3000:]
    submitted = re.findall(r"SLURM jobid \d+ \(log: [^)]*/slurm_logs/(group_analysis|group_spectra)", output)
    assert set(submitted) == {"group_analysis", "group_spectra"}, output[-3000:]
    assert "NETWORK ATTEMPT" not in output
    assert_same_products(*(d / "results" / "field-1" / "D2-D4" for d in (workdir, tmp_path)))
