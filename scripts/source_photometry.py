"""Adapter for rule source_photometry; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
maps = dict(zip(smk.params.detectors, smk.input.solid_angle_maps))
tasks.source_photometry(smk.input.exposures, maps, smk.params.photometry,
                        {"ecsv": smk.output.ecsv, "fits": smk.output.fits, "binned": smk.output.binned},
                        binning=smk.params.binning, channels=smk.input.channels or None)
