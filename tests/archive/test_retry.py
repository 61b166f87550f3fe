"""The one retry policy: permanent only when positively known, whatever library wraps the failure."""

import errno
import http.client
import urllib.error

import pytest

from spherex_sdt.archive.retry import BadAnswer, RetryPolicy, check_fits_answer, judge
from spherex_sdt.archive.sections import TruncatedRead
from spherex_sdt.errors import ArchiveError, DataFormatError, NoCoverageError


def _wrapped(outer, inner):
    """``outer`` raised while handling ``inner`` with ``raise outer from inner``."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


def _http_error(code):
    return urllib.error.HTTPError("http://127.0.0.1:9/x.fits", code, "msg", {}, None)


def _aiohttp_status(code):
    import aiohttp

    info = aiohttp.RequestInfo(url=__import__("yarl").URL("http://127.0.0.1:9/x.fits"), method="HEAD", headers={},
                               real_url=__import__("yarl").URL("http://127.0.0.1:9/x.fits"))
    return aiohttp.ClientResponseError(info, (), status=code, message="injected")


def _boto_error(code, name):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": name, "Message": "injected"},
                        "ResponseMetadata": {"HTTPStatusCode": code}}, "GetObject")


def test_truncated_tap_body_inside_pyvo_is_transient():
    """The last round's lesson: urllib3's ProtocolError(IncompleteRead) inside pyvo's DALFormatError."""
    import pyvo
    import requests
    import urllib3

    incomplete = urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(4096 bytes read, 900 more "
                                                  "expected)", http.client.IncompleteRead(b"", 900))
    chunked = _wrapped(requests.exceptions.ChunkedEncodingError(incomplete), incomplete)
    wrapped = _wrapped(pyvo.dal.DALFormatError(chunked, "http://127.0.0.1:9/TAP/sync"), chunked)
    verdict = judge(wrapped)
    assert not verdict.permanent
    assert isinstance(verdict.root, (http.client.IncompleteRead, urllib3.exceptions.ProtocolError))


def test_size_request_5xx_inside_fsspec_file_not_found_is_transient():
    """fsspec reports any failure of its size request (HEAD, then GET) as FileNotFoundError: the status decides."""
    assert not judge(_wrapped(FileNotFoundError("http://127.0.0.1:9/x.fits"), _aiohttp_status(503))).permanent
    assert judge(_wrapped(FileNotFoundError("http://127.0.0.1:9/x.fits"), _aiohttp_status(404))).permanent
    assert not judge(_wrapped(FileNotFoundError("http://127.0.0.1:9/x.fits"), ConnectionResetError())).permanent
    assert judge(FileNotFoundError("http://127.0.0.1:9/x.fits")).permanent  # fsspec's bare 404


@pytest.mark.parametrize(("code", "permanent"), [(400, True), (403, True), (404, True), (408, False),
                                                 (429, False), (500, False), (502, False), (503, False)])
def test_http_status_decides_in_every_client(code, permanent):
    import pyvo
    import requests

    response = requests.Response()
    response.status_code = code
    cases = [
        _http_error(code),
        _aiohttp_status(code),
        requests.exceptions.HTTPError(response=response),
        _wrapped(pyvo.dal.DALServiceError("x", code, None, "http://127.0.0.1:9/SIA"), RuntimeError("inner")),
        _wrapped(OSError(errno.EIO, "translated"), _boto_error(code, "Whatever")),  # s3fs's translation
    ]
    for exc in cases:
        assert judge(exc).permanent is permanent, repr(exc)


def test_positively_permanent_failures():
    import pyvo

    assert judge(pyvo.dal.DALQueryError("the query is refused")).permanent  # a complete error document
    assert judge(DataFormatError("x.fits: missing HDU(s) IMAGE")).permanent  # a complete, invalid answer
    assert judge(NoCoverageError("outside")).permanent
    assert judge(PermissionError(errno.EACCES, "Permission denied", "/cache/x.fits")).permanent
    assert judge(OSError(errno.ENOSPC, "No space left on device")).permanent


def test_everything_else_is_transient():
    import pyvo

    for exc in (TimeoutError("timed out"), ConnectionResetError(104, "reset"), http.client.RemoteDisconnected("x"),
                http.client.IncompleteRead(b"", 10), TruncatedRead("bytes 0-9 came back as 3 bytes"),
                BadAnswer("an HTML page"), RuntimeError("an error no one listed"),
                pyvo.dal.DALFormatError(ValueError("not well-formed (invalid token)"), "http://127.0.0.1:9/SIA"),
                pyvo.dal.DALServiceError("ConnectionError", 0, ConnectionError("refused"), "http://127.0.0.1:9/"),
                urllib.error.URLError(ConnectionRefusedError(111, "refused"))):
        assert not judge(exc).permanent, repr(exc)


def test_policy_retries_counts_and_names_the_failure():
    policy = RetryPolicy(retries=3, backoff_s=0.0, backoff_max_s=0.0)
    answers = iter([ConnectionResetError(104, "reset"), TimeoutError("slow"), "done"])

    def request():
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert policy.call("tap", "TAP http://127.0.0.1:9/TAP", request) == "done"
    assert policy.counts() == {"tap": {"requests": 3, "retries": 2, "failed": 0}}

    def truncated():
        raise _wrapped(OSError("wrapper"), http.client.IncompleteRead(b"abc", 997))

    with pytest.raises(ArchiveError) as info:
        policy.call("file", "http://127.0.0.1:9/a.fits", truncated)
    message = str(info.value)
    assert "http://127.0.0.1:9/a.fits" in message and "after 4 attempts" in message
    assert "root cause IncompleteRead" in message
    assert policy.counts()["file"] == {"requests": 4, "retries": 3, "failed": 1}

    with pytest.raises(ArchiveError, match=r"b.fits: HTTPError: HTTP Error 404.*permanent: HTTP 404; not retried"):
        policy.call("file", "http://127.0.0.1:9/b.fits", lambda: (_ for _ in ()).throw(_http_error(404)))
    assert policy.counts()["file"]["requests"] == 5  # one attempt only
    with pytest.raises(NoCoverageError):  # the package's own judgements pass through unchanged
        policy.call("cutout", "x", lambda: (_ for _ in ()).throw(NoCoverageError("outside")))


def test_fits_answer_check(tmp_path):
    page = tmp_path / "page.fits"
    page.write_bytes(b"<!DOCTYPE html><html><body>maintenance</body></html>")
    with pytest.raises(BadAnswer, match="not FITS"):
        check_fits_answer(page, source="http://127.0.0.1:9/a.fits")
    short = tmp_path / "short.fits"
    short.write_bytes(b"SIMPLE  =                    T" + b" " * 100)
    with pytest.raises(BadAnswer, match="2880-byte FITS blocks"):
        check_fits_answer(short, source="x")
    good = tmp_path / "good.fits"
    good.write_bytes((b"SIMPLE  =                    T" + b" " * 50).ljust(2880, b" "))
    check_fits_answer(good, source="x")
