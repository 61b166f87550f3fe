"""Adapter for checkpoint select_sources; the science lives in spherex_sdt."""
from spherex_sdt.tasks.extraction import select_sources
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
select_sources(smk.input.catalog, smk.params.selection, smk.output[0])
