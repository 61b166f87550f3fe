"""Adapter for rule push_firefly; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
tasks.push_firefly(smk.input.difference, smk.input.catalog, smk.params.url, smk.params.channel, smk.output[0],
                   target=smk.wildcards.target, pair=smk.wildcards.pair)
