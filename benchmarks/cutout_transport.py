"""Requests, bytes and time to fetch a target's cutouts: per-target batching against per-source section reads and
the cutout service, all in one process on the loopback IRSA, so the figures compare like with like:

    python benchmarks/cutout_transport.py [--sources 25] [--exposures 24] [--box-px 64] [--workdir DIR]

The archive is simulated with full-size files (2040 x 2040, a 121-zone PSF cube of 101 x 101 planes, ~72 MB each):
``--exposures`` exposures of two detectors each (48 files for 24). ``--sources`` positions are drawn (seeded) in a
box of ``--box-px`` pixels about the target, as the sources selected from one difference image lie; every one lies
on every file. The HTTP answers are delayed by a modelled round trip (30 ms) plus their size at a modelled
bandwidth (100 Mbit/s); requests run in parallel, each with its own modelled bandwidth, which flatters parallel
transfers. Cutouts are 0.1 deg (58 px).

baseline : today's per-source section reads (the code of main at ``BASELINE``, loaded from git): a TAP search per
           source, then per (source, file) a cutout from byte ranges with rows 64 KiB apart merged, headers read
           once per file, the MEF written by astropy and verified by re-opening it, ``download_threads`` at a time.
batched  : this code, `spherex_sdt.tasks.archive.fetch_source_cutouts` over ``http-section``: one SIA search for
           all sources, then per file one batch of every source's ranges (merge gap from the network model), the
           cutouts built from a per-file template with checksums, stored after verification.
service  : the same task over IRSA's cutout service: one cutout per file holding every source's box, cut here.
service, per source : the baseline's service path, a request per (source, file) returning the whole PSF cube;
           measured on ``--service-sources`` sources (it moves ~5 MB per cutout) and given per source-exposure.

``batched`` runs again with the file headers an earlier job kept (cache_dir/headers) and no cutout cached, then
without modelled latency (the loopback floor); last, `measure_spectra` on its 25 x 48 cutouts.
Requests and bytes are counted at the server (every answer's body).
"""

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy.table import Table

from spherex_sdt.archive import open_archive
from spherex_sdt.config import with_defaults
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.testing import loopback
from spherex_sdt.testing.loopback import LoopbackIrsa

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
BASELINE = "8620be9"
"""main before per-target batching: its sections.py is the per-source baseline."""
TARGET = {"target": "bench", "ra_deg": 210.80227, "dec_deg": 54.34895}
SIZE_DEG = 0.1


def _count_bodies():
    """Record every HTTP answer's body size on the loopback (benchmark-only instrumentation)."""
    original = loopback._Handler._send

    def counted(self, code, body, *args, **kwargs):
        self.service.body_bytes = getattr(self.service, "body_bytes", 0) + len(body)
        return original(self, code, body, *args, **kwargs)

    loopback._Handler._send = counted


