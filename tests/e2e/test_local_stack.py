"""The local stack as a user meets it: real processes, real HTTP, the emulator."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from local_stack.child import start_stack
from tests.e2e.faults import data_bucket

pytestmark = pytest.mark.e2e
RECORD_TYPES = ["disability", "absence", "group_policy", "employee", "claim"]


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_sample_migrates_to_the_sandbox_target_with_exact_counts(local_stack, record_type):
    # GIVEN the sandbox target's distinct count before the run
    before = local_stack.target_count()["by_endpoint"]
    # WHEN the sample file of this record type is migrated in api mode with the README's token
    answer = local_stack.trigger(file_path=f"data/input/sample_{record_type}_data.csv", record_type=record_type,
                                 output_mode="api", batch_size=10,
                                 authentication={"type": "bearer_token", "token": "your-api-token"})
    assert answer["status"] == "pending" and answer["message"] == "Migration queued successfully"
    status = local_stack.wait_until_finished(answer["run_id"])
    # THEN it completed, its counters add up, and the target received every valid record once
    progress = status["progress"]
    assert status["status"] == "completed", status
    assert progress["processed_records"] == progress["total_records"] > 0
    assert progress["success_count"] + progress["error_count"] == progress["total_records"]
    assert progress["error_count"] > 0  # the samples hold deliberately invalid records
    after = local_stack.target_count()["by_endpoint"]
    endpoint = next(k for k in after if after[k] != before.get(k, 0))
    assert after[endpoint] - before.get(endpoint, 0) == progress["success_count"]


def test_upload_to_the_data_bucket_starts_a_migration(local_stack):
    # GIVEN the stage's data bucket in the emulator
    s3, bucket = data_bucket(local_stack)
    with open(os.path.join(local_stack.data_root, "data/input/sample_claim_data.csv"), "rb") as f:
        body = f.read()
    key = "incoming/claim/claims export 2026.csv"
    # WHEN a file is put under incoming/<record_type>/
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    # THEN a run for it appears and completes, delivering to the target
    deadline = time.monotonic() + 300  # bounds a hang only
    run = None
    while time.monotonic() < deadline and run is None:
        runs = requests.get(f"{local_stack.api_url}/api/v1/migrations?limit=50", timeout=60).json()["migrations"]
        run = next((r for r in runs if r["file_path"] == f"s3://{bucket}/{key}"), None)
        time.sleep(0.3)
    assert run is not None, "no run was started by the upload"
    status = local_stack.wait_until_finished(run["run_id"])
    assert status["status"] == "completed", status
    assert status["record_type"] == "claim"
    assert {k: status["metadata"][k] for k in ("source", "object_key")} == {"source": "upload", "object_key": key}
    assert "version_id" in status["metadata"]  # null unless the bucket versions its objects
    assert status["progress"]["processed_records"] == status["progress"]["total_records"] > 0


def test_file_mode_writes_json_lines_under_the_run_folder(local_stack):
    answer = local_stack.trigger(file_path="data/input/sample_employee_data.csv", record_type="employee",
                                 output_mode="file", output_dir="data/output")
    status = local_stack.wait_until_finished(answer["run_id"])
    assert status["status"] == "completed"
    folder = os.path.join(local_stack.data_root, "data", "output", answer["run_id"])
    lines = sum(1 for name in os.listdir(folder) if name.endswith(".jsonl")
                for _ in open(os.path.join(folder, name)))
    assert lines == status["progress"]["success_count"]
    assert status["details"]["output_location"] == f"data/output/{answer['run_id']}/"


def test_logs_hold_no_token_and_no_ssn(local_stack):
    token = "e2e-secret-token-that-must-not-leak"
    answer = local_stack.trigger(file_path="data/input/sample_disability_data.csv", record_type="disability",
                                 output_mode="api", authentication={"type": "bearer_token", "token": token})
    local_stack.wait_until_finished(answer["run_id"])
    log = local_stack.log()
    assert token not in log
    with open(os.path.join(local_stack.data_root, "data/input/sample_disability_data.csv")) as f:
        ssn = f.read().splitlines()[1].split(",")[2]
    assert ssn and ssn not in log


def test_ctrl_c_stops_every_process(tmp_path):
    # GIVEN a second stack with two worker processes
    (tmp_path / "data").mkdir()
    stack = start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=2)
    try:
        children = subprocess.run(["pgrep", "-g", str(stack.process.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) >= 3  # the stack and its workers
        # WHEN it gets Ctrl-C
        stack.process.send_signal(signal.SIGINT)
        # THEN it exits, its workers with it, and its ports are free (the deadlines bound a hang only)
        assert stack.process.wait(timeout=150) == 0
        deadline = time.monotonic() + 60  # multiprocessing's resource tracker leaves last, on its own
        while (left := subprocess.run(["pgrep", "-g", str(stack.process.pid)], capture_output=True,
                                      text=True).stdout.split()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == []
        with pytest.raises(requests.ConnectionError):
            requests.get(stack.api_url, timeout=30)
    finally:
        stack.stop()  # whatever failed above: nothing of the stack is left


def test_the_scheduled_reaper_ends_a_run_that_never_moves(tmp_path):
    # GIVEN a stack with no workers, whose reaper runs every second and calls a run stalled after 2s
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("CLAIM_NO\nDC00000001\n")
    stack = start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=0,
                        extra_env={"REAPER_SECONDS": "1", "STALLED_AFTER_SECONDS": "2"})
    try:
        # WHEN a run is queued and nothing ever picks it up
        run_id = stack.trigger(file_path="data/in.csv", record_type="disability", output_mode="file")["run_id"]
        # THEN the reaper ends it as failed, saying why
        status = stack.wait_until_finished(run_id, timeout=150)
        assert status["status"] == "failed"
        assert "the run stopped moving" in status["error_message"]
    finally:
        stack.stop()
