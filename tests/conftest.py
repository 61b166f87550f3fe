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

def fetch_cutouts(root, src, size_deg, folder):
    """Cutouts of ``size_deg`` around a truth row from every exposure of the local archive at ``root`` that covers
    it, written as ``folder/<source_id>-<k>.fits``; their paths."""
    from spherex_sdt.archive import LocalArchive

    archive = LocalArchive(root, "spherex_qr2")
    ra, dec = float(src["ra"]), float(src["dec"])
    paths = []
    for k, row in enumerate(archive.search_exposures(ra, dec)):
        paths.append(Path(folder) / f"{src['source_id']}-{k}.fits")
        archive.fetch_cutout(row, ra, dec, size_deg, paths[-1])
    return paths


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
