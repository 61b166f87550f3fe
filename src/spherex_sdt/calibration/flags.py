"""SPHEREx FLAGS bits: one registry, masks built by bit from each file's own ``MP_*`` declarations.

Bit numbers are never hard-coded in masks: the set of declared bits grows with the pipeline version
(``spherex-data.md`` §7), so every mask is resolved through the header of the file it applies to.
"""

import re

import numpy as np

from ..errors import DataFormatError, InvalidInputError

__all__ = [
    "SPHEREX_FLAGS",
    "ARTEFACT_FLAGS",
    "flag_bits",
    "canonical_flags",
    "bad_pixel_mask",
    "flag_counts",
]

# name: (bit, description) as declared in Dec-2025 QR2 FLAGS headers; the simulator writes these cards
SPHEREX_FLAGS = {
    "TRANSIENT": (0, "Transient detected during SUR"),
    "OVERFLOW": (1, "Overflow detected during SUR"),
    "SUR_ERROR": (2, "Error in onboard processing"),
    "PHANTOM": (4, "Phantom pixel"),
    "REFERENCE": (5, "Reference pixel"),
    "NONFUNC": (6, "Permanently unusable"),
    "DICHROIC": (7, "Low efficiency due to dichroic"),
    "MISSING_DATA": (9, "Onboard data lost"),
    "HOT": (10, "Hot pixel"),
    "COLD": (11, "Anomalously low signal"),
    "FULLSAMPLE": (12, "Pixel full sample history is available"),
    "PHANMISS": (14, "Phantom correction was not applied"),
    "NONLINEAR": (15, "Nonlinearity correction cannot be applied reliably"),
    "PERSIST": (17, "Persistent charge above threshold"),
    "OUTLIER": (19, "Pixel flagged by Detect Outliers"),
    "SOURCE": (21, "Pixel mapped to a known source"),
    "GHOST": (22, "Affected by a bright source inside the exposure"),
    "GHOST_FPA": (23, "Affected by a bright source on another detector"),
    "GHOST_EXT": (24, "Pixel affected by a bright source outside FOV"),
    "BLOOM": (26, "Pixel part of a bloom artifact"),
    "SNOWBALL": (27, "Pixel part of a snowball artifact"),
    "HALO": (28, "Pixel part of a transient halo"),
}

ARTEFACT_FLAGS = ("TRANSIENT", "OUTLIER", "OVERFLOW")
"""Bits whose pixels the on-source list keeps in apertures although their values may be off (spikes, overflowed
ramps): photometry reports them (quality bit ARTEFACT_IN_APERTURE) and rejects the ones that disagree with the PSF."""

_MSKN = re.compile(r"^MSKN(\d{1,4})$")


def flag_bits(header, *, source="FLAGS header"):
    """Map flag name to bit number from a FLAGS header.

    Accepts the ``MP_<NAME> = <bit>`` form (QR1, QR2) and the ``MSKNnnnn = '<NAME>'`` form reported for QR3.

    Raises
    ------
    DataFormatError
        If the header declares no bit in either form.
    """
    bits = {}
    # look at values of the MP_/MSKN cards only: parsing every card's value is what makes this slow
    for key in header:
        key = str(key)
        if not key.startswith(("MP_", "MSKN")):
            continue
        value = header[key]
        if key.startswith("MP_"):
            try:
                bits[key[3:]] = int(value)
            except (TypeError, ValueError):
                raise DataFormatError(f"{source}: {key} = {value!r} is not a bit number") from None
        else:
            match = _MSKN.match(key)
            if match and isinstance(value, str) and value.strip():
                bits[value.strip().upper()] = int(match.group(1))
    if not bits:
        raise DataFormatError(f"{source}: no MP_* (or MSKNnnnn) keywords declare the FLAGS bits")
    for name, bit in bits.items():
        if not 0 <= bit <= 30:
            raise DataFormatError(f"{source}: flag {name} declares bit {bit}, outside 0..30")
    return dict(sorted(bits.items(), key=lambda item: item[1]))


def _bitmask(bits, names):
    mask = 0
    for name in names:
        if name in bits:  # a bit the file does not declare cannot be set in it
            mask |= 1 << bits[name]
    return mask


def bad_pixel_mask(flags, bits, names):
    """Boolean mask, True where any of the named bits is set.

    Parameters
    ----------
    flags : 2D int ndarray
        The FLAGS plane.
    bits : dict
        Name to bit, from `flag_bits` of the same file.
    names : iterable of str
        Flag names to treat as bad. Names the file does not declare are ignored (no pixel can carry them).
    """
    flags = np.asarray(flags)
    if not np.issubdtype(flags.dtype, np.integer):
        raise InvalidInputError(f"flags must be an integer array, got dtype {flags.dtype}")
    return (flags & _bitmask(bits, names)) != 0


def flag_counts(flags, bits, weights=None):
    """Number of pixels (or sum of ``weights``) carrying each declared bit, as ``{name: count}``."""
    flags = np.asarray(flags)
    out = {}
    for name, bit in bits.items():
        hit = (flags & (1 << bit)) != 0
        out[name] = float(np.sum(weights[hit])) if weights is not None else int(np.count_nonzero(hit))
    return out


def canonical_flags(flags, bits):
    """A FLAGS plane re-expressed in the bit layout of `SPHEREX_FLAGS`, whatever the file's own layout.

    Products that combine images (a difference of two files, a catalogue) carry one bit layout; this maps each
    name the file declares to its `SPHEREX_FLAGS` bit. Names `SPHEREX_FLAGS` does not know are dropped.

    Parameters
    ----------
    flags : int ndarray
        The file's FLAGS values.
    bits : dict
        Name to bit, from `flag_bits` of the same file.
    """
    flags = np.asarray(flags)
    if all(SPHEREX_FLAGS.get(name, (None,))[0] == bit for name, bit in bits.items()):
        keep = sum(1 << bit for bit in bits.values())
        return (flags & keep).astype(np.int32)
    out = np.zeros(flags.shape, np.int32)
    for name, bit in bits.items():
        if name in SPHEREX_FLAGS:
            out |= np.where((flags & (1 << bit)) != 0, np.int32(1 << SPHEREX_FLAGS[name][0]), np.int32(0))
    return out
