"""Wavelength and bandwidth at pixel positions: from the spectral WCS ``W`` (``spherex-data.md`` §6.1-6.4) or from
the per-pixel ``spectral_wcs`` calibration images CWAVE/CBAND (§6.5)."""

import astropy.units as u
import numpy as np

__all__ = ["wavelength_at", "wave_table_bilinear", "WAVELENGTH_SOURCES", "sample_parent_maps"]

WAVELENGTH_SOURCES = {
    "table": "spectral WCS W (WCS-WAVE table, bilinear)",
    "calibration": "spectral_wcs calibration (CWAVE/CBAND, bilinear at the parent position)",
}
"""Where a spectrum's wavelengths come from (``spectra.wavelengths``), and how its metadata says so."""


def wavelength_at(spectral_wcs, x, y):
    """Central wavelength and bandwidth (µm) at 0-based pixel positions.

    Parameters
    ----------
    spectral_wcs : `~astropy.wcs.WCS`
        The ``W`` WCS with SIP removed (see `spherex_sdt.io.read_spectral_image`).
    x, y : float or array_like
        0-based pixel coordinates of the file the WCS belongs to.

    Returns
    -------
    wavelength, bandwidth : ndarray
        In µm, same shape as ``x``.
    """
    lam, band = spectral_wcs.wcs_pix2world(np.asarray(x, float), np.asarray(y, float), 0)
    # wcslib may normalise CUNIT ('um' to 'm'); convert whatever it reports
    to_um = [(1 * u.Unit(str(unit) or "um")).to_value(u.um) for unit in spectral_wcs.wcs.cunit]
    return np.asarray(lam) * to_um[0], np.asarray(band) * to_um[1]


def wave_table_bilinear(x_points, y_points, values, crpix1w, crpix2w, x, y):
    """Independent bilinear evaluation of a WCS-WAVE table at 0-based pixel ``(x, y)``.

    Parameters
    ----------
    x_points, y_points : 1D array
        Control points (1-based parent pixels), the table's ``X`` and ``Y`` columns.
    values : ndarray, shape (m, n, 2)
        ``VALUES[0]`` indexed ``[iy, ix, k]``; k = 0 wavelength, 1 bandwidth (µm).
    crpix1w, crpix2w : float
        ``CRPIX1W``/``CRPIX2W`` of the file.
    x, y : float or array_like
        0-based pixel of the file.

    Returns
    -------
    wavelength, bandwidth : ndarray (µm); NaN outside the table.
    """
    from scipy.interpolate import RegularGridInterpolator

    u_ = np.asarray(x, float) + 2.0 - crpix1w  # 1-based parent coordinates (FITS -TAB rule)
    v_ = np.asarray(y, float) + 2.0 - crpix2w
    pts = np.stack([np.ravel(v_), np.ravel(u_)], axis=-1)
    out = []
    for k in (0, 1):
        interp = RegularGridInterpolator(
            (np.asarray(y_points, float), np.asarray(x_points, float)),
            np.asarray(values[..., k], float),
            bounds_error=False,
            fill_value=np.nan,
        )
        out.append(interp(pts).reshape(np.shape(u_)))
    return out[0], out[1]


def sample_parent_maps(cwave, cband, parent_x, parent_y):
    """Wavelength and bandwidth (µm) from full-detector CWAVE/CBAND images at 0-based parent positions.

    The images hold one value per pixel, at the pixel centre (integer 0-based parent index, ``[y, x]``). A source
    sits at a fractional position, so the value there is interpolated bilinearly between the four surrounding pixel
    centres: continuous in position (nearest-pixel sampling would jump by a row's ~0.3 nm step) and the same rule
    the WCS-WAVE table uses, so the two sources differ only by what the table's coarse grid misses. In the half pixel
    between an edge pixel's centre and the detector edge the edge cell's bilinear surface is extended linearly;
    positions off the detector give NaN.

    Parameters
    ----------
    cwave, cband : 2D ndarray
        Per-pixel central wavelength and bandwidth (µm) of one detector, as `spherex_sdt.io.read_spectral_wcs`
        returns them.
    parent_x, parent_y : float or array_like
        0-based parent-detector pixel coordinates (``x_parent = 1 + x_c - CRPIX1A``, ``spherex-data.md`` §5).

    Returns
    -------
    wavelength, bandwidth : ndarray
        In µm, the shape of ``parent_x``; NaN outside the detector.
    """
    ny, nx = np.shape(cwave)
    x, y = np.asarray(parent_x, float), np.asarray(parent_y, float)
    off = ~((x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5))
    x, y = np.where(off, 0.0, x), np.where(off, 0.0, y)
    # the cell [x0, x0 + 1] x [y0, y0 + 1] holding the position; edge cells are extended over the outer half pixel
    x0 = np.clip(np.floor(x).astype(int), 0, nx - 2)
    y0 = np.clip(np.floor(y).astype(int), 0, ny - 2)
    t, u = x - x0, y - y0
    out = []
    for plane in (cwave, cband):
        v = np.asarray(plane, float)
        value = ((1 - t) * (1 - u) * v[y0, x0] + t * (1 - u) * v[y0, x0 + 1]
                 + (1 - t) * u * v[y0 + 1, x0] + t * u * v[y0 + 1, x0 + 1])
        out.append(np.where(off, np.nan, value))
    return out[0], out[1]
