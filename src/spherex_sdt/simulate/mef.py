"""Build SPHEREx Level-2 MEFs, solid-angle pixel maps and spectral_wcs files with the real header layout
(``spherex-data.md`` §3-9)."""

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time

from ..calibration.flags import SPHEREX_FLAGS

__all__ = ["level2_hdulist", "solid_angle_hdulist", "spectral_wcs_hdulist", "wave_table_hdu", "spatial_wcs_cards",
           "L2_COUNT_NAMES"]

PIPELINE_VERSION = "6.4+psffix1"
XPOSURE_S = 113.5826
TELAPSE_S = 118.1873

# header keyword suffix of the L2 N_* count for each flag name (MISSING_DATA is counted as N_MISSING)
L2_COUNT_NAMES = {
    "NONLINEAR": "N_NONLINEAR", "PERSIST": "N_PERSIST", "HOT": "N_HOT", "COLD": "N_COLD", "SOURCE": "N_SOURCE",
    "OUTLIER": "N_OUTLIER", "TRANSIENT": "N_TRANSIENT", "OVERFLOW": "N_OVERFLOW", "SUR_ERROR": "N_SUR_ERROR",
    "NONFUNC": "N_NONFUNC", "DICHROIC": "N_DICHROIC", "MISSING_DATA": "N_MISSING", "FULLSAMPLE": "N_FULLSAMPLE",
    "PHANMISS": "N_PHANMISS",
}


def _card(key, value, comment=""):
    if (len(key) > 8 or " " in key) and not key.startswith("HIERARCH"):
        key = f"HIERARCH {key}"
    return fits.Card(key, value, comment)


def spatial_wcs_cards(crpix, crval, pc, sip, parent_crpix_a):
    """Spatial TAN-SIP WCS, alternate WCS ``A`` and spectral WCS ``W`` cards, in the order of a real header."""
    a, b, ap, bp = sip
    cards = [
        ("WCSAXES", 2, "Number of coordinate axes"),
        ("CRPIX1", float(crpix[0]), "Pixel coordinate of reference point"),
        ("CRPIX2", float(crpix[1]), "Pixel coordinate of reference point"),
        ("PC1_1", float(pc[0][0]), "Coordinate transformation matrix element"),
        ("PC1_2", float(pc[0][1]), "Coordinate transformation matrix element"),
        ("PC2_1", float(pc[1][0]), "Coordinate transformation matrix element"),
        ("PC2_2", float(pc[1][1]), "Coordinate transformation matrix element"),
        ("CDELT1", 1.0, "[deg] Coordinate increment at reference point"),
        ("CDELT2", 1.0, "[deg] Coordinate increment at reference point"),
        ("CUNIT1", "deg", "Units of coordinate increment and value"),
        ("CUNIT2", "deg", "Units of coordinate increment and value"),
        ("CTYPE1", "RA---TAN-SIP", "TAN (gnomonic) projection + SIP distortions"),
        ("CTYPE2", "DEC--TAN-SIP", "TAN (gnomonic) projection + SIP distortions"),
        ("CRVAL1", float(crval[0]), "[deg] Coordinate value at reference point"),
        ("CRVAL2", float(crval[1]), "[deg] Coordinate value at reference point"),
        ("LONPOLE", 180.0, "[deg] Native longitude of celestial pole"),
        ("LATPOLE", float(crval[1]), "[deg] Native latitude of celestial pole"),
    ]
    for name, coeffs, what in (("A", a, "axis 0, detector to sky"), ("B", b, "axis 1, detector to sky"),
                               ("AP", ap, "axis 0, sky to detector"), ("BP", bp, "axis 1, sky to detector")):
        cards.append((f"{name}_ORDER", 3, f"SIP polynomial order, {what}"))
        for (p, q), c in sorted(coeffs.items()):
            cards.append((f"{name}_{p}_{q}", float(c), "SIP distortion coefficient"))
    xa, ya = parent_crpix_a
    cards += [
        ("WCSAXESA", 2, "Number of coordinate axes"),
        ("CRPIX1A", float(xa), "Pixel coordinate of reference point"),
        ("CRPIX2A", float(ya), "Pixel coordinate of reference point"),
        ("CDELT1A", 1.0, "[pixel] Coordinate increment at reference point"),
        ("CDELT2A", 1.0, "[pixel] Coordinate increment at reference point"),
        ("CUNIT1A", "pixel", "Units of coordinate increment and value"),
        ("CUNIT2A", "pixel", "Units of coordinate increment and value"),
        ("CTYPE1A", "LINEAR", "Coordinate type code"),
        ("CTYPE2A", "LINEAR", "Coordinate type code"),
        ("CRVAL1A", 0.0, "[pixel] Coordinate value at reference point"),
        ("CRVAL2A", 0.0, "[pixel] Coordinate value at reference point"),
        ("LATPOLEA", 90.0, "[deg] Native latitude of celestial pole"),
        ("WCSNAMEA", "0-based active pixel coordinates", "Coordinate system title"),
    ]
    return cards


