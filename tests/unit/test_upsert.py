"""Batch upsert: the hook's call, the operator's contract, checks before any request, ``new``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock as rm

from airflow_provider_hubtix.exceptions import HubSpotInputError, HubSpotRecordsFailedError
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from airflow_provider_hubtix.hooks.transport import RetryPolicy
from airflow_provider_hubtix.operators.tickets import BatchUpsertTicketsOperator
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.unit.conftest import BASE, set_connection
from tests.unit.test_operators import TaskInstance, run

UPSERT_URL = f"{BASE}/crm/v3/objects/tickets/batch/upsert"
INPUT = {"id": "e1", "idProperty": "external_id", "properties": {"subject": "a", "external_id": "e1"}}
UPSERTED = {"status": "COMPLETE", "results": [{"id": "7", "properties": {"external_id": "e1"}, "new": False}]}


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, hubspot_sandbox: HubSpotSandbox) -> HubSpotSandbox:
    set_connection(monkeypatch, host=hubspot_sandbox.url, password="sandbox-token")
    return hubspot_sandbox


def rows(count: int, *, version: int = 1, start: int = 0) -> list[dict[str, str]]:
    return [
        {"subject": f"Ticket {i} v{version}", "hs_pipeline_stage": "1", "external_id": f"u{i}"}
        for i in range(start, start + count)
    ]


def upsert(**kwargs: Any) -> BatchUpsertTicketsOperator:
    kwargs.setdefault("id_property", "external_id")
    return BatchUpsertTicketsOperator(task_id="upsert", **kwargs)


# -- the hook ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "path"),
    [
        ("v3", "/crm/v3/objects/tickets/batch/upsert"),
        ("2026-03", "/crm/objects/2026-03/tickets/batch/upsert"),
    ],
)
def test_hook_upserts_on_the_connections_path_style(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, api_version: str, path: str
) -> None:
    set_connection(monkeypatch, extra={"api_version": api_version})
    requests_mock.post(f"{BASE}{path}", json=UPSERTED)
    response = HubSpotTicketsHook().batch_upsert([INPUT])
    assert requests_mock.last_request.json() == {"inputs": [INPUT]}
    assert response.status_code == 200 and response.results[0]["new"] is False


@pytest.mark.parametrize(
    "first",
    [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 503, "json": {}}],
)
def test_hook_resends_an_upsert_after_a_lost_answer_or_5xx(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, sleeps: list[float], first: dict[str, Any]
) -> None:
    set_connection(monkeypatch)
    requests_mock.post(UPSERT_URL, [first, {"status_code": 200, "json": UPSERTED}])
    response = HubSpotTicketsHook(retry_policy=RetryPolicy(max_attempts=3)).batch_upsert([INPUT])
    assert requests_mock.call_count == 2 and response.attempts == 2
    assert response.outcome_uncertain is False  # re-sending an upsert cannot duplicate anything


def test_hook_refuses_more_than_100_upserts_before_sending(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    set_connection(monkeypatch)
    with pytest.raises(HubSpotInputError, match="batch upsert takes 1 to 100 inputs; got 101"):
        HubSpotTicketsHook().batch_upsert([INPUT] * 101)
    assert requests_mock.call_count == 0


# -- checks before any request ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": [], "id_property": None}, "id_property is required for an upsert"),
        ({"inputs": [], "id_property": " "}, "id_property must be one property name"),
        ({}, "got neither"),
        ({"inputs": [], "batch_size": 0}, "batch_size must be an integer from 1 to 100"),
        ({"inputs": {"subject": "x"}}, "got a single dict"),
    ],
)
def test_parameters_checked_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(HubSpotInputError, match=message):
        upsert(**kwargs)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [*rows(2), {"subject": "no id", "hs_pipeline_stage": "1"}],
            r"Input 2 \(item 2\) has no value for id_property 'external_id'",
        ),
        (
            [*rows(2), {"subject": "blank id", "external_id": ""}],
            r"Input 2 \(item 2\) has no value for id_property 'external_id'",
        ),
        (
            [*rows(3), {"subject": "again", "external_id": "u1"}],
            r"Input 3 \(item 3\) repeats id_property value 'u1' of input 1 \(item 1\)",
        ),
        (
            [{"properties": rows(1)[0], "associations": [{"to": {"id": "1"}, "types": []}]}],
            r"Input 0 \(item 0\) has associations; a HubSpot upsert cannot set them",
        ),
        ([{**rows(1)[0], "tags": ["a", "b"]}], r"Input 0 \(item 0\): property 'tags' is a list"),
        ([{**rows(1)[0], "content": "x" * 65_537}], "HubSpot stores at most 65,536"),
    ],
)
def test_bad_inputs_are_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, inputs: list[Any], message: str
) -> None:
    set_connection(monkeypatch)
    with pytest.raises(HubSpotInputError, match=message):
        run(upsert(inputs=inputs))
    assert requests_mock.call_count == 0


def test_empty_associations_are_accepted(sandbox: HubSpotSandbox) -> None:
    result, _ = run(upsert(inputs=[{"properties": rows(1)[0], "associations": []}]))
    assert [r["new"] for r in result] == [True]


# -- outcomes ------------------------------------------------------------------------------------


def test_creates_new_and_updates_existing_with_new_flags(sandbox: HubSpotSandbox) -> None:
    first, _ = run(upsert(inputs=rows(3)))
    assert sorted((r["input_index"], r["new"]) for r in first) == [(0, True), (1, True), (2, True)]
    second, ti = run(upsert(inputs=rows(4, version=2)))
    assert sorted((r["input_index"], r["new"]) for r in second) == [
        (0, False),
        (1, False),
        (2, False),
        (3, True),
    ]
    assert ti.xcom["errors"] == []
    by_id = {r["properties"]["external_id"]: r for r in second}
    assert {r["id"] for r in first} <= {r["id"] for r in second}  # the same tickets, updated
    assert by_id["u2"]["properties"]["subject"] == "Ticket 2 v2"
    assert sandbox.ticket_count == 4 and not sandbox.duplicates("external_id")
    assert {t["properties"]["subject"] for t in sandbox.tickets()} == {f"Ticket {i} v2" for i in range(4)}
    assert sandbox.stats().by_endpoint == {"batch_upsert": 2}


def test_csv_of_2000_rows_half_existing(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    run(upsert(inputs=rows(1000, start=0)))
    source = tmp_path / "source.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["subject", "hs_pipeline_stage", "external_id"])
        writer.writeheader()
        writer.writerows(rows(2000, version=2))
    result, _ = run(upsert(inputs_path=str(source), output_path=str(tmp_path / "out")))
    assert result["total"] == 2000 and result["upserted"] == 2000 and result["failed"] == 0
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["input_index"] for r in records) == list(range(2000))
    assert sum(r["new"] is False for r in records) == 1000
    assert {r["input_index"] for r in records if r["new"]} == set(range(1000, 2000))
    assert sandbox.ticket_count == 2000 and not sandbox.duplicates("external_id")
    assert all(t["properties"]["subject"].endswith(" v2") for t in sandbox.tickets())


def test_per_input_rejections_are_error_records_and_fail_the_task(
    sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    inputs = rows(5)
    inputs[3]["hs_ticket_priority"] = "URGENT"
    ti = TaskInstance()
    with pytest.raises(HubSpotRecordsFailedError, match="1 of 5 inputs failed"):
        upsert(inputs=inputs, output_path=str(tmp_path)).execute({"ti": ti})
    (error,) = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert error["input_index"] == 3 and error["input"] == inputs[3]
    assert error["status"] == 207 and error["category"] == "VALIDATION_ERROR"
    assert "INVALID_OPTION" in error["message"]
    assert ti.xcom["return_value"]["upserted"] == 4
    assert sandbox.ticket_count == 4


def test_resume_skips_what_an_earlier_try_upserted(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows(250)))
    out = tmp_path / "out"
    run(upsert(inputs_path=str(source), output_path=str(out), max_concurrency=1))
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:150]))  # the earlier try stopped after 150
    before = sandbox.stats().by_endpoint["batch_upsert"]
    result, _ = run(upsert(inputs_path=str(source), output_path=str(out), max_concurrency=1))
    assert result["upserted"] == 250 and result["failed"] == 0
    assert sandbox.stats().by_endpoint["batch_upsert"] - before == 1  # only the 100 not recorded
    indexes = [json.loads(line)["input_index"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(indexes) == list(range(250))


def test_openlineage_input_file_flows_into_tickets(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the openlineage provider is optional")
    operator = upsert(inputs_path=str(tmp_path / "in.csv"), output_path=str(tmp_path / "out"))
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert [d.name for d in lineage.inputs] == [str(tmp_path / "in.csv")]
    assert [d.name for d in lineage.outputs] == ["crm.objects.tickets", str(tmp_path / "out")]
