"""A sharded backfill: JSONL shards, one mapped create per shard, a summary.

This is the scale-out pattern: each shard is its own task instance (on the Celery or Kubernetes
executors, on its own worker), writes its own ``results.jsonl`` / ``errors.jsonl``, and resumes from
them when retried. All shards share the account's rate budget through HubSpot's headers. To cap how
many shards run at once, create a pool (``airflow pools set hubspot_api 4 "HubSpot API"``) and pass
``pool="hubspot_api"`` to ``.partial()``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator

SHARDS = 4
ROWS_PER_SHARD = 250


@dag(
    dag_id="hubspot_tickets_backfill",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=SHARDS,
    params={"rows_per_shard": ROWS_PER_SHARD},
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def hubspot_tickets_backfill() -> None:
    """Write shards → create per shard (mapped) → summary."""

    @task
    def write_shards(run_id: str | None = None, params: Any = None) -> list[dict[str, str]]:
        rows = int(params["rows_per_shard"]) if params else ROWS_PER_SHARD
        safe_run = (run_id or "run").replace(":", "_").replace("+", "_")
        work = Path(tempfile.gettempdir()) / "hubtix-backfill" / safe_run
        shards = []
        for shard in range(SHARDS):
            path = work / f"shard-{shard}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as out:
                for row in range(rows):
                    ticket = {
                        "subject": f"Imported ticket {shard}-{row}",
                        "hs_pipeline_stage": "1",
                        "external_id": f"backfill-{safe_run}-{shard}-{row}",
                    }
                    out.write(json.dumps(ticket) + "\n")
            shards.append({"inputs_path": str(path), "output_path": str(work / f"out-{shard}")})
        return shards

    created = BatchCreateTicketsOperator.partial(
        task_id="create_shard", id_property="external_id", max_concurrency=4
    ).expand_kwargs(write_shards())

    @task
    def summarise(outcomes: list[dict[str, Any]]) -> dict[str, int]:
        totals = {key: sum(o[key] for o in outcomes) for key in ("total", "created", "failed")}
        print(f"Backfill: {totals['created']:,} of {totals['total']:,} created, {totals['failed']:,} failed")
        return totals

    summarise(created.output)


hubspot_tickets_backfill()
