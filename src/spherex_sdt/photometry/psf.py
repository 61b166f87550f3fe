"""The SPHEREx PSF cube: choosing the zone plane for a position and sampling it on the image pixels."""

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter

from ..errors import DataFormatError
from ..io.spectral_image import nearest_psf_plane

__all__ = ["psf_plane_for", "pixelated_psf", "psf_spline"]


def psf_plane_for(psf_cube, psf_header, parent_x, parent_y, *, source="PSF"):
    """The PSF plane of the zone whose centre is nearest to a parent-detector position.

    Returns ``(plane, zone_number, oversampling)``.
    """
    if psf_cube is None or psf_header is None:
        raise DataFormatError(f"{source}: no PSF HDU")
    k0, _ = nearest_psf_plane(psf_header, psf_cube.shape[0], parent_x, parent_y, source=source)
    return np.asarray(psf_cube[k0], float), k0 + 1, int(psf_header.get("OVERSAMP", 10))


def psf_spline(plane):
    """The cubic-spline coefficients of a PSF plane, for `pixelated_psf` (``prefiltered=True``) to evaluate the
    plane at many positions without filtering it again each time."""
    return spline_filter(np.asarray(plane, float), order=3, output=np.float64, mode="constant")


def pixelated_psf(plane, oversample, x, y, shape, *, half_width=None, prefiltered=False, samples_per_pixel=None):
    """Fraction of a point source's flux falling in each pixel of an image, for a source at 0-based (x, y).

    The oversampled plane (unit sum, centre at its middle sample) is integrated over each image pixel by summing
    ``oversample``² spline-interpolated samples. Pixels beyond the plane get 0. With ``prefiltered``, ``plane`` is
    already `psf_spline` of the plane (the same values, for a fraction of the cost when called repeatedly).
    ``samples_per_pixel`` below ``oversample`` integrates each pixel with fewer samples (faster, slightly coarser:
    enough for fitting a position).
    """
    ny, nx = shape
    stamp = plane.shape[0]
    centre = (stamp - 1) / 2.0
    half = half_width if half_width is not None else int(np.ceil(centre / oversample)) + 1
    ix0, ix1 = max(int(np.floor(x)) - half, 0), min(int(np.floor(x)) + half + 2, nx)
    iy0, iy1 = max(int(np.floor(y)) - half, 0), min(int(np.floor(y)) + half + 2, ny)
    out = np.zeros(shape)
    if ix0 >= ix1 or iy0 >= iy1:
        return out
    n = oversample if samples_per_pixel is None else int(samples_per_pixel)
    sub = (np.arange(n) + 0.5) / n - 0.5
    xs = (np.arange(ix0, ix1)[:, None] + sub[None, :]).ravel()
    ys = (np.arange(iy0, iy1)[:, None] + sub[None, :]).ravel()
    qx = centre + (xs - x) * oversample
    qy = centre + (ys - y) * oversample
    grid_y, grid_x = np.meshgrid(qy, qx, indexing="ij")
    # cubic splines: linear interpolation between samples would flatten a ~9-sample-wide core by ~1 %
    samples = map_coordinates(plane, [grid_y, grid_x], order=3, mode="constant", cval=0.0, prefilter=not prefiltered)
    blocks = samples.reshape(iy1 - iy0, n, ix1 - ix0, n).sum(axis=(1, 3)) * (oversample / n) ** 2
    out[iy0:iy1, ix0:ix1] = blocks
    return out
