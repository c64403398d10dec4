"""HubSpotTicketsHook and its transport: connection, paths, parsing, retries, errors, OAuth, secrets."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
import requests_mock as rm
import tenacity

from airflow_provider_hubtix.exceptions import (
    HubSpotAuthError,
    HubSpotDailyLimitError,
    HubSpotDailyReserveError,
    HubSpotError,
    HubSpotInputError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotOutcomeUnknownError,
    HubSpotRateLimitError,
    HubSpotServerError,
    HubSpotValidationError,
)
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from airflow_provider_hubtix.hooks.transport import RetryPolicy, wait_retry_after
from tests.unit.conftest import BASE, CREATE_URL, READ_URL, TOKEN, set_connection

CREATED = {"status": "COMPLETE", "results": [{"id": "1", "properties": {"subject": "a"}}]}
TEN_SECONDLY = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c-1",
    "policyName": "TEN_SECONDLY_ROLLING",
}
DAILY = {**TEN_SECONDLY, "message": "You have reached your daily limit.", "policyName": "DAILY"}
INPUT = {
    "properties": {"subject": "a", "hs_pipeline_stage": "1"},
    "associations": [],
    "objectWriteTraceId": "t0",
}


def make_hook(**kwargs: Any) -> HubSpotTicketsHook:
    """A hook whose retries are quick to exhaust."""
    kwargs.setdefault("retry_policy", RetryPolicy(max_attempts=4, backoff_initial=1.0, backoff_max=8.0))
    return HubSpotTicketsHook(**kwargs)


@pytest.fixture(autouse=True)
def no_rate_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 pauses the limiter for real seconds; the tests check the retry wait instead."""
    monkeypatch.setattr("airflow_provider_hubtix.ratelimit.RateLimiter.pause", lambda self, seconds: None)


# -- connection ---------------------------------------------------------------------------------


def test_connection_from_env_var_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host="")
    settings = make_hook().settings
    assert settings.base_url == "https://api.hubapi.com"
    assert settings.api_version == "v3"
    assert settings.access_token == TOKEN
    assert settings.requests_per_10s is None
    assert settings.oauth is None


def test_connection_extras_are_used(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    set_connection(monkeypatch, extra={"api_version": "2026-03", "requests_per_10s": 190, "timeout": 12})
    hook = make_hook()
    requests_mock.post(f"{BASE}/crm/objects/2026-03/tickets/batch/create", status_code=201, json=CREATED)
    hook.batch_create([INPUT])
    assert hook.transport.rate_limiter.budget == 190
    assert requests_mock.last_request.timeout == 12
    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_operator_budget_wins_over_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, extra={"requests_per_10s": 190})
    assert make_hook(requests_per_10s=50).transport.rate_limiter.budget == 50


@pytest.mark.parametrize(("extra", "shared"), [({}, True), ({"share_rate_limit": "false"}, False)])
def test_processes_on_one_machine_share_the_rate_window_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], shared: bool
) -> None:
    set_connection(monkeypatch, extra=extra)
    assert (make_hook().transport.rate_limiter._shared is not None) is shared


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "api.hubapi.com"}, "without a scheme"),
        ({"extra": {"api_version": "v4"}}, "api_version 'v4'"),
        ({"password": ""}, "has no access token"),
        ({"extra": {"requests_per_10s": "many"}}, "positive integer"),
        ({"extra": {"daily_reserve": -10}}, "extra daily_reserve=-10 is negative"),
        ({"extra": {"daily_reserve": "half"}}, "extra daily_reserve='half' is not a number"),
        ({"extra": {"daily_reserve": "150%"}}, r"extra daily_reserve='150%' is outside 0% to 100%"),
        ({"extra": {"share_rate_limit": "maybe"}}, "extra share_rate_limit is 'maybe'; use true or false"),
    ],
)
def test_bad_connection_is_explained(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], message: str
) -> None:
    set_connection(monkeypatch, **fields)
    with pytest.raises(HubSpotInputError, match=message):
        _ = make_hook().settings


