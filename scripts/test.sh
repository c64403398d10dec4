#!/usr/bin/env bash
# The test command: lint, format check, type check, then the whole suite (unit, sandbox
# conformance, safety, packaging (build + twine check) and docstrings, end-to-end DAG runs in a
# real Airflow against the sandbox, and a real deployment: api-server, scheduler, LocalExecutor, S3 on
# moto, the UI in headless Chromium; skip those with -m "not deployment").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy airflow_provider_hubtix
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
