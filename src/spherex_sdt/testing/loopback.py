"""A stand-in for IRSA on loopback: SIA2, TAP sync, full files with Range, cutouts, and S3 (moto).

It serves any archive directory that has an ``index.ecsv`` (a simulated archive, or a local mirror), speaking the
protocols the real clients use, so that the ``irsa`` backend is exercised through astroquery, pyvo, HTTP and s3fs
without leaving the machine. Faults can be injected on every endpoint (`ENDPOINTS`; S3 through a faulting proxy in
front of moto): HTTP 5xx, 408/429, stalls, connection resets, bodies cut at a random offset, and an HTML page with
status 200 where FITS or a VOTable was asked for (`FAULT_KINDS`).

Start it with ``spherex-sdt serve --archive DIR`` or, in tests, `LoopbackIrsa`.
"""

import io
import json
import logging
import random
import re
import socket
import struct
import threading
from collections import Counter
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.table import Table

from ..archive.cutouts import make_cutout
from ..archive.footprint import region_contains, region_overlaps_circle
from ..errors import SpherexSdtError

__all__ = ["Faults", "LoopbackIrsa", "ENDPOINTS", "FAULT_KINDS"]

DATA_PREFIX = "/ibe/data/spherex/"

ENDPOINTS = ("sia", "tap", "file", "range", "size", "cutout", "s3-file", "s3-range", "s3-size")
"""Endpoints faults are injected on: SIA (capabilities and queries), TAP, full files, byte ranges and HEAD over
HTTP, the cutout service, and full objects, byte ranges and HEAD over S3 (the names the backend counts by)."""

FAULT_KINDS = ("error", "throttle", "stall", "reset", "truncate", "html")
"""HTTP 500/502/503; HTTP 408/429; an answer delayed by ``stall_s``; a connection reset (RST) instead of an
answer; an answer cut at a random offset of its body (of its header, for HEAD) after announcing its full length; an
HTML page with status 200."""

_HTML = (b"<!DOCTYPE html>\n<html><head><title>Service temporarily unavailable</title></head>\n"
         b"<body><h1>Maintenance</h1><p>The archive is being updated; please try again later.</p></body></html>\n")


