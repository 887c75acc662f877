"""The API and the workers together, in-process, on moto."""
from __future__ import annotations

import glob
import json
import os

import boto3
import pytest

SAMPLE = "data/input/sample_disability_data.csv"
SMALL = "data/input/small_disability.csv"
HEADER = ("CLAIM_NO,POLICY_NO,SSN,LAST_NAME,FIRST_NAME,DOB,GENDER,DISABILITY_TYPE,DIAGNOSIS_CODE,"
          "DATE_OF_DISABILITY,BENEFIT_START_DATE,BENEFIT_END_DATE,WEEKLY_BENEFIT_AMT,CLAIM_STATUS,"
          "EMPLOYER_NAME,STATE")


def record(n: int, ssn: str = "123-45-6789", employer: str = "Acme Corp") -> str:
    return (f"DC{n:08d},POL{n % 999999:06d},{ssn},Smith,Ann,19800101,F,STD,M54.5,20230105,20230110,"
            f"20230301,512.25,OPEN,{employer},NY")


def write(harness, path: str, text: str) -> str:
    full = os.path.join(harness.data_root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", newline="") as f:
        f.write(text)
    return path


def read_jsonl(folder: str) -> list[dict]:
    documents = []
    for part in sorted(glob.glob(os.path.join(folder, "part-*.jsonl"))):
        with open(part) as f:
            documents.extend(json.loads(line) for line in f)
    return documents


def test_file_mode_run_completes_with_exact_counters(harness):
    # GIVEN a file of 250 records, two of them invalid, one with a quoted newline
    rows = [record(n) for n in range(1, 251)]
    rows[9] = record(10, ssn="000-00-0000")
    rows[99] = record(100).replace("19800101", "19801399")
    rows[149] = record(150, employer='"Acme, ""North""\nDivision"')
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    # WHEN it is migrated in file mode (chunks of 100 records)
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    # THEN the run completed, the counters are exact and every valid record was written once
    assert status["status"] == "completed"
    progress = status["progress"]
    assert progress == {"total_records": 250, "processed_records": 250, "success_count": 248,
                        "error_count": 2, "progress_percentage": 100.0, "current_step": "completed",
                        "live_records": 250, "live_percentage": 100.0, "eta_seconds": None,
                        "records_per_second": progress["records_per_second"]}  # measured: any positive rate
    assert progress["records_per_second"] > 0
    assert status["details"]["chunks"] == {"total": 3, "done": 3, "failed": 0}
    documents = read_jsonl(harness.output_dir(status["run_id"]))
    assert len(documents) == 248
    assert sorted(d["source_row"] for d in documents) == [n for n in range(1, 251) if n not in (10, 100)]
    by_row = {d["source_row"]: d for d in documents}
    assert by_row[150]["employer"]["name"] == 'Acme, "North"\nDivision'
    assert documents[0]["claimant"] == {"ssn": "123456789", "last_name": "Smith", "first_name": "Ann",
                                        "date_of_birth": "1980-01-01", "gender": "female"}
    steps = [s["step"] for s in status["details"]["steps"]]
    assert steps[:4] == ["initializing", "workflow_initialized", "file_reading", "data_mapping"]
    assert steps[-1] == "completed"


def test_error_report_names_row_field_rule_and_masks_personal_data(harness):
    rows = [record(1), record(2, ssn="12-345"), record(3)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    errors_folder = os.path.join(harness.output_dir(status["run_id"]), "errors")
    lines = [json.loads(l) for p in sorted(glob.glob(errors_folder + "/*.jsonl")) for l in open(p)]
    assert lines == [{"row": 2, "field": "SSN", "rule": "ssn_format",
                      "message": "SSN is not a valid social security number", "value": "***"}]
    assert "12-345" not in json.dumps(status)


def test_api_mode_delivers_batches_with_the_request_token_and_forgets_it(harness):
    rows = [record(n) for n in range(1, 251)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="api", batch_size=10,
                                authentication={"type": "bearer_token", "token": "functional-test-token"})
    assert status["status"] == "completed"
    assert status["progress"]["success_count"] == 250
    counts = harness.target.state.snapshot()
    assert counts["records"] == 250 and counts["distinct_records"] == 250 and counts["calls"] == 25
    # The secret was kept in Secrets Manager only while the run lived.
    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [s["Name"] for s in secrets] == ["records-migration/test/target-credentials"]


SECRET = "s3cr3t-VALUE-that-must-not-leak-0123456789"


@pytest.mark.parametrize("authentication", [
    {"type": "bearer_token", "token": SECRET},
    {"type": "api_key", "header": "X-API-Key", "key": SECRET},
    {"type": "basic", "username": "migration", "password": SECRET},
    {"type": "oauth2_client_credentials", "token_url": "TARGET/oauth/token", "client_id": "migration-client",
     "client_secret": SECRET, "scope": "records:write"},
])
def test_a_secret_sent_in_a_request_appears_nowhere(harness, capsys, authentication):
    # GIVEN a request whose credentials hold a secret (which the target does not accept)
    authentication = {k: v.replace("TARGET", os.environ["TARGET_API_URL"]) for k, v in authentication.items()}
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    response = harness.post("/api/v1/migrations/trigger", {
        "file_path": path, "record_type": "disability", "output_mode": "api", "authentication": authentication})
    run_id = response.json_body["run_id"]
    secret_names = lambda: [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]  # noqa: E731
    assert f"records-migration/test/runs/{run_id}" in secret_names()  # kept in Secrets Manager, by name
    # WHEN the run is queued, planned and processed to its end
    queued = [m["Body"] for m in harness.receive()]
    table_while_running = boto3.client("dynamodb").scan(TableName=os.environ["RUNS_TABLE_NAME"])["Items"]
    for body in queued:
        harness.invoke({"Body": body, "MessageId": "m", "ReceiptHandle": "r"})
    chunk_messages = [m["Body"] for m in harness.receive()]
    for body in chunk_messages:
        try:
            harness.invoke({"Body": body, "MessageId": "m", "ReceiptHandle": "r"})
        except Exception:
            pass  # the OAuth token is refused: the chunk fails, as it would in Lambda
    # THEN the secret is in none of the table, the messages, the answers, the logs, the error report
    table = boto3.client("dynamodb").scan(TableName=os.environ["RUNS_TABLE_NAME"])["Items"]
    errors_folder = os.path.join(harness.output_dir(run_id), "errors")
    reports = [open(os.path.join(errors_folder, n)).read() for n in os.listdir(errors_folder)] \
        if os.path.isdir(errors_folder) else []
    seen = [response.body.decode(), json.dumps(queued), json.dumps(chunk_messages), json.dumps(table_while_running),
            json.dumps(table), json.dumps(harness.status(run_id)), harness.get("/api/v1/migrations").body.decode(),
            harness.get("/api/v1/migrations/running").body.decode(),
            harness.get(f"/api/v1/migrations/{run_id}/errors").body.decode(), *reports,
            capsys.readouterr().out]
    assert not [text for text in seen if SECRET in text]


def test_default_stage_credentials_are_used_when_the_request_has_none(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="api")
    assert status["progress"]["success_count"] == 1
    assert harness.target.state.snapshot()["records"] == 1


def test_wrong_token_makes_every_record_an_error_not_a_lost_record(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n" + record(2) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="api",
                                authentication={"type": "bearer_token", "token": "wrong"})
    assert status["progress"]["error_count"] == 2
    assert status["status"] == "failed"
    assert "2 of 2 records were rejected" in status["error_message"]


def test_duplicate_chunk_delivery_counts_once(harness):
    # GIVEN a run planned into two chunks
    rows = [record(n) for n in range(1, 151)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])
    chunks = harness.receive()
    assert len(chunks) == 2
    # WHEN SQS delivers every chunk message twice
    for message in chunks:
        harness.invoke(message)
    for message in chunks:
        harness.deliver(message)
    # THEN each chunk counted once
    status = harness.status(run_id)
    assert status["status"] == "completed"
    assert status["progress"]["processed_records"] == 150
    assert status["progress"]["success_count"] == 150
    assert status["details"]["chunks"] == {"total": 2, "done": 2, "failed": 0}


def test_cancel_stops_new_chunks(harness):
    rows = [record(n) for n in range(1, 301)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])          # plan: three chunks queued
    first, *rest = harness.receive()
    harness.deliver(first)
    response = harness.post(f"/api/v1/migrations/cancel/{run_id}", {})
    assert response.status_code == 200
    assert response.json_body == {"message": f"Migration {run_id} cancelled successfully", "run_id": run_id,
                                  "cancelled": True}
    for message in rest:
        harness.deliver(message)
    status = harness.status(run_id)
    assert status["status"] == "cancelled"
    assert status["progress"]["processed_records"] == 100
    assert len(read_jsonl(harness.output_dir(run_id))) == 100
    # cancelling again answers the same; the run is not in the running list
    assert harness.post(f"/api/v1/migrations/cancel/{run_id}", {}).status_code == 200
    assert run_id not in harness.get("/api/v1/migrations/running").json_body["running_migrations"]


