"""Figure titles say what the difference is made of: a pair of images, or stacks of visits."""

from spherex_sdt.tasks.plots import _pair_labels

PAIR = {"PAIR": "D2-D4", "DET_A": 2, "DET_B": 4, "LAM_A": 1.3457, "LAM_B": 3.08, "OBSID_A": "2025W48_2B_0026_2",
        "OBSID_B": "2025W47_1A_0025_1", "PAIRRULE": "nearest in time (dt = 3.335 d)"}


def test_a_single_pair_names_its_two_images():
    labels, title = _pair_labels({**PAIR, "NVISIT_A": 1, "NVISIT_B": 1})
    assert labels == ("D2 1.346 µm", "D4 3.080 µm")
    assert title == "D2-D4: A = 2025W48_2B_0026_2, B = 2025W47_1A_0025_1 (nearest in time (dt = 3.335 d))"
    assert _pair_labels(PAIR) == (labels, title)  # a difference made before stacks has no NVISIT cards


def test_stacks_name_their_visits_and_wavelength_ranges():
    labels, title = _pair_labels({**PAIR, "NVISIT_A": 8, "NVISIT_B": 1, "LAMMIN_A": 1.2322, "LAMMAX_A": 1.4586,
                                  "LAMMIN_B": 3.08, "LAMMAX_B": 3.08})
    assert labels == ("D2 1.346 µm (8 visits)", "D4 3.080 µm (1 visit)")
    assert title == "D2-D4: stacks of 8 and 1 visits (A 1.23-1.46 µm, B 3.08-3.08 µm); grid of B = 2025W47_1A_0025_1"
    assert "nearest in time" not in title
