"""Assemble per-exposure measurements of one source into its spectrum table.

The table has one row per measured exposure, sorted by wavelength, so that it is a spectrum as
`specutils.Spectrum.read` understands it: the first wavelength column (``wavelength``) is the spectral axis, the first
flux-density column (``flux``, at the chosen aperture radius) the flux, the next one (``flux_err``) its uncertainty,
and ``mask`` (True = do not use) comes from the quality bits. Every aperture radius stays in the table as columns
suffixed with the radius (``flux_r2``, ``flux_err_r2``, ``quality_r2``, ... for r = 2 px; ``_r2p5`` for 2.5 px).
"""

import json
import warnings

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable

from ..photometry import QUALITY_BITS
from .binning import MASK_BITS

__all__ = ["SPECTRUM_COLUMNS", "RADIUS_COLUMNS", "spectrum_table", "spectrum_fits_meta", "spectrum_meta_from_fits",
           "ab_magnitude", "radius_suffix", "MASK_BITS"]

"""Quality bits that set ``mask``: the measurements the binned spectrum leaves out (masked pixels inside the
aperture are corrected with the PSF, so that bit alone does not mask)."""

# name -> (unit, description); the order is the table's (specutils takes the first wavelength and flux columns)
_COLUMNS = {
    "wavelength": (u.um, "central wavelength of the source's pixel (spectral WCS or spectral_wcs calibration)"),
    "bandwidth": (u.um, "spectral bandwidth of the source's pixel"),
    "flux": (u.uJy, "total flux density at the chosen aperture radius: aperture sum over good pixels divided by "
                    "the PSF fraction those pixels hold"),
    "flux_err": (u.uJy, "1-sigma error of flux (pixel variance and background error)"),
    "mask": (None, "True where the measurement should not be used: non-finite flux or a quality bit of "
                   "FEW_ANNULUS_PIXELS, APERTURE_OFF_IMAGE, LOW_PSF_COVERAGE, NO_PSF"),
    "quality": (None, "quality bits at the chosen radius: 1 masked pixels in aperture, 2 few annulus pixels, "
                      "4 aperture off image, 8 PSF fraction < 0.5, 16 no PSF, 32 TRANSIENT, OUTLIER or OVERFLOW "
                      "pixels in aperture, 64 pixels disagreeing with the PSF fit rejected"),
    "ab_mag": (u.mag, "AB magnitude, 23.9 - 2.5 log10(flux / uJy); NaN for flux <= 0"),
    "ab_mag_err": (u.mag, "1-sigma error of ab_mag"),
    "radius": (u.pix, "aperture radius of flux, flux_err, quality and mask (spectra.radius_px)"),
    "obs_id": (None, "SPHEREx observation id of the exposure"),
    "expid": (None, "exposure number within the observation"),
    "detector": (None, "SPHEREx detector (1-6)"),
    "mjd": (u.day, "mid-exposure time (MJD)"),
    "x": (u.pix, "0-based column of the source on the cutout"),
    "y": (u.pix, "0-based row of the source on the cutout"),
    "parent_x": (u.pix, "0-based column of the source on the full detector"),
    "parent_y": (u.pix, "0-based row of the source on the full detector"),
    "background": (u.uJy, "local background per pixel (plane fitted to the annulus, the same for every radius)"),
    "background_err": (u.uJy, "1-sigma error of background"),
    "n_annulus": (None, "good background-annulus pixels used"),
    "psf_fraction": (None, "fraction of the PSF flux held by the good aperture pixels at the chosen radius"),
    "n_bad_aperture": (None, "photometry-bad pixels inside the aperture at the chosen radius"),
    "n_rejected": (None, "aperture pixels rejected at the chosen radius for disagreeing with the PSF fit "
                         "(corrected with the PSF)"),
    "aperture_coverage": (None, "fraction of the aperture area on the cutout at the chosen radius"),
    "flux_psf": (u.uJy, "forced PSF-fit flux density at the fixed position (does not depend on the radius)"),
    "flux_psf_err": (u.uJy, "1-sigma error of flux_psf"),
    "chi2_psf": (None, "reduced chi-square of the PSF fit"),
}

SPECTRUM_COLUMNS = tuple(_COLUMNS)
"""The fixed columns, in order; ``n_<FLAG>`` counts and the per-radius columns follow."""

RADIUS_COLUMNS = ("flux", "flux_err", "quality", "psf_fraction", "n_bad_aperture", "n_rejected", "aperture_coverage")
"""Measurements that depend on the aperture radius: each is also written once per radius, suffixed ``_r<radius>``."""