@dataclass
class Faults:
    """Fault injection (probabilities per request; their sum at most 1)."""

    error_rate: float = 0.0
    """Answer HTTP 500, 502 or 503."""
    stall_rate: float = 0.0
    """Sleep ``stall_s`` before answering (past a client's timeout)."""
    stall_s: float = 5.0
    truncate_rate: float = 0.0
    """Announce the full Content-Length, send the body up to a random offset, close."""
    seed: int = 0
    throttle_rate: float = 0.0
    """Answer HTTP 408 or 429."""
    reset_rate: float = 0.0
    """Reset the connection instead of answering."""
    html_rate: float = 0.0
    """Answer an HTML page with status 200."""
    endpoints: tuple = ENDPOINTS
    """Endpoints to fault (see `ENDPOINTS`)."""
    limit: int | None = None
    """At most this many faults per endpoint (None: no limit); with rate 1, exactly the first ``limit`` requests
    to each endpoint are faulted."""

    @classmethod
    def only(cls, kind, rate, *, seed=0, stall_s=5.0, endpoints=ENDPOINTS, limit=None):
        """Faults of one kind (see `FAULT_KINDS`) at ``rate``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {kind!r}")
        return cls(stall_s=stall_s, seed=seed, endpoints=tuple(endpoints), limit=limit,
                   **{f"{kind}_rate": float(rate)})

    def rates(self):
        return [(kind, getattr(self, f"{kind}_rate")) for kind in FAULT_KINDS]


def _votable_bytes(table):
    buf = io.BytesIO()
    from_table(table).to_xml(buf)
    return buf.getvalue()


def _error_votable(message):
    text = (message or "error").replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        f'<RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">{text}</INFO></RESOURCE>\n'
        "</VOTABLE>\n"
    ).encode()


_ADQL = re.compile(
    r"CONTAINS\(\s*POINT\(\s*'ICRS'\s*,\s*(?P<ra>[-+0-9.eE]+)\s*,\s*(?P<dec>[-+0-9.eE]+)\s*\)\s*,\s*pl\.poly\s*\)\s*=\s*1",
    re.IGNORECASE,
)
_BANDS = re.compile(r"energy_bandpassname\s+IN\s*\(([^)]*)\)|energy_bandpassname\s*=\s*'([^']*)'", re.IGNORECASE)


class LoopbackIrsa:
    """HTTP (SIA2, TAP, files, cutouts) and optionally S3 services over one archive directory.

    Parameters
    ----------
    root : path-like
        Archive directory with ``index.ecsv`` and the files it lists.
    host : str
        Interface to bind; loopback by default.
    port : int
        0 picks a free port.
    s3 : bool
        Also start a moto S3 server holding every file under bucket ``bucket``, readable anonymously; clients reach
        it through a proxy that injects the S3 endpoints' faults.
    faults : Faults
        ``injected`` counts the faults sent, by ``(endpoint, kind)``.
    latency_s, bandwidth_mbps : float
        Model a wide-area network on the HTTP answers: a delay per response and a transfer rate (0 = none).
    """

    def __init__(self, root, *, host="127.0.0.1", port=0, s3=False, bucket="nasa-irsa-spherex", faults=None,
                 latency_s=0.0, bandwidth_mbps=0.0):
        self.root = Path(root)
        self.index = Table.read(self.root / "index.ecsv", format="ascii.ecsv")
        self.host, self.port, self.bucket = host, port, bucket
        self.want_s3 = s3
        self.faults = faults or Faults()
        self.latency_s, self.bandwidth_mbps = float(latency_s), float(bandwidth_mbps)
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.requests = []
        self.body_bytes = 0
        """Bytes of every answer's body written so far (HTTP and the S3 proxy), for benchmarks."""
        self.injected = Counter()
        self._http = self._thread = self._moto = self._proxy = None
        self.s3_endpoint_url = ""

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self):
        handler = type("Handler", (_Handler,), {"service": self})
        self._http = _Server((self.host, self.port), handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        if self.want_s3:
            self._start_s3()
        return self

    def stop(self):
        for server in (self._http, self._proxy):
            if server:
                server.shutdown()
                server.server_close()
        if self._moto:
            self._moto.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    def archive_settings(self, collection="spherex_qr2", transport="http", cutouts="auto"):
        """The workflow's ``archive`` settings pointing at this service."""
        return {
            "backend": "irsa", "collection": collection, "sia_url": f"{self.base_url}/SIA",
            "tap_url": f"{self.base_url}/TAP", "data_url": f"{self.base_url}{DATA_PREFIX}",
            "s3_endpoint_url": self.s3_endpoint_url, "bucket": self.bucket, "transport": transport,
            "cutouts": cutouts if self.s3_endpoint_url or cutouts != "auto" else "service", "timeout_s": 10,
            "retries": 3,
        }

    def _start_s3(self):
        import os

        try:
            import boto3
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise SpherexSdtError(f"serving S3 needs moto and boto3 ({exc}): install the testing extra, "
                                  "pip install 'spherex-sdt[testing]'") from None

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "loopback")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "loopback")
        self._moto = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                              aws_access_key_id="loopback", aws_secret_access_key="loopback")
        client.create_bucket(Bucket=self.bucket, ACL="public-read")
        for path in sorted(self.root.rglob("*.fits")):
            key = path.relative_to(self.root).as_posix()
            client.upload_file(str(path), self.bucket, key, ExtraArgs={"ACL": "public-read"})
        proxy = type("S3Proxy", (_S3ProxyHandler,), {"service": self, "upstream": (host, port)})
        self._proxy = _Server((self.host, 0), proxy)
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()
        self.s3_endpoint_url = f"http://{self.host}:{self._proxy.server_address[1]}"

    # -- answers --------------------------------------------------------------------------------------------
    def sia_rows(self, ra, dec, radius, collection):
        keep = np.array([region_overlaps_circle(r, ra, dec, radius) for r in self.index["s_region"]], bool)
        if collection:
            keep &= np.asarray(self.index["obs_collection"]) == collection
        rows = self.index[keep]
        rows["access_url"] = [f"{self.base_url}{DATA_PREFIX}{k}" for k in rows["access_url"]]
        return rows

    def tap_rows(self, query):
        match = _ADQL.search(query)
        if not match or "spherex.plane" not in query or "spherex.artifact" not in query:
            raise ValueError("this loopback TAP answers only CONTAINS(POINT('ICRS', ra, dec), pl.poly) = 1 "
                             "queries over spherex.plane JOIN spherex.artifact")
        ra, dec = float(match["ra"]), float(match["dec"])
        keep = np.array([region_contains(r, ra, dec) for r in self.index["s_region"]], bool)
        bands = _BANDS.search(query)
        if bands:
            names = re.findall(r"'([^']*)'", bands.group(1)) if bands.group(1) else [bands.group(2)]
            keep &= np.isin(np.asarray(self.index["energy_bandpassname"]), names)
        rows = self.index[keep]
        out = Table({
            "uri": [f"ibe/data/spherex/{k}" for k in rows["access_url"]],
            "time_bounds_lower": np.asarray(rows["t_min"], float),
            "energy_bandpassname": [str(b) for b in rows["energy_bandpassname"]],
            "obs_publisher_did": [str(d) for d in rows["obs_publisher_did"]],
        })
        out.sort("time_bounds_lower")
        return out

    def choice(self, options):
        """A seeded random choice, shared by the request threads."""
        with self._lock:
            return self._rng.choice(options)

    def set_faults(self, faults):
        """Fault from now on as ``faults`` says (its seed restarts the draws; the counts of injected faults are
        cleared), without restarting the services."""
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self.injected = Counter()

    def count_body(self, n):
        """Add ``n`` bytes of an answer's body to ``body_bytes``."""
        with self._lock:
            self.body_bytes += int(n)

    def uniform(self):
        """A seeded random number in [0, 1), shared by the request threads."""
        with self._lock:
            return self._rng.random()

    def fault(self, endpoint):
        """Which fault kind (`FAULT_KINDS`), if any, to inject in this request to ``endpoint``; counted."""
        if endpoint not in self.faults.endpoints:
            return None
        draw, edge = self.uniform(), 0.0
        for kind, rate in self.faults.rates():
            edge += rate
            if draw < edge:
                with self._lock:
                    done = sum(n for (e, _), n in self.injected.items() if e == endpoint)
                    if self.faults.limit is not None and done >= self.faults.limit:
                        return None
                    self.injected[(endpoint, kind)] += 1
                return kind
        return None


