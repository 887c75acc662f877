"""Bad input: a clear 4xx and nothing else changes, or a failed run that says what is wrong."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from tests.functional.test_migration_api import HEADER, SMALL, record, write

API = "/api/v1/migrations"
TRIGGER = API + "/trigger"
GOOD = {"file_path": SMALL, "record_type": "disability", "output_mode": "file"}


def nothing_changed(harness) -> None:
    table = boto3.client("dynamodb").scan(TableName=os.environ["RUNS_TABLE_NAME"])
    assert table["Count"] == 0
    assert harness.receive() == []
    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [s["Name"] for s in secrets] == ["records-migration/test/target-credentials"]


@pytest.mark.parametrize("change, status, detail", [
    ({"file_path": None}, 422, "file_path: field required"),
    ({"record_type": None}, 422, "record_type: field required"),
    ({"output_mode": None}, 422, "output_mode: field required"),
    ({"record_type": "pension"}, 422, "record_type: unknown record type 'pension'"),
    ({"output_mode": "ftp"}, 422, "output_mode: must be one of api, file"),
    ({"batch_size": 0}, 422, "batch_size: must be between 1 and 1000"),
    ({"batch_size": 1001}, 422, "batch_size: must be between 1 and 1000"),
    ({"batch_size": "10"}, 422, "batch_size: must be an integer"),
    ({"colour": "blue"}, 422, "colour: unknown field"),
    ({"file_path": "data/input/nope.csv"}, 422, "file_path: file not found"),
    ({"file_path": "data/input"}, 422, "file_path: file not found"),  # a folder
    ({"file_path": "data/input/sample_claim_data.csv/x.csv"}, 422, "file_path: file not found"),  # under a file
    ({"file_path": "../etc/passwd"}, 422, "file_path: must not contain '..'"),
    ({"file_path": "data/../../x.csv"}, 422, "file_path: must not contain '..'"),
    ({"file_path": "/etc/passwd"}, 422, "file_path: must be relative to the data root"),
    ({"file_path": "s3://someone-elses-bucket/x.csv"}, 422, "is not this stage's data bucket"),
    ({"output_dir": "../out"}, 422, "output_dir: must not contain '..'"),
    ({"output_dir": "incoming/claim"}, 422, "output_dir: must be outside incoming/, where an uploaded file starts"),
    ({"output_dir": "./incoming"}, 422, "output_dir: must be outside incoming/"),
    ({"authentication": {"type": "bearer_token"}}, 422, "authentication.token"),
    ({"authentication": {"type": "kerberos", "token": "x"}}, 422, "authentication.type"),
    ({"metadata": "x"}, 422, "metadata: must be an object"),
    # values DynamoDB cannot store, and shapes past reason, are refused naming why (and no value)
    ({"metadata": {"": 1}}, 422, "metadata: an empty key cannot be stored"),
    ({"metadata": {"a": float("nan")}}, 422, "metadata: the number at a is not finite"),
    ({"metadata": {"a": {"b": float("-inf")}}}, 422, "metadata: the number at a.b is not finite"),
    ({"metadata": {"a": int("9" * 39)}}, 422, "metadata: the number at a has more than 38 significant digits"),
    ({"metadata": {"a": 10 ** 130}}, 422, "metadata: the number at a is out of the range a run can keep"),
    ({"metadata": {"a": "\ud800"}}, 422, "metadata: the value at a holds a lone surrogate"),
    ({"metadata": {"a": [[[[[[1]]]]]]}}, 422, "metadata: nested more than 5 levels deep"),
    ({"metadata": {"k" * 65: 1}}, 422, "metadata: key 'kkkkkkkkkkkkkkkk…' is longer than 64 characters"),
    ({"max_error_rate": 2}, 422, "max_error_rate"),
    # strict JSON types: no text for a number, no number for a boolean
    ({"batch_size": True}, 422, "batch_size: must be an integer"),
    ({"max_error_rate": "0.5"}, 422, "max_error_rate: must be a number from 0 to 1"),
    ({"validate_only": "true"}, 422, "validate_only: must be true or false"),
    ({"authentication": {"type": "api_key", "key": "k", "header": "X Key"}}, 422,
     "authentication.header: must be an HTTP header name"),
    ({"authentication": {"type": "oauth2_client_credentials", "token_url": "ftp://auth", "client_id": "c",
                         "client_secret": "s"}}, 422, "authentication.token_url: must be an http(s) URL"),
    ({"authentication": {"type": "basic", "username": "u", "password": "p", "realm": "x"}}, 422,
     "authentication.realm: unknown field for basic (allowed: username, password)"),
    # a value sent in a header as it is cannot hold a line break (a header of its own) or a control byte
    ({"authentication": {"type": "bearer_token", "token": "abc\r\nX-Injected: 1"}}, 422,
     "authentication.token: must hold printable ASCII characters only: it is sent in a header"),
    ({"authentication": {"type": "api_key", "key": "k\x00ey"}}, 422,
     "authentication.key: must hold printable ASCII characters only"),
    ({"authentication": {"type": "bearer_token", "token": "tök\u2028en"}}, 422,
     "authentication.token: must hold printable ASCII characters only"),
])
def test_invalid_trigger_is_refused_and_changes_nothing(harness, change, status, detail):
    write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = harness.post(TRIGGER, body)
    assert response.status_code == status
    assert detail in response.json_body["detail"]
    nothing_changed(harness)


SECRET = "s3cr3t-VALUE-that-must-not-leak-0123456789"


@pytest.mark.parametrize("authentication", [
    {"type": "bearer_token", "token": SECRET, "extra": SECRET},
    {"type": "bearer_token", "token": [SECRET]},
    {"type": SECRET, "token": SECRET},
    {"type": "api_key", "key": SECRET, "header": SECRET + " !"},
    {"type": "basic", "username": "u", "password": {"value": SECRET}},
    {"type": "oauth2_client_credentials", "token_url": SECRET, "client_id": "c", "client_secret": SECRET},
])
def test_a_422_never_echoes_a_secret(harness, capsys, authentication):
    write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    response = harness.post(TRIGGER, {**GOOD, "output_mode": "api", "authentication": authentication})
    assert response.status_code == 422
    assert response.json_body["detail"].startswith("authentication.")
    assert SECRET not in response.body.decode() and SECRET not in capsys.readouterr().out
    nothing_changed(harness)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_body_is_a_4xx(harness, raw):
    response = harness.post(TRIGGER, raw=raw)
    assert response.status_code in (400, 422)
    assert "detail" in response.json_body
    nothing_changed(harness)


def test_link_out_of_the_data_root_is_refused(harness, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(HEADER + "\n" + record(1) + "\n")
    os.symlink(outside, os.path.join(harness.data_root, "data", "input", "link.csv"))
    response = harness.post(TRIGGER, {**GOOD, "file_path": "data/input/link.csv"})
    assert response.status_code == 422
    assert "outside the data root" in response.json_body["detail"]
    nothing_changed(harness)


@pytest.mark.parametrize("path", [
    "/api/v1/migrations/status/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "/api/v1/migrations/status/not-a-run-id",
])
def test_unknown_run_is_404(harness, path):
    response = harness.get(path)
    assert response.status_code == 404
    assert response.json_body == {"detail": f"Migration run not found: {path.rsplit('/', 1)[1]}"}


def test_cancel_unknown_run_is_404(harness):
    response = harness.client.http.post("/api/v1/migrations/cancel/1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert response.status_code == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=1000"])
def test_bad_list_limit_is_422(harness, query):
    assert harness.get(f"/api/v1/migrations?{query}").status_code == 422


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("\n\n", "file is empty"),
    ("CLAIM_NO,NAME\nDC00000001,Ann\n", "header does not match record type 'disability': the first row has 2 "
                                         "columns, the record type 16; missing columns: POLICY_NO, SSN"),
    (HEADER + ",EXTRA\n", "column at position 17 is not the record type's"),
    (HEADER + "\n" + record(1) + '\n"unterminated,\n', "closing quote is missing"),
])
def test_malformed_file_fails_the_run_with_a_clear_message(harness, content, message):
    path = write(harness, SMALL, content)
    status = harness.run_to_end(**{**GOOD, "file_path": path})
    assert status["status"] == "failed"
    assert message in status["error_message"]
    assert status["completed_at"] is not None
    assert harness.get("/api/v1/migrations/running").json_body["count"] == 0


def test_undecodable_bytes_fail_the_run_naming_the_place(harness):
    full = os.path.join(harness.data_root, SMALL)
    with open(full, "wb") as f:
        f.write((HEADER + "\n" + record(1) + "\n").encode() + b"DC00000002,\xff\xfe\n")
    status = harness.run_to_end(**GOOD)
    assert status["status"] == "failed"
    assert "not valid utf-8: undecodable byte 0xFF" in status["error_message"]
    assert "line 3" in status["error_message"]


def test_record_with_wrong_field_count_is_a_record_error_not_a_failed_chunk(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n" + record(2) + ",extra\n" + record(3) + "\n")
    status = harness.run_to_end(**{**GOOD, "file_path": path})
    assert status["status"] == "failed"  # 1 of 3 rejected is above the default 10% tolerance
    assert status["progress"]["success_count"] == 2 and status["progress"]["error_count"] == 1
    status = harness.run_to_end(**{**GOOD, "file_path": path, "max_error_rate": 0.5})
    assert status["status"] == "completed"
    assert "1 of 3 records were rejected" in status["error_message"]


def test_header_only_file_completes_with_zero_records(harness):
    path = write(harness, SMALL, HEADER + "\n")
    status = harness.run_to_end(**{**GOOD, "file_path": path})
    assert status["status"] == "completed"
    assert status["progress"]["total_records"] == 0
    assert status["progress"]["progress_percentage"] == 100.0


@pytest.mark.parametrize("content_type, body, status", [
    (None, b"", 404),  # as curl -X POST and requests.post send it
    ("application/json", b"", 404),
    ("application/json", b"{}", 404),  # an empty object asks for nothing
    ("application/json", b'{"reason": "x"}', 422),
    (None, b"{}", 415),
    ("text/plain", b"{}", 415),
    ("text/plain", b"", 404),
    ("application/octet-stream", b"", 404),  # as aiohttp sends a POST without a body
])
def test_cancel_takes_no_body(harness, content_type, body, status):
    headers = {"Content-Type": content_type} if content_type else {}
    response = harness.client.http.post("/api/v1/migrations/cancel/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                        headers=headers, body=body)
    assert response.status_code == status
    if status == 404:
        assert response.json_body == {"detail": "Migration run not found: 1b4e28ba-2fa1-11d2-883f-0016d3cca427"}
    if status == 422:
        assert response.json_body == {"detail": "request body: cancel takes no body; send the request without one"}
    if status == 415:
        assert response.json_body == {"detail": "Content-Type: a request body must be sent as application/json"}


def test_metadata_at_the_edges_of_what_can_be_kept_comes_back_exactly(harness):
    # GIVEN metadata at the limits: 38 significant digits, the largest magnitude, five levels, unicode keys
    write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    metadata = {"big": int("9" * 38), "huge": 10 ** 125, "tiny": 1e-129, "deep": {"b": {"c": {"d": {"e": 1}}}},
                "ключ 🔑": ["x", None, True, 0.1], "empty": {}}
    # WHEN a run is triggered with it
    run_id = harness.trigger(**{**GOOD, "metadata": metadata})
    # THEN its status shows it back as it was sent
    assert harness.status(run_id)["metadata"] == metadata


def test_input_at_every_bound_is_accepted_and_every_shared_endpoint_still_answers(harness):
    # GIVEN runs whose fields sit at their bounds: the longest path, a 255-character key, the fullest metadata
    write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    folder = "/".join(["é" * 100] * 4)  # 200 bytes a folder name: within a file system's 255
    long_path = write(harness, f"data/{folder}/" + "f" * (1024 - 5 - len(folder.encode()) - 5) + ".csv",
                      HEADER + "\n" + record(1) + "\n")
    assert len(long_path.encode()) == 1024
    metadata = {"n": int("9" * 38), "tiny": 1e-129, "deep": {"b": {"c": {"d": {"e": "\u2028 ☃ \u202e"}}}},
                "k" * 64: "x" * 3800}
    assert len(json.dumps(metadata)) <= 4096
    key = "".join(chr(c) for c in range(0x20, 0x7f)) * 3  # every printable ASCII character
    runs = [harness.trigger(**{**GOOD, "file_path": long_path, "metadata": metadata}),
            harness.post(TRIGGER, {**GOOD, "output_dir": "o" * 960}, headers={"Idempotency-Key": key[:255]})
            .json_body["run_id"]]
    # WHEN the shared endpoints are read while they are active, and the reaper runs over them
    running = harness.get(f"{API}/running")
    recent = harness.get(f"{API}?limit=200")
    from chalicelib import bootstrap
    reaped = bootstrap.components().reaper.reap(now=datetime.now(timezone.utc) + timedelta(days=1))
    # THEN each answers, with the runs as they were sent
    assert running.status_code == 200 and set(running.json_body["running_migrations"]) == set(runs)
    assert recent.status_code == 200 and recent.json_body["count"] == 2
    assert sorted(reaped["failed"]) == sorted(runs)
    assert harness.status(runs[0])["metadata"] == metadata
    assert harness.status(runs[0])["file_path"] == long_path
