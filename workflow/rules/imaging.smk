# Calibration, background, cut-first reprojection and the difference image of a detector pair.


rule make_difference:
    input:
        unpack(get_pair_solid_angle_maps),
        pair_images="results/{target}/{pair}/pair_images.ecsv",
    output:
        "results/{target}/{pair}/difference.fits",
    log:
        "logs/make_difference/{target}/{pair}.log",
    benchmark:
        "logs/benchmarks/make_difference/{target}/{pair}.tsv"
    conda:
        "../../envs/spherex-sdt.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        position=target_position,
        difference=get_difference_params,
    script:
        "../../scripts/make_difference.py"
