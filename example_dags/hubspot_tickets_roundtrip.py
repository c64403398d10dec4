"""Create tickets from a templated JSON file, read them back with history, summarise.

The connection ``hubspot_default`` must point at HubSpot or at the local sandbox
(``python -m airflow_provider_hubtix.sandbox``); see README.md, "The two commands".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator, BatchReadTicketsOperator

DATA = Path(__file__).parent / "data"


@dag(
    dag_id="hubspot_tickets_roundtrip",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    template_searchpath=[str(DATA)],
    tags=["hubspot", "example"],
    doc_md=__doc__,
)
def hubspot_tickets_roundtrip() -> None:
    """Create → read with history → summary."""
    create = BatchCreateTicketsOperator(
        task_id="create_tickets",
        inputs="sample_tickets.json",  # a Jinja template: external ids carry the run id
        id_property="external_id",
    )
    read = BatchReadTicketsOperator(
        task_id="read_tickets",
        ids=create.output,
        properties=["subject", "hs_ticket_priority", "external_id"],
        properties_with_history=["hs_pipeline_stage"],
    )

    @task
    def summarise(
        created: list[dict[str, Any]], read_back: list[dict[str, Any]], ti: Any = None
    ) -> dict[str, int]:
        errors = ti.xcom_pull(task_ids="create_tickets", key="errors") or []
        read_ids = {record["id"] for record in read_back}
        missing = [record["id"] for record in created if record["id"] not in read_ids]
        print(f"Created {len(created)} tickets, read back {len(read_back)}, {len(errors)} inputs failed.")
        for record in sorted(read_back, key=lambda r: r["properties"]["external_id"])[:5]:
            stages = [h["value"] for h in record["propertiesWithHistory"]["hs_pipeline_stage"]]
            print(f"  #{record['id']} {record['properties']['subject']!r} stage history {stages}")
        if missing:
            raise ValueError(f"created tickets not read back: {missing}")
        return {"created": len(created), "read": len(read_back), "failed": len(errors)}

    summarise(create.output, read.output)


hubspot_tickets_roundtrip()
