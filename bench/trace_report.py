"""Reads the traces of ``HUBTIX_BENCH_TRACE`` runs: how the clients' sends met the sandbox's window.

    HUBTIX_BENCH_TRACE=/tmp/t.jsonl .venv/bin/python bench/run.py shared
    .venv/bin/python bench/trace_report.py /tmp/t.jsonl

``/tmp/t.jsonl`` holds each client's line per answer (``sent`` on the monotonic clock, the
``Remaining`` it saw, whether it went on a reused slot, its model of the other clients) and per
probe, and ``/tmp/t.jsonl.server`` the sandbox's line per counted request (monotonic arrival,
allowed, ``Remaining``). Each answer is matched to the earliest unmatched arrival after its send
with the same verdict and ``Remaining``. Printed: the span, requests per second of the span, the
delay from send to arrival, every 429 with what the client did (reuse or adopt) and how many
requests of each client were in the window then, and the probes' outcomes by what the prober's last
view showed (judge a change to probing by these over many runs: one run has only a few).
"""

from __future__ import annotations

import bisect
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from airflow_provider_hubtix.ratelimit import _GRACE_SECONDS, _PROBE_ROOM


def _load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _match(answers: list[dict[str, Any]], arrivals: list[dict[str, Any]]) -> None:
    """Set ``arrived`` on each answer (the matching arrival's time), or leave it out."""
    by_key: dict[tuple[bool, int], list[float]] = defaultdict(list)
    for arrival in arrivals:
        by_key[(bool(arrival["allowed"]), int(arrival["remaining"]))].append(arrival["t"])
    for times in by_key.values():
        times.sort()
    for answer in sorted(answers, key=lambda a: a["sent"]):
        if answer.get("remaining") is None:
            continue
        times = by_key.get((bool(answer["counted"]), int(answer["remaining"])), [])
        position = bisect.bisect_left(times, answer["sent"])
        if position < len(times):
            answer["arrived"] = times.pop(position)


def _quantiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=20)
    median, p95, worst = (1000 * v for v in (statistics.median(values), cuts[18], max(values)))
    return f"median {median:.0f} ms, p95 {p95:.0f} ms, max {worst:.0f} ms"


def _probe_kind(probe: dict[str, Any]) -> str:
    """What the prober's last view showed: the rate limiter's cases for probing."""
    remaining, unclaimed = probe["view_remaining"], probe["unclaimed"]
    if remaining <= 0:
        return "full"
    if remaining >= _PROBE_ROOM:
        return "room"
    if unclaimed >= 1:
        return "few free, unclaimed"
    return "few free, others sending, " + ("within grace" if probe["view_age"] <= _GRACE_SECONDS else "later")


def report(path: Path, window: float = 10.0) -> None:
    """Print the figures of one traced run.

    :param path: the clients' trace (the sandbox's is beside it, ``.server`` appended).
    :param window: the rate window in seconds.
    """
    lines = _load(path)
    arrivals = _load(path.with_name(path.name + ".server"))
    answers = [line for line in lines if "sent" in line]
    pauses = [line for line in lines if "pause" in line]
    _match(answers, arrivals)
    start = min(a["t"] for a in arrivals)
    end = max(a["t"] for a in arrivals)
    allowed = sum(1 for a in arrivals if a["allowed"])
    print(f"arrivals {len(arrivals)} ({allowed} allowed), span {end - start:.2f} s")
    delays = [a["arrived"] - a["sent"] for a in answers if "arrived" in a]
    print(f"send -> arrival: {_quantiles(delays)} ({len(delays)} of {len(answers)} matched)")
    per_second = Counter(int(a["t"] - start) for a in arrivals if a["allowed"])
    print("allowed per second:", " ".join(str(per_second.get(s, 0)) for s in range(int(end - start) + 1)))
    clients = sorted({a["pid"] for a in answers})
    for pid in clients:
        mine = [a for a in answers if a["pid"] == pid]
        first = min(a.get("arrived", a["sent"]) for a in mine) - start
        last = max(a.get("arrived", a["sent"]) for a in mine) - start
        reused = sum(1 for a in mine if a["reused"])
        limited = sum(1 for a in mine if not a["counted"])
        print(f"client {pid}: {len(mine)} answers, {first:.2f}-{last:.2f} s, {reused} reused, {limited} 429s")
    for answer in sorted(answers, key=lambda a: a["sent"]):
        if answer["counted"]:
            continue
        at = answer.get("arrived", answer["sent"])
        in_window = Counter(
            a["pid"] for a in answers if a.get("counted") and at - window < a.get("arrived", a["sent"]) <= at
        )
        how = "reused" if answer["reused"] else "adopted/probe"
        print(
            f"429 at {at - start:6.2f} s: client {answer['pid']} ({how}, held {answer['held']}); "
            f"in window: {dict(in_window)}"
        )
    probes = {(p["pid"], p["probe"]): p for p in lines if "probe" in p}
    if probes:
        outcome: Counter[tuple[str, str]] = Counter()
        for answer in answers:
            probe = probes.get((answer["pid"], answer["sent"]))
            if probe is not None:
                outcome[(_probe_kind(probe), "429" if not answer["counted"] else "ok")] += 1
                if not answer["counted"]:
                    print(
                        f"  429 was a probe: view {probe['view_age']:.2f} s old, Remaining "
                        f"{probe['view_remaining']}, unclaimed {probe['unclaimed']}"
                    )
        print(f"probes: {len(probes)}, by what the last view showed:")
        for kind in sorted({kind for kind, _ in outcome}):
            print(f"  {kind}: {outcome[(kind, 'ok')]} ok, {outcome[(kind, '429')]} 429s")
    if pauses:
        print(f"pauses: {len(pauses)}, longest {max(p['pause'] for p in pauses):.2f} s")


if __name__ == "__main__":
    report(Path(sys.argv[1]))
