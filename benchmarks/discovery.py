"""Time per target of the difference image: the notebook's method vs spherex-sdt's cut-first method.

Both run in one process on the same two full-size (2040 x 2040) simulated Level-2 frames (D2 and D4 covering one
target):

    python benchmarks/discovery.py [--archive DIR] [--size 150]

notebook : whole frames to µJy, sep background on whole frames, reproject_exact of the whole D2 frame onto D4's
           grid (and reproject_interp of its mask), then a 150 x 150 cutout of each (reference notebook §2.5-2.9).
ours     : `spherex_sdt.imaging.difference_image`: cut each frame around the target with a margin, masked sep
           background there, exact reprojection of flux, variance and mask onto the 150 x 150 reference box.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import sep
from astropy.nddata import Cutout2D
from astropy.table import Table
from reproject import reproject_exact, reproject_interp

from spherex_sdt.calibration import BACKGROUND_BAD_FLAGS, DETECTION_BAD_FLAGS
from spherex_sdt.calibration.units import MJY_SR_TO_UJY_ARCSEC2
from spherex_sdt.imaging import difference_image
from spherex_sdt.imaging.pairs import choose_pair
from spherex_sdt.archive import LocalArchive
from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key


def notebook_method(a, b, omega_a, omega_b, ra, dec, size):
    """The reference notebook's steps on whole frames (its defects kept; only the timing matters here)."""
    from astropy.coordinates import SkyCoord
    import astropy.units as u

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", default=None, help="a full-size simulated archive (default: simulate one)")
    parser.add_argument("--size", type=int, default=150, help="difference box side in pixels (the notebook's 150)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of our method (the best is kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.archive) if args.archive else Path(tmp) / "archive"
        if not (root / "index.ecsv").exists():
            settings = SimulationSettings(detector_size=2040, exposures_per_target=6, psf_zones=11, margin_px=200,
                                          n_stars=5, n_red=1, seed=11)
            simulate_archive(Table(rows=[{"target": "bench", "ra_deg": 210.80227, "dec_deg": 54.34895}]), root,
                             settings)
        truth = Table.read(root / "truth.ecsv")
        ra, dec = float(truth["ra"][0]), float(truth["dec"][0])
        local = LocalArchive(root, "spherex_qr2")
        images = local.search_images(ra, dec, 0.01)
        row_a, row_b, _ = choose_pair(images, 2, 4, ra, dec, margin_deg=(args.size / 2 + 40) * 6.15 / 3600)
        a, b = read_spectral_image(root / row_a["key"]), read_spectral_image(root / row_b["key"])
        settings = SimulationSettings()
        omega_a = read_solid_angle_map(root / sapm_key(settings, 2))
        omega_b = read_solid_angle_map(root / sapm_key(settings, 4))
        if omega_a.shape != a.shape:
            raise SystemExit(f"{root} is not a full-size archive (frames are {a.shape})")

        ours = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            difference_image(a, b, omega_a, omega_b, ra, dec, size=args.size, background_margin=32,
                             detection_flags=DETECTION_BAD_FLAGS, background_flags=BACKGROUND_BAD_FLAGS,
                             bkg_box=32, bkg_filter=3, bad_fraction_limit=0.5)
            ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        notebook_method(a, b, omega_a, omega_b, ra, dec, args.size)
        notebook = time.perf_counter() - t0
    print(f"frames {a.shape[1]} x {a.shape[0]}, difference box {args.size} x {args.size} px")
    print(f"notebook (full-frame reprojection, then cut): {notebook:9.2f} s per target")
    print(f"spherex-sdt (cut first, then reproject):      {min(ours):9.2f} s per target (best of {args.repeat})")
    print(f"speed-up: {notebook / min(ours):.0f}x")


if __name__ == "__main__":
    main()
