"""The target list: a CSV with columns ``target, ra_deg, dec_deg``; validated with messages naming row and column."""

import csv
import math
import re
from pathlib import Path

from astropy.table import Table

from .errors import InvalidInputError

__all__ = ["read_targets", "TARGET_NAME_PATTERN"]

TARGET_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"
"""Target names become directory names and wildcard values: letters, digits and ``_ . + -``."""

REQUIRED = ("target", "ra_deg", "dec_deg")


def read_targets(path):
    """Read and validate a target list.

    Rows are numbered as in the file (the header is line 1, the first target line 2).

    Raises
    ------
    InvalidInputError
        For a missing or empty file, a missing column, a malformed name, a non-numeric or out-of-range
        coordinate (RA in [0, 360), Dec in [-90, 90]) or a duplicate name; the message names file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"target list {path}: file not found")
    with open(path, newline="", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InvalidInputError(f"target list {path}: the file is empty (expected a header 'target,ra_deg,dec_deg')")
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInputError(
            f"target list {path}: missing column(s) {', '.join(missing)} (header is {', '.join(header) or 'empty'})"
        )
    names, ras, decs, seen = [], [], [], {}
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        name = row["target"]
        if not re.fullmatch(TARGET_NAME_PATTERN, name):
            raise InvalidInputError(
                f"target list {path}, line {line_no}, column target: {name!r} is not a valid name "
                f"(letters, digits and _ . + -, starting with a letter or digit)"
            )
        if name in seen:
            raise InvalidInputError(
                f"target list {path}, line {line_no}, column target: duplicate name {name!r} "
                f"(first on line {seen[name]})"
            )
        seen[name] = line_no
        values = {}
        for col, lo, hi, hi_open in (("ra_deg", 0.0, 360.0, True), ("dec_deg", -90.0, 90.0, False)):
            try:
                value = float(row[col])
            except ValueError:
                raise InvalidInputError(
                    f"target list {path}, line {line_no}, column {col}: {row[col]!r} is not a number"
                ) from None
            ok = math.isfinite(value) and lo <= value and (value < hi if hi_open else value <= hi)
            if not ok:
                rng = f"[{lo:g}, {hi:g})" if hi_open else f"[{lo:g}, {hi:g}]"
                raise InvalidInputError(
                    f"target list {path}, line {line_no}, column {col}: {value:g} is outside {rng}"
                )
            values[col] = value
        names.append(name)
        ras.append(values["ra_deg"])
        decs.append(values["dec_deg"])
    if not names:
        raise InvalidInputError(f"target list {path}: no targets below the header")
    return Table({"target": names, "ra_deg": ras, "dec_deg": decs})
