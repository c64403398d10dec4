"""The jobs, batch create, batch upsert and batch read, from raw inputs to written records (plain Python).

Each job validates every input before the first request (so bad input costs no request), then
streams the inputs again in chunks through :func:`~airflow_provider_hubtix.runner.run_batches`.
Create and upsert are one family (:class:`WriteJob`). The HubSpot client is anything with the hook's
``batch_create`` / ``batch_upsert`` / ``batch_read`` methods; its
exceptions are read through two attributes (``stops_run``, ``outcome_unknown``) and ``status`` /
``category``, so this module needs no Airflow import.

Duplicate-safe create: with ``id_property`` set, whether a ticket exists is decided by reading it
(batch read by ``id_property``), never from an error's category or wording. The job reads before
re-sending a batch whose outcome is unknown, before re-sending inputs an earlier try had in flight,
and after a create error (whatever it says); the inputs found
become results with ``"new": false``, the others are created or keep their error record.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import tenacity

from airflow_provider_hubtix.accounting import (
    NOT_ATTEMPTED,
    BatchOutcome,
    Record,
    account_failure,
    account_read,
    account_write,
    read_error,
    write_error,
)
from airflow_provider_hubtix.batch_response import BatchResponse
from airflow_provider_hubtix.checkpoint import IndexSet, ResumeState
from airflow_provider_hubtix.create_inputs import (
    WriteInput,
    check_create_input,
    check_upsert_input,
    normalise_create_input,
    normalise_upsert_input,
)
from airflow_provider_hubtix.daily_budget import DailyBudget
from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.inputs import check_optional_name
from airflow_provider_hubtix.limits import MAX_BATCH_SIZE, MAX_BATCH_SIZE_WITH_HISTORY, check_batch_size
from airflow_provider_hubtix.outputs import RecordSink
from airflow_provider_hubtix.progress import Logger, ProgressLog
from airflow_provider_hubtix.ratelimit import AUTO_MAX_CONCURRENCY
from airflow_provider_hubtix.read_inputs import ReadInput, normalise_read_input
from airflow_provider_hubtix.runner import BatchStopped, run_batches

__all__ = [
    "CreateJob",
    "Located",
    "ReadJob",
    "TicketsClient",
    "UpsertJob",
    "WriteJob",
    "require_id_property",
]

_MAX_RECONCILE_ROUNDS = 8
"""Create attempts per batch whose outcome stays unknown (each followed by a check of what exists)."""
_RECONCILE_BACKOFF = tenacity.wait_exponential(multiplier=0.2, max=5.0)
"""The pause before creating the rest again after a lost answer: 0.2 s, doubling, at most 5 s."""
_MAX_REPORTED_INPUT_ERRORS = 5
_LOG = logging.getLogger(__name__)

Located = tuple[str, Any]
"""A raw input and where it came from ("item 3", "line 17")."""


class TicketsClient(Protocol):
    """What the jobs need from :class:`~airflow_provider_hubtix.hooks.tickets.HubSpotTicketsHook`."""

    def batch_create(self, inputs: Sequence[dict[str, Any]], *, resend_unknown: bool = True) -> BatchResponse:
        """Create up to 100 tickets."""

    def batch_upsert(self, inputs: Sequence[dict[str, Any]]) -> BatchResponse:
        """Create or update up to 100 tickets by a unique property."""

    def batch_read(
        self,
        ids: Iterable[str | int],
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> BatchResponse:
        """Read up to 100 tickets (50 with history)."""

    @property
    def rate_budget(self) -> int:
        """Requests per 10 s the client may send (as configured, or as HubSpot's headers tell)."""


def require_id_property(id_property: Any) -> None:
    """Reject a missing or blank ``id_property`` where one is required (upsert).

    :param id_property: the given value.
    """
    check_optional_name(id_property, "id_property")
    if id_property is None:
        raise InvalidInputError(
            "id_property is required for an upsert: name the unique-value ticket property "
            "(hasUniqueValue) whose value, in each input's properties, tells which ticket it is."
        )


def _validate_all(
    items: Iterable[Located],
    normalise: Callable[[Any, int, str], Any],
    *,
    unique_key: Callable[[Any], str] | None,
) -> int:
    """Check every input before anything is sent; return how many there are.

    :param items: the located raw inputs.
    :param normalise: validates one input (raises :class:`InvalidInputError`).
    :param unique_key: for writes with ``id_property``: the value that must not repeat.
    :raises InvalidInputError: naming up to five bad rows (a file that cannot be parsed stops at once).
    """
    problems: list[str] = []
    seen: dict[str, tuple[int, str]] = {}
    count = 0
    for index, (location, raw) in enumerate(items):
        count += 1
        try:
            item = normalise(raw, index, location)
        except InvalidInputError as exc:
            problems.append(str(exc))
        else:
            if unique_key is not None:
                key = unique_key(item)
                first, first_location = seen.setdefault(key, (index, location))
                if first != index:
                    problems.append(
                        f"Input {index} ({location}) repeats id_property value {key!r} of input {first} "
                        f"({first_location}); two rows for one ticket in one run mean the source is wrong: "
                        "keep one of them."
                    )
        if len(problems) >= _MAX_REPORTED_INPUT_ERRORS:
            break
    if problems:
        more = " (stopped at the first five problems)" if len(problems) >= _MAX_REPORTED_INPUT_ERRORS else ""
        raise InvalidInputError(
            f"Invalid input{more}; nothing was sent to HubSpot:\n- " + "\n- ".join(problems)
        )
    return count


def _auto_concurrency(client: TicketsClient, max_concurrency: int | None) -> int:
    """``max_concurrency`` if set; else as many batches in flight as the rate budget lets go within
    one round trip: the budget itself, at most :data:`~airflow_provider_hubtix.ratelimit.AUTO_MAX_CONCURRENCY`
    (every HubSpot tier allows at least that many, so the first answer's ``Max`` changes nothing).

    :param client: the HubSpot client, asked for its budget.
    :param max_concurrency: the user's setting, or ``None``.
    """
    if max_concurrency is not None:
        return max_concurrency
    return min(client.rate_budget, AUTO_MAX_CONCURRENCY)


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _failure_fields(exc: BaseException) -> dict[str, Any]:
    return {
        "status": getattr(exc, "status", None),
        "category": str(getattr(exc, "category", None) or type(exc).__name__),
        "message": str(exc),
    }


def _stopped(
    batch: Sequence[Any], exc: BaseException, attempted: bool, error_record: Callable[..., Record]
) -> BatchOutcome:
    """Error records for a batch when the run stops: the failing batch, or one never sent."""
    if attempted and not getattr(exc, "never_sent", False):
        return account_failure(batch, error_record, **_failure_fields(exc))
    message = f"Not sent: the run stopped before this batch was sent: {exc}"
    return account_failure(batch, error_record, status=None, category=NOT_ATTEMPTED, message=message)


@dataclass
class WriteJob(ABC):
    """What batch create and batch upsert share: validate, chunk, send, account for every input,
    resume from an earlier try. Subclasses differ only in how an input is checked and built, how a
    batch is sent and accounted for, and how existing tickets are settled.

    :param client: the HubSpot client (the hook).
    :param id_property: unique-value property every input carries (required for upsert).
    :param batch_size: inputs per request (1 to 100).
    :param max_concurrency: requests in flight at most; ``None``: automatic (see :func:`_auto_concurrency`).
    :param log: where progress goes.
    :param daily_budget: the client's daily budget, to say up front whether the run fits in it.
    :param sleep: how to wait between create attempts (injectable for tests, as the transport's).
    """

    client: TicketsClient
    id_property: str | None = None
    batch_size: int = MAX_BATCH_SIZE
    max_concurrency: int | None = None
    log: Logger = _LOG
    daily_budget: DailyBudget | None = None
    sleep: Callable[[float], None] = tenacity.nap.sleep
    verb: ClassVar[str] = "written"
    """How progress names a result (``created``, ``upserted``)."""

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size)
        self._trace_prefix = uuid.uuid4().hex[:12]
        self._maybe_sent = IndexSet()

    @abstractmethod
    def normalise(self, raw: Any, index: int, location: str) -> WriteInput:
        """Validate one raw input and build what is sent."""

    @abstractmethod
    def check(self, raw: Any, index: int, location: str) -> str:
        """Validate one raw input without building it; return its ``id_property`` value (or ``""``)."""

    @abstractmethod
    def process(self, batch: Sequence[WriteInput]) -> BatchOutcome:
        """Send one batch and account for it; raises only when the run must stop."""

    def validate(self, items: Iterable[Located]) -> int:
        """Validate every input; return the count.

        :param items: the located raw inputs.
        """
        return _validate_all(items, self.check, unique_key=_identity if self.id_property else None)

    def run(
        self,
        items: Iterable[Located],
        sink: RecordSink,
        *,
        total: int | None = None,
        resume: ResumeState | None = None,
    ) -> None:
        """Write every input, one record per input to ``sink``.

        :param items: the located raw inputs (already validated).
        :param sink: receives result and error records.
        :param total: the number of inputs, for progress.
        :param resume: what an earlier try recorded: its results are skipped; what happens to the
            inputs it had in flight is the subclass's (see :meth:`process`).
        """
        self._maybe_sent = resume.maybe_sent if resume is not None else IndexSet()
        done = resume.done if resume is not None else IndexSet()
        located: Iterator[tuple[int, Located]] = enumerate(items)
        if len(done):  # resuming: skip what the earlier try wrote
            located = ((index, item) for index, item in located if index not in done)
        normalise = self.normalise
        prepared = (normalise(raw, index, location) for index, (location, raw) in located)
        progress = ProgressLog(self.log, self.verb, total, batch_size=self.batch_size)
        progress.inputs_done = progress.results = len(done)
        if self.daily_budget is not None and total is not None:
            self.daily_budget.announce(total - len(done), self.batch_size, self.log)
        run_batches(
            _chunks(prepared, self.batch_size),
            self.process,
            self.fail,
            sink,
            max_concurrency=_auto_concurrency(self.client, self.max_concurrency),
            progress=progress,
            before_send=lambda batch: sink.sending([item.index for item in batch]),
        )

    def fail(self, batch: Sequence[WriteInput], exc: BaseException, attempted: bool) -> BatchOutcome:
        """Error records for a batch when the run stops."""
        return _stopped(batch, exc, attempted, write_error)


