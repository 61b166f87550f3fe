"""Task of the imaging stage: the difference image of a pair around the target."""

import logging

from astropy.table import Table

from .. import status
from ..imaging import difference_image
from ..errors import DataFormatError, NoCoverageError
from ..io import read_solid_angle_map, read_spectral_image
from ..io.spectral_image import check_signal
from ..io.difference_file import write_difference, write_empty_difference
from .common import LEVEL2_HDUS, SOFTWARE

__all__ = ["make_difference"]

log = logging.getLogger(__name__)


def make_difference(pair_images, solid_angle_a, solid_angle_b, ra, dec, params, output, *, target=""):
    """Difference image of a pair around the target, written as one FITS file (µJy per pixel; ``OBJECT`` = target).

    HDUs: DIFFERENCE, VARIANCE, SNR, MASK, IMAGE_A (A reprojected onto B), VARIANCE_A, IMAGE_B, VARIANCE_B
    (`spherex_sdt.io.difference_file`).
    """
    manifest = Table.read(pair_images, format="ascii.ecsv")
    product_status, reason = status.status_of(manifest.meta)
    if product_status != status.OK or len(manifest) == 0:
        write_empty_difference(manifest.meta.get("pair", ""), product_status, reason or "no image pair", ra, dec,
                               SOFTWARE, output, target=target)
        log.warning("no difference image (%s): %s", product_status, reason)
        return
    paths = {r["role"]: r["path"] for r in manifest}
    a = read_spectral_image(paths["A"], require=LEVEL2_HDUS)
    b = read_spectral_image(paths["B"], require=LEVEL2_HDUS)
    for image in (a, b):
        check_signal(image)
    try:
        result = difference_image(
            a, b, read_solid_angle_map(solid_angle_a), read_solid_angle_map(solid_angle_b), ra, dec,
            size=params["size_px"], background_margin=params["background_margin_px"],
            detection_flags=params["detection_flags"], background_flags=params["background_flags"],
            bkg_box=params["background_box_px"], bkg_filter=params["background_filter"],
            bad_fraction_limit=params["bad_fraction_limit"],
        )
    except NoCoverageError as exc:
        # the pair was chosen because the archive's footprints hold the target (with the edge margin): a file that
        # does not is not what the archive says it is (a wrong shape or WCS), which is no lack of coverage
        shapes = ", ".join(f"{role} {paths[role]}: IMAGE {img.shape[1]}x{img.shape[0]} pixels"
                           for role, img in (("A", a), ("B", b)))
        raise DataFormatError(f"the archive's footprints contain ({ra:.6f}, {dec:.6f}) but the files do not ({exc}); "
                              f"{shapes}") from exc
    write_difference(result, manifest.meta, ra, dec, SOFTWARE, output, target=target)
