# Configuration and target-list validation, wildcard constraints and input functions.
import os
import re
import sys
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from spherex_sdt.config import validate_config
from spherex_sdt.versions import PHOTOMETRY_ALGORITHM as PHOTOMETRY_VERSION
from spherex_sdt.targets import TARGET_NAME_PATTERN, read_targets, unknown_targets

# types and ranges from the schema (which also fills defaults), then the relations between keys;
# errors name the config file(s), the key and what is accepted
validate_config(
    config,
    validate,
    str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"),
    source=", ".join(str(f) for f in workflow.configfiles),
)

# files shipped with the workflow, found from the Snakefile wherever the working directory is
WORKFLOW_ROOT = Path(workflow.basedir)

# jobs import this workflow's own package from its src/: with --sdm conda their environment
# (envs/spherex-sdt.yaml) holds only the dependencies. Jobs inherit this variable; conda activation keeps it.
_python_path = [
    str(WORKFLOW_ROOT / "src"),
    *os.environ.get("PYTHONPATH", "").split(os.pathsep),
]
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in dict.fromkeys(_python_path) if p)
)
SEXTRACTOR_FILES = {
    name: str(WORKFLOW_ROOT / "config" / "sextractor" / f"default.{ext}")
    for name, ext in (
        ("config", "sex"),
        ("parameters", "param"),
        ("filter_kernel", "conv"),
    )
}

# read_targets names the file, line and column of any problem, before any job runs; names without coordinates are
# resolved once and frozen in config["resolved_names"] (later runs, and cluster jobs, read them offline)
TARGETS = (
    read_targets(config["targets"], frozen=config["resolved_names"])
    .to_pandas()
    .set_index("target", drop=False)
)
validate(TARGETS, schema="../schemas/targets.schema.yaml")
PAIRS = list(config["pairs"])  # validate_config rejects repeated pairs


def check_requested_targets():
    """A requested file of a target that is not in the list is an error before any job (not a KeyError later)."""
    # Snakemake sets workflow.dag_settings (the requested files) only after it has read the Snakefile, so the
    # command line is read here; unknown_targets considers only paths shaped like this workflow's products
    requested = getattr(workflow.dag_settings, "targets", None) or sys.argv[1:]
    unknown = unknown_targets(requested, TARGETS.index, PAIRS)
    if unknown:
        path, target = unknown[0]
        known = ", ".join(list(TARGETS.index[:10])) + (
            ", ..." if len(TARGETS) > 10 else ""
        )
        raise ValueError(
            f"requested {path}: target {target!r} is not in the target list {config['targets']} "
            f"(its targets: {known}); add it there, or run `spherex-sdt run NAME` or `spherex-sdt run RA DEC`"
        )


check_requested_targets()


wildcard_constraints:
    target=TARGET_NAME_PATTERN,
    pair="|".join(re.escape(p) for p in PAIRS),
    source=r"[0-9]{4}|p[0-9]{3}",
    detector=r"[1-6]",


def target_position(wildcards):
    if wildcards.target not in TARGETS.index:
        raise ValueError(
            f"target {wildcards.target!r} is not in the target list {config['targets']}"
        )
    row = TARGETS.loc[wildcards.target]
    return float(row["ra_deg"]), float(row["dec_deg"])


def get_resolved_names(wildcards=None):
    """The frozen name resolutions, when the target list names targets without coordinates."""
    if (TARGETS["position_from"] != "list").any():
        return {"names": config["resolved_names"]}
    return {}


def pair_detectors(pair):
    a, b = pair.split("-")
    return int(a[1]), int(b[1])


# archive keys that decide which data come back; the others (timeouts, retries, block sizes, transports, range
# merging) only decide how, so they are not params: changing them must not re-run finished searches and downloads
ARCHIVE_DATA_KEYS = (
    "backend",
    "collection",
    "root",
    "sia_url",
    "tap_url",
    "data_url",
    "s3_endpoint_url",
    "bucket",
)


def get_archive_params():
    """The archive settings that decide the data, as plain builtins (params compare them by repr).

    Scripts add the rest from the config (`spherex_sdt.archive.run_settings`).
    """
    archive = config["archive"]
    return {k: archive[k] for k in sorted(archive) if k in ARCHIVE_DATA_KEYS}


def get_archive_ready(wildcards=None):
    """The simulated archive's index, when the workflow simulates its own archive."""
    if config["archive"]["backend"] == "local" and "simulation" in config:
        return [str(Path(config["archive"]["root"]) / "index.ecsv")]
    return []


def solid_angle_map_key(detector):
    return config["calibration"]["solid_angle_map"].format(detector=detector)


def get_solid_angle_map_key(wildcards):
    return solid_angle_map_key(wildcards.detector)