@dataclass
class UpsertJob(WriteJob):
    """Batch upsert by ``id_property``: create the tickets that do not exist, update the others.

    An upsert can be re-sent safely, so lost answers and 5xx are retried by the transport and the
    inputs an earlier try had in flight are simply sent again; no existence check is needed. Result
    records carry HubSpot's ``new``.
    """

    verb: ClassVar[str] = "upserted"

    def __post_init__(self) -> None:
        require_id_property(self.id_property)
        super().__post_init__()

    def normalise(self, raw: Any, index: int, location: str) -> WriteInput:
        """Validate one raw input (see :func:`normalise_upsert_input`)."""
        return normalise_upsert_input(
            raw, index, location, trace_prefix=self._trace_prefix, id_property=self.id_property or ""
        )

    def check(self, raw: Any, index: int, location: str) -> str:
        """Validate one raw input (see :func:`check_upsert_input`)."""
        return check_upsert_input(raw, index, location, id_property=self.id_property or "")

    def process(self, batch: Sequence[WriteInput]) -> BatchOutcome:
        """Upsert one batch and account for it; raises only when the run must stop."""
        return _answered(
            batch,
            lambda: self.client.batch_upsert([item.payload for item in batch]),
            lambda response: account_write(batch, response, self.id_property),
            write_error,
        )


