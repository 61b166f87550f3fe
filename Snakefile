# spherex-sdt: SPHEREx source discovery by detector differencing, and per-source spectra.
# Run:  snakemake --configfile config/demo.yaml      (offline demo on a simulated archive)
#       snakemake                                   (the real IRSA archive, config/config.yaml)
import os

from snakemake.utils import min_version

min_version("9.2")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/archive.smk"
include: "workflow/rules/imaging.smk"
include: "workflow/rules/extraction.smk"
include: "workflow/rules/spectra.smk"
include: "workflow/rules/plots.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),


onsuccess:
    write_run_summary()


onerror:
    write_run_summary()
