"""Fixed facts about the six SPHEREx detectors (``spherex-data.md`` §1-2).

Values are per detector number 1-6. Everything here is instrument description, not configuration.
"""

from dataclasses import dataclass

__all__ = [
    "Detector",
    "DETECTORS",
    "SAME_EXPOSURE_PARTNER",
    "PIXEL_SCALE_ARCSEC",
    "FULL_FRAME_SIZE",
    "band_name",
    "parse_band_name",
    "parse_pair",
]

PIXEL_SCALE_ARCSEC = 6.15
"""Nominal pixel scale (SIA ``s_pixel_scale``)."""

FULL_FRAME_SIZE = 2040
"""Active pixels per side of a real detector."""


@dataclass(frozen=True)
class Detector:
    """One SPHEREx detector.

    Attributes
    ----------
    number : int
        1-6; 1-3 are SWIR, 4-6 MWIR.
    em_min_um, em_max_um : float
        Wavelength range of the whole detector (SIA ``em_min``/``em_max``), µm.
    resolving_power : float
        SIA ``em_res_power``.
    psf_fwhm_arcsec : float
        Typical frame-median ``PSF_FWHM`` (QR1).
    omega_median_arcsec2 : float
        Typical ``OMEGA_MEDIAN`` of the solid-angle pixel map (QR1).
    wave_grid : int
        Control points per axis of the WCS-WAVE table in QR1 files.
    nonfunc_fraction, dichroic_fraction : float
        Fraction of pixels with NONFUNC / DICHROIC set (QR1 counts over 4,161,600 pixels).
    """

    number: int
    em_min_um: float
    em_max_um: float
    resolving_power: float
    psf_fwhm_arcsec: float
    omega_median_arcsec2: float
    wave_grid: int
    nonfunc_fraction: float
    dichroic_fraction: float

    @property
    def name(self):
        return f"D{self.number}"

    @property
    def band(self):
        return band_name(self.number)


_N = 4_161_600
DETECTORS = {
    1: Detector(1, 0.7455, 1.1167, 39.1, 5.03, 37.87, 7, 1898 / _N, 0.0),
    2: Detector(2, 1.1033, 1.6499, 41.4, 4.84, 37.70, 9, 1789 / _N, 0.0),
    3: Detector(3, 1.6301, 2.4346, 40.6, 4.92, 37.87, 9, 2968 / _N, 109_713 / _N),
    4: Detector(4, 2.4027, 3.8473, 34.9, 6.02, 37.94, 13, 12_713 / _N, 112_375 / _N),
    5: Detector(5, 3.8113, 4.4300, 111.6, 6.12, 37.78, 7, 12_171 / _N, 0.0),
    6: Detector(6, 4.4115, 5.0096, 127.8, 6.56, 37.95, 7, 9447 / _N, 0.0),
}

SAME_EXPOSURE_PARTNER = {1: 4, 4: 1, 2: 5, 5: 2, 3: 6, 6: 3}
"""The dichroic sends one field to both focal planes: D1/D4, D2/D5, D3/D6 see the same sky at the same time."""


def band_name(detector):
    """SIA/TAP ``energy_bandpassname`` of a detector number, e.g. ``SPHEREx-D2``."""
    return f"SPHEREx-D{int(detector)}"


def parse_band_name(name):
    """Detector number from ``SPHEREx-D<k>``; raises `ValueError` for anything else."""
    text = str(name).strip()
    if not (text.startswith("SPHEREx-D") and text[9:].isdigit() and int(text[9:]) in DETECTORS):
        raise ValueError(f"not a SPHEREx band name: {str(name)!r} (expected SPHEREx-D1 ... SPHEREx-D6)")
    return int(text[9:])


def parse_pair(pair):
    """Detector numbers of a pair label such as ``"D2-D4"``.

    The difference image of pair ``Da-Db`` is image(Da) minus image(Db), on Db's pixel grid.
    """
    from .errors import InvalidInputError

    parts = str(pair).split("-")
    if len(parts) != 2 or not all(len(p) == 2 and p[0] == "D" and p[1] in "123456" for p in parts):
        raise InvalidInputError(f"pair must look like 'D2-D4' (two of D1..D6), got {pair!r}")
    a, b = int(parts[0][1]), int(parts[1][1])
    if a == b:
        raise InvalidInputError(f"pair {pair!r} names the same detector twice")
    return a, b
