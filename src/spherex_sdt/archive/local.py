"""The ``local`` backend: a simulated or mirrored archive directory with an SIA-like ``index.ecsv``."""

import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import ArchiveError, DataFormatError, SpherexSdtError
from .base import normalize_image_table, safe_key, with_detectors
from .cutouts import make_cutout
from .footprint import region_contains, region_overlaps_circle

__all__ = ["LocalArchive"]


class LocalArchive:
    """Archive access to a directory laid out like IRSA's ``ibe/data/spherex/`` tree.

    Parameters
    ----------
    root : path-like
        Directory holding ``index.ecsv`` and the files it names (keys relative to ``root``).
    collection : str
        Only rows of this ``obs_collection`` are returned.
    """

    name = "local"

    def __init__(self, root, collection):
        self.root = Path(root)
        self.collection = collection
        self._index = None

    def _path(self, key):
        safe_key(key, source=str(self.root))
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ArchiveError(f"archive key {key!r} points outside {self.root}")
        if not path.is_file():
            raise ArchiveError(f"{self.root}: no file for key {key!r}")
        return path

    @property
    def index(self):
        if self._index is None:
            path = self.root / "index.ecsv"
            if not path.is_file():
                raise ArchiveError(f"{path}: archive index not found (simulate the archive first?)")
            table = Table.read(path, format="ascii.ecsv")
            if "obs_collection" in table.colnames:
                table = table[table["obs_collection"] == self.collection]
            self._index = normalize_image_table(table, source=str(path))
        return self._index

    def request_counts(self):
        """Nothing is requested over a network: no counts (the ``irsa`` backend counts per endpoint)."""
        return {}

    def search_images(self, ra, dec, radius_deg, detectors=None):
        """Images whose footprint overlaps the circle (the semantics of SIA ``POS=CIRCLE``)."""
        index = self.index
        keep = np.array([region_overlaps_circle(r, ra, dec, radius_deg) for r in index["s_region"]], bool)
        return with_detectors(index[keep], detectors)

    def search_exposures(self, ra, dec, detectors=None):
        """Images containing the position (the semantics of the TAP ``CONTAINS(POINT, poly)`` query)."""
        index = self.index
        keep = np.array([region_contains(r, ra, dec) for r in index["s_region"]], bool)
        return with_detectors(index[keep], detectors)

    def fetch_image(self, row, dest):
        """Copy the full Level-2 file of an image-table row to ``dest``."""
        shutil.copyfile(self._path(row["key"]), dest)

    def fetch_cutout(self, row, ra, dec, size_deg, dest):
        """Write a cutout of the row's file around (ra, dec), as IRSA's cutout service would."""
        path = self._path(row["key"])
        with fits.open(path, memmap=True) as hdul:
            make_cutout(hdul, ra, dec, size_deg, source=str(path)).writeto(dest, overwrite=True)

    def fetch_cutouts(self, row, positions, size_deg):
        """Cutouts of several positions on the row's file, cut as section reads cut them (`sections.batched_cutouts`
        on the local file): the nearest PSF plane, CHECKSUM and DATASUM in every HDU.

        Returns
        -------
        cutouts : list
            Per ``(ra, dec)``, the cutout MEF as bytes or the `NoCoverageError` of a position off the image.
        transfer : `~spherex_sdt.archive.sections.Transfer`
            The file reads (bytes read from disk).
        """
        from fsspec.implementations.local import LocalFileSystem

        from .sections import batched_cutouts

        path = self._path(row["key"])
        try:
            return batched_cutouts(LocalFileSystem(), str(path), positions, size_deg, source=str(path))
        except SpherexSdtError:
            raise
        except Exception as exc:  # a file astropy cannot parse, a header without WCS
            raise DataFormatError(f"{path}: cannot cut: {type(exc).__name__}: {exc}") from exc

    def fetch_calibration(self, key, dest):
        """Copy a calibration file (e.g. a solid-angle pixel map) to ``dest``."""
        shutil.copyfile(self._path(key), dest)
