"""Adapter for rule extract_sources; the science lives in spherex_sdt."""
from spherex_sdt.tasks.extraction import extract_sources
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
extract_sources(smk.input.difference, smk.input.config, smk.input.parameters, smk.input.filter_kernel,
                dict(smk.output.items()))
