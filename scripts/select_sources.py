"""Adapter for checkpoint select_sources; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.select_sources(smk.input.catalog, smk.params.selection, smk.output[0])
