"""Cutouts of Level-2 MEFs made the way IRSA's cutout service makes them (``spherex-data.md`` §5, §14).

A cutout is a pixel-aligned sub-array of IMAGE, FLAGS, VARIANCE and ZODI; CRPIXn shift by the integer offset and
CRPIXnA/CRPIXnW record it, so that parent 0-based x = 1 + x_c - CRPIX1A. The PSF cube and the WCS-WAVE table are
copied whole (the QR1 behaviour; QR2 re-grids the table, which a reader must handle either way). Near an edge the
cutout is trimmed, so it may come back smaller than requested.
"""

import numpy as np
from astropy.io import fits

from ..detectors import PIXEL_SCALE_ARCSEC
from ..errors import DataFormatError, InvalidInputError, NoCoverageError
from ..io.spectral_image import nearest_psf_plane

__all__ = ["cutout_box", "cutout_geometry", "cutout_geometries", "make_cutout", "cutout_pixels",
           "psf_zone_header"]

_PLANES = ("IMAGE", "FLAGS", "VARIANCE", "ZODI")


def cutout_pixels(size_deg):
    """Side in pixels of a cutout of ``size_deg`` (IRSA gives 6 px for 0.01 deg)."""
    if not size_deg > 0:
        raise InvalidInputError(f"cutout size must be positive, got {size_deg} deg")
    return max(1, int(round(size_deg * 3600.0 / PIXEL_SCALE_ARCSEC)))


def cutout_box(x, y, npix, shape):
    """Integer box ``(x0, x1, y0, y1)`` of ``npix`` pixels centred on 0-based (x, y), trimmed to ``shape``."""
    ny, nx = shape
    x0 = int(round(x - (npix - 1) / 2.0))
    y0 = int(round(y - (npix - 1) / 2.0))
    return max(x0, 0), min(x0 + npix, nx), max(y0, 0), min(y0 + npix, ny)


def _shift_header(header, x0, y0):
    h = header.copy()
    for axis, off in (("1", x0), ("2", y0)):
        if f"CRPIX{axis}" in h:
            h[f"CRPIX{axis}"] = h[f"CRPIX{axis}"] - off
        for alt in ("A", "W"):
            if f"CRPIX{axis}{alt}" in h:
                h[f"CRPIX{axis}{alt}"] = h[f"CRPIX{axis}{alt}"] - off
    return h


def cutout_geometries(header, shape, positions, size_deg, *, source="<hdul>"):
    """Where the cutouts of several positions lie on one image (one WCS for all of them).

    Returns, per ``(ra, dec)``, either ``((x, y), (x0, x1, y0, y1), (parent_x, parent_y))`` (the 0-based pixel,
    the box and the parent-detector position from CRPIX1A/2A) or a `NoCoverageError` for a position off the image.
    """
    from ..io.spectral_image import spatial_wcs

    wcs = spatial_wcs(header)
    ny, nx = shape
    npix = cutout_pixels(size_deg)
    sky = np.asarray(positions, float).reshape(-1, 2)
    pixels = wcs.all_world2pix(sky, 0) if len(sky) else np.zeros((0, 2))
    out = []
    for (ra, dec), (x, y) in zip(sky, pixels):
        if not (-0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
            out.append(NoCoverageError(f"{source}: ({ra:.6f}, {dec:.6f}) falls outside the image "
                                       f"(pixel {x:.1f}, {y:.1f})"))
            continue
        parent = (1 - header.get("CRPIX1A", 1) + x, 1 - header.get("CRPIX2A", 1) + y)
        out.append(((float(x), float(y)), cutout_box(x, y, npix, (ny, nx)), parent))
    return out


def cutout_geometry(header, shape, ra, dec, size_deg, *, source="<hdul>"):
    """Where a cutout lies on an image: the 0-based pixel ``(x, y)`` of (ra, dec), the box ``(x0, x1, y0, y1)``
    and the parent-detector position ``(x, y)`` (CRPIX1A/2A), from the IMAGE header.

    Raises
    ------
    NoCoverageError
        If the centre falls outside the image.
    """
    (result,) = cutout_geometries(header, shape, [(ra, dec)], size_deg, source=source)
    if isinstance(result, NoCoverageError):
        raise result
    return result


def psf_zone_header(header, n_planes, k0, centres):
    """The PSF header of a cutout that keeps only plane ``k0``: every zone card dropped, the kept zone's centre as
    XCTR_1/YCTR_1 and its number in the full cube as PSFZONE."""
    drop = {f"{key}_{k}" for k in range(1, n_planes + 1) for key in ("XCTR", "YCTR", "XWID", "YWID")}
    out = fits.Header([card for card in header.cards if card.keyword not in drop])
    out["XCTR_1"] = (centres[k0, 0], "Center of x zone")
    out["YCTR_1"] = (centres[k0, 1], "Center of y zone")
    out["PSFZONE"] = (k0 + 1, "zone of this plane in the full PSF cube")
    return out


def _nearest_psf_hdu(hdu, parent_x, parent_y, source):
    """The PSF HDU reduced to the one zone plane nearest a parent position (read as a section)."""
    n = hdu.shape[0]
    k0, centres = nearest_psf_plane(hdu.header, n, parent_x, parent_y, source=source)
    return fits.ImageHDU(data=np.asarray(hdu.section[k0 : k0 + 1]), header=psf_zone_header(hdu.header, n, k0, centres),
                         name="PSF")


def make_cutout(hdul, ra, dec, size_deg, *, source="<hdul>", psf="all"):
    """Cut a Level-2 MEF around (ra, dec).

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
        A full frame (or a cutout: offsets compose).
    ra, dec : float
        Centre, deg.
    size_deg : float
        Requested side, deg.
    source : str
        Named in errors.
    psf : {'all', 'nearest'}
        Keep the whole PSF cube (as IRSA's service does) or only the plane of the zone nearest the centre.

    Raises
    ------
    NoCoverageError
        If the centre falls outside the image.
    """
    if "IMAGE" not in hdul:
        raise DataFormatError(f"{source}: no IMAGE HDU")
    _, (x0, x1, y0, y1), parent = cutout_geometry(hdul["IMAGE"].header, hdul["IMAGE"].shape, ra, dec, size_deg,
                                                  source=source)
    out = [fits.PrimaryHDU(header=hdul[0].header.copy())]
    for hdu in hdul[1:]:
        if hdu.name in _PLANES:
            # .section reads only the rows needed, also from a remote (s3fs) file
            out.append(fits.ImageHDU(data=hdu.section[y0:y1, x0:x1], header=_shift_header(hdu.header, x0, y0),
                                     name=hdu.name))
        elif hdu.name == "PSF" and psf == "nearest":
            out.append(_nearest_psf_hdu(hdu, *parent, source))
        else:
            out.append(hdu.copy())
    return fits.HDUList(out)
