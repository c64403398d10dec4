"""End-to-end harness: a real Airflow (SQLite in the test AIRFLOW_HOME) running the example DAGs.

The DAG files are copied into the configured dags folder, ``airflow db migrate`` runs once per
session, and each test points ``hubspot_default`` at an in-process sandbox through the env var.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubtix.sandbox import HubSpotSandbox

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs DAGs in a real Airflow against the sandbox")


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    """The configured dags folder holding a copy of example_dags/ and migrated metadata DB."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    shutil.copytree(REPO / "example_dags", folder, dirs_exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return folder


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotSandbox]:
    """A sandbox that ``hubspot_default`` points at."""
    with HubSpotSandbox(seed=2) as sb:
        conn = f'{{"conn_type": "hubspot", "host": "{sb.url}", "password": "sandbox-token"}}'
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", conn)
        yield sb


def dag_bag(dags_folder: Path) -> Any:
    """Parse the dags folder like the scheduler does."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.1
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(dags_folder))


def load_dag(dags_folder: Path, dag_id: str) -> Any:
    """Parse the dags folder and return one DAG (no import error allowed)."""
    bag = dag_bag(dags_folder)
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def task_states(run: Any) -> dict[str, str]:
    """Final state per task id (mapped tasks: the set of their states joined)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        states: dict[str, set[str]] = {}
        for ti in instances:
            states.setdefault(ti.task_id, set()).add(str(ti.state))
    return {task_id: ",".join(sorted(s)) for task_id, s in states.items()}


def xcom(run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """One XCom value of a finished run."""
    try:
        from airflow.models.xcom import XComModel
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom as XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key, map_index=map_index)
            .one()
        )
        if isinstance(row.value, bytes | str):
            return XComModel.deserialize_value(row)
        return row.value  # already decoded (Airflow 2's JSON column)
