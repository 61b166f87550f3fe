"""Adapter for rule search_images; the science lives in spherex_sdt."""
from spherex_sdt.tasks.archive import search_images
from spherex_sdt.tasks.common import log_to
from spherex_sdt.archive import run_settings

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
archive = run_settings(smk.params.archive, smk.config["archive"])
ra, dec = smk.params.position
search_images(smk.wildcards.target, ra, dec, smk.params.radius_arcsec, archive, smk.output[0])