@dataclass
class CreateJob(WriteJob):
    """Batch create; with ``id_property`` duplicate-safe (see the module docstring)."""

    verb: ClassVar[str] = "created"

    def normalise(self, raw: Any, index: int, location: str) -> WriteInput:
        """Validate one raw input (see :func:`normalise_create_input`)."""
        return normalise_create_input(
            raw, index, location, trace_prefix=self._trace_prefix, id_property=self.id_property
        )

    def check(self, raw: Any, index: int, location: str) -> str:
        """Validate one raw input (see :func:`check_create_input`)."""
        return check_create_input(raw, index, location, id_property=self.id_property)

    def process(self, batch: Sequence[WriteInput]) -> BatchOutcome:
        """Send one batch and account for it; raises only when the run must stop.

        With ``id_property``, a create whose answer was lost (or rejected for what may be an
        existing ticket) is followed by a read of what exists and a create of the rest: up to
        :data:`_MAX_RECONCILE_ROUNDS` rounds, as one tenacity ``Retrying``.
        """
        state = _Reconciling(list(batch))
        pending, outcome = state.pending, state.outcome
        rounds = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(_MAX_RECONCILE_ROUNDS),
            wait=_reconcile_wait,
            retry=tenacity.retry_if_exception_type(_CreateTheRest),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            pending[:] = self._skip_existing_in_flight(pending, outcome)
            rounds(self._create, state)
        except _CreateTheRest:
            message = (
                f"HubSpot's answer was lost {_MAX_RECONCILE_ROUNDS} times for this batch and these "
                "inputs were not found afterwards. Re-run the task to create them."
            )
            failed = account_failure(
                pending, write_error, status=None, category="OUTCOME_UNKNOWN", message=message
            )
            _merge(outcome, failed)
        except Exception as exc:
            if not getattr(exc, "stops_run", True):
                _merge(outcome, account_failure(pending, write_error, **_failure_fields(exc)))
            elif state.created or outcome.results or outcome.errors:
                # Stopped part-way: keep what is known; what may have been created is not "unsent".
                if state.created:
                    _merge(outcome, account_failure(pending, write_error, **_failure_fields(exc)))
                else:
                    _merge(outcome, _stopped(pending, exc, True, write_error))
                raise BatchStopped(outcome, exc) from exc
            else:
                raise
        return outcome

    def _create(self, state: _Reconciling) -> None:
        """One create round: create ``state.pending`` and account for the answer into ``state.outcome``.

        :raises _CreateTheRest: after ``pending`` was narrowed (in place) to the inputs still to create.
        """
        pending, outcome = state.pending, state.outcome
        if not pending:
            return
        try:
            response = self.client.batch_create(
                [item.payload for item in pending], resend_unknown=self.id_property is None
            )
        except Exception as exc:
            state.created = state.created or not getattr(exc, "never_sent", False)
            answer_lost = self._answer_lost(exc)
            pending[:] = self._after_failed_create(pending, outcome, exc, answer_lost)
            if pending:
                raise _CreateTheRest(pause=answer_lost) from None
            return
        state.created = True
        accounted = account_write(pending, response, self.id_property)
        self._flag_resent(pending, response, accounted)
        _merge(outcome, self._settle_errors(pending, accounted))

    def _answer_lost(self, exc: Exception) -> bool:
        """Whether a duplicate-safe create failed with an unknown outcome that does not stop the run."""
        unknown = getattr(exc, "outcome_unknown", False) and not getattr(exc, "stops_run", True)
        return bool(self.id_property and unknown)

    def _flag_resent(
        self, pending: Sequence[WriteInput], response: BatchResponse, accounted: BatchOutcome
    ) -> None:
        """Without id_property: flag and list the inputs that may have been created twice."""
        if self.id_property or not (response.outcome_uncertain or len(self._maybe_sent)):
            return  # the common case, without a look-up per input
        resent = {
            item.index for item in pending if response.outcome_uncertain or item.index in self._maybe_sent
        }
        if not resent:
            return
        for record in accounted.results:
            if record["input_index"] in resent:
                record["possible_duplicate"] = True
        self.log.warning(
            "These inputs were sent again after an answer was lost (or after an earlier try stopped) and may "
            "now exist twice in HubSpot; set id_property to prevent this: %s",
            sorted(resent),
        )

    def _keep_missing(self, pending: list[WriteInput], outcome: BatchOutcome) -> list[WriteInput]:
        """Record the inputs that exist as results (``new: false``); return the others."""
        existing = self._existing(pending)
        missing = []
        for item in pending:
            record = existing.get(item.properties[self.id_property or ""])
            if record is None:
                missing.append(item)
            else:
                outcome.results.append({**record, "input_index": item.index, "new": False})
        return missing

    def _existing(self, pending: Sequence[WriteInput]) -> dict[str, dict[str, Any]]:
        id_property = self.id_property or ""
        response = self.client.batch_read(
            [item.properties[id_property] for item in pending],
            properties=sorted({name for item in pending for name in item.properties}),
            id_property=id_property,
        )
        found: dict[str, dict[str, Any]] = {}
        for result in response.results:
            value = (result.get("properties") or {}).get(id_property)
            if value is not None:
                found[str(value)] = result
        return found

    def _skip_existing_in_flight(self, batch: list[WriteInput], outcome: BatchOutcome) -> list[WriteInput]:
        """Resuming with id_property: read the inputs an earlier try had in flight before sending them
        again; those found become results (``new: false``). Return what is left to create."""
        if not self.id_property or not len(self._maybe_sent):
            return batch
        in_flight = [item for item in batch if item.index in self._maybe_sent]
        if not in_flight:
            return batch
        missing = {item.index for item in self._keep_missing(in_flight, outcome)}
        return [item for item in batch if item.index not in self._maybe_sent or item.index in missing]

    def _after_failed_create(
        self, pending: list[WriteInput], outcome: BatchOutcome, exc: Exception, answer_lost: bool
    ) -> list[WriteInput]:
        """With id_property, after a create raised: read which inputs exist and return the rest to create.

        Done when the batch may have been written (its answer was lost), or when HubSpot rejected it as
        a whole (400), whatever the reason says; then only if some input was found does the rest go
        (else the 400 stands). Anything else is re-raised.
        """
        if answer_lost:
            self.log.warning(
                "Outcome of a batch of %d is unknown (%s); checking what exists.", len(pending), exc
            )
            return self._keep_missing(pending, outcome)
        if self.id_property and getattr(exc, "status", None) == 400:
            missing = self._keep_missing(pending, outcome)
            if len(missing) < len(pending):
                self.log.warning(
                    "HubSpot rejected a batch of %d as a whole; %d of its inputs already exist, "
                    "creating the other %d.",
                    len(pending),
                    len(pending) - len(missing),
                    len(missing),
                )
                return missing
        raise exc

    def _settle_errors(self, pending: Sequence[WriteInput], accounted: BatchOutcome) -> BatchOutcome:
        """With id_property: rejected inputs are read (one request), whatever their error says, since
        its wording proves nothing; those found become results (``new: false``), the others keep their
        error record unchanged."""
        for record in accounted.results:
            record.setdefault("new", True)
        id_property = self.id_property
        if not id_property or not accounted.errors:
            return accounted
        doubtful = {e["input_index"] for e in accounted.errors}
        settled = BatchOutcome(results=accounted.results)
        try:
            missing = self._keep_missing([item for item in pending if item.index in doubtful], settled)
        except Exception as exc:
            self.log.warning("Could not check whether %d rejected inputs exist (%s).", len(doubtful), exc)
            return accounted
        found = doubtful - {item.index for item in missing}
        settled.errors = [e for e in accounted.errors if e["input_index"] not in found]
        return settled


