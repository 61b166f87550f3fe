"""Light curves per standard channel and their chi-square variability test, on injected truth."""

import numpy as np
import pytest

from spherex_sdt.spectra import channel_table, light_curve

CHANNELS = channel_table()


def _visits(rng, n_channels=20, visits=3, flux=500.0, error=10.0):
    """Measurements of a constant source: ``visits`` per channel at the centres of the first channels."""
    ch = CHANNELS[:n_channels]
    lam = np.repeat(np.asarray(ch["wavelength"], float), visits)
    det = np.repeat(np.asarray(ch["detector"], int), visits)
    mjd = np.tile(60800.0 + 180.0 * np.arange(visits), n_channels) + rng.uniform(0, 2, lam.size)
    err = np.full(lam.size, error)
    return lam, det, mjd, flux + rng.normal(0, error, lam.size), err


def test_chi_square_of_each_channel():
    lam = np.array([0.80, 0.80, 0.80, 1.20])
    det = np.array([1, 1, 1, 2])
    table = light_curve(lam, det, [3.0, 1.0, 2.0, 5.0], [10.0, 12.0, 14.0, 7.0], [1.0, 1.0, 2.0, 1.0], CHANNELS,
                        obs_id=["a", "b", "c", "d"])
    first = table[table["detector"] == 1]
    assert list(first["mjd"]) == [1.0, 2.0, 3.0] and list(first["obs_id"]) == ["b", "c", "a"]  # sorted in time
    w = np.array([1.0, 0.25, 1.0])
    f = np.array([12.0, 14.0, 10.0])
    mean = np.sum(w * f) / np.sum(w)
    assert first["mean_flux"][0] == pytest.approx(mean)
    assert first["chi2"][0] == pytest.approx(np.sum(w * (f - mean) ** 2)) and first["dof"][0] == 2
    single = table[table["detector"] == 2][0]
    assert single["dof"] == 0 and np.isnan(single["p_variable"])
    assert table.meta["dof_total"] == 2 and table.meta["n_channels_repeated"] == 1
    assert table["flux"].unit == "uJy" and table["mjd"].unit == "d"


def test_constant_sources_are_rarely_called_variable():
    """With honest errors p is uniform: about 5 % of constant sources fall below p = 0.05."""
    rng = np.random.default_rng(11)
    p = np.array([light_curve(*_visits(rng), CHANNELS).meta["p_variable_total"] for _ in range(400)])
    assert np.all((p >= 0) & (p <= 1))
    # 400 sources: the count below 0.05 is binomial (mean 20, sd 4.4); 8..36 is beyond 2.7 sd either way
    assert 8 <= np.sum(p < 0.05) <= 36
    assert 0.4 < np.median(p) < 0.6


def test_a_variable_source_is_found_in_its_channel():
    rng = np.random.default_rng(5)
    lam, det, mjd, flux, err = _visits(rng)
    flux[7] += 25 * err[7]  # one visit of channel 3 (index 7 = channel 2, visit 1) brightened by 25 sigma
    table = light_curve(lam, det, mjd, flux, err, CHANNELS)
    assert table.meta["p_variable_total"] < 1e-10
    worst = table[np.argmin(np.nan_to_num(table["p_variable"], nan=1.0))]
    assert worst["channel_wavelength"] == pytest.approx(float(CHANNELS["wavelength"][2]))


def test_no_measurements():
    table = light_curve([], [], [], [], [], CHANNELS)
    assert len(table) == 0 and table.meta["dof_total"] == 0 and np.isnan(table.meta["p_variable_total"])
