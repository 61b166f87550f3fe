"""Adapter for rule fetch_solid_angle_map; the science lives in spherex_sdt."""
from spherex_sdt.tasks.archive import fetch_calibration
from spherex_sdt.tasks.common import log_to
from spherex_sdt.archive import run_settings

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
archive = run_settings(smk.params.archive, smk.config["archive"])
fetch_calibration(smk.params.key, archive, smk.output[0])
