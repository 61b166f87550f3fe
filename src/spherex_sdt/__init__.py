"""spherex-sdt: source discovery and spectra from SPHEREx Level-2 spectral images.

The package holds the science; the Snakemake workflow next to it only wires files together.
Subpackages, one concern each:

``archive``      searches and downloads (local archive directory or IRSA), the download cache
``io``           reading Level-2 MEFs, atomic writes of FITS and tables
``calibration``  FLAGS bits and masks, MJy/sr to µJy with the solid-angle map, spectral WCS
``imaging``      background, cut-first reprojection, difference images
``extraction``   SExtractor and source selection
``photometry``   aperture photometry on cutouts
``spectra``      per-source spectrum tables
``plotting``     figures (the only home of matplotlib)
``simulate``     SPHEREx-format skies and archives with known truth
``tasks``        one function per workflow rule: paths in, paths out
"""

__version__ = "0.1.0"
