"""Peak memory and run time of every rule, from the Snakemake `benchmark:` files of a finished run.

    python benchmarks/rule_memory.py [RUN_DIRECTORY]

Each rule writes ``logs/benchmarks/<rule>/<wildcards>.tsv`` (Snakemake's benchmark format: s, max_rss in MB, ...).
Prints, per rule, the number of jobs, the largest max_rss and the longest wall time, and flags any rule whose
peak reaches the 1 GB budget.
"""

import argparse
import csv
from pathlib import Path

BUDGET_MB = 1000.0


def rule_peaks(run_dir):
    """Rule name -> (jobs, peak max_rss in MB, longest wall time in s)."""
    peaks = {}
    for tsv in sorted(Path(run_dir, "logs", "benchmarks").glob("*/**/*.tsv")):
        rule = tsv.relative_to(Path(run_dir, "logs", "benchmarks")).parts[0]
        with open(tsv, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                rss = float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else 0.0
                jobs, mb, seconds = peaks.get(rule, (0, 0.0, 0.0))
                peaks[rule] = (jobs + 1, max(mb, rss), max(seconds, float(row["s"])))
    return peaks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default=".")
    args = parser.parse_args()
    peaks = rule_peaks(args.run_dir)
    if not peaks:
        raise SystemExit(f"no benchmark files under {Path(args.run_dir, 'logs', 'benchmarks')}: run the workflow first")
    print(f"{'rule':<24} {'jobs':>5} {'max_rss MB':>11} {'longest s':>10}")
    for rule, (jobs, mb, seconds) in sorted(peaks.items(), key=lambda kv: -kv[1][1]):
        print(f"{rule:<24} {jobs:>5} {mb:>11.0f} {seconds:>10.1f}" + ("  OVER 1 GB" if mb >= BUDGET_MB else ""))


if __name__ == "__main__":
    main()
