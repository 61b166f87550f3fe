"""Flux accuracy of the default cutout photometry on a harsh simulated sky (artefacts of real frames).

The 20 brightest injected sources are measured on a cutout of every exposure that covers them, with the defaults of
`workflow/schemas/config.schema.yaml` (flags, radii, annulus), and compared with the flux injected at each
exposure's wavelength:

    python benchmarks/photometry_quality.py [--sources 20] [--seed 5] [--radius 3] [--offset-px 0.2] [--clean]

It prints the median flux ratio, the pull σ (standard deviation of (measured - true) / error; also 1.4826 MAD),
and how many measurements are off by more than 4σ and 5σ with quality 0. ``--offset-px`` measures each source
that far from its true position (a seeded random direction per source), as a catalogue position error would;
``--clean`` simulates the sky without artefacts, so that every rejected pixel is a good one lost.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table

from spherex_sdt.archive import LocalArchive
from spherex_sdt.config import with_defaults
from spherex_sdt.io import read_solid_angle_map, read_spectral_image
from spherex_sdt.photometry import measure_cutout
from spherex_sdt.photometry.position import fit_position
from spherex_sdt.simulate import SimulationSettings, simulate_archive, true_flux
from spherex_sdt.simulate.archive import sapm_key

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def measure(root, settings, truth, n_sources, radius, overrides, offset_px=0.0, fit=False):
    flags, phot = with_defaults(SCHEMA, "flags"), with_defaults(SCHEMA, "photometry")
    options = {"radii": phot["radii_px"], "annulus": phot["annulus_px"], "bad_flags": flags["photometry_bad"],
               "background_flags": flags["background_bad"]}
    options.update({k: v for k, v in phot.items() if k in ("reject_sigma", "reject_sigma_flagged", "psf_model_error")})
    options.update({k: v for k, v in overrides.items() if v is not None})
    archive = LocalArchive(root, "spherex_qr2")
    omegas = {d: read_solid_angle_map(root / sapm_key(settings, d)) for d in range(1, 7)}
    bright = truth[np.argsort(-np.asarray(truth["flux_ref_ujy"], float))[:n_sources]]
    rows = []
    rng = np.random.default_rng(17)
    for src in bright:
        ra, dec = float(src["ra"]), float(src["dec"])
        angle = rng.uniform(0, 2 * np.pi)
        shift = offset_px * 6.15 / 3600  # the measured position, offset_px pixels from the truth
        ra_m = ra + shift * np.cos(angle) / np.cos(np.radians(dec))
        dec_m = dec + shift * np.sin(angle)
        images = []
        for k, row in enumerate(archive.search_exposures(ra, dec)):
            path = root / "cutouts" / f"{src['source_id']}-{k}.fits"
            path.parent.mkdir(exist_ok=True)
            archive.fetch_cutout(row, ra, dec, 0.1, path)
            images.append(read_spectral_image(path))
        at = {"refit_position": options.get("refit_position", True)}
        if fit:  # as measure_source does: one position from every exposure, no per-cutout refit there
            position = fit_position(images, ra_m, dec_m, bad_flags=options["bad_flags"],
                                    background_flags=options["background_flags"], annulus=options["annulus"],
                                    radius=max(options["radii"]), max_shift_px=phot["max_position_shift_px"])
            ra_m, dec_m = position["ra"], position["dec"]
            at["refit_position"] = not position["fitted"]
        for image in images:
            m = measure_cutout(image, omegas[image.detector], ra_m, dec_m, **{**options, **at})
            if m is None:
                continue
            r = next(r for r in m["radii"] if np.isclose(r["radius"], radius))
            rows.append((r["flux"], r["flux_err"], float(true_flux(src, m["wavelength"])), r["quality"],
                         r["n_rejected"], m["chi2_psf"], m["n_psf"]))
    return np.array(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--radius", type=float, default=3.0)
    parser.add_argument("--reject-sigma", type=float, default=None, help="instead of the schema default")
    parser.add_argument("--psf-model-error", type=float, default=None, help="instead of the schema default")
    parser.add_argument("--offset-px", type=float, default=0.0, help="measure this far from the true positions")
    parser.add_argument("--clean", action="store_true", help="a sky without artefacts (every rejection is wrong)")
    parser.add_argument("--fit-position", action="store_true",
                        help="measure at one position fitted to every exposure (photometry.fit_position), as the "
                             "workflow does")
    parser.add_argument("--no-refit", action="store_true",
                        help="no per-cutout position refit in the spike rejection (as where the position was fitted "
                             "to every exposure, photometry.fit_position)")
    args = parser.parse_args()
    clean = {"cosmic_ray_rate": 0.0, **{f"{name}_scale": 0.0 for name in (
        "transient", "outlier", "sur_error", "persist", "overflow", "hot", "cold", "nonfunc", "dichroic")}}
    settings = SimulationSettings(detector_size=256, exposures_per_target=48, margin_px=60, n_stars=30, n_red=8,
                                  seed=args.seed, **(clean if args.clean else {}))
    with tempfile.TemporaryDirectory() as tmp:
        index, truth = simulate_archive(Table(rows=[{"target": "t", "ra_deg": 359.9, "dec_deg": 20.0}]),
                                        Path(tmp), settings)
        overrides = {"reject_sigma": args.reject_sigma, "psf_model_error": args.psf_model_error,
                     "refit_position": False if args.no_refit else None}
        m = measure(Path(tmp), settings, truth, args.sources, args.radius, overrides, args.offset_px,
                    fit=args.fit_position)
    flux, err, true, quality = m[:, 0], m[:, 1], m[:, 2], m[:, 3].astype(int)
    ok = np.isfinite(flux) & np.isfinite(err)
    pull = (flux - true) / err
    q0 = ok & (quality == 0)
    mad = 1.4826 * np.median(np.abs(pull[ok] - np.median(pull[ok])))
    print(f"{ok.sum()} measurements of the {args.sources} brightest sources at r = {args.radius:g} px "
          f"(schema defaults), {args.offset_px:g} px from their true positions"
          f"{', position fitted to every exposure' if args.fit_position else ''}, "
          f"{'no artefacts' if args.clean else 'harsh sky'}")
    print(f"median flux ratio {np.median(flux[ok] / true[ok]):.4f}; pull sigma {np.std(pull[ok]):.3f} "
          f"(1.4826 MAD {mad:.3f}); max ratio {np.max(flux[ok] / true[ok]):.2f}")
    for k in (4, 5):
        off = ok & (np.abs(pull) > k)
        print(f"off by > {k} sigma: {off.sum()} ({100 * off.mean():.1f} %), of which quality 0: {(off & q0).sum()}")
    artefact, rejected = (quality & 32) != 0, (quality & 64) != 0
    print(f"with TRANSIENT/OUTLIER/OVERFLOW pixels in the aperture: {artefact.sum()}; "
          f"with pixels rejected: {rejected.sum()} "
          f"({rejected[~artefact].sum()} of them without artefact flags); pixels rejected "
          f"{int(m[:, 4].sum())} ({m[:, 4].sum() / ok.sum():.3f} per measurement)")
    worst = np.argsort(-np.abs(np.where(ok, pull, 0)))[:5]
    for k in worst:
        print(f"  pull {pull[k]:+.1f} ratio {flux[k] / true[k]:.3f} quality {quality[k]} rejected "
              f"{int(m[k, 4])} chi2_psf {m[k, 5]:.1f}")


if __name__ == "__main__":
    main()
