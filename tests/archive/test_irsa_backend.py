"""The irsa backend through the real clients (astroquery SIA, pyvo TAP, HTTP, s3fs) against loopback IRSA."""

import numpy as np
import pytest
from astropy.io import fits

from spherex_sdt.archive import LocalArchive, cached_fetch, open_archive
from spherex_sdt.archive.irsa import exposure_query
from spherex_sdt.testing.loopback import Faults, LoopbackIrsa
from spherex_sdt.errors import ArchiveError, InvalidInputError

from ..conftest import TARGET, config_section


@pytest.fixture(scope="module", name="service")
def fixture_service(small_archive):
    root, _, _ = small_archive
    with LoopbackIrsa(root, s3=True) as service:
        yield service


def test_sia_search_matches_local_backend(service, small_archive):
    root, _, _ = small_archive
    irsa = open_archive(config_section("archive", service.archive_settings()))
    local = LocalArchive(root, "spherex_qr2")
    ra, dec = TARGET["ra_deg"], TARGET["dec_deg"]
    remote = irsa.search_images(ra, dec, 50 / 3600)
    here = local.search_images(ra, dec, 50 / 3600)
    assert len(remote) == len(here) > 0
    assert list(remote["file_name"]) == list(here["file_name"]) and list(remote["key"]) == list(here["key"])
    assert all(url.startswith(service.base_url) for url in remote["access_url"])
    assert any("GET /SIA/capabilities" in r for r in service.requests)


def test_tap_search_with_band_filter(service, small_archive):
    root, _, truth = small_archive
    irsa = open_archive(config_section("archive", service.archive_settings()))
    ra, dec = float(truth["ra"][0]), float(truth["dec"][0])
    every = irsa.search_exposures(ra, dec)
    assert list(every["key"]) == list(LocalArchive(root, "spherex_qr2").search_exposures(ra, dec)["key"])
    d2 = irsa.search_exposures(ra, dec, detectors=[2, 5])
    assert len(d2) > 0 and set(d2["detector"]) <= {2, 5}
    assert np.all(np.diff(every["mjd"]) >= 0)


@pytest.mark.parametrize("transport", ["http", "s3"])
def test_full_file_download(service, small_archive, tmp_path, transport):
    root, index, _ = small_archive
    irsa = open_archive(config_section("archive", service.archive_settings(transport=transport)))
    row = irsa.search_images(TARGET["ra_deg"], TARGET["dec_deg"], 50 / 3600)[0]
    before = service.body_bytes
    dest = cached_fetch(tmp_path / row["file_name"], lambda tmp: irsa.fetch_image(row, tmp),
                        require=("IMAGE", "FLAGS"))
    assert dest.read_bytes() == (root / row["key"]).read_bytes()
    # the loopback counts the bodies it sends (benchmarks read it): over HTTP the file once (S3 clients may also
    # list the bucket, or ask again)
    sent = service.body_bytes - before
    size = (root / row["key"]).stat().st_size
    assert sent == size if transport == "http" else sent >= size


@pytest.mark.parametrize("section_mode", ["s3-section", "http-section"])
def test_cutout_service_and_section_reads_agree(service, small_archive, tmp_path, section_mode):
    root, _, _ = small_archive
    ra, dec = TARGET["ra_deg"], TARGET["dec_deg"]
    row = open_archive(config_section("archive", service.archive_settings())).search_exposures(ra, dec)[0]
    paths, fetched = {}, {}
    for mode in ("service", section_mode):
        paths[mode] = tmp_path / f"{mode}.fits"
        # one request per row: only the cutout's bytes travel (merging nearby rows fetches more); headers of this
        # small simulated file are read in 16 kB blocks
        settings = dict(service.archive_settings(cutouts=mode), range_merge_gap_bytes=0, s3_block_size=16384)
        fetched[mode] = open_archive(config_section("archive", settings)).fetch_cutout(row, ra, dec, 0.05, paths[mode])
    with fits.open(paths["service"]) as full, fits.open(paths[section_mode]) as section, \
            fits.open(root / row["key"]) as parent:
        assert full["IMAGE"].shape == (29, 29) and "WCS-WAVE" in full and "WCS-WAVE" in section
        for name in ("IMAGE", "FLAGS", "VARIANCE", "ZODI", "PSF"):
            np.testing.assert_array_equal(full[name].data, section[name].data)
            for key in ("CRPIX1", "CRPIX2", "CRPIX1A", "CRPIX2A", "CRPIX1W", "CRPIX2W", "PSFZONE"):
                assert full[name].header.get(key) == section[name].header.get(key)
        assert full["IMAGE"].header["CRPIX1W"] == full["IMAGE"].header["CRPIX1A"]
        # the service sends the whole PSF cube; both keep the nearest zone's plane only
        zone = section["PSF"].header["PSFZONE"]
        assert section["PSF"].shape == (1,) + parent["PSF"].shape[1:]
        np.testing.assert_array_equal(section["PSF"].data[0], parent["PSF"].data[zone - 1])
        assert section["PSF"].header["XCTR_1"] == parent["PSF"].header[f"XCTR_{zone}"]
    assert fetched[section_mode] < 0.6 * fetched["service"]


