"""Adapter for rule summarize_spectra; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.summarize_spectra(list(smk.input.spectra), smk.wildcards.target, smk.wildcards.pair, smk.output[0])
