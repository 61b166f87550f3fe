"""Reading SPHEREx files and writing products atomically."""

from .atomic import atomic_path, write_fits, write_table
from .spectral_image import SpectralImage, read_spectral_image

__all__ = ["atomic_path", "write_fits", "write_table", "SpectralImage", "read_spectral_image"]
