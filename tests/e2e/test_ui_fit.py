"""The connection form Airflow's UI renders for ``hubspot`` (``GET /ui/connections/hook_meta``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connection_form import EXTRA_FIELDS

pytestmark = pytest.mark.e2e


def test_hook_meta_shows_relabelled_hidden_and_extra_fields(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_module = pytest.importorskip("airflow.api_fastapi.app", reason="Airflow 3's API server")
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    response = TestClient(app_module.create_app()).get("/ui/connections/hook_meta")
    assert response.status_code == 200
    (hubspot,) = [hook for hook in response.json() if hook["connection_type"] == "hubspot"]
    assert hubspot["hook_class_name"] == "airflow_provider_hubtix.hooks.tickets.HubSpotTicketsHook"
    fields = hubspot["standard_fields"]
    assert fields["password"]["title"] == "Access token" and not fields["password"]["hidden"]
    assert fields["host"]["placeholder"] == "https://api.hubapi.com"
    assert fields["login"]["hidden"] and fields["port"]["hidden"]
    extras = hubspot["extra_fields"]
    assert list(extras) == list(EXTRA_FIELDS)
    assert extras["api_version"]["schema"]["enum"] == ["v3", "2026-03"]
    assert extras["client_secret"]["schema"]["format"] == "password"
