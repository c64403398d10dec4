"""The provider in a running Airflow: every task in its own process under the task supervisor,
XComs through the API server, mapped shards in parallel, a retry after a killed task process, and
input / output files on a real S3 API (moto)."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.deployment.conftest import Deployment

SLOW_INPUTS = 1000


def test_example_dags_succeed(deployment: Deployment) -> None:
    run_id = deployment.run("hubspot_tickets_roundtrip")
    summary = deployment.airflow.xcom("hubspot_tickets_roundtrip", run_id, "summarise")
    assert summary["created"] == summary["read"] > 0 and summary["failed"] == 0

    run_id = deployment.run("hubspot_tickets_from_xcom")
    outcome = deployment.airflow.xcom("hubspot_tickets_from_xcom", run_id, "dead_letter")
    assert (outcome["created"], outcome["rejected"]) == (9, 3)  # one in four has an invalid priority


def test_backfill_shards_run_at_once_and_share_the_budget(deployment: Deployment) -> None:
    before = deployment.sandbox.stats()
    run_id = deployment.run("hubspot_tickets_backfill", {"rows_per_shard": 3000})
    after = deployment.sandbox.stats()

    totals = deployment.airflow.xcom("hubspot_tickets_backfill", run_id, "summarise")
    assert totals == {"total": 12_000, "created": 12_000, "failed": 0}
    shards = [
        t
        for t in deployment.airflow.task_instances("hubspot_tickets_backfill", run_id)
        if t["task_id"] == "create_shard"
    ]
    assert len(shards) == 4
    starts = [_instant(t["start_date"]) for t in shards]
    ends = [_instant(t["end_date"]) for t in shards]
    assert max(starts) < min(ends), f"the 4 shards never ran at the same time: {starts} / {ends}"
    requests = after.requests - before.requests
    rate_limited = after.rate_limited - before.rate_limited
    assert requests >= 120  # 12,000 inputs in batches of 100: more than one 10-second window
    # The four shard processes on this machine pace together through one shared picture of the window.
    assert rate_limited / requests < 0.01, f"{rate_limited} of {requests} answered 429"
    assert list((deployment.work.parent / "ratelimit").glob("*.window")), "no shared rate-limit picture"


def test_killed_task_process_is_retried_and_resumes(deployment: Deployment) -> None:
    folder = deployment.work / "kill"
    folder.mkdir(parents=True)
    inputs = folder / "tickets.jsonl"
    inputs.write_text(
        "".join(
            json.dumps({"subject": f"Kill {i}", "hs_pipeline_stage": "1", "external_id": f"kill-{i}"}) + "\n"
            for i in range(SLOW_INPUTS)
        )
    )
    output = folder / "out"
    conf = {"inputs_path": str(inputs), "output_path": str(output)}
    run_id = deployment.airflow.trigger("hubtix_kill_resume", conf)
    killed_at = _kill_task_process_at(deployment, run_id, output / "results.jsonl", 0.4 * SLOW_INPUTS)
    assert deployment.airflow.wait_for_run("hubtix_kill_resume", run_id) == "success"

    (task,) = deployment.airflow.task_instances("hubtix_kill_resume", run_id)
    assert task["try_number"] == 2, "the killed try was not retried"
    results = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    assert sorted(r["input_index"] for r in results) == list(range(SLOW_INPUTS))
    assert deployment.slow_sandbox.ticket_count == SLOW_INPUTS
    assert deployment.slow_sandbox.duplicates("external_id") == {}
    # resumed, not restarted: only the batches in flight at the kill (2 of 20) were settled again
    assert killed_at >= 0.4 * SLOW_INPUTS
    assert sum(not r["new"] for r in results) <= 2 * 20


def test_s3_inputs_and_outputs_chain_into_the_read(deployment: Deployment) -> None:
    s3 = deployment.s3
    s3.client().create_bucket(Bucket="hubtix")
    tickets = [{"subject": f"S3 {i}", "hs_pipeline_stage": "1", "external_id": f"s3-{i}"} for i in range(250)]
    body = "".join(json.dumps(t) + "\n" for t in tickets)
    s3.client().put_object(Bucket="hubtix", Key="in/tickets.jsonl", Body=body.encode())
    conf = {"inputs_path": "s3://aws_moto@hubtix/in/tickets.jsonl", "output_path": "s3://aws_moto@hubtix/out"}

    run_id = deployment.run("hubtix_s3_roundtrip", conf)

    created = deployment.airflow.xcom("hubtix_s3_roundtrip", run_id, "create")
    assert created["results_path"] == "s3://aws_moto@hubtix/out/results.jsonl"
    assert (created["total"], created["created"], created["failed"]) == (250, 250, 0)
    stored = s3.client().get_object(Bucket="hubtix", Key="out/results.jsonl")["Body"].read().decode()
    assert len(stored.splitlines()) == 250
    read_back = deployment.airflow.xcom("hubtix_s3_roundtrip", run_id, "read")
    assert sorted(r["properties"]["external_id"] for r in read_back) == sorted(
        t["external_id"] for t in tickets
    )
    # the input is read twice per try (validated in full before anything is sent, then sent): README
    assert s3.requests[("GET", "/hubtix/in/tickets.jsonl")] == 2


def _kill_task_process_at(deployment: Deployment, run_id: str, results: Path, lines: float) -> int:
    """SIGKILL the running task's process once ``results`` holds ``lines`` lines; how many it held."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        done = _line_count(results)
        if done >= lines:
            (task,) = deployment.airflow.task_instances("hubtix_kill_resume", run_id)
            assert task["state"] == "running" and task["pid"], task
            os.kill(int(task["pid"]), signal.SIGKILL)
            return done
        time.sleep(0.05)
    raise AssertionError(f"{results} never reached {lines:.0f} lines")


def _line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _instant(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
