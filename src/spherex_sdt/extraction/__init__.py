"""Source extraction (SExtractor on difference images) and source selection."""

from .selection import select_sources
from .sextractor import find_sextractor, run_sextractor, extract_both_signs

__all__ = ["select_sources", "find_sextractor", "run_sextractor", "extract_both_signs"]
