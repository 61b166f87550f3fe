"""Bytes and time to fetch the cutouts of a target's sources: IRSA's cutout service vs byte-range section reads.

All run in one process against the loopback IRSA (HTTP cutout service and a moto S3 server) serving a simulated
archive of full-size (2040 x 2040, 121-zone PSF) Level-2 files, so the figures compare like with like:

    python benchmarks/cutout_transport.py [--exposures 8] [--sources 3] [--size-deg 0.1] [--s3] [--workdir DIR]

The cutout service returns the whole 4.9 MB PSF cube with every cutout; section reads (over S3 or HTTP ranges)
fetch the headers (once per file: later sources' cutouts of it reuse them), then the cutout's rows of four planes
and one PSF plane in one round trip, rows less than `range_merge_gap_bytes` apart merged into one request. The
last two lines turn these off in turn: one request per row, then also the headers read for every cutout (the
behaviour before both).
"""

import argparse
import tempfile
import time
from pathlib import Path

from astropy.table import Table

from spherex_sdt.archive import open_archive
from spherex_sdt.config import with_defaults
from spherex_sdt.testing.loopback import LoopbackIrsa
from spherex_sdt.simulate import SimulationSettings, simulate_archive

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=8, help="exposures (each gives 2 files) to simulate")
    parser.add_argument("--s3", action="store_true", help="also time s3-section (slow: moto reads the whole "
                        "object for every ranged GET, which real S3 does not)")
    parser.add_argument("--sources", type=int, default=3, help="sources of the target, each cut from every file")
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
        positions = [(float(r["ra"]), float(r["dec"])) for r in truth[: args.sources]]
        network = {"latency_s": args.latency_ms / 1000, "bandwidth_mbps": args.bandwidth_mbps}
        print(f"HTTP answers delayed {args.latency_ms:g} ms + size at {args.bandwidth_mbps:g} Mbit/s; "
              "S3 (moto) unmodelled")
        with LoopbackIrsa(root, s3=True, **network) as service:
            results = {}
            modes = ["service"] + ["s3-section"] * args.s3 + ["http-section", "http-section, a request per row",
                                                               "http-section, per row, headers per cutout"]
            for mode in modes:
                settings = service.archive_settings(cutouts=mode.split(",")[0])
                archive = open_archive(with_defaults(SCHEMA, "archive", settings))
                if "per row" in mode:
                    archive.merge_gap = 0
                if "headers per cutout" in mode:
                    archive.layouts = None
                work_list = [(ra, dec, row) for ra, dec in positions for row in archive.search_exposures(ra, dec)]
                t0 = time.perf_counter()
                fetched = sum(archive.fetch_cutout(row, ra, dec, args.size_deg, work / f"cut-{k}.fits")
                              for k, (ra, dec, row) in enumerate(work_list))
                results[mode] = (len(work_list), fetched, time.perf_counter() - t0)
    print(f"{len(positions)} sources; cutouts fetched one after another")
    print(f"{'transport':<42} {'cutouts':>8} {'bytes fetched':>15} {'bytes/cutout':>13} {'seconds':>8}")
    for mode, (n, fetched, seconds) in results.items():
        print(f"{mode:<42} {n:>8} {fetched:>15,} {fetched // max(n, 1):>13,} {seconds:>8.2f}")
    _, b_service, t_service = results["service"]
    for mode in list(results)[1:]:
        _, fetched, seconds = results[mode]
        print(f"{mode} / service: bytes {fetched / b_service:.3f}, time {seconds / t_service:.2f}")
    if args.s3:
        print("(moto reads a whole object for every ranged GET, so its s3-section times overstate real S3)")


if __name__ == "__main__":
    main()
