"""Reading calibration products."""

import numpy as np
from astropy.io import fits

from ..calibration.units import solid_angle_unit
from ..errors import DataFormatError
from .spectral_image import native

__all__ = ["read_solid_angle_map"]


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
