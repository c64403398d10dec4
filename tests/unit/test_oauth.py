"""OAuth refresh: the 2026-03 token endpoint, v1 fallback, answer spellings, rotation, expiry, secrets."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
import requests
import requests_mock as rm

from airflow_provider_hubtix.exceptions import HubSpotAuthError, HubSpotError
from airflow_provider_hubtix.hooks import oauth
from airflow_provider_hubtix.hooks.oauth import OAuthCredentials, OAuthTokenSource
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from airflow_provider_hubtix.hooks.transport import RetryPolicy
from tests.unit.conftest import BASE, CREATE_URL, set_connection

NEW_URL = f"{BASE}/oauth/2026-03/token"
V1_URL = f"{BASE}/oauth/v1/token"
OAUTH = {"client_id": "cid", "client_secret": "csecret-123", "refresh_token": "rtoken-456"}
CREDENTIALS = OAuthCredentials("cid", "csecret-123", "rtoken-456")
CREATED = {"status": "COMPLETE", "results": [{"id": "1", "properties": {"subject": "a"}}]}
INPUT = {
    "properties": {"subject": "a", "hs_pipeline_stage": "1"},
    "associations": [],
    "objectWriteTraceId": "t0",
}
EXPIRED = {"status_code": 401, "json": {"category": "EXPIRED_AUTHENTICATION", "message": "expired"}}


@pytest.fixture(autouse=True)
def fresh_fallback_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a fresh process as far as the once-per-process fallback warning goes."""
    monkeypatch.setattr(oauth, "_FIRST_FALLBACK", oauth._Once())