def test_2026_03_read_path_and_body(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    set_connection(monkeypatch, extra={"api_version": "2026-03"})
    url = f"{BASE}/crm/objects/2026-03/tickets/batch/read"
    requests_mock.post(url, status_code=200, json={"status": "COMPLETE", "results": [{"id": "7"}]})
    response = make_hook().batch_read(
        [7, "8"], properties=["subject"], id_property="external_id", archived=True
    )
    assert response.status_code == 200
    assert requests_mock.last_request.qs == {"archived": ["true"]}
    assert requests_mock.last_request.json() == {
        "inputs": [{"id": "7"}, {"id": "8"}],
        "properties": ["subject"],
        "propertiesWithHistory": [],
        "idProperty": "external_id",
    }


@pytest.mark.parametrize(
    ("call", "kwargs", "message"),
    [
        ("batch_read", {"ids": "123"}, "ids must be a list, not the single string '123'"),
        ("batch_read", {"ids": ["1"], "properties": "subject"}, "properties must be a list, not the single"),
        (
            "batch_read",
            {"ids": ["1"], "properties_with_history": "subject"},
            "properties_with_history must be a list, not the single string 'subject'",
        ),
        ("batch_read", {"ids": ["1"], "properties": [""]}, "properties must be a list of property names"),
        ("batch_read", {"ids": {"id": "1"}}, "ids must be a list; got a dict"),
        ("batch_create", {"inputs": INPUT}, "inputs must be a list; got a dict"),
        ("batch_create", {"inputs": json.dumps([INPUT])}, "inputs must be a list, not the single string"),
    ],
)
def test_a_single_value_is_never_taken_as_a_list(
    connection: None, requests_mock: rm.Mocker, call: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(HubSpotInputError, match=message):
        getattr(make_hook(), call)(**kwargs)
    assert requests_mock.call_count == 0


def test_read_by_record_id_sends_empty_lists_and_no_id_property(
    connection: None, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(READ_URL, status_code=200, json={"results": []})
    make_hook().batch_read(["1"])
    assert requests_mock.last_request.json() == {
        "inputs": [{"id": "1"}],
        "properties": [],
        "propertiesWithHistory": [],
    }
    assert requests_mock.last_request.qs == {"archived": ["false"]}


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_is_success(connection: None, requests_mock: rm.Mocker, status: int) -> None:
    requests_mock.post(CREATE_URL, status_code=status, json=CREATED)
    response = make_hook().batch_create([INPUT])
    assert response.status_code == status
    assert response.results == CREATED["results"]
    assert response.errors == []


def test_207_is_parsed_not_raised(connection: None, requests_mock: rm.Mocker) -> None:
    error = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "bad",
        "context": {"objectWriteTraceId": ["t1"]},
    }
    requests_mock.post(CREATE_URL, status_code=207, json={**CREATED, "errors": [error], "numErrors": 1})
    response = make_hook().batch_create([INPUT, {**INPUT, "objectWriteTraceId": "t1"}])
    assert response.status_code == 207
    assert len(response.results) == 1
    assert response.errors == [error]


@pytest.mark.parametrize(
    ("call", "count", "limit"),
    [("create", 101, 100), ("read", 101, 100), ("history", 51, 50), ("create", 0, 100)],
)
def test_batch_size_limits_checked_before_any_request(
    connection: None, requests_mock: rm.Mocker, call: str, count: int, limit: int
) -> None:
    hook = make_hook()
    with pytest.raises(HubSpotInputError, match=f"1 to {limit} inputs; got {count}"):
        if call == "create":
            hook.batch_create([INPUT] * count)
        else:
            hook.batch_read(range(count), properties_with_history=["subject"] if call == "history" else ())
    assert requests_mock.call_count == 0


# -- retries ------------------------------------------------------------------------------------


def test_ten_secondly_429_waits_for_the_window_then_succeeds(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        CREATE_URL, [{"status_code": 429, "json": TEN_SECONDLY}, {"status_code": 201, "json": CREATED}]
    )
    response = make_hook().batch_create([INPUT], resend_unknown=False)
    assert response.status_code == 201
    assert requests_mock.call_count == 2
    assert len(sleeps) == 1 and sleeps[0] >= 0.5
    assert response.outcome_uncertain is False


def test_retry_after_header_is_honoured(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        CREATE_URL,
        [
            {"status_code": 429, "json": TEN_SECONDLY, "headers": {"Retry-After": "3"}},
            {"status_code": 201, "json": CREATED},
        ],
    )
    make_hook().batch_create([INPUT])
    assert sleeps == [3.0]


def daily_headers(limit: int, remaining: int) -> dict[str, str]:
    return {"X-HubSpot-RateLimit-Daily": str(limit), "X-HubSpot-RateLimit-Daily-Remaining": str(remaining)}


@pytest.mark.parametrize(
    ("extra", "hook_reserve", "requests"),
    [
        ({}, None, 50),  # default 5%
        ({"daily_reserve": ""}, None, 50),
        ({"daily_reserve": "10%"}, None, 100),
        ({"daily_reserve": 7}, None, 7),
        ({"daily_reserve": "10%"}, "1000", 1000),  # the hook's (the operator's) wins
        ({"daily_reserve": "10%"}, 0, 0),
    ],
)
def test_daily_reserve_from_connection_or_hook(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], hook_reserve: Any, requests: int
) -> None:
    set_connection(monkeypatch, extra=extra)
    hook = make_hook(daily_reserve=hook_reserve)
    assert hook.transport.daily_budget is hook.daily_budget
    assert hook.daily_budget.reserve.requests(1000) == requests


def test_bad_hook_daily_reserve_is_rejected_before_the_connection_is_read() -> None:
    with pytest.raises(HubSpotInputError, match=r"daily_reserve='5 %%' is not a number"):
        make_hook(daily_reserve="5 %%")


def test_daily_reserve_reached_holds_the_next_request_back(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    set_connection(monkeypatch, extra={"daily_reserve": "5%"})
    requests_mock.post(CREATE_URL, status_code=201, json=CREATED, headers=daily_headers(1000, 51))
    hook = make_hook()
    hook.batch_create([INPUT])
    requests_mock.post(CREATE_URL, status_code=201, json=CREATED, headers=daily_headers(1000, 50))
    hook.batch_create([INPUT])
    with pytest.raises(HubSpotDailyReserveError) as info:
        hook.batch_create([INPUT])
    assert requests_mock.call_count == 2
    assert sleeps == []
    message = str(info.value)
    assert "50 of its 1,000 daily requests left" in message
    assert "daily_reserve '5%' (50 requests)" in message
    assert "resets at midnight in the account's time zone" in message
    assert info.value.stops_run and info.value.never_sent
    assert TOKEN not in message


@pytest.mark.parametrize("upsert", [False, True])
def test_a_retry_held_at_the_reserve_after_a_5xx_may_have_been_processed(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker, sleeps: list[float], upsert: bool
) -> None:
    """A 5xx may have been processed: the retry held back at the reserve is not "never sent"."""
    set_connection(monkeypatch, extra={"daily_reserve": "5%"})
    url = CREATE_URL.replace("create", "upsert") if upsert else CREATE_URL
    requests_mock.post(url, status_code=503, json={"message": "busy"}, headers=daily_headers(1000, 50))
    hook = make_hook()
    with pytest.raises(HubSpotDailyReserveError) as info:
        if upsert:
            hook.batch_upsert(
                [{"id": "e1", "idProperty": "external_id", "properties": {"external_id": "e1"}}]
            )
        else:
            hook.batch_create([INPUT])
    assert requests_mock.call_count == 1
    assert not info.value.never_sent
    assert "an earlier send of it may have been processed" in str(info.value)


def test_without_daily_headers_the_reserve_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    set_connection(monkeypatch, extra={"daily_reserve": "100%"})
    requests_mock.post(CREATE_URL, status_code=201, json=CREATED, headers={"X-HubSpot-RateLimit-Max": "110"})
    hook = make_hook()
    for _ in range(5):
        hook.batch_create([INPUT])
    assert requests_mock.call_count == 5


def test_daily_limit_stops_after_one_request(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        CREATE_URL, status_code=429, json=DAILY, headers={"X-HubSpot-RateLimit-Daily": "250000"}
    )
    with pytest.raises(HubSpotDailyLimitError, match="daily request limit") as info:
        make_hook().batch_create([INPUT])
    assert requests_mock.call_count == 1
    assert sleeps == []
    assert "250000" in str(info.value)
    assert info.value.stops_run is True


@pytest.mark.parametrize(
    ("status", "body", "exception"),
    [
        (
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
            HubSpotAuthError,
        ),
        (
            400,
            {"status": "error", "message": "Invalid input JSON", "category": "VALIDATION_ERROR"},
            HubSpotValidationError,
        ),
        (404, {"status": "error", "message": "Not found"}, HubSpotNotFoundError),
        (409, {"status": "error", "message": "conflict", "category": "CONFLICT"}, HubSpotError),
    ],
)
def test_client_errors_are_not_retried(
    connection: None,
    requests_mock: rm.Mocker,
    sleeps: list[float],
    status: int,
    body: dict[str, Any],
    exception: type[HubSpotError],
) -> None:
    requests_mock.post(CREATE_URL, status_code=status, json={**body, "correlationId": "corr-9"})
    with pytest.raises(exception) as info:
        make_hook().batch_create([INPUT])
    assert requests_mock.call_count == 1
    assert sleeps == []
    assert info.value.status == status
    assert info.value.correlation_id == "corr-9"
    assert info.value.hubspot_message == body["message"]


def test_missing_scopes_are_named(connection: None, requests_mock: rm.Mocker) -> None:
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "category": "MISSING_SCOPES",
        "errors": [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": ["tickets"]},
            }
        ],
    }
    requests_mock.post(CREATE_URL, status_code=403, json=body)
    with pytest.raises(HubSpotMissingScopesError, match="tickets") as info:
        make_hook().batch_create([INPUT])
    assert info.value.scopes == ["tickets"]
    assert info.value.stops_run is True
    assert requests_mock.call_count == 1


