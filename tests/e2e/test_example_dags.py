"""The example DAGs run to success in a real Airflow against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.e2e.conftest import dag_bag, load_dag, task_states, xcom

pytestmark = pytest.mark.e2e


def test_dagbag_imports_the_examples_without_errors(dags_folder: Path) -> None:
    bag = dag_bag(dags_folder)
    assert bag.import_errors == {}
    assert {
        "hubspot_tickets_roundtrip",
        "hubspot_tickets_from_xcom",
        "hubspot_tickets_backfill",
        "hubspot_tickets_sync",
    } <= set(bag.dag_ids)


def test_roundtrip(dags_folder: Path, sandbox: HubSpotSandbox) -> None:
    run = load_dag(dags_folder, "hubspot_tickets_roundtrip").test()
    assert task_states(run) == {
        "create_tickets": "success",
        "read_tickets": "success",
        "summarise": "success",
    }
    assert xcom(run, "summarise") == {"created": 25, "read": 25, "failed": 0}
    assert sandbox.ticket_count == 25 and not sandbox.duplicates("external_id")


def test_from_xcom_routes_errors(dags_folder: Path, sandbox: HubSpotSandbox) -> None:
    run = load_dag(dags_folder, "hubspot_tickets_from_xcom").test()
    assert set(task_states(run).values()) == {"success"}
    summary = xcom(run, "dead_letter")
    assert summary["created"] == 9 and summary["rejected"] == 3
    assert len(Path(summary["dead_letter_path"]).read_text().splitlines()) == 3
    assert sandbox.ticket_count == 9


def test_backfill_shards(dags_folder: Path, sandbox: HubSpotSandbox) -> None:
    run = load_dag(dags_folder, "hubspot_tickets_backfill").test()
    assert task_states(run) == {"write_shards": "success", "create_shard": "success", "summarise": "success"}
    assert xcom(run, "summarise") == {"total": 1000, "created": 1000, "failed": 0}
    assert sandbox.ticket_count == 1000 and not sandbox.duplicates("external_id")


MIXED_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import dag
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator

@dag(dag_id="hubspot_mixed_validity", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def mixed():
    BatchCreateTicketsOperator(
        task_id="create",
        inputs=[
            {"subject": f"Mixed {i}", "hs_pipeline_stage": "1",
             "hs_ticket_priority": "BAD" if i % 37 == 0 else "LOW"}
            for i in range(150)
        ],
        output_path="OUTPUT/{{ run_id | replace(':', '_') }}",
    )

mixed()
"""


def test_mixed_validity_fails_the_task_with_complete_outputs(
    dags_folder: Path, sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    (dags_folder / "hubspot_mixed_validity.py").write_text(MIXED_DAG.replace("OUTPUT", str(tmp_path)))
    run = load_dag(dags_folder, "hubspot_mixed_validity").test()
    assert task_states(run) == {"create": "failed"}
    (folder,) = tmp_path.iterdir()
    results = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    errors = [json.loads(line) for line in (folder / "errors.jsonl").read_text().splitlines()]
    assert sorted(r["input_index"] for r in results) == [i for i in range(150) if i % 37]
    assert sorted(e["input_index"] for e in errors) == [0, 37, 74, 111, 148]
    assert xcom(run, "create") == {
        "results_path": str(folder / "results.jsonl"),
        "errors_path": str(folder / "errors.jsonl"),
        "total": 150,
        "created": 145,
        "failed": 5,
    }
    assert sandbox.ticket_count == 145


CHAIN_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import dag, task
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator, BatchReadTicketsOperator

@dag(dag_id="hubspot_task_chain", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def chain():
    @task
    def build():
        return [
            {"subject": f"Chained {i}", "hs_pipeline_stage": "1", "external_id": f"chain-{i}"}
            for i in range(7)
        ]

    create = BatchCreateTicketsOperator(task_id="create", inputs=build(), id_property="external_id")
    read = BatchReadTicketsOperator(
        task_id="read", ids=create.output, id_property="external_id", properties=["subject"]
    )

    @task
    def check(created, read_back):
        assert sorted(r["id"] for r in created) == sorted(r["id"] for r in read_back)
        assert {r["properties"]["subject"] for r in read_back} == {f"Chained {i}" for i in range(7)}
        return len(read_back)

    check(create.output, read.output)

chain()
"""


def test_task_to_create_to_read_to_task(dags_folder: Path, sandbox: HubSpotSandbox) -> None:
    (dags_folder / "hubspot_task_chain.py").write_text(CHAIN_DAG)
    run = load_dag(dags_folder, "hubspot_task_chain").test()
    assert set(task_states(run).values()) == {"success"}
    assert xcom(run, "check") == 7


def test_sync_twice_updates_and_creates(dags_folder: Path, sandbox: HubSpotSandbox) -> None:
    dag = load_dag(dags_folder, "hubspot_tickets_sync")
    first = dag.test(run_conf={"version": 1})
    assert set(task_states(first).values()) == {"success"}
    assert xcom(first, "summarise") == {"new": 20, "updated": 0, "read": 20}
    second = dag.test(run_conf={"version": 2})
    assert set(task_states(second).values()) == {"success"}
    assert xcom(second, "summarise") == {"new": 10, "updated": 20, "read": 30}
    upserted = xcom(second, "upsert_tickets")
    assert sorted(r["input_index"] for r in upserted if r["new"] is False) == list(range(20))
    subjects = {t["properties"]["external_id"]: t["properties"]["subject"] for t in sandbox.tickets()}
    assert subjects == {f"sync-{i}": f"Synced ticket {i} (version 2)" for i in range(30)}
    assert not sandbox.duplicates("external_id")
