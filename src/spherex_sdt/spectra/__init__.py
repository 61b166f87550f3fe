"""Per-source spectra: photometry on every exposure, spectrum tables, binning onto the standard channels."""

from .assemble import SPECTRUM_COLUMNS, spectrum_fits_meta, spectrum_table
from .binning import BINNING_EXCLUDES, bin_spectrum, binned_spectrum, channel_table
from .lightcurve import light_curve
from .measure import measure_source

__all__ = ["SPECTRUM_COLUMNS", "spectrum_table", "spectrum_fits_meta", "bin_spectrum", "binned_spectrum",
           "BINNING_EXCLUDES", "channel_table", "measure_source", "light_curve"]
