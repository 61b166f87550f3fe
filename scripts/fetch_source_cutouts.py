"""Adapter for rule fetch_source_cutouts; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.fetch_source_cutouts(smk.input.selected, smk.params.detectors, smk.params.size_deg, smk.params.threads,
                           smk.params.archive, smk.params.cache_dir, smk.output[0])
