"""Adapter for rule make_difference; the science lives in spherex_sdt."""
from spherex_sdt.tasks.imaging import make_difference
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
ra, dec = smk.params.position
make_difference(smk.input.pair_images, smk.input.a, smk.input.b, ra, dec, smk.params.difference,
                smk.output[0], target=smk.wildcards.target)
