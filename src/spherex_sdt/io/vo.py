"""Column metadata for Virtual-Observatory viewers (TOPCAT, Firefly): UCDs, units and descriptions.

astropy writes a column's ``meta['ucd']`` as the VOTable FIELD's ``ucd`` attribute, its unit as ``unit`` and its
description as DESCRIPTION; ECSV keeps all three. ``ra``/``dec`` carry ``pos.eq.ra;meta.main`` and
``pos.eq.dec;meta.main``, which is what viewers look for to overlay a catalogue on an image.
"""

import re

import numpy as np

from ..calibration.flags import SPHEREX_FLAGS
from .atomic import atomic_path

__all__ = ["CATALOG_COLUMNS", "ARCHIVE_COLUMNS", "SPECTRA_SUMMARY_COLUMNS", "BINNED_COLUMNS", "RUN_SUMMARY_COLUMNS",
           "describe_columns", "write_votable", "SIGN_CONVENTION"]

SIGN_CONVENTION = "difference = A - B on B's grid; sign = +1: brighter in A, -1: brighter in B (red in D2 - D4)"
"""How a difference catalogue's ``sign`` reads (a VOTable PARAM and catalogue metadata)."""

_FLAG_BITS = ", ".join(f"{bit} {name}" for name, (bit, _) in SPHEREX_FLAGS.items())

# name -> (UCD, unit or None to keep the table's, description)
CATALOG_COLUMNS = {
    "id": ("meta.id;meta.main", None, "catalogue id, by decreasing |FLUX_AUTO|"),
    "source": ("meta.id", None, "file-safe source name of the spectrum folder"),
    "NUMBER": ("meta.id", None, "SExtractor running number"),
    "ra": ("pos.eq.ra;meta.main", "deg", "right ascension (ICRS), from the best pixel position with astropy's WCS"),
    "dec": ("pos.eq.dec;meta.main", "deg", "declination (ICRS), from the best pixel position with astropy's WCS"),
    "x": ("pos.cartesian.x;instr.det", "pix", "0-based column on the reference (second) detector's grid"),
    "y": ("pos.cartesian.y;instr.det", "pix", "0-based row on the reference (second) detector's grid"),
    "position_method": ("meta.code", None, "psf-fit or windowed"),
    "X_IMAGE": ("pos.cartesian.x;instr.det", "pix", "SExtractor barycentre x (1-based)"),
    "Y_IMAGE": ("pos.cartesian.y;instr.det", "pix", "SExtractor barycentre y (1-based)"),
    "XWIN_IMAGE": ("pos.cartesian.x;instr.det", "pix", "SExtractor windowed x (1-based)"),
    "YWIN_IMAGE": ("pos.cartesian.y;instr.det", "pix", "SExtractor windowed y (1-based)"),
    "ERRAWIN_IMAGE": ("stat.error;pos.errorEllipse;instr.det", "pix", "windowed position error, major axis"),
    "A_IMAGE": ("phys.size.smajAxis;instr.det", "pix", "profile RMS along the major axis"),
    "B_IMAGE": ("phys.size.sminAxis;instr.det", "pix", "profile RMS along the minor axis"),
    "THETA_IMAGE": ("pos.posAng;instr.det", "deg", "major-axis angle, counter-clockwise from +x"),
    "FLUX_AUTO": ("phot.flux.density", "uJy", "Kron-like elliptical aperture flux"),
    "FLUXERR_AUTO": ("stat.error;phot.flux.density", "uJy", "error of FLUX_AUTO"),
    "FLUX_APER": ("phot.flux.density", "uJy", "fixed-aperture flux"),
    "FLUXERR_APER": ("stat.error;phot.flux.density", "uJy", "error of FLUX_APER"),
    "FLUX_MAX": ("phot.flux.density;stat.max", "uJy", "peak pixel above background"),
    "FLUX_RADIUS": ("phys.size.radius;instr.det", "pix", "half-light radius"),
    "ISOAREA_IMAGE": ("phys.area;instr.det", "pix2", "isophotal area"),
    "SNR_WIN": ("stat.snr", None, "windowed signal-to-noise ratio"),
    "FLAGS": ("meta.code.qual", None, "SExtractor extraction flags"),
    "IMAFLAGS_ISO": ("meta.code.qual", None, "OR of the flag map over the isophote"),
    "sign": ("meta.code", None, "+1 brighter in A, -1 brighter in B (difference A - B)"),
    "id_A": ("meta.id.cross", None, "matched detection in catalog_A (0: none)"),
    "id_B": ("meta.id.cross", None, "matched detection in catalog_B (0: none)"),
    "FLUX_AUTO_A": ("phot.flux.density", "uJy", "FLUX_AUTO of the matched detection on A"),
    "FLUXERR_AUTO_A": ("stat.error;phot.flux.density", "uJy", "its error"),
    "FLUX_AUTO_B": ("phot.flux.density", "uJy", "FLUX_AUTO of the matched detection on B"),
    "FLUXERR_AUTO_B": ("stat.error;phot.flux.density", "uJy", "its error"),
    "flux_a": ("phot.flux.density", "uJy", "forced aperture flux on A (r = 3 px), masked pixels corrected with a "
               "Gaussian PSF of the frame's PSF_FWHM"),
    "flux_err_a": ("stat.error;phot.flux.density", "uJy", "error of flux_a"),
    "flag_a": ("meta.code.qual", None, "sep flags of flux_a (32: masked pixels in the aperture)"),
    "flux_b": ("phot.flux.density", "uJy", "forced aperture flux on B (r = 3 px), masked pixels corrected with a "
               "Gaussian PSF of the frame's PSF_FWHM"),
    "flux_err_b": ("stat.error;phot.flux.density", "uJy", "error of flux_b"),
    "flag_b": ("meta.code.qual", None, "sep flags of flux_b (32: masked pixels in the aperture)"),
    "colour_ab": ("phot.color", "mag", "m_A - m_B (AB); positive = redder (brighter in B)"),
    "colour_ab_err": ("stat.error;phot.color", "mag", "error of colour_ab"),
    "footprint_flags": ("meta.code.qual", None, "OR of footprint_flags_a and footprint_flags_b"),
    "footprint_flags_a": ("meta.code.qual", None, "OR of image A's FLAGS over the pixels within 2 px of the "
                          f"position, bits {_FLAG_BITS}"),
    "footprint_flags_b": ("meta.code.qual", None, "OR of image B's FLAGS over the pixels within 2 px of the "
                          "position (same bits)"),
    "core_masked_fraction": ("meta.code.qual;arith.ratio", None, "share of the 3 x 3 pixels nearest the position "
                             "that the difference's MASK excludes (detection interpolated over them)"),
}

