"""Target lists: by position (decimal or sexagesimal) or by name, validated before any job runs with messages naming
file, line (as an editor counts it) and column; names resolved once and frozen (tests use a stand-in resolver)."""

import re

import numpy as np
import pytest
from astropy.table import Table

from spherex_sdt.errors import InvalidInputError
from spherex_sdt.targets import (MAX_NAME_LENGTH, TARGET_NAME_PATTERN, read_target_list, read_targets,
                                 target_slug, unknown_targets)

HEADER = "target,ra_deg,dec_deg\n"


@pytest.mark.parametrize(("text", "match"), [
    pytest.param("", r"the file is empty", id="empty-file"),
    pytest.param("# only a comment\n", r"the file is empty", id="comment-only"),
    pytest.param(HEADER, r"no targets below the header", id="header-only"),
])
def test_empty_target_lists(tmp_path, text, match):
    path = tmp_path / "targets.csv"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=match) as info:
        read_targets(path)
    assert str(path) in str(info.value)


# (content, line, column, what the message says): line as an editor counts it, column by name or number
CASES = [
    pytest.param("target,ra_deg\nm101,210.8\n", 1, None, r"missing column\(s\) dec_deg", id="missing-column"),
    pytest.param("name,ra,dec\nm101,210.8,54.3\n", 1, None, r"missing column\(s\) target", id="wrong-header"),
    pytest.param(HEADER + "m101,210.8,54.3\nbad,360.0,0\n", 3, "ra_deg", r"360 is outside \[0, 360\)", id="ra-360"),
    pytest.param(HEADER + "m101,-0.5,54.3\n", 2, "ra_deg", r"-0.5 is outside", id="ra-negative"),
    pytest.param(HEADER + "m101,210.8,90.5\n", 2, "dec_deg", r"90.5 is outside \[-90, 90\]", id="dec-above"),
    pytest.param(HEADER + "m101,210.8,-91\n", 2, "dec_deg", r"-91 is outside", id="dec-below"),
    pytest.param(HEADER + "m101,abc,1\n", 2, "ra_deg", r"'abc' is not a number", id="ra-text"),
    pytest.param(HEADER + "m101,nan,1\n", 2, "ra_deg", r"'nan' is not a number", id="ra-nan"),
    pytest.param(HEADER + "m101,1,1\nm101,2,2\n", 3, "target", r"duplicate name 'm101' \(first on line 2\)",
                 id="duplicate"),
    pytest.param(HEADER + "M101,1,1\nm101,2,2\n", 3, "target", r"differs only in case from 'M101'",
                 id="duplicate-in-case"),
    pytest.param(HEADER + "../etc,1,1\n", 2, "target", r"'\.\./etc' is not a valid name", id="path-name"),
    pytest.param(HEADER + ",1,1\n", 2, "target", r"'' is not a valid name", id="empty-name"),
    pytest.param(HEADER + "m101.,1,1\n", 2, "target", r"not ending with a dot", id="trailing-dot"),
    pytest.param(HEADER + "NGC 6888,1,1\n", 2, "target", r"for example target 'NGC_6888' with name 'NGC 6888'",
                 id="name-with-space"),
    # issue 16, 6 and 7: each was a silent wrong result, a traceback or an unclear message
    pytest.param(HEADER + "m101,15_0.78,54.3\n", 2, "ra_deg", r"'15_0\.78' is not a number", id="underscore"),
    pytest.param("target,ra_deg,dec_deg,ra_deg\nm101,1,2,3\n", 1, 4, r"column 'ra_deg' appears twice \(also "
                 r"column 2\)", id="repeated-column"),
    pytest.param("target,ra,ra_deg,dec\nm101,1,2,3\n", 1, 3, r"columns ra_deg and ra both given", id="alias-twice"),
    pytest.param("# my targets\n\n" + HEADER + "\n# next one is bad\nm101,1,2\n\nm102,1,x\n", 8, "dec_deg",
                 r"'x' is not a number", id="line-after-blanks-and-comments"),
    pytest.param(HEADER + "m101,1,2\nm102,1,2,galaxy\n", 3, 4, r"extra field 'galaxy': the row has 4 fields, the "
                 r"header 3", id="extra-field"),
    pytest.param(HEADER + "m101,1\n", 2, "dec_deg", r"empty, but ra_deg is given", id="missing-field"),
    pytest.param(HEADER + "x" * 300 + ",1,2\n", 2, "target", rf"300 characters long; at most {MAX_NAME_LENGTH}",
                 id="300-characters"),
    pytest.param(HEADER + "summary.ecsv,1,2\n", 2, "target", r"'summary\.ecsv' is the name of a file of the run",
                 id="product-name"),
    pytest.param(HEADER + "Resolved_Names.ecsv,1,2\n", 2, "target", r"file of the run \(results/resolved_names",
                 id="product-name-in-case"),
    pytest.param(HEADER + "nul,1,2\n", 2, "target", r"device name on Windows", id="device-name"),
    pytest.param(HEADER + "field-" + "ab" * 20 + ",1,2\n", 2, "target", r"'ab' repeated 20 times, which Snakemake",
                 id="periodic-name"),
    pytest.param(HEADER + "m101,20:12:61,38:21:00\n", 2, "ra_deg", r"'20:12:61' is not a number or an angle",
                 id="sexagesimal-seconds"),
    pytest.param(HEADER + "m101,25:00:00,38:21:00\n", 2, "ra_deg", r"not a number or an angle", id="ra-25-hours"),
    pytest.param(HEADER + "m101,20:12:07,+95:00:00\n", 2, "dec_deg", r"'\+95:00:00' = 95 degrees is outside",
                 id="dec-sexagesimal-95"),
]


