"""Photometry of one source on every exposure that covers it."""

import logging

from ..errors import DataFormatError
from ..photometry import measure_cutout
from ..photometry.position import fit_position, unfitted_position

__all__ = ["measure_source", "OUTSIDE_CUTOUT"]

OUTSIDE_CUTOUT = "position outside the cutout"
"""Why an exposure was not measured when the source falls outside its cutout (the summary counts these apart)."""

log = logging.getLogger(__name__)


def measure_source(exposures, ra, dec, omegas, params, *, read_cutout, wavelength_maps=None, label=""):
    """Measure a position on each exposure's cutout.

    Parameters
    ----------
    exposures : iterable of mapping
        Rows of an exposure manifest: ``file_name``, ``status`` (``ok`` when the cutout was fetched), ``error``,
        ``path``.
    ra, dec : float
        Position (deg).
    omegas : dict
        Detector to its solid-angle pixel map (arcsec²).
    params : mapping
        ``radii_px``, ``annulus_px``, ``bad_flags``, ``background_flags``, ``reject_sigma``,
        ``reject_sigma_flagged``, ``psf_model_error`` (see `spherex_sdt.photometry.measure_cutout`),
        ``fit_position`` and ``max_position_shift_px`` (see `spherex_sdt.photometry.position.fit_position`).
    read_cutout : callable
        ``read_cutout(path)`` returns the `~spherex_sdt.io.SpectralImage`, or raises `DataFormatError` for a cutout
        that cannot be used or `OSError` for one that cannot be read (the caller owns the I/O).
    wavelength_maps : dict, optional
        Detector to its ``spectral_wcs`` (CWAVE, CBAND) images: wavelengths then come from that calibration, else
        from each cutout's WCS-WAVE table.
    label : str
        Names the source in log messages.

    Returns
    -------
    measurements : list of dict
        One per measured exposure (`spherex_sdt.photometry.measure_cutout` plus obs_id, expid, detector, mjd).
    skipped : list of (str, str)
        ``(file_name, why)`` for every exposure not measured.
    position : dict
        Where the source was measured: `spherex_sdt.photometry.position.fit_position`'s answer with
        ``params['fit_position']`` (the position fitted to every cutout at once, or (ra, dec) and why not), else
        (ra, dec).
    """
    images, skipped = [], []
    for item in exposures:
        if item["status"] != "ok":
            skipped.append((item["file_name"], item["error"]))
            continue
        try:
            images.append((item, read_cutout(item["path"])))
        except (DataFormatError, OSError) as exc:  # e.g. a cutout removed from the cache since it was fetched
            log.warning("source %s: skipping %s: %s", label, item["file_name"], exc)
            skipped.append((item["file_name"], str(exc)))
    position = unfitted_position(ra, dec, "photometry.fit_position is off")
    if params["fit_position"]:
        position = fit_position([image for _, image in images], ra, dec, bad_flags=params["bad_flags"],
                                background_flags=params["background_flags"], annulus=params["annulus_px"],
                                radius=max(params["radii_px"]), max_shift_px=params["max_position_shift_px"])
        log.info("source %s: position %s", label,
                 f"fitted on {position['n_exposures']} exposures, {position['shift_arcsec']:.3f} arcsec from the "
                 "catalogue's" if position["fitted"] else f"kept ({position['why']})")
    measurements = []
    for item, image in images:
        m = measure_cutout(image, omegas[image.detector], position["ra"], position["dec"], radii=params["radii_px"],
                           annulus=params["annulus_px"], bad_flags=params["bad_flags"],
                           background_flags=params["background_flags"], reject_sigma=params["reject_sigma"],
                           reject_sigma_flagged=params["reject_sigma_flagged"],
                           psf_model_error=params["psf_model_error"],
                           wavelength_maps=None if wavelength_maps is None else wavelength_maps[image.detector],
                           # a position fitted to every exposure is not refitted to one (a spike cluster would
                           # draw it); the catalogue's may be
                           refit_position=not position["fitted"])
        if m is None:
            skipped.append((item["file_name"], OUTSIDE_CUTOUT))
            continue
        m.update(obs_id=image.obs_id, expid=image.expid, detector=image.detector, mjd=image.mjd)
        measurements.append(m)
    return measurements, skipped, position
