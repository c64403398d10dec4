"""Keep HubSpot in step with a source table: write the source file, upsert it, read it back.

Each run writes a CSV "export" (in a real DAG: your warehouse's) whose rows carry a stable
``external_id`` (a unique-value ticket property). The upsert creates the tickets HubSpot does not
have and updates the others, so the DAG can run every night and be re-run at will. Trigger it with
``{"version": 2}`` (``airflow dags trigger hubspot_tickets_sync -c '{"version": 2}'``) to see the
first rows change and new rows appear.

The connection ``hubspot_default`` must point at HubSpot or at the local sandbox
(``python -m airflow_provider_hubtix.sandbox``); see README.md, "The two commands".
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubtix.operators.tickets import BatchReadTicketsOperator, BatchUpsertTicketsOperator

ROWS_PER_VERSION = 10
"""Version N of the source holds rows 0 … 10·(N+1)−1: the rows of earlier versions, changed, and new ones."""


@dag(
    dag_id="hubspot_tickets_sync",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"version": 1},
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def hubspot_tickets_sync() -> None:
    """Source file → upsert → read back → summary."""

    @task
    def write_source(params: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        version = int((params or {}).get("version", 1))
        safe_run = (run_id or "run").replace(":", "_").replace("+", "_")
        path = Path(tempfile.gettempdir()) / "hubtix-sync" / safe_run / "tickets.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["external_id", "subject", "hs_pipeline_stage", "hs_ticket_priority"])
            for row in range(ROWS_PER_VERSION * (version + 1)):
                priority = ("LOW", "MEDIUM", "HIGH")[(row + version) % 3]
                writer.writerow([f"sync-{row}", f"Synced ticket {row} (version {version})", "1", priority])
        return str(path)

    upsert = BatchUpsertTicketsOperator(
        task_id="upsert_tickets", inputs_path=write_source(), id_property="external_id"
    )
    read = BatchReadTicketsOperator(
        task_id="read_back", ids=upsert.output, properties=["subject", "hs_ticket_priority", "external_id"]
    )

    @task
    def summarise(upserted: list[dict[str, Any]], read_back: list[dict[str, Any]]) -> dict[str, Any]:
        stored = {
            record["properties"]["external_id"]: record["properties"]["subject"] for record in read_back
        }
        sent = {record["properties"]["external_id"]: record["properties"]["subject"] for record in upserted}
        if stored != sent:
            raise ValueError(f"read back {len(stored)} tickets that differ from the {len(sent)} upserted")
        created = sum(1 for record in upserted if record["new"])
        print(f"Upserted {len(upserted)} tickets: {created} new, {len(upserted) - created} updated.")
        return {"new": created, "updated": len(upserted) - created, "read": len(read_back)}

    summarise(upsert.output, read.output)


hubspot_tickets_sync()
