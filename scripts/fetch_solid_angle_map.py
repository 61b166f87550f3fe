"""Adapter for rule fetch_solid_angle_map; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.fetch_calibration(smk.params.key, smk.params.archive, smk.output[0])
