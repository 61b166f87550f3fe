"""The difference product ``difference.fits``: its planes, its header, and reading it back.

PRIMARY holds the provenance (pair, both inputs, target, ``STATUS``/``REASON``); the planes follow in the order of
`DIFFERENCE_PLANES`, each with the reference WCS. A target without a usable pair gets every plane, empty.
"""

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from .. import status
from ..calibration.flags import SPHEREX_FLAGS
from ..errors import DataFormatError
from .atomic import write_fits

__all__ = ["DIFFERENCE_PLANES", "write_difference", "write_empty_difference", "open_difference",
           "read_difference"]

DIFFERENCE_PLANES = ("DIFFERENCE", "VARIANCE", "SNR", "MASK", "IMAGE_A", "VARIANCE_A", "IMAGE_B", "VARIANCE_B",
                     "FLAGS_A", "FLAGS_B", "COVERAGE_A", "COVERAGE_B", "IMAGE_REF", "VARIANCE_REF")


def write_difference(result, manifest_meta, ra, dec, software, path, *, target="", dropped=()):
    """Write a `~spherex_sdt.imaging.DifferenceImage` with its provenance (µJy per pixel).

    ``manifest_meta`` is the pair manifest's metadata (``pair``, ``rule``, for stacks ``visits_note``); ``target``
    goes to ``OBJECT``; ``dropped`` lists visits left out and why (``NDROPPED``, then one ``DROPn`` card each).
    """
    grid = result.wcs.to_header(relax=True)  # every plane's WCS, built once
    header = grid.copy()
    header["OBJECT"] = (target, "target name (target list)")
    header["BUNIT"] = "uJy"
    header["PAIR"] = (manifest_meta["pair"], "difference = A - B on B's grid")
    header["PAIRRULE"] = (manifest_meta["rule"], "how the two images were chosen")
    for tag, info in result.info.items():
        header[f"DET_{tag}"] = (info["detector"], f"detector of image {tag}")
        header[f"OBSID_{tag}"] = (info["obs_id"], f"OBSID of image {tag}")
        header[f"EXPID_{tag}"] = (info["expid"], f"EXPIDN of image {tag}")
        header[f"MJD_{tag}"] = (info["mjd"], f"mid-exposure MJD of image {tag}")
        header[f"LAM_{tag}"] = (round(info["wavelength_um"], 6), f"[um] wavelength of {tag} at target (visits' mean)")
        header[f"BW_{tag}"] = (round(info["bandwidth_um"], 6), f"[um] bandwidth of {tag} at target, WCS-WAVE")
        header[f"FWHM_{tag}"] = (round(info["psf_fwhm_arcsec"], 4), f"[arcsec] PSF FWHM of image {tag}")
        header[f"NVISIT_{tag}"] = (info.get("n_visits", 1), f"visits combined in image {tag}")
        lam = (info.get("wavelength_min_um", info["wavelength_um"]),
               info.get("wavelength_max_um", info["wavelength_um"]))
        header[f"LAMMIN_{tag}"] = (round(lam[0], 6), f"[um] shortest wavelength of {tag}'s visits at target")
        header[f"LAMMAX_{tag}"] = (round(lam[1], 6), f"[um] longest wavelength of {tag}'s visits at target")
        header[f"FILE_{tag}"] = Path(info["path"]).name
    header["TARG_RA"], header["TARG_DEC"] = ra, dec
    header["SOFTWARE"] = software
    header["STATUS"] = (status.OK, "ok, or why the planes are empty")
    if manifest_meta.get("visits_note"):
        header["VISNOTE"] = str(manifest_meta["visits_note"])[:2000]  # fewer visits than asked
    header["NDROPPED"] = (len(dropped), "visits left out of the stacks (DROPn say why)")
    for n, line in enumerate(dropped, 1):
        header[f"DROP{n}"] = str(line)[:2000]  # long strings become CONTINUE cards
    hdus = [fits.PrimaryHDU(header=header)]
    for name, data, unit in (("DIFFERENCE", result.difference, "uJy"), ("VARIANCE", result.variance, "uJy2"),
                             ("SNR", result.snr.astype(np.float32), ""), ("MASK", result.mask, ""),
                             ("IMAGE_A", result.image_a, "uJy"), ("VARIANCE_A", result.variance_a, "uJy2"),
                             ("IMAGE_B", result.image_b, "uJy"), ("VARIANCE_B", result.variance_b, "uJy2")):
        hdu = fits.ImageHDU(data=data, header=grid.copy(), name=name)
        hdu.header["BUNIT"] = unit
        hdus.append(hdu)
    hdus[4].header["MASKBITS"] = "1 bad in A, 2 bad in B, 4 A does not cover"
    for tag, data in (("A", result.flags_a), ("B", result.flags_b)):
        hdu = fits.ImageHDU(data=data.astype(np.int32), header=grid.copy(), name=f"FLAGS_{tag}")
        hdu.header["EXTTYPE"] = "MASK"
        hdu.header["COMMENT"] = (f"FLAGS of image {tag} on B's grid" + (", OR of the A pixels each pixel overlaps"
                                                                         if tag == "A" else ""))
        for name, (bit, comment) in SPHEREX_FLAGS.items():  # declared like a Level-2 FLAGS header
            hdu.header.append(fits.Card(f"HIERARCH MP_{name}" if len(name) > 5 else f"MP_{name}", bit, comment))
        hdus.append(hdu)
    for tag, data in (("A", result.coverage_a), ("B", result.coverage_b)):
        hdu = fits.ImageHDU(data=np.asarray(data, np.int16), header=grid.copy(),
                            name=f"COVERAGE_{tag}")
        hdu.header["BUNIT"] = ""
        hdu.header["COMMENT"] = f"visits of image {tag} combined at each pixel"
        hdus.append(hdu)
    margin = int(result.ref_margin)
    for name, data, unit in (("IMAGE_REF", result.image_ref, "uJy"), ("VARIANCE_REF", result.variance_ref, "uJy2")):
        ref_header = grid.copy()
        ref_header["CRPIX1"] += margin  # the same sky grid, extended by the margin on each side
        ref_header["CRPIX2"] += margin
        hdu = fits.ImageHDU(data=data, header=ref_header, name=name)
        hdu.header["BUNIT"] = unit
        hdu.header["REFMARG"] = (margin, "pixels beyond the difference box on each side")
        hdu.header["COMMENT"] = "B's reference visit on its own pixels (positions are fitted here)"
        hdus.append(hdu)
    write_fits(fits.HDUList(hdus), path)


