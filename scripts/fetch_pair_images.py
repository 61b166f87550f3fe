"""Adapter for rule fetch_pair_images; the science lives in spherex_sdt."""
from spherex_sdt.tasks.archive import fetch_pair_images
from spherex_sdt.tasks.common import log_to
from spherex_sdt.archive import run_settings

smk = snakemake  # noqa: F821  injected by Snakemake
log_to(smk.log[0])
archive = run_settings(smk.params.archive, smk.config["archive"])
ra, dec = smk.params.position
fetch_pair_images(smk.input.images, smk.wildcards.pair, ra, dec, smk.params.edge_margin_px,
                  smk.params.max_dt_days, archive, smk.params.cache_dir, smk.output[0], visits=smk.params.visits,
                  max_visits=smk.params.max_visits, box_px=smk.params.box_px,
                  threads=smk.config["photometry"]["download_threads"])
