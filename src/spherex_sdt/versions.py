"""Algorithm versions of the stages whose results change when their code changes.

The workflow passes them to rules as params, so a new version re-runs that stage and the stages after it. This
module imports nothing, so reading a version costs the workflow nothing while it builds its DAG.
"""

__all__ = ["PHOTOMETRY_ALGORITHM"]

PHOTOMETRY_ALGORITHM = "9"
"""Forced aperture + PSF photometry on cutouts (``spherex_sdt.photometry``), and the spectrum files' layout
(5: one row per exposure sorted by wavelength, the other radii as columns; 6: pixels disagreeing with the PSF fit
are rejected, quality bits 32 and 64; 7: when pixels are rejected, the source's position is fitted to the others
and every pixel judged again there; 8: each source measured at one position fitted to all its exposures,
`photometry.fit_position`; 9: and there no per-cutout position refit in the spike rejection)."""
