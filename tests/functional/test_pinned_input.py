"""A run reads the file its plan read (chalicelib.storage pins it when planning begins), over moto: a file
uploaded again under its key while its run goes on leaves the run on the version it planned, and a local
file replaced meanwhile fails the chunks that would have read the new one, saying why, instead of
migrating records of two files under one run; a run an upload started reads the upload its notification
named."""
from __future__ import annotations

import hashlib
import json
import os

import boto3

from tests.functional.test_migration_api import HEADER, read_jsonl, record, write


def csv_of(numbers) -> str:
    return HEADER + "\n" + "\n".join(record(n) for n in numbers) + "\n"


def plan(harness, run_id: str) -> int:
    """Handle the run's plan message only: the chunk messages it sent wait in the queue. Returns their count."""
    (message,) = harness.receive()
    assert json.loads(message["Body"])["kind"] == "plan"
    harness.deliver(message)
    return harness.status(run_id)["progress"]["total_records"]


def test_a_file_uploaded_again_while_its_run_goes_on_leaves_the_run_on_the_file_it_planned(harness):
    # GIVEN a run of 250 records in the data bucket (which keeps versions, as the template declares), planned
    s3, bucket, key = boto3.client("s3"), os.environ["DATA_BUCKET"], "data/input/monthly.csv"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = csv_of(range(1, 251))
    first_version = s3.put_object(Bucket=bucket, Key=key, Body=first.encode())["VersionId"]
    run_id = harness.trigger(file_path=f"s3://{bucket}/{key}", record_type="disability", output_mode="file")
    assert plan(harness, run_id) == 250
    # WHEN the file is uploaded again under its key, other records, before any chunk is read
    s3.put_object(Bucket=bucket, Key=key, Body=csv_of(range(5001, 5301)).encode())
    harness.drain()
    # THEN the run migrated the file it planned: its 250 records, exactly, and none of the new file's
    status = harness.status(run_id)
    assert status["status"] == "completed", status
    assert status["progress"]["success_count"] == status["progress"]["total_records"] == 250
    claims = [d["claim_number"] for d in read_jsonl(harness.output_dir(run_id))]
    assert claims == [f"DC{n:08d}" for n in range(1, 251)]
    # AND its reconciliation report balances, on the first file's SHA-256
    report = harness.get(f"/api/v1/migrations/{run_id}/reconciliation").json_body
    assert report["balanced"] is True, report
    assert report["input"]["sha256"] == hashlib.sha256(first.encode()).hexdigest()
    assert report["input"]["version"] == first_version


def test_a_local_file_replaced_while_its_run_goes_on_fails_the_chunks_that_would_read_it_and_says_why(harness):
    # GIVEN a run of 250 records in a local file (three chunks of 100), planned, its first chunk processed
    path = write(harness, "data/input/replaced.csv", csv_of(range(1, 251)))
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    assert plan(harness, run_id) == 250
    chunks = harness.receive()
    assert len(chunks) == 3
    harness.deliver(chunks[0])
    # WHEN another file of the same size is put in its place (as a copy or an editor's save does)
    full = os.path.join(harness.data_root, path)
    replacement = csv_of(range(1001, 1251))
    assert len(replacement) == len(csv_of(range(1, 251)))
    with open(full + ".new", "w", newline="") as f:
        f.write(replacement)
    os.replace(full + ".new", full)
    # THEN each other chunk fails at its first attempt (no retry could read the planned file), nothing of the
    # new file is migrated, and the run ends counting every record once
    for message in chunks[1:]:
        harness.deliver(message)
    left = harness.receive()
    assert [json.loads(m["Body"])["kind"] for m in left] == ["reconcile"] and harness.receive("dlq", limit=1) == []
    harness.deliver(left[0])
    status = harness.status(run_id)
    progress = status["progress"]
    assert (progress["success_count"], progress["error_count"], progress["total_records"]) == (100, 150, 250)
    assert status["status"] == "failed" and "2 of 3 chunks failed" in status["error_message"]
    assert [d["claim_number"] for d in read_jsonl(harness.output_dir(run_id))] == [f"DC{n:08d}" for n in
                                                                                 range(1, 101)]
    # AND the error report says why, for each record of those chunks, quoting nothing of either file
    rows = [json.loads(line) for part in ("part-000002.jsonl", "part-000003.jsonl")
            for line in open(os.path.join(harness.output_dir(run_id), "errors", part))]
    assert [r["row"] for r in rows] == list(range(101, 251))
    assert {(r["rule"], r["message"]) for r in rows} == {
        ("chunk_failed", "the file changed after the run was queued (another file, or its size or modification "
                         "time is not what it was)")}
    # AND the reconciliation report does not balance: the file it would read the failed chunks from again is
    # not the one planned, and it says so
    report = harness.get(f"/api/v1/migrations/{run_id}/reconciliation").json_body
    checks = {c["check"]: c for c in report["checks"]}
    assert report["balanced"] is False and checks["chunks_accounted"]["ok"] is False
    assert checks["chunks_accounted"]["detail"].startswith(
        "chunk 2 could not be read: the file changed after the run was queued")


