#!/usr/bin/env bash
# Static checks CI runs before the tests: ruff (Python), snakefmt (Snakemake formatting), snakemake --lint.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests scripts benchmarks
.venv/bin/snakefmt --check Snakefile workflow
# --lint plans the workflow on the demo config; it prints advice and exits non-zero when it has any
.venv/bin/snakemake --lint --configfile config/demo.yaml --quiet
