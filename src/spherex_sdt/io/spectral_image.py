"""Read a SPHEREx Level-2 spectral image (full frame or cutout) into a `SpectralImage`.

HDUs are always found by EXTNAME, never by position (``spherex-data.md`` §3). The IMAGE and WCS-WAVE HDUs are
required; FLAGS, VARIANCE, ZODI and PSF are optional because early QR1 cutouts carry only IMAGE and WCS-WAVE.
"""

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning, Sip

from ..calibration.spectral import wave_table_bilinear
from ..errors import DataFormatError
from .fits_file import FitsReadError, Hdu, HeaderCards, native, read_hdus

__all__ = ["SpectralImage", "read_spectral_image", "read_usable_cutout", "check_signal", "native", "epoch_mjd",
           "psf_zone_centres", "nearest_psf_plane", "needs_psf_fix", "fix_psf_zone_order"]


def psf_zone_centres(psf_header, n_planes, *, source="PSF header"):
    """Zone centres ``(XCTR_k, YCTR_k)`` (0-based parent pixels) of PSF planes k = 1..n, as an (n, 2) array."""
    try:
        return np.array([[psf_header[f"XCTR_{k}"], psf_header[f"YCTR_{k}"]] for k in range(1, n_planes + 1)], float)
    except KeyError as exc:
        raise DataFormatError(f"{source}: zone centre card {exc.args[0]} missing") from None


def nearest_psf_plane(psf_header, n_planes, parent_x, parent_y, *, source="PSF header"):
    """0-based plane of the PSF zone whose centre is nearest a parent-detector position, and the zone centres."""
    centres = psf_zone_centres(psf_header, n_planes, source=source)
    return int(np.argmin(np.hypot(centres[:, 0] - parent_x, centres[:, 1] - parent_y))), centres


_ZONE = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def needs_psf_fix(version):
    """True for pipeline versions whose PSF zone cards are out of order: VERSION <= 6.5.5 without ``psffix1``.

    ``version`` is the PRIMARY ``VERSION`` (PEP 440, local segment included, e.g. ``'6.4+psffix1'``).
    """
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(str(version).strip())
    except InvalidVersion:
        return False  # unknown scheme: newer than the bug, or not a pipeline version at all
    return parsed.release <= (6, 5, 5) and "psffix1" not in (parsed.local or "")


def fix_psf_zone_order(psf_header, n_planes, *, source="PSF header"):
    """Rewrite XCTR/YCTR/XWID/YWID_k so that plane k0 = k - 1 is zone (ix, iy) = (k0 mod n, k0 div n).

    IRSA's fix (``spherex-data.md`` §9): the comment of each ``XCTR_k`` names the zone ``(ix, iy)`` its values
    belong to; centres and widths are collected per ix and per iy and written back in x-fast order. The cube data
    are already in that order. Returns a new header with ``PSFFIXED = T``.
    """
    n = int(round(np.sqrt(n_planes)))
    if n * n != n_planes:
        raise DataFormatError(f"{source}: {n_planes} PSF planes do not form a square zone grid")
    x_of, y_of = {}, {}
    for k in range(1, n_planes + 1):
        match = _ZONE.search(str(psf_header.comments[f"XCTR_{k}"]) if f"XCTR_{k}" in psf_header else "")
        if not match:
            raise DataFormatError(f"{source}: XCTR_{k} comment does not name its zone '(ix, iy)'")
        ix, iy = int(match.group(1)), int(match.group(2))
        x_of[ix] = (psf_header[f"XCTR_{k}"], psf_header.get(f"XWID_{k}"))
        y_of[iy] = (psf_header[f"YCTR_{k}"], psf_header.get(f"YWID_{k}"))
    if sorted(x_of) != list(range(n)) or sorted(y_of) != list(range(n)):
        raise DataFormatError(f"{source}: zone comments do not cover a {n} x {n} grid")
    header = psf_header.copy()
    for k0 in range(n_planes):
        ix, iy = k0 % n, k0 // n
        k = k0 + 1
        header[f"XCTR_{k}"] = (x_of[ix][0], f"Center of x zone ({ix}, {iy})")
        header[f"YCTR_{k}"] = (y_of[iy][0], f"Center of y zone ({ix}, {iy})")
        if x_of[ix][1] is not None:
            header[f"XWID_{k}"] = (x_of[ix][1], f"Width of x zone ({ix}, {iy})")
        if y_of[iy][1] is not None:
            header[f"YWID_{k}"] = (y_of[iy][1], f"Width of y zone ({ix}, {iy})")
    header["PSFFIXED"] = (True, "zone cards reordered x-fast (VERSION <= 6.5.5 fix)")
    return header


