"""Uploads with manifests, and what is said when a run ends: against moto's S3, SQS, DynamoDB, Secrets Manager
and EventBridge, through the handlers app.py registers.

Run-end events are read as a subscriber reads them: an EventBridge rule on moto's default bus sends them to
an SQS queue (local_stack/run_events.py, as the local stack does). Webhooks go to the sandbox target's
receiver on loopback (POST /webhooks), which checks their signatures.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from chalicelib import bootstrap
from local_stack import run_events
from local_stack.sandbox_target import WEBHOOK_SECRET
from tests.functional.conftest import STAGE
from tests.functional.test_migration_api import HEADER, SMALL, record, write
from tests.functional.test_recovery import run_whose_second_chunk_dies

API = "/api/v1/migrations"
ROWS = HEADER + "\n" + "\n".join(record(n) for n in range(1, 6)) + "\n"


@pytest.fixture
def events(harness):
    """The run-end events EventBridge routes to a subscriber's queue: `events()` takes those that arrived."""
    queue = run_events.subscribe(STAGE)
    return lambda: [event["detail"] for event in run_events.received(queue)]


@pytest.fixture
def bucket(harness):
    return os.environ["DATA_BUCKET"]


def put(bucket: str, key: str, body: bytes | str) -> str | None:
    answer = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str)
                                           else body)
    return answer.get("VersionId")


def notify_upload(harness, bucket: str, key: str, sequencer: str = "0055AED6DCD90281E5",
                  version_id: str | None = None) -> None:
    """Hand the uploads handler S3's notification of `key`, as its queue would."""
    stored = {"key": key.replace(" ", "+"), "sequencer": sequencer, "eTag": "9dd4e461268c8034f5c8564e155c67a6",
              **({"versionId": version_id} if version_id else {})}
    body = json.dumps({"Records": [{"eventName": "ObjectCreated:Put",
                                    "s3": {"bucket": {"name": bucket}, "object": stored}}]})
    harness.invoke({"Body": body, "MessageId": "m", "ReceiptHandle": "r"}, handler="handle_upload", queue="uploads")


def runs(harness) -> list[dict]:
    return harness.get(API + "?limit=50").json_body["migrations"]


def run_of(harness, bucket: str, key: str) -> dict:
    [found] = [r for r in runs(harness) if r["file_path"] == f"s3://{bucket}/{key}"]
    return harness.status(found["run_id"])


# ------------------------------------------------------------------------ uploads and manifests

def test_an_upload_with_a_manifest_runs_with_the_manifests_options(harness, bucket, events):
    # GIVEN a manifest, then its file, put in a versioned bucket (as the stage's is)
    boto3.client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "incoming/disability/march export.csv"
    manifest_version = put(bucket, key + ".manifest.json", json.dumps({
        "output_mode": "file", "batch_size": 25, "max_error_rate": 0.5,
        "metadata": {"ticket": "MIG-42"}, "input_format": {"delimiter": ","}}))
    version = put(bucket, key, ROWS)
    # WHEN S3's notifications of both are handled, the manifest's first (it starts nothing)
    notify_upload(harness, bucket, key + ".manifest.json", version_id=manifest_version)
    assert runs(harness) == []
    notify_upload(harness, bucket, key, version_id=version)
    # THEN one run has the manifest's options, and its metadata names the objects it was made from
    status = run_of(harness, bucket, key)
    assert status["record_type"] == "disability" and status["details"]["batch_size"] == 25
    assert status["details"]["output_mode"] == "file"
    assert status["metadata"] == {"ticket": "MIG-42", "source": "upload", "object_key": key, "version_id": version,
                                  "manifest_key": key + ".manifest.json", "manifest_version_id": manifest_version}
    harness.drain()
    status = harness.status(status["run_id"])
    assert status["status"] == "completed" and status["progress"]["success_count"] == 5
    assert os.path.isdir(harness.output_dir(status["run_id"]))
    # AND its end was published once
    assert [(e["run_id"], e["status"], e["counts"]["success"]) for e in events()] == [
        (status["run_id"], "completed", 5)]


