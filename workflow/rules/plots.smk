# Figures as files: PNGs of each pair (images, overlap, difference and S/N with detections; spectra are drawn by
# measure_spectra), a standalone interactive page per pair, and the marks that put them in `snakemake --report`.


report: "../report/workflow.rst"


rule plot_difference:
    input:
        difference="results/{target}/{pair}/difference.fits",
        catalog="results/{target}/{pair}/catalog.ecsv",
        selected="results/{target}/{pair}/selected.ecsv",
    output:
        difference=report(
            "results/{target}/{pair}/difference.png",
            caption="../report/difference.rst",
            category="{target}",
            subcategory="{pair}",
            labels={"figure": "1 images and difference", "source": "all"},
        ),
        overlap=report(
            "results/{target}/{pair}/overlap.png",
            caption="../report/overlap.rst",
            category="{target}",
            subcategory="{pair}",
            labels={"figure": "2 overlap", "source": "all"},
        ),
        significance=report(
            "results/{target}/{pair}/significance.png",
            caption="../report/significance.rst",
            category="{target}",
            subcategory="{pair}",
            labels={"figure": "3 difference and S/N", "source": "all"},
        ),
    log:
        "logs/plot_difference/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/plot_difference/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../../scripts/plot_difference.py"


rule interactive_page:
    input:
        difference="results/{target}/{pair}/difference.fits",
        catalog="results/{target}/{pair}/catalog.ecsv",
        selected="results/{target}/{pair}/selected.ecsv",
        sources="results/{target}/{pair}/sources",
        summary="results/{target}/{pair}/spectra.ecsv",
    output:
        report(
            "results/{target}/{pair}/explore.html",
            caption="../report/explore.rst",
            category="{target}",
            subcategory="{pair}",
            labels={"figure": "5 interactive page", "source": "all"},
        ),
    log:
        "logs/interactive_page/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/interactive_page/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        radius=get_plot_radius,
    script:
        "../../scripts/interactive_page.py"


rule push_firefly:
    input:
        difference="results/{target}/{pair}/difference.fits",
        catalog="results/{target}/{pair}/catalog.xml",
    output:
        "results/{target}/{pair}/firefly.json",
    log:
        "logs/push_firefly/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/push_firefly/{target}/{pair}.tsv"
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        url=config["firefly"]["url"],
        channel=config["firefly"]["channel"],
    script:
        "../../scripts/push_firefly.py"