@pytest.mark.parametrize("mode", ["service", "http-section", "s3-section"])
def test_one_request_for_every_source_of_a_file(service, small_archive, mode):
    """Several sources on one file: one cutout-service answer, or one round trip of ranges, and pixels as a local
    cut of each."""
    from fsspec.implementations.local import LocalFileSystem

    from spherex_sdt.archive.sections import batched_cutouts

    from .test_sections import _positions, assert_equals_local_cut

    root, _, _ = small_archive
    local = LocalArchive(root, "spherex_qr2")
    row = local.index[0]
    positions = _positions(root / row["key"], 4, spread=(0.2, 0.8))
    irsa = open_archive(config_section("archive", service.archive_settings(cutouts=mode)))
    before = len(service.requests)
    cutouts, transfer = irsa.fetch_cutouts(row, positions, 0.05)
    assert not any(isinstance(c, Exception) for c in cutouts)
    if mode == "service":
        assert transfer.requests == 1 and len(service.requests) - before == 1
    else:
        assert transfer.round_trips <= 1 + len(fits.open(root / row["key"])) + 1  # size, headers, pixels
        again, transfer = irsa.fetch_cutouts(row, positions, 0.05)  # headers known
        assert transfer.round_trips == 1
    for (ra, dec), cutout in zip(positions, cutouts):
        assert_equals_local_cut(cutout, root / row["key"], ra, dec, 0.05)
    reference, _ = batched_cutouts(LocalFileSystem(), str(root / row["key"]), positions, 0.05)
    assert [len(c) for c in cutouts] == [len(c) for c in reference]


def test_missing_file_is_a_permanent_error(service, tmp_path):
    irsa = open_archive(config_section("archive", service.archive_settings()))
    row = {"key": "qr2/level2/nope/missing.fits"}
    with pytest.raises(ArchiveError, match=r"missing.fits: HTTPError: HTTP Error 404"):
        irsa.fetch_image(row, tmp_path / "x.fits")


def test_transient_errors_are_retried(small_archive, tmp_path):
    root, _, _ = small_archive
    with LoopbackIrsa(root, faults=Faults(error_rate=0.5, truncate_rate=0.2, seed=3)) as service:
        settings = service.archive_settings()
        irsa = open_archive(config_section("archive", settings, timeout_s=10, retries=8, backoff_s=0.01))
        row = LocalArchive(root, "spherex_qr2").index[0]
        for k in range(4):
            dest = cached_fetch(tmp_path / f"{k}.fits", lambda tmp: irsa.fetch_image(row, tmp), require=("IMAGE",))
            assert dest.read_bytes() == (root / row["key"]).read_bytes()
        # half the answers were errors or truncated bodies: more requests than downloads, all recovered
        assert len([r for r in service.requests if row["key"] in r]) > 4


