"""Photometry time: per cutout, the reference notebook's method vs spherex-sdt's; per source-exposure, the whole
``measure_spectra`` job against main's before its products were made fast. Each comparison runs in this process:

    python benchmarks/photometry.py [--only cutouts|spectra] [--exposures 200] [--workdir DIR]

**Per cutout** (``cutouts``): one simulated source seen in >= 200 exposures (all six detectors), cutouts of 0.1 deg
fetched once into a cache, three aperture radii.

notebook : its per-cutout loop (reference-notebook.md §2.13): open the cutout, copy its HDUs, W WCS evaluated on
           the whole pixel grid then interpolated at the source, solid-angle map interpolated at the detector corner,
           photutils annulus statistics, one photutils call per radius for flux and for variance and one per FLAGS
           bit and radius for the flag counts, and the whole result table rewritten after every cutout (the notebook
           pickles it; here JSON, since spherex-sdt uses no pickle).
ours     : `spherex_sdt.photometry.measure_cutout` per cutout (file read, WCS, solid-angle slice at parent pixels,
           masks by bit, PSF-corrected apertures and per-bit counts), then one spectrum table written at the end.
Both include reading the file and writing the result.

**Per source-exposure** (``spectra``): `spherex_sdt.tasks.spectra.measure_spectra`, the rule's whole job, on 25
sources x 48 exposures of cached 0.1-deg cutouts (a light simulated archive: 24 exposures of 256-pixel detectors,
two files each; the sources are the injected stars), three radii, the injected SEDs drawn: photometry and every
per-source product (spectrum.ecsv/.fits/.png, spectrum_binned.ecsv, lightcurve.ecsv/.png) and the summary. The
products cost the same per source whatever its exposures, so their share per source-exposure falls as a source
gains exposures (``--spectra-files``; its own work directory).

floor    : reading each cutout and `measure_cutout` on it, nothing written: what the job cannot avoid.
baseline : ``measure_spectra`` of the package at ``BASELINE`` (main before its products were made fast: a figure
           with ``tight_layout`` and a tight bounding box per PNG, an error bar call per light-curve channel, the
           FITS table written, read back and copied), loaded from git (``git_baseline.py``).
ours     : this code's ``measure_spectra``: two figures per job, drawn again for each source with a fixed layout;
           the FITS table written once.
Each runs ``--rounds`` times, interleaved, and the fastest round counts. The products of baseline and ours are then
compared: every table equal (values, units, descriptions, metadata), the ECSV files byte for byte, the FITS files
with FITSDiff (CHECKSUM and the comment of DATASUM, which hold the time of writing, left out); the PNGs differ by
design (their layout).
"""

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS
from photutils.aperture import CircularAnnulus, CircularAperture, aperture_photometry
from scipy.interpolate import RegularGridInterpolator

from spherex_sdt.archive import LocalArchive
from spherex_sdt.calibration.flags import SPHEREX_FLAGS
from spherex_sdt.config import with_defaults
from spherex_sdt.io import read_solid_angle_map, read_spectral_image, write_table
from spherex_sdt.photometry import measure_cutout
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.spectra import spectrum_table

from git_baseline import baseline_package

RADII = (3.0, 4.0, 5.0)
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
FLAGS = with_defaults(SCHEMA, "flags")
REJECT = {k: v for k, v in with_defaults(SCHEMA, "photometry").items()
          if k in ("reject_sigma", "reject_sigma_flagged", "psf_model_error")}
POSITION = {k: v for k, v in with_defaults(SCHEMA, "photometry").items()
            if k in ("fit_position", "max_position_shift_px")}
BASELINE = "f12b2f6"
"""main before measure_spectra's products were made fast: the baseline of the per source-exposure figure."""


