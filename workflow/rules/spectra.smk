# Per target and pair: every exposure containing each selected source, cutouts (cached, parallel), then all
# spectra in one job. One job per target, never per source or cutout, so the DAG stays small at thousands of
# targets.


rule fetch_source_cutouts:
    input:
        selected="results/{target}/{pair}/selected.ecsv",
    output:
        "results/{target}/{pair}/exposures.ecsv",
    log:
        "logs/fetch_source_cutouts/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/fetch_source_cutouts/{target}/{pair}.tsv"
    retries: 2
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        irsa_connections=1,
        mem_mb=1000,
        runtime=120,
    params:
        detectors=config["photometry"]["detectors"],
        size_deg=config["photometry"]["cutout_size_deg"],
        threads=config["photometry"]["download_threads"],
        archive=get_archive_params(),
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/fetch_source_cutouts.py"


rule measure_spectra:
    input:
        exposures="results/{target}/{pair}/exposures.ecsv",
        solid_angle_maps=get_photometry_solid_angle_maps,
        spectral_wcs=get_photometry_spectral_wcs,
        channels=get_spectral_channels,
        truth=get_truth_catalog,
    output:
        sources=report(
            directory("results/{target}/{pair}/sources"),
            patterns=["{source}/spectrum.png"],
            caption="../report/spectrum.rst",
            category="{target}",
            subcategory="{pair}",
            labels={"figure": "4 spectrum", "source": "{source}"},
        ),
        summary="results/{target}/{pair}/spectra.ecsv",
    log:
        "logs/measure_spectra/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/measure_spectra/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        detectors=config["photometry"]["detectors"],
        photometry=get_photometry_params,
        binning=get_binning_params,
        wavelengths=config["spectra"]["wavelengths"],
        algorithm=PHOTOMETRY_VERSION,
    script:
        "../../scripts/measure_spectra.py"