def solid_angle_map_path(detector):
    return (
        f"{config['cache_dir']}/calibration/{Path(solid_angle_map_key(detector)).name}"
    )


def get_pair_solid_angle_maps(wildcards):
    a, b = pair_detectors(wildcards.pair)
    return {"a": solid_angle_map_path(a), "b": solid_angle_map_path(b)}


def get_photometry_solid_angle_maps(wildcards):
    return [solid_angle_map_path(d) for d in config["photometry"]["detectors"]]


def spectral_wcs_key(detector):
    return config["calibration"]["spectral_wcs"].format(detector=detector)


def get_spectral_wcs_key(wildcards):
    return spectral_wcs_key(wildcards.detector)


def spectral_wcs_path(detector):
    return f"{config['cache_dir']}/calibration/{Path(spectral_wcs_key(detector)).name}"


def wavelengths_from_calibration():
    """True when spectra take their wavelengths from the spectral_wcs calibration product."""
    return config["spectra"]["wavelengths"] == "calibration"


def get_photometry_spectral_wcs(wildcards):
    """The spectral_wcs files of the photometry detectors, when configured (else none: the DAG is unchanged)."""
    if not wavelengths_from_calibration():
        return []
    return [spectral_wcs_path(d) for d in config["photometry"]["detectors"]]


def config_keys(section, *keys):
    """Keys of a config section as the config holds them (the schema has filled every default)."""
    return {key: config[section][key] for key in keys}


def sorted_flags(use):
    """FLAGS names of one use (detection_bad, photometry_bad, background_bad); sorted, since their order means
    nothing and must not re-run jobs."""
    return sorted(config["flags"][use])


def get_difference_params(wildcards):
    return {
        **config_keys(
            "difference",
            "size_px",
            "background_margin_px",
            "background_box_px",
            "background_filter",
            "bad_fraction_limit",
            "stack_clip_sigma",
            "stack_flux_tolerance",
        ),
        "detection_flags": sorted_flags("detection_bad"),
        "background_flags": sorted_flags("background_bad"),
    }


def get_edge_margin_px():
    """The target must sit this far inside an image: half the difference box plus its background margin."""
    d = config["difference"]
    return d["size_px"] // 2 + d["background_margin_px"] + 2


def get_selection_params(wildcards):
    return config["selection"]


def get_photometry_params(wildcards):
    return {
        **config_keys(
            "photometry",
            "radii_px",
            "annulus_px",
            "reject_sigma",
            "reject_sigma_flagged",
            "psf_model_error",
            "fit_position",
            "max_position_shift_px",
        ),
        "bad_flags": sorted_flags("photometry_bad"),
        "background_flags": sorted_flags("background_bad"),
    }


