"""Adapter for rule simulate_archive; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.simulate_archive(smk.input.targets, str(smk.output.index).rsplit("/", 1)[0], smk.params.settings)
