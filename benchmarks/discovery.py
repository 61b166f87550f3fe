"""Bytes, requests, time and depth of a target's difference image: one full-frame pair against a stack of visits
read as sections; and the notebook's difference method against ours on the same frames.

    python benchmarks/discovery.py [--workdir DIR] [--size 64] [--visits 8] [--latency-ms 30] [--bandwidth-mbps 100]
                                   [--notebook-size 150] [--skip notebook,rows]

The archive is simulated with full-size files (2040 x 2040, a 121-zone PSF cube of 101 x 101 planes: 71.6 MB each)
and the artefacts of real frames, 24 exposures of the three detector pairs: 8 visits each of D2 and D4 hold the
target. It is served by the loopback IRSA (`spherex_sdt.testing.loopback`) with every HTTP answer delayed by a
modelled round trip (30 ms) plus its size at a modelled bandwidth (100 Mbit/s), as in
``benchmarks/cutout_transport.py``; requests in parallel each get their own bandwidth there, which flatters
parallel transfers, so the table also gives the time of the bytes alone on one shared link. Requests and bytes
(every answer's body) are counted at the server. Each run starts from an empty cache and runs the workflow's tasks
with the schema's defaults on pair D2-D4 (``difference.size_px`` box):

pair     : ``difference.visits: 1``, the notebook's single pair: `fetch_pair_images` downloads the two whole Level-2
           files (verified in the cache), `make_difference` differences them.
stack    : ``difference.visits: 8``: every visit of each detector read as a section cutout of the box and its
           margin (`fetch_pair_images` over the byte-range reads of the source cutouts, ``archive.cutouts:
           http-section``, ranges merged as the network model says), stacked, stack A - stack B.
stack, rows alone : the same with ``archive.range_merge_gap_bytes: 0``, each row of each plane its own range.

The image search (SIA, one per target whatever the method) and the solid-angle maps (one per detector and run) are
left out. Depth: the 5-sigma point-source flux of a PSF-weighted (optimal) aperture, sum(P D) / sum(P^2) with P the
pixelated PSF of the pair's image of that detector at the target, from the robust scatter (MAD) of that flux over
every position of the box at least 8 px from an injected source, with no masked pixel under the PSF. So it includes
the noise the resampling correlates, residual artefacts, and background errors. ``propagated`` is the same noise
from the VARIANCE planes, which ignore the correlations.

notebook : whole frames to µJy, sep background on whole frames, reproject_exact of the whole D2 frame onto D4's
           grid (and reproject_interp of its mask), then a ``--notebook-size`` cutout of each (reference notebook
           §2.5-2.9), on the pair run's two frames.
ours     : `spherex_sdt.imaging.difference_image` on the same frames: cut each frame around the target with a
           margin, masked sep background there, exact reprojection of flux, variance and mask onto the box.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sep
from astropy.nddata import Cutout2D
from astropy.stats import mad_std
from astropy.table import Table
from reproject import reproject_exact, reproject_interp
from scipy.ndimage import correlate

from spherex_sdt.calibration.units import MJY_SR_TO_UJY_ARCSEC2
from spherex_sdt.config import with_defaults
from spherex_sdt.imaging import difference_image
from spherex_sdt.imaging.reprojection import reproject_onto
from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.io.difference_file import read_difference
from spherex_sdt.photometry import pixelated_psf, psf_plane_for
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.tasks.archive import fetch_pair_images, search_images
from spherex_sdt.tasks.imaging import make_difference
from spherex_sdt.testing.loopback import LoopbackIrsa

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
TARGET = {"target": "bench", "ra_deg": 210.80227, "dec_deg": 54.34895}
PAIR = "D2-D4"
SETTINGS = SimulationSettings(detector_size=2040, exposures_per_target=24, psf_zones=11, psf_stamp=101,
                              margin_px=200, n_stars=5, n_red=1, seed=11)
"""Full-size files; 24 exposures of the three pairs of detectors seeing one field: 8 visits each of D2 and D4."""
SOURCE_CLEARANCE_PX = 8.0
"""Positions nearer an injected source are left out of the noise."""


def point_source_depth(image, variance, psf, exclude, *, nsigma=5.0):
    """The ``nsigma`` point-source flux of a PSF-weighted aperture on ``image``, measured and propagated.

    Parameters
    ----------
    image, variance : 2D ndarray
        µJy per pixel and its variance; NaN where masked.
    psf : 2D ndarray
        Fraction of a point source's flux in each pixel of a stamp centred on its middle pixel.
    exclude : bool ndarray
        Positions left out of the noise (near sources).

    Returns
    -------
    measured, propagated : float
        ``nsigma`` times the robust standard deviation of the PSF-weighted flux over the positions kept, and
        ``nsigma`` times the median of its error from ``variance``; µJy.
    n_positions : int
    """
    kernel = np.asarray(psf, float)
    norm = np.sum(kernel**2)
    valid = np.isfinite(image) & np.isfinite(variance)
    support = (kernel > 1e-4 * kernel.max()).astype(float)
    # every pixel under the PSF usable, so that a masked hole neither lowers nor hides the noise
    whole = correlate(valid.astype(float), support, mode="constant", cval=0.0) >= support.sum() - 0.5
    flux = correlate(np.where(valid, image, 0.0), kernel, mode="constant") / norm
    error = np.sqrt(correlate(np.where(valid, variance, 0.0), kernel**2, mode="constant")) / norm
    keep = whole & ~exclude
    return nsigma * mad_std(flux[keep]), nsigma * float(np.median(error[keep])), int(keep.sum())


def ab_mag(microjansky):
    return 23.9 - 2.5 * np.log10(microjansky)


def effective_psf(paths, grid_wcs, ra, dec, *, half=5):
    """The PSF of a point source at (ra, dec) on the difference grid, as the pipeline makes it.

    Each image's pixelated PSF (its zone's plane, at the source's position in its pixels) is resampled onto the
    grid as the pipeline resamples the image (`spherex_sdt.imaging.reprojection.reproject_onto`, exact overlap;
    none for the grid's own image) and averaged with the images' inverse variances at the source, as the stack
    combines them. A resampled image is smoother, so its PSF is wider: a filter with the bare PSF would find its
    noise too low. Returned on a (2 half + 1)² stamp about the grid pixel nearest the source; unit total flux.
    """
    xg, yg = grid_wcs.all_world2pix([[ra, dec]], 0)[0]
    cx, cy = int(round(xg)), int(round(yg))
    n_out = 2 * half + 1
    grid = grid_wcs[cy - half:cy + half + 1, cx - half:cx + half + 1]
    total, weights = np.zeros((n_out, n_out)), 0.0
    for path in paths:
        image = read_spectral_image(path, require=("IMAGE", "VARIANCE", "PSF"))
        x, y = image.wcs.all_world2pix([[ra, dec]], 0)[0]
        m = half + 4
        x0, y0 = int(round(x)) - m, int(round(y)) - m
        plane, _, oversample = psf_plane_for(image.psf, image.psf_header, x + image.parent_origin[0],
                                             y + image.parent_origin[1], source=image.path)
        stamp = pixelated_psf(plane, oversample, x - x0, y - y0, (2 * m + 1, 2 * m + 1))
        (resampled,), _ = reproject_onto([stamp], image.wcs[y0:y0 + 2 * m + 1, x0:x0 + 2 * m + 1], grid,
                                         (n_out, n_out))
        weight = 1.0 / float(image.variance[int(round(y)), int(round(x))])
        total += weight * np.nan_to_num(resampled)
        weights += weight
    return total / weights


def depths(difference_path, manifest_path, truth, ra, dec):
    """Depth of each side with its own effective PSF, and of DIFFERENCE with B's (a source brighter in B, as the
    red sources D2 - D4 looks for)."""
    planes, wcs, _, (state, reason) = read_difference(
        difference_path, planes=("DIFFERENCE", "VARIANCE", "IMAGE_A", "VARIANCE_A", "IMAGE_B", "VARIANCE_B"))
    if planes is None:
        raise SystemExit(f"{difference_path}: {state}: {reason}")
    manifest = Table.read(manifest_path)
    used = manifest[manifest["used"]]
    psf = {role: effective_psf(list(used["path"][used["role"] == role]), wcs, ra, dec) for role in "AB"}
    ny, nx = planes["DIFFERENCE"].shape
    sx, sy = wcs.all_world2pix(np.asarray(truth["ra"], float), np.asarray(truth["dec"], float), 0)
    yy, xx = np.mgrid[:ny, :nx]
    exclude = np.zeros((ny, nx), bool)
    for x, y in zip(sx, sy):
        exclude |= np.hypot(xx - x, yy - y) < SOURCE_CLEARANCE_PX
    out = {}
    for name, image, var, kernel in (("difference", "DIFFERENCE", "VARIANCE", psf["B"]),
                                     ("A", "IMAGE_A", "VARIANCE_A", psf["A"]),
                                     ("B", "IMAGE_B", "VARIANCE_B", psf["B"])):
        out[name] = point_source_depth(planes[image].astype(float), planes[var].astype(float), kernel, exclude)
    return out


def difference_params(size):
    """The workflow's difference params (common.smk) from the schema's defaults, with a box of ``size``."""
    flags = with_defaults(SCHEMA, "flags")
    params = dict(with_defaults(SCHEMA, "difference"), size_px=size)
    params["detection_flags"] = flags["detection_bad"]
    params["background_flags"] = flags["background_bad"]
    return params


def run(label, service, archive, work, images, visits, size, truth):
    """One target's pair images fetched and differenced from an empty cache; counts at the server."""
    ra, dec = TARGET["ra_deg"], TARGET["dec_deg"]
    params = difference_params(size)
    edge_margin = size // 2 + params["background_margin_px"] + 2  # common.smk's get_edge_margin_px
    threads = with_defaults(SCHEMA, "photometry")["download_threads"]
    work.mkdir(parents=True)
    service.requests.clear()
    service.body_bytes = 0
    t0 = time.perf_counter()
    fetch_pair_images(images, PAIR, ra, dec, edge_margin, params["max_dt_days"], archive, work / "cache",
                      work / "pair_images.ecsv", visits=visits, max_visits=params["max_visits"], box_px=size,
                      threads=threads)
    fetched = time.perf_counter() - t0
    requests, body_bytes = len(service.requests), service.body_bytes
    root = service.root
    t0 = time.perf_counter()
    make_difference(work / "pair_images.ecsv", root / sapm_key(SETTINGS, 2), root / sapm_key(SETTINGS, 4), ra, dec,
                    params, work / "difference.fits", target=TARGET["target"])
    differenced = time.perf_counter() - t0
    manifest = Table.read(work / "pair_images.ecsv")
    used = manifest[manifest["used"]]
    return label, {
        "requests": requests, "bytes": body_bytes, "fetch_s": fetched, "difference_s": differenced,
        "visits": (int(np.sum(used["role"] == "A")), int(np.sum(used["role"] == "B"))),
        "depth": depths(work / "difference.fits", work / "pair_images.ecsv", truth, ra, dec),
        "manifest": manifest,
    }


