"""The simulator's artefacts come at the rates of real frames and carry what their flags warn about."""

import numpy as np
import pytest
from astropy.io import fits
from scipy.ndimage import label

from spherex_sdt.calibration import flag_bits
from spherex_sdt.errors import InvalidInputError
from spherex_sdt.simulate import SimulationSettings
from spherex_sdt.simulate.artefacts import POPULATIONS, QR1_COUNTS, REAL_FRAME_PIXELS, add_artefacts

from ..conftest import SMALL

SIZE = 1024
BIT = {name: 1 << bit for name, bit in
       {"TRANSIENT": 0, "OVERFLOW": 1, "SUR_ERROR": 2, "HOT": 10, "COLD": 11, "PERSIST": 17, "OUTLIER": 19}.items()}
NO_ARTEFACTS = {f"{name.lower()}_scale": 0.0 for name in POPULATIONS} | {"cosmic_ray_rate": 0.0}


def _exposure(detector, seed, **settings):
    """One artefact layer on a noiseless unit-σ frame: the image holds only what the artefacts added."""
    rng = np.random.default_rng(seed)
    image = np.zeros((SIZE, SIZE))
    flags = np.zeros((SIZE, SIZE), np.int32)
    signal = np.full((SIZE, SIZE), 40.0)
    drawn = add_artefacts(image, flags, np.ones((SIZE, SIZE)), signal, detector,
                          SimulationSettings(**settings), rng)
    return image, flags, drawn


@pytest.mark.parametrize("detector", [2, 4])
def test_flagged_populations_at_qr1_rates(detector):
    """Over 12 exposures every population's pixel count stays inside its detector's QR1 range (scaled to the
    frame size), and the exposures spread across that range."""
    counts = {name: [] for name in POPULATIONS}
    for seed in range(12):
        _, flags, _ = _exposure(detector, seed)
        for name in POPULATIONS:
            counts[name].append(np.count_nonzero(flags & BIT[name]) * REAL_FRAME_PIXELS / flags.size)
    for name in ("TRANSIENT", "SUR_ERROR", "PERSIST", "OUTLIER", "OVERFLOW", "COLD"):
        lo, hi = QR1_COUNTS[detector][name]
        got = np.array(counts[name])
        # clusters overlap and the Poisson draw scatters small counts: 20 % slack, 4 sigma for the rare ones
        slack = 4 * np.sqrt(hi * flags.size / REAL_FRAME_PIXELS) * REAL_FRAME_PIXELS / flags.size
        assert got.min() >= 0.8 * lo - slack and got.max() <= 1.2 * hi + slack, (name, lo, hi, got)
        if hi > 2 * lo and name != "COLD":
            assert got.max() - got.min() > 0.3 * (hi - lo), (name, got)  # drawn per exposure, not fixed
    transient = np.array(counts["TRANSIENT"]) / REAL_FRAME_PIXELS
    assert transient.min() > 0.005 and transient.max() < 0.055


def test_flagged_pixels_carry_spikes():
    image, flags, _ = _exposure(4, 1)
    only = {name: flags == BIT[name] for name in BIT}
    # about half of the TRANSIENT clusters keep a residual: centres >= 5 sigma, neighbours 5-30 % of it
    transient = image[only["TRANSIENT"]]
    assert 0.2 < np.mean(transient > 4) < 0.5
    assert np.mean(transient == 0) > 0.4  # the corrected ones are clean
    assert transient.max() > 100
    outlier = image[only["OUTLIER"]]
    assert np.all(np.abs(outlier) >= 5 - 1e-9) and 0.7 < np.mean(outlier > 0) < 0.9
    sur = image[only["SUR_ERROR"]]
    assert np.all(np.abs(sur) >= 5 - 1e-9) and 0.4 < np.mean(sur > 0) < 0.6
    persist = image[only["PERSIST"]]
    assert np.all(persist > 0) and np.median(persist) > 2
    assert np.all(image[only["HOT"]] >= 30)
    cold = image[only["COLD"]]
    assert np.all((cold <= -0.5 * 40 + 1e-9) & (cold >= -40 - 1e-9))  # 50-100 % of the signal lost
    assert np.all(np.abs(image[only["OVERFLOW"]]) > 0)


def test_unflagged_cosmic_rays():
    """Hits no bit flags: at the configured rate, with amplitudes inside cosmic_ray_sigma."""
    image, flags, drawn = _exposure(2, 3, **(NO_ARTEFACTS | {"cosmic_ray_rate": 2e-4}))
    assert not flags.any()
    hit = image != 0
    assert drawn["COSMIC_RAY"] == hit.sum()
    expected = 2e-4 * SIZE**2 * (1 + 8 * 0.2)  # clusters of 2.6 px on average
    assert hit.sum() == pytest.approx(expected, rel=0.15)
    _, n_clusters = label(hit, structure=np.ones((3, 3)))
    assert n_clusters == pytest.approx(2e-4 * SIZE**2, rel=0.15)
    assert image[hit].max() <= 30 + 1e-9 and np.sum(image[hit] >= 3 - 1e-9) >= 0.9 * n_clusters


def test_no_artefacts_when_scaled_to_zero():
    image, flags, drawn = _exposure(4, 5, **NO_ARTEFACTS)
    assert not image.any() and not flags.any() and sum(drawn.values()) == 0


def test_simulated_file_flags_agree_with_values(small_archive):
    """In a written Level-2 file, pixels with spike-carrying flags deviate from ZODI + source far more often than
    clean pixels, and the header counts match the plane."""
    root, index, _ = small_archive
    path = root / index["access_url"][0]
    with fits.open(path) as hdul:
        image, zodi, var = (hdul[n].data.astype(float) for n in ("IMAGE", "ZODI", "VARIANCE"))
        flags = hdul["FLAGS"].data
        bits = flag_bits(hdul["FLAGS"].header)
        header = hdul["IMAGE"].header
    pull = (image - zodi) / np.sqrt(var)
    source = (flags & (1 << bits["SOURCE"])) != 0
    clean = (flags == 0)
    spiky = ((flags & ((1 << bits["OUTLIER"]) | (1 << bits["SUR_ERROR"]))) != 0) & ~source
    assert np.mean(np.abs(pull[clean]) > 5) < 0.002  # only the few unflagged cosmic rays
    assert np.mean(np.abs(pull[spiky]) > 5) > 0.9
    for name, bit in bits.items():
        key = {"MISSING_DATA": "N_MISSING"}.get(name, f"N_{name}")
        if f"L2 {key}" in header:
            assert header[f"L2 {key}"] == np.count_nonzero(flags & (1 << bit)), name
    nonfunc = (flags & (1 << bits["NONFUNC"])) != 0
    assert np.isnan(image[nonfunc]).any() and np.isfinite(image[nonfunc]).any()  # blank or garbage
    assert SMALL.transient_scale == 1.0  # the shared small archive is a harsh one


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"spike_sigma": (5.0,)}, r"spike_sigma must be \[low, high\]"),
    ({"cosmic_ray_sigma": (30.0, 3.0)}, r"cosmic_ray_sigma must be \[low, high\] with 0 < low <= high"),
    ({"transient_scale": -1.0}, r"transient_scale must be >= 0"),
    ({"transient_spike_fraction": 1.5}, r"transient_spike_fraction must be <= 1"),
])
def test_settings_are_checked(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        SimulationSettings(**kwargs)


def test_settings_take_yaml_lists():
    settings = SimulationSettings(spike_sigma=[4, 400])
    assert settings.spike_sigma == (4.0, 400.0)