def test_a_manifest_put_after_its_file_does_not_apply_to_the_run_already_started(harness, bucket, monkeypatch):
    # The rule users rely on: the manifest first. A late one applies to the file's next upload.
    monkeypatch.setenv("UPLOAD_OUTPUT_MODE", "file")
    bootstrap.reset()
    key = "incoming/disability/late.csv"
    put(bucket, key, ROWS)
    notify_upload(harness, bucket, key, sequencer="01")
    put(bucket, key + ".manifest.json", json.dumps({"batch_size": 7}))
    notify_upload(harness, bucket, key + ".manifest.json")
    [first] = runs(harness)
    assert harness.status(first["run_id"])["details"]["batch_size"] == 100
    assert "manifest_key" not in harness.status(first["run_id"])["metadata"]
    put(bucket, key, ROWS)  # uploaded again: this upload has its manifest
    notify_upload(harness, bucket, key, sequencer="02")
    again = [r for r in runs(harness) if r["run_id"] != first["run_id"]]
    assert harness.status(again[0]["run_id"])["details"]["batch_size"] == 7


@pytest.mark.parametrize("manifest, reason", [
    ("{\"output_mode\": \"file\",", "manifest is not valid JSON: JSONDecodeError at position 23"),
    (json.dumps({"output_mode": "file", "colour": "blue"}), "colour: unknown field (allowed: authentication, "),
    (json.dumps({"batch_size": 5000}), "batch_size: must be between 1 and 1000"),
    (json.dumps({"record_type": "claim"}), "manifest: record_type is given by the uploaded file's key; a manifest "
                                           "cannot set it"),
    (json.dumps({"authentication": {"type": "bearer_token", "token": "leaked?"}, "max_error_rate": "x"}),
     "max_error_rate: must be a number from 0 to 1"),
])
def test_a_bad_manifest_makes_a_failed_run_listed_with_the_reason(harness, bucket, events, manifest, reason):
    key = "incoming/disability/with a bad manifest.csv"
    put(bucket, key + ".manifest.json", manifest)
    put(bucket, key, ROWS)
    notify_upload(harness, bucket, key)
    [listed] = runs(harness)
    assert listed["file_path"] == f"s3://{bucket}/{key}"
    assert listed["status"] == "failed" and listed["error_message"].startswith(reason)
    assert "leaked?" not in json.dumps(listed)
    assert harness.get(API + "/running").json_body["count"] == 0
    status = harness.status(listed["run_id"])
    assert status["metadata"]["manifest_key"] == key + ".manifest.json"
    [event] = events()
    assert (event["run_id"], event["status"], event["error_message"]) == (
        listed["run_id"], "failed", listed["error_message"])
    harness.drain()  # nothing was queued for it
    assert harness.status(listed["run_id"])["status"] == "failed"


def test_an_upload_whose_file_is_gone_or_whose_record_type_is_unknown_is_a_failed_run(harness, bucket):
    notify_upload(harness, bucket, "incoming/disability/deleted before it was seen.csv")
    put(bucket, "incoming/pension/p.csv", ROWS)
    notify_upload(harness, bucket, "incoming/pension/p.csv")
    reasons = {r["file_path"].rsplit("/", 1)[1]: r["error_message"] for r in runs(harness)}
    assert reasons["deleted before it was seen.csv"].startswith("file_path: file not found")
    assert reasons["p.csv"].startswith("record_type: unknown record type 'pension'")


def test_a_failed_upload_under_a_tenants_folder_is_that_tenants_run(harness, bucket):
    notify_upload(harness, bucket, "incoming/acme/pension/p.csv")
    [run] = bootstrap.components().store.list_runs("acme", 10)[0]
    assert (run.tenant, run.status.value, run.audit[0]["by"]) == ("acme", "failed", "upload")
    assert runs(harness) == []  # the default tenant's list does not show it


