# SExtractor on the difference image (both signs) and on each image, then source selection.


rule extract_sources:
    input:
        **SEXTRACTOR_FILES,
        difference="results/{target}/{pair}/difference.fits",
    output:
        ecsv="results/{target}/{pair}/catalog.ecsv",
        votable="results/{target}/{pair}/catalog.xml",
        ecsv_a="results/{target}/{pair}/catalog_A.ecsv",
        votable_a="results/{target}/{pair}/catalog_A.xml",
        ecsv_b="results/{target}/{pair}/catalog_B.ecsv",
        votable_b="results/{target}/{pair}/catalog_B.xml",
    log:
        "logs/extract_sources/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/extract_sources/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/extract_sources.py"


rule select_sources:
    input:
        catalog="results/{target}/{pair}/catalog.ecsv",
    output:
        "results/{target}/{pair}/selected.ecsv",
    log:
        "logs/select_sources/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/select_sources/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        selection=get_selection_params,
    script:
        "../../scripts/select_sources.py"
