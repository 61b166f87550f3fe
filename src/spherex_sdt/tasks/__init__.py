"""One function per workflow rule, in one module per stage: paths and plain values in, files out.

- `~spherex_sdt.tasks.archive`: simulate_archive, search_images, fetch_pair_images, fetch_calibration,
  fetch_source_cutouts
- `~spherex_sdt.tasks.imaging`: make_difference
- `~spherex_sdt.tasks.extraction`: extract_sources, select_sources
- `~spherex_sdt.tasks.spectra`: measure_spectra
- `~spherex_sdt.tasks.plots`: plot_difference, interactive_page, push_firefly
- `~spherex_sdt.tasks.common`: what every task shares (the job log, provenance)

Tasks join the I/O layers (``archive``, ``io``) to one science call each and hold no science of their own. They
never read the workflow config; everything arrives as arguments, so the rules' ``params:`` see every value that
changes a result.
"""
