"""The target list: a CSV of targets by position or by name, validated with messages naming file, line and column.

A target list has a ``target`` column (the folder name under ``results/``) and either coordinates or a name to
resolve:

- ``ra_deg, dec_deg`` (or ``ra, dec``): decimal degrees (``303.06``) or sexagesimal strings, RA in hours
  (``20:12:14.4``, ``20h12m14.4s``) and Dec in degrees (``+38:21:00``, ``38d21m00s``);
- no coordinates (empty cells, or no coordinate columns at all): the object's name is resolved (astropy's name
  resolver, Sesame) once, when the workflow plans, and frozen in ``resolved_names`` (an ECSV in the run directory);
  later runs read it from there, offline. The name is the ``name`` column when there is one (``NGC 6888``), else
  the target itself (``M101``).

Lines are counted as the user sees them in an editor: the header is line 1, and blank and ``#`` comment lines count.
"""

import csv
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.table import Table

from .errors import InvalidInputError

__all__ = ["read_targets", "read_target_list", "resolve_names", "unknown_targets", "target_slug", "parse_angle",
           "TARGET_NAME_PATTERN", "MAX_NAME_LENGTH", "RESERVED_NAMES", "check_target_name"]

MAX_NAME_LENGTH = 64
"""Target names become folder names, file names and Snakemake wildcard values: short enough for every filesystem
(255 bytes per name) with room for the products' own names, and for a terminal line."""

TARGET_NAME_PATTERN = rf"[A-Za-z0-9](?:[A-Za-z0-9_.+-]{{0,{MAX_NAME_LENGTH - 2}}}[A-Za-z0-9_+-])?"
"""Letters, digits and ``_ . + -``, starting with a letter or digit and not ending with a dot (Windows drops it)."""

RESERVED_NAMES = frozenset({"summary.ecsv", "resolved_names.ecsv"})
"""Files of the run that sit beside the target folders in ``results/``: a target of that name would collide."""

_DEVICE_NAMES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_PERIODIC = re.compile(r"(.+?)\1{19,}$")  # Snakemake takes a value ending in 20 repeats for runaway recursion
_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")  # no '_' (Python's float accepts 1_0.5)
_ANGLE_TEXT = re.compile(r"^[0-9.+\-:\shdms°′″'\"]+$")
_ALIASES = {"ra": ("ra_deg", "ra"), "dec": ("dec_deg", "dec")}
_ANGLE_HELP = ("decimal degrees such as 303.06, or sexagesimal such as 20:12:14.4 or 20h12m14.4s for RA (hours) "
               "and +38:21:00 or 38d21m00s for Dec")


def _fail(path, message, line=None, column=None):
    where = f"target list {path}"
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column {column}"
    raise InvalidInputError(f"{where}: {message}")


def check_target_name(name):
    """Why ``name`` cannot be a target name, or None when it can.

    A name must match `TARGET_NAME_PATTERN` within `MAX_NAME_LENGTH` characters, must not be one of the run's own
    files (`RESERVED_NAMES`) or a Windows device name (``CON``, ``NUL``, ``COM1``...), and must not end in a part
    repeated 20 times (Snakemake refuses such wildcard values as runaway recursion).
    """
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"
    if not re.fullmatch(TARGET_NAME_PATTERN, name):
        hint = f" (for example target {target_slug(name)!r} with name {name!r})" if name.strip() else ""
        return (f"{name!r} is not a valid name: letters, digits and _ . + -, starting with a letter or digit and "
                f"not ending with a dot{hint}; a name to resolve can go in a 'name' column")
    if name.lower() in RESERVED_NAMES:
        return f"{name!r} is the name of a file of the run (results/{name.lower()}); choose another target name"
    if _DEVICE_NAMES.match(name):
        return f"{name!r} is a device name on Windows, which cannot be a folder; choose another target name"
    periodic = _PERIODIC.search(name)
    if periodic:
        return (f"{name!r} ends with {periodic.group(1)!r} repeated {len(periodic.group(0)) // len(periodic.group(1))}"
                " times, which Snakemake refuses in a wildcard value; choose a shorter name")
    return None


