"""DAGs the deployment tests run beside the examples: a create that a test kills mid-way (it has
retries and resumes from its local ``output_path``), and a create → read round trip on S3."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import dag

from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator, BatchReadTicketsOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(
    dag_id="hubtix_kill_resume",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"inputs_path": "", "output_path": ""},
)
def hubtix_kill_resume() -> None:
    """One slow create (20 inputs per batch against a sandbox with latency), retried once."""
    BatchCreateTicketsOperator(
        task_id="create",
        inputs_path="{{ params.inputs_path }}",
        output_path="{{ params.output_path }}",
        id_property="external_id",
        hubspot_conn_id="hubspot_slow",
        batch_size=20,
        max_concurrency=2,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )


@dag(
    dag_id="hubtix_s3_roundtrip",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"inputs_path": "", "output_path": ""},
)
def hubtix_s3_roundtrip() -> None:
    """Create from an S3 object into an S3 folder; read back what its ``results.jsonl`` lists."""
    create = BatchCreateTicketsOperator(
        task_id="create",
        inputs_path="{{ params.inputs_path }}",
        output_path="{{ params.output_path }}",
        id_property="external_id",
    )
    BatchReadTicketsOperator(task_id="read", ids=create.output, properties=["external_id"])


hubtix_kill_resume()
hubtix_s3_roundtrip()
