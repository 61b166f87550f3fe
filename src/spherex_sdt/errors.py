"""The exception hierarchy: every error spherex_sdt raises on purpose derives from `SpherexSdtError`."""

__all__ = [
    "SpherexSdtError",
    "InvalidInputError",
    "UnitMismatchError",
    "DataFormatError",
    "ArchiveError",
    "NoCoverageError",
    "ExtractionError",
]


class SpherexSdtError(Exception):
    """Base of every error spherex_sdt raises on purpose."""


class InvalidInputError(SpherexSdtError, ValueError):
    """Bad shape, range or type; the message names the argument (or file, row, column) and the value."""


class UnitMismatchError(InvalidInputError):
    """A Quantity or a BUNIT cannot be converted to the required unit."""


class DataFormatError(SpherexSdtError, ValueError):
    """A file does not follow the SPHEREx format (missing HDU, missing keyword, unreadable); names the file."""


class ArchiveError(SpherexSdtError):
    """The archive refused a query or returned data that failed verification; names the URL or key."""


class NoCoverageError(SpherexSdtError):
    """No image of the requested kind covers the requested position."""


class ExtractionError(SpherexSdtError):
    """SExtractor failed or wrote a catalogue that cannot be read; carries its stderr."""
