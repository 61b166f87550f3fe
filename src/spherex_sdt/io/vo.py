"""Column metadata for Virtual-Observatory viewers (TOPCAT, Firefly): UCDs, units and descriptions.

astropy writes a column's ``meta['ucd']`` as the VOTable FIELD's ``ucd`` attribute, its unit as ``unit`` and its
description as DESCRIPTION; ECSV keeps all three. ``ra``/``dec`` carry ``pos.eq.ra;meta.main`` and
``pos.eq.dec;meta.main``, which is what viewers look for to overlay a catalogue on an image.
"""

import re

__all__ = ["CATALOG_COLUMNS", "describe_columns"]

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
    "flux_a": ("phot.flux.density", "uJy", "forced aperture flux on A (r = 3 px)"),
    "flux_err_a": ("stat.error;phot.flux.density", "uJy", "error of flux_a"),
    "flag_a": ("meta.code.qual", None, "sep flags of flux_a"),
    "flux_b": ("phot.flux.density", "uJy", "forced aperture flux on B (r = 3 px)"),
    "flux_err_b": ("stat.error;phot.flux.density", "uJy", "error of flux_b"),
    "flag_b": ("meta.code.qual", None, "sep flags of flux_b"),
    "colour_ab": ("phot.color", "mag", "m_A - m_B (AB); positive = redder (brighter in B)"),
    "colour_ab_err": ("stat.error;phot.color", "mag", "error of colour_ab"),
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
