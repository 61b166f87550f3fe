"""Bad inputs, table-driven: config, target lists, files and archive answers.

Each case prepares its inputs in an empty directory and returns the call to make. The call must raise the
project's exception of the stated type, with a message naming the culprit (key, line, file, URL or value), and
must leave no file behind (nothing new, nothing half-written).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table
from snakemake.utils import validate

from spherex_sdt.io.spectral_image import read_usable_cutout
from spherex_sdt.tasks.common import LEVEL2_HDUS
from spherex_sdt.tasks.extraction import empty_catalog, extract_sources, select_sources
from spherex_sdt.tasks.imaging import make_difference
from spherex_sdt.archive import (
    LocalArchive,
    cached_fetch,
    empty_image_table,
    normalize_image_table,
    open_archive,
    safe_file_name,
)
from spherex_sdt.archive.base import safe_key
from spherex_sdt.archive.irsa import exposure_query
from spherex_sdt.calibration.flags import flag_bits
from spherex_sdt.config import validate_config
from spherex_sdt.errors import ArchiveError, DataFormatError, InvalidInputError, NoCoverageError
from spherex_sdt.imaging import difference_image
from spherex_sdt.imaging.pairs import choose_pair
from spherex_sdt.io import read_spectral_image
from spherex_sdt.targets import read_targets

from .conftest import REAL, ROOT, config_section

SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
QR1 = REAL / "qr1-ngc6888-cutouts" / "NGC6888_cutout_level2_2025W18_2B_0201_3D4_spx_l2b-v12-2025-164.fits"


# -- config -------------------------------------------------------------------------------------------------------
def _config(tmp, **changes):
    """config/config.yaml with dotted keys changed (value None deletes the key)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["targets"] = str(tmp / "targets.csv")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return lambda: validate_config(config, validate, SCHEMA, source="my-config.yaml")


def config_case(changes, match, case_id):
    return pytest.param(lambda tmp, _: _config(tmp, **changes), InvalidInputError,
                        rf"config my-config\.yaml, key {match}", id=f"config-{case_id}")


CONFIG_CASES = [
    config_case({"photometry__radii_px": [-3.0]}, r"photometry\.radii_px\.0: -3\.0 is less than", "negative-radius"),
    config_case({"photometry__annulus_px": [16.0, 7.0]}, r"photometry\.annulus_px: \[16, 7\]", "annulus-inverted"),
    config_case({"photometry__annulus_px": [3.0, 16.0]}, r"photometry\.annulus_px: inner radius 3 must exceed",
                "annulus-overlaps"),
    config_case({"photometry__detectors": [7]}, r"photometry\.detectors\.0: 7 is greater", "detector-7"),
    config_case({"pairs": ["D2-D2"]}, r"pairs\.0: 'D2-D2' does not match", "pair-same-detector"),
    config_case({"pairs": ["D7-D4"]}, r"pairs\.0: 'D7-D4' does not match", "pair-unknown-detector"),
    config_case({"pairs": ["D2-D4", "D2-D4"]}, r"pairs: D2-D4 listed more than once", "pair-twice"),
    config_case({"archive__collection": "spherex_qr2' OR '1'='1"}, r"archive\.collection: .* does not match",
                "collection-injection"),
    config_case({"archive__collection": "SPHEREX"}, r"archive\.collection: 'SPHEREX' does not match",
                "collection-unknown"),
    config_case({"archive__backend": "ftp"}, r"archive\.backend: 'ftp' is not one of", "backend-unknown"),
    config_case({"archive__data_url": "file:///etc/"}, r"archive\.data_url: 'file:///etc/' is not an http",
                "data-url-not-http"),
    config_case({"selection__strategy": "random"}, r"selection\.strategy: 'random' is not one of .*brightest",
                "strategy-unknown"),
    config_case({"selection__strategy": "ids"}, r"selection\.ids: strategy 'ids' needs", "strategy-ids-empty"),
    config_case({"selection__strategy": "positions"}, r"selection\.positions: strategy 'positions' needs",
                "strategy-positions-empty"),
    config_case({"selection__positions": [[400.0, 0.0]]}, r"selection\.positions\.0\.0: 400\.0 is greater",
                "position-ra-400"),
    config_case({"selection__positions": [[10.0, 95.0]]}, r"selection\.positions\.0\.1: 95\.0 is greater",
                "position-dec-95"),
    config_case({"search__radius_arcsec": 0}, r"search\.radius_arcsec: 0 is less than or equal", "radius-zero"),
    config_case({"search__radius_arcsec": 7200}, r"search\.radius_arcsec: 7200 is greater", "radius-2-deg"),
    config_case({"difference__size_px": 8}, r"difference\.size_px: 8 is less than", "difference-too-small"),
    config_case({"spectra__radius_px": 2.5}, r"spectra\.radius_px: 2\.5 is not one of photometry\.radii_px",
                "binned-radius-not-measured"),
    config_case({"flags__photometry_bad": ["BOGUS"]}, r"flags\.photometry_bad\.0: 'BOGUS' is not one of",
                "flag-unknown"),
    config_case({"colour": "red"}, r"\(top level\): Additional properties .*'colour'", "unknown-key"),
    config_case({"calibration__solid_angle_map": "sapm.fits"}, r"calibration\.solid_angle_map: 'sapm\.fits' does",
                "sapm-without-detector"),
    config_case({"calibration__spectral_wcs": "swcs.fits"}, r"calibration\.spectral_wcs: 'swcs\.fits' does",
                "spectral-wcs-without-detector"),
    config_case({"spectra__wavelengths": "astropy"}, r"spectra\.wavelengths: 'astropy' is not one of .*calibration",
                "wavelengths-unknown"),
]


