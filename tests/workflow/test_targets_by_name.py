"""Targets by name and one-line runs: names resolved once and frozen, reused offline, failing before any job when
they cannot be resolved; `spherex-sdt run` for one target; a requested target not in the list (dry runs only)."""

import sys

import pytest
from astropy.table import Table

from spherex_sdt import cli, targets

from ..conftest import ROOT
from .helpers import job_counts, snakemake

pytestmark = pytest.mark.slow

NETGUARD = f"{sys.executable} {ROOT / 'tests' / 'netguard.py'}"


def _freeze(path, rows):
    table = Table(rows=[(n, ra, dec, "stand_in", "2026-01-01T00:00:00+00:00") for n, ra, dec in rows],
                  names=("name", "ra_deg", "dec_deg", "resolver", "resolved_utc"))
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write(path, format="ascii.ecsv")


def test_frozen_names_are_reused_offline(tmp_path):
    (tmp_path / "targets.csv").write_text("target,name\nngc6888,NGC 6888\n# by position too\ncosmos,,\n")
    (tmp_path / "test.yaml").write_text(f"targets: {tmp_path}/targets.csv\n")
    _freeze(tmp_path / "results" / "resolved_names.ecsv", [("NGC 6888", 303.06, 38.35), ("cosmos", 150.1, 2.2)])
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NETWORK ATTEMPT" not in result.stdout + result.stderr
    assert job_counts(result.stdout + result.stderr)["search_images"] == 2


def test_unresolvable_name_fails_before_any_job(tmp_path):
    """Offline (the guard refuses the resolver's connection), a name not frozen stops planning with line and name."""
    (tmp_path / "targets.csv").write_text("target,ra_deg,dec_deg\ncosmos,150.1,2.2\n\nngc6888,,\n")
    (tmp_path / "test.yaml").write_text(f"targets: {tmp_path}/targets.csv\n")
    result = snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"target list {tmp_path}/targets.csv, line 4, column target: cannot resolve the name 'ngc6888'" in output
    assert "Job stats" not in output and not (tmp_path / "results" / "resolved_names.ecsv").exists()


def test_requested_target_not_in_the_list_is_a_clear_error(tmp_path):
    (tmp_path / "targets.csv").write_text("target,ra_deg,dec_deg\nm101,210.80227,54.34895\n")
    (tmp_path / "test.yaml").write_text(f"targets: {tmp_path}/targets.csv\n")
    result = snakemake(tmp_path, "-n", "results/m102/D2-D4/explore.html")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "target 'm102' is not in the target list" in output and "(its targets: m101)" in output
    assert "KeyError" not in output and "InputFunctionException" not in output


def test_run_by_position(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "20:12:14.4", "+38:21:00", "--pairs", "D2-D4", "D1-D4", "--snakemake", NETGUARD,
                     "--snakefile", str(ROOT / "Snakefile"), "--", "-n", "--quiet", "rules"])
    assert code == 0
    written = Table.read(tmp_path / ".spherex-sdt" / "J201214.4+382100.csv", format="ascii.csv")
    assert written["ra_deg"][0] == pytest.approx(303.06) and written["dec_deg"][0] == pytest.approx(38.35)


def test_run_by_name_uses_the_frozen_position(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    _freeze(tmp_path / "results" / "resolved_names.ecsv", [("NGC 6888", 303.06, 38.35)])

    def offline(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(targets, "sesame", offline)
    code = cli.main(["run", "NGC", "6888", "--snakemake", NETGUARD, "--snakefile", str(ROOT / "Snakefile"),
                     "--", "-n"])
    output = capfd.readouterr()
    assert code == 0, output.err[-3000:]
    assert "NGC 6888 = NGC_6888 at RA 303.060000, Dec +38.350000" in output.err
    assert "NETWORK ATTEMPT" not in output.out + output.err
    assert job_counts(output.out + output.err)["search_images"] == 1


def test_run_by_unresolvable_name_stops_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def stand_in(name):
        raise ValueError(f"Unable to find coordinates for name '{name}'")

    monkeypatch.setattr(targets, "sesame", stand_in)
    code = cli.main(["run", "No Such Object", "--snakemake", "false"])
    err = capsys.readouterr().err
    assert code == 2
    assert "line 2, column name: cannot resolve the name 'No Such Object'" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("words", "match"), [
    pytest.param(["400", "10"], r"RA 400 must be in \[0, 360\)", id="ra-out-of-range"),
    pytest.param(["m101", "--name", "a" + "bcdefghij" * 8], r"73 characters long; at most 64 are allowed",
                 id="long-name"),
])
def test_run_rejects_bad_targets(tmp_path, monkeypatch, capsys, words, match):
    import re

    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", *words, "--snakemake", "false"]) == 2
    assert re.search(match, capsys.readouterr().err)
