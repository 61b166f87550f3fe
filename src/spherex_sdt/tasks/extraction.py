"""Tasks of the extraction stage: detect sources on the difference (both signs) and choose those to measure."""

import logging

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from .. import status
from ..detectors import DETECTORS, PIXEL_SCALE_ARCSEC
from ..extraction import extract_both_signs, select_sources as _select
from ..extraction.catalogs import (
    add_footprint_flags,
    add_pair_photometry,
    add_positions,
    cross_match,
    extract_image,
)
from ..extraction.sextractor import sextractor_version
from ..io import write_table
from ..io.difference_file import open_difference
from ..io.vo import SIGN_CONVENTION, describe_columns, write_votable
from .common import SOFTWARE

__all__ = ["extract_sources", "select_sources", "CATALOG_COLUMNS", "empty_catalog"]

log = logging.getLogger(__name__)

CATALOG_COLUMNS = (("id", int), ("ra", float), ("dec", float), ("x", float), ("y", float), ("sign", int),
                   ("FLUX_AUTO", float), ("FLUXERR_AUTO", float), ("footprint_flags", int),
                   ("core_masked_fraction", float))
"""Columns of an empty catalogue (what `select_sources` and the plots need)."""

_FLUX_COLUMNS = ("FLUX_AUTO", "FLUXERR_AUTO", "FLUX_APER", "FLUXERR_APER", "FLUX_MAX")


def empty_catalog(product_status, reason, **meta):
    """A catalogue without rows that says why (``status``, ``reason``)."""
    table = Table(names=[c for c, _ in CATALOG_COLUMNS], dtype=[d for _, d in CATALOG_COLUMNS])
    table.meta.update(meta, status=product_status, reason=reason)
    return table


def _votable_params(meta):
    """PARAMs of a catalogue's VOTable: the target, the pair, and how to read the difference and its sign."""
    params = [("target", meta.get("target", ""), "meta.id;src", "target name (target list)"),
              ("pair", meta.get("pair", ""), "instr.setup", "detector pair A-B; the difference is A - B on B's grid")]
    if "image" in meta:
        params.append(("image", meta["image"], "meta.note", "the image this catalogue was extracted from"))
    else:
        params.append(("sign_convention", SIGN_CONVENTION, "meta.note", "how the sign column reads"))
    return params


def _write_catalogs(outputs, tables):
    """Write each ``(name, table)`` to its ECSV and VOTable outputs (with COOSYS and PARAMs)."""
    for tag, table in tables:
        write_table(table, outputs[f"ecsv{tag}"])
        write_votable(table, outputs[f"votable{tag}"], params=_votable_params(table.meta))


def extract_sources(difference, config, parameters, filter_kernel, outputs):
    """Detect sources on the difference (both signs) and on each image; cross-match; write ECSV and VOTable.

    ``outputs`` maps ``ecsv``/``votable`` (difference catalogue) and ``ecsv_a``/``votable_a``/``ecsv_b``/
    ``votable_b`` (single-image catalogues) to paths. Each difference detection carries the matched single-image
    detections, forced aperture fluxes on both images, the AB colour m_A - m_B, the flag bits touching it in
    either image and the masked fraction of its core.
    """
    with open_difference(difference) as hdul:
        product_status, reason = status.status_of(hdul[0].header)
        if product_status != status.OK:
            empty = empty_catalog(product_status, reason, pair=hdul[0].header.get("PAIR", ""),
                                  target=hdul[0].header.get("OBJECT", ""))
            _write_catalogs(outputs, [("", empty), ("_a", empty), ("_b", empty)])
            log.warning("no catalogue (%s): %s", product_status, reason)
            return
        planes = {name: hdul[name].data.astype(float) for name in
                  ("DIFFERENCE", "VARIANCE", "IMAGE_A", "VARIANCE_A", "IMAGE_B", "VARIANCE_B", "IMAGE_REF",
                   "VARIANCE_REF")}
        ref_margin = int(hdul["IMAGE_REF"].header.get("REFMARG", 0))
        mask = hdul["MASK"].data.astype(np.int32)
        flags = {tag: hdul[f"FLAGS_{tag}"].data.astype(np.int64) for tag in ("A", "B")}
        header = hdul["DIFFERENCE"].header.copy()
        primary = hdul[0].header.copy()
    wcs = WCS(header)
    sextractor = {"config": config, "parameters": parameters, "filter_kernel": filter_kernel}
    catalog = extract_both_signs(np.nan_to_num(planes["DIFFERENCE"]), np.nan_to_num(planes["VARIANCE"], nan=np.inf),
                                 mask, header, **sextractor)
    fwhm_px = tuple(primary.get(f"FWHM_{tag}", DETECTORS[primary[f"DET_{tag}"]].psf_fwhm_arcsec) / PIXEL_SCALE_ARCSEC
                    for tag in ("A", "B"))
    # B's own pixels (no resampling) with B's PSF width, and a margin beyond the box for sources at its edge
    add_positions(catalog, wcs, planes["IMAGE_REF"], planes["VARIANCE_REF"], margin=ref_margin, fwhm=fwhm_px[1])
    add_footprint_flags(catalog, flags["A"], flags["B"], mask)
    meta = {"target": primary.get("OBJECT", ""), "pair": primary.get("PAIR", ""), "sextractor": sextractor_version(),
            "software": SOFTWARE, "status": status.OK, "reason": ""}
    for tag in ("A", "B"):
        single = add_positions(extract_image(planes[f"IMAGE_{tag}"], planes[f"VARIANCE_{tag}"], header,
                                             **sextractor), wcs)
        for col in _FLUX_COLUMNS:
            single[col].unit = "uJy"
        single.meta.update(meta, image=f"{tag}: detector D{primary[f'DET_{tag}']}, OBSID {primary[f'OBSID_{tag}']}, "
                                       f"{primary[f'LAM_{tag}']:.4f} um at the target")
        describe_columns(single)
        _write_catalogs(outputs, [(f"_{tag.lower()}", single)])
        cross_match(catalog, single, tag)
    add_pair_photometry(catalog, planes["IMAGE_A"], planes["VARIANCE_A"], planes["IMAGE_B"], planes["VARIANCE_B"],
                        fwhm_px=fwhm_px)
    for col in (*_FLUX_COLUMNS, "FLUX_AUTO_A", "FLUXERR_AUTO_A", "FLUX_AUTO_B", "FLUXERR_AUTO_B"):
        catalog[col].unit = "uJy"
    catalog.meta.update(meta, sign_convention=SIGN_CONVENTION)
    describe_columns(catalog)
    _write_catalogs(outputs, [("", catalog)])
    log.info("%d detections (%d negative)", len(catalog), int(np.sum(catalog["sign"] < 0)) if len(catalog) else 0)


def select_sources(catalog, params, output):
    """Apply the selection strategy; the output table lists one row per source to measure."""
    table = Table.read(catalog, format="ascii.ecsv")
    selected = _select(table, strategy=params["strategy"], n=params["n"], min_snr=params["min_snr"],
                       sign=params["sign"], ids=params["ids"], positions=[tuple(p) for p in params["positions"]],
                       exclude_flags=params["exclude_flags"],
                       max_core_masked_fraction=params["max_core_masked_fraction"])
    product_status, reason = status.status_of(table.meta)
    selected.meta.update({"selection": params, "catalog": str(catalog), "status": product_status, "reason": reason,
                          "n_detections": len(table)})
    write_table(describe_columns(selected), output)
    log.info("selected %d of %d sources", len(selected), len(table))
