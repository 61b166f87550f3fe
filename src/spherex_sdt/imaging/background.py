"""Smooth background with sep, estimated on background-good pixels only."""

import numpy as np
import sep

from ..errors import InvalidInputError

__all__ = ["subtract_background"]


def subtract_background(image, mask, *, box=64, filter_size=3):
    """Subtract a sep background mesh.

    Parameters
    ----------
    image : 2D ndarray
        Surface brightness; non-finite pixels are ignored.
    mask : 2D bool ndarray
        True for pixels that must not enter the estimate (background-bad FLAGS bits, sources).
    box : int
        Mesh size in pixels (sep ``bw = bh``), shrunk to the image size when larger.
    filter_size : int
        Median filter size in meshes (sep ``fw = fh``).

    Returns
    -------
    subtracted, background : 2D float32 ndarray
        ``image - background`` (NaN where ``image`` is NaN) and the background itself.
    """
    image = np.asarray(image, dtype=np.float32)
    if mask.shape != image.shape:
        raise InvalidInputError(f"mask shape {mask.shape} differs from image shape {image.shape}")
    bad = np.asarray(mask, bool) | ~np.isfinite(image)
    if bad.all():
        raise InvalidInputError("background: every pixel is masked or non-finite")
    box = int(max(4, min(box, image.shape[0], image.shape[1])))
    data = np.where(bad, 0.0, image).astype(np.float32)
    bkg = sep.Background(np.ascontiguousarray(data), mask=np.ascontiguousarray(bad), bw=box, bh=box,
                         fw=int(filter_size), fh=int(filter_size))
    background = bkg.back().astype(np.float32)
    return image - background, background
