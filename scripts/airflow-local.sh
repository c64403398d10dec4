#!/usr/bin/env bash
# Try the provider in a running Airflow: a sandbox (100 requests / 10 s) and Airflow 3's api-server,
# scheduler and dag-processor (LocalExecutor, parallelism 8) in a throw-away AIRFLOW_HOME, with
# hubspot_default pointing at the sandbox and example_dags/ as the DAGs folder. Ctrl-C stops it all.
#   bash scripts/airflow-local.sh [--port 8080] [--sandbox-port 8765] [--rate 100] [--home DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/airflow_local.py "$@"
