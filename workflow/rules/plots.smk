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