def test_cancel_of_a_finished_run_is_a_conflict(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    response = harness.post(f"/api/v1/migrations/cancel/{status['run_id']}", {})
    assert response.status_code == 409
    assert "completed" in response.json_body["detail"]


def test_running_lists_pending_and_running_runs_only(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    queued = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    running = harness.get("/api/v1/migrations/running").json_body
    assert running["count"] == 1
    assert running["running_migrations"][queued] == {
        "status": "pending", "created_at": running["running_migrations"][queued]["created_at"],
        "file_path": path, "record_type": "disability"}
    harness.drain()
    assert harness.get("/api/v1/migrations/running").json_body == {"running_migrations": {}, "count": 0}
    recent = harness.get("/api/v1/migrations?limit=5").json_body
    assert [m["run_id"] for m in recent["migrations"]] == [queued]


def test_recent_runs_are_newest_first(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    ids = [harness.trigger(file_path=path, record_type="disability", output_mode="file") for _ in range(3)]
    listed = harness.get("/api/v1/migrations?limit=2").json_body
    assert [m["run_id"] for m in listed["migrations"]] == ids[::-1][:2]


def test_status_before_planning_has_zero_progress(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    status = harness.status(run_id, details=False)
    assert status["status"] == "pending"
    assert status["progress"] == {"total_records": 0, "processed_records": 0, "success_count": 0,
                                  "error_count": 0, "progress_percentage": 0.0, "current_step": "initializing",
                                  "live_records": 0, "live_percentage": 0.0, "records_per_second": None,
                                  "eta_seconds": None}
    assert isinstance(status["progress"]["progress_percentage"], float)
    assert "details" not in status


def test_a_run_cancelled_while_pending_never_starts(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    assert harness.post(f"/api/v1/migrations/cancel/{run_id}", {}).status_code == 200
    harness.drain()  # the plan message arrives after the cancel
    status = harness.status(run_id)
    assert status["status"] == "cancelled" and status["started_at"] is None
    assert status["progress"]["total_records"] == 0 and status["progress"]["processed_records"] == 0
    # nothing was read or written: its folder holds only the reconciliation report that says so
    assert os.listdir(harness.output_dir(run_id)) == ["reconciliation.json"]