# the archive's image lists: results/{target}/images.ecsv, pair_images.ecsv and exposures.ecsv
ARCHIVE_COLUMNS = {
    "role": ("meta.code", None, "A or B: the difference is A - B on B's grid"),
    "source": ("meta.id", None, "selected source (folder under sources/)"),
    "obs_id": ("meta.id;obs", None, "SPHEREx observation id"),
    "detector": ("meta.id;instr.det", None, "SPHEREx detector (1-6)"),
    "band": ("instr.bandpass", None, "SIA band name (SPHEREx-D1 ... D6)"),
    "mjd": ("time.epoch", "d", "mid-exposure time (MJD)"),
    "access_url": ("meta.ref.url", None, "where the archive serves the Level-2 file"),
    "key": ("meta.ref", None, "archive key of the Level-2 file"),
    "file_name": ("meta.id;meta.file", None, "Level-2 file name (cache key)"),
    "s_region": ("pos.outline;obs.field", None, "image footprint (SIA s_region)"),
    "collection": ("meta.id", None, "archive collection"),
    "ra": ("pos.eq.ra;meta.main", "deg", "right ascension (ICRS) of the source measured on the exposure"),
    "dec": ("pos.eq.dec;meta.main", "deg", "declination (ICRS) of the source measured on the exposure"),
    "path": ("meta.file", None, "the file in the download cache (empty when the fetch failed)"),
    "status": ("meta.code.status", None, "ok (cutout fetched), failed, or no_coverage (it misses the position)"),
    "error": ("meta.note", None, "why the cutout could not be fetched"),
    "reference": ("meta.code", None, "the pair's own image (its B image is the difference grid)"),
    "used": ("meta.code", None, "the image is one of the visits combined (difference.visits)"),
    "why": ("meta.note", None, "why an image is not used (outside the box, beyond the limit, cutout failed)"),
}

# results/{target}/{pair}/spectra.ecsv
SPECTRA_SUMMARY_COLUMNS = {
    "source": ("meta.id;meta.main", None, "source name (folder under sources/)"),
    "ra": ("pos.eq.ra;meta.main", "deg", "right ascension (ICRS) of the source"),
    "dec": ("pos.eq.dec;meta.main", "deg", "declination (ICRS) of the source"),
    "n_exposures": ("meta.number", None, "exposures covering the source"),
    "n_measured": ("meta.number", None, "exposures measured"),
    "radius": ("phys.angSize;instr.det", "pix", "aperture radius of the spectrum's flux column"),
    "median_snr": ("stat.snr;stat.median", None, "median flux / error over the measured exposures"),
    "p_variable": ("stat.probability", None, "chi-square probability that the source is constant over the channels "
                                             "measured more than once (lightcurve.ecsv; NaN without repeats)"),
    "spectrum": ("meta.ref;meta.file", None, "the source's spectrum.ecsv"),
    "lightcurve": ("meta.ref;meta.file", None, "the source's lightcurve.ecsv"),
    "status": ("meta.code.status", None, "ok, partial (exposures lost to failures) or no_measurements"),
    "reason": ("meta.note", None, "why the status is not ok: the count of exposures lost and the first error"),
    "n_failed": ("meta.number", None, "exposures not measured because of failures (not of coverage)"),
}

