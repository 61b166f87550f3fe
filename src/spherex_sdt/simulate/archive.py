"""Simulate a whole archive: Level-2 files laid out like IRSA's, solid-angle maps, spectral_wcs files, an SIA-like
index, the truth.

Layout under ``root`` (as under IRSA's ``ibe/data/spherex/`` and in S3 bucket ``nasa-irsa-spherex``)::

    qr2/level2/{period}/l2b-v20-2025-{doy}/{k}/level2_{OBSID}D{k}_spx_l2b-v20-2025-{doy}.fits
    qr2/solid_angle_pixel_map/cal-sapm-v2-2025-164/{k}/solid_angle_pixel_map_D{k}_spx_cal-sapm-v2-2025-164.fits
    qr2/spectral_wcs/cal-wcs-v1-2025-164/{k}/spectral_wcs_D{k}_spx_cal-wcs-v1-2025-164.fits
    index.ecsv        one row per Level-2 file, with IRSA's SIA columns
    truth.ecsv        the injected sources and their SED parameters
    simulation.json   the settings, for provenance

Exposures share an OBSID across the same-exposure pairs D1/D4, D2/D5, D3/D6. Each exposure places the target at a
new row (so at a new wavelength) and a new roll; rows are stratified so every detector samples its whole band.
"""

import json
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from astropy.time import Time
from astropy.wcs import WCS, FITSFixedWarning

from ..calibration.flags import SPHEREX_FLAGS
from ..calibration.units import MJY_SR_TO_UJY_ARCSEC2
from ..detectors import DETECTORS, PIXEL_SCALE_ARCSEC, band_name
from ..errors import InvalidInputError
from ..io.atomic import write_fits, write_table
from . import artefacts, instrument
from .mef import level2_hdulist, solid_angle_hdulist, spatial_wcs_cards, spectral_wcs_hdulist
from .sky import make_sky, true_flux

__all__ = ["SimulationSettings", "simulate_archive", "level2_key", "sapm_key", "spectral_wcs_key", "EXPOSURE_PAIRS"]

EXPOSURE_PAIRS = ((1, 4), (2, 5), (3, 6))


@dataclass(frozen=True)
class SimulationSettings:
    """Knobs of the simulated archive (defaults: a small archive with the artefacts of real frames).

    ``detector_size``, ``psf_zones`` and ``psf_stamp`` are 2040 / 11 / 101 for realism. Artefacts follow
    `spherex_sdt.simulate.artefacts`: each flagged population at its detector's QR1 rate times ``<name>_scale``
    (0 removes it), with the values real flagged pixels carry; ``cosmic_ray_rate`` adds hits no bit flags.
    """

    detector_size: int = 256
    exposures_per_target: int = 30
    psf_zones: int = 3
    psf_stamp: int = 101
    sky_radius_arcsec: float = 240.0
    n_stars: int = 25
    n_red: int = 6
    read_noise: float = 0.008
    """Per-pixel noise floor, MJy/sr."""
    shot_noise: float = 2.0e-4
    """Variance per MJy/sr of signal, (MJy/sr)²; the Poisson part of the variance."""
    margin_px: int = 40
    """The target lands at least this far from the detector edge."""
    seed: int = 1
    transient_scale: float = 1.0
    """TRANSIENT pixels (cosmic-ray clusters the ramp fit found) at this multiple of the detector's QR1 rate."""
    transient_spike_fraction: float = 0.5
    """Share of TRANSIENT clusters left with a residual spike (the rest were corrected)."""
    outlier_scale: float = 1.0
    sur_error_scale: float = 1.0
    persist_scale: float = 1.0
    overflow_scale: float = 1.0
    hot_scale: float = 1.0
    cold_scale: float = 1.0
    nonfunc_scale: float = 1.0
    """NONFUNC pixels (permanent; half NaN, half garbage) at this multiple of the detector's QR1 count."""
    dichroic_scale: float = 1.0
    """DICHROIC rows of D3 and D4 at this multiple of their QR1 share."""
    spike_sigma: tuple = (5.0, 300.0)
    """Range of the log-uniform spike amplitudes of TRANSIENT residuals, OUTLIER and SUR_ERROR pixels, in σ."""
    persist_sigma: tuple = (3.0, 30.0)
    overflow_sigma: tuple = (3.0, 30.0)
    hot_sigma: tuple = (30.0, 1000.0)
    cosmic_ray_rate: float = 1.0e-4
    """Unflagged cosmic-ray hits per pixel per exposure (~5 % of the hits expected in orbit)."""
    cosmic_ray_sigma: tuple = (3.0, 30.0)
    """Range of their log-uniform amplitudes in σ: the ramp fit misses only faint jumps."""
    release: str = "qr2"
    collection: str = "spherex_qr2"
    l2b_version: str = "l2b-v20-2025"
    sapm_token: str = "cal-sapm-v2-2025-164"
    spectral_wcs_token: str = "cal-wcs-v1-2025-164"
    """Version token of the simulated ``spectral_wcs`` product (the real QR2 token is unconfirmed)."""
    mjd_start: float = 60800.0

    def __post_init__(self):
        if self.detector_size < 2 * self.margin_px + 8:
            raise InvalidInputError(
                f"detector_size {self.detector_size} leaves no room for margin_px {self.margin_px} on both sides"
            )
        if self.exposures_per_target < 3:
            raise InvalidInputError(f"exposures_per_target must be >= 3, got {self.exposures_per_target}")
        for name in ("spike_sigma", "persist_sigma", "overflow_sigma", "hot_sigma", "cosmic_ray_sigma"):
            bounds = tuple(float(v) for v in getattr(self, name))
            if len(bounds) != 2 or not 0 < bounds[0] <= bounds[1]:
                raise InvalidInputError(f"{name} must be [low, high] with 0 < low <= high, got {list(bounds)}")
            object.__setattr__(self, name, bounds)  # YAML gives lists; the settings stay hashable
        for name in [f.name for f in fields(self) if f.name.endswith(("_scale", "_rate", "_fraction"))]:
            if not getattr(self, name) >= 0:
                raise InvalidInputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.transient_spike_fraction > 1:
            raise InvalidInputError(f"transient_spike_fraction must be <= 1, got {self.transient_spike_fraction}")