def epoch_mjd(header):
    """Mid-exposure epoch: MJD-AVG, else MJD-OBS, else MJD-BEG (``spherex-data.md`` §4.1); NaN if none."""
    for key in ("MJD-AVG", "MJD-OBS", "MJD-BEG"):
        if key in header:
            return float(header[key])
    return float("nan")


@dataclass
class SpectralImage:
    """One SPHEREx Level-2 image (full frame or cutout), read into memory.

    Attributes
    ----------
    path : str
        File it was read from (used in every error message).
    image : 2D ndarray
        IMAGE plane, float32, in ``bunit`` (MJy/sr for Level 2).
    header : `~spherex_sdt.io.fits_file.HeaderCards`
        IMAGE header (spatial WCS, alternates ``A`` and ``W``), a read-only mapping of its cards;
        ``header.to_header()`` gives the astropy Header.
    wcs : `~astropy.wcs.WCS`
        Spatial WCS, SIP included.
    wave_table : tuple
        The WCS-WAVE table as ``(X, Y, VALUES[0], CRPIX1W, CRPIX2W)``; `wavelength` evaluates it.
    parent_origin : tuple of int
        0-based parent-detector ``(x, y)`` of pixel (0, 0): ``(1 - CRPIX1A, 1 - CRPIX2A)``.
    flags, variance, zodi, psf : ndarray or None
        The other planes when present. ``flags`` is int32.
    flags_header, psf_header : HeaderCards (or astropy Header) or None
    version : str
        Pipeline ``VERSION`` from the PRIMARY header ('' if absent).
    """

    path: str
    image: np.ndarray
    header: fits.Header
    wcs: WCS
    wave_table: tuple
    parent_origin: tuple
    flags: np.ndarray | None = None
    flags_header: fits.Header | None = None
    variance: np.ndarray | None = None
    zodi: np.ndarray | None = None
    psf: np.ndarray | None = None
    psf_header: fits.Header | None = None
    version: str = ""
    extra: dict = field(default_factory=dict)

    def wavelength(self, x, y):
        """Wavelength and bandwidth (µm) at 0-based pixels, by bilinear evaluation of the WCS-WAVE table.

        This is the ``WAVE-TAB`` rule of the spectral WCS ``W`` (FITS WCS Paper III), evaluated directly: it equals
        astropy's evaluation to ~1e-15 µm (tests) without building a -TAB WCS for every file.
        """
        x_points, y_points, values, crpix1w, crpix2w = self.wave_table
        return wave_table_bilinear(x_points, y_points, values, crpix1w, crpix2w, x, y)

    @property
    def spectral_wcs(self):
        """The spectral WCS ``W`` as astropy builds it (SIP removed), for callers that want a WCS object."""
        x_points, y_points, values, _, _ = self.wave_table
        n, m = len(x_points), len(y_points)
        table = fits.BinTableHDU.from_columns(
            [fits.Column(name="X", format=f"{n}J", dim=f"({n})", array=np.asarray(x_points)[None, :]),
             fits.Column(name="Y", format=f"{m}J", dim=f"({m})", array=np.asarray(y_points)[None, :]),
             fits.Column(name="VALUES", format=f"{2 * n * m}E", dim=f"(2,{n},{m})",
                         array=np.asarray(values, np.float32)[None, ...])],
            name="WCS-WAVE",
        )
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(header=_astropy_header(self.header), name="IMAGE"),
                             table])
        return spectral_wcs_from_hdul(hdul, path=self.path)

    @property
    def detector(self):
        return int(self.header["DETECTOR"])

    @property
    def obs_id(self):
        return str(self.header.get("OBSID", ""))

    @property
    def expid(self):
        return int(self.header.get("EXPIDN", -1))

    @property
    def mjd(self):
        return epoch_mjd(self.header)

    @property
    def bunit(self):
        return str(self.header.get("BUNIT", ""))

    @property
    def shape(self):
        return self.image.shape


def _memory_mapped_hdus(path):
    """The HDUs of a (full-frame) file through astropy, memory-mapped: pixels are read from disk when sliced."""
    try:
        with fits.open(path, memmap=True) as hdul:
            return [Hdu(hdu.name, HeaderCards.from_header(hdu.header), data=hdu.data) for hdu in hdul]
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise FitsReadError(str(exc)) from exc


