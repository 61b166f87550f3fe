# The demo's archive: SPHEREx-format files simulated with known truth (only when config has `simulation`).


if config["archive"]["backend"] == "local" and "simulation" in config:

    rule simulate_archive:
        input:
            unpack(get_resolved_names),
            targets=config["targets"],
        output:
            index=f"{config['archive']['root']}/index.ecsv",
            truth=f"{config['archive']['root']}/truth.ecsv",
        log:
            "logs/simulate_archive.log",
        benchmark:
            "logs/benchmarks/simulate_archive.tsv"
        conda:
            "../../envs/spherex-sdt.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            settings={k: config["simulation"][k] for k in sorted(config["simulation"])},
        script:
            "../../scripts/simulate_archive.py"