@dataclass
class ReadJob:
    """Batch read: validate ids, chunk, send, one result per found id and one error per missing id.

    :param client: the HubSpot client (the hook).
    :param id_property: the unique property the ids refer to, or ``None`` for record ids.
    :param properties: properties to return.
    :param properties_with_history: properties to return with history (batches of 50 then).
    :param archived: read archived tickets.
    :param max_concurrency: requests in flight at most; ``None``: automatic (see :func:`_auto_concurrency`).
    :param log: where progress goes.
    :param daily_budget: the client's daily budget, to say up front whether the run fits in it.
    """

    verb: ClassVar[str] = "read"
    client: TicketsClient
    id_property: str | None = None
    properties: Sequence[str] = ()
    properties_with_history: Sequence[str] = ()
    archived: bool = False
    max_concurrency: int | None = None
    log: Logger = _LOG
    daily_budget: DailyBudget | None = None

    @property
    def batch_size(self) -> int:
        """100, or 50 when history is requested (HubSpot's limits)."""
        return MAX_BATCH_SIZE_WITH_HISTORY if self.properties_with_history else MAX_BATCH_SIZE

    def normalise(self, raw: Any, index: int, location: str) -> ReadInput:
        """Validate one id (see :func:`normalise_read_input`)."""
        return normalise_read_input(raw, index, location, id_property=self.id_property)

    def validate(self, items: Iterable[Located]) -> int:
        """Validate every id; return the count.

        :param items: the located raw ids.
        """
        return _validate_all(items, self.normalise, unique_key=None)

    def run(self, items: Iterable[Located], sink: RecordSink, *, total: int | None = None) -> None:
        """Read every id, writing records to ``sink``.

        :param items: the located raw ids (already validated).
        :param sink: receives result and error records.
        :param total: the number of ids, for progress.
        """
        prepared = (self.normalise(raw, index, location) for index, (location, raw) in enumerate(items))
        if self.daily_budget is not None and total is not None:
            self.daily_budget.announce(total, self.batch_size, self.log)
        run_batches(
            _chunks(prepared, self.batch_size),
            self.process,
            self.fail,
            sink,
            max_concurrency=_auto_concurrency(self.client, self.max_concurrency),
            progress=ProgressLog(self.log, self.verb, total, batch_size=self.batch_size),
        )

    def process(self, batch: Sequence[ReadInput]) -> BatchOutcome:
        """Read one batch and account for it; raises only when the run must stop."""
        properties = list(self.properties)
        if self.id_property and properties and self.id_property not in properties:
            properties.append(self.id_property)
        if self.id_property and not properties:
            properties = [self.id_property]
        return _answered(
            batch,
            lambda: self.client.batch_read(
                [item.id for item in batch],
                properties=properties,
                properties_with_history=list(self.properties_with_history),
                id_property=self.id_property,
                archived=self.archived,
            ),
            lambda response: account_read(batch, response, self.id_property),
            read_error,
        )

    def fail(self, batch: Sequence[ReadInput], exc: BaseException, attempted: bool) -> BatchOutcome:
        """Error records for a batch when the run stops."""
        return _stopped(batch, exc, attempted, read_error)