class _Server(ThreadingHTTPServer):
    # section reads open dozens of connections at once; the default backlog of 5 drops SYNs (1 s retries)
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # clients drop connections: quiet
            super().handle_error(request, client_address)


class _FaultyHandler(BaseHTTPRequestHandler):
    """Answers that may be faulted: `_begin` decides, `_send` and `_send_head` apply the fault."""

    service = None
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # headers and body go out in separate writes: without this, Nagle and delayed ACKs add ~40 ms per request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code="-", size="-"):  # recorded for tests and benchmarks instead of printed
        self.service.requests.append(f"{self.requestline} {int(code) if str(code).isdigit() else code}")

    def log_message(self, fmt, *args):  # keep output quiet
        pass

    def _error_answer(self, code):
        return f"injected HTTP {code}\n".encode(), "text/plain"

    def _begin(self, endpoint):
        """Apply an injected fault; True when the request has been answered (or the connection reset)."""
        self._truncate = False
        fault = self.service.fault(endpoint)
        if fault in ("error", "throttle"):
            code = self.service.choice((500, 502, 503) if fault == "error" else (408, 429))
            body, content_type = self._error_answer(code)
            self._truncate = False
            self._send(code, body, content_type)
            return True
        if fault == "html":
            self._send(200, _HTML, "text/html; charset=utf-8")
            return True
        if fault == "reset":
            self.requestline += " (reset)"
            self.log_request("RST")
            # SO_LINGER 0: closing sends a TCP RST instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return True
        if fault == "stall":
            time.sleep(self.service.faults.stall_s)
        self._truncate = fault == "truncate"
        return False

    def _send(self, code, body, content_type="application/x-votable+xml", headers=None):
        delay = self.service.latency_s
        if self.service.bandwidth_mbps:
            delay += len(body) * 8 / (self.service.bandwidth_mbps * 1e6)
        if delay:
            time.sleep(delay)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.command == "HEAD":
            return self._end_head()
        self.end_headers()
        if self._truncate:  # the announced length, then a random part of the body: anywhere, also mid-VOTable
            part = body[: int(self.service.uniform() * len(body))]
            self.wfile.write(part)
            self.service.count_body(len(part))
            self.wfile.flush()
            self.close_connection = True
            return None
        self.wfile.write(body)
        self.service.count_body(len(body))
        return None

    def _end_head(self):
        if not self._truncate:
            self.end_headers()
            return
        # a HEAD answer has no body: cut its header block instead
        self._headers_buffer.append(b"\r\n")
        block = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(block[: int(self.service.uniform() * len(block))])
        self.wfile.flush()
        self.close_connection = True