_PER_EXPOSURE = ("obs_id", "expid", "detector", "mjd", "x", "y", "parent_x", "parent_y", "wavelength", "bandwidth",
                 "flux_psf", "flux_psf_err", "chi2_psf")
_PER_RADIUS = ("flux", "flux_err", "background", "background_err", "n_annulus", "psf_fraction", "n_bad_aperture",
               "n_rejected", "aperture_coverage", "quality")
_INTEGER = {"expid", "detector", "n_annulus", "n_bad_aperture", "n_rejected", "quality"}


def radius_suffix(radius):
    """Column-name suffix of an aperture radius: ``_r2`` for 2 px, ``_r2p5`` for 2.5 px."""
    return "_r" + f"{float(radius):g}".replace(".", "p")


def ab_magnitude(flux_ujy, err_ujy):
    """AB magnitude and error for fluxes in µJy: 23.9 - 2.5 log10(F); NaN for F <= 0."""
    flux = np.asarray(flux_ujy, float)
    err = np.asarray(err_ujy, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(flux > 0, 23.9 - 2.5 * np.log10(flux), np.nan)
        mag_err = np.where(flux > 0, 2.5 / np.log(10) * err / flux, np.nan)
    return mag, mag_err


def _at_radius(measurement, radius):
    for r in measurement["radii"]:
        if np.isclose(r["radius"], radius):
            return r
    raise ValueError(f"no measurement at radius {radius:g} px (radii {[r['radius'] for r in measurement['radii']]})")


def spectrum_table(measurements, flag_names, meta, *, radius):
    """Build the spectrum `~astropy.table.QTable` of one source: one row per exposure, sorted by wavelength.

    Parameters
    ----------
    measurements : list of dict
        One per exposure: ``obs_id, expid, detector, mjd`` plus the output of
        `spherex_sdt.photometry.measure_cutout` (every exposure measured at the same radii).
    flag_names : sequence of str
        FLAGS names whose per-aperture pixel counts become ``n_<NAME>`` columns (0 where a file lacks the bit).
    meta : dict
        Provenance copied into the table's ``meta``.
    radius : float
        The aperture radius (pixels) of ``flux``, ``flux_err``, ``quality`` and ``mask``; every measured radius also
        has its own ``<name>_r<radius>`` columns (`RADIUS_COLUMNS`).

    Returns
    -------
    `~astropy.table.QTable`
        Columns `SPECTRUM_COLUMNS`, ``n_<FLAG>``, then the per-radius columns, each with unit and description;
        ``meta`` adds ``radius_px``, ``radii_px`` and ``quality_bits``. Rows are sorted by wavelength (then MJD).
    """
    radius = float(radius)
    radii = [float(r["radius"]) for r in measurements[0]["radii"]] if measurements else [radius]
    columns = {name: [] for name in (*_PER_EXPOSURE, *_PER_RADIUS)}
    flag_counts = {name: [] for name in flag_names}
    by_radius = {(name, r): [] for r in radii for name in RADIUS_COLUMNS}
    for m in measurements:
        for name in _PER_EXPOSURE:
            columns[name].append(m[name])
        chosen = _at_radius(m, radius)
        for name in _PER_RADIUS:
            columns[name].append(chosen[name])
        for name in flag_names:
            flag_counts[name].append(m["flag_counts"].get(name, 0))
        for r in radii:
            at_r = _at_radius(m, r)
            for name in RADIUS_COLUMNS:
                by_radius[(name, r)].append(at_r[name])

    def typed(name, values):
        if name == "obs_id":
            return np.asarray(values, dtype=str) if values else np.zeros(0, "U1")
        return np.asarray(values, dtype=int if name in _INTEGER or name.startswith("n_") else float)

    flux, flux_err = typed("flux", columns["flux"]), typed("flux_err", columns["flux_err"])
    quality = typed("quality", columns["quality"])
    mag, mag_err = ab_magnitude(flux, flux_err)
    values = {**{k: typed(k, v) for k, v in columns.items()}, "ab_mag": mag, "ab_mag_err": mag_err,
              "radius": np.full(len(flux), radius),
              "mask": ~np.isfinite(flux) | ~np.isfinite(flux_err) | ((quality & MASK_BITS) != 0)}
    table = QTable()
    for name, (unit, description) in _COLUMNS.items():
        table[name] = values[name] * unit if unit is not None else values[name]
        table[name].info.description = description
    for name in flag_names:
        table[f"n_{name}"] = typed(f"n_{name}", flag_counts[name])
        table[f"n_{name}"].info.description = f"pixels with the FLAGS bit {name} set inside the largest aperture"
    for r in radii:
        for name in RADIUS_COLUMNS:
            unit, description = _COLUMNS[name]
            col = f"{name}{radius_suffix(r)}"
            data = typed(name, by_radius[(name, r)])
            table[col] = data * unit if unit is not None else data
            table[col].info.description = f"{description.replace(' at the chosen radius', '')} (r = {r:g} px)"
    if len(table):
        order = np.lexsort((np.asarray(table["mjd"].value), np.asarray(table["wavelength"].value)))
        table = table[order]
    table.meta.update(meta)
    table.meta.update({"radius_px": radius, "radii_px": radii, "quality_bits": dict(QUALITY_BITS),
                       "mask_bits": int(MASK_BITS)})
    return table


# ECSV metadata key -> (FITS keyword, comment). Values that are not scalars are written as JSON text.
_FITS_KEYS = {
    "source": ("SOURCE", "source name (folder under sources/)"),
    "ra_deg": ("RA", "[deg] source right ascension (ICRS)"),
    "dec_deg": ("DEC", "[deg] source declination (ICRS)"),
    "software": ("SOFTWARE", "software that wrote the file"),
    "photometry_algorithm": ("PHOTALG", "photometry algorithm version"),
    "settings_hash": ("SETHASH", "hash of the photometry settings"),
    "settings": ("SETTINGS", "photometry settings (JSON)"),
    "archive_query_time_utc": ("QUERYUTC", "time of the archive query (UTC)"),
    "n_exposures_found": ("NEXPFND", "exposures covering the source"),
    "n_measured": ("NMEAS", "exposures measured"),
    "skipped": ("SKIPPED", "exposures not measured, and why (JSON)"),
    "flux_unit": ("FLUXUNIT", "unit of the flux columns"),
    "wavelengths": ("WAVESRC", "wavelengths from: table (WCS-WAVE) or calibration"),
    "wavelength_source": ("WAVEDESC", "where the wavelengths come from"),
    "radius_px": ("RADIUS", "[pix] aperture radius of flux, flux_err, mask"),
    "radii_px": ("RADII", "[pix] every aperture radius measured (JSON)"),
    "quality_bits": ("QUALBITS", "quality bit values (JSON)"),
    "mask_bits": ("MASKBITS", "quality bits that set mask"),
    "status": ("STATUS", "product status"),
    "reason": ("REASON", "why the status is not ok"),
}
_JSON_PREFIX = "json:"


def _fits_value(value):
    if isinstance(value, bool | int | float | np.integer | np.floating) and not isinstance(value, str):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, str) and value.isascii() and not value.startswith(_JSON_PREFIX):
        return value
    return _JSON_PREFIX + json.dumps(value, sort_keys=True, default=str)