# -- target lists -------------------------------------------------------------------------------------------------
def _targets(text):
    def setup(tmp, _):
        (tmp / "targets.csv").write_text(text)
        return lambda: read_targets(tmp / "targets.csv")
    return setup


def targets_case(text, match, case_id):
    return pytest.param(_targets(text), InvalidInputError, rf"target list .*targets\.csv.*{match}",
                        id=f"targets-{case_id}")


TARGET_CASES = [
    targets_case("target,ra_deg\nm101,210.8\n", r"missing column\(s\) dec_deg", "missing-column"),
    targets_case("target,ra_deg,dec_deg\nm101,360,54.3\n", r"line 2, column ra_deg: 360 is outside \[0, 360\)",
                 "ra-360"),
    targets_case("target,ra_deg,dec_deg\nm101,210.8,54.3\nx,1,-91\n", r"line 3, column dec_deg: -91 is outside",
                 "dec-minus-91"),
    targets_case("target,ra_deg,dec_deg\nm101,abc,54.3\n", r"line 2, column ra_deg: 'abc' is not a number",
                 "ra-text"),
    targets_case("target,ra_deg,dec_deg\nm101,nan,54.3\n", r"line 2, column ra_deg: 'nan' is not a number", "ra-nan"),
    targets_case("target,ra_deg,dec_deg\n../etc,1,2\n", r"line 2, column target: '\.\./etc' is not a valid name",
                 "name-escapes"),
    targets_case("target,ra_deg,dec_deg\nM 101,1,2\n", r"line 2, column target: 'M 101' is not a valid name",
                 "name-space"),
    targets_case("target,ra_deg,dec_deg\na,1,2\na,3,4\n", r"line 3, column target: duplicate name 'a'", "duplicate"),
    targets_case("", r"the file is empty", "empty-file"),
    targets_case("target,ra_deg,dec_deg\n", r"no targets below the header", "header-only"),
]


# -- files --------------------------------------------------------------------------------------------------------
LEVEL2 = LEVEL2_HDUS


def _level2_copy(tmp, archive, name="image.fits"):
    root, index, _ = archive
    dest = tmp / name
    shutil.copyfile(root / index["access_url"][0], dest)
    return dest


