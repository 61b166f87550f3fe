"""One sky position for a source, fitted jointly to every exposure that covers it.

A catalogue position comes from one difference image. A source at the edge of its box, or one from a user's list,
can be a tenth of a pixel off, and at that offset the PSF comparison that rejects spikes (`reject_spikes`) starts
to reject good core pixels of bright sources. Each exposure sees the source on its own pixel grid, at its own
pixel phase, so together they pin the position far better than any one image: each exposure's PSF fit gives a
pixel shift and its covariance, the exposure's WCS maps that shift to the sky, and the shifts are combined by
weighted least squares (Gauss-Newton, damped), with exposures that disagree beyond 5σ left out. When most
exposures disagree (a blend whose parts weigh differently at each wavelength, an extended source), the start is
kept.
"""

import numpy as np

from ..calibration.flags import ARTEFACT_FLAGS, bad_pixel_mask, flag_bits
from .apertures import annulus_background
from .psf import pixelated_psf, psf_plane_for, psf_spline

__all__ = ["fit_position", "unfitted_position"]

_ARCSEC = 1.0 / 3600.0


class _Exposure:
    """What the fit needs from one cutout: its pixels near the source and the PSF at any position there."""

    def __init__(self, image, ra, dec, *, bad_flags, background_flags, annulus, radius):
        self.x, self.y = image.wcs.all_world2pix([[ra, dec]], 0)[0]
        cos_dec = np.cos(np.radians(dec))
        east = image.wcs.all_world2pix([[ra + _ARCSEC / cos_dec, dec]], 0)[0]
        north = image.wcs.all_world2pix([[ra, dec + _ARCSEC]], 0)[0]
        # pixels per arcsec east and north: a sky shift (xi, eta) moves the source by jacobian @ (xi, eta)
        self.jacobian = np.column_stack([east - (self.x, self.y), north - (self.x, self.y)])
        data, variance = np.asarray(image.image, float), np.asarray(image.variance, float)
        bits = flag_bits(image.flags_header, source=f"{image.path} FLAGS")
        finite = np.isfinite(data) & np.isfinite(variance) & (variance > 0)
        # flagged artefacts are left out of the position altogether: a spike must not draw it
        bad = bad_pixel_mask(image.flags, bits, (*bad_flags, *ARTEFACT_FLAGS)) | ~finite
        background_bad = bad_pixel_mask(image.flags, bits, background_flags) | bad
        median = annulus_background(data, background_bad, self.x, self.y, annulus)[0]
        ny, nx = data.shape
        yy, xx = np.mgrid[0:ny, 0:nx]
        use = ((xx - self.x) ** 2 + (yy - self.y) ** 2 <= (radius + 0.71) ** 2) & ~bad
        self.rows, self.cols = np.nonzero(use)
        self.d = data[self.rows, self.cols] - median
        self.w = 1.0 / variance[self.rows, self.cols]
        parent_x, parent_y = image.parent_origin[0] + self.x, image.parent_origin[1] + self.y
        plane, _, self.oversample = psf_plane_for(image.psf, image.psf_header, parent_x, parent_y, source=image.path)
        self.spline = psf_spline(plane)
        self.shape = data.shape
        self.half_width = int(np.ceil(radius)) + 2  # the PSF is integrated only over the pixels fitted
        # a quarter of the samples per pixel (of a 10x oversampled plane): positions to better than 0.002 px, 3x faster
        self.samples = max(2, self.oversample // 2)

    def psf(self, x, y):
        return pixelated_psf(self.spline, self.oversample, x, y, self.shape, half_width=self.half_width,
                             prefiltered=True, samples_per_pixel=self.samples)[self.rows, self.cols]

    def shift(self, offset, step=0.02):
        """The pixel shift the PSF fit at ``self + jacobian @ offset`` asks for, its covariance and the flux S/N."""
        x, y = np.array([self.x, self.y]) + self.jacobian @ offset
        here = self.psf(x, y)
        basis = np.stack([here, (self.psf(x + step, y) - here) / step, (self.psf(x, y + step) - here) / step], axis=1)
        try:
            cov = np.linalg.inv((basis * self.w[:, None]).T @ basis)
        except np.linalg.LinAlgError:
            return None
        flux, bx, by = cov @ ((basis * self.w[:, None]).T @ self.d)
        if not flux > 0:
            return None
        # d = flux * (psf + dx * dpsf/dx + dy * dpsf/dy): the shift is (bx, by) / flux
        return np.array([bx, by]) / flux, cov[1:, 1:] / flux**2, flux / np.sqrt(cov[0, 0])


def unfitted_position(ra, dec, why, n_exposures=0):
    """The answer of `fit_position` that keeps (ra, dec), saying why."""
    return {"ra": float(ra), "dec": float(dec), "fitted": False, "shift_arcsec": 0.0, "error_arcsec": None,
            "n_exposures": n_exposures, "why": why}


def fit_position(images, ra, dec, *, bad_flags, background_flags, annulus, radius, max_shift_px=0.5, min_snr=5.0,
                 min_exposures=3, iterations=10, max_step_px=0.25):
    """The sky position of a point source fitted to every cutout at once.

    Parameters
    ----------
    images : sequence of `~spherex_sdt.io.SpectralImage`
        Cutouts with FLAGS, VARIANCE and PSF (others are skipped).
    ra, dec : float
        Starting position (deg), e.g. the catalogue's.
    bad_flags, background_flags : sequence of str
        FLAGS names excluded from the fit and from the background annulus; TRANSIENT, OUTLIER and OVERFLOW
        pixels are always excluded from the fit.
    annulus : (float, float)
        Background annulus radii (pixels).
    radius : float
        Pixels within this radius (plus half a diagonal) of the source are fitted.
    max_shift_px : float
        A fit further than this from the start (in the pixels of the exposures) is refused.
    min_snr : float
        Exposures where the source's PSF flux has a lower S/N do not vote.
    min_exposures : int
        Fewer voting exposures leave the position as it was.

    Returns
    -------
    dict
        ``ra``, ``dec`` (deg; the start when not fitted), ``fitted`` (bool), ``shift_arcsec`` (from the start),
        ``error_arcsec`` (1σ along the worse axis; None when not fitted), ``n_exposures`` (voting), ``why`` (when
        not fitted).
    """
    exposures = []
    for image in images:
        if image.psf is None or image.flags is None or image.variance is None:
            continue
        exposure = _Exposure(image, ra, dec, bad_flags=bad_flags, background_flags=background_flags,
                             annulus=annulus, radius=radius)
        ny, nx = exposure.shape
        if -0.5 <= exposure.x < nx - 0.5 and -0.5 <= exposure.y < ny - 0.5 and exposure.d.size > 5:
            exposures.append(exposure)
    unchanged = unfitted_position(ra, dec, "")
    if not exposures:
        return {**unchanged, "n_exposures": 0, "why": "no exposure with PSF and usable pixels"}
    arcsec_per_px = float(np.median([1.0 / np.sqrt(abs(np.linalg.det(e.jacobian))) for e in exposures]))
    offset = np.zeros(2)  # (east, north) arcsec
    excluded, before = set(), set()  # a start already right is left after one round
    normal = None
    for _ in range(iterations):
        normal, rhs, votes = np.zeros((2, 2)), np.zeros(2), []
        for k, exposure in enumerate(exposures):
            answer = exposure.shift(offset)
            if answer is None or answer[2] < min_snr:
                continue
            shift, cov, _ = answer
            try:
                weight = np.linalg.inv(cov)
            except np.linalg.LinAlgError:
                continue
            votes.append((k, shift, weight, exposure.jacobian))
            if k not in excluded:
                normal += exposure.jacobian.T @ weight @ exposure.jacobian
                rhs += exposure.jacobian.T @ weight @ shift
        if len(votes) < min_exposures:
            return {**unchanged, "n_exposures": len(votes), "why": f"{len(votes)} exposures with S/N >= {min_snr:g}"}
        if len(votes) - len(excluded) < max(min_exposures, 0.5 * len(votes)):
            break  # most exposures disagree with the common position: refused below
        full = np.linalg.solve(normal, rhs)
        length = np.hypot(*full) / arcsec_per_px
        # the linear model holds only near the current position: damped steps
        step = full * min(1.0, max_step_px / length) if length > 0 else full
        offset = offset + step
        # once the steps are small, exposures whose own shift disagrees with the common one beyond 5 sigma (a spike
        # no flag marked) drop out
        if length < max_step_px:
            excluded = {k for k, shift, weight, jacobian in votes if (r := shift - jacobian @ full) @ weight @ r > 25.0}
        if np.hypot(*offset) / arcsec_per_px > max_shift_px:
            return {**unchanged, "n_exposures": len(votes),
                    "why": f"the fit ran more than {max_shift_px:g} px from the start"}
        if length < 0.01 and excluded == before:  # a step this small was exact: Gauss-Newton converges quadratically
            break
        before = excluded
    if len(votes) - len(excluded) < max(min_exposures, 0.5 * len(votes)):
        # most exposures disagree with the common position: not one point source (a blend whose parts weigh
        # differently at each wavelength, an extended source); the catalogue's position is the safer one
        return {**unchanged, "n_exposures": len(votes) - len(excluded),
                "why": f"{len(excluded)} of {len(votes)} exposures disagree with a common position (a blend?)"}
    error = float(np.sqrt(np.max(np.linalg.eigvalsh(np.linalg.inv(normal)))))
    cos_dec = np.cos(np.radians(dec))
    return {"ra": float(ra + offset[0] * _ARCSEC / cos_dec), "dec": float(dec + offset[1] * _ARCSEC),
            "fitted": True, "shift_arcsec": float(np.hypot(*offset)), "error_arcsec": error,
            "n_exposures": len(votes) - len(excluded), "why": ""}
