"""Cut-first reprojection: cut each input around the target with a margin, then reproject onto a reference box.

Reprojecting a 2040² frame takes minutes; the box around a target is a few thousand pixels. Flux is reprojected
as surface brightness (``reproject_exact`` preserves surface brightness), and converted to µJy afterwards with the
reference grid's solid-angle map.
"""

import numpy as np
from reproject import reproject_exact

from ..errors import NoCoverageError

__all__ = ["cut_box", "reference_grid", "reproject_onto", "flags_onto"]


def cut_box(wcs, shape, ra, dec, size, *, margin=0):
    """Integer box ``(x0, x1, y0, y1)`` of ``size + 2 margin`` pixels centred on (ra, dec).

    Raises
    ------
    NoCoverageError
        If the box does not fit inside ``shape`` (the target is too close to the edge).
    """
    x, y = wcs.all_world2pix([[ra, dec]], 0)[0]
    half = (size - 1) / 2.0
    x0 = int(round(x - half)) - margin
    y0 = int(round(y - half)) - margin
    x1, y1 = x0 + size + 2 * margin, y0 + size + 2 * margin
    ny, nx = shape
    if x0 < 0 or y0 < 0 or x1 > nx or y1 > ny:
        raise NoCoverageError(
            f"a {size} px box (+{margin} px margin) around ({ra:.6f}, {dec:.6f}) leaves the {nx}x{ny} image "
            f"(centre at pixel {x:.1f}, {y:.1f})"
        )
    return x0, x1, y0, y1


def reference_grid(wcs, box):
    """WCS and shape of a box of a reference image (``wcs`` sliced to ``box``)."""
    x0, x1, y0, y1 = box
    return wcs[y0:y1, x0:x1], (y1 - y0, x1 - x0)


def bounding_box(source_wcs, source_shape, target_wcs, target_shape, *, margin=2):
    """Box of the source image covering the target grid, plus ``margin`` pixels, clipped to the image."""
    ny, nx = target_shape
    edge = np.concatenate([
        np.stack([np.arange(nx), np.zeros(nx)], 1), np.stack([np.arange(nx), np.full(nx, ny - 1)], 1),
        np.stack([np.zeros(ny), np.arange(ny)], 1), np.stack([np.full(ny, nx - 1), np.arange(ny)], 1),
    ])
    world = target_wcs.all_pix2world(edge, 0)
    px = source_wcs.all_world2pix(world, 0)
    sy, sx = source_shape
    x0 = max(int(np.floor(px[:, 0].min())) - margin, 0)
    x1 = min(int(np.ceil(px[:, 0].max())) + margin + 1, sx)
    y0 = max(int(np.floor(px[:, 1].min())) - margin, 0)
    y1 = min(int(np.ceil(px[:, 1].max())) + margin + 1, sy)
    if x0 >= x1 or y0 >= y1:
        raise NoCoverageError("the source image does not overlap the reference grid")
    return x0, x1, y0, y1


def reproject_onto(arrays, source_wcs, target_wcs, target_shape):
    """Reproject several arrays sharing one source grid with the exact (overlap-area) algorithm.

    Returns the reprojected arrays and the footprint (fraction of each output pixel covered by the input).
    """
    out = []
    footprint = None
    for array in arrays:
        result, foot = reproject_exact((np.asarray(array, float), source_wcs), target_wcs, shape_out=target_shape)
        out.append(result)
        footprint = foot if footprint is None else footprint
    return out, footprint


def flags_onto(flags, source_wcs, target_wcs, target_shape, *, samples=3):
    """Bit masks carried onto another grid: each output pixel gets the OR of the input pixels it overlaps.

    Bits cannot be resampled by value, so each output pixel is sampled at ``samples``² points spread over its area
    (centre, edges and corners for 3) and the input pixels under them are OR-ed; points off the input add nothing.

    Parameters
    ----------
    flags : 2D int ndarray
        Input bit mask on ``source_wcs``'s grid.
    source_wcs, target_wcs : `~astropy.wcs.WCS`
    target_shape : (int, int)

    Returns
    -------
    2D int32 ndarray
    """
    flags = np.asarray(flags)
    ny, nx = target_shape
    offsets = np.linspace(-0.45, 0.45, samples) if samples > 1 else np.zeros(1)
    yy, xx = np.mgrid[0:ny, 0:nx]
    n = offsets.size
    sx = np.broadcast_to(xx[..., None, None] + offsets[None, None, None, :], (ny, nx, n, n)).ravel()
    sy = np.broadcast_to(yy[..., None, None] + offsets[None, None, :, None], (ny, nx, n, n)).ravel()
    world = target_wcs.all_pix2world(np.stack([sx, sy], axis=1), 0)
    px = np.rint(source_wcs.all_world2pix(world, 0)).astype(int)
    fy, fx = flags.shape
    inside = (px[:, 0] >= 0) & (px[:, 0] < fx) & (px[:, 1] >= 0) & (px[:, 1] < fy)
    values = np.zeros(px.shape[0], np.int32)
    values[inside] = flags[px[inside, 1], px[inside, 0]]
    return np.bitwise_or.reduce(values.reshape(ny, nx, n * n), axis=2).astype(np.int32)