def target_slug(text):
    """A valid target name made from free text (an object name such as ``NGC 6888`` gives ``NGC_6888``)."""
    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", text.strip()).strip("_.")
    slug = slug[:MAX_NAME_LENGTH].rstrip(".") or "target"
    if not slug[0].isalnum():
        slug = "t" + slug[: MAX_NAME_LENGTH - 1]
    return slug


def _decode_lines(path):
    """The file's lines as text, numbered from 1; a byte that is not UTF-8 is reported with its line and column."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as spreadsheet programs write
        raw = raw[3:]
    lines = []
    header = None
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            fields = _split(chunk.decode("utf-8", errors="replace"))
            column = next((k for k, f in enumerate(fields) if "\ufffd" in f), 0)
            name = header[column] if header and column < len(header) else str(column + 1)
            _fail(path, f"byte 0x{chunk[exc.start]:02x} is not UTF-8 (the file looks like Latin-1 or another "
                        "8-bit encoding: save it as UTF-8)", number, name)
        if header is None and text.strip() and not text.lstrip().startswith("#"):
            header = [h.strip() for h in _split(text)]
        lines.append((number, text))
    return lines


def _split(text):
    return next(csv.reader([text], skipinitialspace=True), [])


def parse_angle(text, kind):
    """Degrees from decimal degrees or a sexagesimal string (RA in hours unless marked d/°); None if not an angle."""
    import warnings

    import astropy.units as u
    from astropy.coordinates import Angle

    if _DECIMAL.match(text):
        return float(text)
    if not _ANGLE_TEXT.match(text) or not re.search(r"\d", text):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy warns, rather than fails, on some malformed values
            return float(Angle(text, unit=u.hourangle if kind == "ra" else u.deg).deg)
    except (ValueError, TypeError, UserWarning, ArithmeticError):
        return None


def _check_range(path, line, column, text, value, kind):
    if value is None:
        _fail(path, f"{text!r} is not a number or an angle ({_ANGLE_HELP})", line, column)
    if kind == "ra":
        ok, rng = math.isfinite(value) and 0.0 <= value < 360.0, "[0, 360)"
    else:
        ok, rng = math.isfinite(value) and -90.0 <= value <= 90.0, "[-90, 90]"
    if not ok:
        shown = f"{value:g}" if _DECIMAL.match(text) else f"{text!r} = {value:g} degrees"
        _fail(path, f"{shown} is outside {rng}", line, column)
    return value


def _header_columns(path, line, header):
    """Index of ``target``, ``name`` and the coordinate columns; every header problem named with its column."""
    first = {}
    for k, column in enumerate(header, start=1):
        if not column:
            _fail(path, "empty column name in the header", line, k)
        if column in first:
            _fail(path, f"column {column!r} appears twice (also column {first[column]})", line, k)
        first[column] = k
    if "target" not in first:
        _fail(path, f"missing column(s) target (the header is {', '.join(header)}; expected target, then ra_deg, "
                    "dec_deg, or a name to resolve)", line)
    index = {"target": first["target"] - 1, "name": first["name"] - 1 if "name" in first else None}
    for kind, names in _ALIASES.items():
        given = [n for n in names if n in first]
        if len(given) > 1:
            _fail(path, f"columns {' and '.join(given)} both given; use one", line, max(first[n] for n in given))
        index[kind] = first[given[0]] - 1 if given else None
    if (index["ra"] is None) != (index["dec"] is None):
        have, missing = ("ra", "dec") if index["dec"] is None else ("dec", "ra")
        _fail(path, f"missing column(s) {missing}_deg (or {missing}): column {header[index[have]]} needs it", line)
    return index


def read_target_list(path):
    """Read and validate a target list, without resolving names.

    Returns
    -------
    `~astropy.table.Table`
        ``target``, ``name`` (what the resolver is asked; empty for rows with coordinates), ``ra_deg``, ``dec_deg``
        (NaN where the name is to be resolved) and ``line`` (in the file, as an editor counts).

    Raises
    ------
    InvalidInputError
        For a missing or empty file, a byte that is not UTF-8, a missing, empty or repeated column, a row with more
        fields than the header, a malformed or reserved name, a coordinate that is not an angle or is out of range,
        one coordinate of a pair without the other, or a duplicate name; the message names file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        _fail(path, "file not found")
    lines = [(n, text) for n, text in _decode_lines(path) if text.strip() and not text.lstrip().startswith("#")]
    if not lines:
        _fail(path, "the file is empty (expected a header 'target,ra_deg,dec_deg')")
    header_line, header_text = lines[0]
    header = [h.strip() for h in _split(header_text)]
    index = _header_columns(path, header_line, header)
    rows, seen = [], {}
    for number, text in lines[1:]:
        try:
            fields = [f.strip() for f in _split(text)]
        except csv.Error as exc:
            _fail(path, f"cannot read the row: {exc}", number)
        extra = [k for k in range(len(header), len(fields)) if fields[k]]  # trailing empty fields are harmless
        if extra:
            _fail(path, f"extra field {fields[extra[0]]!r}: the row has {len(fields)} fields, the header "
                        f"{len(header)} ({', '.join(header)}); quote a value that holds a comma", number, extra[0] + 1)
        fields = fields[:len(header)] + [""] * (len(header) - len(fields))
        target = fields[index["target"]]
        problem = check_target_name(target)
        if problem:
            _fail(path, problem, number, "target")
        key = target.lower()  # M101 and m101 would share a folder on case-insensitive filesystems
        if key in seen:
            first_name, first_line = seen[key]
            same = "duplicate name" if first_name == target else f"name {target!r} differs only in case from"
            _fail(path, f"{same} {first_name!r} (first on line {first_line})", number, "target")
        seen[key] = (target, number)
        name = fields[index["name"]] if index["name"] is not None else ""
        ra_text = fields[index["ra"]] if index["ra"] is not None else ""
        dec_text = fields[index["dec"]] if index["dec"] is not None else ""
        if ra_text or dec_text:
            for kind, text_value in (("ra", ra_text), ("dec", dec_text)):
                if not text_value:
                    other = header[index["dec" if kind == "ra" else "ra"]]
                    _fail(path, f"empty, but {other} is given: give both coordinates, or neither to resolve the "
                                "name", number, header[index[kind]])
            ra = _check_range(path, number, header[index["ra"]], ra_text, parse_angle(ra_text, "ra"), "ra")
            dec = _check_range(path, number, header[index["dec"]], dec_text, parse_angle(dec_text, "dec"), "dec")
            rows.append((target, name, ra, dec, number))
        else:
            if name and len(name) > 200:
                _fail(path, f"the name to resolve is {len(name)} characters long; at most 200", number, "name")
            rows.append((target, name or target, np.nan, np.nan, number))
    if not rows:
        _fail(path, "no targets below the header")
    return Table(rows=rows, names=("target", "name", "ra_deg", "dec_deg", "line"),
                 dtype=(str, str, float, float, int))