def notebook_cutout(path, ra, dec, interpolators, records, out):
    """One iteration of the notebook's build_phot_table loop."""
    with fits.open(path) as hdul:
        hdus = [h.copy() for h in hdul[1:7]]
    image, flags, var = hdus[0].data.astype(float), hdus[1].data, hdus[2].data.astype(float)
    bits = {k[3:]: int(v) for k, v in hdus[1].header.items() if k.startswith("MP_")}
    masks = {name: (flags & 2**bit) > 0 for name, bit in sorted(bits.items(), key=lambda kv: kv[1])}
    wcs = WCS(hdus[0].header)
    with fits.open(path) as hdul:
        spectral = WCS(hdul["IMAGE"].header, fobj=hdul, key="W")
        spectral.sip = None
    ny, nx = image.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    lam_grid, band_grid = spectral.pixel_to_world_values(xx, yy)  # the whole grid, for one point
    x, y = wcs.world_to_pixel_values(ra, dec)
    lam = RegularGridInterpolator((np.arange(ny), np.arange(nx)), lam_grid, bounds_error=False)([[y, x]])[0]
    band = RegularGridInterpolator((np.arange(ny), np.arange(nx)), band_grid, bounds_error=False)([[y, x]])[0]
    det = hdus[0].header["DETECTOR"]
    iy, ix = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    omega = interpolators[det]((iy, ix))  # the detector corner, wherever the cutout lies (the notebook's defect)
    scale = omega * (np.pi / 648000) ** 2 * 1e9
    image, var = image * scale, var * scale**2
    annulus = CircularAnnulus((x, y), 7.0, 16.0).to_mask(method="center")
    values = annulus.multiply(image)
    _, median, _ = sigma_clipped_stats(values[(annulus.data > 0) & np.isfinite(values)], sigma=3, maxiters=5)
    record = {"wavelength": lam, "bandwidth": band, "flux": [], "variance": [], "dqf": {}}
    for r in RADII:
        aperture = CircularAperture((x, y), r)
        phot = aperture_photometry(image, aperture, method="subpixel", subpixels=5, mask=~np.isfinite(image))
        vphot = aperture_photometry(var, aperture, method="subpixel", subpixels=5, mask=~np.isfinite(var))
        record["flux"].append(float(phot["aperture_sum"][0]) - median * np.pi * r**2)
        record["variance"].append(float(vphot["aperture_sum"][0]))
        for name, mask in masks.items():
            count = aperture_photometry(mask.astype(float), aperture, method="center")["aperture_sum"][0]
            record["dqf"].setdefault(name, []).append(float(count))
    records.append(record)
    with open(out, "w", encoding="utf-8") as handle:  # rewritten after every cutout, as the notebook does
        json.dump(records, handle, default=float)


def per_cutout(args, work):
    """The notebook's per-cutout method against ours (ms per cutout)."""
    root = work / "archive"
    settings = SimulationSettings(detector_size=160, exposures_per_target=int(np.ceil(args.exposures / 2)),
                                  margin_px=50, n_stars=3, n_red=0, seed=5)
    if not (root / "index.ecsv").exists():
        simulate_archive(Table(rows=[{"target": "bench", "ra_deg": 150.1, "dec_deg": 2.2}]), root, settings)
    truth = Table.read(root / "truth.ecsv")
    ra, dec = float(truth["ra"][0]), float(truth["dec"][0])
    archive = LocalArchive(root, "spherex_qr2")
    cutouts = []
    for k, row in enumerate(archive.search_exposures(ra, dec)):
        path = work / "cutouts" / f"{k:04d}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            archive.fetch_cutout(row, ra, dec, 0.1, path)
        cutouts.append(path)
    maps = {d: read_solid_angle_map(root / sapm_key(settings, d)) for d in range(1, 7)}

    t0 = time.perf_counter()
    interpolators = {d: RegularGridInterpolator((np.arange(m.shape[0]), np.arange(m.shape[1])), m)
                     for d, m in maps.items()}
    records = []
    for path in cutouts:
        notebook_cutout(path, ra, dec, interpolators, records, work / "ap_phot.json")
    notebook = (time.perf_counter() - t0) / len(cutouts)

    t0 = time.perf_counter()
    measurements = []
    reading = 0.0
    for path in cutouts:
        t_read = time.perf_counter()
        image = read_spectral_image(path, cutout=True)
        reading += time.perf_counter() - t_read
        m = measure_cutout(image, maps[image.detector], ra, dec, radii=RADII, annulus=(7.0, 16.0),
                           bad_flags=FLAGS["photometry_bad"], background_flags=FLAGS["background_bad"], **REJECT)
        m.update(obs_id=image.obs_id, expid=image.expid, detector=image.detector, mjd=image.mjd)
        measurements.append(m)
    t_write = time.perf_counter()
    table = spectrum_table(measurements, list(SPHEREX_FLAGS), {"source": "bench"}, radius=RADII[0])
    write_table(table, work / "spectrum.ecsv")
    writing = time.perf_counter() - t_write
    ours = (time.perf_counter() - t0) / len(cutouts)
    print(f"{len(cutouts)} cutouts of one source, radii {RADII}")
    print(f"notebook method: {1000 * notebook:8.1f} ms per cutout")
    print(f"spherex-sdt:     {1000 * ours:8.1f} ms per cutout")
    print("  of which reading the file (headers, WCS, wavelength table, planes): "
          f"{1000 * reading / len(cutouts):.1f} ms,"
          f" writing the spectrum: {1000 * writing / len(cutouts):.1f} ms, photometry: "
          f"{1000 * (ours - (reading + writing) / len(cutouts)):.1f} ms")
    print(f"speed-up: {notebook / ours:.1f}x")


