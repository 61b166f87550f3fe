# SExtractor on the difference image (both signs), then source selection (the one checkpoint).


rule extract_sources:
    input:
        difference="results/{target}/{pair}/difference.fits",
        **SEXTRACTOR_FILES,
    output:
        ecsv="results/{target}/{pair}/catalog.ecsv",
        votable="results/{target}/{pair}/catalog.xml",
    log:
        "logs/extract_sources/{target}/{pair}.log",
    benchmark:
        "benchmarks/extract_sources/{target}/{pair}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/spherex-sdt.yaml"
    script:
        "../../scripts/extract_sources.py"


checkpoint select_sources:
    input:
        catalog="results/{target}/{pair}/catalog.ecsv",
    output:
        "results/{target}/{pair}/selected.ecsv",
    log:
        "logs/select_sources/{target}/{pair}.log",
    params:
        selection=get_selection_params,
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/spherex-sdt.yaml"
    script:
        "../../scripts/select_sources.py"