def spectral_wcs_cards(parent_crpix_a):
    """The ``W`` cards of a real header: a bilinear lookup in the WCS-WAVE table, in parent FITS coordinates."""
    xa, ya = parent_crpix_a
    return [
        ("WCSAXESW", 2, "Two output axes: wavelength and bandwidth"),
        ("WCSNAMEW", "Approximated per-pixel wavelength and bandwidth", "WCS label"),
        ("CNAME1W", "Wavelength", "First output axis is central wavelength"),
        ("CNAME2W", "Bandpass", "Second output axis is bandpass"),
        ("CRPIX1W", float(xa), "Lookup table is in raw FITS coordinates"),
        ("CRPIX2W", float(ya), "Lookup table is in raw FITS coordinates"),
        ("CDELT1W", 1, "[pixel] Lookup table is in raw FITS coordinates"),
        ("CDELT2W", 1, "[pixel] Lookup table is in raw FITS coordinates"),
        ("CUNIT1W", "um", "Wavelength is reported in microns"),
        ("CUNIT2W", "um", "Bandpass is reported in microns"),
        ("CTYPE1W", "WAVE-TAB", "Bilinear lookup table, FITS Paper 3, Sect 6.1"),
        ("CTYPE2W", "WAVE-TAB", "Bilinear lookup table, FITS Paper 3, Sect 6.1"),
        ("CRVAL1W", 1, "[pixel] Lookup table is in raw FITS coordinates"),
        ("CRVAL2W", 1, "[pixel] Lookup table is in raw FITS coordinates"),
        ("PV1_3W", 1, "Index of wavelength in VALUES array"),
        ("PV2_3W", 2, "Index of bandpass in VALUES array"),
        ("PS1_0W", "WCS-WAVE", "Extension with wavelength lookup table"),
        ("PS2_0W", "WCS-WAVE", "Extension with bandpass lookup table"),
        ("PS1_1W", "VALUES", "Column with values for wavelength"),
        ("PS2_1W", "VALUES", "Column with values for bandpass"),
        ("PS1_2W", "X", "Column with control points for detector in X"),
        ("PS2_2W", "Y", "Column with control points for detector in Y"),
    ]


