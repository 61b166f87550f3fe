"""Assemble per-exposure measurements of one source into a spectrum table (one row per exposure and radius)."""

import astropy.units as u
import numpy as np
from astropy.table import QTable

__all__ = ["SPECTRUM_COLUMNS", "spectrum_table", "spectrum_fits_meta", "ab_magnitude"]

SPECTRUM_COLUMNS = (
    "obs_id", "expid", "detector", "mjd", "x", "y", "parent_x", "parent_y", "wavelength", "bandwidth", "radius",
    "flux", "flux_err", "ab_mag", "ab_mag_err", "background", "background_err", "n_annulus", "psf_fraction",
    "n_bad_aperture", "aperture_coverage", "quality", "flux_psf", "flux_psf_err", "chi2_psf",
)


def ab_magnitude(flux_ujy, err_ujy):
    """AB magnitude and error for fluxes in µJy: 23.9 - 2.5 log10(F); NaN for F <= 0."""
    flux = np.asarray(flux_ujy, float)
    err = np.asarray(err_ujy, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(flux > 0, 23.9 - 2.5 * np.log10(flux), np.nan)
        mag_err = np.where(flux > 0, 2.5 / np.log(10) * err / flux, np.nan)
    return mag, mag_err


def spectrum_table(measurements, flag_names, meta):
    """Build the spectrum `~astropy.table.QTable`.

    Parameters
    ----------
    measurements : list of dict
        One per exposure: ``obs_id, expid, detector, mjd`` plus the output of
        `spherex_sdt.photometry.measure_cutout`.
    flag_names : sequence of str
        FLAGS names whose per-aperture pixel counts become ``n_<NAME>`` columns (0 where a file lacks the bit).
    meta : dict
        Provenance copied into the table's ``meta``.
    """
    rows = []
    for m in measurements:
        for r in m["radii"]:
            row = {k: m[k] for k in ("obs_id", "expid", "detector", "mjd", "x", "y", "parent_x", "parent_y",
                                     "wavelength", "bandwidth", "flux_psf", "flux_psf_err", "chi2_psf")}
            row.update({k: r[k] for k in ("radius", "flux", "flux_err", "background", "background_err", "n_annulus",
                                          "psf_fraction", "n_bad_aperture", "aperture_coverage", "quality")})
            for name in flag_names:
                row[f"n_{name}"] = m["flag_counts"].get(name, 0)
            rows.append(row)
    names = list(SPECTRUM_COLUMNS) + [f"n_{n}" for n in flag_names]
    if not rows:
        table = QTable(names=names, dtype=[str, int, int] + [float] * (len(names) - 3))
    else:
        table = QTable({n: [row[n] for row in rows] for n in names if n not in ("ab_mag", "ab_mag_err")})
        mag, mag_err = ab_magnitude(table["flux"], table["flux_err"])
        table.add_column(mag, name="ab_mag", index=table.colnames.index("flux_err") + 1)
        table.add_column(mag_err, name="ab_mag_err", index=table.colnames.index("ab_mag") + 1)
    units = {"mjd": u.day, "x": u.pix, "y": u.pix, "parent_x": u.pix, "parent_y": u.pix, "wavelength": u.um,
             "bandwidth": u.um, "radius": u.pix, "flux": u.uJy, "flux_err": u.uJy, "ab_mag": u.mag,
             "ab_mag_err": u.mag, "background": u.uJy, "background_err": u.uJy, "flux_psf": u.uJy,
             "flux_psf_err": u.uJy}
    for col, unit in units.items():
        table[col] = np.asarray(table[col], float) * unit
    table["ab_mag"].info.description = "AB magnitude, 23.9 - 2.5 log10(flux / uJy)"
    table.sort(["mjd", "detector", "radius"])
    table.meta.update(meta)
    table.meta["columns"] = {
        "flux": "total flux density (aperture sum over good pixels / PSF fraction of those pixels)",
        "background": "annulus median per pixel",
        "flux_psf": "forced PSF photometry at the fixed position (same on every radius row of an exposure)",
        "quality": "bit mask: 1 masked pixels in aperture, 2 few annulus pixels, 4 aperture off image, "
                   "8 PSF fraction < 0.5, 16 no PSF",
    }
    return table


def spectrum_fits_meta(meta):
    """The FITS header cards of a spectrum table's metadata: scalars under short keys.

    FITS headers hold scalars with short keys; the ECSV keeps the full provenance.
    """
    return {
        "SOURCE": meta["source"], "RA": meta["ra_deg"], "DEC": meta["dec_deg"], "SOFTWARE": meta["software"],
        "PHOTALG": meta["photometry_algorithm"], "SETHASH": meta["settings_hash"],
        "QUERYUTC": meta["archive_query_time_utc"], "NEXPFND": meta["n_exposures_found"], "NMEAS": meta["n_measured"],
        "WAVESRC": meta.get("wavelengths", "table"),
    }