def read_spectral_image(path, *, require=("IMAGE", "WCS-WAVE"), cutout=False):
    """Read a Level-2 spectral image MEF.

    Parameters
    ----------
    path : str or path-like
        The FITS file.
    require : sequence of str
        EXTNAMEs that must be present; a missing one raises `DataFormatError` naming the file.
    cutout : bool
        The file is a cutout (tens of kB): read it whole with the block reader (`spherex_sdt.io.fits_file`),
        ~8x faster than astropy per cutout. Otherwise (full frames) astropy memory-maps it, so that only the pixels
        a caller slices are read; the planes are then big-endian views of the file.

    Returns
    -------
    SpectralImage
    """
    path = str(path)
    if not Path(path).is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        hdus = read_hdus(path) if cutout else _memory_mapped_hdus(path)
    except (OSError, FitsReadError) as exc:
        raise DataFormatError(f"{path}: not a readable FITS file ({exc})") from exc
    by_name = {}
    for hdu in hdus:
        by_name.setdefault(hdu.name.upper(), hdu)  # the first of a repeated EXTNAME, as astropy finds it
    missing = [n for n in require if n not in by_name]
    if missing:
        raise DataFormatError(f"{path}: missing HDU(s) {', '.join(missing)}; found "
                              f"{', '.join(h.name for h in hdus)}")

    def data(name):
        if name not in by_name:
            return None
        return native(by_name[name].data) if cutout else by_name[name].data

    try:
        header = by_name["IMAGE"].header
        image = by_name["IMAGE"].data
        if image is None or image.ndim != 2:
            raise DataFormatError(f"{path}: IMAGE HDU holds no 2-D image")
        wcs = spatial_wcs(header)
        wave = _wave_table(by_name.get("WCS-WAVE"), header, path)
    except DataFormatError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DataFormatError(f"{path}: cannot read IMAGE or its WCS ({exc!r})") from exc
    for name in ("FLAGS", "VARIANCE", "ZODI"):
        plane = by_name.get(name)
        if plane is not None and plane.data is not None and plane.data.shape != image.shape:
            raise DataFormatError(f"{path}: {name} has shape {plane.data.shape}, IMAGE {image.shape}: the planes of "
                                  "a Level-2 file share one pixel grid")
    version = str(hdus[0].header.get("VERSION", ""))
    psf = data("PSF")
    psf_header = by_name["PSF"].header if "PSF" in by_name else None
    if psf_header is not None and needs_psf_fix(version) and "PSFFIXED" not in psf_header:
        psf_header = fix_psf_zone_order(psf_header.to_header(), psf.shape[0], source=f"{path} PSF")
    if "CRPIX1A" in header and "CRPIX2A" in header:
        origin = (int(round(1 - header["CRPIX1A"])), int(round(1 - header["CRPIX2A"])))
    else:
        origin = (0, 0)
    return SpectralImage(
        path=path,
        image=native(image).astype(np.float32, copy=False) if cutout else image,
        header=header,
        wcs=wcs,
        wave_table=wave,
        parent_origin=origin,
        flags=data("FLAGS"),
        flags_header=by_name["FLAGS"].header if "FLAGS" in by_name else None,
        variance=data("VARIANCE"),
        zodi=data("ZODI"),
        psf=psf,
        psf_header=psf_header,
        version=version,
    )


_SPATIAL_KEYS = re.compile(
    r"^(WCSAXES|CRPIX[12]|CRVAL[12]|CDELT[12]|CUNIT[12]|CTYPE[12]|PC[12]_[12]|CD[12]_[12]|LONPOLE|LATPOLE|RADESYS|"
    r"EQUINOX|NAXIS[12]?|(A|B|AP|BP)_(ORDER|\d_\d))$"
)


def read_usable_cutout(path, *, require=("IMAGE", "FLAGS", "VARIANCE", "WCS-WAVE")):
    """Read a cutout to measure on; `DataFormatError` (naming the file) if it is unreadable or its IMAGE holds no
    signal (see `check_signal`)."""
    image = read_spectral_image(path, require=require, cutout=True)
    check_signal(image)
    return image


def check_signal(image):
    """Raise `DataFormatError` naming the file if IMAGE has no finite pixel (all NaN) or every finite pixel is zero
    (a blank file: measured, it would look like an empty sky)."""
    finite = np.isfinite(image.image)
    if not finite.any():
        raise DataFormatError(f"{image.path}: IMAGE has no finite pixel (all NaN)")
    if not np.any(image.image[finite]):
        raise DataFormatError(f"{image.path}: IMAGE is zero in every pixel (a blank file, not a sky image)")