def test_section_reads_survive_faults(small_archive, tmp_path):
    """30 % of requests fail, stall or are cut short; each byte range is retried alone and the cutout is exact."""
    root, _, truth = small_archive
    ra, dec = float(truth["ra"][0]), float(truth["dec"][0])
    faults = Faults(error_rate=0.15, stall_rate=0.05, stall_s=1.5, truncate_rate=0.1, seed=9)
    local = LocalArchive(root, "spherex_qr2")
    with LoopbackIrsa(root, faults=faults) as service:
        settings = service.archive_settings(cutouts="http-section")
        irsa = open_archive(config_section("archive", settings, timeout_s=1.0, retries=10, backoff_s=0.01))
        for k, row in enumerate(local.search_exposures(ra, dec)[:2]):
            irsa.fetch_cutout(row, ra, dec, 0.05, tmp_path / f"remote{k}.fits")
            local.fetch_cutout(row, ra, dec, 0.05, tmp_path / f"local{k}.fits")
            with fits.open(tmp_path / f"remote{k}.fits") as a, fits.open(tmp_path / f"local{k}.fits") as b:
                for name in ("IMAGE", "FLAGS", "VARIANCE", "ZODI"):
                    np.testing.assert_array_equal(a[name].data, b[name].data)
                np.testing.assert_array_equal(a["PSF"].data[0], b["PSF"].data[a["PSF"].header["PSFZONE"] - 1])
        faulted = [r for r in service.requests if r.endswith((" 500", " 502"))]
    assert faulted  # the faults really happened


def test_searches_survive_faults(small_archive):
    root, _, truth = small_archive
    faults = Faults(error_rate=0.3, stall_rate=0.1, stall_s=1.5, truncate_rate=0.1, seed=5)
    with LoopbackIrsa(root, faults=faults) as service:
        settings = service.archive_settings()
        irsa = open_archive(config_section("archive", settings, timeout_s=1.0, retries=10, backoff_s=0.01))
        local = LocalArchive(root, "spherex_qr2")
        for k in range(3):
            ra, dec = float(truth["ra"][k]), float(truth["dec"][k])
            assert list(irsa.search_exposures(ra, dec)["key"]) == list(local.search_exposures(ra, dec)["key"])
            assert list(irsa.search_images(ra, dec, 0.01)["key"]) == list(local.search_images(ra, dec, 0.01)["key"])
        assert any("/TAP/sync" in r for r in service.requests)


def test_tap_error_document_is_reported(service):
    import pyvo

    with pytest.raises(pyvo.dal.DALQueryError, match="loopback TAP answers only"):
        pyvo.dal.TAPService(f"{service.base_url}/TAP").run_sync("SELECT * FROM spherex.plane")


def test_adql_is_built_from_validated_numbers():
    q = exposure_query(10.5, -20.25, [2, 4])
    assert "POINT('ICRS', 10.5000000000, -20.2500000000)" in q and "IN ('SPHEREx-D2', 'SPHEREx-D4')" in q
    with pytest.raises(InvalidInputError, match="outside"):
        exposure_query(400.0, 0.0)


def test_dal_format_error_around_a_timeout_is_retried():
    """pyvo wraps a read timeout of a VOTable answer in DALFormatError: that is worth a retry, a refused query is
    not; a DALFormatError around anything that is not positively permanent is retried too."""
    import pyvo
    import requests

    from spherex_sdt.archive.retry import judge

    timeout = requests.exceptions.ReadTimeout("Read timed out. (read timeout=2.0)")
    assert not judge(pyvo.dal.DALFormatError(timeout, "http://127.0.0.1:9/SIA")).permanent
    assert not judge(pyvo.dal.DALFormatError(ValueError("not a VOTable"), "http://127.0.0.1:9/SIA")).permanent
    assert judge(pyvo.dal.DALQueryError("refused")).permanent



def test_service_asks_one_by_one_when_the_union_box_is_refused(service, small_archive):
    """A box about sources far apart is centred off the image: the service refuses it, so each source is asked for
    alone, and the one off the image gets its no-coverage error."""
    from spherex_sdt.errors import NoCoverageError

    from .test_sections import _positions, assert_equals_local_cut

    root, _, _ = small_archive
    row = LocalArchive(root, "spherex_qr2").index[0]
    (on,) = _positions(root / row["key"], 1)
    off = (on[0] + 5.0, on[1])
    irsa = open_archive(config_section("archive", service.archive_settings(cutouts="service")))
    before = len(service.requests)
    (good, bad), transfer = irsa.fetch_cutouts(row, [on, off], 0.05)
    assert isinstance(bad, NoCoverageError) and "refused" in str(bad)
    assert_equals_local_cut(good, root / row["key"], *on, 0.05)
    answers = service.requests[before:]
    assert len(answers) == 3 and sum(" 400" in r for r in answers) == 2  # the union, then each alone
