# Figures as files: the difference image with detections, and each source's spectrum.


rule plot_difference:
    input:
        difference="results/{target}/{pair}/difference.fits",
        catalog="results/{target}/{pair}/catalog.ecsv",
        selected="results/{target}/{pair}/selected.ecsv",
    output:
        "results/{target}/{pair}/difference.png",
    log:
        "logs/plot_difference/{target}/{pair}.log",
    benchmark:
        "benchmarks/plot_difference/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../../scripts/plot_difference.py"


rule plot_spectrum:
    input:
        spectrum="results/{target}/{pair}/sources/{source}/spectrum.ecsv",
        binned="results/{target}/{pair}/sources/{source}/spectrum_binned.ecsv",
        truth=get_truth_catalog,
    output:
        "results/{target}/{pair}/sources/{source}/spectrum.png",
    log:
        "logs/plot_spectrum/{target}/{pair}/{source}.log",
    benchmark:
        "benchmarks/plot_spectrum/{target}/{pair}/{source}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        radius=get_binning_params(None)["radius_px"],
    script:
        "../../scripts/plot_spectrum.py"
