"""Per-source spectrum tables and their binning onto the standard channels."""

from .assemble import SPECTRUM_COLUMNS, spectrum_table
from .binning import bin_spectrum, channel_table

__all__ = ["SPECTRUM_COLUMNS", "spectrum_table", "bin_spectrum", "channel_table"]
