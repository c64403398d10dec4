"""The operators: parse-time checks, templates, XCom shapes, output files, failing, resuming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
import pytest
import requests_mock as rm

from airflow_provider_hubtix.exceptions import HubSpotInputError, HubSpotRecordsFailedError
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator, BatchReadTicketsOperator
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.unit.conftest import CREATE_URL, READ_URL, set_connection


class TaskInstance:
    """Records what the operator pushes."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, hubspot_sandbox: HubSpotSandbox) -> HubSpotSandbox:
    set_connection(monkeypatch, host=hubspot_sandbox.url, password="sandbox-token")
    return hubspot_sandbox


def tickets(count: int, *, bad_every: int = 0, prefix: str = "e") -> list[dict[str, str]]:
    return [
        {
            "subject": f"Ticket {i}",
            "hs_pipeline_stage": "1",
            "hs_ticket_priority": "NOPE" if bad_every and i % bad_every == 0 else "LOW",
            "external_id": f"{prefix}{i}",
        }
        for i in range(count)
    ]


NOT_FOUND = {"category": "OBJECT_NOT_FOUND", "message": "Could not get some TICKET objects", "context": {}}


def run(operator: Any) -> tuple[Any, TaskInstance]:
    ti = TaskInstance()
    return operator.execute({"ti": ti}), ti


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "got neither"),
        ({"inputs": [], "inputs_path": "x.json"}, "got both"),
        ({"inputs": [], "batch_size": 101}, "batch_size must be an integer from 1 to 100"),
        ({"inputs": [], "max_concurrency": 0}, "max_concurrency must be a positive integer"),
        ({"inputs": [], "daily_reserve": -1}, "daily_reserve=-1 is negative"),
        ({"inputs": [], "daily_reserve": "lots"}, "daily_reserve='lots' is not a number"),
        ({"inputs": [], "daily_reserve": "200%"}, r"daily_reserve='200%' is outside 0% to 100%"),
    ],
)
def test_create_parameters_checked_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(HubSpotInputError, match=message):
        BatchCreateTicketsOperator(task_id="create", **kwargs)


def test_read_parameters_checked_at_parse_time() -> None:
    with pytest.raises(HubSpotInputError, match="got neither"):
        BatchReadTicketsOperator(task_id="read")
    with pytest.raises(HubSpotInputError, match="properties_with_history must be a list"):
        BatchReadTicketsOperator(task_id="read", ids=[1], properties_with_history=[3])
    with pytest.raises(HubSpotInputError, match=r"Task 'read': daily_reserve='-5%' is outside 0% to 100%"):
        BatchReadTicketsOperator(task_id="read", ids=[1], daily_reserve="-5%")


def test_operator_daily_reserve_wins_over_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, extra={"daily_reserve": "50%"})
    for operator in (
        BatchCreateTicketsOperator(task_id="create", inputs=[], daily_reserve="1%"),
        BatchReadTicketsOperator(task_id="read", ids=[1], daily_reserve="1%"),
    ):
        assert operator.hook.daily_budget.reserve.requests(1000) == 10