def test_a_notification_that_comes_again_makes_no_second_run_and_no_second_event(harness, bucket, events):
    key = "incoming/disability/twice.csv"
    put(bucket, key + ".manifest.json", json.dumps({"batch_size": 5000}))
    put(bucket, key, ROWS)
    notify_upload(harness, bucket, key)
    notify_upload(harness, bucket, key)
    assert len(runs(harness)) == 1 and len(events()) == 1
    good = "incoming/disability/twice-good.csv"
    put(bucket, good + ".manifest.json", json.dumps({"output_mode": "file"}))
    put(bucket, good, ROWS)
    notify_upload(harness, bucket, good)
    notify_upload(harness, bucket, good)
    assert len(runs(harness)) == 2


# ------------------------------------------------------------------------ one event per end

def test_every_way_a_run_ends_publishes_one_event(harness, bucket, events):
    # completed: the worker that counts the last chunk
    path = write(harness, SMALL, ROWS)
    completed = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")["run_id"]
    # failed at planning: the file went away after the trigger
    gone = write(harness, "data/input/gone.csv", ROWS)
    failed_at_plan = harness.trigger(file_path=gone, record_type="disability", output_mode="file")
    os.remove(os.path.join(harness.data_root, gone))
    harness.drain()
    # cancelled, twice
    cancelled = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    for _ in range(2):
        assert harness.post(f"{API}/cancel/{cancelled}", raw=b"").status_code == 200
    harness.drain()
    # failed by the reaper, reaped twice
    stalled = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    reaper = bootstrap.components().reaper
    later = datetime.now(timezone.utc) + timedelta(seconds=reaper.stalled_after_seconds + 60)
    reaper.reap(now=later)
    reaper.reap(now=later)
    harness.drain()
    # ended by the dead-letter handler (its chunk seen there twice)
    dead_lettered = run_whose_second_chunk_dies(harness, dead_letter_copies=2)
    # failed at once: an upload of an unknown record type
    notify_upload(harness, bucket, "incoming/pension/p.csv")
    [upload] = [r["run_id"] for r in runs(harness) if r["file_path"].endswith("pension/p.csv")]
    assert sorted((e["run_id"], e["status"]) for e in events()) == sorted([
        (completed, "completed"), (failed_at_plan, "failed"), (cancelled, "cancelled"), (stalled, "failed"),
        (dead_lettered, "failed"), (upload, "failed")])


def test_the_event_holds_no_record_value_and_no_credential(harness, events):
    path = write(harness, SMALL, HEADER + "\n" + record(1, ssn="987-65-4329") + "\n")
    harness.run_to_end(file_path=path, record_type="disability", output_mode="file",
                       authentication={"type": "bearer_token", "token": "tok-that-must-not-travel"},
                       metadata={"patient": "Jane Roe"})
    [event] = events()
    text = json.dumps(event)
    for secret in ("987-65-4329", "tok-that-must-not-travel", "Jane Roe", "Acme Corp"):
        assert secret not in text


# ------------------------------------------------------------------------ webhooks

def webhook_url(harness, **query) -> str:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    return f"http://127.0.0.1:{harness.target.server_address[1]}/webhooks{suffix}"


def test_a_webhook_is_called_signed_and_called_again_after_a_500(harness, events):
    # GIVEN a run whose webhook answers 500 to its first call
    path = write(harness, SMALL, ROWS)
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file",
                             notify={"webhook_url": webhook_url(harness, fail_first=1), "secret": WEBHOOK_SECRET})
    # WHEN it runs to its end, and the worker takes the notify message its end queued
    harness.drain()
    # THEN the receiver got the document twice, signed with the run's key, and took the second
    calls = harness.target.state.webhooks
    assert [c["answered"] for c in calls] == [500, 204]
    assert all(c["signature_valid"] for c in calls)
    [event] = events()
    assert calls[1]["event"] == event and calls[1]["event_id"] == event["event_id"]
    # AND the run says how the call went, without its key; the key is gone from the vault
    status = harness.status(run_id)
    assert status["notification"] == {"webhook_url": webhook_url(harness), "event_id": event["event_id"],
                                      "status": "delivered", "attempts": 2, "last_error": None,
                                      "updated_at": status["notification"]["updated_at"]}
    assert WEBHOOK_SECRET not in json.dumps(status)
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == [f"records-migration/{STAGE}/target-credentials"]


