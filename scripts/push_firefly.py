"""Adapter for rule push_firefly; the science lives in spherex_sdt."""
from spherex_sdt.tasks.plots import push_firefly
from spherex_sdt.tasks.common import log_to

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
push_firefly(smk.input.difference, smk.input.catalog, smk.params.url, smk.params.channel, smk.output[0],
             target=smk.wildcards.target, pair=smk.wildcards.pair)
