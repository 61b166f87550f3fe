"""Adapter for rule search_images; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
ra, dec = smk.params.position
tasks.search_images(smk.wildcards.target, ra, dec, smk.params.radius_arcsec, smk.params.archive, smk.output[0])