def write_empty_difference(pair, product_status, reason, ra, dec, software, path, *, target=""):
    """A valid difference file without data: PRIMARY with STATUS and REASON, every plane present but empty."""
    header = fits.Header()
    header["OBJECT"] = (target, "target name (target list)")
    header["PAIR"] = (pair, "difference = A - B on B's grid")
    header["TARG_RA"], header["TARG_DEC"] = ra, dec
    header["SOFTWARE"] = software
    header["STATUS"] = (product_status, "ok, or why the planes are empty")
    header["REASON"] = reason[:2000]  # long strings become CONTINUE cards
    hdus = [fits.PrimaryHDU(header=header)] + [fits.ImageHDU(name=name) for name in DIFFERENCE_PLANES]
    write_fits(fits.HDUList(hdus), path)


def open_difference(path):
    """Open a difference file; `DataFormatError` naming it if unreadable or incomplete."""
    try:
        hdul = fits.open(path, memmap=False)
        names = [h.name for h in hdul]
    except (OSError, ValueError, TypeError) as exc:
        raise DataFormatError(f"{path}: not a readable difference file ({exc})") from exc
    missing = [n for n in DIFFERENCE_PLANES if n not in names]
    if missing:
        hdul.close()
        raise DataFormatError(f"{path}: missing HDU(s) {', '.join(missing)}; found {', '.join(names)}")
    return hdul


def read_difference(path, planes=("DIFFERENCE", "SNR", "MASK", "IMAGE_A", "IMAGE_B")):
    """``(planes, wcs, primary_header, (status, reason))`` of a difference file.

    ``planes`` and ``wcs`` are None when the file's status is not ``ok`` (its planes are empty).
    """
    with open_difference(path) as hdul:
        primary = hdul[0].header.copy()
        product_status, reason = status.status_of(primary)
        if product_status != status.OK:
            return None, None, primary, (product_status, reason)
        data = {name: hdul[name].data for name in planes}
        header = hdul["DIFFERENCE"].header.copy()
    return data, WCS(header), primary, (product_status, reason)