def upload_event(bucket: str, key: str, version_id: str, sequencer: str) -> dict:
    body = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": bucket}, "object": {"key": key, "versionId": version_id, "sequencer": sequencer}}}]})
    return {"Body": body, "MessageId": sequencer, "ReceiptHandle": sequencer}


def test_a_file_uploaded_twice_before_its_first_run_is_planned_gives_each_run_its_own_upload(harness, monkeypatch):
    # GIVEN a file uploaded under incoming/, and uploaded again, corrected, before the first upload's run is
    # planned: two notifications, each naming its object's version
    monkeypatch.setenv("UPLOAD_OUTPUT_MODE", "file")
    s3, bucket, key = boto3.client("s3"), os.environ["DATA_BUCKET"], "incoming/disability/weekly.csv"
    first = s3.put_object(Bucket=bucket, Key=key, Body=csv_of(range(1, 121)).encode())["VersionId"]
    harness.invoke(upload_event(bucket, key, first, "0A"), handler="handle_upload", queue="uploads")
    second = s3.put_object(Bucket=bucket, Key=key, Body=csv_of(range(501, 531)).encode())["VersionId"]
    harness.invoke(upload_event(bucket, key, second, "0B"), handler="handle_upload", queue="uploads")
    # WHEN both runs go to their end
    harness.drain()
    # THEN each migrated its own upload, once: 120 records, then the 30 of the correction
    runs = sorted(harness.get("/api/v1/migrations").json_body["migrations"], key=lambda r: r["created_at"])
    assert [r["file_path"] for r in runs] == [f"s3://{bucket}/{key}"] * 2
    claims = []
    for run in runs:
        status = harness.status(run["run_id"])
        assert status["status"] == "completed", status
        claims.append([d["claim_number"] for d in read_jsonl(harness.output_dir(run["run_id"], "data/output"))])
    assert claims == [[f"DC{n:08d}" for n in range(1, 121)], [f"DC{n:08d}" for n in range(501, 531)]]


def test_a_run_migrates_its_file_as_it_was_when_it_was_asked_for(harness):
    # GIVEN a run asked for of a file in the data bucket, not yet planned
    s3, bucket, key = boto3.client("s3"), os.environ["DATA_BUCKET"], "data/input/asked.csv"
    asked = s3.put_object(Bucket=bucket, Key=key, Body=csv_of(range(1, 51)).encode())["VersionId"]
    in_bucket = harness.trigger(file_path=f"s3://{bucket}/{key}", record_type="disability", output_mode="file")
    # AND one of a local file, not yet planned either
    path = write(harness, "data/input/asked.csv", csv_of(range(1, 51)))
    local = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    # WHEN both files are replaced before any plan is made
    s3.put_object(Bucket=bucket, Key=key, Body=csv_of(range(701, 731)).encode())
    full = os.path.join(harness.data_root, path)
    with open(full + ".new", "w", newline="") as f:
        f.write(csv_of(range(701, 751)))
    os.replace(full + ".new", full)
    harness.drain()
    # THEN the bucket's run migrated the version it was asked for, all 50 records of it
    status = harness.status(in_bucket)
    assert status["status"] == "completed" and status["progress"]["success_count"] == 50, status
    assert [d["claim_number"] for d in read_jsonl(harness.output_dir(in_bucket))] == [f"DC{n:08d}" for n in
                                                                                    range(1, 51)]
    report = harness.get(f"/api/v1/migrations/{in_bucket}/reconciliation").json_body
    assert report["balanced"] is True and report["input"]["version"] == asked
    # AND the local file's run, whose file has no older version to read, failed saying why, migrating nothing
    status = harness.status(local)
    assert status["status"] == "failed" and status["progress"]["total_records"] == 0, status
    assert status["error_message"] == (f"{path}: the file changed after the run was queued (another file, "
                                       "or its size or modification time is not what it was)")
