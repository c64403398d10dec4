"""Zero lost and zero duplicated tickets under faults, kills and fatal errors (issue #6's targets)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubtix.exceptions import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotError,
    HubSpotMissingScopesError,
)
from airflow_provider_hubtix.hooks.transport import RetryPolicy
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from airflow_provider_hubtix.sandbox.store import DUPLICATE_STYLES

QUICK_RETRIES = RetryPolicy(max_attempts=8, backoff_initial=0.01, backoff_max=0.05)


class TaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def connect(monkeypatch: pytest.MonkeyPatch, sandbox: HubSpotSandbox, token: str = "sandbox-token") -> None:
    conn = {"conn_type": "hubspot", "host": sandbox.url, "password": token}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))


def write_inputs(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(
                json.dumps({"subject": f"Safety {i}", "hs_pipeline_stage": "1", "external_id": f"s-{i}"})
                + "\n"
            )
    return path


def operator(inputs: Path, output: Path, **kwargs: Any) -> BatchCreateTicketsOperator:
    op = BatchCreateTicketsOperator(
        task_id="create",
        inputs_path=str(inputs),
        output_path=str(output),
        id_property="external_id",
        **kwargs,
    )
    op.hook.retry_policy = QUICK_RETRIES
    return op


def accounted(output: Path) -> dict[int, int]:
    seen: dict[int, int] = {}
    for name in ("results.jsonl", "errors.jsonl"):
        for line in (output / name).read_text().splitlines():
            index = json.loads(line)["input_index"]
            seen[index] = seen.get(index, 0) + 1
    return seen


def test_faults_lose_nothing_and_duplicate_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with HubSpotSandbox(fail_rate=0.10, lose_rate=0.05, seed=21) as sandbox:
        connect(monkeypatch, sandbox)
        result = operator(write_inputs(tmp_path / "in.jsonl", 5000), tmp_path / "out").execute(
            {"ti": TaskInstance()}
        )
        stats = sandbox.stats()
        assert stats.faults_5xx > 0 and stats.faults_lost > 0
        assert result["created"] == 5000 and result["failed"] == 0
        assert accounted(tmp_path / "out") == dict.fromkeys(range(5000), 1)
        assert sandbox.ticket_count == 5000
        assert sandbox.duplicates("external_id") == {}


def test_kill_at_half_way_then_rerun(tmp_path: Path) -> None:
    inputs, output = write_inputs(tmp_path / "in.jsonl", 4000), tmp_path / "out"
    child = (
        "import json, sys\n"
        "from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator\n"
        "class TI:\n"
        "    def xcom_push(self, key, value): pass\n"
        "op = BatchCreateTicketsOperator(task_id='create', inputs_path=sys.argv[1], output_path=sys.argv[2],"
        " id_property='external_id', max_concurrency=4)\n"
        "print(json.dumps(op.execute({'ti': TI()})))\n"
    )
    with HubSpotSandbox(latency_ms=50, seed=5) as sandbox:
        env = {
            **os.environ,
            "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(
                {"conn_type": "hubspot", "host": sandbox.url, "password": "sandbox-token"}
            ),
        }
        command = [sys.executable, "-c", child, str(inputs), str(output)]
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = output / "results.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if results.exists() and results.stat().st_size and sum(1 for _ in results.open()) >= 2000:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = sandbox.ticket_count
        assert 0 < killed_at < 4000, "the kill must land mid-run"
        second = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        summary = json.loads(second.stdout.strip().splitlines()[-1])
        assert summary["created"] == 4000 and summary["failed"] == 0
        assert accounted(output) == dict.fromkeys(range(4000), 1)
        assert sandbox.ticket_count == 4000
        assert sandbox.duplicates("external_id") == {}


@pytest.mark.parametrize(
    ("setup", "exception", "words"),
    [
        ("bad-token", HubSpotAuthError, "Access token"),
        ("no-scope-token", HubSpotMissingScopesError, "tickets"),
        ("daily", HubSpotDailyLimitError, "daily request limit"),
    ],
)
def test_fatal_errors_stop_at_once_with_everything_accounted(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    setup: str,
    exception: type[HubSpotError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with HubSpotSandbox(daily=3 if setup == "daily" else 1_000_000, seed=1) as sandbox:
        token = "sandbox-token" if setup == "daily" else setup
        connect(monkeypatch, sandbox, token)
        ti = TaskInstance()
        reserve = {"daily_reserve": 0} if setup == "daily" else {}  # no reserve: until HubSpot refuses
        op = operator(
            write_inputs(tmp_path / "in.jsonl", 1000), tmp_path / "out", max_concurrency=1, **reserve
        )
        with pytest.raises(exception, match=words) as info:
            op.execute({"ti": ti})
        answered = sum(sandbox.stats().status_counts.values())
        requests_after_failure = answered - (3 if setup == "daily" else 0)
        assert requests_after_failure == 1
        assert accounted(tmp_path / "out") == dict.fromkeys(range(1000), 1)
        assert ti.xcom["return_value"]["failed"] == (700 if setup == "daily" else 1000)
        texts = [
            str(info.value),
            json.dumps(ti.xcom),
            caplog.text,
            (tmp_path / "out" / "errors.jsonl").read_text(),
        ]
        assert not [text for text in texts if token in text]


def test_oauth_expiry_mid_run_refreshes_and_goes_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with HubSpotSandbox(latency_ms=20, seed=9) as sandbox:
        extra = {
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "refresh_token": "sandbox-refresh",
        }
        conn = {"conn_type": "hubspot", "host": sandbox.url, "password": "sandbox-token", "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))
        op = operator(write_inputs(tmp_path / "in.jsonl", 3000), tmp_path / "out", max_concurrency=1)
        expire = threading.Timer(0.2, sandbox.expire_access_tokens)  # the run takes >= 30 x 20 ms
        expire.start()
        result = op.execute({"ti": TaskInstance()})
        expire.join()
        assert result["created"] == 3000 and result["failed"] == 0
        assert sandbox.stats().by_endpoint["oauth_token"] == 1
        assert sandbox.stats().status_counts[401] >= 1
        assert sandbox.ticket_count == 3000


@pytest.mark.parametrize("style", DUPLICATE_STYLES)
def test_half_already_loaded_ends_in_results_not_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, style: str
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 2000)
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text("".join(inputs.read_text().splitlines(keepends=True)[:1000]))
    with HubSpotSandbox(seed=16, duplicate_style=style) as sandbox:
        connect(monkeypatch, sandbox)
        operator(earlier, tmp_path / "earlier").execute({"ti": TaskInstance()})  # an earlier partial load
        reads_before = sandbox.stats().by_endpoint.get("batch_read", 0)
        result = operator(inputs, tmp_path / "out").execute({"ti": TaskInstance()})
        assert result["created"] == 2000 and result["failed"] == 0
        records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
        assert sorted(r["input_index"] for r in records) == list(range(2000))
        assert sorted(r["input_index"] for r in records if r["new"] is False) == list(range(1000))
        assert sandbox.ticket_count == 2000 and sandbox.duplicates("external_id") == {}
        assert sandbox.stats().by_endpoint["batch_read"] - reads_before == 10  # one per batch of rejections
