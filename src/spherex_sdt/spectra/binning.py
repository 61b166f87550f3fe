"""Binning per-exposure fluxes onto SPHEREx's 102 standard spectral channels (6 detectors x 17 sub-channels).

Each channel's flux is the inverse-variance weighted mean of the measurements that fall in it, after iterative
rejection of the worst outlier beyond ``clip_sigma``; the chi-square of the kept repeats about that mean is the
variability statistic (large chi2/dof, small p: the source changed between visits, or the errors are too small).
"""

import numpy as np
from astropy.table import Table
from scipy import stats

from ..detectors import DETECTORS
from ..photometry import QUALITY_BITS

__all__ = ["channel_table", "bin_spectrum", "binned_spectrum", "BINNING_EXCLUDES", "MASK_BITS", "SUBCHANNELS"]

SUBCHANNELS = 17

BINNING_EXCLUDES = ("FEW_ANNULUS_PIXELS", "APERTURE_OFF_IMAGE", "LOW_PSF_COVERAGE", "NO_PSF")
"""Quality bits that keep a measurement out of the binned spectrum (masked pixels are corrected, so they stay)."""

MASK_BITS = sum(QUALITY_BITS[name] for name in BINNING_EXCLUDES)
"""Those bits as one mask: a spectrum's ``mask`` column is set where a measurement carries any of them."""


def channel_table(path=None):
    """The standard channels: from a ``spectral_channels`` calibration file, or equal-R bins as a fallback.

    Parameters
    ----------
    path : path-like, optional
        A ``spectral_channels_spx_cal-sch-*.fits`` file (HDU ``SPECTRAL_CHANNELS``). Without it each detector's
        band (SIA ``em_min``..``em_max``) is split into 17 bins of equal log width, which approximates the real
        channels (constant resolving power per detector) but is not them.

    Returns
    -------
    `~astropy.table.Table`
        ``detector, subchan, wavelength, wl_min, wl_max, bandwidth`` (µm), and ``meta['source']``.
    """
    if path:
        raw = Table.read(path, hdu="SPECTRAL_CHANNELS")
        table = Table({
            "detector": np.asarray(raw["DETECTOR"], int), "subchan": np.asarray(raw["SUBCHAN"], int),
            "wavelength": np.asarray(raw["WAVELENGTH"], float), "wl_min": np.asarray(raw["WL_MIN"], float),
            "wl_max": np.asarray(raw["WL_MAX"], float), "bandwidth": np.asarray(raw["BANDWIDTH"], float),
        })
        table.meta["source"] = str(path)
        return table
    rows = []
    for det in DETECTORS.values():
        edges = np.geomspace(det.em_min_um, det.em_max_um, SUBCHANNELS + 1)
        rows.extend((det.number, k + 1, float(np.sqrt(edges[k] * edges[k + 1])), edges[k], edges[k + 1],
                     edges[k + 1] - edges[k]) for k in range(SUBCHANNELS))
    table = Table(rows=rows, names=("detector", "subchan", "wavelength", "wl_min", "wl_max", "bandwidth"))
    table.meta["source"] = "equal-R fallback (17 log-spaced bins per detector band)"
    return table


def _assign(detector, wavelength, channels):
    """Index of the channel of each measurement (same detector, contains λ, nearest centre); -1 if none."""
    out = np.full(len(wavelength), -1)
    ch_det = np.asarray(channels["detector"])
    lo, hi, mid = (np.asarray(channels[c], float) for c in ("wl_min", "wl_max", "wavelength"))
    for i, (det, lam) in enumerate(zip(detector, wavelength)):
        cand = np.flatnonzero((ch_det == det) & (lo <= lam) & (lam <= hi))
        if cand.size:
            out[i] = cand[np.argmin(np.abs(mid[cand] - lam))]
    return out


def _clipped_mean(flux, err, clip_sigma, max_reject):
    keep = np.ones(flux.size, bool)
    for _ in range(max_reject):
        w = 1.0 / err[keep] ** 2
        mean = np.sum(w * flux[keep]) / np.sum(w)
        resid = np.abs(flux - mean) / err
        resid[~keep] = -np.inf
        worst = int(np.argmax(resid))
        if keep.sum() <= 2 or resid[worst] <= clip_sigma:
            break
        keep[worst] = False
    w = 1.0 / err[keep] ** 2
    mean = np.sum(w * flux[keep]) / np.sum(w)
    return mean, 1.0 / np.sqrt(np.sum(w)), keep


