"""Truth catalogues: positions, kinds and spectral energy distributions, and the true flux at any wavelength."""

import numpy as np
from astropy.coordinates import SkyCoord
import astropy.units as u
from astropy.table import Table

__all__ = ["make_sky", "true_flux", "truth_sed_near", "REFERENCE_WAVELENGTH_UM"]

REFERENCE_WAVELENGTH_UM = 2.0
"""SEDs are normalised at this wavelength: ``flux_ref_ujy`` is f_nu(2 µm)."""

_H_OVER_K = 14387.77  # hc/k in µm K


def _planck_nu_shape(wavelength_um, temperature_k):
    """f_nu of a blackbody up to a constant: nu^3 / (exp(h nu / k T) - 1)."""
    lam = np.asarray(wavelength_um, float)
    x = _H_OVER_K / (lam * temperature_k)
    return lam**-3 / np.expm1(x)


def true_flux(truth, wavelength_um):
    """True flux density (µJy) of truth sources at given wavelengths.

    Parameters
    ----------
    truth : `~astropy.table.Table` or row
        Needs ``kind`` ('star' or 'red'), ``flux_ref_ujy``, ``temperature_k`` (stars) and ``alpha`` (red).
    wavelength_um : float or array_like
        Broadcast against the rows of ``truth``.

    Returns
    -------
    ndarray
        f_nu in µJy. Stars are blackbodies; red sources are power laws f_nu ∝ λ^alpha (alpha > 0 rises to 5 µm).
    """
    kind = np.asarray(truth["kind"])
    fref = np.asarray(truth["flux_ref_ujy"], float)
    temp = np.asarray(truth["temperature_k"], float)
    alpha = np.asarray(truth["alpha"], float)
    lam = np.asarray(wavelength_um, float)
    star = fref * _planck_nu_shape(lam, np.where(temp > 0, temp, 5000.0)) / _planck_nu_shape(
        REFERENCE_WAVELENGTH_UM, np.where(temp > 0, temp, 5000.0)
    )
    red = fref * (lam / REFERENCE_WAVELENGTH_UM) ** alpha
    return np.where(kind == "red", red, star)


def make_sky(name, ra_deg, dec_deg, *, radius_arcsec, n_stars, n_red, rng, min_separation_arcsec=40.0):
    """A random field around one target, with one bright red source placed near the target.

    Parameters
    ----------
    name : str
        Target name; source ids are ``{name}-{k}``.
    ra_deg, dec_deg : float
        Field centre.
    radius_arcsec : float
        Sources are placed uniformly within this radius.
    n_stars, n_red : int
        Numbers of stars and of extra red sources.
    rng : `numpy.random.Generator`
    min_separation_arcsec : float
        Sources closer than this to an earlier source are redrawn, so that each is isolated (blends are not the
        point of the simulation).

    Returns
    -------
    `~astropy.table.Table`
        Columns ``source_id, target, ra, dec, kind, flux_ref_ujy, temperature_k, alpha``.
    """
    centre = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    placed = []
    rows = []

    def place(offset_arcsec=None):
        for _ in range(1000):
            if offset_arcsec is None:
                r = radius_arcsec * np.sqrt(rng.uniform())
            else:
                r = offset_arcsec
            pa = rng.uniform(0, 360)
            pos = centre.directional_offset_by(pa * u.deg, r * u.arcsec)
            if all(pos.separation(p).arcsec >= min_separation_arcsec for p in placed):
                placed.append(pos)
                return pos
        raise RuntimeError("field too crowded for the requested minimum separation")

    # the target's own red source: bright, close to the requested position
    pos = place(offset_arcsec=rng.uniform(5.0, 20.0))
    rows.append(("red", pos, 10 ** rng.uniform(3.0, 3.4), 0.0, rng.uniform(1.5, 2.2)))
    for _ in range(n_red):
        pos = place()
        rows.append(("red", pos, 10 ** rng.uniform(2.6, 3.4), 0.0, rng.uniform(1.0, 2.5)))
    for _ in range(n_stars):
        pos = place()
        rows.append(("star", pos, 10 ** rng.uniform(2.3, 3.8), rng.uniform(3500, 7000), 0.0))
    return Table(
        {
            "source_id": [f"{name}-{k}" for k in range(len(rows))],
            "target": [name] * len(rows),
            "ra": [r[1].ra.deg for r in rows] * u.deg,
            "dec": [r[1].dec.deg for r in rows] * u.deg,
            "kind": [r[0] for r in rows],
            "flux_ref_ujy": [r[2] for r in rows] * u.uJy,
            "temperature_k": [r[3] for r in rows] * u.K,
            "alpha": [r[4] for r in rows],
        }
    )


def truth_sed_near(truth, ra, dec, *, max_separation_arcsec=6.15):
    """The injected SED of the simulated source at (ra, dec), as (wavelength µm, flux µJy), or None.

    The nearest source of the ``truth`` table within ``max_separation_arcsec`` (one pixel) is taken.
    """
    if truth is None or len(truth) == 0:
        return None
    sep = SkyCoord(ra * u.deg, dec * u.deg).separation(
        SkyCoord(np.asarray(truth["ra"]) * u.deg, np.asarray(truth["dec"]) * u.deg)).arcsec
    best = int(np.argmin(sep))
    if sep[best] >= max_separation_arcsec:
        return None
    lam = np.linspace(0.72, 5.05, 300)
    return lam, true_flux(truth[best], lam)