def _time_cards(mjd_beg):
    beg = Time(mjd_beg, format="mjd", scale="utc")
    avg = beg + XPOSURE_S / 2 * u.s
    end = beg + XPOSURE_S * u.s

    def iso(t):
        return t.isot[:23]

    return [
        ("TIMESYS", "UTC", "Time scale"),
        ("MJDREF", 0.0, "[d] MJD of fiducial time"),
        ("DATE-OBS", iso(beg), "ISO-8601 time of observation"),
        ("MJD-OBS", float(beg.mjd), "[d] MJD of observation"),
        ("DATE-BEG", iso(beg), "ISO-8601 time at start of observation"),
        ("MJD-BEG", float(beg.mjd), "[d] MJD at start of observation"),
        ("DATE-AVG", iso(avg), "ISO-8601 time at midpoint of observation"),
        ("MJD-AVG", float(avg.mjd), "[d] MJD at midpoint of observation"),
        ("DATE-END", iso(end), "ISO-8601 time at end of observation"),
        ("MJD-END", float(end.mjd), "[d] MJD at end of observation"),
        ("XPOSURE", XPOSURE_S, "[s] Exposure (integration) time"),
        ("TELAPSE", TELAPSE_S, "[s] Elapsed time (start to stop)"),
    ]


def _flag_cards():
    return [_card(f"MP_{name}", bit, comment) for name, (bit, comment) in SPHEREX_FLAGS.items()]


def level2_hdulist(*, detector, obs_id, expid, mjd_beg, image, flags, variance, zodi, psf, psf_cards, wave,
                   wcs_cards, psf_fwhm, omega, creation_date):
    """Assemble one Level-2 spectral image MEF: PRIMARY, IMAGE, FLAGS, VARIANCE, ZODI, PSF, WCS-WAVE.

    ``wcs_cards`` are the spatial, ``A`` and ``W`` cards repeated in every image HDU; ``wave`` is the
    ``(x_points, y_points, values)`` table; ``omega`` the detector's solid-angle map (for OMEGA_* statistics).
    """
    size = image.shape[0]
    primary = fits.PrimaryHDU()
    primary.header["VERSION"] = (PIPELINE_VERSION, "SSDC Pipelines software version")

    counts = {name: int(np.count_nonzero(flags & (1 << bit))) for name, (bit, _) in SPHEREX_FLAGS.items()}
    ident = [
        ("DETECTOR", detector, "1-3: SWIR, 4-6: MWIR"),
        ("OBSID", obs_id, "Observation ID"),
        ("EXPIDN", int(expid), "Integer Exposure ID"),
        ("DATE", creation_date, "HDU creation time (UTC)"),
        ("ORIGIN", "spherex-sdt simulator", "SIMULATED DATA, not a SPHEREx observation"),
        ("JACTIVE", size, "Number of light-sensitive pixel rows"),
        ("KACTIVE", size, "Number of light-sensitive pixel cols"),
        ("L1DQAFLG", "Pass", "L1 DQA outcome"),
        ("RADESYS", "ICRS", "Equatorial coordinate system"),
        ("DETCOORD", "sky", "MWIR pixels flipped on X to match SWIR view"),
        ("OMEGA_MEDIAN", float(np.median(omega)), " [arcsec**2] SAPM median"),
        ("OMEGA_STDDEV", float(np.std(omega)), " [arcsec**2] SAPM stddev"),
        ("FINAST", 0, "good fine-astrometric solution"),
        ("PSF_FWHM", float(psf_fwhm), " [arcsec] PSF FWHM Median"),
        ("L2DQAFLG", "Pass", "L2 DQA outcome"),
    ]
    ident += [(f"L2 {key}", counts[name], f"pixels flagged {name.lower()}")
              for name, key in L2_COUNT_NAMES.items()]
    history = [
        "Get Zodi Model, SSDC-MS-022 v2.3",
        "Measure Per-Exposure PSF, SSDC-MS-023 v3.3",
        "Create Spectral Image, SSDC-MS-024 v2.2",
        "simulated by spherex-sdt: sources rendered with the PSF at each pixel's wavelength",
    ]

    def image_hdu(data, name, bunit, extra=()):
        hdu = fits.ImageHDU(data=data, name=name)
        h = hdu.header
        h["EXTTYPE"] = "MASK" if name == "FLAGS" else name
        h["BUNIT"] = bunit
        for key, value, comment in list(ident if name == "IMAGE" else ident[:4]) + list(extra):
            h.append(_card(key, value, comment))
        for key, value, comment in wcs_cards:
            h.append(_card(key, value, comment))
        for key, value, comment in _time_cards(mjd_beg):
            h.append(_card(key, value, comment))
        for key, value, comment in spectral_wcs_cards((h["CRPIX1A"], h["CRPIX2A"])):
            h.append(_card(key, value, comment))
        if name == "IMAGE":
            for line in history:
                h.add_history(line)
        return hdu

    flag_extra = [(f"L2 N_{n}", counts[n], f"pixels flagged {n.lower()}") for n in ("PHANTOM", "REFERENCE")]
    flag_hdu = image_hdu(flags.astype(np.int32), "FLAGS", "", flag_extra)
    for card in _flag_cards():
        flag_hdu.header.append(card)

    psf_hdu = fits.ImageHDU(data=psf.astype(np.float32), name="PSF")
    psf_hdu.header["BUNIT"] = ""
    for key, value, comment in psf_cards:
        psf_hdu.header.append(_card(key, value, comment))

    table = wave_table_hdu(wave)
    return fits.HDUList(
        [
            primary,
            image_hdu(image.astype(np.float32), "IMAGE", "MJy / sr"),
            flag_hdu,
            image_hdu(variance.astype(np.float32), "VARIANCE", "MJy2 / sr2"),
            image_hdu(zodi.astype(np.float32), "ZODI", "MJy / sr"),
            psf_hdu,
            table,
        ]
    )


