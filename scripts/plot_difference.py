"""Adapter for rule plot_difference; the science lives in spherex_sdt."""
from spherex_sdt.tasks.plots import plot_difference
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
plot_difference(smk.input.difference, smk.input.catalog, smk.input.selected, dict(smk.output.items()),
                target=smk.wildcards.target)
