"""Per-cutout photometry time: the reference notebook's method vs spherex-sdt's, on the same cached cutouts.

One simulated source seen in >= 200 exposures (all six detectors), cutouts of 0.1 deg fetched once into a cache,
three aperture radii; both methods run in this process:

    python benchmarks/photometry.py [--exposures 200] [--workdir DIR]

notebook : its per-cutout loop (reference-notebook.md §2.13): open the cutout, copy its HDUs, W WCS evaluated on
           the whole pixel grid then interpolated at the source, solid-angle map interpolated at the detector corner,
           photutils annulus statistics, one photutils call per radius for flux and for variance and one per FLAGS
           bit and radius for the flag counts, and the whole result table rewritten after every cutout (the notebook
           pickles it; here JSON, since spherex-sdt uses no pickle).
ours     : `spherex_sdt.photometry.measure_cutout` per cutout (file read, WCS, solid-angle slice at parent pixels,
           masks by bit, PSF-corrected apertures and per-bit counts), then one spectrum table written at the end.
Both include reading the file and writing the result.
"""

import argparse
import json
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
from spherex_sdt.calibration import BACKGROUND_BAD_FLAGS, PHOTOMETRY_BAD_FLAGS
from spherex_sdt.calibration.flags import SPHEREX_FLAGS
from spherex_sdt.config import with_defaults
from spherex_sdt.io import read_solid_angle_map, read_spectral_image, write_table
from spherex_sdt.photometry import measure_cutout
from spherex_sdt.simulate import SimulationSettings, simulate_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.spectra import spectrum_table

RADII = (3.0, 4.0, 5.0)
SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
REJECT = {k: v for k, v in with_defaults(SCHEMA, "photometry").items()
          if k in ("reject_sigma", "reject_sigma_flagged", "psf_model_error")}


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=200, help="exposures of the source (>= 200)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
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
                               bad_flags=PHOTOMETRY_BAD_FLAGS, background_flags=BACKGROUND_BAD_FLAGS, **REJECT)
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


if __name__ == "__main__":
    main()