def test_a_receiver_checks_the_signature_as_the_docs_show(harness):
    # The docs' check, written out here again: HMAC-SHA256 of "<X-Timestamp>.<body>" under the shared key.
    import requests
    path = write(harness, SMALL, ROWS)
    harness.trigger(file_path=path, record_type="disability", output_mode="file",
                    notify={"webhook_url": webhook_url(harness), "secret": "receivers-own-key-123"})
    received = []
    original = requests.Session.post

    def spy(self, url, data=None, **kwargs):
        if "/webhooks" in url:
            received.append((kwargs["headers"], data))
        return original(self, url, data=data, **kwargs)

    requests.Session.post = spy
    try:
        harness.drain()
    finally:
        requests.Session.post = original
    [(headers, body)] = received
    expected = hmac.new(b"receivers-own-key-123", headers["X-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == f"sha256={expected}"
    assert abs(int(headers["X-Timestamp"]) - time.time()) < 300
    # the sandbox was given another key: it says the signature does not match, and the call fails at once
    assert harness.target.state.webhooks[0]["signature_valid"] is False
    run = bootstrap.components().store.list_runs("default", 1)[0][0]
    assert (run.notification["status"], run.notification["last_error"]) == ("failed", "HTTP 401")


def test_a_webhook_to_a_private_address_is_refused_at_trigger_where_the_stage_disallows_it(harness, monkeypatch):
    monkeypatch.setenv("OUTBOUND_ALLOW_PRIVATE", "false")
    bootstrap.reset()
    path = write(harness, SMALL, ROWS)
    answer = harness.post(API + "/trigger", {"file_path": path, "record_type": "disability", "output_mode": "file",
                                             "notify": {"webhook_url": webhook_url(harness),
                                                        "secret": WEBHOOK_SECRET}})
    assert answer.status_code == 422
    assert answer.json_body["detail"] == "notify.webhook_url: resolves to a loopback address (127.0.0.1)"
    assert runs(harness) == []
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == [f"records-migration/{STAGE}/target-credentials"]


def test_a_webhook_off_the_allow_list_is_refused_at_trigger(harness):
    path = write(harness, SMALL, ROWS)
    answer = harness.post(API + "/trigger", {"file_path": path, "record_type": "disability", "output_mode": "file",
                                             "notify": {"webhook_url": "https://hooks.example.org/x",
                                                        "secret": WEBHOOK_SECRET}})
    assert answer.status_code == 422
    assert answer.json_body["detail"] == "notify.webhook_url: 'https://hooks.example.org/x' is not on the stage's " \
                                         "allow-list"


def test_a_failed_upload_whose_manifest_names_a_webhook_calls_it(harness, bucket, events):
    # GIVEN a valid manifest naming the sandbox's receiver, whose file is gone before its upload is handled
    key = "incoming/disability/gone.csv"
    put(bucket, key + ".manifest.json", json.dumps({"output_mode": "file", "notify": {
        "webhook_url": webhook_url(harness), "secret": WEBHOOK_SECRET}}))
    # WHEN the file's notification is handled
    notify_upload(harness, bucket, key)
    harness.drain()
    # THEN the failed run's end was published and its webhook called, signed
    [listed] = runs(harness)
    assert listed["status"] == "failed" and listed["error_message"].startswith("file_path: file not found")
    [event] = events()
    [call] = harness.target.state.webhooks
    assert call["signature_valid"] and call["event"] == event and call["answered"] == 204
    assert harness.status(listed["run_id"])["notification"]["status"] == "delivered"
