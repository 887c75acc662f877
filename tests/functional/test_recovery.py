"""Runs always end: the DLQ handler, the reaper, and uploads that start runs once."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3

from chalicelib import bootstrap
from tests.functional.test_migration_api import HEADER, SMALL, record, write


def run_whose_second_chunk_dies(harness, dead_letter_copies: int = 1) -> str:
    """A 250-record run in three chunks: the first and third processed, the second
    handed to the DLQ handler (as SQS does after maxReceiveCount failures)."""
    rows = [record(n) for n in range(1, 251)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])
    first, second, third = sorted(harness.receive(), key=lambda m: json.loads(m["Body"])["chunk"])
    harness.deliver(first)
    harness.deliver(third)
    for _ in range(dead_letter_copies):
        harness.invoke(second, handler="handle_dead_chunk", queue="dlq")
    return run_id


def test_chunk_that_reaches_the_dlq_counts_its_records_as_errors_once(harness):
    # GIVEN a run planned into three chunks
    # WHEN the second chunk's message lands in the DLQ, and the DLQ handler sees it twice
    run_id = run_whose_second_chunk_dies(harness, dead_letter_copies=2)
    # THEN its 100 records count as errors, once, and the run ends
    status = harness.status(run_id)
    assert status["progress"]["error_count"] == 100
    assert status["progress"]["processed_records"] == 250
    assert status["details"]["chunks"] == {"total": 3, "done": 2, "failed": 1}
    assert status["status"] == "failed"
    assert "1 of 3 chunks failed" in status["error_message"]
    report = open(f"{harness.output_dir(run_id)}/errors/part-000002.jsonl").read().split("\n")[:-1]
    assert len(report) == 100 and json.loads(report[0])["rule"] == "chunk_failed"


def test_reaper_fails_runs_that_stopped_moving(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    stuck = harness.trigger(file_path=path, record_type="disability", output_mode="file",
                            authentication={"type": "bearer_token", "token": "t"})
    fresh_reaper = bootstrap.components().reaper
    assert fresh_reaper.reap() == {"failed": [], "replanned": [], "announced": []}  # nothing is stalled yet
    later = datetime.now(timezone.utc) + timedelta(seconds=fresh_reaper.stalled_after_seconds + 60)
    assert fresh_reaper.reap(now=later) == {"failed": [stuck], "replanned": [], "announced": []}
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


def test_s3_test_event_starts_nothing_and_unknown_folders_are_failed_runs_that_say_why(harness):
    bucket = "records-migration-data-test-123456789012"
    harness.invoke({"Body": json.dumps({"Event": "s3:TestEvent", "Bucket": bucket}), "MessageId": "m",
                    "ReceiptHandle": "r"}, handler="handle_upload", queue="uploads")
    assert harness.get("/api/v1/migrations").json_body["count"] == 0
    for key in ("incoming/pension/x.csv", "incoming/x.csv"):
        harness.invoke({"Body": upload_event(bucket, key), "MessageId": "m", "ReceiptHandle": "r"},
                       handler="handle_upload", queue="uploads")
    runs = {r["file_path"]: r for r in harness.get("/api/v1/migrations").json_body["migrations"]}
    assert {path: r["status"] for path, r in runs.items()} == {
        f"s3://{bucket}/incoming/pension/x.csv": "failed", f"s3://{bucket}/incoming/x.csv": "failed"}
    assert runs[f"s3://{bucket}/incoming/pension/x.csv"]["error_message"].startswith(
        "record_type: unknown record type 'pension'")
    assert runs[f"s3://{bucket}/incoming/x.csv"]["error_message"] == (
        "file_path: an upload starts a migration only under incoming/<record_type>/ or "
        "incoming/<tenant>/<record_type>/")


def test_reaper_sends_a_lost_plan_again_and_the_run_completes(harness):
    # GIVEN a run whose plan message was lost
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    lost = harness.receive()
    for message in lost:
        harness.sqs.delete_message(QueueUrl=harness.queue_urls["work"], ReceiptHandle=message["ReceiptHandle"])
    reaper = bootstrap.components().reaper
    # WHEN the reaper runs after the re-plan delay (but before the stall limit)
    later = datetime.now(timezone.utc) + timedelta(seconds=reaper.replan_after_seconds + 1)
    assert reaper.reap(now=later) == {"failed": [], "replanned": [run_id], "announced": []}
    soon = datetime.now(timezone.utc) + timedelta(seconds=10)
    # not again while the new plan is young
    assert reaper.reap(now=soon) == {"failed": [], "replanned": [], "announced": []}
    # THEN the plan comes back and the run completes
    harness.drain()
    status = harness.status(run_id)
    assert status["status"] == "completed" and status["progress"]["success_count"] == 1


def test_retry_reprocesses_only_the_failed_chunks_of_the_same_run(harness):
    # GIVEN a run whose second chunk went to the DLQ
    run_id = run_whose_second_chunk_dies(harness)
    failed = harness.status(run_id)
    assert failed["status"] == "failed" and failed["progress"]["error_count"] == 100
    # WHEN it is retried
    response = harness.post(f"/api/v1/migrations/retry/{run_id}", {})
    assert response.status_code == 200, response.body
    assert response.json_body["retried_chunks"] == 1 and response.json_body["retried_records"] == 100
    assert harness.post(f"/api/v1/migrations/retry/{run_id}", {}).status_code == 409  # it is running now
    # the failed end queued its reconciliation report too; the retry queued the chunk
    queued = [m for m in harness.receive() if json.loads(m["Body"])["kind"] == "chunk"]
    assert [json.loads(m["Body"])["chunk"] for m in queued] == [2]
    harness.deliver(queued[0])
    # THEN the same run completes with exact counters, and its history shows the retry
    status = harness.status(run_id)
    assert status["status"] == "completed"
    assert status["progress"]["success_count"] == 250 and status["progress"]["error_count"] == 0
    assert status["details"]["chunks"] == {"total": 3, "done": 3, "failed": 0}
    assert "retry" in [s["step"] for s in status["details"]["steps"]]
    assert status["details"]["errors_by_rule"].get("chunk_failed", 0) == 0
    assert harness.get(f"/api/v1/migrations/{run_id}/errors").json_body["error_rows"] == 0


def test_retry_refuses_runs_without_failed_chunks_and_asks_for_deleted_credentials(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    done = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    answer = harness.post(f"/api/v1/migrations/retry/{done['run_id']}", {})
    assert answer.status_code == 409 and "no failed chunks" in answer.json_body["detail"]
    assert harness.post("/api/v1/migrations/retry/1b4e28ba-2fa1-11d2-883f-0016d3cca427", {}).status_code == 404
    # a failed api-mode run that had its own token needs it again
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="api",
                             authentication={"type": "bearer_token", "token": "functional-test-token"})
    harness.deliver(harness.receive()[0])
    harness.invoke(harness.receive()[0], handler="handle_dead_chunk", queue="dlq")
    answer = harness.post(f"/api/v1/migrations/retry/{run_id}", {})
    assert answer.status_code == 422 and "send them again" in answer.json_body["detail"]
    answer = harness.post(f"/api/v1/migrations/retry/{run_id}",
                          {"authentication": {"type": "bearer_token", "token": "functional-test-token"}})
    assert answer.status_code == 200
    harness.drain()
    status = harness.status(run_id)
    assert status["status"] == "completed" and harness.target.state.snapshot()["records"] == 1


def test_trigger_with_an_idempotency_key_makes_one_run(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    body = {"file_path": path, "record_type": "disability", "output_mode": "file"}
    first = harness.post("/api/v1/migrations/trigger", body, headers={"Idempotency-Key": "batch-2026-11-24"})
    again = harness.post("/api/v1/migrations/trigger", body, headers={"Idempotency-Key": "batch-2026-11-24"})
    assert first.status_code == again.status_code == 200
    assert first.json_body["run_id"] == again.json_body["run_id"]
    assert len(harness.receive()) == 1  # one plan message
    other = harness.post("/api/v1/migrations/trigger", {**body, "batch_size": 7},
                         headers={"Idempotency-Key": "batch-2026-11-24"})
    assert other.status_code == 409 and "different request" in other.json_body["detail"]
    assert harness.get("/api/v1/migrations").json_body["count"] == 1


def test_an_end_whose_function_died_before_announcing_it_is_announced_by_the_reaper(harness):
    # GIVEN a run with its own credentials and a webhook, ended by its update alone: the function that ended it
    # died before it announced the end (no event, no report's message, its credentials kept)
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file",
                             authentication={"type": "bearer_token", "token": "t"})
    components = bootstrap.components()
    ended = components.store.cancel(run_id, by="anonymous")
    assert ended is not None and [r.run_id for r in components.store.list_unannounced()] == [run_id]
    assert harness.get("/api/v1/migrations/running").json_body["count"] == 0  # not active for all that
    [plan] = harness.receive()
    reaper = components.reaper
    # WHEN the reaper looks while the end is young, THEN it leaves it to its function
    soon = datetime.now(timezone.utc) + timedelta(seconds=60)
    assert reaper.reap(now=soon) == {"failed": [], "replanned": [], "announced": []}
    # WHEN it looks minutes later, THEN it announces the end: the report's message is queued and built, the
    # run's credentials are released, and the run is announced once
    later = datetime.now(timezone.utc) + timedelta(seconds=600)
    assert reaper.reap(now=later) == {"failed": [], "replanned": [], "announced": [run_id]}
    assert components.store.list_unannounced() == []
    assert reaper.reap(now=later)["announced"] == []
    kinds = [json.loads(m["Body"])["kind"] for m in harness.receive()]
    assert kinds == ["reconcile"]
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == ["records-migration/test/target-credentials"]
    harness.sqs.delete_message(QueueUrl=harness.queue_urls["work"], ReceiptHandle=plan["ReceiptHandle"])


def test_a_run_ended_and_announced_leaves_nothing_to_the_reaper_and_a_late_mark_keeps_a_retry_active(harness):
    # GIVEN a run that ended (a chunk failed for good) and was announced
    run_id = run_whose_second_chunk_dies(harness)
    store = bootstrap.components().store
    assert harness.status(run_id)["status"] == "failed" and store.list_unannounced() == []
    assert store.mark_announced(run_id) is False  # once is enough
    # WHEN it is retried, and a mark of its earlier end comes late
    assert harness.post(f"/api/v1/migrations/retry/{run_id}").status_code == 200
    assert store.mark_announced(run_id) is False
    # THEN the retried run is still active: listed as running, and not announced before it ends again
    assert list(harness.get("/api/v1/migrations/running").json_body["running_migrations"]) == [run_id]
    assert store.list_unannounced() == []


def test_a_late_release_drops_only_the_credentials_it_deleted(harness):
    # GIVEN a run pointing at its own credentials
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file",
                             authentication={"type": "bearer_token", "token": "t"})
    store = bootstrap.components().store
    own = store.get(run_id).credentials_ref
    assert own
    # WHEN a release of other credentials comes late (the reaper announcing an end a retry has since reopened
    # with new ones), THEN the run keeps its own; the release of its own drops them
    store.forget_credentials(run_id, own + "-of-an-earlier-end")
    assert store.get(run_id).credentials_ref == own
    store.forget_credentials(run_id, own)
    assert store.get(run_id).credentials_ref is None
