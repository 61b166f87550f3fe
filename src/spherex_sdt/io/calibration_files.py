"""Reading calibration products."""

import astropy.units as u
from astropy.io import fits

from ..calibration.units import solid_angle_unit
from ..errors import DataFormatError
from .spectral_image import native

__all__ = ["read_solid_angle_map", "read_spectral_wcs", "SPECTRAL_WCS_HDUS"]

SPECTRAL_WCS_HDUS = ("CWAVE", "CBAND")
"""Image HDUs a ``spectral_wcs`` calibration file must hold (``spherex-data.md`` §6.5)."""


def read_solid_angle_map(path):
    """A solid-angle pixel map (HDU ``IMAGE``) in arcsec² per pixel."""
    try:
        with fits.open(path, memmap=False) as hdul:
            if "IMAGE" not in hdul:
                raise DataFormatError(f"{path}: solid-angle pixel map has no IMAGE HDU")
            data = native(hdul["IMAGE"].data).astype(float)
            unit = hdul["IMAGE"].header.get("BUNIT", "arcsec2")
    except OSError as exc:
        raise DataFormatError(f"{path}: not a readable FITS file ({exc})") from exc
    if data.ndim != 2:
        raise DataFormatError(f"{path}: solid-angle pixel map is not 2-D")
    return data * solid_angle_unit(unit, source=str(path))


def _micron_factor(bunit, *, source):
    """Factor converting a ``BUNIT`` (a length; empty means µm) to µm; `DataFormatError` naming ``source`` if not."""
    try:
        return (1 * u.Unit(str(bunit).strip() or "um")).to_value(u.um)
    except (ValueError, u.UnitConversionError) as exc:
        raise DataFormatError(f"{source}: BUNIT {bunit!r} is not a wavelength unit ({exc})") from None


def read_spectral_wcs(path):
    """The per-pixel wavelength and bandwidth images of a ``spectral_wcs`` calibration file.

    Parameters
    ----------
    path : str or path-like
        ``spectral_wcs_D{k}_spx_cal-wcs-v{V}-{date}.fits``, with image HDUs ``CWAVE`` and ``CBAND`` on the full
        detector grid (``spherex-data.md`` §6.5).

    Returns
    -------
    cwave, cband : 2D float ndarray
        Central wavelength and bandwidth in µm, indexed ``[y, x]`` by 0-based parent-detector pixel.

    Raises
    ------
    DataFormatError
        Naming the file and the HDU when the file is unreadable, an HDU is missing, or the images are not 2-D
        arrays of one shape in a wavelength unit.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            names = [h.name for h in hdul]
            missing = [n for n in SPECTRAL_WCS_HDUS if n not in names]
            if missing:
                raise DataFormatError(f"{path}: spectral_wcs file has no {', '.join(missing)} HDU "
                                      f"(found {', '.join(names)})")
            maps = []
            for name in SPECTRAL_WCS_HDUS:
                data = hdul[name].data
                if data is None or data.ndim != 2:
                    raise DataFormatError(f"{path}: spectral_wcs {name} HDU holds no 2-D image")
                factor = _micron_factor(hdul[name].header.get("BUNIT", "um"), source=f"{path} {name}")
                maps.append(native(data).astype(float) * factor)
    except OSError as exc:
        raise DataFormatError(f"{path}: not a readable FITS file ({exc})") from exc
    if maps[0].shape != maps[1].shape:
        raise DataFormatError(f"{path}: spectral_wcs CWAVE {maps[0].shape} and CBAND {maps[1].shape} differ in shape")
    return maps[0], maps[1]
