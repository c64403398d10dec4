"""Upsert under faults: every input exactly once, no duplicate ticket, the changed values stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_hubtix.operators.tickets import BatchUpsertTicketsOperator
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.safety.test_backfill_safety import QUICK_RETRIES, TaskInstance, accounted, connect


def write_rows(path: Path, count: int, version: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            row = {"subject": f"Sync {i} v{version}", "hs_pipeline_stage": "1", "external_id": f"s-{i}"}
            out.write(json.dumps(row) + "\n")
    return path


def upsert(inputs: Path, output: Path) -> BatchUpsertTicketsOperator:
    operator = BatchUpsertTicketsOperator(
        task_id="upsert", inputs_path=str(inputs), output_path=str(output), id_property="external_id"
    )
    operator.hook.retry_policy = QUICK_RETRIES
    return operator


def test_5xx_and_lost_answers_lose_nothing_duplicate_nothing_and_store_the_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with HubSpotSandbox(seed=23) as sandbox:
        connect(monkeypatch, sandbox)
        upsert(write_rows(tmp_path / "v1.jsonl", 1500, version=1), tmp_path / "out-1").execute(
            {"ti": TaskInstance()}
        )
        sandbox.set_faults(fail_rate=0.10, lose_rate=0.05)
        output = tmp_path / "out-2"
        result = upsert(write_rows(tmp_path / "v2.jsonl", 4000, version=2), output).execute(
            {"ti": TaskInstance()}
        )
        stats = sandbox.stats()
        assert stats.faults_5xx > 0 and stats.faults_lost > 0
        assert result["upserted"] == 4000 and result["failed"] == 0
        assert accounted(output) == dict.fromkeys(range(4000), 1)
        records = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
        assert all(r["new"] is False for r in records if r["input_index"] < 1500)
        assert sandbox.ticket_count == 4000 and sandbox.duplicates("external_id") == {}
        stored = {t["properties"]["external_id"]: t["properties"]["subject"] for t in sandbox.tickets()}
        assert stored == {f"s-{i}": f"Sync {i} v2" for i in range(4000)}