class _Handler(_FaultyHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        path = url.path.rstrip("/")
        if path.startswith("/SIA"):
            endpoint = "sia"
        elif path.startswith("/TAP"):
            endpoint = "tap"
        elif not url.path.startswith(DATA_PREFIX):
            endpoint = None  # e.g. a client looking for a capabilities document: answered 404, never faulted
        elif "center" in query:
            endpoint = "cutout"
        else:
            endpoint = "range" if self.headers.get("Range") else "file"
        try:
            self._truncate = False
            if endpoint and self._begin(endpoint):
                return None
            if path == "/SIA/capabilities":
                return self._capabilities()
            if path == "/SIA/query":
                return self._sia(query)
            if url.path.startswith(DATA_PREFIX):
                return self._file(url.path[len(DATA_PREFIX):], query)
            self._send(404, b"not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length", 0))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self._truncate = False
        if url.path.rstrip("/") != "/TAP/sync":
            return self._send(404, b"not found\n", "text/plain")
        try:
            if self._begin("tap"):
                return None
            try:
                table = self.service.tap_rows(form.get("QUERY", ""))
            except ValueError as exc:
                return self._send(400, _error_votable(str(exc)))
            self._send(200, _votable_bytes(table))
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def _capabilities(self):
        base = self.service.base_url
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">\n'
            '  <capability standardID="ivo://ivoa.net/std/SIA#query-2.0">\n'
            '    <interface xsi:type="vs:ParamHTTP" role="std">\n'
            f'      <accessURL use="base">{base}/SIA/query</accessURL>\n'
            "    </interface>\n  </capability>\n</vosi:capabilities>\n"
        ).encode()
        self._send(200, body, "text/xml")

    def _sia(self, query):
        pos = query.get("POS", "").split()
        if len(pos) != 4 or pos[0].upper() != "CIRCLE":
            return self._send(400, _error_votable(f"POS must be 'CIRCLE ra dec radius', got {query.get('POS')!r}"))
        try:
            ra, dec, radius = (float(v) for v in pos[1:])
        except ValueError:
            return self._send(400, _error_votable(f"POS has non-numeric values: {query.get('POS')!r}"))
        self._send(200, _votable_bytes(self.service.sia_rows(ra, dec, radius, query.get("COLLECTION"))))

    def _file(self, key, query):
        path = (self.service.root / key).resolve()
        if self.service.root.resolve() not in path.parents or not path.is_file():
            return self._send(404, f"no such file: {key}\n".encode(), "text/plain")
        if "center" in query:
            body = self._cutout(path, query)
            if body is None:
                return None
            return self._send(200, body, "application/fits")
        size = path.stat().st_size
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].partition("-")
            start = int(start_s) if start_s else size - int(end_s)
            end = min(int(end_s) if end_s and start_s else size - 1, size - 1)
            with open(path, "rb") as handle:  # read just the range: section reads ask for many small ones
                handle.seek(start)
                body = handle.read(end - start + 1)
            return self._send(206, body, "application/fits",
                              headers={"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"})
        self._send(200, path.read_bytes(), "application/fits", headers={"Accept-Ranges": "bytes"})

    def do_HEAD(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            if self._begin("size"):
                return
            path = (self.service.root / url.path[len(DATA_PREFIX):]).resolve() \
                if url.path.startswith(DATA_PREFIX) else None
            if path is None or self.service.root.resolve() not in path.parents or not path.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/fits")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Accept-Ranges", "bytes")
            self._end_head()
        except (BrokenPipeError, ConnectionResetError):
            pass
        return

    def _cutout(self, path, query):
        try:
            ra_s, dec_s = query["center"].rstrip("d").split(",")
            ra, dec, size = float(ra_s), float(dec_s), float(query.get("size", "0.1").rstrip("d"))
        except (KeyError, ValueError):
            self._send(400, b"center must be 'ra,dec[d]' and size a number of degrees\n", "text/plain")
            return None
        from ..errors import NoCoverageError

        with fits.open(path, memmap=True) as hdul:
            try:
                cut = make_cutout(hdul, ra, dec, size, source=str(path.name))
            except NoCoverageError as exc:
                self._send(400, f"{exc}\n".encode(), "text/plain")
                return None
            buf = io.BytesIO()
            cut.writeto(buf)
        return buf.getvalue()