def _edited(edit, name="edited.fits"):
    """A setup copying a simulated Level-2 file and applying ``edit(hdul)`` to it."""
    def setup(tmp, archive):
        path = _level2_copy(tmp, archive, name)
        with fits.open(path) as original:
            hdul = fits.HDUList([hdu.copy() for hdu in original])
        edit(hdul)
        hdul.writeto(path, overwrite=True)
        return path
    return setup


def _read(edit, name):
    return lambda tmp, archive: (lambda path=_edited(edit, name)(tmp, archive):
                                 read_spectral_image(path, require=LEVEL2))


def _truncated(tmp, archive):
    path = _level2_copy(tmp, archive, "truncated.fits")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _not_fits(tmp, _):
    (tmp / "notfits.fits").write_text("hello, not FITS")
    return lambda: read_spectral_image(tmp / "notfits.fits")


def _drop_mp_keys(hdul):
    for key in [k for k in hdul["FLAGS"].header if k.startswith("MP_")]:
        del hdul["FLAGS"].header[key]


def _bad_mp_value(hdul):
    key = next(k for k in hdul["FLAGS"].header if k.startswith("MP_"))
    hdul["FLAGS"].header[key] = "eleven"


def _flag_bits_of(name, edit):
    def setup(tmp, archive):
        path = _edited(edit, name)(tmp, archive)
        return lambda: flag_bits(read_spectral_image(path).flags_header, source=f"{path} FLAGS")
    return setup


def _all_nan(hdul):
    hdul["IMAGE"].data[:] = np.nan


def _cached(producer_kind):
    """cached_fetch whose producer writes a bad file (or fails half-way)."""
    def setup(tmp, archive):
        good = _level2_copy(tmp, archive, "source.fits")
        dest = tmp / "cache" / "level2" / f"{producer_kind}.fits"

        def producer(part):
            data = good.read_bytes()
            if producer_kind == "truncated-download":
                Path(part).write_bytes(data[: len(data) // 3])
            elif producer_kind == "no-image-hdu":
                fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)), name="FLAGS")]).writeto(part)
            else:
                Path(part).write_bytes(data[:5000])
                raise ArchiveError(f"https://archive.invalid/{producer_kind}.fits: HTTP 404")
        return lambda: cached_fetch(dest, producer, require=LEVEL2, source=f"qr2/level2/{producer_kind}.fits")
    return setup


def _difference_of(edit_a):
    def setup(tmp, archive):
        a = read_spectral_image(_edited(edit_a, "a.fits")(tmp, archive), require=("IMAGE",))
        b = read_spectral_image(_level2_copy(tmp, archive, "b.fits"))
        omega = np.full((128, 128), 37.8)
        return lambda: difference_image(a, b, omega, omega, 150.7817877, 3.3502204, size=16, background_margin=8,
                                        detection_flags=[], background_flags=[], bkg_box=8, bkg_filter=3,
                                        bad_fraction_limit=0.5)
    return setup


def _make_difference_on_truncated(tmp, archive):
    path = _truncated(tmp, archive)
    manifest = Table({"role": ["A", "B"], "path": [str(path), str(path)]})
    manifest.meta.update(pair="D2-D4", rule="same exposure", status="ok")
    manifest.write(tmp / "pair_images.ecsv")
    params = {"size_px": 16, "background_margin_px": 8, "background_box_px": 8, "background_filter": 3,
              "bad_fraction_limit": 0.5, "detection_flags": [], "background_flags": []}
    return lambda: make_difference(tmp / "pair_images.ecsv", "a", "b", 150.78, 3.35, params,
                                   tmp / "out" / "difference.fits")


def _extract_from(content):
    def setup(tmp, _):
        path = tmp / "difference.fits"
        if content == "text":
            path.write_text("SIMPLE = this is not FITS\n")
        else:
            fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((8, 8)), name="DIFFERENCE")]).writeto(path)
        outputs = {f"{kind}{tag}": str(tmp / "out" / f"catalog{tag}.{ext}") for kind, ext in
                   (("ecsv", "ecsv"), ("votable", "xml")) for tag in ("", "_a", "_b")}
        files = {k: ROOT / "config" / "sextractor" / f"default.{e}" for k, e in
                 (("config", "sex"), ("parameters", "param"), ("filter_kernel", "conv"))}
        return lambda: extract_sources(path, files["config"], files["parameters"], files["filter_kernel"],
                                       outputs)
    return setup


