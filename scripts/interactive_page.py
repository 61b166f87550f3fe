"""Adapter for rule interactive_page; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.interactive_page(smk.input.difference, smk.input.catalog, smk.input.selected, smk.input.sources,
                       smk.params.radius, smk.output[0], target=smk.wildcards.target)
