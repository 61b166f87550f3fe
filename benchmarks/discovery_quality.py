"""Spurious detections and completeness of the default discovery on harsh simulated skies.

Each field is a simulated archive with the artefacts of real frames (`spherex_sdt.simulate.artefacts`: TRANSIENT,
OUTLIER, SUR_ERROR, ... at their QR1 rates, with spikes, and a few unflagged cosmic rays) and ~55 sources in a
300 x 300 px box, as in issue 17. The pipeline runs with the defaults of `workflow/schemas/config.schema.yaml`
(flags, difference, SExtractor settings), on pair D2-D4, with a single pair (``--visits 1``) or stacks:

    python benchmarks/discovery_quality.py [--fields 3] [--size 300] [--seed 1] [--visits 1|N|all] [--exposures 6]

It prints, per field and in total: detections, those at S/N >= 10, the spurious among them (no injected source
within 1.5 px), their S/N, and the completeness of sources at expected |S/N| >= 10 (single pair) or >= 5 (stacks;
all sources, and those with masked core pixels).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from spherex_sdt.config import with_defaults
from spherex_sdt.io import read_spectral_image
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.simulate.scoring import discovery_scores, expected_on_grid
from spherex_sdt.tasks.archive import fetch_pair_images, search_images
from spherex_sdt.tasks.extraction import extract_sources
from spherex_sdt.tasks.imaging import make_difference

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SEX = ROOT / "config" / "sextractor"
FIELDS = [(35.0, -4.5), (359.9, 20.0), (150.1, 2.2), (210.8, 54.3), (80.0, -60.0)]


def difference_params(size):
    """The workflow's difference params (common.smk) from the schema's defaults, with a box of ``size``."""
    flags = with_defaults(SCHEMA, "flags")
    params = dict(with_defaults(SCHEMA, "difference"), size_px=size)
    params.pop("max_dt_days")
    params["detection_flags"] = flags["detection_bad"]
    params["background_flags"] = flags["background_bad"]
    return params


def run_field(work, ra, dec, seed, size, visits, exposures):
    settings = SimulationSettings(detector_size=size + 212, exposures_per_target=exposures, margin_px=size // 2 + 50,
                                  n_stars=45, n_red=10, sky_radius_arcsec=size * 6.15 * 0.56, seed=seed)
    (work / "targets.csv").write_text(f"target,ra_deg,dec_deg\nfield,{ra},{dec}\n")
    archive = {"backend": "local", "root": str(work / "sim"), "collection": "spherex_qr2"}
    simulate_archive(Table.read(work / "targets.csv"), work / "sim", settings)
    search_images("field", ra, dec, 50.0, archive, work / "images.ecsv")
    params = difference_params(size)
    margin = size // 2 + params["background_margin_px"] + 2
    fetch_pair_images(work / "images.ecsv", "D2-D4", ra, dec, margin, None, archive, work / "cache",
                      work / "pair.ecsv", visits=visits, max_visits=params["max_visits"], box_px=size, threads=2)
    t0 = time.perf_counter()
    make_difference(work / "pair.ecsv", work / "sim" / sapm_key(settings, 2),
                          work / "sim" / sapm_key(settings, 4), ra, dec, params, work / "difference.fits")
    outputs = {k: work / f"catalog{s}.{e}" for k, s, e in (("ecsv", "", "ecsv"), ("votable", "", "xml"),
                                                            ("ecsv_a", "_A", "ecsv"), ("votable_a", "_A", "xml"),
                                                            ("ecsv_b", "_B", "ecsv"), ("votable_b", "_B", "xml"))}
    extract_sources(work / "difference.fits", SEX / "default.sex", SEX / "default.param",
                          SEX / "default.conv", outputs)
    elapsed = time.perf_counter() - t0
    pair = Table.read(work / "pair.ecsv")
    pair = pair[pair["used"]]
    images = {role: [read_spectral_image(p) for p in pair["path"][pair["role"] == role]] for role in "AB"}
    with fits.open(work / "difference.fits") as hdul:
        wcs = WCS(hdul["DIFFERENCE"].header)
        variance, mask = hdul["VARIANCE"].data.astype(float), hdul["MASK"].data
    expected = expected_on_grid(Table.read(work / "sim" / "truth.ecsv"), wcs, variance, mask, images["A"],
                                images["B"])
    catalog = Table.read(work / "catalog.ecsv")
    scores = discovery_scores(catalog, expected, complete_snr=10.0 if visits == 1 else 5.0)
    return scores, float(np.mean(mask != 0)), elapsed, len(images["A"]), len(images["B"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3, help=f"fields to simulate (at most {len(FIELDS)})")
    parser.add_argument("--size", type=int, default=300, help="difference box side (px)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--visits", default="1", help="1 (a single pair), an integer or all (stacks)")
    parser.add_argument("--exposures", type=int, default=6, help="exposures per target (3 per visit of D2, D4)")
    args = parser.parse_args()
    visits = args.visits if args.visits == "all" else int(args.visits)
    complete = 10 if visits == 1 else 5
    total = {"n_detections": 0, "n_bright": 0, "n_spurious": 0, "n_sources": 0, "n_found": 0, "n_masked_core": 0,
             "n_masked_core_found": 0}
    print(f"D2-D4, {args.size} x {args.size} px box, schema defaults, visits {visits}; "
          "S/N = |FLUX_AUTO| / FLUXERR_AUTO")
    for k, (ra, dec) in enumerate(FIELDS[: args.fields]):
        with tempfile.TemporaryDirectory() as tmp:
            scores, masked, elapsed, n_a, n_b = run_field(Path(tmp), ra, dec, args.seed + k, args.size, visits,
                                                          args.exposures)
        for key in total:
            total[key] += scores[key]
        snr = scores["spurious_snr"]
        print(f"field {k + 1} ({ra}, {dec}): {scores['n_detections']} detections, {scores['n_bright']} at S/N >= 10, "
              f"{scores['n_spurious']} spurious (S/N {snr.min() if snr.size else 0:.0f}-"
              f"{snr.max() if snr.size else 0:.0f}); found {scores['n_found']}/{scores['n_sources']} sources at "
              f"|S/N| >= {complete}, {scores['n_masked_core_found']}/{scores['n_masked_core']} with masked core "
              f"pixels; {n_a} + {n_b} visits; {100 * masked:.1f} % of the box masked; difference + extraction "
              f"{elapsed:.1f} s")
    print(f"total: {total['n_detections']} detections, {total['n_bright']} at S/N >= 10, {total['n_spurious']} "
          f"spurious ({100 * total['n_spurious'] / max(total['n_bright'], 1):.1f} %); completeness "
          f"{total['n_found']}/{total['n_sources']} ({100 * total['n_found'] / max(total['n_sources'], 1):.1f} %) at "
          f"|S/N| >= {complete}, "
          f"masked-core {total['n_masked_core_found']}/{total['n_masked_core']}")


if __name__ == "__main__":
    main()