def _baseline_sections():
    """main's ``archive/sections.py`` at BASELINE, imported as a module of this package."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE}:src/spherex_sdt/archive/sections.py"],
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("spherex_sdt.archive._baseline_sections", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "spherex_sdt.archive"
    exec(compile(source, "baseline_sections.py", "exec"), module.__dict__)  # noqa: S102  our own history
    return module


def _positions(n, box_px, seed=3):
    rng = np.random.default_rng(seed)
    scale = 6.15 / 3600
    dx, dy = rng.uniform(-box_px / 2, box_px / 2, (2, n))
    ra = TARGET["ra_deg"] + dx * scale / np.cos(np.radians(TARGET["dec_deg"]))
    return [(f"s{k}", float(r), float(d)) for k, (r, d) in enumerate(zip(ra, TARGET["dec_deg"] + dy * scale))]


def _archive(service, cutouts, **changes):
    return with_defaults(SCHEMA, "archive", {**service.archive_settings(cutouts=cutouts), "timeout_s": 60,
                                            **changes})


def run_baseline(service, positions, work, threads, *, service_cutouts=False):
    """Per-source fetching as main does it (section reads, or the cutout service when ``service_cutouts``)."""
    import aiohttp
    import fsspec
    from astropy.io import fits

    old = _baseline_sections()
    backend = open_archive(_archive(service, "http-section"))
    layouts = old.LayoutCache()
    items = [(ra, dec, row) for _, ra, dec in positions for row in backend.search_exposures(ra, dec)]

    def one(k_item):
        k, (ra, dec, row) = k_item
        dest = work / f"cut-{k}.fits"
        if service_cutouts:
            backend._get("cutout", f"{backend.data_url}{row['key']}?center={ra:.7f},{dec:.7f}d&size={SIZE_DEG:g}",
                         dest)
        else:
            fs = fsspec.filesystem("http", client_kwargs={"timeout": aiohttp.ClientTimeout(total=60)},
                                   skip_instance_cache=True)
            cut, _, _ = old.remote_cutout(fs, backend.data_url + row["key"], ra, dec, SIZE_DEG, block_size=16384,
                                          source=row["key"], retry=backend._section_retry("http"), layouts=layouts,
                                          merge_gap=65536)
            cut.writeto(dest, overwrite=True)
        with fits.open(dest, memmap=False) as hdul:  # main's cache verification of every new cutout
            hdul.verify("exception")
            for hdu in hdul:
                _ = hdu.data
        return k

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, enumerate(items)))
    return len(items)


def run_batched(service, positions, work, threads, cutouts="http-section"):
    from spherex_sdt.tasks.archive import fetch_source_cutouts

    table = Table(rows=[(n, r, d) for n, r, d in positions], names=("source", "ra", "dec"))
    table.meta["status"] = "ok"
    table.write(work / "selected.ecsv", overwrite=True)
    fetch_source_cutouts(work / "selected.ecsv", [1, 2, 3, 4, 5, 6], SIZE_DEG, threads,
                         _archive(service, cutouts), work / "cache", work / "exposures.ecsv")
    manifest = Table.read(work / "exposures.ecsv")
    if not np.all(manifest["status"] == "ok"):
        raise SystemExit(f"{cutouts}: {int(np.sum(manifest['status'] != 'ok'))} cutouts failed")
    return len(manifest)


def measure(label, service, run, *args, **kwargs):
    service.requests.clear()
    service.body_bytes = 0
    t0 = time.perf_counter()
    n = run(service, *args, **kwargs)
    seconds = time.perf_counter() - t0
    return label, {"n": n, "requests": len(service.requests), "bytes": service.body_bytes, "seconds": seconds}


def simulate(root, exposures):
    settings = SimulationSettings(detector_size=2040, exposures_per_target=exposures, psf_zones=11, psf_stamp=101,
                                  margin_px=200, n_stars=30, n_red=4, seed=11)
    t0 = time.perf_counter()
    simulate_archive(Table(rows=[TARGET]), root, settings)
    print(f"simulated {2 * exposures} full-size files in {time.perf_counter() - t0:.0f} s")
    return settings


def time_measure_spectra(root, manifest_path, work, settings):
    """`measure_spectra` end to end on the batched run's manifest: per source-exposure milliseconds."""
    from spherex_sdt.config import with_defaults as complete
    from spherex_sdt.tasks.spectra import measure_spectra

    flags = complete(SCHEMA, "flags", {})
    photometry = complete(SCHEMA, "photometry", {})
    params = {"radii_px": [2.0, 3.0, 4.0], "annulus_px": [7.0, 16.0], "bad_flags": flags["photometry_bad"],
              "background_flags": flags["background_bad"],
              **{k: photometry[k] for k in ("reject_sigma", "reject_sigma_flagged", "psf_model_error", "fit_position",
                                            "max_position_shift_px")}}
    maps = {d: str(root / sapm_key(settings, d)) for d in range(1, 7) if (root / sapm_key(settings, d)).exists()}
    t0 = time.perf_counter()
    measure_spectra(manifest_path, maps, params, {"radius_px": 3.0, "clip_sigma": 4.0}, work / "sources",
                    work / "spectra.ecsv")
    return time.perf_counter() - t0


