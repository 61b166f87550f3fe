"""Adapter for rule fetch_pair_images; the science lives in spherex_sdt."""
from spherex_sdt import tasks

smk = snakemake  # noqa: F821  injected by Snakemake
tasks.log_to(smk.log[0])
ra, dec = smk.params.position
tasks.fetch_pair_images(smk.input.images, smk.wildcards.pair, ra, dec, smk.params.edge_margin_px,
                        smk.params.max_dt_days, smk.params.archive, smk.params.cache_dir, smk.output[0])
