"""Logs, metrics and traces, with Powertools for AWS Lambda, wired into every handler by one Chalice middleware.

Logs are JSON lines (Powertools Logger) with ids and counts only: never record contents, file rows or
credentials. Every line of an invocation carries the Lambda request id, the handler and the stage (the
middleware appends them); while a worker handles a message, its run and chunk ids too (`message_keys`). An
exception is logged by its type alone (`TypeOnlyExceptions`): its text may quote a record or a token.

Metrics are CloudWatch Embedded Metric Format documents (Powertools Metrics), printed to stdout: Lambda ships
them to CloudWatch Logs, which turns them into metrics without an API call on the hot path, and the local stack
reads the same documents (local_stack/metrics.py). METRICS below names every one; each carries the `Stage`
dimension, and some are also broken down by one more (RecordType, Source, Status, Handler). What an invocation
records is printed when it ends, failed or not, one document per breakdown.

Traces go to X-Ray (Powertools Tracer) in Lambda only: X-Ray needs the daemon Lambda runs, so outside Lambda, or
with POWERTOOLS_TRACE_DISABLED=true, there is no tracer at all (not even its import).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from chalice.app import CloudWatchEvent, Request, SQSEvent

from chalicelib.config import Settings

SERVICE = "records-migration"
NAMESPACE = "RecordsMigration"
STAGE_DIMENSION = "Stage"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: MetricUnit
    breakdown: str | None = None  # the second dimension it is also published by, given with every value
    description: str = ""


RECORDS_PROCESSED = Metric("RecordsProcessed", MetricUnit.Count, "RecordType",
                           "Records of a counted chunk, valid or not (counted once per chunk).")
RECORDS_DELIVERED = Metric("RecordsDelivered", MetricUnit.Count, "RecordType",
                           "Records the target took, or written to a file part (a dry run delivers none).")
RECORDS_REJECTED = Metric("RecordsRejected", MetricUnit.Count, "RecordType",
                          "Records that failed validation or that the target refused.")
CHUNK_SECONDS = Metric("ChunkSeconds", MetricUnit.Seconds, "RecordType", "A counted chunk, read to counted.")
DELIVERY_CALLS = Metric("DeliveryCalls", MetricUnit.Count, description="HTTP calls to the target, retries included.")
DELIVERY_LATENCY = Metric("DeliveryLatency", MetricUnit.Milliseconds, description="One call to the target.")
DELIVERY_RETRIES = Metric("DeliveryRetries", MetricUnit.Count, description="Calls to the target made again.")
DELIVERY_THROTTLES = Metric("DeliveryThrottles", MetricUnit.Count, description="429 answers of the target.")
RUNS_STARTED = Metric("RunsStarted", MetricUnit.Count, "Source", "Runs queued: api, upload, or retry.")
RUNS_FINISHED = Metric("RunsFinished", MetricUnit.Count, "Status", "Runs ended: completed, failed or cancelled.")
CHUNKS_FAILED = Metric("ChunksFailed", MetricUnit.Count,
                       description="Chunks failed for good: their records count as errors (DLQ, refused token URL).")
RECONCILIATIONS_FAILED = Metric("ReconciliationsFailed", MetricUnit.Count,
                                description="Runs whose reconciliation report will not come by itself (its message "
                                            "dead-lettered, or was refused at the run's end).")
HANDLER_ERRORS = Metric("HandlerErrors", MetricUnit.Count, "Handler",
                        "Invocations that raised (the event comes back), or API requests answered 500.")
NOTIFICATIONS_FAILED = Metric("NotificationsFailed", MetricUnit.Count, "Channel",
                              "Run-end events EventBridge did not take, and webhook calls that failed for good.")
METRICS = (RECORDS_PROCESSED, RECORDS_DELIVERED, RECORDS_REJECTED, CHUNK_SECONDS, DELIVERY_CALLS,
           DELIVERY_LATENCY, DELIVERY_RETRIES, DELIVERY_THROTTLES, RUNS_STARTED, RUNS_FINISHED, CHUNKS_FAILED,
           RECONCILIATIONS_FAILED, HANDLER_ERRORS, NOTIFICATIONS_FAILED)


# --------------------------------------------------------------------------- logs
class TypeOnlyExceptions(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with an exception named by its type alone: no text, no notes, no frames.

    An exception's text may quote what it choked on: a record's value (pandas, pydantic), a URL with its query
    or a token (requests), an item (botocore).
    """

    def __init__(self, **options: Any):
        super().__init__(serialize_stacktrace=False, utc=True, use_rfc3339=True, **options)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ei[0].__name__ if ei and ei[0] is not None else ""

    def serialize(self, log: dict[str, Any]) -> str:
        log.pop("exception_notes", None)
        log.pop("stack_trace", None)
        return super().serialize(log)


