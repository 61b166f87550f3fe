"""Aperture photometry on Level-2 cutouts, with a PSF-based aperture and mask correction."""

from .apertures import (
    ALGORITHM_VERSION,
    QUALITY_BITS,
    annulus_background,
    aperture_photometry,
    measure_cutout,
    psf_photometry,
    reject_spikes,
)
from .psf import pixelated_psf, psf_plane_for

__all__ = ["ALGORITHM_VERSION", "QUALITY_BITS", "measure_cutout", "aperture_photometry", "annulus_background",
           "reject_spikes", "psf_photometry", "pixelated_psf", "psf_plane_for"]
