#!/usr/bin/env bash
# The test command: lint, format check, type check, packaging check, then the whole suite (unit,
# sandbox conformance, safety, end-to-end DAG runs in a real Airflow against the sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy airflow_provider_hubtix
dist=$(mktemp -d)
.venv/bin/python -m build --outdir "$dist" . > "$dist/build.log" 2>&1 || { cat "$dist/build.log"; exit 1; }
.venv/bin/twine check --strict "$dist"/*.whl "$dist"/*.tar.gz
rm -rf "$dist"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
