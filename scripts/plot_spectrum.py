"""Adapter for rule plot_spectrum; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.plot_spectrum(smk.input.spectrum, smk.params.radius, smk.output[0], truth=smk.input.truth or None,
                    binned=smk.input.binned)
