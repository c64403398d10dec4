"""The daily reserve against the sandbox: the account's daily limit is left to the rest of the company."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from airflow_provider_hubtix.exceptions import HubSpotDailyReserveError
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator, BatchReadTicketsOperator
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.safety.test_backfill_safety import TaskInstance, accounted, connect, write_inputs


def categories(output: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in (output / "errors.jsonl").read_text().splitlines():
        category = json.loads(line)["category"]
        counts[category] = counts.get(category, 0) + 1
    return counts


@pytest.mark.parametrize("timing", ["fixed", "tail", "answer-time"])
def test_done_when_daily_limit_40_and_5000_inputs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, timing: str
) -> None:
    """Answers out of order, a slow tail and headers computed when answered keep the reserve too."""
    with HubSpotSandbox(daily=40, latency_ms=20, seed=3, timing=timing) as sandbox:
        connect(monkeypatch, sandbox)
        inputs, output = write_inputs(tmp_path / "in.jsonl", 5000), tmp_path / "out"
        ti = TaskInstance()
        op = BatchCreateTicketsOperator(task_id="create", inputs_path=str(inputs), output_path=str(output))
        with pytest.raises(HubSpotDailyReserveError) as info:
            op.execute({"ti": ti})
        stats = sandbox.stats()
        assert stats.daily_used == 38
        assert stats.rate_limited == 0 and 429 not in stats.status_counts
        assert accounted(output) == dict.fromkeys(range(5000), 1)
        assert ti.xcom["return_value"]["created"] == 3800 == sandbox.ticket_count
        assert categories(output) == {"NOT_ATTEMPTED": 1200}
        message = str(info.value)
        assert "2 of its 40 daily requests left" in message
        assert "daily_reserve '5%' (2 requests)" in message
        assert "resets at midnight in the account's time zone" in message
        assert "daily_reserve '5%' (2 requests)" in (output / "errors.jsonl").read_text().splitlines()[0]

        sandbox.set_rate(daily=1_000_000)  # the next day
        rerun = BatchCreateTicketsOperator(task_id="create", inputs_path=str(inputs), output_path=str(output))
        result = rerun.execute({"ti": TaskInstance()})
        assert result["created"] == 5000 and result["failed"] == 0
        assert sandbox.ticket_count == 5000
        assert sandbox.stats().daily_used == 38 + 12
        # The batches held back at the reserve were never sent: nothing is flagged as a possible duplicate.
        results = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
        assert not [r["input_index"] for r in results if r.get("possible_duplicate")]


def test_other_clients_use_of_the_account_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with HubSpotSandbox(daily=100, latency_ms=10, seed=4) as sandbox:
        connect(monkeypatch, sandbox)
        for _ in range(60):  # another integration of the company
            requests.get(
                f"{sandbox.url}/crm/v3/objects/tickets",
                headers={"Authorization": "Bearer sandbox-token"},
                timeout=10,
            )
        op = BatchCreateTicketsOperator(
            task_id="create",
            inputs_path=str(write_inputs(tmp_path / "in.jsonl", 4000)),
            output_path=str(tmp_path / "out"),
            daily_reserve=10,
            max_concurrency=8,
        )
        with pytest.raises(HubSpotDailyReserveError, match="10 of its 100 daily requests left"):
            op.execute({"ti": TaskInstance()})
        assert sandbox.stats().daily_used == 90
        assert sandbox.ticket_count == 3000
        assert accounted(tmp_path / "out") == dict.fromkeys(range(4000), 1)


def test_read_stops_at_the_operators_reserve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with HubSpotSandbox(daily=10, latency_ms=10, seed=5) as sandbox:
        connect(monkeypatch, sandbox)
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_DEFAULT",
            json.dumps(
                {
                    "conn_type": "hubspot",
                    "host": sandbox.url,
                    "password": "sandbox-token",
                    "extra": {"daily_reserve": "90%"},
                }
            ),
        )
        op = BatchReadTicketsOperator(
            task_id="read",
            ids=[str(i) for i in range(2000)],
            output_path=str(tmp_path / "out"),
            daily_reserve=3,
        )
        with pytest.raises(HubSpotDailyReserveError, match="3 requests"):
            op.execute({"ti": TaskInstance()})
        assert sandbox.stats().daily_used == 7
        assert 429 not in sandbox.stats().status_counts
        assert categories(tmp_path / "out") == {"OBJECT_NOT_FOUND": 700, "NOT_ATTEMPTED": 1300}
