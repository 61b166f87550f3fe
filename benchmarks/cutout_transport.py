"""Bytes and time to fetch one source's cutouts: IRSA's cutout service vs S3 byte-range section reads.

Both run in one process against the loopback IRSA (HTTP cutout service and a moto S3 server) serving a simulated
archive of full-size (2040 x 2040, 121-zone PSF) Level-2 files, so the figures compare like with like:

    python benchmarks/cutout_transport.py [--exposures 8] [--size-deg 0.1] [--workdir DIR]

The cutout service returns the whole 4.9 MB PSF cube with every cutout; section reads (over S3 or HTTP ranges)
fetch the headers, the cutout's rows of four planes and one PSF plane.
"""

import argparse
import tempfile
import time
from pathlib import Path

from astropy.table import Table

from spherex_sdt.archive import open_archive
from spherex_sdt.archive.loopback import LoopbackIrsa
from spherex_sdt.simulate import SimulationSettings, simulate_archive


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=8, help="exposures (each gives 2 files) to simulate")
    parser.add_argument("--size-deg", type=float, default=0.1, help="cutout side (IRSA's tutorials use 0.1)")
    parser.add_argument("--workdir", default=None, help="keep the simulated archive here (default: a temp dir)")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="modelled delay per HTTP answer")
    parser.add_argument("--bandwidth-mbps", type=float, default=100.0, help="modelled HTTP transfer rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        root = work / "archive"
        if not (root / "index.ecsv").exists():
            settings = SimulationSettings(detector_size=2040, exposures_per_target=args.exposures, psf_zones=11,
                                          psf_stamp=101, margin_px=200, n_stars=5, n_red=1, seed=11)
            t0 = time.perf_counter()
            simulate_archive(Table(rows=[{"target": "bench", "ra_deg": 210.80227, "dec_deg": 54.34895}]), root,
                             settings)
            print(f"simulated {2 * args.exposures} full-size files in {time.perf_counter() - t0:.1f} s")
        truth = Table.read(root / "truth.ecsv")
        ra, dec = float(truth["ra"][0]), float(truth["dec"][0])
        network = {"latency_s": args.latency_ms / 1000, "bandwidth_mbps": args.bandwidth_mbps}
        print(f"HTTP answers delayed {args.latency_ms:g} ms + size at {args.bandwidth_mbps:g} Mbit/s; S3 (moto) unmodelled")
        with LoopbackIrsa(root, s3=True, **network) as service:
            results = {}
            for mode in ("service", "s3-section", "http-section"):
                archive = open_archive(service.archive_settings(cutouts=mode))
                rows = archive.search_exposures(ra, dec)
                t0 = time.perf_counter()
                fetched = sum(archive.fetch_cutout(row, ra, dec, args.size_deg, work / f"{mode}-{k}.fits")
                              for k, row in enumerate(rows))
                results[mode] = (len(rows), fetched, time.perf_counter() - t0)
    print(f"{'transport':<12} {'cutouts':>8} {'bytes fetched':>15} {'bytes/cutout':>13} {'seconds':>8}")
    for mode, (n, fetched, seconds) in results.items():
        print(f"{mode:<12} {n:>8} {fetched:>15,} {fetched // max(n, 1):>13,} {seconds:>8.2f}")
    _, b_service, t_service = results["service"]
    for mode in ("s3-section", "http-section"):
        _, fetched, seconds = results[mode]
        print(f"{mode} / service: bytes {fetched / b_service:.3f}, time {seconds / t_service:.2f}")
    print("(moto reads a whole object for every ranged GET, so its s3-section times overstate real S3)")


if __name__ == "__main__":
    main()