@pytest.mark.parametrize(("content", "line", "column", "match"), CASES)
def test_bad_target_lists_name_file_line_and_column(tmp_path, content, line, column, match):
    path = tmp_path / "targets.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=match) as info:
        read_target_list(path)
    where = f"target list {path}, line {line}" + (f", column {column}:" if column is not None else ":")
    assert str(info.value).startswith(where), str(info.value)


def test_latin1_byte_names_file_line_and_column(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_bytes(b"target,ra_deg,dec_deg,note\nm101,210.8,54.3,ok\nm102,1,2,caf\xe9\n")
    with pytest.raises(InvalidInputError) as info:
        read_target_list(path)
    assert str(info.value).startswith(f"target list {path}, line 3, column note: byte 0xe9 is not UTF-8")
    assert "save it as UTF-8" in str(info.value)


def test_utf8_bom_and_crlf_are_read(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_bytes(b"\xef\xbb\xbftarget,ra_deg,dec_deg\r\nm101,210.80227,54.34895\r\n")
    table = read_targets(path)
    assert list(table["target"]) == ["m101"] and table["ra_deg"][0] == pytest.approx(210.80227)


def test_good_target_list(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("target,ra_deg,dec_deg,note\nm101,210.80227,54.34895,galaxy\nc-1,0,-90,,,\n")  # trailing commas
    table = read_targets(path)
    assert list(table["target"]) == ["m101", "c-1"] and table["dec_deg"][1] == -90.0
    assert list(table["position_from"]) == ["list", "list"] and list(table["line"]) == [2, 3]


def test_sexagesimal_and_aliases(tmp_path):
    """ra, dec as aliases; RA in hours (colons, spaces or h m s), Dec in degrees; decimal stays degrees."""
    path = tmp_path / "targets.csv"
    path.write_text("target,ra,dec\nngc6888,20:12:07.1,+38:21:18\nb,20h12m07.1s,38d21m18s\nc,303.0295833,38.355\n"
                    "d,20 12 07.1,-00 30 00\n")
    table = read_targets(path)
    np.testing.assert_allclose(table["ra_deg"], [303.0295833] * 4, atol=1e-6)
    np.testing.assert_allclose(table["dec_deg"], [38.355, 38.355, 38.355, -0.5], atol=1e-6)


def test_names_are_resolved_once_and_frozen(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("target,name,ra_deg,dec_deg\nngc6888,NGC 6888,,\nm101,,,\ncosmos,,150.1,2.2\n")
    frozen = tmp_path / "results" / "resolved_names.ecsv"
    asked = []
    positions = {"NGC 6888": (303.06, 38.35), "m101": (210.80, 54.35)}

    def stand_in(name):
        asked.append(name)
        return positions[name]

    table = read_targets(path, frozen=frozen, resolver=stand_in)
    assert asked == ["NGC 6888", "m101"]  # the name column, else the target itself; positions given: not asked
    np.testing.assert_allclose(table["ra_deg"], [303.06, 210.80, 150.1])
    assert table["position_from"][2] == "list" and "stand_in" in table["position_from"][0]
    stored = Table.read(frozen)
    assert list(stored["name"]) == ["NGC 6888", "m101"] and stored["ra_deg"].unit == "deg"

    def offline(name):
        raise OSError("network is unreachable")

    again = read_targets(path, frozen=frozen, resolver=offline)  # reused offline
    np.testing.assert_allclose(again["dec_deg"], table["dec_deg"])
    positions["m101"] = (210.81, 54.36)
    refreshed = read_targets(path, frozen=frozen, resolver=stand_in, refresh=True)  # re-resolved on request only
    assert asked == ["NGC 6888", "m101", "NGC 6888", "m101"] and refreshed["ra_deg"][1] == 210.81
    assert Table.read(frozen)["ra_deg"][1] == 210.81


def test_unresolvable_or_offline_name_names_line_and_name(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("target,name\n# a comment\nngc6888,NGC 6888\nnowhere,No Such Object\n")
    frozen = tmp_path / "resolved_names.ecsv"

    def resolver(name):
        if name == "No Such Object":
            raise ValueError(f"Unable to find coordinates for name '{name}'")
        return 303.06, 38.35

    with pytest.raises(InvalidInputError) as info:
        read_targets(path, frozen=frozen, resolver=resolver)
    message = str(info.value)
    assert message.startswith(f"target list {path}, line 4, column name: cannot resolve the name 'No Such Object'")
    assert "Unable to find coordinates" in message

    def offline(name):
        raise OSError("network is unreachable")

    frozen.unlink(missing_ok=True)
    with pytest.raises(InvalidInputError, match=r"line 3, column name: cannot resolve the name 'NGC 6888': OSError: "
                                                r"network is unreachable.*give ra_deg, dec_deg"):
        read_targets(path, frozen=frozen, resolver=offline)
    assert not frozen.exists()  # nothing half-resolved is frozen


def test_target_name_pattern_and_slug():
    for good in ("m101", "NGC_6888", "field-1", "a.b+c", "x" * MAX_NAME_LENGTH):
        assert re.fullmatch(TARGET_NAME_PATTERN, good), good
    for bad in ("x" * (MAX_NAME_LENGTH + 1), ".hidden", "a/b", "a b", "end."):
        assert not re.fullmatch(TARGET_NAME_PATTERN, bad), bad
    assert target_slug("NGC 6888") == "NGC_6888" and target_slug(" (weird) name! ") == "weird_name"


def test_unknown_targets_among_requested_files():
    requested = ["results/m101/D2-D4/explore.html", "results/nope/D2-D4/spectra.ecsv", "all", "results/summary.ecsv",
                 "results/other/images.ecsv", "results/reports/report.html", "-n"]
    assert unknown_targets(requested, ["m101"], ["D2-D4"]) == [("results/nope/D2-D4/spectra.ecsv", "nope"),
                                                               ("results/other/images.ecsv", "other")]


def test_names_command_resolves_again_on_request(tmp_path, monkeypatch, capsys):
    from spherex_sdt import cli, targets

    (tmp_path / "targets.csv").write_text("target,name\nngc6888,NGC 6888\n")
    frozen = tmp_path / "resolved_names.ecsv"
    positions = iter([(303.06, 38.35), (303.07, 38.36)])
    monkeypatch.setattr(targets, "sesame", lambda name: next(positions))
    args = ["names", str(tmp_path / "targets.csv"), "--resolved-names", str(frozen)]
    assert cli.main(args) == 0 and "ngc6888\t303.0600000\t+38.3500000" in capsys.readouterr().out
    assert cli.main(args) == 0 and "303.0600000" in capsys.readouterr().out  # frozen: not asked again
    assert cli.main([*args, "--again"]) == 0 and "303.0700000" in capsys.readouterr().out