def bin_spectrum(detector, wavelength, flux, flux_err, channels, *, clip_sigma=4.0, max_reject=3):
    """Bin measurements onto channels.

    Parameters
    ----------
    detector, wavelength, flux, flux_err : array_like
        One entry per measurement (µm, µJy). Non-finite or non-positive errors are ignored.
    channels : `~astropy.table.Table`
        From `channel_table`.
    clip_sigma : float
        A measurement further than this many of its own sigmas from the channel mean is rejected (the worst first,
        at most ``max_reject`` per channel, never leaving fewer than two).

    Returns
    -------
    `~astropy.table.Table`
        One row per channel with data: the channel's columns plus ``n``, ``n_rejected``, ``wavelength_mean``
        (weighted mean λ of the kept points, where the flux applies), ``flux``, ``flux_err``, ``chi2``, ``dof``,
        ``p_variable`` (chi-square survival probability of the repeats; NaN for a single point).
    """
    detector = np.asarray(detector, int)
    wavelength, flux, flux_err = (np.asarray(a, float) for a in (wavelength, flux, flux_err))
    ok = np.isfinite(wavelength) & np.isfinite(flux) & np.isfinite(flux_err) & (flux_err > 0)
    index = np.where(ok, _assign(detector, wavelength, channels), -1)
    rows = []
    for c in np.unique(index[index >= 0]):
        sel = index == c
        f, e, lam = flux[sel], flux_err[sel], wavelength[sel]
        mean, err, keep = _clipped_mean(f, e, clip_sigma, max_reject)
        w = 1.0 / e[keep] ** 2
        chi2 = float(np.sum(((f[keep] - mean) / e[keep]) ** 2))
        dof = int(keep.sum()) - 1
        ch = channels[c]
        rows.append({
            "detector": int(ch["detector"]), "subchan": int(ch["subchan"]), "wavelength": float(ch["wavelength"]),
            "wl_min": float(ch["wl_min"]), "wl_max": float(ch["wl_max"]), "bandwidth": float(ch["bandwidth"]),
            "n": int(sel.sum()), "n_rejected": int((~keep).sum()),
            "wavelength_mean": float(np.sum(w * lam[keep]) / np.sum(w)), "flux": float(mean), "flux_err": float(err),
            "chi2": chi2, "dof": dof, "p_variable": float(stats.chi2.sf(chi2, dof)) if dof > 0 else np.nan,
        })
    names = ("detector", "subchan", "wavelength", "wl_min", "wl_max", "bandwidth", "n", "n_rejected",
             "wavelength_mean", "flux", "flux_err", "chi2", "dof", "p_variable")
    table = Table(rows=rows, names=names) if rows else Table(names=names, dtype=[int, int] + [float] * 4 +
                                                             [int, int] + [float] * 4 + [int, float])
    for col in ("wavelength", "wl_min", "wl_max", "bandwidth", "wavelength_mean"):
        table[col].unit = "um"
    table["flux"].unit = table["flux_err"].unit = "uJy"
    table.meta["channels"] = channels.meta.get("source", "")
    table.meta["clip_sigma"] = clip_sigma
    return table


def binned_spectrum(spectrum, radius, channels, *, clip_sigma=4.0):
    """A spectrum table (`spherex_sdt.spectra.spectrum_table`) at one aperture radius on the standard channels.

    Measurements at other radii, or with a quality bit of `BINNING_EXCLUDES`, are left out; the rest go to
    `bin_spectrum`. ``channels`` is the channel table (`channel_table`).
    """
    radii = np.asarray(spectrum["radius"].value if hasattr(spectrum["radius"], "value") else spectrum["radius"])
    bad = MASK_BITS
    quality = np.asarray(spectrum["quality"]).astype(np.int64)  # bits: an integer column, also when empty
    use = np.isclose(radii, radius) & ((quality & bad) == 0)
    rows = spectrum[use]
    binned = bin_spectrum(rows["detector"], np.asarray(rows["wavelength"]), np.asarray(rows["flux"]),
                          np.asarray(rows["flux_err"]), channels, clip_sigma=clip_sigma)
    binned.meta.update({"source": spectrum.meta.get("source", ""), "radius_px": float(radius),
                        "excluded_quality": list(BINNING_EXCLUDES)})
    return binned
