"""Run Snakemake in this process with every connection beyond loopback refused and reported.

Usage: python tests/netguard.py <snakemake arguments>. Any attempt prints ``NETWORK ATTEMPT`` to stderr, so a
test can prove that building a DAG touched no network even when the caller would have swallowed the error.
"""

import socket
import sys

LOOPBACK = ("127.0.0.1", "::1", "localhost")
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo


def _refuse(what):
    print(f"NETWORK ATTEMPT: {what}", file=sys.stderr, flush=True)
    raise OSError(f"network access refused in tests: {what}")


def _guarded_connect(sock, address):
    if isinstance(address, tuple) and address[0] not in LOOPBACK:
        _refuse(f"connect {address!r}")
    return _connect(sock, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, *LOOPBACK):
        _refuse(f"lookup {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.getaddrinfo = _guarded_getaddrinfo

if __name__ == "__main__":
    from snakemake.cli import main

    sys.argv = ["snakemake", *sys.argv[1:]]
    main()
