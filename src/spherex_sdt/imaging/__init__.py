"""Imaging: background, cut-first reprojection and difference images."""

from .background import subtract_background
from .difference import DifferenceImage, difference_image, fill_masked
from .reprojection import cut_box, reference_grid, reproject_onto

__all__ = [
    "subtract_background",
    "DifferenceImage",
    "difference_image",
    "fill_masked",
    "cut_box",
    "reference_grid",
    "reproject_onto",
]
