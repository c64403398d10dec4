#!/usr/bin/env bash
# The version matrix: the unit tests and one end-to-end DAG on the oldest Airflow versions we
# support (2.11 and the lowest 3.x), each in its own venv (.venv-airflow-X) and installed with
# scripts/constraints/airflow-X.txt, which also pins the oldest common-compat we declare. The full
# suite runs on the latest Airflow through scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
series=${HUBTIX_AIRFLOW_SERIES:-"2.11 3.0"}
for airflow in $series; do
  venv=".venv-airflow-$airflow"
  constraints="scripts/constraints/airflow-$airflow.txt"
  echo "== Airflow $airflow ($venv, $constraints)"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet --constraint "$constraints" -e . apache-airflow \
    pytest pytest-timeout requests-mock hypothesis
  "$venv/bin/python" -c 'import airflow, airflow.providers.common.compat as c; print("installed: Airflow", airflow.__version__, "common-compat", c.__version__)'
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit tests/e2e/test_example_dags.py::test_roundtrip
done