def time_cutout_building(root, positions, n_files=4):
    """CPU per cutout, file headers known and pixels on local disk: astropy (make_cutout with the nearest PSF plane,
    writeto with checksums, a verifying re-open, as main's cache did) against the template builder and the block
    reader's verification (`store_cutout`). This is why cutouts are not written by astropy."""
    import io

    from astropy.io import fits
    from fsspec.implementations.local import LocalFileSystem

    from spherex_sdt.archive.cutouts import make_cutout
    from spherex_sdt.archive.sections import LayoutCache, batched_cutouts
    from spherex_sdt.io.fits_file import read_hdus

    index = Table.read(root / "index.ecsv")
    files = [root / key for key in index["access_url"][:n_files]]
    sky = [(ra, dec) for _, ra, dec in positions]
    t0 = time.perf_counter()
    for path in files:
        with fits.open(path, memmap=True) as hdul:
            for ra, dec in sky:
                buffer = io.BytesIO()
                make_cutout(hdul, ra, dec, SIZE_DEG, psf="nearest").writeto(buffer, checksum=True)
                with fits.open(io.BytesIO(buffer.getvalue())) as cut:
                    cut.verify("exception")
                    for hdu in cut:
                        _ = hdu.data
    astropy_s = (time.perf_counter() - t0) / (len(files) * len(sky))
    layouts, fs = LayoutCache(), LocalFileSystem()
    for path in files:
        batched_cutouts(fs, str(path), sky[:1], SIZE_DEG, layouts=layouts)  # headers known, as in a later batch
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for path in files:
            cutouts, _ = batched_cutouts(fs, str(path), sky, SIZE_DEG, layouts=layouts, merge_gap=375_000)
            for k, cutout in enumerate(cutouts):
                out = Path(tmp) / f"{k}.fits"
                out.write_bytes(cutout)
                for hdu in read_hdus(out):
                    _ = hdu.data
        ours_s = (time.perf_counter() - t0) / (len(files) * len(sky))
    return astropy_s, ours_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=25)
    parser.add_argument("--exposures", type=int, default=24, help="exposures to simulate (two files each)")
    parser.add_argument("--box-px", type=float, default=64, help="side of the box the sources lie in (pixels)")
    parser.add_argument("--threads", type=int, default=4, help="files (or cutouts) fetched at once")
    parser.add_argument("--service-sources", type=int, default=2, help="sources for the per-source service run")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="modelled delay per HTTP answer")
    parser.add_argument("--bandwidth-mbps", type=float, default=100.0, help="modelled HTTP transfer rate")
    parser.add_argument("--workdir", default=None, help="keep the simulated archive here (default: a temp dir)")
    parser.add_argument("--skip", default="", help="comma-separated runs to skip (baseline, service)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    _count_bodies()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        root = work / "archive"
        settings = (SimulationSettings(detector_size=2040, exposures_per_target=args.exposures, psf_zones=11,
                                       psf_stamp=101, margin_px=200, n_stars=30, n_red=4, seed=11)
                    if (root / "index.ecsv").exists() else simulate(root, args.exposures))
        positions = _positions(args.sources, args.box_px)
        network = {"latency_s": args.latency_ms / 1000, "bandwidth_mbps": args.bandwidth_mbps}
        print(f"{args.sources} sources in a {args.box_px:g}-pixel box, 0.1-deg cutouts; HTTP answers delayed "
              f"{args.latency_ms:g} ms + size at {args.bandwidth_mbps:g} Mbit/s; {args.threads} threads")
        results = {}
        runs = tempfile.mkdtemp(dir=work)
        with LoopbackIrsa(root, **network) as service:
            if "baseline" not in skip:
                label, r = measure("baseline: per-source section reads", service, run_baseline, positions,
                                   Path(tempfile.mkdtemp(dir=runs)), args.threads)
                results[label] = r
            cold = Path(tempfile.mkdtemp(dir=runs))
            label, r = measure("batched: per-target section reads", service, run_batched, positions, cold,
                               args.threads)
            results[label] = r
            warm = Path(tempfile.mkdtemp(dir=runs))  # a later job: the file headers kept, no cutout cached
            shutil.copytree(cold / "cache" / "headers", warm / "cache" / "headers")
            label, r = measure("batched, headers kept by an earlier job", service, run_batched, positions, warm,
                               args.threads)
            results[label] = r
            if "service" not in skip:
                label, r = measure("service: one box per file", service, run_batched, positions,
                                   Path(tempfile.mkdtemp(dir=runs)), args.threads, cutouts="service")
                results[label] = r
                label, r = measure(f"service, per source ({args.service_sources} sources)", service, run_baseline,
                                   positions[:args.service_sources], Path(tempfile.mkdtemp(dir=runs)), args.threads,
                                   service_cutouts=True)
                results[label] = r
        with LoopbackIrsa(root) as service:
            floor_dir = Path(tempfile.mkdtemp(dir=runs))
            label, r = measure("batched, loopback without modelled latency", service, run_batched, positions,
                               floor_dir, args.threads)
            results[label] = r
        spectra_s = time_measure_spectra(root, floor_dir / "exposures.ecsv", floor_dir, settings)
        astropy_s, ours_s = time_cutout_building(root, positions)
        n_measured = len(Table.read(floor_dir / "exposures.ecsv"))
    base = results.get("baseline: per-source section reads")
    print(f"\n{'run':<46} {'src-exp':>7} {'requests':>9} {'req/src-exp':>11} {'kB/src-exp':>10} {'seconds':>8}"
          f" {'s/src-exp':>9}")
    for label, r in results.items():
        print(f"{label:<46} {r['n']:>7} {r['requests']:>9} {r['requests'] / r['n']:>11.3f} "
              f"{r['bytes'] / r['n'] / 1e3:>10.1f} {r['seconds']:>8.1f} {r['seconds'] / r['n']:>9.4f}")
    if base:
        print("\nratios to the baseline (per source-exposure):")
        for label, r in results.items():
            if r is base:
                continue
            print(f"  {label:<46} requests {r['requests'] / r['n'] / (base['requests'] / base['n']):.3f}  "
                  f"bytes {r['bytes'] / r['n'] / (base['bytes'] / base['n']):.3f}  "
                  f"time {r['seconds'] / r['n'] / (base['seconds'] / base['n']):.3f}")
    print(f"\nmeasure_spectra on the batched run's {n_measured} cutouts: {spectra_s:.1f} s, "
          f"{1e3 * spectra_s / n_measured:.2f} ms per source-exposure")
    print(f"building a cutout (CPU, pixels on disk): astropy {1e3 * astropy_s:.2f} ms, template builder "
          f"{1e3 * ours_s:.2f} ms ({ours_s / astropy_s:.3f} of astropy's time)")
    print("goals: <= 0.3 requests and <= 150 kB per source-exposure; 25 x 48 fetched on loopback in <= 20 s; "
          "measure_spectra <= 5 ms per source-exposure")


if __name__ == "__main__":
    sys.exit(main())
