"""Aperture photometry on Level-2 cutouts, with a PSF-based aperture and mask correction."""

from .apertures import ALGORITHM_VERSION, QUALITY_BITS, aperture_photometry, measure_cutout, psf_photometry
from .psf import pixelated_psf, psf_plane_for

__all__ = ["ALGORITHM_VERSION", "QUALITY_BITS", "measure_cutout", "aperture_photometry", "psf_photometry",
           "pixelated_psf",
           "psf_plane_for"]
