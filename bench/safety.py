"""Large fault-injection run: zero lost and zero duplicated tickets (issue #6's figures).

    .venv/bin/python bench/safety.py --n 50000 --fail-rate 0.10 --lose-rate 0.05

Creates N tickets with ``id_property="external_id"`` against a sandbox that answers 5xx before
committing (``--fail-rate``) and drops answers after committing (``--lose-rate``), then checks:
every input exactly once in results + errors, the sandbox holds exactly N tickets, no duplicates.
With ``--kill-at`` it first runs the create in a subprocess, SIGKILLs it when that fraction of
inputs is recorded, then re-runs it (resume) and checks the same invariants. ``--duplicate-style``
picks how the sandbox words a duplicate unique value (``hubspot``, ``conflict``, ``opaque``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from airflow_provider_hubtix.sandbox.store import DUPLICATE_STYLES

CHILD = """
import json, os, sys
from airflow_provider_hubtix.hooks.transport import RetryPolicy
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator

class TI:
    def xcom_push(self, key, value):
        pass

op = BatchCreateTicketsOperator(
    task_id="safety", inputs_path=sys.argv[1], output_path=sys.argv[2], id_property="external_id",
    fail_on_error=False, max_concurrency=int(sys.argv[3]),
)
op.hook.retry_policy = RetryPolicy(max_attempts=8, backoff_initial=0.05, backoff_max=0.5)
print(json.dumps(op.execute({"ti": TI()})), flush=True)
"""


def write_inputs(path: Path, count: int) -> None:
    """Write ``count`` create inputs with a unique external_id each."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(
                json.dumps({"subject": f"Safety {i}", "hs_pipeline_stage": "1", "external_id": f"s-{i}"})
                + "\n"
            )


def count_lines(path: Path) -> int:
    """Lines in a file (0 if it does not exist)."""
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def run_child(
    inputs: Path, output: Path, url: str, concurrency: int, kill_at: int | None
) -> dict[str, Any] | None:
    """Run the create in a subprocess; SIGKILL it once ``kill_at`` results are recorded."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": url, "password": "sandbox-token"}
    )
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(inputs), str(output), str(concurrency)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if kill_at is not None:
        while child.poll() is None and count_lines(output / "results.jsonl") < kill_at:
            time.sleep(0.05)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
            return None
    out, _ = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the create subprocess failed with exit code {child.returncode}")
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def check(output: Path, n: int, sandbox: HubSpotSandbox) -> dict[str, Any]:
    """The invariants: every input once, N tickets, no duplicates."""
    seen: dict[int, int] = {}
    for name in ("results.jsonl", "errors.jsonl"):
        with (output / name).open(encoding="utf-8") as handle:
            for line in handle:
                index = json.loads(line)["input_index"]
                seen[index] = seen.get(index, 0) + 1
    with (output / "results.jsonl").open(encoding="utf-8") as handle:
        found_existing = sum(1 for line in handle if json.loads(line).get("new") is False)
    missing = n - len(seen)
    repeated = sum(1 for count in seen.values() if count > 1)
    return {
        "inputs": n,
        "accounted_once": sum(1 for count in seen.values() if count == 1),
        "missing": missing,
        "repeated": repeated,
        "errors": count_lines(output / "errors.jsonl"),
        "found_existing": found_existing,
        "tickets_in_sandbox": sandbox.ticket_count,
        "duplicates_in_sandbox": len(sandbox.duplicates("external_id")),
    }


def main() -> None:
    """Run the scenario and print the figures; exit 1 if an invariant fails."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--lose-rate", type=float, default=0.05)
    parser.add_argument("--kill-at", type=float, default=None, help="fraction of inputs, e.g. 0.5")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duplicate-style", choices=DUPLICATE_STYLES, default="hubspot")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="hubtix-safety-") as tmp,
        HubSpotSandbox(
            fail_rate=args.fail_rate,
            lose_rate=args.lose_rate,
            unique_property="external_id",
            seed=11,
            duplicate_style=args.duplicate_style,
        ) as sandbox,
    ):
        inputs, output = Path(tmp) / "inputs.jsonl", Path(tmp) / "out"
        write_inputs(inputs, args.n)
        started = time.perf_counter()
        if args.kill_at is not None:
            run_child(inputs, output, sandbox.url, args.concurrency, int(args.n * args.kill_at))
            print(
                f"killed the first try with {count_lines(output / 'results.jsonl'):,} results recorded",
                flush=True,
            )
        summary = run_child(inputs, output, sandbox.url, args.concurrency, None)
        figures = check(output, args.n, sandbox)
        stats = sandbox.stats()
        figures.update(
            wall_s=round(time.perf_counter() - started, 1),
            requests=stats.requests,
            faults_5xx=stats.faults_5xx,
            faults_lost=stats.faults_lost,
            created_reported=(summary or {}).get("created"),
        )
    print(json.dumps(figures), flush=True)
    ok = (
        figures["missing"] == 0
        and figures["repeated"] == 0
        and figures["errors"] == 0
        and figures["tickets_in_sandbox"] == args.n
        and figures["duplicates_in_sandbox"] == 0
    )
    print("invariants hold" if ok else "INVARIANTS BROKEN", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