def level2_key(settings, obs_id, detector, doy):
    """Archive key (path relative to the root) of a Level-2 file."""
    period = obs_id.rsplit("_", 2)[0]
    ver = f"{settings.l2b_version}-{doy:03d}"
    return f"{settings.release}/level2/{period}/{ver}/{detector}/level2_{obs_id}D{detector}_spx_{ver}.fits"


def sapm_key(settings, detector):
    """Archive key of a detector's solid-angle pixel map."""
    tok = settings.sapm_token
    return f"{settings.release}/solid_angle_pixel_map/{tok}/{detector}/solid_angle_pixel_map_D{detector}_spx_{tok}.fits"


def spectral_wcs_key(settings, detector):
    """Archive key of a detector's ``spectral_wcs`` calibration (per-pixel CWAVE/CBAND, ``spherex-data.md`` §6.5)."""
    tok = settings.spectral_wcs_token
    return f"{settings.release}/spectral_wcs/{tok}/{detector}/spectral_wcs_D{detector}_spx_{tok}.fits"


def _obs_id(mjd, slew, j):
    year, week, _ = Time(mjd, format="mjd").datetime.isocalendar()
    return f"{year}W{week:02d}_{1 + j % 2}{'ABCD'[j % 4]}_{slew:04d}_{1 + j % 4}"


def _expid(obs_id, detector):
    """EXPIDN = YYYY WW P LL NNNN S D with the OBSID letter mapped A->01 (spherex-data.md §4.3)."""
    period, slew, small = obs_id.rsplit("_", 2)
    yw, pl = period.split("_")
    year, week = yw.split("W")
    return int(f"{year}{week}{pl[0]}{'ABCD'.index(pl[1]) + 1:02d}{slew}{small}{detector}")


def _pointing_wcs(ra, dec, x_target, y_target, roll_deg, size):
    """Spatial WCS (CRPIX at the detector centre, as on real frames) that puts (ra, dec) near pixel (x, y)."""
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    pc = np.array([[-scale * c, scale * s], [scale * s, scale * c]])
    crpix = ((size + 1) / 2.0, (size + 1) / 2.0)
    aim = WCS(naxis=2)
    aim.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    aim.wcs.crpix = [x_target + 1, y_target + 1]
    aim.wcs.crval = [ra, dec]
    aim.wcs.pc = pc
    crval = aim.wcs_pix2world([[crpix[0] - 1, crpix[1] - 1]], 0)[0]
    return crpix, crval, pc