class _S3ProxyHandler(_FaultyHandler):
    """Passes S3 requests to moto, faulting the answers: HEAD is ``s3-size``, a ranged GET ``s3-range``, any other
    GET ``s3-file``; errors come as S3's XML error documents."""

    upstream = None

    def _error_answer(self, code):
        name = {500: "InternalError", 502: "BadGateway", 503: "SlowDown", 408: "RequestTimeout",
                429: "TooManyRequests"}.get(code, "InternalError")
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{name}</Code><Message>injected fault'
                f"</Message></Error>\n").encode(), "application/xml"

    def _forward(self):
        import http.client

        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        # _send sets Content-Type and Content-Length; a HEAD answer keeps the object's length
        skip = ("transfer-encoding", "connection", "content-type", "server", "date")
        if self.command != "HEAD":
            skip += ("content-length",)
        return answer.status, data, answer.getheader("Content-Type", "application/octet-stream"), {
            k: v for k, v in answer.getheaders() if k.lower() not in skip}

    def _proxy(self, endpoint):
        try:
            if endpoint and self._begin(endpoint):
                return
            self._truncate = getattr(self, "_truncate", False) and bool(endpoint)
            status, data, content_type, headers = self._forward()
            if self.command == "HEAD":
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "content-length" not in {k.lower() for k in headers}:
                    self.send_header("Content-Length", "0")
                self._end_head()
                return
            self._send(status, data, content_type, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self._proxy("s3-range" if self.headers.get("Range") else "s3-file")

    def do_HEAD(self):
        self._proxy("s3-size")

    def do_PUT(self):  # set-up requests (none go through the proxy today): never faulted
        self._truncate = False
        self._proxy(None)


def main(argv=None):
    """``spherex-sdt serve``: run the loopback IRSA until interrupted, printing its archive settings."""
    import argparse

    parser = argparse.ArgumentParser(prog="spherex-sdt serve", description=main.__doc__)
    parser.add_argument("--archive", required=True, help="archive directory with index.ecsv")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--s3", action="store_true", help="also serve the files over S3 (moto)")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--stall-rate", type=float, default=0.0)
    parser.add_argument("--stall-s", type=float, default=5.0)
    parser.add_argument("--truncate-rate", type=float, default=0.0)
    parser.add_argument("--throttle-rate", type=float, default=0.0, help="answers 408/429")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="connections reset")
    parser.add_argument("--html-rate", type=float, default=0.0, help="HTML pages with status 200")
    args = parser.parse_args(argv)
    faults = Faults(args.error_rate, args.stall_rate, args.stall_s, args.truncate_rate,
                    throttle_rate=args.throttle_rate, reset_rate=args.reset_rate, html_rate=args.html_rate)
    with LoopbackIrsa(args.archive, port=args.port, s3=args.s3, faults=faults) as service:
        print(json.dumps({"archive": service.archive_settings()}, indent=2), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