@pytest.fixture
def oauth_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection with the three OAuth extras and no access token."""
    set_connection(monkeypatch, password="", extra=OAUTH)


def hook() -> HubSpotTicketsHook:
    return HubSpotTicketsHook(retry_policy=RetryPolicy(max_attempts=3, backoff_initial=0.0, backoff_max=0.0))


def form_of(request: rm.request._RequestObjectProxy) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.text).items()}


def token_calls(history: list[rm.request._RequestObjectProxy]) -> list[str]:
    return [r.url for r in history if "/oauth/" in r.url]


def test_refresh_goes_to_2026_03_with_the_form_in_the_body(
    oauth_only: None, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(NEW_URL, json={"access_token": "fresh-access", "expires_in": 1800})
    requests_mock.post(CREATE_URL, status_code=201, json=CREATED)
    hook().batch_create([INPUT])
    token_call, create_call = requests_mock.request_history
    assert token_call.url == NEW_URL and token_call.qs == {}
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(token_call) == {"grant_type": "refresh_token", **OAUTH}
    assert create_call.headers["Authorization"] == "Bearer fresh-access"


def test_v1_only_after_a_404_and_the_fallback_is_logged_once_per_process(
    oauth_only: None, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    requests_mock.post(NEW_URL, status_code=404, json={"message": "not found"})
    requests_mock.post(
        V1_URL, [{"json": {"access_token": f"v1-access-{i}", "expires_in": 1800}} for i in (1, 2)]
    )
    requests_mock.post(CREATE_URL, [EXPIRED, {"status_code": 201, "json": CREATED}])
    hook().batch_create([INPUT])  # no token: refresh; 401: refresh again
    hook().batch_create([INPUT])  # another hook, same process
    assert token_calls(requests_mock.request_history) == [NEW_URL, V1_URL, NEW_URL, V1_URL, NEW_URL, V1_URL]
    assert requests_mock.request_history[-1].headers["Authorization"] == "Bearer v1-access-2"
    fallbacks = [r for r in caplog.records if "answered 404 to POST /oauth/2026-03/token" in r.getMessage()]
    assert len(fallbacks) == 1 and fallbacks[0].levelno == logging.WARNING


@pytest.mark.parametrize("status", [400, 401, 403])
def test_other_refusals_do_not_fall_back_to_v1(
    oauth_only: None, requests_mock: rm.Mocker, status: int
) -> None:
    requests_mock.post(
        NEW_URL, status_code=status, json={"status": "BAD_REFRESH_TOKEN", "message": "unknown"}
    )
    v1 = requests_mock.post(V1_URL, json={"access_token": "v1-access", "expires_in": 1800})
    with pytest.raises(HubSpotAuthError, match="/oauth/2026-03/token") as info:
        hook().batch_create([INPUT])
    assert info.value.status == status and not v1.called


def test_camel_case_answer_and_rotated_refresh_token(oauth_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        NEW_URL,
        [
            {"json": {"accessToken": "access-1", "expiresIn": 1800, "refreshToken": "rotated-1"}},
            {"json": {"access_token": "access-2", "expires_in": "1800", "refresh_token": "rotated-2"}},
            {"json": {"accessToken": "access-3", "expiresIn": 1800}},
        ],
    )
    requests_mock.post(CREATE_URL, [EXPIRED, {"status_code": 201, "json": CREATED}] * 2)
    tickets = hook()
    tickets.batch_create([INPUT])  # refresh (no token), 401, refresh, 201
    tickets.batch_create([INPUT])  # 401, refresh, 201
    sent = [form_of(r)["refresh_token"] for r in requests_mock.request_history if r.url == NEW_URL]
    assert sent == ["rtoken-456", "rotated-1", "rotated-2"]
    creates = [r.headers["Authorization"] for r in requests_mock.request_history if r.url == CREATE_URL]
    assert creates == ["Bearer access-1", "Bearer access-2", "Bearer access-2", "Bearer access-3"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("lifetime", "ahead"), [(1800, 60.0), (10, 1.0)])
def test_refresh_ahead_of_expiry_from_expires_in(
    requests_mock: rm.Mocker, lifetime: int, ahead: float
) -> None:
    requests_mock.post(
        NEW_URL, [{"json": {"access_token": f"access-{i}", "expires_in": lifetime}} for i in (1, 2)]
    )
    clock = Clock()
    source = OAuthTokenSource(requests.Session(), BASE, CREDENTIALS, clock=clock)
    assert source.token() == "access-1"
    clock.now += lifetime - ahead - 0.01
    assert source.token() == "access-1" and requests_mock.call_count == 1
    clock.now += 0.02
    assert source.token() == "access-2" and requests_mock.call_count == 2


def test_a_given_access_token_is_used_until_a_401(requests_mock: rm.Mocker) -> None:
    new = requests_mock.post(NEW_URL, json={"access_token": "fresh", "expires_in": 1800})
    source = OAuthTokenSource(requests.Session(), BASE, CREDENTIALS, access_token="given")
    assert source.token() == "given" and not new.called
    source.rejected("given")
    source.rejected("given")  # a second thread's 401 for the same token: already refreshed
    assert source.token() == "fresh" and new.call_count == 1


def test_token_endpoint_5xx_is_retried(oauth_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        NEW_URL, [{"status_code": 503, "json": {}}, {"json": {"access_token": "a", "expires_in": 9}}]
    )
    requests_mock.post(CREATE_URL, status_code=201, json=CREATED)
    assert hook().batch_create([INPUT]).status_code == 201
    assert token_calls(requests_mock.request_history) == [NEW_URL, NEW_URL]


def test_every_secret_is_masked_and_kept_out_of_errors_and_logs(
    monkeypatch: pytest.MonkeyPatch,
    oauth_only: None,
    requests_mock: rm.Mocker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_hubtix.hooks.tickets.mask_secret", masked.append)
    secrets = ["csecret-123", "rtoken-456", "access-1", "rotated-1", "v1-access"]
    echo = " ".join(secrets)
    requests_mock.post(
        NEW_URL,
        [
            {"json": {"access_token": "access-1", "expires_in": 1800, "refresh_token": "rotated-1"}},
            {"status_code": 404, "json": {"message": echo}},
        ],
    )
    requests_mock.post(
        V1_URL,
        [
            {"json": {"access_token": "v1-access", "expires_in": 1800}},
            {"status_code": 400, "json": {"message": echo}},
        ],
    )
    requests_mock.post(
        CREATE_URL,
        [
            {"status_code": 401, "json": {"message": echo}},
            {"status_code": 400, "json": {"message": echo, "category": "VALIDATION_ERROR"}},
            {"status_code": 401, "json": {"message": echo}},
        ],
    )
    tickets = hook()
    texts = []
    for _ in range(2):  # refresh via 2026-03, 401, refresh via v1, 400; then 401, v1 refuses
        with pytest.raises(HubSpotError) as info:
            tickets.batch_create([INPUT])
        texts += [str(info.value), repr(info.value), str(info.value.hubspot_message)]
    texts.append(caplog.text)
    assert set(secrets) <= set(masked)
    assert [(secret, text) for secret in secrets for text in texts if secret in text] == []
    assert "***" in texts[0] and "/oauth/v1/token" in texts[3]
