"""Adapter for rule fetch_solid_angle_map; the science lives in spherex_sdt."""
from spherex_sdt import tasks
from spherex_sdt.archive import run_settings

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
archive = run_settings(smk.params.archive, smk.config["archive"])
tasks.fetch_calibration(smk.params.key, archive, smk.output[0])
