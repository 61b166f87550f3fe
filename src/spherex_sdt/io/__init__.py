"""Reading SPHEREx files and writing products atomically."""

from .atomic import atomic_path, write_fits, write_table
from .calibration_files import read_solid_angle_map, read_spectral_wcs
from .spectral_image import SpectralImage, read_spectral_image

__all__ = ["atomic_path", "write_fits", "write_table", "read_solid_angle_map", "read_spectral_wcs",
           "SpectralImage", "read_spectral_image"]