def _answered(
    batch: Sequence[Any],
    send: Callable[[], BatchResponse],
    account: Callable[[BatchResponse], BatchOutcome],
    error_record: Callable[..., Record],
) -> BatchOutcome:
    """Send once and account for the answer; a failure that does not stop the run becomes one error
    record per input (the transport has already retried what could be retried)."""
    try:
        response = send()
    except Exception as exc:
        if getattr(exc, "stops_run", True):
            raise
        return account_failure(batch, error_record, **_failure_fields(exc))
    return account(response)


@dataclass
class _Reconciling:
    """One create batch on its way: the inputs still to create, the records so far, and whether a
    create of it has left (then its inputs may exist)."""

    pending: list[WriteInput]
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    created: bool = False


class _CreateTheRest(Exception):
    """Some inputs of a batch are still to create after a failed create round.

    :param pause: back off before the next round (the answer was lost, HubSpot may be struggling);
        ``False`` after a 400 on what turned out to be existing tickets: create the rest at once.
    """

    def __init__(self, *, pause: bool) -> None:
        super().__init__("some inputs are still to create")
        self.pause = pause


def _reconcile_wait(retry_state: tenacity.RetryCallState) -> float:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    return float(_RECONCILE_BACKOFF(retry_state)) if getattr(exc, "pause", False) else 0.0


def _identity(key: str) -> str:
    return key


def _merge(into: BatchOutcome, other: BatchOutcome) -> None:
    into.results.extend(other.results)
    into.errors.extend(other.errors)
