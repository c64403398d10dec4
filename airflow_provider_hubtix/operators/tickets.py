"""BatchCreateTicketsOperator, BatchUpsertTicketsOperator and BatchReadTicketsOperator: the Airflow glue
around the jobs.

They render templates, turn paths into files (local or object storage), validate at DAG parse time
what can be validated then, call :mod:`airflow_provider_hubtix.jobs`, and push the outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_hubtix.daily_budget import DailyReserve
from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.exceptions import HubSpotRecordsFailedError, as_input_error, input_errors
from airflow_provider_hubtix.execution import execute_job
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from airflow_provider_hubtix.inputs import (
    as_names,
    check_inline_shape,
    check_optional_name,
    iter_file,
    parse_inline,
)
from airflow_provider_hubtix.jobs import (
    CreateJob,
    Located,
    ReadJob,
    UpsertJob,
    WriteJob,
    require_id_property,
)
from airflow_provider_hubtix.limits import MAX_BATCH_SIZE, check_batch_size, check_positive
from airflow_provider_hubtix.operators.lineage import file_dataset, operator_lineage, tickets_dataset

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

DEFAULT_MAX_CONCURRENCY: int | None = None
"""Automatic: as many batches in flight as the rate budget can send within one round trip."""


class _TicketsBatchOperator(BaseOperator):
    """What both operators share: connection, concurrency, outputs, publishing and failing."""

    template_ext: Sequence[str] = (".json",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"inputs": "json", "ids": "json"}
    ui_color = "#ff7a59"
    path_fields: ClassVar[tuple[str, ...]] = ()
    """Templated fields that hold paths: rendered as text, never loaded as template files."""
    result_verb: ClassVar[str]
    """The name of the results count in ``return_value``: the job's verb."""

    def __init__(
        self,
        *,
        output_path: str | ObjectStoragePath | None = None,
        fail_on_error: bool = True,
        hubspot_conn_id: str = HubSpotTicketsHook.default_conn_name,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        requests_per_10s: int | None = None,
        daily_reserve: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_path = output_path
        self.fail_on_error = fail_on_error
        self.hubspot_conn_id = hubspot_conn_id
        self.max_concurrency = max_concurrency
        self.requests_per_10s = requests_per_10s
        self.daily_reserve = daily_reserve
        with self._input_errors():
            if max_concurrency is not None:
                check_positive(max_concurrency, "max_concurrency")
            if requests_per_10s is not None:
                check_positive(requests_per_10s, "requests_per_10s")
            if daily_reserve is not None:
                DailyReserve.parse(daily_reserve)

    def _input_errors(self) -> AbstractContextManager[None]:
        """Invalid input raised in the block fails the task (see :func:`input_errors`)."""
        return input_errors(f"Task {self.task_id!r}:")

    @cached_property
    def hook(self) -> HubSpotTicketsHook:
        """The hook for :attr:`hubspot_conn_id`."""
        return HubSpotTicketsHook(
            self.hubspot_conn_id,
            requests_per_10s=self.requests_per_10s,
            max_concurrency=self.max_concurrency,
            daily_reserve=self.daily_reserve,
        )

    def resolve_template_files(self) -> None:
        """Load ``.json`` template files for the inline fields only; paths stay paths."""
        saved = self._hide_path_fields()
        try:
            super().resolve_template_files()
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        if parent is not self:
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
            return
        fields = list(template_fields)
        inline = [name for name in fields if name not in self.path_fields]
        super()._do_render_template_fields(parent, inline, context, jinja_env, seen_oids)
        for name in fields:
            value = getattr(self, name, None)
            if name not in self.path_fields or not value or id(value) in seen_oids:
                continue
            if isinstance(value, str):
                setattr(self, name, jinja_env.from_string(value).render(context))
            else:
                setattr(self, name, self.render_template(value, context, jinja_env, seen_oids))

    def _hide_path_fields(self) -> dict[str, Any]:
        saved = {name: getattr(self, name, None) for name in self.path_fields}
        for name in saved:
            setattr(self, name, None)
        return saved

    def _run(self, context: Context, job: WriteJob | ReadJob, items: Callable[[], Iterator[Located]]) -> Any:
        """Run the job, publish the outputs, then fail if asked to; return the return_value."""
        folder = None if self.output_path is None else _as_path(self.output_path)
        with self._input_errors():
            run = execute_job(job, items, folder, self.log)
        if run.stopped is not None:
            run.stopped = as_input_error(run.stopped, f"Task {self.task_id!r}:")
        failed = run.stopped is not None or (self.fail_on_error and run.sink.errors_count > 0)
        if failed:
            self._push(context, "return_value", run.return_value(self.result_verb))
        self._push(context, "errors", run.errors_value())
        if run.stopped is not None:
            raise run.stopped
        if run.sink.errors_count:
            message = run.failure_message(self.result_verb, self.task_id)
            if failed:
                raise HubSpotRecordsFailedError(message)
            self.log.warning("%s", message)
        return run.return_value(self.result_verb)

    def _push(self, context: Context, key: str, value: Any) -> None:
        if self.do_xcom_push:
            context["ti"].xcom_push(key=key, value=value)

    def _located(self, inline: Any, path: Any, what: str) -> Callable[[], Iterator[Located]]:
        """A factory of located raw items from the inline value or the file (called twice)."""
        if path is not None:
            source = _as_path(path)
            return lambda: iter_file(str(source), lambda: source.open("rb"))
        with self._input_errors():
            values = parse_inline(inline, what)
        return lambda: ((f"item {i}", v) for i, v in enumerate(values))


class _WriteTicketsOperator(_TicketsBatchOperator):
    """What create and upsert share: inputs from ``inputs`` or ``inputs_path``, ``id_property``,
    ``batch_size``, the job they run and their lineage (the input file flows into HubSpot's tickets)."""

    template_fields: Sequence[str] = ("inputs", "inputs_path", "output_path")
    path_fields = ("inputs_path", "output_path")
    job_class: ClassVar[type[WriteJob]]

    def __init__(
        self,
        *,
        inputs: Any = None,
        inputs_path: str | ObjectStoragePath | None = None,
        id_property: str | None = None,
        batch_size: int = MAX_BATCH_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.inputs = inputs
        self.inputs_path = inputs_path
        self.id_property = id_property
        self.batch_size = batch_size
        with self._input_errors():
            _check_exactly_one(inputs=inputs, inputs_path=inputs_path)
            check_batch_size(batch_size)
            check_inline_shape(inputs, "inputs")
            check_optional_name(id_property, "id_property")

    def execute(self, context: Context) -> Any:
        """Write the tickets; see the class docstring for outputs."""
        job = self.job_class(
            self.hook,
            id_property=self.id_property,
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            log=self.log,
            daily_budget=self.hook.daily_budget,
        )
        return self._run(context, job, self._located(self.inputs, self.inputs_path, "inputs"))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the input file (if any) flows into HubSpot's tickets (and the output files)."""
        inputs = [file_dataset(self.inputs_path)] if self.inputs_path is not None else []
        outputs = [tickets_dataset(self.hook.settings.base_url)]
        if self.output_path is not None:
            outputs.append(file_dataset(self.output_path))
        return operator_lineage(inputs, outputs)


class BatchCreateTicketsOperator(_WriteTicketsOperator):
    """Create HubSpot tickets in batches of up to 100, accounting for every input.

    Inputs come from ``inputs`` (a list, a JSON string, a ``.json`` template file or an XComArg) or
    from ``inputs_path`` (a ``.json`` / ``.jsonl`` / ``.ndjson`` / ``.csv`` file, local or object
    storage, streamed). Every input is checked before the first request. Each input gets a unique
    ``objectWriteTraceId``, so one invalid input fails alone (HubSpot answers 207) instead of its
    whole batch.

    Outputs: without ``output_path``, XCom ``return_value`` is the list of result records (HubSpot's
    record plus ``input_index`` and ``new``) and XCom ``errors`` the list of error records
    (``input_index``, ``input``, ``status``, ``category``, ``message``, ``context``). With
    ``output_path``, both go to ``results.jsonl`` / ``errors.jsonl`` in that folder, ``return_value``
    is ``{"results_path", "errors_path", "total", "created", "failed"}`` and ``errors`` the errors path.

    :param inputs: create inputs: HubSpot's shape or plain properties dicts. (templated)
    :param inputs_path: a file of inputs instead of ``inputs``. (templated)
    :param output_path: a folder (local path or object-storage URI) for the JSONL outputs. (templated)
    :param id_property: a unique-value ticket property every input carries: makes the create
        duplicate-safe (lost answers are checked, not re-sent; existing tickets become results).
    :param fail_on_error: fail the task (after writing and pushing every output) if any input failed.
    :param hubspot_conn_id: the ``hubspot`` connection.
    :param max_concurrency: batches in flight at once; ``None`` (default): automatic, enough to send
        the rate budget within about one round trip (at most 100).
    :param requests_per_10s: rate budget, overriding the connection's.
    :param daily_reserve: requests of the account's daily limit to leave to its other integrations:
        an integer or ``"N%"`` of ``X-HubSpot-RateLimit-Daily`` (``0`` off), overriding the
        connection's (default ``"5%"``). Once HubSpot's answers show that few left, the task stops.
    :param batch_size: inputs per request, at most 100.

    .. seealso:: README.md, section "BatchCreateTicketsOperator".
    """

    job_class = CreateJob
    result_verb = CreateJob.verb


class BatchUpsertTicketsOperator(_WriteTicketsOperator):
    """Create or update HubSpot tickets by a unique property (``batch/upsert``), 100 per request.

    The create operator's contract (``inputs`` / ``inputs_path``, outputs, errors, resume, rate
    limiting), with ``id_property`` required: each input's own value of it tells which ticket the
    input is; HubSpot creates the tickets whose value no ticket holds and updates the others. Checked
    before any request: every input has a non-empty value, no value repeats within the run (both rows
    are named), and no input has associations (an upsert cannot set them). Lost answers and 5xx are
    re-sent: an upsert is safe to repeat.

    Result records are HubSpot's record plus ``input_index``, with ``new`` (``true``: created,
    ``false``: updated). With ``output_path`` the ``return_value`` counts ``upserted`` instead of
    ``created``.

    :param id_property: the unique-value ticket property (``hasUniqueValue``) every input carries.
    :param inputs: plain properties dicts, or ``{"properties": {...}, "objectWriteTraceId": "..."}``.
        (templated)
    :param inputs_path: a file of inputs instead of ``inputs``. (templated)
    :param output_path: a folder (local path or object-storage URI) for the JSONL outputs. (templated)
    :param fail_on_error: fail the task (after writing and pushing every output) if any input failed.
    :param hubspot_conn_id: the ``hubspot`` connection.
    :param max_concurrency: batches in flight at once; ``None`` (default): automatic, enough to send
        the rate budget within about one round trip (at most 100).
    :param requests_per_10s: rate budget, overriding the connection's.
    :param daily_reserve: requests of the account's daily limit to leave to its other integrations,
        as for create.
    :param batch_size: inputs per request, at most 100.

    .. seealso:: README.md, section "BatchUpsertTicketsOperator".
    """

    job_class = UpsertJob
    result_verb = UpsertJob.verb

    def __init__(self, *, id_property: str | None = None, **kwargs: Any) -> None:
        super().__init__(id_property=id_property, **kwargs)
        with self._input_errors():
            require_id_property(id_property)


class BatchReadTicketsOperator(_TicketsBatchOperator):
    """Read HubSpot tickets by id in batches of 100 (50 with history).

    Ids come from ``ids`` (a list of ids or of records with an ``"id"`` key — create's results chain
    directly —, a JSON string, or an XComArg; create's ``return_value`` with ``output_path``, a dict
    with ``results_path``, is read from that file) or from ``ids_path`` (a ``.json`` / ``.jsonl``
    file of ids or records, or a ``.csv`` with an ``id`` or ``id_property`` column).

    Outputs follow the create operator's rules: result records are HubSpot's records; an id that does
    not exist gives an error record ``{"id", "input_index", "status", "category": "OBJECT_NOT_FOUND",
    "message", "context"}``; with ``output_path`` the return value counts ``read`` instead of
    ``created``.

    :param ids: the ids or records to read. (templated)
    :param ids_path: a file of ids instead of ``ids``. (templated)
    :param output_path: a folder (local path or object-storage URI) for the JSONL outputs. (templated)
    :param id_property: read by this unique-value property instead of the record id.
    :param properties: properties to return (empty: HubSpot's defaults).
    :param properties_with_history: properties to return with their history (batches of 50).
    :param archived: read archived tickets instead of active ones.
    :param fail_on_error: fail the task (after writing and pushing every output) if any id failed.
    :param hubspot_conn_id: the ``hubspot`` connection.
    :param max_concurrency: batches in flight at once; ``None`` (default): automatic, enough to send
        the rate budget within about one round trip (at most 100).
    :param requests_per_10s: rate budget, overriding the connection's.
    :param daily_reserve: requests of the account's daily limit to leave to its other integrations:
        an integer or ``"N%"`` of ``X-HubSpot-RateLimit-Daily`` (``0`` off), overriding the
        connection's (default ``"5%"``). Once HubSpot's answers show that few left, the task stops.

    .. seealso:: README.md, section "BatchReadTicketsOperator".
    """

    template_fields: Sequence[str] = ("ids", "ids_path", "output_path")
    path_fields = ("ids_path", "output_path")
    result_verb = ReadJob.verb

    def __init__(
        self,
        *,
        ids: Any = None,
        ids_path: str | ObjectStoragePath | None = None,
        id_property: str | None = None,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        archived: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ids = ids
        self.ids_path = ids_path
        self.id_property = id_property
        self.archived = archived
        with self._input_errors():
            _check_exactly_one(ids=ids, ids_path=ids_path)
            self.properties = as_names(properties, "properties")
            self.properties_with_history = as_names(properties_with_history, "properties_with_history")
            if not _is_create_output(ids):
                check_inline_shape(ids, "ids")
            check_optional_name(id_property, "id_property")

    def execute(self, context: Context) -> Any:
        """Read the tickets; see the class docstring for outputs."""
        job = ReadJob(
            self.hook,
            id_property=self.id_property,
            properties=self.properties,
            properties_with_history=self.properties_with_history,
            archived=self.archived,
            max_concurrency=self.max_concurrency,
            log=self.log,
            daily_budget=self.hook.daily_budget,
        )
        ids, ids_path = self.ids, self.ids_path
        if _is_create_output(ids):  # its results file; none at all when it created nothing
            ids, ids_path = ([], None) if _created_nothing(ids) else (None, ids["results_path"])
        return self._run(context, job, self._located(ids, ids_path, "ids"))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: HubSpot's tickets (and the ids file, if any) flow into the output files."""
        inputs = [tickets_dataset(self.hook.settings.base_url)]
        if self.ids_path is not None:
            inputs.append(file_dataset(self.ids_path))
        outputs = [file_dataset(self.output_path)] if self.output_path is not None else []
        return operator_lineage(inputs, outputs)


def _as_path(value: Any) -> Path | ObjectStoragePath:
    if isinstance(value, ObjectStoragePath):
        return value
    text = str(value)
    if "://" in text and not text.startswith("file://"):
        return ObjectStoragePath(text)
    return Path(text.removeprefix("file://"))


def _created_nothing(output: Mapping[str, Any]) -> bool:
    """Whether a write operator's ``return_value`` counts no result (its results file is empty)."""
    return any(output.get(verb) == 0 for verb in (CreateJob.verb, UpsertJob.verb))


def _is_create_output(ids: Any) -> bool:
    """Whether ``ids`` is the create operator's ``return_value`` with ``output_path`` (read from its file)."""
    return isinstance(ids, Mapping) and "results_path" in ids


def _check_exactly_one(**named: Any) -> None:
    given = [name for name, value in named.items() if value is not None]
    if len(given) != 1:
        first, second = named
        raise InvalidInputError(
            f"give exactly one of {first} or {second}" + ("; got both." if given else "; got neither.")
        )


__all__ = ["BatchCreateTicketsOperator", "BatchReadTicketsOperator", "BatchUpsertTicketsOperator"]