def test_5xx_twice_then_success_backs_off_exponentially(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        READ_URL,
        [
            {"status_code": 503, "text": "<html>busy</html>"},
            {"status_code": 502, "json": {}},
            {"status_code": 200, "json": {"results": []}},
        ],
    )
    make_hook().batch_read(["1"])
    assert requests_mock.call_count == 3
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] <= 2.0  # initial 1 s plus up to 1 s of jitter
    assert 2.0 <= sleeps[1] <= 3.0


def test_423_waits_at_least_two_seconds(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        READ_URL, [{"status_code": 423, "json": {}}, {"status_code": 200, "json": {"results": []}}]
    )
    make_hook().batch_read(["1"])
    assert sleeps and sleeps[0] >= 2.0


def test_read_timeout_on_a_read_is_retried(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        READ_URL, [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 200, "json": {"results": []}}]
    )
    assert make_hook().batch_read(["1"]).status_code == 200
    assert requests_mock.call_count == 2


def test_attempts_are_bounded(connection: None, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    requests_mock.post(READ_URL, status_code=503, json={"message": "down"})
    with pytest.raises(HubSpotServerError, match="503"):
        make_hook(retry_policy=RetryPolicy(max_attempts=3)).batch_read(["1"])
    assert requests_mock.call_count == 3


def test_retry_policy_takes_tenacity_pieces(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    """As HttpHook's retry_args: the caller's stop, wait and retry strategies replace the defaults."""
    requests_mock.post(READ_URL, status_code=503, json={"message": "down"})
    policy = RetryPolicy(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_fixed(0.5))
    with pytest.raises(HubSpotServerError, match="503"):
        make_hook(retry_policy=policy).batch_read(["1"])
    assert requests_mock.call_count == 2
    assert sleeps == [0.5]
    never = RetryPolicy(retry=tenacity.retry_never)
    with pytest.raises(HubSpotServerError, match="503"):
        make_hook(retry_policy=never).batch_read(["1"])
    assert requests_mock.call_count == 3


def test_wait_retry_after_waits_for_the_window_after_a_429_and_backs_off_otherwise() -> None:
    wait = wait_retry_after(tenacity.wait_fixed(3.0))

    def after(exc: BaseException) -> float:
        state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
        state.set_exception((type(exc), exc, None))
        return wait(state)

    assert after(HubSpotRateLimitError("429", retry_after=1.5)) == 1.5
    assert after(HubSpotServerError("503", retry_after=1.5)) == 3.0
    assert after(HubSpotServerError("503", retry_after=7.0)) == 7.0
    assert after(HubSpotServerError("503")) == 3.0


@pytest.mark.parametrize(
    "answer",
    [
        {"exc": requests.exceptions.ReadTimeout},
        {"exc": requests.exceptions.ConnectionError("reset")},
        {"status_code": 503, "json": {}},
    ],
)
def test_create_with_unknown_outcome_is_not_resent_when_asked(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float], answer: dict[str, Any]
) -> None:
    requests_mock.post(CREATE_URL, [answer, {"status_code": 201, "json": CREATED}])
    with pytest.raises(HubSpotOutcomeUnknownError, match="not re-sent") as info:
        make_hook().batch_create([INPUT], resend_unknown=False)
    assert requests_mock.call_count == 1
    assert info.value.outcome_unknown is True
    assert info.value.stops_run is False


def test_create_resent_after_unknown_outcome_is_flagged(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(CREATE_URL, [{"status_code": 503, "json": {}}, {"status_code": 201, "json": CREATED}])
    response = make_hook().batch_create([INPUT])
    assert response.outcome_uncertain is True
    assert response.attempts == 2


def test_connect_timeout_is_not_an_unknown_outcome(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        CREATE_URL, [{"exc": requests.exceptions.ConnectTimeout}, {"status_code": 201, "json": CREATED}]
    )
    response = make_hook().batch_create([INPUT], resend_unknown=False)
    assert response.status_code == 201
    assert response.outcome_uncertain is False


# -- OAuth --------------------------------------------------------------------------------------

OAUTH = {"client_id": "cid", "client_secret": "csecret-123", "refresh_token": "rtoken-456"}


def test_oauth_refresh_on_401_then_resend(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    set_connection(monkeypatch, password="expired-access", extra=OAUTH)
    requests_mock.post(
        f"{BASE}/oauth/2026-03/token", json={"access_token": "fresh-access", "expires_in": 1800}
    )
    requests_mock.post(
        CREATE_URL,
        [
            {"status_code": 401, "json": {"category": "EXPIRED_AUTHENTICATION", "message": "expired"}},
            {"status_code": 201, "json": CREATED},
        ],
    )
    assert make_hook().batch_create([INPUT]).status_code == 201
    token_call = requests_mock.request_history[1]
    assert token_call.url == f"{BASE}/oauth/2026-03/token"
    assert dict(token_call.qs) == {}
    form = dict(pair.split("=") for pair in token_call.text.split("&"))
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "csecret-123",
        "refresh_token": "rtoken-456",
    }
    assert requests_mock.last_request.headers["Authorization"] == "Bearer fresh-access"


def test_oauth_without_access_token_refreshes_first(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    set_connection(monkeypatch, password="", extra=OAUTH)
    requests_mock.post(
        f"{BASE}/oauth/2026-03/token", json={"access_token": "fresh-access", "expires_in": 1800}
    )
    requests_mock.post(CREATE_URL, status_code=201, json=CREATED)
    make_hook().batch_create([INPUT])
    assert [r.url for r in requests_mock.request_history] == [f"{BASE}/oauth/2026-03/token", CREATE_URL]


def test_failed_refresh_is_an_auth_error(monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker) -> None:
    set_connection(monkeypatch, password="expired-access", extra=OAUTH)
    requests_mock.post(
        f"{BASE}/oauth/2026-03/token",
        status_code=400,
        json={"status": "BAD_REFRESH_TOKEN", "message": "unknown rtoken-456"},
    )
    requests_mock.post(CREATE_URL, status_code=401, json={"message": "expired"})
    with pytest.raises(HubSpotAuthError, match="refresh") as info:
        make_hook().batch_create([INPUT])
    assert "rtoken-456" not in str(info.value)


# -- secrets ------------------------------------------------------------------------------------


def test_token_never_in_exceptions_or_logs(
    connection: None, requests_mock: rm.Mocker, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"status": "error", "message": f"token {TOKEN} is not valid", "category": "INVALID_AUTHENTICATION"}
    answers = [
        (401, echo),
        (400, {**echo, "category": "VALIDATION_ERROR"}),
        (403, {**echo, "category": "MISSING_SCOPES"}),
        (429, {**DAILY, "message": f"daily for {TOKEN}"}),
        (503, echo),
    ]
    texts = []
    for status, body in answers:
        requests_mock.post(CREATE_URL, status_code=status, json=body)
        with pytest.raises(HubSpotError) as info:
            make_hook(retry_policy=RetryPolicy(max_attempts=2)).batch_create([INPUT])
        texts += [
            str(info.value),
            repr(info.value),
            str(info.value.hubspot_message),
            json.dumps(info.value.context),
        ]
    texts.append(caplog.text)
    assert not [t for t in texts if TOKEN in t]


def test_tokens_are_registered_for_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_hubtix.hooks.tickets.mask_secret", masked.append)
    set_connection(monkeypatch, extra=OAUTH)
    _ = make_hook().settings
    assert {TOKEN, "csecret-123", "rtoken-456"} <= set(masked)


# -- test_connection ----------------------------------------------------------------------------


def test_test_connection_ok(connection: None, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{BASE}/crm/v3/objects/tickets", json={"results": []})
    ok, message = make_hook().test_connection()
    assert ok is True and "Connected" in message
    assert requests_mock.last_request.qs == {"limit": ["1"]}


def test_test_connection_reports_failure_without_token(connection: None, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{BASE}/crm/v3/objects/tickets", status_code=401, json={"message": f"bad {TOKEN}"})
    ok, message = make_hook().test_connection()
    assert ok is False
    assert "401" in message and TOKEN not in message


def test_environment_proxy_settings_are_still_used(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    """The transport reads the proxy environment once, not per request, but still honours it."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    set_connection(monkeypatch)
    seen: list[Any] = []
    hook = make_hook()
    session = hook.transport.session
    send = session.send

    def spy(request: requests.PreparedRequest, **kwargs: Any) -> Any:
        seen.append(kwargs.get("proxies"))
        return send(request, **kwargs)

    monkeypatch.setattr(session, "send", spy)
    requests_mock.post(CREATE_URL, json=CREATED)
    hook.batch_create([INPUT])
    hook.batch_create([INPUT])
    assert len(seen) == 2
    assert all(proxies and "proxy.example:3128" in proxies.get(BASE.split(":")[0], "") for proxies in seen)


def test_a_body_orjson_cannot_encode_exactly_goes_through_requests_json(
    connection: None, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(CREATE_URL, json=CREATED)
    hook = make_hook()
    hook.batch_create([INPUT])
    assert requests_mock.last_request.headers["Content-Type"] == "application/json"
    assert requests_mock.last_request.json() == {"inputs": [INPUT]}
    with_null = {**INPUT, "associations": [{"to": {"id": None}, "types": []}]}
    hook.batch_create([with_null])
    assert requests_mock.last_request.json() == {"inputs": [with_null]}


def test_netrc_credentials_never_replace_the_bearer_token(
    connection: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.hubapi.com login someone password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    requests_mock.get(f"{BASE}/crm/v3/objects/tickets", json={"results": []})
    requests_mock.post(READ_URL, json={"status": "COMPLETE", "results": []})
    hook = make_hook()
    assert hook.test_connection()[0]
    hook.batch_read(["1"])
    assert [r.headers["Authorization"] for r in requests_mock.request_history] == [f"Bearer {TOKEN}"] * 2


def test_every_error_has_one_root_and_input_errors_fail_without_retries() -> None:
    from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

    from airflow_provider_hubtix.errors import HubtixError, InvalidInputError
    from airflow_provider_hubtix.exceptions import HubSpotRecordsFailedError, input_errors

    for error in (HubSpotInputError, HubSpotRecordsFailedError, HubSpotServerError):
        assert issubclass(error, HubSpotError) and issubclass(error, AirflowException)
    assert issubclass(HubSpotInputError, AirflowFailException) and HubSpotInputError.stops_run
    assert issubclass(HubSpotError, HubtixError) and issubclass(InvalidInputError, HubtixError)
    with (
        pytest.raises(HubSpotInputError, match=r"^Task 't': batch_size is wrong\.$"),
        input_errors("Task 't':"),
    ):
        raise InvalidInputError("batch_size is wrong.")