def spatial_wcs(header):
    """The primary (celestial, TAN-SIP) WCS of a header.

    A Level-2 TAN-SIP header (PC or CD matrix) is turned into a WCS from its values directly: parsing the ~200
    other cards, the alternates and the SIP cards through astropy's header machinery costs ~7 ms per cutout,
    which dominated photometry. Any other header goes through ``astropy.wcs.WCS`` on its WCS cards. Both give
    the same transformation (tests compare them on real QR1 headers).
    """
    if _is_plain_tan_sip(header):
        return _tan_sip_wcs(header)
    cards = fits.Header([card for card in _astropy_header(header).cards if _SPATIAL_KEYS.match(card.keyword)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(cards, relax=True)


def _is_plain_tan_sip(header):
    return (header.get("CTYPE1") == "RA---TAN-SIP" and header.get("CTYPE2") == "DEC--TAN-SIP"
            and header.get("WCSAXES", 2) == 2 and all(f"{m}_ORDER" in header for m in ("A", "B", "AP", "BP"))
            and ("CD1_1" in header) != ("PC1_1" in header or "CDELT1" in header))


def _sip_matrix(header, name):
    order = int(header[f"{name}_ORDER"])
    matrix = np.zeros((order + 1, order + 1))
    for i in range(order + 1):
        for j in range(order + 1 - i):
            matrix[i, j] = header.get(f"{name}_{i}_{j}", 0.0)
    return matrix


def _tan_sip_wcs(header):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [header["CTYPE1"], header["CTYPE2"]]
    wcs.wcs.crpix = [header["CRPIX1"], header["CRPIX2"]]
    wcs.wcs.crval = [header["CRVAL1"], header["CRVAL2"]]
    wcs.wcs.cunit = [header.get("CUNIT1", "deg"), header.get("CUNIT2", "deg")]
    if "CD1_1" in header:
        wcs.wcs.cd = [[header["CD1_1"], header.get("CD1_2", 0.0)], [header.get("CD2_1", 0.0), header["CD2_2"]]]
    else:
        wcs.wcs.cdelt = [header.get("CDELT1", 1.0), header.get("CDELT2", 1.0)]
        wcs.wcs.pc = [[header.get("PC1_1", 1.0), header.get("PC1_2", 0.0)],
                      [header.get("PC2_1", 0.0), header.get("PC2_2", 1.0)]]
    for key, attribute in (("LONPOLE", "lonpole"), ("LATPOLE", "latpole")):
        if key in header:
            setattr(wcs.wcs, attribute, float(header[key]))
    for key, attribute in (("RADESYS", "radesys"), ("EQUINOX", "equinox")):
        if key in header:
            setattr(wcs.wcs, attribute, header[key])
    wcs.sip = Sip(*(_sip_matrix(header, m) for m in ("A", "B", "AP", "BP")), wcs.wcs.crpix)
    if "NAXIS1" in header and "NAXIS2" in header:
        wcs.pixel_shape = (int(header["NAXIS1"]), int(header["NAXIS2"]))
    wcs.wcs.set()
    return wcs


def _wave_table(hdu, header, path):
    if hdu is None:
        return None
    if "CRPIX1W" not in header or "CRPIX2W" not in header:
        raise DataFormatError(f"{path}: IMAGE header has no spectral WCS 'W' (CRPIX1W/CRPIX2W missing)")
    row = hdu.data
    if row is None or len(row) < 1:
        raise DataFormatError(f"{path}: WCS-WAVE table has no row")
    try:
        values = np.asarray(row["VALUES"][0], float)
        x_points, y_points = np.asarray(row["X"][0], float), np.asarray(row["Y"][0], float)
    except KeyError as exc:
        raise DataFormatError(f"{path}: WCS-WAVE table lacks column {exc.args[0]}") from None
    if values.shape != (len(y_points), len(x_points), 2):
        raise DataFormatError(f"{path}: WCS-WAVE VALUES has shape {values.shape}, expected "
                              f"({len(y_points)}, {len(x_points)}, 2)")
    return x_points, y_points, values, float(header["CRPIX1W"]), float(header["CRPIX2W"])


def _astropy_header(header):
    return header if isinstance(header, fits.Header) else header.to_header()


def spectral_wcs_from_hdul(hdul, *, path="<memory>"):
    """Spectral WCS ``W`` of the IMAGE HDU, built with the open HDUList so that ``WAVE-TAB`` finds WCS-WAVE.

    SIP is removed: astropy copies the primary SIP onto alternate WCSs (astropy#13105), which would distort the
    table look-up.
    """
    header = hdul["IMAGE"].header
    if "CTYPE1W" not in header:
        raise DataFormatError(f"{path}: IMAGE header has no spectral WCS 'W' (CTYPE1W missing)")
    import logging

    # astropy logs an INFO about the inherited SIP at every build; it is expected here
    logger = logging.getLogger("astropy")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            spectral = WCS(header, fobj=hdul, key="W")
    finally:
        logger.setLevel(level)
    spectral.sip = None
    return spectral
