"""Task of the imaging stage: the difference image of a pair around the target."""

import logging
from pathlib import Path

from astropy.table import Table

from .. import status
from ..detectors import parse_pair
from ..errors import DataFormatError, NoCoverageError
from ..imaging import difference_image
from ..imaging.stack import stacked_difference
from ..io import read_solid_angle_map, read_spectral_image
from ..io.difference_file import write_difference, write_empty_difference
from ..io.spectral_image import check_signal
from .common import LEVEL2_HDUS, SOFTWARE

__all__ = ["make_difference"]

log = logging.getLogger(__name__)


def make_difference(pair_images, solid_angle_a, solid_angle_b, ra, dec, params, output, *, target=""):
    """Difference image of a pair around the target, written as one FITS file (µJy per pixel; ``OBJECT`` = target).

    With one image per detector in the manifest (``difference.visits: 1``) it is the pair's difference
    (`spherex_sdt.imaging.difference_image`); with more, the difference of the two stacks
    (`spherex_sdt.imaging.stack.stacked_difference`) on the pair's B image, visits that cannot be read dropped with
    the reason (header ``NDROPPED``, ``DROPn``). HDUs: DIFFERENCE, VARIANCE, SNR, MASK, IMAGE_A (A on B's grid),
    VARIANCE_A, IMAGE_B, VARIANCE_B, FLAGS_A, FLAGS_B, COVERAGE_A, COVERAGE_B, IMAGE_REF, VARIANCE_REF
    (`spherex_sdt.io.difference_file`).
    """
    manifest = Table.read(pair_images, format="ascii.ecsv")
    product_status, reason = status.status_of(manifest.meta)
    if product_status != status.OK or len(manifest) == 0:
        write_empty_difference(manifest.meta.get("pair", ""), product_status, reason or "no image pair", ra, dec,
                               SOFTWARE, output, target=target)
        log.warning("no difference image (%s): %s", product_status, reason)
        return
    options = {"size": params["size_px"], "background_margin": params["background_margin_px"],
               "detection_flags": params["detection_flags"], "background_flags": params["background_flags"],
               "bkg_box": params["background_box_px"], "bkg_filter": params["background_filter"],
               "bad_fraction_limit": params["bad_fraction_limit"]}
    used = manifest[manifest["used"]] if "used" in manifest.colnames else manifest
    if manifest.meta.get("visits", 1) == 1:
        paths = {r["role"]: r["path"] for r in used}
        a = read_spectral_image(paths["A"], require=LEVEL2_HDUS)
        b = read_spectral_image(paths["B"], require=LEVEL2_HDUS)
        for image in (a, b):
            check_signal(image)
        try:
            result = difference_image(a, b, read_solid_angle_map(solid_angle_a), read_solid_angle_map(solid_angle_b),
                                      ra, dec, **options)
        except NoCoverageError as exc:
            # the pair was chosen because the archive's footprints hold the target (with the edge margin): a file
            # that does not is not what the archive says it is (a wrong shape or WCS), which is no lack of coverage
            shapes = ", ".join(f"{role} {paths[role]}: IMAGE {img.shape[1]}x{img.shape[0]} pixels"
                               for role, img in (("A", a), ("B", b)))
            raise DataFormatError(f"the archive's footprints contain ({ra:.6f}, {dec:.6f}) but the files do not "
                                  f"({exc}); {shapes}") from exc
        write_difference(result, manifest.meta, ra, dec, SOFTWARE, output, target=target)
        return
    visits, dropped, reference = {"A": [], "B": []}, [], None
    for row in used:
        try:
            image = read_spectral_image(row["path"], require=LEVEL2_HDUS)
            check_signal(image)
        except DataFormatError as exc:  # unreadable WCS or FLAGS, a blank image: dropped, and said so
            dropped.append(f"{row['file_name']}: {exc}")
            log.warning("visit %s dropped: %s", row["file_name"], exc)
            continue
        visits[str(row["role"])].append(image)
        if row["reference"] and row["role"] == "B":
            reference = image
    if reference is None or not visits["A"]:
        write_empty_difference(manifest.meta.get("pair", ""), status.NO_COVERAGE,
                               "the pair's own images cannot be read: " + "; ".join(dropped), ra, dec, SOFTWARE,
                               output, target=target)
        return
    det_a, det_b = parse_pair(manifest.meta["pair"])
    omegas = {det_a: read_solid_angle_map(solid_angle_a), det_b: read_solid_angle_map(solid_angle_b)}
    result = stacked_difference(visits["A"], visits["B"], omegas, reference, ra, dec,
                                clip_sigma=params["stack_clip_sigma"],
                                flux_tolerance=params["stack_flux_tolerance"], **options)
    for tag in ("A", "B"):
        dropped += [f"{Path(v['path']).name}: {v['reason']}" for v in result.info[tag]["visits"] if not v["used"]]
    write_difference(result, manifest.meta, ra, dec, SOFTWARE, output, target=target, dropped=dropped)
    log.info("stacked difference: %d A and %d B visits, %d dropped", result.info["A"]["n_visits"],
             result.info["B"]["n_visits"], len(dropped))