# sources/{source}/spectrum_binned.ecsv
BINNED_COLUMNS = {
    "detector": ("meta.id;instr.det", None, "SPHEREx detector of the channel"),
    "subchan": ("meta.id;instr.bandpass", None, "sub-channel (1-17) within the detector"),
    "wavelength": ("em.wl;meta.main", "um", "channel centre"),
    "wl_min": ("em.wl;stat.min", "um", "channel lower edge"),
    "wl_max": ("em.wl;stat.max", "um", "channel upper edge"),
    "bandwidth": ("instr.bandwidth", "um", "channel width"),
    "n": ("meta.number", None, "measurements in the channel"),
    "n_rejected": ("meta.number", None, "measurements rejected as outliers"),
    "wavelength_mean": ("em.wl", "um", "inverse-variance weighted mean wavelength of the kept measurements"),
    "flux": ("phot.flux.density", "uJy", "inverse-variance weighted mean flux density of the kept measurements"),
    "flux_err": ("stat.error;phot.flux.density", "uJy", "1-sigma error of flux"),
    "chi2": ("stat.fit.chi2", None, "chi-square of the kept measurements about the mean"),
    "dof": ("stat.fit.dof", None, "degrees of freedom of chi2 (kept measurements - 1)"),
    "p_variable": ("stat.probability", None, "chi-square survival probability: small = variable, or errors too "
                                             "small (NaN for one measurement)"),
}

# results/summary.ecsv
RUN_SUMMARY_COLUMNS = {
    "target": ("meta.id;src", None, "target name (target list)"),
    "pair": ("instr.setup", None, "detector pair A-B"),
    "source": ("meta.id", None, "source name (empty for a target and pair without sources)"),
    "ra": ("pos.eq.ra;meta.main", "deg", "right ascension (ICRS): the source's, else the target's"),
    "dec": ("pos.eq.dec;meta.main", "deg", "declination (ICRS): the source's, else the target's"),
    "status": ("meta.code.status", None, "ok, partial, no_measurements, no_sources, no_coverage, failed or not_run"),
    "stage": ("meta.code", None, "the rule whose result or failure the status comes from"),
    "reason": ("meta.note", None, "why the status is not ok (for a failed job, the last error line of its log)"),
    "n_exposures": ("meta.number", None, "exposures covering the source"),
    "n_measured": ("meta.number", None, "exposures measured"),
}

# a UCD is ';'-separated words of letters, digits, '.', '-' and '_'
_UCD = re.compile(r"^[A-Za-z0-9_.\-]+(;[A-Za-z0-9_.\-]+)*$")


def describe_columns(table, columns=None):
    """Set each known column's UCD (``meta['ucd']``), unit and description, in place.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A catalogue; columns not in ``columns`` are left as they are. A description already set is kept.
    columns : dict, optional
        Name -> ``(ucd, unit, description)``; default `CATALOG_COLUMNS`. A unit of None keeps the column's.

    Returns
    -------
    `~astropy.table.Table`
        The same table.
    """
    columns = CATALOG_COLUMNS if columns is None else columns
    for name, (ucd, unit, description) in columns.items():
        if name not in table.colnames:
            continue
        if not _UCD.match(ucd):
            raise ValueError(f"UCD of column {name!r} is malformed: {ucd!r}")
        col = table[name]
        if col.info.meta is None:
            col.info.meta = {}
        col.info.meta["ucd"] = ucd
        if unit is not None and getattr(col, "unit", None) is None:
            col.unit = unit
        if not col.info.description:
            col.info.description = description
    return table


def write_votable(table, path, *, params=()):
    """Write a catalogue as a VOTable with a COOSYS (ICRS) that its ``ra``/``dec`` FIELDs refer to, and PARAMs.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Columns with their unit, UCD (``meta['ucd']``) and description (see `describe_columns`).
    path : path-like
        Written atomically.
    params : sequence of (str, value, str, str)
        ``(name, value, ucd, description)`` of each PARAM: what the whole table is about (target, pair, sign
        convention).
    """
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import CooSys, Param

    votable = from_table(table)
    resource = votable.resources[0]
    resource.coordinate_systems.append(CooSys(ID="icrs", system="ICRS"))
    element = resource.tables[0]
    for field in element.fields:
        if field.name in ("ra", "dec"):
            field.ref = "icrs"
    for name, value, ucd, description in params:
        if isinstance(value, str):
            kind = {"datatype": "char", "arraysize": "*"}
        elif isinstance(value, bool | np.bool_):
            kind = {"datatype": "boolean"}
        elif isinstance(value, int | np.integer):
            kind = {"datatype": "long"}
        else:
            kind = {"datatype": "double"}
        param = Param(votable, name=name, value=value, ucd=ucd, **kind)
        param.description = description
        element.params.append(param)
    with atomic_path(path) as tmp:
        votable.to_xml(str(tmp))
