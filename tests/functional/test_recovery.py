"""Runs always end: the DLQ handler, the reaper, and uploads that start runs once."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3

from chalicelib import bootstrap
from tests.functional.test_migration_api import HEADER, SMALL, record, write


def test_chunk_that_reaches_the_dlq_counts_its_records_as_errors_once(harness):
    # GIVEN a run planned into three chunks
    rows = [record(n) for n in range(1, 251)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])
    first, second, third = sorted(harness.receive(), key=lambda m: json.loads(m["Body"])["chunk"])
    harness.deliver(first)
    harness.deliver(third)
    # WHEN the second chunk's message lands in the DLQ, and the DLQ handler sees it twice
    harness.invoke(second, handler="handle_dead_chunk", queue="dlq")
    harness.invoke(second, handler="handle_dead_chunk", queue="dlq")
    # THEN its 100 records count as errors, once, and the run ends
    status = harness.status(run_id)
    assert status["progress"]["error_count"] == 100
    assert status["progress"]["processed_records"] == 250
    assert status["details"]["chunks"] == {"total": 3, "done": 2, "failed": 1}
    assert status["status"] == "failed"
    assert "1 of 3 chunks failed after retries" in status["error_message"]
    report = open(f"{harness.output_dir(run_id)}/errors/part-000002.jsonl").read().splitlines()
    assert len(report) == 100 and json.loads(report[0])["rule"] == "chunk_failed"


def test_reaper_fails_runs_that_stopped_moving(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    stuck = harness.trigger(file_path=path, record_type="disability", output_mode="file",
                            authentication={"type": "bearer_token", "token": "t"})
    fresh_reaper = bootstrap.components().reaper
    assert fresh_reaper.reap() == []  # nothing is stalled yet
    later = datetime.now(timezone.utc) + timedelta(seconds=fresh_reaper.stalled_after_seconds + 60)
    assert fresh_reaper.reap(now=later) == [stuck]
    status = harness.status(stuck)
    assert status["status"] == "failed"
    assert "the run stopped moving: no progress for" in status["error_message"]
    assert harness.get("/api/v1/migrations/running").json_body["count"] == 0
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == ["records-migration/test/target-credentials"]
    # the plan message still in the queue starts nothing
    harness.drain()
    assert harness.status(stuck)["status"] == "failed"


def upload_event(bucket: str, key: str, sequencer: str = "0055AED6DCD90281E5") -> str:
    return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": bucket}, "object": {"key": key.replace(" ", "+"), "sequencer": sequencer}}}]})


def test_upload_starts_one_run_even_when_the_notification_comes_twice(harness, monkeypatch):
    monkeypatch.setenv("UPLOAD_OUTPUT_MODE", "file")
    bucket = "records-migration-data-test-123456789012"
    key = "incoming/disability/march export.csv"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=(HEADER + "\n" + record(1) + "\n").encode())
    message = {"Body": upload_event(bucket, key), "MessageId": "m", "ReceiptHandle": "r"}
    harness.invoke(message, handler="handle_upload", queue="uploads")
    harness.invoke(message, handler="handle_upload", queue="uploads")
    runs = harness.get("/api/v1/migrations").json_body["migrations"]
    assert len(runs) == 1 and runs[0]["file_path"] == f"s3://{bucket}/{key}"
    harness.drain()
    status = harness.status(runs[0]["run_id"])
    assert status["status"] == "completed" and status["progress"]["success_count"] == 1


def test_s3_test_event_and_unknown_folders_start_nothing(harness):
    bucket = "records-migration-data-test-123456789012"
    for body in (json.dumps({"Event": "s3:TestEvent", "Bucket": bucket}),
                 upload_event(bucket, "incoming/pension/x.csv"),
                 upload_event(bucket, "incoming/x.csv")):
        harness.invoke({"Body": body, "MessageId": "m", "ReceiptHandle": "r"}, handler="handle_upload",
                       queue="uploads")
    assert harness.get("/api/v1/migrations").json_body["count"] == 0
