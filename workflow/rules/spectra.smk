# Per selected source: every exposure containing it, cutouts (cached, parallel), photometry, spectrum.


rule fetch_source_cutouts:
    input:
        selected="results/{target}/{pair}/selected.ecsv",
    output:
        "results/{target}/{pair}/sources/{source}/exposures.ecsv",
    log:
        "logs/fetch_source_cutouts/{target}/{pair}/{source}.log",
    benchmark:
        "benchmarks/fetch_source_cutouts/{target}/{pair}/{source}.tsv"
    retries: 2
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        irsa_connections=1,
        mem_mb=1000,
        runtime=60,
    params:
        detectors=[int(d) for d in config["photometry"]["detectors"]],
        size_deg=float(config["photometry"]["cutout_size_deg"]),
        threads=int(config["photometry"]["download_threads"]),
        archive=get_archive_params(),
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/fetch_source_cutouts.py"


rule source_photometry:
    input:
        exposures="results/{target}/{pair}/sources/{source}/exposures.ecsv",
        solid_angle_maps=get_photometry_solid_angle_maps,
        channels=get_spectral_channels,
    output:
        ecsv="results/{target}/{pair}/sources/{source}/spectrum.ecsv",
        fits="results/{target}/{pair}/sources/{source}/spectrum.fits",
        binned="results/{target}/{pair}/sources/{source}/spectrum_binned.ecsv",
    log:
        "logs/source_photometry/{target}/{pair}/{source}.log",
    benchmark:
        "benchmarks/source_photometry/{target}/{pair}/{source}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        detectors=[int(d) for d in config["photometry"]["detectors"]],
        photometry=get_photometry_params,
        binning=get_binning_params,
        algorithm=PHOTOMETRY_VERSION,
    script:
        "../../scripts/source_photometry.py"


rule summarize_spectra:
    input:
        spectra=get_source_spectra,
        plots=get_source_plots,
    output:
        "results/{target}/{pair}/spectra.ecsv",
    log:
        "logs/summarize_spectra/{target}/{pair}.log",
    benchmark:
        "benchmarks/summarize_spectra/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../../scripts/summarize_spectra.py"
