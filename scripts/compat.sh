#!/usr/bin/env bash
# The version matrix: the unit tests and one end-to-end DAG on the oldest Airflow versions we
# support, each in its own venv (.venv-airflow-X). The full suite runs on the latest Airflow
# through scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
versions=${HUBTIX_AIRFLOW_VERSIONS:-"2.11.* 3.1.*"}
for version in $versions; do
  venv=".venv-airflow-${version%.\*}"
  echo "== Airflow $version ($venv)"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e . "apache-airflow==$version" \
    pytest pytest-timeout requests-mock hypothesis
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit tests/e2e/test_example_dags.py::test_roundtrip
done
