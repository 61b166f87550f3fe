"""Adapter for rule interactive_page; the science lives in spherex_sdt."""
from spherex_sdt.tasks.plots import interactive_page
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
interactive_page(smk.input.difference, smk.input.catalog, smk.input.selected, smk.input.sources,
                 smk.params.radius, smk.output[0], target=smk.wildcards.target)
