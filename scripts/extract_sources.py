"""Adapter for rule extract_sources; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.extract_sources(smk.input.difference, smk.input.config, smk.input.parameters, smk.input.filter_kernel,
                      dict(smk.output.items()))