def _select_unknown_id(tmp, _):
    catalog = empty_catalog("ok", "")
    catalog.add_row({"id": 1, "ra": 1.0, "dec": 2.0, "x": 3.0, "y": 4.0, "sign": -1, "FLUX_AUTO": -5.0,
                     "FLUXERR_AUTO": 1.0})
    catalog.write(tmp / "catalog.ecsv")
    params = config_section("selection", strategy="ids", ids=[99])
    return lambda: select_sources(tmp / "catalog.ecsv", params, tmp / "out" / "selected.ecsv")


def _edge_target(tmp, _):
    images = empty_image_table()
    square = "POLYGON ICRS 10.0 -1.0 10.2 -1.0 10.2 -0.8 10.0 -0.8"
    for det in (2, 4):
        images.add_row(("o1", det, f"SPHEREx-D{det}", 60000.0, "k", "k", "f.fits", square, "spherex_qr2"))
    return lambda: choose_pair(images, 2, 4, 10.001, -0.9, margin_deg=0.01)


FILE_CASES = [
    pytest.param(lambda tmp, a: (lambda p=_truncated(tmp, a): read_spectral_image(p, require=LEVEL2)),
                 DataFormatError, r"truncated\.fits: ", id="file-truncated"),
    pytest.param(_not_fits, DataFormatError, r"notfits\.fits: not a readable FITS file", id="file-not-fits"),
    pytest.param(lambda tmp, _: (lambda: read_spectral_image(tmp / "absent.fits")), DataFormatError,
                 r"absent\.fits: no such file", id="file-missing"),
    pytest.param(lambda tmp, _: (lambda: read_spectral_image(QR1, require=LEVEL2)), DataFormatError,
                 r"NGC6888_cutout_level2_2025W18.*missing HDU\(s\) FLAGS, VARIANCE; found PRIMARY, IMAGE, WCS-WAVE",
                 id="file-real-qr1-without-flags-variance"),
    pytest.param(_read(lambda h: h.pop(h.index_of("WCS-WAVE")), "nowave.fits"), DataFormatError,
                 r"nowave\.fits: missing HDU\(s\) WCS-WAVE", id="file-no-wcs-wave"),
    pytest.param(_read(lambda h: h.pop(h.index_of("IMAGE")), "noimage.fits"), DataFormatError,
                 r"noimage\.fits: missing HDU\(s\) IMAGE", id="file-no-image"),
    pytest.param(_read(lambda h: h["IMAGE"].header.remove("CRPIX1W"), "nocrpixw.fits"), DataFormatError,
                 r"nocrpixw\.fits: IMAGE header has no spectral WCS 'W'", id="file-no-spectral-wcs"),
    pytest.param(_flag_bits_of("nomp.fits", _drop_mp_keys), DataFormatError,
                 r"nomp\.fits FLAGS: no MP_\* .*keywords", id="file-no-mp-keys"),
    pytest.param(_flag_bits_of("badmp.fits", _bad_mp_value), DataFormatError,
                 r"badmp\.fits FLAGS: MP_\w+ = 'eleven' is not a bit number", id="file-mp-not-a-number"),
    pytest.param(lambda tmp, a: (lambda p=_edited(_all_nan, "nan.fits")(tmp, a): read_usable_cutout(p)),
           DataFormatError, r"nan\.fits: IMAGE has no finite pixel", id="file-all-nan-cutout"),
    pytest.param(_difference_of(lambda h: h.pop(h.index_of("FLAGS"))), DataFormatError,
                 r"a\.fits \(image_a\): missing HDU\(s\) FLAGS", id="file-difference-without-flags"),
    pytest.param(_difference_of(_all_nan), DataFormatError, r"a\.fits: IMAGE has no finite pixel in the box",
                 id="file-difference-all-nan"),
    pytest.param(_cached("truncated-download"), DataFormatError,
                 r"qr2/level2/truncated-download\.fits: not a valid FITS file", id="cache-truncated-download"),
    pytest.param(_cached("no-image-hdu"), DataFormatError,
                 r"qr2/level2/no-image-hdu\.fits: missing HDU\(s\) IMAGE, VARIANCE, WCS-WAVE", id="cache-no-image"),
    pytest.param(_cached("fails-half-way"), ArchiveError, r"fails-half-way\.fits: HTTP 404", id="cache-fails-half-way"),
    pytest.param(_make_difference_on_truncated, DataFormatError, r"truncated\.fits: ",
                 id="task-difference-on-truncated-file"),
    pytest.param(_extract_from("text"), DataFormatError, r"difference\.fits: not a readable difference file",
                 id="task-extract-not-fits"),
    pytest.param(_extract_from("planes"), DataFormatError, r"difference\.fits: missing HDU\(s\) VARIANCE, SNR",
                 id="task-extract-missing-planes"),
    pytest.param(_select_unknown_id, InvalidInputError, r"selection ids \[99\] are not in the catalogue",
                 id="task-select-unknown-id"),
    pytest.param(_edge_target, NoCoverageError, r"no D2 image contains \(10\.001000, -0\.900000\) with a 36 arcsec",
                 id="target-on-detector-edge"),
]


