"""Per-source spectrum tables."""

from .assemble import SPECTRUM_COLUMNS, spectrum_table

__all__ = ["SPECTRUM_COLUMNS", "spectrum_table"]
