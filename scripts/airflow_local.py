"""A throw-away local Airflow deployment running the provider against the sandbox.

``LocalAirflow`` starts Airflow 3's api-server, scheduler and dag-processor (LocalExecutor, SQLite)
in their own ``AIRFLOW_HOME`` and talks to the REST API. ``scripts/airflow-local.sh`` runs
:func:`main` (a sandbox plus a deployment, until Ctrl-C); the deployment tests
(``tests/deployment``) start the same class on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = ("api-server", "scheduler", "dag-processor")
FINISHED = {"success", "failed"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hubspot_connection(url: str, token: str = "sandbox-token") -> str:
    """The ``AIRFLOW_CONN_…`` value of a ``hubspot`` connection to ``url``.

    :param url: the sandbox's (or HubSpot's) base URL.
    :param token: the access token.
    """
    return json.dumps({"conn_type": "hubspot", "host": url, "password": token})


class LocalAirflow:
    """Airflow's api-server, scheduler and dag-processor with the LocalExecutor in ``home``.

    :param home: the ``AIRFLOW_HOME`` (SQLite database, logs, component output).
    :param dags_folder: the folder the dag-processor parses.
    :param port: the api-server's port; tasks reach the Execution API there.
    :param env: more environment for every component (connections as ``AIRFLOW_CONN_…``).
    :param parallelism: task instances running at once.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        port: int,
        env: Mapping[str, str] | None = None,
        parallelism: int = 8,
    ) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **self._airflow_env(dags_folder, parallelism), **(env or {})}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def _airflow_env(self, dags_folder: Path, parallelism: int) -> dict[str, str]:
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),  # shared by all components
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> LocalAirflow:
        """Migrate the database, start the three components, wait for the API to answer.

        :param timeout: seconds to wait for the api-server.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], check=True, env=self.env, capture_output=True)
        for component in COMPONENTS:
            log = (self.home / f"{component}.log").open("ab")
            self._logs.append(log)
            self._processes[component] = subprocess.Popen(
                [airflow, component],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(lambda: self._answers("/api/v2/monitor/health"), timeout, "the api-server to answer")
        return self

    def stop(self) -> None:
        """Stop every component (and the task processes they started)."""
        for process in self._processes.values():
            _stop_group(process)
        self._processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- REST API --------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call (``/api/v2/…``); the decoded JSON answer.

        :param method: the HTTP method.
        :param path: the path after ``/api/v2``.
        :param body: a JSON body, if any.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120.0) -> None:
        """Wait until the dag-processor has parsed every one of ``dag_ids``.

        :param dag_ids: the DAGs to wait for.
        :param timeout: seconds.
        """
        for dag_id in dag_ids:
            self._wait(lambda d=dag_id: self._answers(f"/api/v2/dags/{d}"), timeout, f"DAG {dag_id}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a run through the REST API; its run id.

        :param dag_id: the DAG.
        :param conf: the run's ``conf``.
        """
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        """Wait until a run has finished; its state (``success`` or ``failed``).

        :param dag_id: the DAG.
        :param run_id: the run.
        :param timeout: seconds.
        """
        state: dict[str, str] = {}

        def finished() -> bool:
            state["run"] = self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]
            return state["run"] in FINISHED

        self._wait(finished, timeout, f"run {run_id} of {dag_id} to finish")
        return state["run"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run (mapped ones one by one), as the REST API shows them.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100")
        return list(answer["task_instances"])

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """One XCom value.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        :param key: the XCom key.
        :param map_index: the mapped instance, ``-1`` when not mapped.
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", f"{path}?map_index={map_index}&deserialize=true")["value"]

    # -- helpers ---------------------------------------------------------------------------------
    def _answers(self, path: str) -> bool:
        self.check_alive()
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def check_alive(self) -> None:
        """Raise, with the end of its output, when a component has exited."""
        for component, process in self._processes.items():
            if process.poll() is not None:
                tail = (self.home / f"{component}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {component} exited with {process.returncode}:\n{tail}")

    @staticmethod
    def _wait(condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting {timeout:.0f} s for {what}")
            time.sleep(0.5)


def _stop_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group this module started, then SIGKILL what is left after ``grace``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # task processes left in the group
    process.wait()


def main(argv: list[str] | None = None) -> None:
    """Start a sandbox and a local Airflow running ``example_dags/`` against it; stop on Ctrl-C."""
    parser = argparse.ArgumentParser(
        description="A local Airflow running the example DAGs against the sandbox."
    )
    parser.add_argument("--port", type=int, default=8080, help="the Airflow UI / API port")
    parser.add_argument("--sandbox-port", type=int, default=8765)
    parser.add_argument("--rate", type=int, default=100, help="the sandbox's requests per 10 s")
    parser.add_argument("--home", type=Path, default=None, help="AIRFLOW_HOME (default: a new temp dir)")
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="hubtix-airflow-local-"))
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_hubtix.sandbox",
            "--port",
            str(args.sandbox_port),
            "--rate",
            str(args.rate),
        ],
        start_new_session=True,
    )
    deployment = LocalAirflow(
        home,
        REPO / "example_dags",
        args.port,
        {"AIRFLOW_CONN_HUBSPOT_DEFAULT": hubspot_connection(sandbox_url)},
    )
    stop = _stop_on_signals()
    try:
        deployment.start()
        print(f"Airflow UI: {deployment.url}  (AIRFLOW_HOME={home}, component logs there)", flush=True)
        print(f"hubspot_default -> sandbox at {sandbox_url}; Ctrl-C stops everything.", flush=True)
        while not stop:
            time.sleep(0.5)
            deployment.check_alive()
    finally:
        deployment.stop()
        _stop_group(sandbox)
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


def _stop_on_signals() -> list[int]:
    """A list that receives the signal number on SIGINT or SIGTERM."""
    received: list[int] = []

    def note(signum: int, _frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
    return received


if __name__ == "__main__":
    main()
