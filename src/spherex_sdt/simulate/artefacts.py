"""Artefacts of one Level-2 exposure at the rates of real frames, with the values real flagged pixels carry.

Rates are the ranges of the ``L2 N_*`` counts over the 42 QR1 frames (``spherex-data.md`` §4.2), per detector; each
exposure draws its own rate uniformly inside its detector's range. A flagged pixel is not a clean pixel with a bit
set: it carries what the flag warns about, in units of that pixel's noise σ:

* TRANSIENT: cosmic-ray hits found in the sample-up-the-ramp fit, 1-5 px clusters (a hit and the neighbours its
  charge spreads to). The ramp fit corrects most; a fraction keeps a residual spike (log-uniform amplitude).
  With ~1.8e-3 hits per pixel per exposure expected in orbit, these are the bulk of the real TRANSIENT counts.
* OUTLIER: single pixels the pipeline's outlier detection caught: spikes, mostly positive.
* SUR_ERROR: onboard-processing errors: spikes of either sign.
* PERSIST: persistent charge from earlier bright images, small PSF-sized blobs of positive excess.
* OVERFLOW: pixels that overflowed during the ramp, small clusters whose values are off either way.
* HOT: strong positive excess; COLD: a fraction of the signal missing.
* Unflagged cosmic rays: flagging is never perfect. The hits the ramp fit misses are the faint ones (a strong jump
  is easy to find), so they are drawn at a small rate with modest amplitudes, with no bit set.

Permanent defects (NONFUNC, DICHROIC, FULLSAMPLE) are the same in every exposure of a detector and are drawn in
`spherex_sdt.simulate.archive`; `nonfunc_values` gives NONFUNC pixels their values (NaN or garbage).
"""

import numpy as np

from ..calibration.flags import SPHEREX_FLAGS

__all__ = ["QR1_COUNTS", "REAL_FRAME_PIXELS", "POPULATIONS", "draw_counts", "add_artefacts", "nonfunc_values"]

REAL_FRAME_PIXELS = 4_161_600
"""Pixels of a real 2040² frame: the counts below are per this many pixels."""

# (min, max) pixel counts per frame over the 42 QR1 frames, spherex-data.md §4.2
QR1_COUNTS = {
    1: {"COLD": (1444, 1573), "HOT": (0, 7), "TRANSIENT": (27_000, 94_000), "SUR_ERROR": (19_000, 45_000),
        "OVERFLOW": (1_200, 2_400), "PERSIST": (4_500, 22_000), "OUTLIER": (14_000, 29_000)},
    2: {"COLD": (606, 795), "HOT": (3, 10), "TRANSIENT": (26_000, 134_000), "SUR_ERROR": (18_000, 55_000),
        "OVERFLOW": (2_500, 6_200), "PERSIST": (8_400, 48_000), "OUTLIER": (1_100, 14_000)},
    3: {"COLD": (1041, 1213), "HOT": (1, 9), "TRANSIENT": (35_000, 46_000), "SUR_ERROR": (23_000, 29_000),
        "OVERFLOW": (4_900, 5_800), "PERSIST": (6_400, 46_000), "OUTLIER": (2_800, 21_000)},
    4: {"COLD": (995, 1331), "HOT": (0, 8), "TRANSIENT": (44_000, 201_000), "SUR_ERROR": (34_000, 88_000),
        "OVERFLOW": (8_300, 11_600), "PERSIST": (7_100, 38_000), "OUTLIER": (2_700, 11_000)},
    5: {"COLD": (2120, 2431), "HOT": (0, 10), "TRANSIENT": (27_000, 230_000), "SUR_ERROR": (21_000, 93_000),
        "OVERFLOW": (3_100, 4_200), "PERSIST": (5_500, 12_000), "OUTLIER": (600, 12_000)},
    6: {"COLD": (2145, 2413), "HOT": (0, 9), "TRANSIENT": (30_000, 94_000), "SUR_ERROR": (20_000, 57_000),
        "OVERFLOW": (2_600, 2_900), "PERSIST": (4_300, 5_900), "OUTLIER": (2_500, 12_000)},
}

POPULATIONS = ("TRANSIENT", "OUTLIER", "SUR_ERROR", "PERSIST", "OVERFLOW", "HOT", "COLD")
"""The per-exposure flagged populations, each scaled by ``SimulationSettings.<name>_scale``."""

_BIT = {name: 1 << bit for name, (bit, _) in SPHEREX_FLAGS.items()}
_NEIGHBOURS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def draw_counts(detector, n_pixels, scales, rng):
    """Pixel counts of each flagged population in one exposure of ``n_pixels`` pixels.

    The rate is drawn uniformly inside the detector's QR1 range, times ``scales[name]``; the count is Poisson, so
    small simulated detectors get the right mean.
    """
    counts = {}
    for name in POPULATIONS:
        lo, hi = QR1_COUNTS[int(detector)][name]
        rate = rng.uniform(lo, hi) / REAL_FRAME_PIXELS * float(scales[name])
        counts[name] = int(rng.poisson(rate * n_pixels))
    return counts