def _spectra_set(work, n_sources=25, n_files=48):
    """A light archive with ``n_sources`` injected stars in ``n_files`` files, and their cutouts fetched into a
    cache."""
    from spherex_sdt.tasks.archive import fetch_source_cutouts

    root = work / "archive"
    settings = SimulationSettings(detector_size=256, exposures_per_target=n_files // 2, margin_px=100,
                                  n_stars=n_sources, n_red=4, seed=11)
    if not (root / "index.ecsv").exists():
        simulate_archive(Table(rows=[{"target": "bench", "ra_deg": 210.80227, "dec_deg": 54.34895}]), root,
                         settings)
    manifest = work / "exposures.ecsv"
    if not manifest.exists():
        truth = Table.read(root / "truth.ecsv")
        selected = Table({"source": [f"s{k}" for k in range(n_sources)], "ra": truth["ra"][:n_sources],
                          "dec": truth["dec"][:n_sources]})
        selected.meta["status"] = "ok"
        selected.write(work / "selected.ecsv", overwrite=True)
        archive = with_defaults(SCHEMA, "archive", {"backend": "local", "root": str(root),
                                                    "collection": settings.collection})
        fetch_source_cutouts(work / "selected.ecsv", [1, 2, 3, 4, 5, 6], 0.1, 2, archive, work / "cache", manifest)
    maps = {d: str(root / sapm_key(settings, d)) for d in range(1, 7)}
    return manifest, maps, root / "truth.ecsv"


def _floor(manifest, maps, params):
    """Read and measure every cutout of the manifest, writing nothing."""
    from spherex_sdt.io.spectral_image import read_usable_cutout

    table = Table.read(manifest)
    omegas = {d: read_solid_angle_map(path) for d, path in maps.items()}
    for row in table[table["status"] == "ok"]:
        image = read_usable_cutout(row["path"])
        measure_cutout(image, omegas[image.detector], float(row["ra"]), float(row["dec"]), radii=params["radii_px"],
                       annulus=params["annulus_px"], bad_flags=params["bad_flags"],
                       background_flags=params["background_flags"], **REJECT)


