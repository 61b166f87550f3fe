"""Surface brightness (MJy/sr) to flux per pixel (µJy) with the solid-angle pixel map.

The map is sampled at the parent-detector pixel of each cutout pixel (``spherex-data.md`` §5, §10):
``Omega[1 - CRPIX2A + y, 1 - CRPIX1A + x]``; the offsets are integers, so no interpolation is needed.
"""

import warnings

import astropy.units as u
import numpy as np

from ..errors import InvalidInputError, UnitMismatchError

__all__ = [
    "MJY_SR_TO_UJY_ARCSEC2",
    "surface_brightness_to_flux",
    "flux_per_pixel_factor",
    "solid_angle_at",
    "solid_angle_unit",
]

MJY_SR_TO_UJY_ARCSEC2 = (1 * u.MJy / u.sr).to_value(u.uJy / u.arcsec**2)
"""1 MJy/sr in µJy per arcsec² (23.50443...)."""


def surface_brightness_to_flux(image, solid_angle):
    """Convert a surface-brightness image to µJy per pixel.

    Parameters
    ----------
    image : `~astropy.units.Quantity`
        Surface brightness (e.g. MJy/sr).
    solid_angle : `~astropy.units.Quantity`
        Solid angle of each pixel (e.g. arcsec²), broadcastable to ``image``.
    """
    image, solid_angle = u.Quantity(image), u.Quantity(solid_angle)
    if not image.unit.is_equivalent(u.MJy / u.sr):
        raise UnitMismatchError(f"image must be a surface brightness such as MJy/sr, got unit {image.unit!s}")
    if not solid_angle.unit.is_equivalent(u.sr):
        raise UnitMismatchError(f"solid_angle must be a solid angle such as arcsec2, got unit {solid_angle.unit!s}")
    return (image * solid_angle).to(u.uJy)


def flux_per_pixel_factor(bunit, solid_angle_arcsec2, *, source="image"):
    """Multiplier turning pixel values in ``bunit`` into µJy per pixel.

    Parameters
    ----------
    bunit : str
        The BUNIT card, e.g. ``'MJy / sr'``.
    solid_angle_arcsec2 : ndarray
        Pixel solid angle in arcsec².
    source : str
        Named in the error message (file name).

    Raises
    ------
    UnitMismatchError
        If ``bunit`` is not a surface brightness: fluxes would silently stay unconverted otherwise.
    """
    try:
        unit = u.Unit(bunit)
    except ValueError as exc:
        raise UnitMismatchError(f"{source}: BUNIT {bunit!r} is not a unit astropy understands") from exc
    if not unit.is_equivalent(u.MJy / u.sr):
        raise UnitMismatchError(f"{source}: BUNIT {bunit!r} is not a surface brightness (expected MJy/sr)")
    per_arcsec2 = (1 * unit).to_value(u.uJy / u.arcsec**2)
    return per_arcsec2 * np.asarray(solid_angle_arcsec2, dtype=float)


def solid_angle_unit(bunit, *, source="solid-angle pixel map"):
    """Factor to arcsec² of a solid-angle map's BUNIT; unknown strings are taken as arcsec² with a warning."""
    try:
        unit = u.Unit(str(bunit).replace("squared arcsec", "arcsec2"))
        return (1 * unit).to_value(u.arcsec**2)
    except (ValueError, u.UnitConversionError):
        warnings.warn(f"{source}: BUNIT {bunit!r} is not a solid angle; assuming arcsec2", stacklevel=2)
        return 1.0


def solid_angle_at(solid_angle_map, parent_origin, shape):
    """The solid-angle map under a cutout: ``map[y0:y0+ny, x0:x0+nx]``, NaN where the cutout leaves the detector.

    Parameters
    ----------
    solid_angle_map : 2D ndarray
        Full-detector map (arcsec²).
    parent_origin : (int, int)
        0-based parent ``(x0, y0)`` of cutout pixel (0, 0), i.e. ``(1 - CRPIX1A, 1 - CRPIX2A)``.
    shape : (int, int)
        Cutout shape ``(ny, nx)``.
    """
    x0, y0 = (int(v) for v in parent_origin)
    ny, nx = (int(v) for v in shape)
    full_ny, full_nx = solid_angle_map.shape
    if nx <= 0 or ny <= 0:
        raise InvalidInputError(f"shape must be positive, got {shape}")
    out = np.full((ny, nx), np.nan)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + ny, full_ny), min(x0 + nx, full_nx)
    if ye > ys and xe > xs:
        out[ys - y0 : ye - y0, xs - x0 : xe - x0] = solid_angle_map[ys:ye, xs:xe]
    return out
