"""A real ``airflow dags test`` killed with SIGKILL mid-run, then re-run: a clean finish under every
way the sandbox can word a duplicate unique value (issue #16)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from airflow_provider_hubtix.sandbox.store import DUPLICATE_STYLES

pytestmark = pytest.mark.e2e

INPUTS = 5000

KILL_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import dag
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator

@dag(dag_id="hubspot_kill_resume", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def kill_resume():
    BatchCreateTicketsOperator(
        task_id="create",
        inputs_path="{{ dag_run.conf['inputs_path'] }}",
        output_path="{{ dag_run.conf['output_path'] }}",
        id_property="external_id",
        max_concurrency=4,
    )

kill_resume()
"""


def write_inputs(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({"subject": f"Kill {i}", "hs_pipeline_stage": "1", "external_id": f"k-{i}"}))
            out.write("\n")
    return path


def lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def dags_test(dag_file: Path, sandbox: HubSpotSandbox, inputs: Path, output: Path) -> subprocess.Popen[bytes]:
    """Start ``airflow dags test`` of the kill DAG in its own process group."""
    env = {
        **os.environ,
        "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(
            {"conn_type": "hubspot", "host": sandbox.url, "password": "sandbox-token"}
        ),
    }
    conf = json.dumps({"inputs_path": str(inputs), "output_path": str(output)})
    airflow = Path(sys.executable).with_name("airflow")
    command = [str(airflow), "dags", "test", "hubspot_kill_resume", "-f", str(dag_file), "-c", conf]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def kill_when_recorded(process: subprocess.Popen[bytes], results: Path, count: int) -> None:
    """SIGKILL the run (its whole process group) once ``count`` results are written."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and process.poll() is None and lines(results) < count:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("style", DUPLICATE_STYLES)
def test_killed_dags_test_then_rerun_finishes_clean(dags_folder: Path, tmp_path: Path, style: str) -> None:
    dag_file = dags_folder / "hubspot_kill_resume.py"
    dag_file.write_text(KILL_DAG)
    inputs, output = write_inputs(tmp_path / "in.jsonl", INPUTS), tmp_path / "out"
    with HubSpotSandbox(latency_ms=100, seed=16, duplicate_style=style) as sandbox:
        kill_when_recorded(dags_test(dag_file, sandbox, inputs, output), output / "results.jsonl", 2000)
        time.sleep(0.5)  # let the sandbox finish the requests that were in flight at the kill
        recorded, created = lines(output / "results.jsonl"), sandbox.ticket_count
        assert 0 < recorded < created < INPUTS, "the kill must land mid-run, with batches in flight"
        rerun = dags_test(dag_file, sandbox, inputs, output)
        assert rerun.wait(timeout=170) == 0
        results = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
        assert sorted(r["input_index"] for r in results) == list(range(INPUTS))
        assert (output / "errors.jsonl").read_text() == ""
        assert sandbox.ticket_count == INPUTS and sandbox.duplicates("external_id") == {}
        # what the killed try created without recording it was found by reading, not created again
        assert sum(1 for r in results if r["new"] is False) == created - recorded
