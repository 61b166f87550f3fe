"""Adapter for rule plot_difference; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.plot_difference(smk.input.difference, smk.input.catalog, smk.input.selected, dict(smk.output.items()),
                      target=smk.wildcards.target)