def _log_uniform(rng, bounds, size):
    lo, hi = (float(b) for b in bounds)
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _clusters(rng, shape, n_clusters, spread):
    """``n_clusters`` random pixel clusters: a centre plus each of its 8 neighbours with probability ``spread``.

    Returns ``(owner, rows, cols)`` for every pixel, ``owner`` being its cluster; the first ``n_clusters`` entries
    are the centres, in cluster order.
    """
    ny, nx = shape
    ys, xs = rng.integers(0, ny, n_clusters), rng.integers(0, nx, n_clusters)
    which, neighbour = np.nonzero(rng.random((n_clusters, 8)) < spread)
    owner = np.concatenate([np.arange(n_clusters), which])
    rows = np.concatenate([ys, ys[which] + _NEIGHBOURS[neighbour, 0]])
    cols = np.concatenate([xs, xs[which] + _NEIGHBOURS[neighbour, 1]])
    inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)  # centres are always inside
    return owner[inside], rows[inside], cols[inside]


def add_artefacts(image, flags, sigma, signal, detector, settings, rng):
    """Add one exposure's flagged artefact populations and unflagged cosmic rays, in place.

    Parameters
    ----------
    image : 2D float ndarray
        The exposure (MJy/sr) with its noise already added.
    flags : 2D int32 ndarray
        Its FLAGS plane (permanent defects and SOURCE already set).
    sigma : 2D float ndarray
        Per-pixel noise σ (MJy/sr): spikes are drawn in units of it.
    signal : 2D float ndarray
        The noiseless signal (COLD pixels lose a fraction of it).
    detector : int
    settings : SimulationSettings
        ``<population>_scale``, ``transient_spike_fraction``, ``spike_sigma``, ``persist_sigma``, ``overflow_sigma``,
        ``hot_sigma``, ``cosmic_ray_rate``, ``cosmic_ray_sigma``.
    rng : `numpy.random.Generator`

    Returns
    -------
    dict
        Pixels drawn per population, and ``COSMIC_RAY`` for the unflagged hits.
    """
    shape = image.shape
    n_pix = image.size
    scales = {name: getattr(settings, f"{name.lower()}_scale") for name in POPULATIONS}
    counts = draw_counts(detector, n_pix, scales, rng)
    drawn = {}

    def spike_clusters(name, n_clusters, spread, bounds, *, fraction=1.0, positive=1.0, flag=True):
        """Clusters of one population; the centre gets the drawn amplitude (σ), neighbours 5-30 % of it."""
        owner, rows, cols = _clusters(rng, shape, n_clusters, spread)
        if flag:
            flags[rows, cols] |= _BIT[name]
        amplitude = _log_uniform(rng, bounds, n_clusters)
        amplitude *= np.where(rng.random(n_clusters) < positive, 1.0, -1.0)
        amplitude *= rng.random(n_clusters) < fraction  # clusters the pipeline corrected keep no residual
        value = amplitude[owner]
        value[n_clusters:] *= rng.uniform(0.05, 0.3, value.size - n_clusters)
        image[rows, cols] += value * sigma[rows, cols]
        drawn[name] = int(rows.size)

    def n_for(name, spread):
        return int(round(counts[name] / (1.0 + 8.0 * spread)))

    # cosmic-ray hits the ramp fit found: ~2.6-pixel clusters, some left with a residual spike
    spike_clusters("TRANSIENT", n_for("TRANSIENT", 0.2), 0.2, settings.spike_sigma,
                   fraction=settings.transient_spike_fraction)
    spike_clusters("OUTLIER", counts["OUTLIER"], 0.0, settings.spike_sigma, positive=0.8)
    spike_clusters("SUR_ERROR", counts["SUR_ERROR"], 0.0, settings.spike_sigma, positive=0.5)
    # persistence: the ghost of an earlier bright image, about a PSF in size
    spike_clusters("PERSIST", n_for("PERSIST", 0.4), 0.4, settings.persist_sigma)
    spike_clusters("OVERFLOW", n_for("OVERFLOW", 0.25), 0.25, settings.overflow_sigma, positive=0.5)
    spike_clusters("HOT", counts["HOT"], 0.0, settings.hot_sigma)
    cold = rng.choice(n_pix, min(counts["COLD"], n_pix), replace=False)
    flags.flat[cold] |= _BIT["COLD"]
    image.flat[cold] -= rng.uniform(0.5, 1.0, cold.size) * signal.flat[cold]
    drawn["COLD"] = int(cold.size)
    # the hits the ramp fit missed: faint (a strong jump is easy to find), few, and with no bit set
    n_cr = int(rng.poisson(settings.cosmic_ray_rate * n_pix))
    spike_clusters("COSMIC_RAY", n_cr, 0.2, settings.cosmic_ray_sigma, flag=False)
    return drawn


def nonfunc_values(image, flags, sigma, rng, *, garbage_sigma=(10.0, 1000.0)):
    """NONFUNC pixels, in place: half NaN, half garbage of either sign (permanently unusable, not always blank)."""
    where = np.flatnonzero(flags & _BIT["NONFUNC"])
    blank = rng.random(where.size) < 0.5
    image.flat[where[blank]] = np.nan
    rest = where[~blank]
    sign = np.where(rng.random(rest.size) < 0.5, 1.0, -1.0)
    image.flat[rest] += sign * _log_uniform(rng, garbage_sigma, rest.size) * sigma.flat[rest]
