"""Adapter for rule make_difference; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
ra, dec = smk.params.position
tasks.make_difference(smk.input.pair_images, smk.input.a, smk.input.b, ra, dec, smk.params.difference,
                      smk.output[0])
