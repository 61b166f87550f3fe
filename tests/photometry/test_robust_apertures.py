"""Aperture pixels that disagree with the PSF are rejected, whatever their flags; good pixels are not."""

import numpy as np
import pytest

from spherex_sdt.photometry import QUALITY_BITS, aperture_photometry, reject_spikes
from spherex_sdt.simulate.instrument import render_point_source

SHAPE = (41, 41)
X, Y = 20.3, 19.8


def psf_peak():
    return _psf().max()


def _psf(fwhm=0.95):
    (sl, stamp) = render_point_source(SHAPE, X, Y, 1.0, fwhm)
    psf = np.zeros(SHAPE)
    psf[sl] = stamp
    return psf


def _image(flux, rng, *, sigma=1.0):
    psf = _psf()
    return flux * psf + rng.normal(scale=sigma, size=SHAPE), np.full(SHAPE, sigma**2), psf


def _measure(data, variance, psf, rejected=None, artefact=None):
    bad = np.zeros(SHAPE, bool)
    return aperture_photometry(data, variance, bad, bad, X, Y, [3.0], (7.0, 16.0), psf=psf, rejected=rejected,
                               artefact=artefact)[0]


@pytest.mark.parametrize("where", [(20, 20), (21, 20), (18, 21)])
def test_a_spike_is_rejected_and_the_flux_recovered(where):
    """A 200-sigma spike on the peak, a core pixel or the edge of a 300-sigma source is found by the
    leave-one-out fit (a plain fit would follow the spike on the peak) and the PSF correction restores the flux."""
    rng = np.random.default_rng(1)
    data, variance, psf = _image(300.0 / psf_peak(), rng)
    col, row = where
    data[row, col] += 200.0
    rejected = reject_spikes(data, variance, np.zeros(SHAPE, bool), psf, X, Y, radius=3.0, sigma=5.0,
                             model_error=0.05)
    assert rejected[row, col] and rejected.sum() == 1
    truth = 300.0 / psf_peak()
    spoiled = _measure(data, variance, psf)
    mended = _measure(data, variance, psf, rejected=rejected)
    assert abs(spoiled["flux"] - truth) > 5 * spoiled["flux_err"]
    assert abs(mended["flux"] - truth) < 3 * mended["flux_err"]
    assert mended["n_rejected"] == 1 and mended["quality"] & QUALITY_BITS["PIXELS_REJECTED"]


def test_no_rejection_on_clean_sources():
    """Pure noise around sources from faint to 1000 sigma at the peak, with a 3 % PSF model error: the model
    error term keeps bright cores, and noise alone almost never crosses 5 sigma."""
    rng = np.random.default_rng(2)
    n_rejected, trials = 0, 0
    for peak in (0.0, 10.0, 100.0, 1000.0):
        for _ in range(100):
            truth = peak / psf_peak()
            psf = _psf()
            data = truth * _psf(fwhm=0.95 * 1.03) + rng.normal(size=SHAPE)  # the sky's PSF is 3 % wider
            rejected = reject_spikes(data, np.ones(SHAPE), np.zeros(SHAPE, bool), psf, X, Y, radius=3.0,
                                     sigma=5.0, model_error=0.05)
            n_rejected += int(rejected.any())
            trials += 1
    assert n_rejected <= 2, f"{n_rejected} of {trials} clean sources lost a pixel"


def test_flagged_pixels_meet_the_stricter_threshold():
    """A 4-sigma excess is kept on an unflagged pixel (5 sigma) and rejected on a flagged one (3 sigma)."""
    rng = np.random.default_rng(3)
    data, _, psf = _image(50.0, rng, sigma=1e-3)  # all but noiseless, with a unit error: the excess alone decides
    data[18, 21] += 4.0
    variance = np.ones(SHAPE)
    suspect = np.zeros(SHAPE, bool)
    kept = reject_spikes(data, variance, np.zeros(SHAPE, bool), psf, X, Y, radius=3.0, sigma=5.0, model_error=0.0,
                         suspect=suspect, suspect_sigma=3.0)
    suspect[18, 21] = True
    gone = reject_spikes(data, variance, np.zeros(SHAPE, bool), psf, X, Y, radius=3.0, sigma=5.0, model_error=0.0,
                         suspect=suspect, suspect_sigma=3.0)
    assert not kept.any() and gone[18, 21] and gone.sum() == 1
    result = _measure(data, variance, psf, rejected=gone, artefact=suspect)
    assert result["quality"] & QUALITY_BITS["ARTEFACT_IN_APERTURE"]
    assert result["quality"] & QUALITY_BITS["PIXELS_REJECTED"]


def test_pixels_the_aperture_only_grazes_are_checked():
    """A spike on a pixel whose centre lies just outside r = 3 but which the exact aperture overlaps."""
    rng = np.random.default_rng(4)
    data, variance, psf = _image(100.0, rng)
    row, col = int(round(Y)), int(round(X + 3.2))
    data[row, col] += 500.0
    rejected = reject_spikes(data, variance, np.zeros(SHAPE, bool), psf, X, Y, radius=3.0, sigma=5.0,
                             model_error=0.05)
    assert rejected[row, col]
    assert _measure(data, variance, psf, rejected=rejected)["flux"] == pytest.approx(100.0, abs=15)


def _psf_at(x, y, fwhm=0.95):
    (sl, stamp) = render_point_source(SHAPE, x, y, 1.0, fwhm)
    psf = np.zeros(SHAPE)
    psf[sl] = stamp
    return psf


@pytest.mark.parametrize("peak", [100.0, 1000.0, 10000.0])
def test_a_source_off_its_position_keeps_its_core(peak):
    """A source 0.2 px from the position given, in 16 directions: the fixed-position comparison takes the dipole
    the shift leaves for spikes and rejects good core pixels (48, 103 and 361 at peaks of 100, 1000 and 10000
    sigma); with the position fitted (``psf_at``) a fifth of them at 100 sigma, where the fit is noisier (and a
    refit that would reject a pixel the fixed position kept is not taken), none above."""
    rng = np.random.default_rng(5)
    truth = peak / psf_peak()
    fixed = fitted = 0
    for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        data = truth * _psf_at(X + 0.2 * np.cos(angle), Y + 0.2 * np.sin(angle)) + rng.normal(size=SHAPE)
        options = {"radius": 3.0, "sigma": 5.0, "model_error": 0.05}
        fixed += reject_spikes(data, np.ones(SHAPE), np.zeros(SHAPE, bool), _psf(), X, Y, **options).sum()
        fitted += reject_spikes(data, np.ones(SHAPE), np.zeros(SHAPE, bool), _psf(), X, Y, psf_at=_psf_at,
                                **options).sum()
    assert fixed >= 40
    assert fitted <= (0.25 * fixed if peak < 1000 else 0)


@pytest.mark.parametrize("where", [(20, 20), (21, 20), (18, 21)])
def test_a_spike_is_still_rejected_with_the_position_fitted(where):
    """The spikes of the first test: the position fitted to the pixels the first comparison kept is the source's,
    and the spike alone goes again (the fit does not explain it away)."""
    rng = np.random.default_rng(6)
    truth = 300.0 / psf_peak()
    data = truth * _psf() + rng.normal(size=SHAPE)
    col, row = where
    data[row, col] += 200.0
    rejected = reject_spikes(data, np.ones(SHAPE), np.zeros(SHAPE, bool), _psf(), X, Y, radius=3.0, sigma=5.0,
                             model_error=0.05, psf_at=_psf_at)
    assert rejected[row, col] and rejected.sum() == 1
