"""Choose which detected sources get spectra."""

import numpy as np
from astropy.coordinates import SkyCoord
import astropy.units as u
from astropy.table import Table

from ..errors import InvalidInputError

__all__ = ["select_sources", "STRATEGIES"]

STRATEGIES = ("brightest", "snr", "ids", "positions")


def select_sources(catalog, *, strategy, n=5, min_snr=10.0, sign="both", ids=(), positions=(), match_arcsec=6.0):
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