class _CurrentStdout(logging.StreamHandler):
    """Writes to whatever sys.stdout is when a line is logged: Lambda's, the local stack's (which reads the
    metric documents from it), a test's capture. One bound at start would outlive a test's capture."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


_logger: Logger | None = None
_logger_lock = threading.Lock()
# What a LogRecord already holds: a field of that name would make logging raise.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def logger() -> Logger:
    global _logger
    with _logger_lock:
        if _logger is None:
            _logger = Logger(service=SERVICE, level=Settings.from_environ().log_level,
                             logger_handler=_CurrentStdout(), logger_formatter=TypeOnlyExceptions())
            logging.getLogger(SERVICE).propagate = False  # its own handler prints it; the root's must not again
        return _logger


def log(message: str, level: int = logging.INFO, exc_info: bool = False, **fields) -> None:
    """One line with `fields` beside the keys of the message being handled."""
    fields = {f"{name}_" if name in _RECORD_ATTRIBUTES else name: value for name, value in fields.items()}
    logger().log(level, message, exc_info=exc_info, extra=fields, stacklevel=2)


@contextlib.contextmanager
def message_keys(**keys) -> Iterator[None]:
    """Add `keys` (a run id, a chunk number) to every line logged until the message is handled."""
    before = dict(logger().thread_safe_get_current_keys())
    logger().thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger().thread_safe_clear_keys()
        logger().thread_safe_append_keys(**before)


# --------------------------------------------------------------------------- metrics
@dataclass
class _Invocation:
    stage: str
    documents: dict[tuple[tuple[str, str], ...], Metrics] = field(default_factory=dict)

    def document(self, breakdown: dict[str, str]) -> Metrics:
        key = tuple(sorted(breakdown.items()))
        if key not in self.documents:
            self.documents[key] = _document(self.stage, breakdown)
        return self.documents[key]

    def flush(self) -> None:
        for metrics in self.documents.values():
            if metrics.provider.metric_set:  # (Metrics.metric_set is the shared set, not this provider's)
                metrics.flush_metrics()
        self.documents.clear()


# One per handler invocation, on its thread: the local stack runs the API and several pollers in one process.
_invocation: ContextVar[_Invocation | None] = ContextVar("records_migration_invocation", default=None)


def _document(stage: str, breakdown: dict[str, str]) -> Metrics:
    """A Powertools Metrics of its own (by default they share one set per process), dimensions [Stage] and, with
    a breakdown, [Stage, <breakdown>]; no `service` dimension, which the alarms would then have to name."""
    provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service="", metric_set={}, dimension_set={},
                                           metadata_set={}, default_dimensions={STAGE_DIMENSION: stage})
    metrics = Metrics(provider=provider)
    if breakdown:
        metrics.add_dimensions(**breakdown)
    return metrics


def record(metric: Metric, value: float, **breakdown: str) -> None:
    """Record a value of `metric`, with its breakdown dimension's value if it has one (RecordType="claim")."""
    if set(breakdown) != ({metric.breakdown} if metric.breakdown else set()):
        raise ValueError(f"{metric.name} is broken down by {metric.breakdown or 'nothing'}, not {sorted(breakdown)}")
    current = _invocation.get()
    if current is None:  # outside a handler (a script, a test): a document of its own, printed now
        current = _Invocation(Settings.from_environ().stage)
        current.document(breakdown).add_metric(name=metric.name, unit=metric.unit, value=value)
        current.flush()
        return
    current.document(breakdown).add_metric(name=metric.name, unit=metric.unit, value=value)


