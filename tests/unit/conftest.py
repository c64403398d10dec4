"""Fixtures for the unit tests: a HubSpot connection from an env var, no real waiting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

TOKEN = "pat-na1-test-token-for-unit-tests-only"
BASE = "https://api.hubapi.com"
CREATE_URL = f"{BASE}/crm/v3/objects/tickets/batch/create"
READ_URL = f"{BASE}/crm/v3/objects/tickets/batch/read"


def set_connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    """Point ``hubspot_default`` at HubSpot (or ``fields``) through the env-var connection."""
    conn = {"conn_type": "hubspot", "host": BASE, "password": TOKEN, **fields}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default connection: HubSpot's base URL and a private-app token."""
    set_connection(monkeypatch)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the transport's retry waits instead of sleeping."""
    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)
    yield waits
