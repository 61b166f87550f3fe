"""Adapter for rule measure_spectra; the science lives in spherex_sdt."""
from spherex_sdt.tasks.spectra import measure_spectra
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
maps = dict(zip(smk.params.detectors, smk.input.solid_angle_maps))
# spectra.wavelengths: calibration brings one spectral_wcs file per detector; table brings none
spectral_wcs = None
if smk.params.wavelengths == "calibration":
    spectral_wcs = dict(zip(smk.params.detectors, smk.input.spectral_wcs))
measure_spectra(smk.input.exposures, maps, smk.params.photometry, smk.params.binning, smk.output.sources,
                smk.output.summary, channels=smk.input.channels or None, truth=smk.input.truth or None,
                spectral_wcs=spectral_wcs)