def spectrum_fits_meta(meta):
    """FITS header cards carrying every entry of a spectrum table's metadata.

    Known keys get short FITS keywords with comments (``SOURCE``, ``RA``, ``NMEAS``, ...); others a ``HIERARCH`` key
    of their own name. Lists, dicts and non-ASCII text are written as ``json:`` followed by their JSON (long values
    continue over CONTINUE cards). `spectrum_meta_from_fits` reads them back.

    Returns
    -------
    list of (str, value, str)
        ``(keyword, value, comment)`` cards.
    """
    cards = []
    for key, value in meta.items():
        keyword, comment = _FITS_KEYS.get(key, (f"HIERARCH {key}", ""))
        value = _fits_value(value)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits.Card(keyword, value, comment).image  # noqa: B018  formatting warns when the comment does not fit
        cards.append((keyword, value, "" if caught else comment))
    return cards


def spectrum_meta_from_fits(header):
    """The metadata dict of a spectrum table from a header written with `spectrum_fits_meta`."""
    names = {keyword: key for key, (keyword, _) in _FITS_KEYS.items()}
    meta = {}
    for card in header.cards:
        keyword = card.keyword
        if keyword in names:
            key = names[keyword]
        elif keyword != keyword.upper() or len(keyword) > 8:
            key = keyword  # a HIERARCH card of a key without a short keyword (its case is kept)
        else:
            continue
        value = card.value
        if isinstance(value, str) and value.startswith(_JSON_PREFIX):
            value = json.loads(value[len(_JSON_PREFIX):])
        meta[key] = value
    return meta
