"""SPHEREx-format simulated skies and archives with known truth.

The simulator writes Level-2 spectral image MEFs laid out like IRSA's archive, one solid-angle pixel map and one
``spectral_wcs`` calibration (per-pixel CWAVE/CBAND) per detector, an SIA-like index and a truth catalogue. Sources
are stars with smooth SEDs and red, AGN-like sources whose flux rises towards 5 µm; each is rendered with the PSF at
the wavelength of the pixel it falls on. Each exposure carries the artefacts of real frames at their real rates
(`spherex_sdt.simulate.artefacts`), and `spherex_sdt.simulate.scoring` scores discovery against the truth.
"""

from .archive import SimulationSettings, simulate_archive
from .sky import make_sky, true_flux, truth_sed_near

__all__ = ["SimulationSettings", "simulate_archive", "make_sky", "true_flux", "truth_sed_near"]
