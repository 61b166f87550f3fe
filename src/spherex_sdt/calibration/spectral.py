"""Wavelength and bandwidth at pixel positions from the spectral WCS ``W`` (``spherex-data.md`` §6)."""

import astropy.units as u
import numpy as np

__all__ = ["wavelength_at", "wave_table_bilinear"]


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
