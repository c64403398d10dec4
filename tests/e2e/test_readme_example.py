"""The README's 20-line DAG, exactly as printed, runs end to end against the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.e2e.conftest import REPO, load_dag, task_states, xcom

pytestmark = pytest.mark.e2e


def readme_blocks(language: str) -> list[str]:
    section = REPO.joinpath("README.md").read_text().split("## A DAG in 20 lines", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_readme_dag_runs(dags_folder: Path, sandbox: HubSpotSandbox) -> None:
    (code,) = readme_blocks("python")
    (tickets,) = readme_blocks("json")
    assert len(code.strip().splitlines()) <= 25
    folder = dags_folder / "readme_example"
    folder.mkdir(exist_ok=True)
    (folder / "tickets_roundtrip.py").write_text(code)
    (folder / "tickets.json").write_text(tickets)
    run = load_dag(dags_folder, "tickets_roundtrip").test()
    assert task_states(run) == {"create": "success", "read": "success", "report": "success"}
    assert len(xcom(run, "read")) == 2
    assert xcom(run, "create", key="errors") == []
    (with_association,) = [t for t in sandbox.tickets() if t["properties"]["subject"] == "Refund"]
    assert with_association["properties"]["external_id"].startswith("ext-")
