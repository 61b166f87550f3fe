"""Binning onto the 102 standard channels, with outlier rejection and a variability statistic."""

import numpy as np
import pytest

from spherex_sdt.spectra import bin_spectrum, channel_table

from ..conftest import REAL

CHANNELS_FILE = REAL / "calibration" / "spectral_channels_spx_cal-sch-v1-2026-106.fits"


def test_real_channel_table():
    table = channel_table(CHANNELS_FILE)
    assert len(table) == 102 and sorted(set(table["detector"])) == [1, 2, 3, 4, 5, 6]
    # spherex-data.md §17: D1 channel 1 is 0.753 um, D6 channel 17 is 4.982 um
    assert table["wavelength"][0] == pytest.approx(0.753, abs=5e-4)
    assert table["wavelength"][-1] == pytest.approx(4.982, abs=5e-4)


def test_fallback_table_covers_each_band():
    table = channel_table()
    assert len(table) == 102
    d5 = table[table["detector"] == 5]
    assert d5["wl_min"][0] == pytest.approx(3.8113) and d5["wl_max"][-1] == pytest.approx(4.43)


def test_weighted_mean_rejection_and_variability():
    channels = channel_table(CHANNELS_FILE)
    rng = np.random.default_rng(4)
    lam = np.full(20, 1.224)  # D2 sub-channel 5
    err = np.full(20, 10.0)
    flux = 500.0 + rng.normal(scale=10.0, size=20)
    flux[3] = 900.0  # a cosmic-ray-like outlier
    binned = bin_spectrum(np.full(20, 2), lam, flux, err, channels)
    assert len(binned) == 1 and binned["subchan"][0] == 5 and binned["n_rejected"][0] == 1
    assert binned["flux"][0] == pytest.approx(500.0, abs=3 * 10.0 / np.sqrt(19))
    assert binned["flux_err"][0] == pytest.approx(10.0 / np.sqrt(19))
    assert binned["p_variable"][0] > 0.001
    # a source that doubled between visits is flagged variable
    varying = np.where(np.arange(20) < 10, 500.0, 560.0) + rng.normal(scale=10.0, size=20)
    assert bin_spectrum(np.full(20, 2), lam, varying, err, channels)["p_variable"][0] < 1e-6


def test_measurements_go_to_their_own_detectors_channels():
    channels = channel_table(CHANNELS_FILE)
    # 2.43 um lies in both D3 channel 17 and D4 channel 1: the detector decides
    binned = bin_spectrum([3, 4], [2.43, 2.43], [1.0, 2.0], [0.1, 0.1], channels)
    assert list(binned["detector"]) == [3, 4] and list(binned["subchan"]) == [17, 1]