def test_invalid_input_sends_no_request(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    set_connection(monkeypatch)
    operator = BatchCreateTicketsOperator(task_id="create", inputs=[*tickets(3), {"subject": {"nested": 1}}])
    with pytest.raises(HubSpotInputError, match=r"Input 3 \(item 3\): property 'subject' is a dict"):
        run(operator)
    assert requests_mock.call_count == 0


def test_malformed_csv_names_the_line(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    set_connection(monkeypatch)
    path = tmp_path / "t.csv"
    path.write_text("subject,hs_pipeline_stage\nA,1\nB\n")
    with pytest.raises(HubSpotInputError, match="line 3 has 1 fields"):
        run(BatchCreateTicketsOperator(task_id="create", inputs_path=str(path)))
    assert requests_mock.call_count == 0


def test_xcom_without_output_path(sandbox: HubSpotSandbox) -> None:
    result, ti = run(
        BatchCreateTicketsOperator(task_id="create", inputs=tickets(150, bad_every=37), fail_on_error=False)
    )
    assert sorted(r["input_index"] for r in result) == [i for i in range(150) if i % 37]
    assert (
        ti.xcom["errors"] == sorted(ti.xcom["errors"], key=lambda e: e["input_index"])
        or len(ti.xcom["errors"]) == 5
    )
    assert {e["input_index"] for e in ti.xcom["errors"]} == {0, 37, 74, 111, 148}
    assert all(
        e["category"] == "VALIDATION_ERROR" and "INVALID_OPTION" in e["message"] for e in ti.xcom["errors"]
    )
    assert sandbox.ticket_count == 145


def test_fail_on_error_fails_after_pushing_everything(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    ti = TaskInstance()
    operator = BatchCreateTicketsOperator(
        task_id="create", inputs=tickets(80, bad_every=37), output_path=str(tmp_path)
    )
    with pytest.raises(HubSpotRecordsFailedError) as info:
        operator.execute({"ti": ti})
    message = str(info.value)
    assert message.startswith("3 of 80 inputs failed (77 created)")
    assert "input 0: 207 VALIDATION_ERROR" in message and "input 74:" in message
    assert ti.xcom["return_value"] == {
        "results_path": str(tmp_path / "results.jsonl"),
        "errors_path": str(tmp_path / "errors.jsonl"),
        "total": 80,
        "created": 77,
        "failed": 3,
    }
    assert ti.xcom["errors"] == str(tmp_path / "errors.jsonl")
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert sorted([r["input_index"] for r in results] + [e["input_index"] for e in errors]) == list(range(80))
    assert errors[0]["input"]["hs_ticket_priority"] == "NOPE"


def test_read_chains_from_create_outputs(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    created, _ = run(
        BatchCreateTicketsOperator(task_id="create", inputs=tickets(120), output_path=str(tmp_path / "c"))
    )
    result, ti = run(
        BatchReadTicketsOperator(
            task_id="read",
            ids=created,
            properties=["subject"],
            properties_with_history=["hs_pipeline_stage"],
            output_path=str(tmp_path / "r"),
        )
    )
    assert result["read"] == 120 and result["failed"] == 0
    assert sandbox.stats().by_endpoint["batch_read"] == 3  # 50 per batch with history
    records = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert records[0]["propertiesWithHistory"]["hs_pipeline_stage"][0]["value"] == "1"
    in_memory, ti = run(
        BatchReadTicketsOperator(task_id="read", ids_path=str(tmp_path / "c" / "results.jsonl"))
    )
    assert len(in_memory) == 120 and ti.xcom["errors"] == []


def test_read_by_id_property_from_csv(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    run(BatchCreateTicketsOperator(task_id="create", inputs=tickets(3)))
    path = tmp_path / "ids.csv"
    path.write_text("external_id,note\ne0,x\ne2,y\nmissing,z\n")
    result, ti = run(
        BatchReadTicketsOperator(
            task_id="read", ids_path=str(path), id_property="external_id", fail_on_error=False
        )
    )
    assert sorted(r["properties"]["external_id"] for r in result) == ["e0", "e2"]
    assert [(e["id"], e["category"]) for e in ti.xcom["errors"]] == [("missing", "OBJECT_NOT_FOUND")]


def test_resume_skips_what_an_earlier_try_created(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tickets(300)))
    out = tmp_path / "out"
    run(
        BatchCreateTicketsOperator(
            task_id="create", inputs_path=str(path), output_path=str(out), id_property="external_id"
        )
    )
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:120]) + lines[120][:25])  # a kill mid-write
    result, _ = run(
        BatchCreateTicketsOperator(
            task_id="create", inputs_path=str(path), output_path=str(out), id_property="external_id"
        )
    )
    assert result["created"] == 300 and result["failed"] == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["input_index"] for r in records) == list(range(300))
    assert sandbox.ticket_count == 300 and not sandbox.duplicates("external_id")
    assert sum(1 for r in records if r["new"] is False) == 180  # re-sent, found existing, not duplicated


