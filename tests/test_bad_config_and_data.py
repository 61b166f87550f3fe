"""Config values and archive files that used to pass silently or fail obscurely: each now stops with an error
naming the file or key and the problem, and leaves nothing behind."""

import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from spherex_sdt.errors import DataFormatError, InvalidInputError
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.tasks.imaging import make_difference

from .conftest import SMALL
from .test_bad_inputs import _config, _level2_copy, assert_clear_error_and_nothing_left

PARAMS = {"size_px": 16, "background_margin_px": 8, "background_box_px": 8, "background_filter": 3,
          "bad_fraction_limit": 0.5, "detection_flags": [], "background_flags": []}


def config_case(changes, match, case_id):
    return pytest.param(lambda tmp, _: _config(tmp, **changes), InvalidInputError,
                        rf"config my-config\.yaml, key {match}", id=f"config-{case_id}")


CONFIG_CASES = [
    # an empty cache_dir planned writes under /calibration
    config_case({"cache_dir": ""}, r"cache_dir: '' should be non-empty", "cache-dir-empty"),
    config_case({"cache_dir": "  "}, r"cache_dir: must name a directory", "cache-dir-blank"),
    # YAML's .nan passes every range check of the schema (each comparison with NaN is false)
    config_case({"archive__timeout_s": float("nan")}, r"archive\.timeout_s: nan is not a finite number",
                "timeout-nan"),
    config_case({"archive__backoff_s": float("inf")}, r"archive\.backoff_s: inf is not a finite number",
                "backoff-inf"),
    config_case({"photometry__radii_px": [2.0, float("nan")]}, r"photometry\.radii_px\[1\]: nan is not a finite",
                "radius-nan"),
    # unknown fields made a KeyError (or RuleException) in planning, naming no key
    config_case({"calibration__solid_angle_map": "qr2/{detector}/sapm_D{band}.fits"},
                r"calibration\.solid_angle_map: .* must hold the field \{detector\} and no other \(found \{band\}, "
                r"\{detector\}\)", "sapm-unknown-field"),
    config_case({"calibration__solid_angle_map": "qr2/{detector}/sapm_{}.fits"},
                r"calibration\.solid_angle_map: .* must hold the field \{detector\} and no other", "sapm-empty-field"),
    config_case({"calibration__solid_angle_map": "qr2/{detector}/sapm_{.fits"},
                r"calibration\.solid_angle_map: .* is not a valid template", "sapm-unbalanced-brace"),
    config_case({"calibration__spectral_wcs": "qr2/{detector}/swcs_{detector!r}.fits"},
                r"calibration\.spectral_wcs: .* must hold the field \{detector\} and no other", "swcs-format-spec"),
    # apertures larger than the cutout gave fluxes 3-8x off, status ok
    config_case({"photometry__cutout_size_deg": 0.01, "photometry__radii_px": [2.0], "photometry__annulus_px":
                 [3.0, 6.0]},
                r"photometry\.annulus_px: outer radius 6 px does not fit in the cutout: photometry\.cutout_size_deg "
                r"0\.01 deg is 6 px, at most 2\.5 px", "annulus-outside-cutout"),
    config_case({"photometry__cutout_size_deg": 0.02, "photometry__radii_px": [8.0], "photometry__annulus_px":
                 [10.0, 16.0]},
                r"photometry\.annulus_px: outer radius 16 px does not fit in the cutout", "radii-larger-than-cutout"),
]


def _pair_manifest(tmp, archive, a, b):
    manifest = Table({"role": ["A", "B"], "path": [str(a), str(b)]})
    manifest.meta.update(pair="D2-D4", rule="same exposure", status="ok")
    manifest.write(tmp / "pair_images.ecsv")
    omega = archive[0] / sapm_key(SMALL, 2)
    return lambda: make_difference(tmp / "pair_images.ecsv", omega, omega, 150.7817877, 3.3502204, PARAMS,
                                   tmp / "out" / "difference.fits")


def _difference_with(edit):
    """make_difference on a pair whose A image has been edited by ``edit(hdul)`` (a copy of a simulated file)."""
    def setup(tmp, archive):
        a, b = _level2_copy(tmp, archive, "a.fits"), _level2_copy(tmp, archive, "b.fits")
        with fits.open(a) as original:
            hdul = fits.HDUList([hdu.copy() for hdu in original])
        edit(hdul)
        hdul.writeto(a, overwrite=True)
        return _pair_manifest(tmp, archive, a, b)
    return setup


def _all_zero(hdul):
    hdul["IMAGE"].data[:] = 0.0


def _image_plane_cut(hdul):
    hdul["IMAGE"].data = hdul["IMAGE"].data[:64, :64].copy()


def _every_plane_cut(hdul):
    """A file whose planes are all 40x40, with the header of the full frame: the target lies off its pixels."""
    for name in ("IMAGE", "FLAGS", "VARIANCE", "ZODI"):
        hdul[name].data = hdul[name].data[:40, :40].copy()


FILE_CASES = [
    # an all-zero IMAGE gave an empty catalogue, reported as no_sources
    pytest.param(_difference_with(_all_zero), DataFormatError, r"a\.fits: IMAGE is zero in every pixel",
                 id="image-all-zero"),
    # an IMAGE of the wrong shape was reported as no coverage
    pytest.param(_difference_with(_image_plane_cut), DataFormatError,
                 r"a\.fits: FLAGS has shape \(128, 128\), IMAGE \(64, 64\)", id="image-plane-wrong-shape"),
    pytest.param(_difference_with(_every_plane_cut), DataFormatError,
                 r"the archive's footprints contain \(150\.781788, 3\.350220\) but the files do not .*"
                 r"A .*a\.fits: IMAGE 40x40 pixels", id="image-wrong-shape"),
]


@pytest.mark.parametrize(("setup", "error", "culprit"), CONFIG_CASES + FILE_CASES)
def test_clear_error_and_nothing_left(setup, error, culprit, tmp_path, small_archive):
    assert_clear_error_and_nothing_left(setup, error, culprit, tmp_path, small_archive)


def test_zero_cutout_is_skipped_not_measured(tmp_path, small_archive):
    """A blank cutout is not an empty sky: reading it to measure names the file."""
    from spherex_sdt.io.spectral_image import read_usable_cutout

    path = _level2_copy(tmp_path, small_archive, "blank.fits")
    with fits.open(path, mode="update") as hdul:
        hdul["IMAGE"].data[:] = 0.0
    with pytest.raises(DataFormatError, match=r"blank\.fits: IMAGE is zero in every pixel"):
        read_usable_cutout(path)
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
    assert np.isfinite(fits.getdata(path, "VARIANCE")).any()  # only IMAGE was blank