# -- archive answers ----------------------------------------------------------------------------------------------
def _raises(call):
    return lambda tmp, _: call


def _sia(**changes):
    row = {"obs_id": "2025W19_1A_0001_1", "energy_bandpassname": "SPHEREx-D2", "t_min": 60800.0,
           "access_url": "https://archive.invalid/ibe/data/spherex/qr2/level2/a/level2_x_D2.fits",
           "s_region": "POLYGON ICRS 1 1 2 1 2 2 1 2"}
    row.update(changes)
    table = Table(rows=[{k: v for k, v in row.items() if v is not None}])
    return lambda: normalize_image_table(table, source="https://archive.invalid/SIA")


def _irsa(**kwargs):
    settings = {"sia_url": "http://127.0.0.1:9/SIA", "tap_url": "http://127.0.0.1:9/TAP",
                "data_url": "http://127.0.0.1:9/ibe/data/spherex/"}
    settings.update(kwargs)
    return open_archive(config_section("archive", {"backend": "irsa", "collection": "spherex_qr2", **settings}))


ARCHIVE_CASES = [
    pytest.param(_raises(lambda: safe_file_name("..")), ArchiveError, r"refusing archive file name '\.\.'",
                 id="name-dotdot"),
    pytest.param(_raises(lambda: safe_file_name("")), ArchiveError, r"refusing archive file name ''", id="name-empty"),
    pytest.param(_raises(lambda: safe_file_name("qr2/.hidden.fits")), ArchiveError, r"'qr2/\.hidden\.fits'",
                 id="name-hidden"),
    pytest.param(_raises(lambda: safe_file_name("x/a b;rm.fits")), ArchiveError, r"'x/a b;rm\.fits'",
                 id="name-odd-characters"),
    pytest.param(_raises(lambda: safe_key("../../etc/passwd")), ArchiveError, r"refusing archive key '\.\./\.\./etc",
                 id="key-dotdot"),
    pytest.param(_raises(lambda: safe_key("/etc/passwd")), ArchiveError, r"refusing archive key '/etc/passwd'",
                 id="key-absolute"),
    pytest.param(_raises(lambda: safe_key("qr2//x.fits")), ArchiveError, r"'qr2//x\.fits'", id="key-empty-part"),
    pytest.param(_raises(lambda: safe_key("qr2/x.fits?cmd=1")), ArchiveError, r"'qr2/x\.fits\?cmd=1'",
                 id="key-query-string"),
    pytest.param(_raises(_sia(s_region=None, t_min=None)), ArchiveError,
                 r"https://archive\.invalid/SIA: image list lacks column\(s\) t_min", id="sia-missing-column"),
    pytest.param(_raises(_sia(energy_bandpassname="SPHEREx-D9")), ArchiveError,
                 r"SIA: not a SPHEREx band name: 'SPHEREx-D9'", id="sia-unknown-band"),
    pytest.param(_raises(_sia(cloud_access="{not json")), ArchiveError,
                 r"SIA: malformed cloud_access for 2025W19_1A_0001_1", id="sia-malformed-cloud-access"),
    pytest.param(_raises(_sia(cloud_access=json.dumps({"aws": {"key": "qr2/../../secret.fits"}}))), ArchiveError,
                 r"SIA: refusing archive key 'qr2/\.\./\.\./secret\.fits'", id="sia-key-escapes"),
    pytest.param(_raises(_sia(access_url="https://archive.invalid/ibe/data/spherex/../x.fits")), ArchiveError,
                 r"refusing archive key '\.\./x\.fits'", id="sia-url-escapes"),
    pytest.param(lambda tmp, _: (lambda: LocalArchive(tmp / "empty", "spherex_qr2").index), ArchiveError,
                 r"empty/index\.ecsv: archive index not found", id="local-no-index"),
    pytest.param(lambda tmp, _: (lambda: LocalArchive(tmp, "spherex_qr2")._path("../outside.fits")), ArchiveError,
                 r"refusing archive key '\.\./outside\.fits'", id="local-key-escapes"),
    pytest.param(lambda tmp, _: (lambda: LocalArchive(tmp, "spherex_qr2")._path("qr2/absent.fits")), ArchiveError,
                 r"no file for key 'qr2/absent\.fits'", id="local-key-missing"),
    pytest.param(_raises(lambda: exposure_query(400.0, 0.0)), InvalidInputError,
                 r"position \(400\.0, 0\.0\) is outside RA", id="adql-ra-400"),
    pytest.param(_raises(lambda: exposure_query(10.0, 0.0, [2, 7])), InvalidInputError,
                 r"detectors must be among \[1, 2, 3, 4, 5, 6\], got \[7\]", id="adql-detector-7"),
    pytest.param(_raises(lambda: _irsa(collection="spherex_qr2' OR 1=1 --")), InvalidInputError,
                 r"archive\.collection: \"spherex_qr2' OR 1=1 --\" is not a SPHEREx collection", id="irsa-collection"),
    pytest.param(_raises(lambda: _irsa(cutouts="ftp")), InvalidInputError, r"cutouts must be .*got 'ftp'",
                 id="irsa-cutouts-mode"),
    pytest.param(lambda tmp, _: (lambda: _irsa().fetch_calibration("../../etc/passwd", tmp / "x.fits")), ArchiveError,
                 r"calibration: refusing archive key '\.\./\.\./etc/passwd'", id="irsa-calibration-key-escapes"),
    pytest.param(_raises(lambda: open_archive({"backend": "ftp"})), InvalidInputError,
                 r"archive\.backend must be 'local' or 'irsa', got 'ftp'", id="backend-unknown"),
]

CASES = CONFIG_CASES + TARGET_CASES + FILE_CASES + ARCHIVE_CASES


def _files(folder):
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("setup", "error", "culprit"), CASES)
def test_bad_input_raises_a_clear_error_and_leaves_nothing(setup, error, culprit, tmp_path, small_archive):
    assert_clear_error_and_nothing_left(setup, error, culprit, tmp_path, small_archive)


def assert_clear_error_and_nothing_left(setup, error, culprit, tmp_path, small_archive):
    """The call ``setup`` prepares raises ``error`` matching ``culprit`` and leaves no new file under tmp_path."""
    call = setup(tmp_path, small_archive)
    before = _files(tmp_path)
    with pytest.raises(error, match=culprit):
        call()
    left = _files(tmp_path) - before
    assert not left, f"left behind: {sorted(map(str, left))}"
