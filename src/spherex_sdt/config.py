"""Checks of the workflow configuration that a JSON schema cannot express (relations between keys).

The schema (``workflow/schemas/config.schema.yaml``) checks each key's type and range and is the one home of the
defaults; `check_config` then checks the keys against each other, before any job runs. Every message names the
config file, the key and what is accepted.

Code in this package has no defaults of its own: it receives complete config sections. Callers outside the
workflow (tests, benchmarks) complete theirs from the schema with `with_defaults`.
"""

import copy
import functools
import math
import re
import string
from pathlib import Path

from .errors import InvalidInputError

__all__ = ["validate_config", "check_config", "schema_error", "COLLECTION_PATTERN", "check_collection",
           "with_defaults", "fill_defaults"]

COLLECTION_PATTERN = r"spherex_[a-z0-9_]{1,40}"
"""SIA collection names accepted (IRSA's are ``spherex_qr``, ``spherex_qr2``, ...): they reach SIA and TAP."""


def check_collection(name):
    """Return ``name`` if it is an acceptable SIA collection name, else raise `InvalidInputError`."""
    if not isinstance(name, str) or not re.fullmatch(COLLECTION_PATTERN, name):
        raise InvalidInputError(f"archive.collection: {name!r} is not a SPHEREx collection name "
                                f"(accepted: {COLLECTION_PATTERN}, e.g. spherex_qr2)")
    return name


@functools.lru_cache(maxsize=4)
def _load_schema(path):
    import yaml

    return yaml.safe_load(Path(path).read_text())


def fill_defaults(values, schema):
    """``values`` (a dict, changed in place and returned) with every missing key the schema gives a default.

    Objects are filled recursively, including objects that were themselves only defaulted (``default: {}``), as
    Snakemake's schema validation does.
    """
    for key, sub in schema.get("properties", {}).items():
        if key not in values and "default" in sub:
            values[key] = copy.deepcopy(sub["default"])
        if isinstance(values.get(key), dict) and sub.get("type") == "object":
            fill_defaults(values[key], sub)
    return values


def with_defaults(schema_path, section, values=None):
    """The config ``section`` (e.g. ``"archive"``) of the schema at ``schema_path``: ``values`` completed with
    the schema's defaults (a new dict)."""
    schema = _load_schema(str(schema_path))
    if section not in schema["properties"]:
        raise InvalidInputError(f"{schema_path}: no config section {section!r}")
    return fill_defaults(copy.deepcopy(dict(values or {})), schema["properties"][section])


def _fail(source, key, message):
    raise InvalidInputError(f"config {source}, key {key}: {message}")


