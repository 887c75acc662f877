"""Logs, metrics and the middleware (chalicelib/observability.py), and the local stack's sum of the metrics
(local_stack/metrics.py): what each line and each document holds, without AWS.

The service's log lines and metric documents go to whatever sys.stdout is when they are written, so capsys
reads them here as Lambda's log stream would.
"""
from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from chalice.app import CloudWatchEvent, Request, SQSEvent

from chalicelib import observability
from chalicelib.config import Settings
from chalicelib.observability import (HANDLER_ERRORS, METRICS, RECORDS_PROCESSED, RUNS_FINISHED, log,
                                      message_keys, observed, record)
from local_stack.metrics import EmfTee, LocalMetrics, emf_document
from local_stack.pollers import LambdaContext, scheduled_event, sqs_event

SECRET = "Bearer s3cr3t-token 123-45-6789"


def printed(capsys) -> tuple[list[dict], list[dict]]:
    """(log lines, EMF documents) printed since the last call."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" not in line], [line for line in lines if "_aws" in line]


def sqs_invocation(queue: str, body: str = "{}") -> SQSEvent:
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body}
    return SQSEvent(sqs_event(message, f"arn:aws:sqs:us-east-1:123456789012:{queue}", "us-east-1"),
                    LambdaContext("process_work"))


@pytest.fixture(autouse=True)
def stage(monkeypatch):
    monkeypatch.setenv("STAGE", "unit")
    for name in ("WORK_QUEUE_NAME", "WORK_DLQ_NAME", "UPLOADS_QUEUE_NAME"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- logs

def test_a_line_carries_the_invocation_and_message_keys_once_appended(capsys):
    # GIVEN a worker invocation (the middleware) handling one message (message_keys)
    event = sqs_invocation("records-migration-work-unit")

    def handler(_event):
        with message_keys(run_id="run-1", chunk=7):
            log("chunk counted", success=3)
        log("between messages")

    # WHEN it logs
    observed(event, handler)
    log("outside any invocation")
    lines, _ = printed(capsys)
    # THEN each line inside carries the request id, handler and stage; the message's lines its run and chunk
    counted, between, outside = lines
    assert counted["message"] == "chunk counted" and counted["success"] == 3
    assert counted["function_request_id"] == event.context.aws_request_id
    assert (counted["handler"], counted["stage"], counted["run_id"], counted["chunk"]) == \
        ("process_work", "unit", "run-1", 7)
    assert counted["service"] == "records-migration" and counted["level"] == "INFO"
    assert counted["location"].startswith("handler:")  # the caller's line, not observability.log's
    assert between["handler"] == "process_work" and "run_id" not in between and "chunk" not in between
    assert not {"function_request_id", "handler", "stage", "run_id"} & set(outside)


def test_an_exception_is_logged_by_its_type_only(capsys):
    # GIVEN an exception whose text, notes and frames' locals quote a secret
    def fail(value):
        err = ValueError(f"could not parse {value!r}")
        err.add_note(f"while reading {value}")
        raise err

    # WHEN it is logged with its traceback
    try:
        fail(SECRET)
    except ValueError:
        log("request failed", logging.ERROR, exc_info=True, view="trigger")
    out = capsys.readouterr().out
    # THEN the line names its type, and nothing of its text, notes or frames
    (line,) = [json.loads(line) for line in out.splitlines()]
    assert line["exception"] == line["exception_name"] == "ValueError"
    assert "s3cr3t" not in out and "123-45-6789" not in out and "could not parse" not in out
    assert not {"stack_trace", "exception_notes"} & set(line)


def test_the_formatter_masks_exceptions_on_any_handler():
    formatter = observability.TypeOnlyExceptions()
    try:
        raise KeyError(SECRET)
    except KeyError:
        failed = logging.getLogger("x").makeRecord("x", logging.ERROR, "f", 1, "boom", None, sys.exc_info())
    line = json.loads(formatter.format(failed))
    assert line["exception"] == "KeyError" and SECRET not in json.dumps(line)


def test_a_field_named_like_a_log_record_attribute_does_not_break_logging(capsys):
    log("odd fields", name="n", module="m")
    (line,), _ = printed(capsys)
    assert line["name_"] == "n" and line["module_"] == "m"


# ---------------------------------------------------------------- metrics

@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_every_metric_is_printed_with_the_stage_dimension(capsys, metric):
    # GIVEN a value of the metric, with its breakdown if it has one
    breakdown = {metric.breakdown: "x"} if metric.breakdown else {}
    # WHEN it is recorded outside an invocation (printed at once)
    record(metric, 2, **breakdown)
    _, (document,) = printed(capsys)
    # THEN the document is EMF of the namespace, the metric with its unit, dimension sets [Stage] (+ breakdown)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "RecordsMigration"
    assert directive["Metrics"] == [{"Name": metric.name, "Unit": metric.unit.value}]
    expected = [["Stage"], ["Stage", metric.breakdown]] if metric.breakdown else [["Stage"]]
    assert directive["Dimensions"] == expected
    assert document["Stage"] == "unit" and document[metric.name] == [2.0]
    assert "service" not in document  # the alarms name exactly [Stage] or [Stage, <breakdown>]


def test_a_metric_takes_its_own_breakdown_only():
    with pytest.raises(ValueError):
        record(RECORDS_PROCESSED, 1)
    with pytest.raises(ValueError):
        record(RUNS_FINISHED, 1, RecordType="claim")


def test_metric_names_are_unique_and_within_cloudwatch_limits():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names)) and all(0 < len(n) <= 255 for n in names)


def test_an_invocation_prints_its_metrics_when_it_ends_even_if_it_fails(capsys):
    # GIVEN a handler that records, then raises
    def handler(_event):
        record(RECORDS_PROCESSED, 10, RecordType="claim")
        record(RECORDS_PROCESSED, 5, RecordType="claim")
        record(RUNS_FINISHED, 1, Status="failed")
        assert printed(capsys)[1] == []  # nothing printed before the invocation ends
        raise RuntimeError(SECRET)

    # WHEN the middleware runs it
    with pytest.raises(RuntimeError):
        observed(sqs_invocation("records-migration-work-unit"), handler)
    _, documents = printed(capsys)
    # THEN one document per breakdown holds the values, and the failure counts in HandlerErrors of its handler
    by_metric = {next(iter(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]))["Name"]: d for d in documents}
    assert by_metric["RecordsProcessed"]["RecordsProcessed"] == [10.0, 5.0]
    assert by_metric["RecordsProcessed"]["RecordType"] == "claim"
    assert by_metric["RunsFinished"]["Status"] == "failed"
    assert by_metric["HandlerErrors"]["Handler"] == "process_work"
    assert all(d["Stage"] == "unit" for d in documents)


def test_the_handler_dimension_names_app_py_s_functions():
    settings = Settings.from_environ({"STAGE": "unit"})
    names = {observability.handler_name(sqs_invocation(queue), settings)
             for queue in ("records-migration-work-unit", "records-migration-work-dlq-unit",
                           "records-migration-uploads-unit")}
    assert names == {"process_work", "handle_dead_chunk", "handle_upload"}
    schedule = CloudWatchEvent(scheduled_event("reap_stalled_runs"), LambdaContext("reap_stalled_runs"))
    assert observability.handler_name(schedule, settings) == "reap_stalled_runs"
    request = Request({"multiValueQueryStringParameters": None, "headers": {}, "pathParameters": None,
                       "requestContext": {"httpMethod": "GET", "resourcePath": "/"}, "body": None,
                       "isBase64Encoded": False, "stageVariables": None})
    assert observability.handler_name(request, settings) == "api_handler"


def test_tracing_is_off_outside_lambda_and_when_disabled(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert observability.tracer() is None
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not observability.tracing_enabled() and observability.tracer() is None
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED")
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    assert observability.tracing_enabled()


# ---------------------------------------------------------------- the local stack's sum

def test_local_metrics_add_up_documents_as_cloudwatch_would(capsys):
    # GIVEN the documents of two chunks and a log line, printed through the local stack's tee
    metrics = LocalMetrics()
    seen = []
    tee = EmfTee(io.StringIO(), lambda d: (seen.append(d), metrics.add(d)))
    for rows, seconds in ((100, 1.5), (50, 0.5)):
        record(RECORDS_PROCESSED, rows, RecordType="claim")
        record(observability.CHUNK_SECONDS, seconds, RecordType="claim")
    out = capsys.readouterr().out
    tee.write('{"level":"INFO","message":"not a metric"}\n' + out[:10])
    tee.write(out[10:])  # a document split across writes is still read whole
    # THEN each series (metric and dimension set) has CloudWatch's statistics
    assert len(seen) == 4
    series = {(m["name"], tuple(sorted(m["dimensions"]))): m for m in metrics.snapshot()["metrics"]}
    processed = series[("RecordsProcessed", ("Stage",))]
    assert (processed["sum"], processed["sample_count"], processed["minimum"], processed["maximum"]) == (150, 2, 50, 100)
    assert series[("RecordsProcessed", ("RecordType", "Stage"))]["dimensions"] == {"Stage": "unit", "RecordType": "claim"}
    assert series[("ChunkSeconds", ("Stage",))]["average"] == 1.0
    assert emf_document("not json") is None and emf_document('{"_aws": 1}') is None


def test_the_health_answers_are_what_its_model_describes():
    from chalicelib.answers import HealthAnswer
    from chalicelib.health import Health

    class Answering:
        def get_item(self, **_):
            return {}

        def get_queue_url(self, **_):
            raise RuntimeError("no such queue: a text that must not reach the answer")

    healthy, answer = Health(Answering(), "runs", Answering(), "work").report()
    assert not healthy and answer == {"status": "failing", "checks": {"runs_table": "ok", "work_queue": "failing"}}
    HealthAnswer.model_validate(answer)
    with pytest.raises(ValueError):
        HealthAnswer.model_validate({"status": "ok", "checks": {"runs_table": "ok", "work_queue": "ok", "x": "ok"}})