def _wcs_from_cards(cards, size):
    from astropy.io import fits

    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = size
    header["NAXIS2"] = size
    for key, value, comment in cards:
        header[key] = (value, comment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


def _detector_defects(settings, detector, size):
    """Permanent defects of a detector (same in every exposure): NONFUNC, FULLSAMPLE and DICHROIC rows."""
    rng = np.random.default_rng([settings.seed, 1000 + detector])
    det = DETECTORS[detector]
    flags = np.zeros((size, size), np.int32)
    n = size * size
    nonfunc = rng.choice(n, min(n, int(rng.poisson(det.nonfunc_fraction * n * settings.nonfunc_scale))),
                         replace=False)
    flags.flat[nonfunc] |= 1 << SPHEREX_FLAGS["NONFUNC"][0]
    full = rng.choice(n, max(1, int(round(240 / 4_161_600 * n))), replace=False)
    flags.flat[full] |= 1 << SPHEREX_FLAGS["FULLSAMPLE"][0]
    rows = min(size, int(round(det.dichroic_fraction * size * settings.dichroic_scale)))
    if rows:
        # the dichroic transition at 2.4 µm: the long-λ rows of D3 (y = 0) and the short-λ rows of D4
        sl = slice(0, rows) if detector == 3 else slice(size - rows, size)
        flags[sl, :] |= 1 << SPHEREX_FLAGS["DICHROIC"][0]
    return flags


def _render_exposure(settings, detector, wcs, omega, truth, rng, defects):
    """Image, variance, zodi and flags (MJy/sr) of one detector exposure."""
    size = settings.detector_size
    shape = (size, size)
    yy, xx = np.mgrid[0:size, 0:size]
    # the sky is rendered at the instrument's true wavelengths; WCS-WAVE only samples them on a coarse grid
    lam_map, _ = instrument.wavelength_model(detector, size, xx, yy)
    zodi = instrument.zodi_level(lam_map) * (1.0 + 0.02 * (xx / size - 0.5))
    source_ujy = np.zeros(shape)
    flags = defects.copy()
    source_bit = 1 << SPHEREX_FLAGS["SOURCE"][0]

    xs, ys = wcs.all_world2pix(np.asarray(truth["ra"], float), np.asarray(truth["dec"], float), 0)
    for row, x, y in zip(truth, xs, ys):
        if not (-10 < x < size + 10 and -10 < y < size + 10):
            continue
        lam, _ = instrument.wavelength_model(detector, size, np.clip(x, 0, size - 1), np.clip(y, 0, size - 1))
        flux = float(true_flux(row, lam))
        fwhm_px = float(instrument.psf_fwhm_arcsec(detector, lam)) / PIXEL_SCALE_ARCSEC
        stamp = instrument.render_point_source(shape, x, y, flux, fwhm_px)
        if stamp is not None:
            source_ujy[stamp[0]] += stamp[1]
        # SOURCE bit: pixels "mapped to a known source", a radius growing with brightness
        radius = 1.5 + 1.2 * np.log10(max(flux, 100.0) / 100.0)
        flags[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] |= source_bit

    signal = zodi + source_ujy / (MJY_SR_TO_UJY_ARCSEC2 * omega)
    variance = settings.read_noise**2 + settings.shot_noise * np.maximum(signal, 0.0)
    variance[(flags & (1 << SPHEREX_FLAGS["DICHROIC"][0])) != 0] *= 3.0  # low efficiency: noisier, still calibrated
    sigma = np.sqrt(variance)
    image = signal + rng.normal(size=shape) * sigma
    # flagged pixels carry what their flags warn about; a few cosmic rays carry no flag at all
    artefacts.add_artefacts(image, flags, sigma, signal, detector, settings, rng)
    artefacts.nonfunc_values(image, flags, sigma, rng)
    return image, variance, zodi, flags


def _footprint_row(wcs, size, key, obs_id, detector, mjd_beg, settings):
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    world = wcs.all_pix2world(corners, 0)
    centre = wcs.all_pix2world([[(size - 1) / 2.0, (size - 1) / 2.0]], 0)[0]
    poly = " ".join(f"{ra:.10f} {dec:.10f}" for ra, dec in list(world) + [world[0]])
    det = DETECTORS[detector]
    return {
        "s_ra": centre[0],
        "s_dec": centre[1],
        "energy_bandpassname": band_name(detector),
        "obs_id": obs_id,
        "em_min": det.em_min_um * 1e-6,
        "em_max": det.em_max_um * 1e-6,
        "em_res_power": det.resolving_power,
        "access_url": key,
        "access_format": "image/fits",
        "t_exptime": 113.5826,
        "t_min": mjd_beg,
        "t_max": mjd_beg + 118.1873 / 86400,
        "s_region": f"POLYGON ICRS {poly}",
        "obs_collection": settings.collection,
        "obs_publisher_did": f"ivo://irsa.ipac/{settings.collection}?{obs_id}/D{detector}",
        "cloud_access": json.dumps({"aws": {"bucket_name": "nasa-irsa-spherex", "key": key, "region": "us-east-1"}}),
        "s_xel1": size,
        "s_xel2": size,
        "s_pixel_scale": PIXEL_SCALE_ARCSEC,
        "calib_level": 2,
        "dataproduct_subtype": "science",
    }


def simulate_archive(targets, root, settings=SimulationSettings()):
    """Write a simulated SPHEREx archive for a target list.

    Parameters
    ----------
    targets : `~astropy.table.Table`
        Columns ``target``, ``ra_deg``, ``dec_deg``.
    root : path-like
        Archive directory (created). The index is written last, so its presence marks a complete archive.
    settings : SimulationSettings

    Returns
    -------
    index, truth : `~astropy.table.Table`
    """
    root = Path(root)
    size = settings.detector_size
    sip = instrument.sip_coefficients()
    waves = {d: instrument.wave_table(d, size) for d in DETECTORS}
    omegas = {d: instrument.solid_angle_map(d, size) for d in DETECTORS}
    defects = {d: _detector_defects(settings, d, size) for d in DETECTORS}
    psfs = {
        d: instrument.psf_cube(d, size, zones=settings.psf_zones, stamp=settings.psf_stamp)
        for d in DETECTORS
    }
    for d in DETECTORS:
        write_fits(solid_angle_hdulist(d, omegas[d], settings.sapm_token), root / sapm_key(settings, d))
        cwave, cband = instrument.spectral_wcs_maps(d, size)
        write_fits(spectral_wcs_hdulist(d, cwave, cband, waves[d], settings.spectral_wcs_token),
                   root / spectral_wcs_key(settings, d))

    rows, truths = [], []
    slew = 0
    created = Time.now().isot[:23]
    for t_index, target in enumerate(targets):
        name, ra, dec = str(target["target"]), float(target["ra_deg"]), float(target["dec_deg"])
        rng = np.random.default_rng([settings.seed, t_index])
        truth = make_sky(name, ra, dec, radius_arcsec=settings.sky_radius_arcsec, n_stars=settings.n_stars,
                         n_red=settings.n_red, rng=rng)
        truths.append(truth)
        n_exp = settings.exposures_per_target
        per_pair = int(np.ceil(n_exp / len(EXPOSURE_PAIRS)))
        lo, hi = settings.margin_px, size - 1 - settings.margin_px
        for j in range(n_exp):
            pair = EXPOSURE_PAIRS[j % len(EXPOSURE_PAIRS)]
            stratum = (j // len(EXPOSURE_PAIRS) + rng.uniform()) / per_pair
            y_t = lo + (hi - lo) * stratum
            x_t = rng.uniform(lo, hi)
            roll = rng.uniform(0.0, 360.0)
            mjd = settings.mjd_start + 200 * t_index + 3.7 * j + rng.uniform(0, 0.5)
            slew += 1
            obs_id = _obs_id(mjd, slew, j)
            doy = int(Time(mjd + 2, format="mjd").datetime.timetuple().tm_yday)
            for k, det in enumerate(pair):
                # the two focal planes see one field: MWIR offset by a pixel or two and a hair of rotation
                dx, dy = (0.0, 0.0) if k == 0 else rng.uniform(-2.0, 2.0, size=2)
                crpix, crval, pc = _pointing_wcs(ra, dec, x_t + dx, y_t + dy, roll + 0.05 * k, size)
                cards = spatial_wcs_cards(crpix, crval, pc, sip, (1.0, 1.0))
                wcs = _wcs_from_cards(cards, size)
                image, variance, zodi, flags = _render_exposure(settings, det, wcs, omegas[det], truth,
                                                                rng, defects[det])
                mid = 0.5 * (DETECTORS[det].em_min_um + DETECTORS[det].em_max_um)
                hdul = level2_hdulist(
                    detector=det, obs_id=obs_id, expid=_expid(obs_id, det), mjd_beg=mjd, image=image, flags=flags,
                    variance=variance, zodi=zodi, psf=psfs[det][0], psf_cards=psfs[det][1], wave=waves[det],
                    wcs_cards=cards, psf_fwhm=float(instrument.psf_fwhm_arcsec(det, mid)), omega=omegas[det],
                    creation_date=created,
                )
                key = level2_key(settings, obs_id, det, doy)
                write_fits(hdul, root / key)
                row = _footprint_row(wcs, size, key, obs_id, det, mjd, settings)
                row["access_estsize"] = (root / key).stat().st_size // 1024
                rows.append(row)

    index = Table(rows=rows)
    truth = vstack(truths)
    truth.meta["comment"] = ("f_nu(lambda): stars blackbody(T) normalised at 2 um; "
                             "red sources flux_ref*(lambda/2um)**alpha")
    write_table(truth, root / "truth.ecsv")
    (root / "simulation.json").write_text(json.dumps(asdict(settings), indent=2))
    write_table(index, root / "index.ecsv")
    return index, truth
