"""Adapter for rule simulate_archive; the science lives in spherex_sdt."""
from spherex_sdt.tasks.archive import simulate_archive
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
simulate_archive(smk.input.targets, str(smk.output.index).rsplit("/", 1)[0], smk.params.settings,
                 resolved_names=smk.input.get("names"))