def _compare_products(base_dir, ours_dir):
    """Differences between two ``sources`` folders' products (PNGs left out); an empty list when they agree."""
    from astropy.io.fits import FITSDiff
    from astropy.table import QTable

    problems = []
    for folder in sorted(p for p in base_dir.iterdir() if p.is_dir()):
        other = ours_dir / folder.name
        for name in ("spectrum.ecsv", "spectrum_binned.ecsv", "lightcurve.ecsv"):
            a, b = QTable.read(folder / name), QTable.read(other / name)
            same = a.colnames == b.colnames and len(a) == len(b) and a.meta == b.meta and all(
                np.array_equal(np.asarray(a[c]), np.asarray(b[c]), equal_nan=a[c].dtype.kind == "f")
                and getattr(a[c], "unit", None) == getattr(b[c], "unit", None)
                and a[c].info.description == b[c].info.description for c in a.colnames)
            if not same or (folder / name).read_bytes() != (other / name).read_bytes():
                problems.append(f"{folder.name}/{name} differs")
        diff = FITSDiff(str(folder / "spectrum.fits"), str(other / "spectrum.fits"), ignore_keywords=["CHECKSUM"],
                        ignore_comments=["DATASUM"])
        if not diff.identical:
            problems.append(f"{folder.name}/spectrum.fits differs:\n{diff.report()[:2000]}")
        problems.extend(f"{folder.name}/{name} is empty" for name in ("spectrum.png", "lightcurve.png")
                        if not (other / name).stat().st_size)
    return problems


def per_source_exposure(args, work):
    """``measure_spectra`` end to end: ms per source-exposure, ours against the baseline and the floor."""
    from spherex_sdt.tasks.spectra import measure_spectra

    manifest, maps, truth = _spectra_set(work, n_files=args.spectra_files)
    baseline_package(BASELINE, work)
    baseline = importlib.import_module("spherex_sdt_baseline.tasks.spectra")
    n = int(np.sum(Table.read(manifest)["status"] == "ok"))
    flags = with_defaults(SCHEMA, "flags", {})
    params = {"radii_px": list(RADII), "annulus_px": [7.0, 16.0], "bad_flags": flags["photometry_bad"],
              "background_flags": flags["background_bad"], **REJECT, **POSITION}
    binning = {"radius_px": RADII[0], "clip_sigma": 4.0}
    runs = {"floor": lambda _: _floor(manifest, maps, params),
            "baseline": lambda out: baseline.measure_spectra(manifest, maps, params, binning, out / "sources",
                                                             out / "spectra.ecsv", truth=truth),
            "ours": lambda out: measure_spectra(manifest, maps, params, binning, out / "sources",
                                                out / "spectra.ecsv", truth=truth)}
    best = dict.fromkeys(runs, np.inf)
    for k in range(args.rounds):
        for label, run in runs.items():
            out = work / "runs" / f"{label}-{k}"
            t0 = time.perf_counter()
            run(out)
            best[label] = min(best[label], time.perf_counter() - t0)
    per = {label: 1e3 * seconds / n for label, seconds in best.items()}
    print(f"measure_spectra on {n} source-exposures (25 sources x {args.spectra_files} exposures), fastest of "
          f"{args.rounds} rounds:")
    for label in runs:
        print(f"  {label:<9} {per[label]:6.2f} ms per source-exposure ({best[label]:.1f} s)")
    out_base, out_ours = per["baseline"] - per["floor"], per["ours"] - per["floor"]
    print(f"  ours / baseline: {per['ours'] / per['baseline']:.3f}; products alone (above the floor): "
          f"{out_ours:.2f} ms against {out_base:.2f} ms ({out_ours / out_base:.3f}); ours / floor: "
          f"{per['ours'] / per['floor']:.2f}")
    problems = _compare_products(work / "runs" / "baseline-0" / "sources", work / "runs" / "ours-0" / "sources")
    print("  products of baseline and ours: " + ("identical (tables, ECSV bytes, FITS)" if not problems else
                                                 "DIFFER\n" + "\n".join(problems)))
    print("  goal: <= 5 ms per source-exposure")
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("cutouts", "spectra"), help="run one of the two comparisons")
    parser.add_argument("--exposures", type=int, default=200, help="exposures of the source (>= 200; per cutout)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the per source-exposure runs")
    parser.add_argument("--spectra-files", type=int, default=48,
                        help="exposures of each source in the per source-exposure runs (the goal's 48; a source "
                             "seen over a year has a few hundred)")
    parser.add_argument("--workdir", default=None, help="keep the simulated archives here (default: a temp dir)")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        if args.only in (None, "cutouts"):
            per_cutout(args, work)
        if args.only in (None, "spectra"):
            ok = per_source_exposure(args, work / "spectra")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
