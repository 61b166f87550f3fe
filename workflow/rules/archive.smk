# Archive search and cached downloads. Downloads are local rules: compute nodes may have no route to IRSA.


rule search_images:
    input:
        get_archive_ready,
    output:
        "results/{target}/images.ecsv",
    log:
        "logs/search_images/{target}.log",
    benchmark:
        "logs/benchmarks/search_images/{target}.tsv"
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        irsa_connections=1,
        mem_mb=1000,
        runtime=10,
    params:
        position=target_position,
        radius_arcsec=config["search"]["radius_arcsec"],
        archive=get_archive_params(),
    script:
        "../../scripts/search_images.py"


rule fetch_pair_images:
    input:
        images="results/{target}/images.ecsv",
    output:
        "results/{target}/{pair}/pair_images.ecsv",
    log:
        "logs/fetch_pair_images/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/fetch_pair_images/{target}/{pair}.tsv"
    retries: 2
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        irsa_connections=1,
        mem_mb=1000,
        runtime=30,
    params:
        position=target_position,
        edge_margin_px=get_edge_margin_px(),
        max_dt_days=config["difference"]["max_dt_days"],
        visits=config["difference"]["visits"],
        max_visits=config["difference"]["max_visits"],
        box_px=config["difference"]["size_px"],
        archive=get_archive_params(),
        cache_dir=config["cache_dir"],
    script:
        "../../scripts/fetch_pair_images.py"


rule fetch_solid_angle_map:
    input:
        get_archive_ready,
    output:
        solid_angle_map_path("{detector}"),
    log:
        "logs/fetch_solid_angle_map/D{detector}.log",
    benchmark:
        "logs/benchmarks/fetch_solid_angle_map/D{detector}.tsv"
    retries: 2
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        irsa_connections=1,
        mem_mb=1000,
        runtime=30,
    params:
        key=get_solid_angle_map_key,
        archive=get_archive_params(),
    script:
        "../../scripts/fetch_solid_angle_map.py"


# only requested (by measure_spectra) with spectra.wavelengths: calibration
rule fetch_spectral_wcs:
    input:
        get_archive_ready,
    output:
        spectral_wcs_path("{detector}"),
    log:
        "logs/fetch_spectral_wcs/D{detector}.log",
    benchmark:
        "logs/benchmarks/fetch_spectral_wcs/D{detector}.tsv"
    retries: 2
    localrule: True
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        irsa_connections=1,
        mem_mb=1000,
        runtime=30,
    params:
        key=get_spectral_wcs_key,
        archive=get_archive_params(),
    script:
        "../../scripts/fetch_spectral_wcs.py"
