"""Light curves of a source: its flux against time in each standard spectral channel, with a chi-square test of
variability.

SPHEREx measures a source at one wavelength per exposure, so a channel is revisited only when the survey passes
over the source again (every ~6 months, more often near the ecliptic poles): a channel's light curve holds a few
points. The chi-square of a channel's points about their inverse-variance mean, with n - 1 degrees of freedom,
tests the hypothesis that the source is constant there; the sum over channels tests it for the whole spectrum.
"""

import numpy as np
from astropy.table import Table
from scipy import stats

from .binning import _assign

__all__ = ["light_curve", "LIGHTCURVE_COLUMNS"]

LIGHTCURVE_COLUMNS = {
    "detector": (None, "SPHEREx detector of the channel"),
    "subchan": (None, "sub-channel (1-17) within the detector"),
    "channel_wavelength": ("um", "channel centre"),
    "mjd": ("d", "mid-exposure time (MJD)"),
    "flux": ("uJy", "total flux density at the spectrum's radius"),
    "flux_err": ("uJy", "1-sigma error of flux"),
    "wavelength": ("um", "wavelength of the measurement (within the channel)"),
    "obs_id": (None, "SPHEREx observation id of the exposure"),
    "n_channel": (None, "measurements of this channel"),
    "mean_flux": ("uJy", "inverse-variance mean flux of the channel"),
    "chi2": (None, "chi-square of the channel's measurements about mean_flux"),
    "dof": (None, "degrees of freedom of chi2 (n_channel - 1)"),
    "p_variable": (None, "chi-square survival probability: small = variable, or errors too small (NaN when the "
                         "channel was measured once)"),
}
"""Columns of a light-curve table: name -> (unit, description)."""


def light_curve(wavelength, detector, mjd, flux, flux_err, channels, *, obs_id=None):
    """Light curves of one source on the standard channels, and their chi-square test of variability.

    Parameters
    ----------
    wavelength, detector, mjd, flux, flux_err : array_like
        One entry per measurement (µm, detector number, MJD, µJy, µJy). Measurements with a non-finite value or a
        non-positive error are left out; the caller leaves out masked ones.
    channels : `~astropy.table.Table`
        The standard channels (`spherex_sdt.spectra.channel_table`).
    obs_id : array_like, optional
        Observation ids, copied to the table.

    Returns
    -------
    `~astropy.table.Table`
        One row per measurement in a channel, sorted by channel then time, with `LIGHTCURVE_COLUMNS` (each row
        repeats its channel's statistic). ``meta`` holds the whole-spectrum test: ``chi2_total``, ``dof_total``
        (summed over channels measured more than once), ``p_variable_total`` and ``n_channels_repeated``.
    """
    wavelength, mjd, flux, flux_err = (np.asarray(a, float) for a in (wavelength, mjd, flux, flux_err))
    detector = np.asarray(detector, int)
    obs_id = np.asarray(obs_id if obs_id is not None else [""] * len(flux), dtype=str)
    ok = np.isfinite(wavelength) & np.isfinite(mjd) & np.isfinite(flux) & np.isfinite(flux_err) & (flux_err > 0)
    index = np.where(ok, _assign(detector, wavelength, channels), -1)
    rows = []
    chi2_total, dof_total, repeated = 0.0, 0, 0
    for c in np.unique(index[index >= 0]):
        sel = np.flatnonzero(index == c)
        sel = sel[np.argsort(mjd[sel], kind="stable")]
        f, e = flux[sel], flux_err[sel]
        w = 1.0 / e**2
        mean = float(np.sum(w * f) / np.sum(w))
        chi2 = float(np.sum(((f - mean) / e) ** 2))
        dof = len(sel) - 1
        p = float(stats.chi2.sf(chi2, dof)) if dof > 0 else np.nan
        if dof > 0:
            chi2_total, dof_total, repeated = chi2_total + chi2, dof_total + dof, repeated + 1
        ch = channels[c]
        rows.extend((int(ch["detector"]), int(ch["subchan"]), float(ch["wavelength"]), mjd[k], flux[k], flux_err[k],
                     wavelength[k], obs_id[k], len(sel), mean, chi2 if dof > 0 else np.nan, dof, p) for k in sel)
    names = tuple(LIGHTCURVE_COLUMNS)
    dtypes = (int, int, float, float, float, float, float, str, int, float, float, int, float)
    table = Table(rows=rows, names=names, dtype=dtypes) if rows else Table(names=names, dtype=dtypes)
    for name, (unit, description) in LIGHTCURVE_COLUMNS.items():
        table[name].unit = unit
        table[name].info.description = description
    table.meta.update({
        "chi2_total": chi2_total, "dof_total": dof_total, "n_channels_repeated": repeated,
        "p_variable_total": float(stats.chi2.sf(chi2_total, dof_total)) if dof_total > 0 else float("nan"),
        "channels": channels.meta.get("source", ""),
    })
    return table