def wave_table_hdu(wave):
    """The one-row WCS-WAVE binary table (``X``, ``Y``, ``VALUES``) of a ``(x_points, y_points, values)`` table."""
    x_points, y_points, values = wave
    n, m = len(x_points), len(y_points)
    return fits.BinTableHDU.from_columns(
        [
            fits.Column(name="X", format=f"{n}J", dim=f"({n})", array=np.asarray(x_points, np.int32)[None, :]),
            fits.Column(name="Y", format=f"{m}J", dim=f"({m})", array=np.asarray(y_points, np.int32)[None, :]),
            fits.Column(name="VALUES", format=f"{2 * n * m}E", dim=f"(2,{n},{m})",
                        array=np.asarray(values, np.float32)[None, ...]),
        ],
        name="WCS-WAVE",
    )


def spectral_wcs_hdulist(detector, cwave, cband, wave, token):
    """A ``spectral_wcs`` calibration file (``spherex-data.md`` §6.5): PRIMARY, CWAVE, CBAND (µm per pixel of the
    full detector, ``[y, x]``) and its own WCS-WAVE table."""
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = ("spherex-sdt simulator", "SIMULATED DATA")
    primary.header["DETECTOR"] = detector
    primary.header["CALTOKEN"] = (token, "calibration product version")
    hdus = [primary]
    for name, data, what in (("CWAVE", cwave, "central wavelength"), ("CBAND", cband, "bandwidth")):
        hdu = fits.ImageHDU(data=np.asarray(data, np.float32), name=name)
        hdu.header["BUNIT"] = ("um", f"{what} of each pixel")
        hdu.header["DETECTOR"] = detector
        hdu.header["CALTOKEN"] = (token, "calibration product version")
        hdus.append(hdu)
    hdus.append(wave_table_hdu(wave))
    return fits.HDUList(hdus)


def solid_angle_hdulist(detector, omega, token):
    """A solid-angle pixel map file: PRIMARY plus IMAGE in arcsec² per pixel."""
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = ("spherex-sdt simulator", "SIMULATED DATA")
    hdu = fits.ImageHDU(data=omega.astype(np.float32), name="IMAGE")
    hdu.header["BUNIT"] = ("arcsec2", "solid angle per pixel")
    hdu.header["DETECTOR"] = detector
    hdu.header["CALTOKEN"] = (token, "calibration product version")
    return fits.HDUList([primary, hdu])
