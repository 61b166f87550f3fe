"""How Snakemake's planning scales with the number of targets: `snakemake -n` and a no-op re-run.

For 10, 100 and 1,000 synthetic targets (N sources each) every product is pre-seeded as an empty or minimal file
in dependency order (and Snakemake's metadata recorded with --touch), so no data is processed and only the
workflow's own overhead is measured (DAG building, input functions, metadata checks):

    python benchmarks/scale.py [--targets 10 100 1000] [--sources 5]

Prints, per size, the number of jobs in the DAG, the wall time and the peak memory of each command.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(r.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])\n"
)

SELECTED = """# %ECSV 1.0
# ---
# datatype:
# - {name: source, datatype: string}
# - {name: id, datatype: int64}
# - {name: ra, datatype: float64}
# - {name: dec, datatype: float64}
# schema: astropy-2.0
source id ra dec
"""


def seed(work, n_targets, n_sources, rng):
    """Targets, config and every product of a finished run, with mtimes in dependency order."""
    ras, decs = rng.uniform(0, 360, n_targets), rng.uniform(-60, 60, n_targets)
    (work / "targets.csv").write_text("target,ra_deg,dec_deg\n" + "".join(
        f"t{k:05d},{ra:.6f},{dec:.6f}\n" for k, (ra, dec) in enumerate(zip(ras, decs))))
    (work / "config.yaml").write_text(f"targets: {work}/targets.csv\narchive: {{backend: local, root: {work}/none}}\n"
                                      "cache_dir: cache\n")
    now = time.time() - 3600
    stages = [[f"cache/calibration/solid_angle_pixel_map_D{d}_spx_cal-sapm-v2-2025-164.fits" for d in range(1, 7)]]
    per_target = [["results/{t}/images.ecsv"], ["results/{t}/D2-D4/pair_images.ecsv"],
                  ["results/{t}/D2-D4/difference.fits"],
                  [f"results/{{t}}/D2-D4/catalog{s}.{e}" for s in ("", "_A", "_B") for e in ("ecsv", "xml")],
                  ["results/{t}/D2-D4/selected.ecsv"],
                  ["results/{t}/D2-D4/exposures.ecsv", "results/{t}/D2-D4/difference.png",
                   "results/{t}/D2-D4/overlap.png", "results/{t}/D2-D4/significance.png"],
                  ["results/{t}/D2-D4/sources/{s}/spectrum.ecsv", "results/{t}/D2-D4/sources/{s}/spectrum.fits",
                   "results/{t}/D2-D4/sources/{s}/spectrum_binned.ecsv", "results/{t}/D2-D4/sources/{s}/spectrum.png",
                   "results/{t}/D2-D4/spectra.ecsv"],
                  ["results/{t}/D2-D4/explore.html"]]
    sources = [f"{k + 1:04d}" for k in range(n_sources)]
    stages.extend([p.format(t=f"t{k:05d}", s=s) for k in range(n_targets) for p in per_target[level]
                   for s in (sources if "{s}" in p else [""])] for level in range(len(per_target)))
    for level, paths in enumerate(stages):
        for rel in dict.fromkeys(paths):
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.name == "selected.ecsv":
                path.write_text(SELECTED + "".join(f"{s} {int(s)} 0.0 0.0\n" for s in sources))
            else:
                path.touch()
            os.utime(path, (now + 10 * level, now + 10 * level))


def measure(work, *args):
    cmd = [sys.executable, "-c", MEASURE, sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "1", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    code, seconds, rss_kb = out.stdout.split()
    if code != "0":
        raise SystemExit(f"snakemake failed:\n{out.stderr}")
    return float(seconds), int(rss_kb) / 1024, out.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--sources", type=int, default=5, help="selected sources per target")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"{'targets':>8} {'jobs':>7} {'dry-run s':>10} {'dry-run MB':>11} {'no-op re-run s':>15} {'re-run MB':>10}")
    for n in args.targets:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            seed(work, n, args.sources, rng)
            measure(work, "--touch")  # records Snakemake's own metadata for the seeded files
            dry_s, dry_mb, _ = measure(work, "-n")
            run_s, run_mb, log = measure(work)
            if "Nothing to be done" not in log:
                raise SystemExit(f"the re-run was not a no-op:\n{log}")
            # every job of the finished DAG, counted by Snakemake itself
            stats = measure(work, "-n", "--forceall", "--quiet", "rules")[2].split("Job stats:", 1)[1]
            jobs = next(int(line.split()[-1]) for line in stats.splitlines() if line.split()[:1] == ["total"])
            print(f"{n:>8} {jobs:>7} {dry_s:>10.2f} {dry_mb:>11.0f} {run_s:>15.2f} {run_mb:>10.0f}")


if __name__ == "__main__":
    main()