def notebook_method(a, b, omega_a, omega_b, ra, dec, size):
    """The reference notebook's steps on whole frames (its defects kept; only the timing matters here)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    img_a = a.image.astype(float) * MJY_SR_TO_UJY_ARCSEC2 * omega_a
    img_b = b.image.astype(float) * MJY_SR_TO_UJY_ARCSEC2 * omega_b
    img_a -= sep.Background(np.ascontiguousarray(np.nan_to_num(img_a)), bw=64, bh=64, fw=11, fh=11).back()
    img_b -= sep.Background(np.ascontiguousarray(np.nan_to_num(img_b)), bw=64, bh=64, fw=11, fh=11).back()
    mask_a = np.where(a.flags == 0, 1.0, np.nan)
    reprojected, footprint = reproject_exact((img_a, a.wcs), b.wcs, shape_out=b.shape)
    mask_reprojected, _ = reproject_interp((mask_a, a.wcs), b.wcs, shape_out=b.shape)
    position = SkyCoord(ra * u.deg, dec * u.deg)
    cut_a = Cutout2D(reprojected, position, (size, size), wcs=b.wcs)
    cut_b = Cutout2D(img_b * footprint, position, (size, size), wcs=b.wcs)
    cut_m = Cutout2D(mask_reprojected, position, (size, size), wcs=b.wcs)
    return cut_a.data - cut_b.data, cut_m.data


def notebook_against_ours(manifest, root, size, repeat):
    """Seconds of the notebook's whole-frame difference and of ours (best of ``repeat``) on the pair's frames."""
    ra, dec = TARGET["ra_deg"], TARGET["dec_deg"]
    paths = {str(r["role"]): r["path"] for r in manifest if r["used"]}
    a, b = read_spectral_image(paths["A"]), read_spectral_image(paths["B"])
    omega_a = read_solid_angle_map(root / sapm_key(SETTINGS, 2))
    omega_b = read_solid_angle_map(root / sapm_key(SETTINGS, 4))
    params = difference_params(size)
    ours = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        difference_image(a, b, omega_a, omega_b, ra, dec, size=size,
                         background_margin=params["background_margin_px"],
                         detection_flags=params["detection_flags"], background_flags=params["background_flags"],
                         bkg_box=params["background_box_px"], bkg_filter=params["background_filter"],
                         bad_fraction_limit=params["bad_fraction_limit"])
        ours.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    notebook_method(a, b, omega_a, omega_b, ra, dec, size)
    return time.perf_counter() - t0, min(ours)


def report(results, bandwidth_mbps, size):
    base = results["pair"]
    print(f"\nper target, pair {PAIR}, {size} x {size} px box; pair images fetched from an empty cache and differenced")
    print(f"{'run':<22} {'visits':>7} {'requests':>8} {'MB':>8} {'fetch s':>8} {'link s':>7} {'diff s':>7}"
          f" {'total s':>8} {'5σ µJy':>8} {'AB':>6} {'meas/prop':>9} {'A 5σ':>7} {'B 5σ':>7}")
    for label, r in results.items():
        d, a, b = r["depth"]["difference"], r["depth"]["A"], r["depth"]["B"]
        link = r["bytes"] * 8 / (bandwidth_mbps * 1e6)
        print(f"{label:<22} {r['visits'][0]:>3}+{r['visits'][1]:<3} {r['requests']:>8} {r['bytes'] / 1e6:>8.2f} "
              f"{r['fetch_s']:>8.2f} {link:>7.2f} {r['difference_s']:>7.2f} {r['fetch_s'] + r['difference_s']:>8.2f}"
              f" {d[0]:>8.1f} {ab_mag(d[0]):>6.2f} {d[0] / d[1]:>9.2f} {a[0]:>7.1f} {b[0]:>7.1f}")
    print("\nratios to the pair, measured in the same process:")
    for label, r in results.items():
        if r is base:
            continue
        d, d0 = r["depth"]["difference"][0], base["depth"]["difference"][0]
        total, total0 = r["fetch_s"] + r["difference_s"], base["fetch_s"] + base["difference_s"]
        print(f"  {label:<20} bytes {r['bytes'] / base['bytes']:.3f}  requests {r['requests'] / base['requests']:.1f}"
              f"  fetch time {r['fetch_s'] / base['fetch_s']:.3f}  total time {total / total0:.3f}  "
              f"5σ depth {d / d0:.3f} ({ab_mag(d) - ab_mag(d0):+.2f} mag; 1/√N = "
              f"{1 / np.sqrt(np.mean(r['visits'])):.3f})")
    print("goal: the stack fetches <= 10 % of the pair's bytes. MB: bodies sent; link s: those bytes at the modelled "
          "bandwidth on one shared link; meas/prop: the measured noise over the VARIANCE planes'")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="keep the simulated archive here (default: a temp dir)")
    parser.add_argument("--size", type=int, default=None, help="difference box side, px (the schema's default)")
    parser.add_argument("--visits", type=int, default=8, help="visits per detector of the stack (at most 8)")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="modelled delay per HTTP answer")
    parser.add_argument("--bandwidth-mbps", type=float, default=100.0, help="modelled HTTP transfer rate")
    parser.add_argument("--notebook-size", type=int, default=150, help="box of the notebook comparison (its 150)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of our method there (the best is kept)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: notebook, rows")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    size = args.size or with_defaults(SCHEMA, "difference")["size_px"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        root = work / "archive"
        if not (root / "index.ecsv").exists():
            t0 = time.perf_counter()
            simulate_archive(Table(rows=[TARGET]), root, SETTINGS)
            print(f"simulated {len(Table.read(root / 'index.ecsv'))} full-size files in "
                  f"{time.perf_counter() - t0:.0f} s")
        truth = Table.read(root / "truth.ecsv")
        runs = Path(tempfile.mkdtemp(prefix="runs-", dir=work))
        network = {"latency_s": args.latency_ms / 1000, "bandwidth_mbps": args.bandwidth_mbps}
        print(f"HTTP answers delayed {args.latency_ms:g} ms + size at {args.bandwidth_mbps:g} Mbit/s")
        results = {}
        try:
            with LoopbackIrsa(root, **network) as service:
                archive = with_defaults(SCHEMA, "archive", {
                    **service.archive_settings(cutouts="http-section"), "timeout_s": 120,
                    "round_trip_ms": args.latency_ms, "bandwidth_mbps": args.bandwidth_mbps})
                images = runs / "images.ecsv"
                search_images(TARGET["target"], TARGET["ra_deg"], TARGET["dec_deg"],
                              with_defaults(SCHEMA, "search")["radius_arcsec"], archive, images)
                cases = [("pair", 1, archive), ("stack", args.visits, archive)]
                if "rows" not in skip:
                    cases.append(("stack, rows alone", args.visits, {**archive, "range_merge_gap_bytes": 0}))
                for label, visits, settings in cases:
                    label, r = run(label, service, settings, runs / label.replace(" ", "_").replace(",", ""),
                                   images, visits, size, truth)
                    results[label] = r
            report(results, args.bandwidth_mbps, size)
            if "notebook" not in skip:
                notebook_s, ours_s = notebook_against_ours(results["pair"]["manifest"], root, args.notebook_size,
                                                           args.repeat)
                print(f"\nthe pair's difference on its two whole frames, {args.notebook_size} x "
                      f"{args.notebook_size} px box (read from the cache):")
                print(f"notebook (full-frame reprojection, then cut): {notebook_s:9.2f} s per target")
                print(f"spherex-sdt (cut first, then reproject):      {ours_s:9.2f} s per target "
                      f"(best of {args.repeat}); speed-up {notebook_s / ours_s:.0f}x")
        finally:
            shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
