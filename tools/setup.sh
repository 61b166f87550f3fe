#!/usr/bin/env bash
# Set up spherex-sdt on Debian/Ubuntu with Python 3.11, idempotently:
#   - SExtractor from Debian (package source-extractor), if neither source-extractor nor sex is on PATH;
#   - Slurm and munge from Debian (slurm-wlm, munge), for the test that runs the workflow through Slurm;
#   - Chromium from Debian (chromium), for the tests that render the HTML report and pages headless;
#   - a virtual environment in .venv with this package, Snakemake and the test tools, at the versions pinned in
#     tools/constraints.txt (regenerate it with `pip freeze` after a deliberate upgrade).
# Set PYTHON to choose the interpreter (default: python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
command -v source-extractor >/dev/null 2>&1 || command -v sex >/dev/null 2>&1 || packages+=(source-extractor)
# a one-node Slurm for the cluster-profile test (tools/slurm.sh); not needed to run the pipeline itself
command -v slurmctld >/dev/null 2>&1 || packages+=(slurm-wlm munge)
# headless Chromium, for the tests that open the Snakemake report and the interactive pages
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing Debian packages ${packages[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

PY="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    echo "setup: installing python3-venv" >&2
    rm -rf .venv
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3.11-venv >/dev/null || true
    "$PY" -m venv .venv
  fi
fi
# tools/constraints.txt pins a tested set of versions: reproducible, and it spares pip a long backtracking search
.venv/bin/python -m pip install -q -c tools/constraints.txt -e ".[test]"
echo "setup: ready ($(.venv/bin/python --version), $(.venv/bin/snakemake --version | head -1) snakemake)" >&2
