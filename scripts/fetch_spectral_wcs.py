"""Adapter for rule fetch_spectral_wcs; the science lives in spherex_sdt."""
from spherex_sdt.tasks.archive import fetch_calibration
from spherex_sdt.tasks.common import log_to
from spherex_sdt.archive import run_settings
from spherex_sdt.io.calibration_files import SPECTRAL_WCS_HDUS

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
archive = run_settings(smk.params.archive, smk.config["archive"])
fetch_calibration(smk.params.key, archive, smk.output[0], require=SPECTRAL_WCS_HDUS)
