"""Create tickets built by an upstream task; route the inputs HubSpot rejected to a dead-letter file.

``fail_on_error=False`` lets the run go on with partial success; the ``errors`` XCom lists every
rejected input with HubSpot's reason, and the downstream task writes them where a person (or a
repair DAG) can pick them up.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator


@dag(
    dag_id="hubspot_tickets_from_xcom",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def hubspot_tickets_from_xcom() -> None:
    """Build inputs → create → dead-letter the failures."""

    @task
    def build_inputs(run_id: str | None = None) -> list[dict[str, Any]]:
        priorities = ["LOW", "MEDIUM", "HIGH", "SOMEDAY"]  # "SOMEDAY" is not a HubSpot option
        return [
            {
                "subject": f"Follow-up call #{i}",
                "hs_pipeline_stage": "1",
                "hs_ticket_priority": priorities[i % 4],
                "external_id": f"xcom-{run_id}-{i}",
            }
            for i in range(12)
        ]

    create = BatchCreateTicketsOperator(
        task_id="create_tickets", inputs=build_inputs(), id_property="external_id", fail_on_error=False
    )

    @task
    def dead_letter(
        created: list[dict[str, Any]], ti: Any = None, run_id: str | None = None
    ) -> dict[str, Any]:
        errors = ti.xcom_pull(task_ids="create_tickets", key="errors") or []
        folder = Path(tempfile.gettempdir()) / "hubtix-dead-letter"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{(run_id or 'run').replace(':', '_')}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for error in errors:
                out.write(json.dumps({"input": error["input"], "reason": error["message"]}) + "\n")
        print(f"{len(created)} created; {len(errors)} rejected inputs written to {path}")
        return {"created": len(created), "rejected": len(errors), "dead_letter_path": str(path)}

    dead_letter(create.output)


hubspot_tickets_from_xcom()
