"""Progress lines for long runs: at most one every few seconds (plain Python)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Logger", "ProgressLog"]


class Logger(Protocol):
    """The part of a logger the jobs use (``logging.Logger`` and Airflow's task logger fit)."""

    def info(self, msg: str, /, *args: Any) -> Any:
        """Log at INFO."""

    def warning(self, msg: str, /, *args: Any) -> Any:
        """Log at WARNING."""


class ProgressLog:
    """Logs batches done, results, errors, rate and ETA, throttled to one line per ``interval``.

    :param log: where to write.
    :param verb: what the results are ("created", "read").
    :param total_inputs: how many inputs there are, when known (enables the ETA).
    :param batch_size: inputs per batch, to tell the number of batches when the total is known.
    :param interval: seconds between two lines at least.
    :param clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        log: Logger,
        verb: str,
        total_inputs: int | None = None,
        *,
        batch_size: int | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._verb = verb
        self._total = total_inputs
        self._total_batches = (
            -(-total_inputs // batch_size) if total_inputs is not None and batch_size else None
        )
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self.inputs_done = 0
        self.batches_done = 0
        self.results = 0
        self.errors = 0

    def update(self, inputs: int, results: int, errors: int) -> None:
        """Count one finished batch; log if the interval has passed.

        :param inputs: inputs in the batch.
        :param results: result records it produced.
        :param errors: error records it produced.
        """
        self.batches_done += 1
        self.inputs_done += inputs
        self.results += results
        self.errors += errors
        now = self._clock()
        if now - self._last_line >= self._interval:
            self._last_line = now
            self._log.info("%s", self.line(now))

    def finish(self) -> None:
        """Log the final line."""
        self._log.info("Done: %s", self.line(self._clock()))

    def line(self, now: float) -> str:
        """The progress sentence at time ``now``."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.inputs_done / elapsed
        done = f"{self.inputs_done:,}" + (f"/{self._total:,}" if self._total is not None else "")
        batches = f"{self.batches_done:,}" + (f"/{self._total_batches:,}" if self._total_batches else "")
        text = (
            f"{done} inputs in {batches} batches: {self.results:,} {self._verb}, "
            f"{self.errors:,} failed, {rate:,.0f} inputs/s, {elapsed:,.1f} s elapsed"
        )
        if self._total is not None and rate > 0 and self.inputs_done < self._total:
            text += f", ETA {(self._total - self.inputs_done) / rate:,.0f} s"
        return text