def _check_finite(value, source, key=""):
    """No NaN or infinity anywhere (YAML reads ``.nan`` and ``.inf`` as numbers, and JSON-schema ranges let NaN
    through: every comparison with it is false)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, source, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, source, f"{key}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        _fail(source, key, f"{value} is not a finite number")


def _check_paths(config, source):
    if not str(config["cache_dir"]).strip():
        _fail(source, "cache_dir", "must name a directory (an empty path would put the cache at the file system's "
                                   "root)")


def _check_calibration(config, source):
    for name, value in config["calibration"].items():
        key = f"calibration.{name}"
        try:
            fields = [(field, spec, conversion) for _, field, spec, conversion in string.Formatter().parse(str(value))
                      if field is not None]
        except ValueError as exc:
            _fail(source, key, f"{value!r} is not a valid template ({exc}; write a literal brace as {{{{ or }}}})")
        names = sorted({field for field, _, _ in fields})
        if names != ["detector"] or any(spec or conversion for _, spec, conversion in fields):
            _fail(source, key, f"{value!r} must hold the field {{detector}} and no other (found "
                               f"{', '.join('{' + n + '}' for n in names) or 'none'})")


def _check_photometry(config, source):
    from .archive.cutouts import cutout_pixels

    phot = config["photometry"]
    radii = [float(r) for r in phot["radii_px"]]
    inner, outer = (float(a) for a in phot["annulus_px"])
    if not inner < outer:
        _fail(source, "photometry.annulus_px", f"[{inner:g}, {outer:g}] must be [inner, outer] with inner < outer")
    if not max(radii) < inner:
        _fail(source, "photometry.annulus_px",
              f"inner radius {inner:g} must exceed the largest aperture radius {max(radii):g} (photometry.radii_px)")
    size = float(phot["cutout_size_deg"])
    half = (cutout_pixels(size) - 1) / 2.0
    if outer > half:
        _fail(source, "photometry.annulus_px",
              f"outer radius {outer:g} px does not fit in the cutout: photometry.cutout_size_deg {size:g} deg is "
              f"{cutout_pixels(size)} px, at most {half:g} px from its centre (make the cutout larger or the "
              "apertures smaller)")
    radius = config["spectra"]["radius_px"]
    if radius is not None and not any(abs(float(radius) - r) < 1e-9 for r in radii):
        _fail(source, "spectra.radius_px", f"{radius:g} is not one of photometry.radii_px {radii}")


def _check_selection(config, source):
    sel = config["selection"]
    strategy = sel["strategy"]
    if strategy == "ids" and not sel["ids"]:
        _fail(source, "selection.ids", "strategy 'ids' needs a non-empty list of catalogue ids")
    if strategy == "positions" and not sel["positions"]:
        _fail(source, "selection.positions", "strategy 'positions' needs a non-empty list of [ra_deg, dec_deg]")


def _check_difference(config, source):
    diff = config["difference"]
    size, margin = int(diff["size_px"]), int(diff["background_margin_px"])
    box = int(diff["background_box_px"])
    if box > size + 2 * margin:
        _fail(source, "difference.background_box_px",
              f"{box} exceeds the background cut-out size_px + 2 * background_margin_px = {size + 2 * margin}")


def _check_archive(config, source):
    archive = config["archive"]
    try:
        check_collection(archive["collection"])
    except InvalidInputError as exc:
        _fail(source, "archive.collection", str(exc).split(": ", 1)[1])
    if archive["backend"] == "irsa":
        for key in ("sia_url", "tap_url", "data_url"):
            if not re.match(r"^https?://[^\s/]+", str(archive.get(key, ""))):
                _fail(source, f"archive.{key}", f"{archive.get(key)!r} is not an http(s) URL")
    pairs = config["pairs"]
    duplicates = sorted({p for p in pairs if pairs.count(p) > 1})
    if duplicates:
        _fail(source, "pairs", f"{', '.join(duplicates)} listed more than once")


def check_config(config, *, source="(config)"):
    """Check the relations between configuration keys (after schema validation has filled the defaults).

    Parameters
    ----------
    config : dict
        The workflow configuration.
    source : str
        The config file(s), named in messages.

    Raises
    ------
    InvalidInputError
        Naming ``source``, the key and the accepted values.
    """
    _check_finite(config, source)
    for check in (_check_paths, _check_calibration, _check_archive, _check_photometry, _check_selection,
                  _check_difference):
        check(config, source)
    return config


def _schema_violation(exc):
    """The jsonschema ``ValidationError`` behind ``exc`` (Snakemake wraps it), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if hasattr(exc, "absolute_path") and hasattr(exc, "validator"):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _accepted(violation):
    """What the schema accepts at the failing key, in words."""
    schema = violation.schema if isinstance(violation.schema, dict) else {}
    parts = [f"{k} {schema[k]}" for k in ("enum", "pattern", "minimum", "exclusiveMinimum", "maximum",
                                          "exclusiveMaximum", "minItems", "maxItems", "type") if k in schema]
    if violation.validator == "additionalProperties":
        parts = [f"keys {sorted(schema.get('properties', {}))}"]
    return "; ".join(parts)


def schema_error(exc, *, source):
    """An `InvalidInputError` naming the config file, key and accepted values for a schema validation failure."""
    violation = _schema_violation(exc)
    if violation is None:
        return InvalidInputError(f"config {source}: {exc}")
    key = ".".join(str(p) for p in violation.absolute_path) or "(top level)"
    accepted = _accepted(violation)
    return InvalidInputError(f"config {source}, key {key}: {violation.message}"
                             + (f" (accepted: {accepted})" if accepted else ""))


def validate_config(config, validate, schema, *, source="(config)"):
    """Validate ``config`` against the JSON ``schema`` (filling defaults), then `check_config`.

    ``validate`` is ``snakemake.utils.validate`` (passed in: this package does not import Snakemake).

    Raises
    ------
    InvalidInputError
        Naming ``source``, the key and the accepted values.
    """
    try:
        validate(config, schema=schema)
    except Exception as exc:  # Snakemake raises WorkflowError around jsonschema's ValidationError
        if _schema_violation(exc) is None:
            raise
        raise schema_error(exc, source=source) from None
    return check_config(config, source=source)
