"""Test-wide setup: an isolated, throw-away Airflow home before anything imports Airflow (the package's
``shared_window`` imports none), and a throw-away place for the rate-limit pictures that processes
share (one per test)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from airflow_provider_hubtix.shared_window import STATE_DIR_ENV

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hubtix-airflow-home-"))

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(AIRFLOW_HOME / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ.pop("AIRFLOW_CONN_HUBSPOT_DEFAULT", None)

pytest_plugins = ["airflow_provider_hubtix.sandbox.pytest_plugin"]  # the hubspot_sandbox fixture (opt-in)


@pytest.fixture(autouse=True)
def _own_rate_limit_pictures(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test's hooks do not inherit another test's picture of a window (same URL and token)."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("ratelimit")))