def get_binning_params(wildcards):
    """Radius binned onto the standard channels (and plotted): configured, else the middle aperture radius."""
    radii = sorted(config["photometry"]["radii_px"])
    radius = config["spectra"]["radius_px"]
    return {
        "radius_px": radius if radius is not None else radii[len(radii) // 2],
        "clip_sigma": config["spectra"]["clip_sigma"],
    }


def get_plot_radius(wildcards):
    """The aperture radius whose spectra the interactive page shows: the binned one."""
    return get_binning_params(wildcards)["radius_px"]


def get_spectral_channels(wildcards):
    """The spectral_channels calibration file, when configured (else the equal-R fallback channels)."""
    path = config["spectra"]["channels"]
    return path if path else []


def get_truth_catalog(wildcards=None):
    """The simulated truth, drawn on spectrum plots of the demo."""
    if config["archive"]["backend"] == "local" and "simulation" in config:
        return str(Path(config["archive"]["root"]) / "truth.ecsv")
    return []


def get_final_outputs():
    outputs = []
    for target in TARGETS.index:
        for pair in PAIRS:
            base = f"results/{target}/{pair}"
            outputs += [
                f"{base}/difference.fits",
                f"{base}/catalog.ecsv",
                f"{base}/difference.png",
                f"{base}/overlap.png",
                f"{base}/significance.png",
                f"{base}/explore.html",
                f"{base}/spectra.ecsv",
            ]
            if config["firefly"]["url"]:  # optional push to a Firefly viewer
                outputs.append(f"{base}/firefly.json")
    return outputs


# -- the run summary: written by the Snakefile's onsuccess/onerror handlers, so that it also names failed targets
SUMMARY = "results/summary.ecsv"


def pair_stages(target, pair):
    """Every job a target and pair's products depend on, in pipeline order (for the run summary)."""
    from spherex_sdt.summary import Stage

    base, logs = f"results/{target}/{pair}", f"{target}/{pair}"
    maps = [
        Stage(
            "fetch_solid_angle_map",
            solid_angle_map_path(d),
            f"logs/fetch_solid_angle_map/D{d}.log",
        )
        for d in dict.fromkeys(
            [*pair_detectors(pair), *config["photometry"]["detectors"]]
        )
    ]
    if wavelengths_from_calibration():
        maps += [
            Stage(
                "fetch_spectral_wcs",
                spectral_wcs_path(d),
                f"logs/fetch_spectral_wcs/D{d}.log",
            )
            for d in config["photometry"]["detectors"]
        ]
    return [
        Stage(
            "search_images",
            f"results/{target}/images.ecsv",
            f"logs/search_images/{target}.log",
        ),
        Stage(
            "fetch_pair_images",
            f"{base}/pair_images.ecsv",
            f"logs/fetch_pair_images/{logs}.log",
        ),
        *maps,
        Stage(
            "make_difference",
            f"{base}/difference.fits",
            f"logs/make_difference/{logs}.log",
        ),
        Stage(
            "extract_sources",
            f"{base}/catalog.ecsv",
            f"logs/extract_sources/{logs}.log",
        ),
        Stage(
            "select_sources", f"{base}/selected.ecsv", f"logs/select_sources/{logs}.log"
        ),
        Stage(
            "fetch_source_cutouts",
            f"{base}/exposures.ecsv",
            f"logs/fetch_source_cutouts/{logs}.log",
        ),
        Stage(
            "measure_spectra",
            f"{base}/spectra.ecsv",
            f"logs/measure_spectra/{logs}.log",
        ),
        Stage(
            "plot_difference",
            f"{base}/difference.png",
            f"logs/plot_difference/{logs}.log",
        ),
        Stage(
            "interactive_page",
            f"{base}/explore.html",
            f"logs/interactive_page/{logs}.log",
        ),
    ]


def write_run_summary():
    """Write results/summary.ecsv and print one line per target and pair that is not ok; never raises."""
    from spherex_sdt.summary import write_summary

    entries = [
        (t, p, pair_stages(t, p), f"results/{t}/{p}/spectra.ecsv")
        for t in TARGETS.index
        for p in PAIRS
    ]
    try:
        positions = {
            t: (float(r["ra_deg"]), float(r["dec_deg"])) for t, r in TARGETS.iterrows()
        }
        table = write_summary(entries, SUMMARY, positions)
    except Exception as exc:  # the summary must not hide the run's own error
        print(
            f"could not write {SUMMARY}: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return
    print(f"run summary {SUMMARY}: {table.meta['status_counts']}", file=sys.stderr)
    for row in table[table["status"] != "ok"]:
        print(
            f"  {row['target']} {row['pair']} {row['source']}: {row['status']} "
            f"{row['stage']} {row['reason']}",
            file=sys.stderr,
        )


def remove_incomplete_products():
    """Make a plain run re-make what Snakemake cannot see is incomplete (`spherex_sdt.products`): an exposure
    manifest with failed or vanished cutouts, spectra whose per-source files are gone, and the products after one
    that was removed. The product is removed before the run (each is an index of other files or is made again from
    the same inputs), and Snakemake's rules make it again; with the download cache only what is missing is fetched.
    A dry run only reports them; cluster jobs, which plan their one job again, leave this to the main process.
    """
    if not workflow.is_main_process:
        return
    from spherex_sdt.products import (
        after_gap,
        manifest_needs_refetch,
        runs_jobs,
        spectra_need_remake,
    )

    dry_run = not runs_jobs(sys.argv[1:])
    for target in TARGETS.index:
        for pair in PAIRS:
            base = f"results/{target}/{pair}"
            chain = [f"results/{target}/images.ecsv"] + [
                f"{base}/{name}"
                for name in (
                    "pair_images.ecsv",
                    "difference.fits",
                    "catalog.ecsv",
                    "selected.ecsv",
                    "exposures.ecsv",
                    "spectra.ecsv",
                )
            ]
            gap = after_gap(chain)
            if gap:
                products, why = gap[0], f"{gap[1]} is missing"
            else:
                # the manifest, and the spectrum summary made from it (an index: the spectra stay until
                # measure_spectra runs again; without it, Snakemake would not make the manifest again)
                products = [f"{base}/exposures.ecsv", f"{base}/spectra.ecsv"]
                why = manifest_needs_refetch(products[0])
                if not why:
                    products = [f"{base}/spectra.ecsv"]
                    why = spectra_need_remake(products[0])
            if why:
                products = [p for p in products if Path(p).exists()]
                action = "would be made again" if dry_run else "made again"
                print(
                    f"incomplete: {why}: {', '.join(products)} {action}",
                    file=sys.stderr,
                )
                for product in [] if dry_run else products:
                    Path(product).unlink()


remove_incomplete_products()
