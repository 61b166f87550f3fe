"""Adapter for rule fetch_source_cutouts; the science lives in spherex_sdt."""
from spherex_sdt.tasks.archive import fetch_source_cutouts
from spherex_sdt.tasks.common import log_to
from spherex_sdt.archive import run_settings

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
archive = run_settings(smk.params.archive, smk.config["archive"])
fetch_source_cutouts(smk.input.selected, smk.params.detectors, smk.params.size_deg, smk.params.threads,
                     archive, smk.params.cache_dir, smk.output[0])
