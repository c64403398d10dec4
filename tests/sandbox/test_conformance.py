"""The sandbox against HubSpot's documented behaviour (../shared/HUBSPOT.md), with raw requests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from airflow_provider_hubtix.sandbox.timing import TIMING_MODES, Timing

V3 = "/crm/v3/objects/tickets"
DATED = "/crm/objects/2026-03/tickets"
AUTH = {"Authorization": "Bearer sandbox-token"}


@pytest.fixture
def sb() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(seed=4) as sandbox:
        yield sandbox


def post(
    sandbox: HubSpotSandbox, path: str, body: Any, headers: dict[str, str] | None = None, **kw: Any
) -> requests.Response:
    return requests.post(
        sandbox.url + path, json=body, headers=AUTH if headers is None else headers, timeout=10, **kw
    )


def create_input(i: int, trace: bool = True, **props: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "properties": {"subject": f"T{i}", "hs_pipeline_stage": "1", "external_id": f"x{i}", **props},
        "associations": [],
    }
    if trace:
        item["objectWriteTraceId"] = f"trace-{i}"
    return item


@pytest.mark.parametrize("prefix", [V3, DATED])
def test_create_201_envelope_and_records(sb: HubSpotSandbox, prefix: str) -> None:
    response = post(sb, f"{prefix}/batch/create", {"inputs": [create_input(i) for i in range(3)]})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETE" and {"startedAt", "completedAt"} <= set(body)
    record = body["results"][0]
    assert record["id"].isdigit() and record["archived"] is False
    assert record["properties"]["hs_pipeline"] == "0" and "objectWriteTraceId" not in record
    for header in ("Max", "Remaining", "Interval-Milliseconds", "Daily", "Daily-Remaining"):
        assert f"X-HubSpot-RateLimit-{header}" in response.headers


def test_207_per_input_errors_carry_the_trace_id(sb: HubSpotSandbox) -> None:
    inputs = [create_input(0), create_input(1, hs_ticket_priority="URGENT"), create_input(2, missing="x")]
    response = post(sb, f"{V3}/batch/create", {"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert len(body["results"]) == 1 and body["numErrors"] == 2
    by_trace = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert by_trace["trace-1"]["category"] == "VALIDATION_ERROR"
    assert '"error":"INVALID_OPTION"' in by_trace["trace-1"]["message"]
    assert by_trace["trace-2"]["message"].startswith("Property values were not valid: [")
    assert json.loads(by_trace["trace-2"]["message"].split(": ", 1)[1])[0]["error"] == "PROPERTY_DOESNT_EXIST"


def test_without_trace_ids_one_bad_input_fails_the_whole_batch(sb: HubSpotSandbox) -> None:
    inputs = [create_input(0, trace=False), create_input(1, trace=False, hs_pipeline_stage="")]
    response = post(sb, f"{V3}/batch/create", {"inputs": inputs})
    assert response.status_code == 400
    assert (
        response.json()["category"] == "VALIDATION_ERROR"
        and "REQUIRED_PROPERTY" in response.json()["message"]
    )
    assert sb.ticket_count == 0


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": [{"properties": {"hs_pipeline_stage": "1"}}]},
        {"inputs": [{"associations": []}]},
        {"inputs": [create_input(i) for i in range(101)]},
    ],
)
def test_schema_and_size_violations_are_400(sb: HubSpotSandbox, body: dict[str, Any]) -> None:
    assert post(sb, f"{V3}/batch/create", body).status_code == 400
    assert sb.ticket_count == 0


def test_results_are_shuffled(sb: HubSpotSandbox) -> None:
    response = post(sb, f"{V3}/batch/create", {"inputs": [create_input(i) for i in range(50)]})
    subjects = [r["properties"]["subject"] for r in response.json()["results"]]
    assert sorted(subjects) == sorted(f"T{i}" for i in range(50)) and subjects != [f"T{i}" for i in range(50)]


def send_duplicates(sb: HubSpotSandbox, trace: bool = True) -> requests.Response:
    """Create x0, then send x0 again beside a new x1 and a second x1 in the same request."""
    post(sb, f"{V3}/batch/create", {"inputs": [create_input(0)]})
    again = {**create_input(0, trace), **({"objectWriteTraceId": "again"} if trace else {})}
    twin = {**create_input(1, trace), **({"objectWriteTraceId": "twin"} if trace else {})}
    return post(sb, f"{V3}/batch/create", {"inputs": [again, create_input(1, trace), twin]})


def test_duplicate_unique_value_is_a_validation_error_naming_the_property(sb: HubSpotSandbox) -> None:
    response = send_duplicates(sb)
    assert response.status_code == 207
    errors = {e["context"]["objectWriteTraceId"][0]: e for e in response.json()["errors"]}
    assert set(errors) == {"again", "twin"}
    message = errors["again"]["message"]
    assert errors["again"]["category"] == "VALIDATION_ERROR" and "already has that value" in message
    assert message.startswith("Property values were not valid: ")
    embedded = json.loads(message.removeprefix("Property values were not valid: "))
    assert [(p["isValid"], p["name"]) for p in embedded] == [(False, "external_id")]
    assert sb.ticket_count == 2 and not sb.duplicates("external_id")


def test_duplicate_without_trace_ids_fails_the_whole_batch(sb: HubSpotSandbox) -> None:
    response = send_duplicates(sb, trace=False)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert "already has that value" in response.json()["message"]
    assert sb.ticket_count == 1


def test_duplicate_styles_conflict_and_opaque() -> None:
    with HubSpotSandbox(seed=4, duplicate_style="conflict") as sb:
        errors = {e["context"]["objectWriteTraceId"][0]: e for e in send_duplicates(sb).json()["errors"]}
        assert errors["again"]["category"] == "CONFLICT"
        assert errors["again"]["context"]["propertyName"] == ["external_id"]
        sb.set_duplicate_style("opaque")
        again = {**create_input(0), "objectWriteTraceId": "opaque"}
        error = post(sb, f"{V3}/batch/create", {"inputs": [again]}).json()["errors"][0]
        assert "already" not in error["message"] and "[" not in error["message"]
        assert "external_id" not in error["message"] and sb.ticket_count == 2
        with pytest.raises(ValueError, match="duplicate_style must be one of"):
            sb.set_duplicate_style("polite")


def test_read_found_missing_id_property_history_and_archived(sb: HubSpotSandbox) -> None:
    created = post(sb, f"{V3}/batch/create", {"inputs": [create_input(i) for i in range(3)]}).json()[
        "results"
    ]
    ids = sorted(r["id"] for r in created)
    body = {
        "inputs": [{"id": ids[0]}, {"id": "42"}],
        "properties": ["subject"],
        "propertiesWithHistory": ["subject"],
    }
    response = post(sb, f"{V3}/batch/read", body, params={"archived": "false"})
    assert response.status_code == 207
    (record,) = response.json()["results"]
    assert set(record["properties"]) == {"subject"}
    assert record["propertiesWithHistory"]["subject"][0]["sourceType"] == "API"
    (error,) = response.json()["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND" and error["context"]["ids"] == ["42"]
    everything = post(
        sb,
        f"{DATED}/batch/read",
        {"inputs": [{"id": i} for i in ids], "properties": [], "propertiesWithHistory": []},
    )
    assert (
        everything.status_code == 200 and "hs_pipeline_stage" in everything.json()["results"][0]["properties"]
    )
    by_unique = {
        "inputs": [{"id": "x1"}],
        "properties": ["external_id"],
        "propertiesWithHistory": [],
        "idProperty": "external_id",
    }
    assert post(sb, f"{V3}/batch/read", by_unique).json()["results"][0]["properties"]["external_id"] == "x1"
    sb.archive(ids[1])
    one = {"inputs": [{"id": ids[1]}], "properties": [], "propertiesWithHistory": []}
    assert post(sb, f"{V3}/batch/read", one).status_code == 207
    assert (
        post(sb, f"{V3}/batch/read", one, params={"archived": "true"}).json()["results"][0]["archived"]
        is True
    )


def test_read_limits_and_required_lists(sb: HubSpotSandbox) -> None:
    many = [{"id": str(i)} for i in range(51)]
    response = post(
        sb, f"{V3}/batch/read", {"inputs": many, "properties": [], "propertiesWithHistory": ["subject"]}
    )
    assert response.status_code == 400
    assert "property histories is 50" in response.json()["message"]
    assert post(sb, f"{V3}/batch/read", {"inputs": many}).status_code == 400


def test_auth_401_and_403_bodies(sb: HubSpotSandbox) -> None:
    unknown = post(sb, f"{V3}/batch/create", {"inputs": []}, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401 and unknown.json()["category"] == "INVALID_AUTHENTICATION"
    scopeless = post(
        sb, f"{V3}/batch/create", {"inputs": []}, headers={"Authorization": "Bearer no-scope-token"}
    )
    assert scopeless.status_code == 403 and scopeless.json()["category"] == "MISSING_SCOPES"
    assert scopeless.json()["errors"][0]["context"]["requiredGranularScopes"] == ["tickets"]


def test_oauth_refresh_and_expiry(sb: HubSpotSandbox) -> None:
    sb.expire_access_tokens()
    expired = requests.get(sb.url + V3, headers=AUTH, params={"limit": 1}, timeout=10)
    assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    form = {
        "grant_type": "refresh_token",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "refresh_token": "sandbox-refresh",
    }
    token = requests.post(sb.url + "/oauth/v1/token", data=form, timeout=10).json()
    assert token["expires_in"] == 1800
    fresh = requests.get(
        sb.url + V3, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert fresh.status_code == 200 and "results" in fresh.json()
    assert "X-HubSpot-RateLimit-Max" in fresh.headers  # OAuth calls: the window, no daily limit
    assert "X-HubSpot-RateLimit-Daily" not in fresh.headers
    assert (
        requests.post(sb.url + "/oauth/v1/token", data={**form, "refresh_token": "x"}, timeout=10).status_code
        == 400
    )


OAUTH_FORM = {
    "grant_type": "refresh_token",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "refresh_token": "sandbox-refresh",
}


@pytest.mark.parametrize(("served", "gone"), [(("2026-03",), "v1"), (("v1",), "2026-03")])
def test_oauth_endpoint_switches(served: tuple[str, ...], gone: str) -> None:
    with HubSpotSandbox(oauth_versions=served) as sandbox:
        missing = requests.post(f"{sandbox.url}/oauth/{gone}/token", data=OAUTH_FORM, timeout=10)
        working = requests.post(f"{sandbox.url}/oauth/{served[0]}/token", data=OAUTH_FORM, timeout=10)
        assert missing.status_code == 404 and working.status_code == 200
        stats = sandbox.stats().by_endpoint
        assert stats[f"oauth_token_{gone}"] == 1 and stats[f"oauth_token_{served[0]}"] == 1
        assert stats["oauth_token"] == 2


def test_oauth_short_lifetime_rotation_and_camel_case() -> None:
    with HubSpotSandbox(
        token_lifetime_seconds=0, rotate_refresh_tokens=True, camel_case_tokens=True
    ) as sandbox:
        answer = requests.post(sandbox.url + "/oauth/2026-03/token", data=OAUTH_FORM, timeout=10).json()
        assert answer["expiresIn"] == 0 and answer["refreshToken"] != "sandbox-refresh"
        used = requests.get(
            sandbox.url + V3, headers={"Authorization": f"Bearer {answer['accessToken']}"}, timeout=10
        )
        assert used.status_code == 401 and used.json()["category"] == "EXPIRED_AUTHENTICATION"
        retired = requests.post(sandbox.url + "/oauth/2026-03/token", data=OAUTH_FORM, timeout=10)
        assert retired.status_code == 400
        rotated = {**OAUTH_FORM, "refresh_token": answer["refreshToken"]}
        assert (
            requests.post(sandbox.url + "/oauth/2026-03/token", data=rotated, timeout=10).status_code == 200
        )


def test_rolling_window_and_daily_limit() -> None:
    with HubSpotSandbox(rate=3, daily=5, window_seconds=0.5) as sandbox:
        statuses = [requests.get(sandbox.url + V3, headers=AUTH, timeout=10) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert (
            statuses[3].json()["policyName"] == "TEN_SECONDLY_ROLLING"
            and "Retry-After" not in statuses[3].headers
        )
        assert statuses[2].headers["X-HubSpot-RateLimit-Remaining"] == "0"
        time.sleep(0.6)
        later = [requests.get(sandbox.url + V3, headers=AUTH, timeout=10) for _ in range(3)]
        assert [r.status_code for r in later] == [200, 200, 429]
        assert later[2].json()["policyName"] == "DAILY"
        assert sandbox.stats().rate_limited == 2


def test_daily_headers_count_every_request_but_429s() -> None:
    with HubSpotSandbox(rate=2, daily=3, window_seconds=60) as sandbox:
        answers = [requests.get(sandbox.url + V3, headers=AUTH, timeout=10) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]  # the window is full
        assert [r.headers["X-HubSpot-RateLimit-Daily-Remaining"] for r in answers] == ["2", "1", "1"]
        assert {r.headers["X-HubSpot-RateLimit-Daily"] for r in answers} == {"3"}
        assert sandbox.stats().daily_used == 2
        sandbox.set_rate(rate=10)
        answers = [requests.get(sandbox.url + V3, headers=AUTH, timeout=10) for _ in range(2)]
        assert [r.status_code for r in answers] == [200, 429]
        assert answers[1].json()["policyName"] == "DAILY"
        assert [r.headers["X-HubSpot-RateLimit-Daily-Remaining"] for r in answers] == ["0", "0"]
        assert sandbox.stats().daily_used == 3


def test_faults_fail_before_and_lose_after_commit() -> None:
    with HubSpotSandbox(fail_rate=1.0, seed=2) as failing:
        response = post(failing, f"{V3}/batch/create", {"inputs": [create_input(0)]})
        assert response.status_code in (502, 503, 504) and failing.ticket_count == 0
        answers = [post(failing, f"{V3}/batch/create", {"inputs": [create_input(0)]}) for _ in range(20)]
        with_headers = ["X-HubSpot-RateLimit-Max" in r.headers for r in answers]
        assert any(with_headers) and not all(with_headers)  # HubSpot's own 5xx, and an edge's
    with HubSpotSandbox(lose_rate=1.0) as losing:
        with pytest.raises(requests.ConnectionError):
            post(losing, f"{V3}/batch/create", {"inputs": [create_input(0)]})
        assert losing.ticket_count == 1 and losing.stats().faults_lost == 1


def test_cli_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_hubtix.sandbox",
            "--port",
            "0",
            "--duplicate-style",
            "conflict",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("HubSpot sandbox listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert requests.get(url + V3, headers=AUTH, params={"limit": 1}, timeout=10).status_code == 200
        for _ in range(2):
            answer = requests.post(
                url + f"{V3}/batch/create", json={"inputs": [create_input(0)]}, headers=AUTH, timeout=10
            )
        assert answer.json()["errors"][0]["category"] == "CONFLICT"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_pytest_fixture(hubspot_sandbox: HubSpotSandbox) -> None:
    assert requests.get(hubspot_sandbox.url + V3, headers=AUTH, timeout=10).status_code == 200


def concurrent_gets(sandbox: HubSpotSandbox, count: int) -> list[tuple[float, requests.Response]]:
    """``count`` GETs sent at once, each with the moment its answer came back."""
    answers: list[tuple[float, requests.Response]] = []
    lock = threading.Lock()

    def get() -> None:
        response = requests.get(sandbox.url + V3, headers=AUTH, timeout=10)
        with lock:
            answers.append((time.monotonic(), response))

    threads = [threading.Thread(target=get) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(answers, key=lambda pair: pair[0])


def test_jitter_answers_come_back_out_of_order() -> None:
    """With jitter, an answer that comes later may show more room than an earlier one."""
    with HubSpotSandbox(rate=100, latency_ms=200, timing="jitter", seed=3) as sandbox:
        remaining = [int(r.headers["X-HubSpot-RateLimit-Remaining"]) for _, r in concurrent_gets(sandbox, 20)]
    assert sorted(remaining, reverse=True) != remaining


def test_slow_tail_and_arrival_spread_are_timed() -> None:
    slow = Timing(latency_ms=100, slow_share=1.0, slow_factor=3.0)
    with HubSpotSandbox(timing=slow) as sandbox:
        started = time.monotonic()
        requests.get(sandbox.url + V3, headers=AUTH, timeout=10)
        assert time.monotonic() - started >= 0.3
    spread = Timing(arrival_spread_ms=200)
    with HubSpotSandbox(timing=spread, seed=1) as sandbox:
        started = time.monotonic()
        concurrent_gets(sandbox, 10)
        stats = sandbox.stats()
        assert stats.requests == 10


def test_remaining_at_count_or_at_answer_time() -> None:
    """At count time the first request of a burst sees the room it left; at answer time, the room
    after everything counted meanwhile."""
    for mode, expected in (("count", 99), ("answer", 90)):
        timing = Timing(latency_ms=300, remaining_at=mode)  # type: ignore[arg-type]
        with HubSpotSandbox(rate=100, timing=timing) as sandbox:
            answers = concurrent_gets(sandbox, 10)
        assert max(int(r.headers["X-HubSpot-RateLimit-Remaining"]) for _, r in answers) == expected


def test_timing_modes_by_name_and_from_the_command_line() -> None:
    assert set(TIMING_MODES) >= {"fixed", "jitter", "tail", "spread", "answer-time"}
    with HubSpotSandbox(latency_ms=50, timing="tail") as sandbox:
        assert sandbox.timing.slow_share > 0 and sandbox.timing.latency_ms == 50
        sandbox.set_timing("answer-time")
        assert sandbox.timing.remaining_at == "answer" and sandbox.timing.latency_ms == 50
    with pytest.raises(ValueError, match="unknown timing mode"):
        HubSpotSandbox(timing="wobbly")
    with HubSpotSandbox(timing="jitter") as sandbox:  # jitter of no latency would be none
        assert sandbox.timing.latency_ms == 200 and sandbox.timing.jitter > 0
    with pytest.raises(ValueError, match="latency_ms, which is 0"):
        Timing(jitter=0.25)


def upsert_input(i: int, trace: bool = True, **props: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"x{i}",
        "idProperty": "external_id",
        "properties": {"subject": f"U{i}", "hs_pipeline_stage": "1", **props},
    }
    if trace:
        item["objectWriteTraceId"] = f"trace-{i}"
    return item


@pytest.mark.parametrize("prefix", [V3, DATED])
def test_upsert_creates_then_updates_with_new_flags(sb: HubSpotSandbox, prefix: str) -> None:
    post(sb, f"{prefix}/batch/create", {"inputs": [create_input(0)]})
    response = post(sb, f"{prefix}/batch/upsert", {"inputs": [upsert_input(0), upsert_input(1)]})
    assert response.status_code == 200
    results = {r["properties"]["external_id"]: r for r in response.json()["results"]}
    assert results["x0"]["new"] is False and results["x1"]["new"] is True
    assert results["x0"]["properties"]["subject"] == "U0"
    assert sb.ticket_count == 2 and sb.stats().updated == 1
    history = post(
        sb,
        f"{prefix}/batch/read",
        {
            "inputs": [{"id": "x0"}],
            "properties": [],
            "propertiesWithHistory": ["subject"],
            "idProperty": "external_id",
        },
    ).json()["results"][0]["propertiesWithHistory"]["subject"]
    assert [h["value"] for h in history] == ["U0", "T0"]  # newest first


def test_upsert_207_per_input_errors_and_400_without_trace_ids(sb: HubSpotSandbox) -> None:
    bad = upsert_input(1, hs_ticket_priority="URGENT")
    response = post(sb, f"{V3}/batch/upsert", {"inputs": [upsert_input(0), bad]})
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["context"] == {"objectWriteTraceId": ["trace-1"]} and "INVALID_OPTION" in error["message"]
    untraced = post(sb, f"{V3}/batch/upsert", {"inputs": [upsert_input(2, trace=False), {**bad, "id": "x3"}]})
    assert untraced.status_code == 400 and untraced.json()["category"] == "VALIDATION_ERROR"
    assert sb.ticket_count == 1  # nothing of the refused batch was written


def test_upsert_requires_the_stage_only_for_new_tickets(sb: HubSpotSandbox) -> None:
    post(sb, f"{V3}/batch/create", {"inputs": [create_input(0)]})
    update_only = {"id": "x0", "idProperty": "external_id", "properties": {"subject": "new subject"}}
    assert post(sb, f"{V3}/batch/upsert", {"inputs": [update_only]}).status_code == 200
    missing_stage = {**update_only, "id": "x9"}
    response = post(sb, f"{V3}/batch/upsert", {"inputs": [missing_stage]})
    assert response.status_code == 400 and "REQUIRED_PROPERTY" in response.json()["message"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([upsert_input(0), upsert_input(0)], "Duplicate IDs found in batch input: ['x0']"),
        ([{**upsert_input(0), "idProperty": "subject"}], "subject is not a unique identifier property"),
        ([{**upsert_input(0), "associations": []}], "associations is not a field of an upsert input"),
        ([{**upsert_input(0), "id": ""}], "inputs[0].id is required"),
        (
            [upsert_input(i) for i in range(101)],
            "The maximum number of inputs supported in a batch request is 100",
        ),
    ],
)
def test_upsert_refuses_bad_batches_with_400(sb: HubSpotSandbox, inputs: list[Any], message: str) -> None:
    response = post(sb, f"{V3}/batch/upsert", {"inputs": inputs})
    assert response.status_code == 400 and message in response.json()["message"]
    assert sb.ticket_count == 0


def test_upsert_faults_like_create(sb: HubSpotSandbox) -> None:
    sb.set_faults(fail_rate=1.0)
    assert post(sb, f"{V3}/batch/upsert", {"inputs": [upsert_input(0)]}).status_code in (502, 503, 504)
    assert sb.ticket_count == 0
    sb.set_faults(fail_rate=0.0, lose_rate=1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        post(sb, f"{V3}/batch/upsert", {"inputs": [upsert_input(0)]})
    assert sb.ticket_count == 1 and sb.stats().faults_lost == 1  # done, then the answer was lost
