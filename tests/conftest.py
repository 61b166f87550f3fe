"""Shared fixtures: a loopback-only network guard and small simulated archives with known truth."""

import socket
from pathlib import Path

import pytest
from astropy.table import Table

from spherex_sdt.config import with_defaults
from spherex_sdt.simulate import SimulationSettings, simulate_archive

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REAL = SHARED / "data" / "real"
CONFIG_SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def config_section(section, values=None, **changes):
    """A complete config section (the workflow's schema defaults, ``values`` and ``changes`` over them)."""
    return with_defaults(CONFIG_SCHEMA, section, {**(values or {}), **changes})

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Tests may reach loopback services only; anything else fails loudly."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        if isinstance(address, tuple) and address[0] not in _LOOPBACK:
            raise RuntimeError(f"test tried to reach {address!r}; tests use loopback services only")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


SMALL = SimulationSettings(detector_size=128, exposures_per_target=12, margin_px=40, n_stars=12, n_red=4, seed=7)
TARGET = {"target": "field-1", "ra_deg": 150.7817877, "dec_deg": 3.3502204}


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory):
    """A 128-pixel-detector archive of one target: 12 exposures (24 files), 17 sources."""
    root = tmp_path_factory.mktemp("archive")
    index, truth = simulate_archive(Table(rows=[TARGET]), root, SMALL)
    return root, index, truth
