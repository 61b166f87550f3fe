"""Calibration: FLAGS bits and masks, MJy/sr to µJy with the solid-angle pixel map, spectral WCS."""

from .flags import (
    ARTEFACT_FLAGS,
    SPHEREX_FLAGS,
    bad_pixel_mask,
    canonical_flags,
    flag_bits,
    flag_counts,
)
from .spectral import WAVELENGTH_SOURCES, sample_parent_maps, wave_table_bilinear, wavelength_at
from .units import (
    MJY_SR_TO_UJY_ARCSEC2,
    flux_per_pixel_factor,
    solid_angle_at,
    surface_brightness_to_flux,
)

__all__ = [
    "ARTEFACT_FLAGS",
    "SPHEREX_FLAGS",
    "bad_pixel_mask",
    "canonical_flags",
    "flag_bits",
    "flag_counts",
    "WAVELENGTH_SOURCES",
    "sample_parent_maps",
    "wave_table_bilinear",
    "wavelength_at",
    "MJY_SR_TO_UJY_ARCSEC2",
    "flux_per_pixel_factor",
    "solid_angle_at",
    "surface_brightness_to_flux",
]
