#!/usr/bin/env bash
# Set up spherex-sdt on Debian/Ubuntu with Python 3.11, idempotently.
#   tools/setup.sh          what the pipeline needs: SExtractor from Debian (package source-extractor, if neither
#                           source-extractor nor sex is on PATH) and a virtual environment in .venv with this
#                           package, Snakemake and its Slurm executor plugin;
#   tools/setup.sh --test   also what the tests need: Slurm and munge from Debian (slurm-wlm, munge: the test that
#                           runs the workflow through Slurm), headless Chromium (chromium: the tests that render the
#                           report and the pages) and the test tools (the package's test extra).
# Versions are those pinned in tools/constraints.txt (regenerate it with `pip freeze` after a deliberate upgrade).
# Set PYTHON to choose the interpreter (default: python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

tests=false
case "${1:-}" in
  --test) tests=true ;;
  "") ;;
  *) echo "usage: tools/setup.sh [--test]" >&2; exit 2 ;;
esac

packages=()
command -v source-extractor >/dev/null 2>&1 || command -v sex >/dev/null 2>&1 || packages+=(source-extractor)
if $tests; then
  # a one-node Slurm for the cluster-profile test (tools/slurm.sh); not needed to run the pipeline itself
  command -v slurmctld >/dev/null 2>&1 || packages+=(slurm-wlm munge)
  # headless Chromium, for the tests that open the Snakemake report and the interactive pages
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
fi
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
extras="workflow,slurm"
if $tests; then extras="test"; fi
.venv/bin/python -m pip install -q -c tools/constraints.txt -e ".[$extras]"
echo "setup: ready ($(.venv/bin/python --version), $(.venv/bin/snakemake --version | head -1) snakemake)" >&2