def test_resume_refuses_other_inputs(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    run(BatchCreateTicketsOperator(task_id="create", inputs=tickets(5), output_path=str(tmp_path)))
    with pytest.raises(HubSpotInputError, match="different inputs"):
        run(BatchCreateTicketsOperator(task_id="create", inputs=tickets(6), output_path=str(tmp_path)))


def test_templates_load_inline_files_but_keep_paths(tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import DAG

    (tmp_path / "tickets.json").write_text('[{"subject": "{{ params.who }}", "hs_pipeline_stage": "1"}]')
    (tmp_path / "data.json").write_text("[]")
    with DAG(
        "templating",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1),
        template_searchpath=[str(tmp_path)],
    ):
        inline = BatchCreateTicketsOperator(task_id="inline", inputs="tickets.json")
        by_path = BatchCreateTicketsOperator(
            task_id="by_path",
            inputs_path=str(tmp_path / "data.json"),
            output_path=str(tmp_path / "{{ params.who }}"),
        )
    context: Any = {"params": {"who": "ada"}}
    for operator in (inline, by_path):
        operator.resolve_template_files()
        operator.render_template_fields(context)
    assert json.loads(inline.inputs) == [{"subject": "ada", "hs_pipeline_stage": "1"}]
    assert by_path.inputs_path == str(tmp_path / "data.json")
    assert by_path.output_path == str(tmp_path / "ada")


def test_operator_uses_connection_and_batches(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    set_connection(monkeypatch)

    def answer(request: Any, context: Any) -> dict[str, Any]:
        inputs = request.json()["inputs"]
        context.status_code = 201
        return {
            "results": [{"id": str(i), "properties": item["properties"]} for i, item in enumerate(inputs)]
        }

    requests_mock.post(CREATE_URL, json=answer)
    result, _ = run(BatchCreateTicketsOperator(task_id="create", inputs=tickets(230), batch_size=50))
    assert requests_mock.call_count == 5
    assert len(result) == 230
    assert all(
        len(r.json()["inputs"]) <= 50 and all(i["associations"] == [] for i in r.json()["inputs"])
        for r in requests_mock.request_history
    )


def test_whole_batch_400_stops_the_run(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    from airflow_provider_hubtix.exceptions import HubSpotValidationError

    set_connection(monkeypatch)
    ok = {
        "status_code": 201,
        "json": {"results": [{"id": str(i), "properties": {"external_id": f"e{i}"}} for i in range(10)]},
    }
    shape = {
        "status_code": 400,
        "json": {"category": "VALIDATION_ERROR", "message": "Invalid input JSON on line 1"},
    }
    requests_mock.post(CREATE_URL, [ok, shape])
    requests_mock.post(READ_URL, status_code=207, json={"results": [], "errors": [NOT_FOUND]})
    ti = TaskInstance()
    operator = BatchCreateTicketsOperator(
        task_id="create", inputs=tickets(50), batch_size=10, max_concurrency=1, id_property="external_id"
    )
    with pytest.raises(HubSpotValidationError, match="Invalid input JSON on line 1"):
        operator.execute({"ti": ti})
    # one read (the wording does not rule out an existing ticket) found none: the 400 stands
    assert [r.url.split("/")[-1] for r in requests_mock.request_history] == [
        "create",
        "create",
        "read?archived=false",
    ]
    assert len(ti.xcom["return_value"]) == 10
    categories = [e["category"] for e in ti.xcom["errors"]]
    assert categories.count("VALIDATION_ERROR") == 10 and categories.count("NOT_ATTEMPTED") == 30


DUPLICATE_400_MESSAGES = {
    "hubspot": 'Property values were not valid: [{"isValid":false,"message":"e1 already has that value",'
    '"error":"INVALID_PROPERTY_VALUE","name":"external_id"}]',
    "conflict": "A ticket with external_id e1 already exists",
    "opaque": "Request rejected (reference 0x7f3a).",
}


@pytest.mark.parametrize("style", sorted(DUPLICATE_400_MESSAGES))
def test_whole_batch_400_for_an_existing_ticket_creates_the_others(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, style: str
) -> None:
    set_connection(monkeypatch)
    rejected = {
        "status_code": 400,
        "json": {"category": "VALIDATION_ERROR", "message": DUPLICATE_400_MESSAGES[style]},
    }

    def created(request: Any, context: Any) -> dict[str, Any]:
        context.status_code = 201
        return {"results": [{"id": "9", "properties": i["properties"]} for i in request.json()["inputs"]]}

    requests_mock.post(CREATE_URL, [rejected, {"json": created}])
    existing = {"id": "1", "properties": {"external_id": "e1", "subject": "Ticket 1"}}
    requests_mock.post(READ_URL, status_code=207, json={"results": [existing], "errors": [NOT_FOUND]})
    result, ti = run(
        BatchCreateTicketsOperator(task_id="create", inputs=tickets(3), id_property="external_id")
    )
    assert ti.xcom["errors"] == []
    assert sorted((r["input_index"], r["new"]) for r in result) == [(0, True), (1, False), (2, True)]
    resent = requests_mock.request_history[2].json()["inputs"]
    assert [i["properties"]["external_id"] for i in resent] == ["e0", "e2"]


def test_openlineage_datasets(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the openlineage provider is optional")
    host = sandbox.url.removeprefix("http://")
    create = BatchCreateTicketsOperator(
        task_id="create", inputs_path=str(tmp_path / "in.jsonl"), output_path="s3://bucket/runs/1"
    )
    lineage = create.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(tmp_path / "in.jsonl"))]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"hubspot://{host}", "crm.objects.tickets"),
        ("s3://bucket", "runs/1"),
    ]
    read = BatchReadTicketsOperator(task_id="read", ids=[1])
    lineage = read.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"hubspot://{host}", "crm.objects.tickets")]
    assert lineage.outputs == []


def test_object_storage_paths(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    (tmp_path / "in.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tickets(130)))
    (tmp_path / "out").mkdir()
    source = ObjectStoragePath(f"file://{tmp_path}/in.jsonl")
    folder = ObjectStoragePath(f"file://{tmp_path}/out")
    result, ti = run(BatchCreateTicketsOperator(task_id="create", inputs_path=source, output_path=folder))
    assert result["created"] == 130 and result["failed"] == 0
    assert result["results_path"].endswith("out/results.jsonl")
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 130
    assert ti.xcom["errors"].endswith("out/errors.jsonl")


def test_a_read_chained_from_a_create_that_created_nothing_reads_nothing(
    sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    created, _ = run(
        BatchCreateTicketsOperator(
            task_id="create",
            inputs=[{"subject": "x", "hs_ticket_priority": "NOPE"}],
            output_path=str(tmp_path / "c"),
            fail_on_error=False,
        )
    )
    assert created["created"] == 0 and (tmp_path / "c" / "results.jsonl").read_text() == ""
    result, _ = run(BatchReadTicketsOperator(task_id="read", ids=created, output_path=str(tmp_path / "r")))
    assert result["read"] == 0 and result["failed"] == 0
    assert "batch_read" not in sandbox.stats().by_endpoint
