"""Fault injection on every endpoint: every kind of fault, over HTTP and S3, gives the products of a clean run.

One workload touches every endpoint the backend uses: SIA (capabilities and query), TAP, a full frame (HTTP or S3),
a calibration file, a cutout from the service, and a section-read cutout (sizes and byte ranges, HTTP or S3). It
runs once against a clean loopback archive (the reference), then under each fault kind: first with the first
request to every endpoint faulted (so each endpoint meets each kind), then at 30 % and 50 % of all requests with
three seeds. Results must equal the reference (FITSDiff, byte and table equality), and the backend's request
counts must show the retries. Both loopback services (HTTP, and S3 behind a faulting proxy) are started once.
"""

import pytest
from astropy.io import fits

from spherex_sdt.archive import LocalArchive, cached_fetch, open_archive
from spherex_sdt.simulate.archive import sapm_key
from spherex_sdt.testing.loopback import FAULT_KINDS, Faults, LoopbackIrsa

from ..conftest import SMALL, TARGET, config_section

LEVEL2 = ("IMAGE", "FLAGS", "VARIANCE", "WCS-WAVE")
TIMEOUT_S, STALL_S = 0.5, 0.8  # a stall outlasts the timeout; a loaded machine still answers well within it
WORKLOAD_ENDPOINTS = {"http": {"sia", "tap", "file", "cutout", "size", "range"},
                      "s3": {"sia", "tap", "s3-file", "s3-size", "s3-range"}}


@pytest.fixture(scope="module", name="service")
def fixture_service(small_archive):
    root, _, _ = small_archive
    with LoopbackIrsa(root, s3=True) as service:
        yield service


def _backend(service, transport, cutouts):
    settings = service.archive_settings(transport=transport, cutouts=cutouts)
    return open_archive(config_section("archive", settings, timeout_s=TIMEOUT_S, retries=25, backoff_s=0.002,
                                       backoff_max_s=0.05))


def _workload(service, transport, folder, truth):
    """Results of every kind of request over ``transport``, written under ``folder``; and the request counts."""
    ra, dec = TARGET["ra_deg"], TARGET["dec_deg"]
    src_ra, src_dec = float(truth["ra"][0]), float(truth["dec"][0])
    backend = _backend(service, transport, "http-section" if transport == "http" else "s3-section")
    out = {"images": list(backend.search_images(ra, dec, 50 / 3600)["key"])}
    exposures = backend.search_exposures(src_ra, src_dec)
    out["exposures"] = list(exposures["key"])
    row = exposures[0]
    out["frame"] = cached_fetch(folder / "frame.fits", lambda tmp: backend.fetch_image(row, tmp), require=LEVEL2)
    out["section"] = cached_fetch(folder / "section.fits",
                                  lambda tmp: backend.fetch_cutout(exposures[1], src_ra, src_dec, 0.02, tmp),
                                  require=LEVEL2)
    counts = [backend.request_counts()]
    if transport == "http":
        out["calibration"] = cached_fetch(folder / "sapm.fits",
                                          lambda tmp: backend.fetch_calibration(sapm_key(SMALL, 2), tmp))
        service_backend = _backend(service, "http", "service")
        out["service"] = cached_fetch(folder / "service.fits",
                                      lambda tmp: service_backend.fetch_cutout(exposures[2], src_ra, src_dec, 0.02,
                                                                               tmp), require=LEVEL2)
        counts.append(service_backend.request_counts())
    merged = {}
    for part in counts:
        for endpoint, c in part.items():
            total = merged.setdefault(endpoint, {"requests": 0, "retries": 0, "failed": 0})
            for key in total:
                total[key] += c[key]
    return out, merged


@pytest.fixture(scope="module", name="reference")
def fixture_reference(service, small_archive, tmp_path_factory):
    """The clean results, once per transport; checked against the local backend."""
    root, _, truth = small_archive
    results = {}
    for transport in ("http", "s3"):
        service.set_faults(Faults())
        out, counts = _workload(service, transport, tmp_path_factory.mktemp(f"clean-{transport}"), truth)
        assert all(c["retries"] == 0 and c["failed"] == 0 for c in counts.values())
        assert set(counts) == WORKLOAD_ENDPOINTS[transport] | ({"file"} if transport == "http" else set())
        results[transport] = out
    local = LocalArchive(root, "spherex_qr2")
    assert results["http"]["exposures"] == list(local.search_exposures(float(truth["ra"][0]),
                                                                       float(truth["dec"][0]))["key"])
    assert results["http"]["frame"].read_bytes() == (root / results["http"]["exposures"][0]).read_bytes()
    return results


def _assert_same(out, reference):
    assert out.keys() == reference.keys()
    for name, value in reference.items():
        if isinstance(value, list):
            assert out[name] == value, name
        elif name in ("frame", "calibration"):
            assert out[name].read_bytes() == value.read_bytes(), name
        else:
            # the checksum cards carry the time they were written
            diff = fits.FITSDiff(str(out[name]), str(value), ignore_keywords=["CHECKSUM"],
                                 ignore_comments=["DATASUM"])
            assert diff.identical, diff.report()


def _run(service, reference, small_archive, tmp_path, transport, faults):
    service.set_faults(faults)
    try:
        out, counts = _workload(service, transport, tmp_path, small_archive[2])
    finally:
        injected = dict(service.injected)
        service.set_faults(Faults())
    _assert_same(out, reference[transport])
    return injected, counts


@pytest.mark.parametrize("transport", ["http", "s3"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_first_request_to_every_endpoint_faulted(service, reference, small_archive, tmp_path, transport, kind):
    """The first request to each endpoint gets the fault: every endpoint meets every kind and recovers."""
    faults = Faults.only(kind, 1.0, stall_s=STALL_S, limit=1)
    injected, counts = _run(service, reference, small_archive, tmp_path, transport, faults)
    expected = WORKLOAD_ENDPOINTS[transport]
    assert {endpoint for endpoint, _ in injected} >= expected
    # each fault cost the endpoint an attempt; two kinds are absorbed below the policy: fsspec answers a failed HEAD
    # with a GET of the file, and aiohttp (fsspec's and s3fs's client) re-sends a request once when a kept-alive
    # connection closes before an answer's header is complete
    absorbed = {"size"} | ({"range", "size", "s3-file", "s3-size", "s3-range"} if kind in ("reset", "truncate")
                           else set())
    for endpoint in expected - absorbed:
        assert counts[endpoint]["retries"] >= 1, (endpoint, counts)
        assert counts[endpoint]["failed"] == 0


@pytest.mark.slow  # 72 runs, about 2 minutes (mostly the stalls' waits)
@pytest.mark.parametrize("transport", ["http", "s3"])
@pytest.mark.parametrize("rate", [0.3, 0.5])
@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_faults_at_random(service, reference, small_archive, tmp_path, transport, rate, kind, seed):
    faults = Faults.only(kind, rate, seed=seed, stall_s=STALL_S)
    injected, counts = _run(service, reference, small_archive, tmp_path, transport, faults)
    n_injected = sum(injected.values())
    assert n_injected > 0
    assert sum(c["retries"] for c in counts.values()) >= 1
