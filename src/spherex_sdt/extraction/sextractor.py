"""Run SExtractor on arrays, in a private temporary directory, and read its catalogue back.

Debian ships the binary as ``source-extractor``; older installs call it ``sex``. A failure raises
`ExtractionError` carrying SExtractor's stderr; a run that finds nothing returns an empty table.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack

from ..errors import ExtractionError, InvalidInputError

__all__ = ["find_sextractor", "sextractor_version", "run_sextractor", "extract_both_signs"]


def find_sextractor():
    """Path of the SExtractor binary (``source-extractor``, else ``sex``)."""
    for name in ("source-extractor", "sex"):
        path = shutil.which(name)
        if path:
            return path
    raise ExtractionError("SExtractor not found: install Debian's source-extractor (apt-get install source-extractor)")


def sextractor_version(binary=None):
    """Version line SExtractor prints, e.g. 'Source Extractor version 2.25.0 (2018-02-08)'."""
    out = subprocess.run([binary or find_sextractor(), "--version"], capture_output=True, text=True, timeout=60)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def run_sextractor(image, weight, flag, header, *, config, parameters, filter_kernel, binary=None, timeout=600):
    """Run SExtractor on an image with a weight map and a flag map.

    Parameters
    ----------
    image : 2D ndarray
        Detection and measurement image; non-finite pixels are replaced by 0 (their weight must be 0).
    weight : 2D ndarray
        Inverse variance, 0 for unusable pixels.
    flag : 2D int ndarray
        Flag map reported as IMAFLAGS_ISO.
    header : `~astropy.io.fits.Header`
        WCS for the image (SExtractor's sky columns are not used: positions are converted by astropy).
    config, parameters, filter_kernel : path-like
        The ``.sex``, ``.param`` and ``.conv`` files.

    Returns
    -------
    `~astropy.table.Table`
        One row per detection, SExtractor's column names; empty (with those columns) if nothing is found.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 2 or weight.shape != image.shape or flag.shape != image.shape:
        raise InvalidInputError(
            f"image, weight and flag must be 2-D and of one shape, got {image.shape}, {weight.shape}, {flag.shape}"
        )
    for label, path in (("config", config), ("parameters", parameters), ("filter_kernel", filter_kernel)):
        if not Path(path).is_file():
            raise InvalidInputError(f"SExtractor {label} file {path} does not exist")
    binary = binary or find_sextractor()
    with tempfile.TemporaryDirectory(prefix="sextractor-") as tmp:
        tmp = Path(tmp)
        bad = ~np.isfinite(image) | ~np.isfinite(weight)
        fits.writeto(tmp / "image.fits", np.where(bad, 0.0, image).astype(np.float32), header)
        fits.writeto(tmp / "weight.fits", np.where(bad, 0.0, weight).astype(np.float32), header)
        fits.writeto(tmp / "flag.fits", np.asarray(flag, np.int32), header)
        cmd = [
            binary, str(tmp / "image.fits"),
            "-c", str(Path(config).resolve()),
            "-PARAMETERS_NAME", str(Path(parameters).resolve()),
            "-FILTER_NAME", str(Path(filter_kernel).resolve()),
            "-CATALOG_NAME", str(tmp / "catalog.fits"),
            "-CATALOG_TYPE", "FITS_1.0",
            "-WEIGHT_TYPE", "MAP_WEIGHT",
            "-WEIGHT_IMAGE", str(tmp / "weight.fits"),
            "-FLAG_IMAGE", str(tmp / "flag.fits"),
        ]
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=timeout)
        if run.returncode != 0:
            raise ExtractionError(f"SExtractor exited with {run.returncode}: {run.stderr.strip()[-2000:]}")
        catalog = tmp / "catalog.fits"
        if not catalog.is_file():
            raise ExtractionError(f"SExtractor wrote no catalogue: {run.stderr.strip()[-2000:]}")
        try:
            table = Table.read(catalog, hdu=1)
        except (OSError, ValueError) as exc:
            raise ExtractionError(f"SExtractor catalogue unreadable: {exc}") from exc
    return table


def extract_both_signs(difference, variance, mask, header, **kwargs):
    """Detect positive and negative sources of a difference image.

    SExtractor finds only positive peaks, so it runs on ``difference`` and on ``-difference``. The merged table
    gains ``sign`` (+1 brighter in the first image of the pair, -1 brighter in the second), fluxes carry that sign,
    and ``id`` numbers the detections 1..N by decreasing |FLUX_AUTO|.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where((mask == 0) & (variance > 0), 1.0 / variance, 0.0)
    tables = []
    for sign in (1, -1):
        table = run_sextractor(sign * difference, weight, mask.astype(np.int32), header, **kwargs)
        table["sign"] = np.full(len(table), sign, np.int16)
        for col in ("FLUX_AUTO", "FLUX_APER", "FLUX_MAX"):
            table[col] = sign * table[col]
        tables.append(table)
    merged = vstack(tables, metadata_conflicts="silent")
    order = np.argsort(-np.abs(np.asarray(merged["FLUX_AUTO"])), kind="stable")
    merged = merged[order]
    merged.add_column(np.arange(1, len(merged) + 1), name="id", index=0)
    return merged