def sesame(name):
    """ICRS (ra, dec) in degrees of an object name, from astropy's name resolver (Sesame; needs the network)."""
    from astropy.coordinates import SkyCoord

    coord = SkyCoord.from_name(name).icrs
    return float(coord.ra.deg), float(coord.dec.deg)


_FROZEN_COLUMNS = ("name", "ra_deg", "dec_deg", "resolver", "resolved_utc")


def _read_frozen(path):
    if path is None or not Path(path).is_file():
        return {}
    table = Table.read(path, format="ascii.ecsv")
    return {str(row["name"]): dict(zip(table.colnames, row)) for row in table}


def resolve_names(targets, frozen, *, resolver=None, refresh=False, source=""):
    """Fill in the positions of targets given by name: from the frozen file, else from the resolver (then frozen).

    Parameters
    ----------
    targets : `~astropy.table.Table`
        From `read_target_list`; rows with NaN coordinates are resolved by their ``name``.
    frozen : path-like or None
        ECSV of names already resolved (``name, ra_deg, dec_deg, resolver, resolved_utc``). Names found there are
        not resolved again (so later runs need no network); new ones are added, atomically. None: nothing is
        frozen and names are not resolved (an error names the first such target).
    resolver : callable, optional
        ``resolver(name) -> (ra_deg, dec_deg)``; default `sesame`. Tests pass a stand-in.
    refresh : bool
        Resolve every name again, even those frozen.
    source : str
        The target list's path, for messages.

    Returns
    -------
    `~astropy.table.Table`
        ``targets`` with every position filled, and ``position_from`` (``list`` or the resolver and time).

    Raises
    ------
    InvalidInputError
        For a name that cannot be resolved (unknown, or no network and not frozen): the message names the target
        list, the line, the column and the name.
    """
    table = targets.copy()
    table["position_from"] = np.array(["list"] * len(table), dtype=object)
    todo = np.flatnonzero(~np.isfinite(np.asarray(table["ra_deg"], float)))
    if not len(todo):
        table["position_from"] = table["position_from"].astype(str)
        return table
    known = _read_frozen(frozen)
    resolver = resolver or sesame
    changed = False
    for k in todo:
        row = table[k]
        name, column = str(row["name"]), ("name" if row["name"] != row["target"] else "target")
        entry = None if refresh else known.get(name)
        if entry is None:
            if frozen is None:
                _fail(source, f"target {row['target']!r} has no coordinates and names are not resolved here; give "
                              "ra_deg, dec_deg", int(row["line"]), column)
            try:
                ra, dec = resolver(name)
            except Exception as exc:  # the resolver's own error (unknown name, no network) is the reason given
                _fail(source, f"cannot resolve the name {name!r}: {type(exc).__name__}: {exc}. Names are resolved "
                              f"once and frozen in {frozen}; without the network give ra_deg, dec_deg instead",
                      int(row["line"]), column)
            entry = {"name": name, "ra_deg": float(ra), "dec_deg": float(dec),
                     "resolver": getattr(resolver, "__name__", "resolver"),
                     "resolved_utc": datetime.now(UTC).isoformat(timespec="seconds")}
            known[name] = entry
            changed = True
        table["ra_deg"][k], table["dec_deg"][k] = float(entry["ra_deg"]), float(entry["dec_deg"])
        table["position_from"][k] = f"{entry['resolver']} {entry['resolved_utc']} (frozen in {frozen})"
    if changed:
        from .io import write_table  # not at planning time when nothing is resolved (it imports the readers)

        rows = [[entry[c] for c in _FROZEN_COLUMNS] for entry in known.values()]
        out = Table(rows=rows, names=_FROZEN_COLUMNS, dtype=(str, float, float, str, str))
        out["ra_deg"].unit = out["dec_deg"].unit = "deg"
        out.meta["description"] = ("target names resolved to ICRS positions; delete a row (or run "
                                   "`spherex-sdt names --again`) to resolve it again")
        Path(frozen).parent.mkdir(parents=True, exist_ok=True)
        write_table(out, frozen)
    table["position_from"] = table["position_from"].astype(str)
    return table


def read_targets(path, *, frozen=None, resolver=None, refresh=False):
    """Read a target list and resolve its names (see `read_target_list` and `resolve_names`).

    Returns
    -------
    `~astropy.table.Table`
        ``target, name, ra_deg, dec_deg, line, position_from``, every position filled.
    """
    return resolve_names(read_target_list(path), frozen, resolver=resolver, refresh=refresh, source=str(path))


def unknown_targets(requested, targets, pairs):
    """Requested products of targets that are not in the list: ``[(path, target), ...]``.

    Only paths shaped like the workflow's products count: ``results/<target>/images.ecsv`` and
    ``results/<target>/<pair>/...`` for a configured pair (other arguments, such as a report's path, do not).
    """
    known = {str(t) for t in targets}
    unknown = []
    for item in requested:
        parts = Path(str(item)).parts
        if len(parts) < 3 or parts[0] != "results" or parts[1] in known:
            continue
        if parts[2] in pairs or (len(parts) == 3 and parts[2] == "images.ecsv"):
            unknown.append((str(item), parts[1]))
    return unknown
