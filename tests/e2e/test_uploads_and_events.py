"""An upload with its manifest on the local stack, as the README shows it: boto3 against the emulator's bucket,
then the run, its run-end event (the emulator's EventBridge, at the sandbox target's GET /events) and its
webhook call (the sandbox target's receiver, which checks the signature)."""
from __future__ import annotations

import json
import os

import pytest
import requests

from local_stack.sandbox_target import WEBHOOK_SECRET
from tests.e2e.faults import data_bucket, wait_for

pytestmark = pytest.mark.e2e
DEADLINE_SECONDS = 300  # bounds a hang only, never a speed requirement


def test_an_upload_with_a_manifest_runs_with_its_options_and_its_end_is_published(local_stack):
    # GIVEN the emulator's data bucket, as the README reaches it
    s3, bucket = data_bucket(local_stack)
    key = "incoming/employee/e2e with a manifest.csv"
    with open(os.path.join(local_stack.data_root, "data/input/sample_employee_data.csv"), "rb") as f:
        data = f.read()
    # WHEN a manifest is put, then its file
    s3.put_object(Bucket=bucket, Key=key + ".manifest.json", Body=json.dumps({
        "output_mode": "file", "batch_size": 20, "max_error_rate": 0.5, "metadata": {"ticket": "E2E-7"},
        "notify": {"webhook_url": f"{local_stack.target_url}/webhooks", "secret": WEBHOOK_SECRET}}).encode())
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    # THEN one run starts, with the manifest's options, and completes
    def the_run():
        runs = requests.get(f"{local_stack.api_url}/api/v1/migrations?limit=100", headers=local_stack.headers,
                            timeout=60).json()["migrations"]
        return [r for r in runs if r["file_path"] == f"s3://{bucket}/{key}"]
    [run] = wait_for(the_run, DEADLINE_SECONDS, "a run of the upload")
    status = local_stack.wait_until_finished(run["run_id"])
    assert status["status"] == "completed", status
    assert status["details"]["batch_size"] == 20 and status["details"]["output_mode"] == "file"
    assert status["metadata"]["ticket"] == "E2E-7"
    assert status["metadata"]["object_key"] == key and status["metadata"]["manifest_key"] == key + ".manifest.json"
    assert status["progress"]["processed_records"] == status["progress"]["total_records"] > 0
    # AND EventBridge carried one event of its end, which says what the status says
    def its_events():
        events = requests.get(f"{local_stack.target_url}/events", timeout=60).json()["events"]
        return [e for e in events if e["detail"]["run_id"] == run["run_id"]]
    [event] = wait_for(its_events, DEADLINE_SECONDS, "the run-end event")
    assert (event["source"], event["detail-type"]) == ("records-migration", "Migration run ended")
    detail = event["detail"]
    assert detail["status"] == "completed" and detail["record_type"] == "employee"
    assert detail["counts"] == {"total": status["progress"]["total_records"],
                                "processed": status["progress"]["processed_records"],
                                "success": status["progress"]["success_count"],
                                "errors": status["progress"]["error_count"]}
    # AND its webhook was called once, signed with the manifest's key, and the run says it was delivered
    def its_calls():
        calls = requests.get(f"{local_stack.target_url}/webhooks", timeout=60).json()["webhooks"]
        return [c for c in calls if c["event_id"] == detail["event_id"]]
    [call] = wait_for(its_calls, DEADLINE_SECONDS, "the webhook call")
    assert call["signature_valid"] is True and call["event"] == detail
    notification = wait_for(lambda: (
        local_stack.status(run["run_id"]).get("notification") or {}).get("status") == "delivered"
        and local_stack.status(run["run_id"])["notification"], DEADLINE_SECONDS, "the webhook's outcome")
    assert notification["attempts"] == 1 and WEBHOOK_SECRET not in json.dumps(notification)
    assert WEBHOOK_SECRET not in local_stack.log()


def test_an_upload_with_a_bad_manifest_is_a_failed_run_with_its_event(local_stack):
    s3, bucket = data_bucket(local_stack)
    key = "incoming/claim/e2e bad manifest.csv"
    s3.put_object(Bucket=bucket, Key=key + ".manifest.json", Body=b'{"batch_size": 0}')
    s3.put_object(Bucket=bucket, Key=key, Body=b"CLAIM_NO\n")

    def the_run():
        runs = requests.get(f"{local_stack.api_url}/api/v1/migrations?limit=100", headers=local_stack.headers,
                            timeout=60).json()["migrations"]
        return [r for r in runs if r["file_path"] == f"s3://{bucket}/{key}"]
    [run] = wait_for(the_run, DEADLINE_SECONDS, "a failed run of the upload")
    assert run["status"] == "failed" and run["error_message"] == "batch_size: must be between 1 and 1000"
    [event] = wait_for(lambda: [
        e for e in requests.get(f"{local_stack.target_url}/events", timeout=60).json()["events"]
        if e["detail"]["run_id"] == run["run_id"]], DEADLINE_SECONDS, "the run-end event")
    assert event["detail"]["status"] == "failed" and event["detail"]["error_message"] == run["error_message"]


def test_a_file_put_twice_at_once_gives_each_upload_its_own_run(local_stack):
    # GIVEN the emulator's data bucket (it keeps versions, as the template's does)
    s3, bucket = data_bucket(local_stack)
    key = "incoming/claim/e2e put twice.csv"
    with open(os.path.join(local_stack.data_root, "data/input/sample_claim_data.csv"), "rb") as f:
        lines = f.read().split(b"\n")
    # WHEN a file is put, and at once put again corrected (its first ten records), before the first is planned
    s3.put_object(Bucket=bucket, Key=key, Body=b"\n".join(lines))
    s3.put_object(Bucket=bucket, Key=key, Body=b"\n".join(lines[:11]) + b"\n")
    # THEN each upload's run reads its own upload, by the version its notification named
    def the_runs():
        runs = requests.get(f"{local_stack.api_url}/api/v1/migrations?limit=100", headers=local_stack.headers,
                            timeout=60).json()["migrations"]
        return [r for r in runs if r["file_path"] == f"s3://{bucket}/{key}"]
    runs = wait_for(lambda: len(the_runs()) == 2 and the_runs(), DEADLINE_SECONDS, "a run of each upload")
    ended = [local_stack.wait_until_finished(run["run_id"]) for run in sorted(runs, key=lambda r: r["created_at"])]
    assert [s["status"] for s in ended] == ["completed", "completed"], ended
    totals = [s["progress"]["total_records"] for s in ended]
    assert totals[1] == 10 and totals[0] > 10, totals
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    latest = [v["VersionId"] for v in versions if v["IsLatest"]]
    assert [s["metadata"]["version_id"] for s in ended] == [
        next(v["VersionId"] for v in versions if not v["IsLatest"]), *latest]
