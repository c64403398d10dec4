"""The client-side rate limiter (fake clock) and the provider metadata Airflow reads."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_hubtix.get_provider_info import get_provider_info
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from airflow_provider_hubtix.ratelimit import RateLimiter


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(maximum: int, remaining: int) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }


def send(limiter: RateLimiter, count: int) -> None:
    for _ in range(count):
        limiter.acquire()
        limiter.release()


def test_alone_the_cap_is_the_budget_and_answers_count_for_one_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock)
    send(limiter, 10)
    assert limiter.cap == 10
    assert limiter.seconds_until_free() == pytest.approx(10.0)
    clock.now += 10.01
    assert limiter.seconds_until_free() == 0.5  # nothing left in the window
    send(limiter, 10)  # would block forever if the window had not moved


def test_budget_is_learned_from_headers_unless_configured() -> None:
    learned = RateLimiter()
    learned.observe(headers(190, 189))
    assert learned.budget == 190
    configured = RateLimiter(50)
    configured.observe(headers(190, 189))
    assert configured.budget == 50


def test_sharing_an_account_slows_down_then_recovers() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    send(limiter, 20)
    limiter.acquire()
    limiter.observe(headers(100, 2))  # the account used 98 of 100, we 21: others are active
    limiter.release()
    assert limiter.cap == 15  # multiplicative decrease from what we had in the window
    limiter.observe(headers(100, 1))
    assert limiter.cap == 15  # at most one decrease per window: the window remembers
    limiter.observe(headers(100, 60))
    assert limiter.cap == 16  # additive increase while the account has room
    for _ in range(30):  # others stopped: the window shows only our own requests
        clock.now += 0.1
        limiter.observe(headers(100, 100 - 21))
    assert limiter.cap == 100


def test_pause_holds_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.pause(5.0)
    waits: list[float | None] = []

    def fake_wait(timeout: float | None = None) -> bool:
        waits.append(timeout)
        clock.now += timeout or 0.0
        return True

    monkeypatch.setattr(limiter._cond, "wait", fake_wait)
    limiter.acquire()
    assert waits and waits[0] == pytest.approx(5.0)


def test_provider_info_is_valid_for_airflow() -> None:
    info = get_provider_info()
    schema_dir = Path(airflow.__file__).parent
    jsonschema.validate(info, json.loads((schema_dir / "provider_info.schema.json").read_text()))
    yaml_schema = json.loads((schema_dir / "provider.yaml.schema.json").read_text())
    for connection_type in info["connection-types"]:
        jsonschema.validate(connection_type, yaml_schema["properties"]["connection-types"]["items"])
    assert info["package-name"] == "airflow-provider-hubtix"
    (hubspot,) = info["connection-types"]
    assert hubspot["connection-type"] == "hubspot"
    module, _, name = hubspot["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is HubSpotTicketsHook
    assert set(hubspot["conn-fields"]) == {
        "api_version",
        "requests_per_10s",
        "timeout",
        "client_id",
        "client_secret",
        "refresh_token",
    }
    assert hubspot["ui-field-behaviour"]["relabeling"]["password"] == "Access token"


def test_hook_class_attributes() -> None:
    assert HubSpotTicketsHook.conn_type == "hubspot"
    assert HubSpotTicketsHook.default_conn_name == "hubspot_default"
    assert HubSpotTicketsHook.conn_name_attr == "hubspot_conn_id"
    assert HubSpotTicketsHook.hook_name == "HubSpot"
