#!/usr/bin/env bash
# The demo: start the local HubSpot sandbox, point hubspot_default at it, run the example DAG
# hubspot_tickets_roundtrip in a throw-away Airflow (SQLite), print what was created and read.
# Works from a clean clone: it creates .venv and installs the provider first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bash scripts/setup.sh

work=$(mktemp -d -t hubtix-demo-XXXXXX)
sandbox_pid=""
cleanup() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

.venv/bin/python -m airflow_provider_hubtix.sandbox --port 0 --token sandbox-token > "$work/sandbox.log" 2>&1 &
sandbox_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^HubSpot sandbox listening on //p' "$work/sandbox.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the sandbox did not start:"; cat "$work/sandbox.log"; exit 1; }
echo "HubSpot sandbox: $url"

export AIRFLOW_HOME="$work/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/example_dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$work/airflow/airflow.db"
export AIRFLOW_CONN_HUBSPOT_DEFAULT="{\"conn_type\": \"hubspot\", \"host\": \"$url\", \"password\": \"sandbox-token\"}"
mkdir -p "$AIRFLOW_HOME"
.venv/bin/airflow db migrate > "$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }

status=0
.venv/bin/airflow dags test hubspot_tickets_roundtrip > "$work/run.log" 2>&1 || status=$?
grep -E "Created [0-9]+ tickets|  #[0-9]+ " "$work/run.log" | sed -E 's/^.*(Created [0-9]+ tickets)/\1/; s/ \[[a-z._]+\].*$//' || true
if [ "$status" -eq 0 ]; then
  echo "hubspot_tickets_roundtrip: success"
else
  echo "hubspot_tickets_roundtrip failed (exit $status); the end of its log:"
  tail -n 60 "$work/run.log"
fi
exit "$status"
