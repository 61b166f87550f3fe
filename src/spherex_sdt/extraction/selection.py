"""Choose which detected sources get spectra."""

import numpy as np
from astropy.coordinates import SkyCoord
import astropy.units as u
from astropy.table import Table

from ..calibration.flags import SPHEREX_FLAGS
from ..errors import InvalidInputError

__all__ = ["select_sources", "STRATEGIES"]

STRATEGIES = ("brightest", "snr", "ids", "positions")


def select_sources(catalog, *, strategy, n=5, min_snr=10.0, sign="both", ids=(), positions=(), exclude_flags=(),
                   max_core_masked_fraction=1.0, match_arcsec=6.0):
    """Select rows of a difference catalogue.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Needs ``id``, ``ra``, ``dec``, ``FLUX_AUTO``, ``FLUXERR_AUTO``, ``sign``.
    strategy : {'brightest', 'snr', 'ids', 'positions'}
        ``brightest``: the ``n`` largest |FLUX_AUTO| (after the ``sign`` filter); ``snr``: every detection with
        |FLUX_AUTO|/FLUXERR_AUTO >= ``min_snr`` and the requested sign; ``ids``: the given catalogue ids;
        ``positions``: explicit sky positions (each matched to the nearest detection within ``match_arcsec``, or
        kept as a forced position when none is near).
    sign : {'both', 'red', 'blue'}
        'red' keeps sources brighter in the second image of the pair (negative difference), 'blue' the others.
    exclude_flags : sequence of str
        For ``brightest`` and ``snr``: detections whose ``footprint_flags`` carry any of these FLAGS names are
        not chosen.
    max_core_masked_fraction : float
        For ``brightest`` and ``snr``: detections with more of their core masked (``core_masked_fraction``) are
        not chosen.

    Returns
    -------
    `~astropy.table.Table`
        The selected rows with ``source`` (a file-safe id) first; positions without a detection have id -1.
    """
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"selection strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if sign not in ("both", "red", "blue"):
        raise InvalidInputError(f"selection sign must be 'both', 'red' or 'blue', got {sign!r}")
    cat = catalog.copy()
    if sign != "both" and strategy in ("brightest", "snr"):
        cat = cat[cat["sign"] == (-1 if sign == "red" else 1)]
    if strategy in ("brightest", "snr"):
        cat = cat[_flag_policy(cat, exclude_flags, max_core_masked_fraction)]
    if strategy == "brightest":
        order = np.argsort(-np.abs(np.asarray(cat["FLUX_AUTO"], float)), kind="stable")
        out = cat[order[: int(n)]]
    elif strategy == "snr":
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.abs(np.asarray(cat["FLUX_AUTO"], float)) / np.asarray(cat["FLUXERR_AUTO"], float)
        out = cat[snr >= float(min_snr)]
    elif strategy == "ids":
        wanted = [int(i) for i in ids]
        unknown = sorted(set(wanted) - {int(i) for i in cat["id"]})
        if unknown:
            raise InvalidInputError(f"selection ids {unknown} are not in the catalogue (ids 1..{len(cat)})")
        out = cat[np.isin(cat["id"], wanted)]
    else:
        out = _match_positions(cat, positions, match_arcsec)
    out = Table(out, masked=False)
    out.add_column([f"{int(i):04d}" if int(i) > 0 else f"p{k + 1:03d}" for k, i in enumerate(out["id"])],
                   name="source", index=0)
    return out


def _flag_policy(cat, exclude_flags, max_core_masked_fraction):
    """Rows that pass the selection's flag options (all rows when they are off)."""
    keep = np.ones(len(cat), bool)
    if not len(cat) or (not exclude_flags and max_core_masked_fraction >= 1.0):
        return keep
    missing = [c for c in ("footprint_flags", "core_masked_fraction") if c not in cat.colnames]
    if missing:
        raise InvalidInputError(f"selection on flags needs catalogue column(s) {', '.join(missing)} (a catalogue "
                                "from before spherex-sdt issue 17: run extract_sources again)")
    unknown = sorted(set(exclude_flags) - set(SPHEREX_FLAGS))
    if unknown:
        raise InvalidInputError(f"selection exclude_flags {unknown} are not FLAGS names ({', '.join(SPHEREX_FLAGS)})")
    bits = sum(1 << SPHEREX_FLAGS[name][0] for name in exclude_flags)
    keep &= (np.asarray(cat["footprint_flags"], np.int64) & bits) == 0
    keep &= np.asarray(cat["core_masked_fraction"], float) <= max_core_masked_fraction
    return keep


def _match_positions(cat, positions, match_arcsec):
    rows = []
    coords = SkyCoord(np.asarray(cat["ra"]) * u.deg, np.asarray(cat["dec"]) * u.deg) if len(cat) else None
    template = {name: cat[name].dtype.type(0) for name in cat.colnames}
    for ra, dec in positions:
        pos = SkyCoord(float(ra) * u.deg, float(dec) * u.deg)
        if coords is not None:
            sep = pos.separation(coords).arcsec
            best = int(np.argmin(sep))
            if sep[best] <= match_arcsec:
                rows.append(dict(zip(cat.colnames, cat[best])))
                continue
        forced = dict(template)
        forced.update(id=-1, ra=float(ra), dec=float(dec), sign=0)
        rows.append(forced)
    if not rows:
        return cat[:0]
    return Table(rows=rows, names=cat.colnames)
