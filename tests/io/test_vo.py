"""VOTables for viewers: a COOSYS the positions refer to, and PARAMs that say what the table is about."""

from astropy.io import votable
from astropy.table import Table

from spherex_sdt.io.vo import SIGN_CONVENTION, describe_columns, write_votable


def test_votable_has_coosys_and_params(tmp_path):
    table = describe_columns(Table({"id": [1, 2], "ra": [150.1, 150.2], "dec": [2.2, 2.3], "sign": [1, -1]}))
    path = tmp_path / "catalog.xml"
    write_votable(table, path, params=[("target", "m101", "meta.id;src", "target name"),
                                       ("n_detections", 2, "meta.number", "detections"),
                                       ("sign_convention", SIGN_CONVENTION, "meta.note", "how sign reads")])
    document = votable.parse(path)
    (system,) = document.resources[0].coordinate_systems
    element = document.get_first_table()
    fields = {f.name: f for f in element.fields}
    assert system.system == "ICRS" and fields["ra"].ref == fields["dec"].ref == system.ID
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and str(fields["ra"].unit) == "deg"
    params = {p.name: p for p in element.params}
    assert params["target"].value == "m101" and params["target"].ucd == "meta.id;src"
    assert params["n_detections"].value == 2 and params["sign_convention"].value == SIGN_CONVENTION
    assert params["target"].description == "target name"
    assert list(element.to_table()["sign"]) == [1, -1]
