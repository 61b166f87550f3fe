"""Time of the ``plot_difference`` job (difference.png, overlap.png, significance.png of a pair): this code against
main's before its figures were made fast, on one 300 x 300 difference with ~30 detections:

    python benchmarks/figures.py [--size 300] [--rounds 3] [--workdir DIR]

The pair comes from a light simulated archive through the pipeline's own tasks (search, pair, difference,
SExtractor, selection of 25). Two figures are given, each as a ratio to the baseline measured the same way:

in process : ``plot_difference`` called again and again in one process (imports done), the fastest of
             ``--rounds`` (each round runs the baseline, then ours): the figures alone.
job        : a fresh Python process per run that imports the task and calls it once, as the rule's job does: the
             figures plus what the job imports (the baseline imported photutils and scipy.stats through the
             spectra package for one magnitude function).

baseline : ``plot_difference`` of the package at ``BASELINE`` (``git_baseline.py``): pyplot figures laid out by
           ``tight_layout`` and saved with a tight bounding box (another full draw).
ours     : figures outside pyplot, ``tight_layout`` only, saved as laid out; the plotting package imports no
           photometry.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from astropy.table import Table

from git_baseline import baseline_path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
BASELINE = "f12b2f6"
"""main before plot_difference's figures were made fast."""
TARGET = {"target": "bench", "ra_deg": 210.80227, "dec_deg": 54.34895}

_JOB = """
import sys
from {package}.tasks.plots import plot_difference
base, out = sys.argv[1:3]
plot_difference(f"{{base}}/difference.fits", f"{{base}}/catalog.ecsv", f"{{base}}/selected.ecsv",
                {{k: f"{{out}}/{{k}}.png" for k in ("difference", "overlap", "significance")}})
"""
"""What the rule's job does, in a fresh interpreter."""


def make_pair(work, size):
    """difference.fits, catalog.ecsv and selected.ecsv of a simulated pair (made once per work directory)."""
    from spherex_sdt.config import with_defaults
    from spherex_sdt.simulate import SimulationSettings, simulate_archive
    from spherex_sdt.simulate.archive import sapm_key
    from spherex_sdt.tasks.archive import fetch_pair_images, search_images
    from spherex_sdt.tasks.extraction import extract_sources, select_sources
    from spherex_sdt.tasks.imaging import make_difference

    if (work / "selected.ecsv").exists():
        return
    root = work / "archive"
    settings = SimulationSettings(detector_size=size + 360, exposures_per_target=4, margin_px=size // 2 + 30,
                                  n_stars=45, n_red=6, seed=11)
    simulate_archive(Table(rows=[TARGET]), root, settings)
    archive = with_defaults(SCHEMA, "archive", {"backend": "local", "root": str(root),
                                                "collection": settings.collection})
    ra, dec = TARGET["ra_deg"], TARGET["dec_deg"]
    search_images("bench", ra, dec, 50, archive, work / "images.ecsv")
    section = with_defaults(SCHEMA, "difference", {"size_px": size})
    fetch_pair_images(work / "images.ecsv", "D2-D4", ra, dec, size // 2 + section["background_margin_px"] + 2,
                      section["max_dt_days"], archive, work / "cache", work / "pair.ecsv", visits=section["visits"],
                      max_visits=section["max_visits"], box_px=size, threads=2)
    flags = with_defaults(SCHEMA, "flags", {})
    params = {key: section[key] for key in ("size_px", "background_margin_px", "background_box_px",
                                            "background_filter", "bad_fraction_limit", "stack_clip_sigma",
                                            "stack_flux_tolerance")}  # as the workflow's get_difference_params
    params.update(detection_flags=sorted(flags["detection_bad"]), background_flags=sorted(flags["background_bad"]))
    make_difference(work / "pair.ecsv", root / sapm_key(settings, 2), root / sapm_key(settings, 4), ra, dec, params,
                    work / "difference.fits", target="bench")
    sex = ROOT / "config" / "sextractor"
    outputs = {f"{kind}{tag}": str(work / f"catalog{tag}.{ext}") for kind, ext in (("ecsv", "ecsv"), ("votable", "xml"))
               for tag in ("", "_a", "_b")}
    extract_sources(work / "difference.fits", str(sex / "default.sex"), str(sex / "default.param"),
                    str(sex / "default.conv"), outputs)
    selection = with_defaults(SCHEMA, "selection", {"strategy": "brightest", "n": 25, "sign": "both"})
    select_sources(work / "catalog.ecsv", selection, work / "selected.ecsv")


def job_seconds(package_dir, package, work, out):
    """Wall time of a fresh process importing the task and drawing the three figures once."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(package_dir), str(ROOT / "src")))}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _JOB.format(package=package), str(work), str(out)], check=True, env=env)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="difference box side in pixels")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each measurement (the fastest counts)")
    parser.add_argument("--workdir", default=None, help="keep the simulated pair here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        make_pair(work, args.size)
        n_detections = len(Table.read(work / "catalog.ecsv"))
        old_dir = baseline_path(BASELINE, work)
        sys.path.insert(0, str(old_dir))
        from spherex_sdt.tasks.plots import plot_difference as ours
        from spherex_sdt_baseline.tasks.plots import plot_difference as baseline

        inputs = [work / name for name in ("difference.fits", "catalog.ecsv", "selected.ecsv")]
        best = {"baseline": float("inf"), "ours": float("inf")}
        jobs = {"baseline": float("inf"), "ours": float("inf")}
        for k in range(args.rounds):
            for label, run in (("baseline", baseline), ("ours", ours)):
                out = work / "figures" / f"{label}-{k}"
                out.mkdir(parents=True, exist_ok=True)
                t0 = time.perf_counter()
                run(*inputs, {n: out / f"{n}.png" for n in ("difference", "overlap", "significance")})
                best[label] = min(best[label], time.perf_counter() - t0)
            for label, package in (("baseline", "spherex_sdt_baseline"), ("ours", "spherex_sdt")):
                jobs[label] = min(jobs[label], job_seconds(old_dir, package, work, work / "figures" / label))
    print(f"plot_difference: {args.size} x {args.size} box, {n_detections} detections, fastest of {args.rounds}")
    for label in best:
        print(f"  {label:<9} in process {best[label]:5.2f} s   job (fresh process) {jobs[label]:5.2f} s")
    print(f"  ours / baseline: in process {best['ours'] / best['baseline']:.3f}, "
          f"job {jobs['ours'] / jobs['baseline']:.3f}")


if __name__ == "__main__":
    main()