def record_chunk(record_type: str, valid: int, delivered: int, rejected: int, seconds: float) -> None:
    """A chunk counted (once: a redelivered chunk records nothing)."""
    record(RECORDS_PROCESSED, valid + rejected, RecordType=record_type)
    record(RECORDS_DELIVERED, delivered, RecordType=record_type)
    record(RECORDS_REJECTED, rejected, RecordType=record_type)
    record(CHUNK_SECONDS, round(seconds, 3), RecordType=record_type)


def record_delivery(calls: int, retries: int, throttled: int, latencies_ms: list[float]) -> None:
    """A chunk's calls to the target, recorded whether its delivery succeeded or ran out of retry budget."""
    record(DELIVERY_CALLS, calls)
    record(DELIVERY_RETRIES, retries)
    record(DELIVERY_THROTTLES, throttled)
    for latency in latencies_ms:  # Powertools prints a document every 100 values of a metric
        record(DELIVERY_LATENCY, round(latency, 1))


# --------------------------------------------------------------------------- traces
_tracer = None
_tracer_lock = threading.Lock()


def tracing_enabled() -> bool:
    """In Lambda (which runs the X-Ray daemon), unless POWERTOOLS_TRACE_DISABLED says otherwise."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


def tracer():
    """The Powertools Tracer, made on first use in Lambda; None where tracing is off."""
    global _tracer
    if not tracing_enabled():
        return None
    with _tracer_lock:
        if _tracer is None:
            import wrapt
            from aws_lambda_powertools import Tracer

            _tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
            # requests is imported when a worker is first wired (bootstrap): patched then, so that the API,
            # which never calls out with it, does not import it for the tracer's sake.
            wrapt.register_post_import_hook(lambda _module: _tracer.patch(["requests"]), "requests")
        return _tracer


# --------------------------------------------------------------------------- the middleware
_cold_start = True


def handler_name(event, settings: Settings) -> str:
    """Which function of app.py an event is for: the metrics' Handler dimension, the logs' `handler`. Lambda's
    own function name will not do: CloudFormation gives each deployment's functions a random suffix."""
    if isinstance(event, Request):
        return "api_handler"
    if isinstance(event, CloudWatchEvent):
        return "reap_stalled_runs"
    if isinstance(event, SQSEvent):
        records = event.to_dict().get("Records") or [{}]
        queue = str(records[0].get("eventSourceARN", "")).rsplit(":", 1)[-1]
        return {settings.work_queue_name: "process_work", settings.work_dlq_name: "handle_dead_chunk",
                settings.uploads_queue_name: "handle_upload"}.get(queue, "sqs")
    return type(event).__name__


def observed(event, get_response):
    """Chalice middleware for every handler (`app.register_middleware(observed, "all")`).

    Adds the request id, handler and stage to every line logged while the handler runs, prints the metrics it
    recorded when it ends (failed or not), counts a failure in HandlerErrors, and traces it in Lambda.
    """
    global _cold_start
    settings = Settings.from_environ()  # the stage's, read now: Chalice's test client sets it per request
    context = event.lambda_context if isinstance(event, Request) else event.context
    handler = handler_name(event, settings)
    current = _Invocation(settings.stage)
    token = _invocation.set(current)
    cold, _cold_start = _cold_start, False
    logger().thread_safe_append_keys(function_request_id=getattr(context, "aws_request_id", None),
                                     handler=handler, stage=settings.stage, cold_start=cold)
    try:
        response = _traced(get_response, event, handler, cold)
        if isinstance(event, Request) and getattr(response, "status_code", 200) == 500:
            record(HANDLER_ERRORS, 1, Handler=handler)
        return response
    except Exception:
        record(HANDLER_ERRORS, 1, Handler=handler)
        raise
    finally:
        try:
            current.flush()
        finally:
            _invocation.reset(token)
            logger().thread_safe_clear_keys()


def _traced(get_response, event, handler: str, cold: bool):
    active = tracer()
    if active is None:
        return get_response(event)
    failure = None
    with active.provider.in_subsegment(name=f"## {handler}") as subsegment:
        subsegment.put_annotation(key="ColdStart", value=cold)
        try:
            return get_response(event)
        except Exception as err:
            # X-Ray would record the exception's text with it: only its type goes in the trace.
            subsegment.put_annotation(key="Error", value=type(err).__name__)
            subsegment.add_fault_flag()
            failure = err
    raise failure
