"""Target lists are validated before any job runs, with messages naming file, line and column."""

import pytest

from spherex_sdt.errors import InvalidInputError
from spherex_sdt.targets import read_targets


@pytest.mark.parametrize(("text", "match"), [
    pytest.param("", r"the file is empty", id="empty-file"),
    pytest.param("# only a comment\n", r"the file is empty", id="comment-only"),
    pytest.param("target,ra_deg,dec_deg\n", r"no targets below the header", id="header-only"),
    pytest.param("target,ra_deg\nm101,210.8\n", r"missing column\(s\) dec_deg", id="missing-column"),
    pytest.param("name,ra,dec\nm101,210.8,54.3\n", r"missing column\(s\) target, ra_deg, dec_deg",
                 id="wrong-header"),
    pytest.param("target,ra_deg,dec_deg\nm101,210.8,54.3\nbad,360.0,0\n",
                 r"line 3, column ra_deg: 360 is outside \[0, 360\)", id="ra-360"),
    pytest.param("target,ra_deg,dec_deg\nm101,-0.5,54.3\n", r"line 2, column ra_deg: -0.5 is outside",
                 id="ra-negative"),
    pytest.param("target,ra_deg,dec_deg\nm101,210.8,90.5\n", r"line 2, column dec_deg: 90.5 is outside \[-90, 90\]",
                 id="dec-above"),
    pytest.param("target,ra_deg,dec_deg\nm101,210.8,-91\n", r"line 2, column dec_deg: -91 is outside", id="dec-below"),
    pytest.param("target,ra_deg,dec_deg\nm101,abc,1\n", r"line 2, column ra_deg: 'abc' is not a number", id="ra-text"),
    pytest.param("target,ra_deg,dec_deg\nm101,nan,1\n", r"line 2, column ra_deg: nan is outside", id="ra-nan"),
    pytest.param("target,ra_deg,dec_deg\nm101,1,1\nm101,2,2\n",
                 r"line 3, column target: duplicate name 'm101' \(first on line 2\)", id="duplicate"),
    pytest.param("target,ra_deg,dec_deg\n../etc,1,1\n", r"line 2, column target: '../etc' is not a valid name",
                 id="path-name"),
    pytest.param("target,ra_deg,dec_deg\n,1,1\n", r"line 2, column target: '' is not a valid name", id="empty-name"),
])
def test_bad_target_lists(tmp_path, text, match):
    path = tmp_path / "targets.csv"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=match) as info:
        read_targets(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="file not found"):
        read_targets(tmp_path / "nope.csv")


def test_good_target_list(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("target,ra_deg,dec_deg,note\nm101,210.80227,54.34895,galaxy\nc-1,0,-90\n")
    table = read_targets(path)
    assert list(table["target"]) == ["m101", "c-1"] and table["dec_deg"][1] == -90.0
