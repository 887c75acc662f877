"""The installed `migrate` console script against the real local stack (the session's `local_stack`).

Each test runs the venv's `migrate` as an operator would, from the stack's data root (which holds a copy of
data/input), so a sample is named by its path there. Few runs, and small files: one finished run is shared
by the read-only commands.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.e2e

MIGRATE = os.path.join(os.path.dirname(sys.executable), "migrate")
SAMPLE = "data/input/sample_claim_data.csv"
DATA_BUCKET = "records-migration-data-local-123456789012"  # the local stage's (.chalice/config.json)
UNKNOWN_RUN = "00000000-0000-0000-0000-000000000000"
# Bounds a hang only (a loaded two-core machine); never a speed requirement.
HANG = 900


def migrate(stack, *args: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([MIGRATE, *args], cwd=cwd or stack.data_root, env=cli_env(stack, env),
                          capture_output=True, text=True, timeout=HANG)


def cli_env(stack, extra: dict | None = None) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MIGRATE_")}
    env.update({"MIGRATE_URL": stack.api_url, "XDG_CONFIG_HOME": os.path.join(stack.data_root, "no-config")})
    if stack.key:
        env["MIGRATE_KEY"] = stack.key
    return {**env, **(extra or {})}


def lines(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def finished_run(local_stack) -> dict:
    """The claim sample, run in file mode with --wait --json: its final status document."""
    result = migrate(local_stack, "run", SAMPLE, "--type", "claim", "--mode", "file", "--wait", "--json",
                     "--poll", "0.3")
    assert result.returncode == 0, explain(result)
    return lines(result)[-1]


def test_run_wait_json_ends_completed_with_the_final_status_as_its_last_line(local_stack, finished_run):
    # GIVEN the run that `migrate run --wait --json` followed (the fixture)
    # THEN its last line is the run's final status document, as the API answers it now
    assert finished_run["status"] == "completed"
    assert finished_run["file_path"] == SAMPLE and finished_run["record_type"] == "claim"
    progress = finished_run["progress"]
    assert progress["total_records"] > 0 and progress["processed_records"] == progress["total_records"]
    assert local_stack.status(finished_run["run_id"])["status"] == "completed"
    assert "details" in finished_run  # the final document is the detailed one


def test_status_and_list_show_the_run(local_stack, finished_run):
    run_id = finished_run["run_id"]
    status = migrate(local_stack, "status", run_id, "--json")
    assert status.returncode == 0, explain(status)
    assert lines(status)[0]["progress"] == finished_run["progress"]
    table = migrate(local_stack, "status", run_id)
    assert table.returncode == 0 and run_id in table.stdout and "completed" in table.stdout

    listed = migrate(local_stack, "list", "--json", "--type", "claim", "--all", "--limit", "50")
    assert listed.returncode == 0, explain(listed)
    [page] = lines(listed)
    assert run_id in [row["run_id"] for row in page["migrations"]]
    assert page["count"] == len(page["migrations"])
    people = migrate(local_stack, "list", "--limit", "200")
    assert people.returncode == 0 and run_id in people.stdout


def test_errors_are_written_as_csv_and_json_lines_every_row(local_stack, finished_run, tmp_path):
    run_id = finished_run["run_id"]
    expected = requests.get(f"{local_stack.api_url}/api/v1/migrations/{run_id}/errors", params={"limit": 1000},
                            headers=local_stack.headers, timeout=60).json()
    as_csv = migrate(local_stack, "errors", run_id, "--output", str(tmp_path / "errors.csv"), "--page-size", "7")
    assert as_csv.returncode == 0, explain(as_csv)
    with open(tmp_path / "errors.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == expected["error_rows"]
    assert [int(row["row"]) for row in rows] == [row["row"] for row in expected["errors"]]

    as_jsonl = migrate(local_stack, "errors", run_id, "--output", str(tmp_path / "errors.jsonl"), "--page-size",
                       "7", "--json")
    assert as_jsonl.returncode == 0, explain(as_jsonl)
    with open(tmp_path / "errors.jsonl", encoding="utf-8") as f:
        written = [json.loads(line) for line in f]
    assert written == expected["errors"]
    assert lines(as_jsonl)[0]["rows"] == expected["error_rows"]


def test_record_types(local_stack):
    result = migrate(local_stack, "record-types", "--json")
    assert result.returncode == 0, explain(result)
    assert "claim" in [kind["record_type"] for kind in lines(result)[0]["record_types"]]
    table = migrate(local_stack, "record-types")
    assert table.returncode == 0 and "disability" in table.stdout


def test_a_4xx_prints_the_detail_and_exits_2(local_stack, finished_run):
    finished = migrate(local_stack, "cancel", finished_run["run_id"])
    assert finished.returncode == 2, explain(finished)
    assert "409" in finished.stderr and "cannot be cancelled" in finished.stderr
    unknown = migrate(local_stack, "status", UNKNOWN_RUN)
    assert unknown.returncode == 2 and f"Migration run not found: {UNKNOWN_RUN}" in unknown.stderr
    refused = migrate(local_stack, "run", SAMPLE, "--type", "pension")
    assert refused.returncode == 2 and "record_type" in refused.stderr


def test_cancel_while_waiting_ends_the_wait_with_exit_3(local_stack, tmp_path):
    # GIVEN a file big enough, delivered one record a call, that the run is still going when it is cancelled
    with open(os.path.join(local_stack.data_root, SAMPLE), encoding="utf-8") as f:
        header, *rows = f.read().splitlines()
    big = "data/input/cli_cancel_claims.csv"
    with open(os.path.join(local_stack.data_root, big), "w", encoding="utf-8") as f:
        f.write("\n".join([header, *rows * 40]) + "\n")
    waiting = subprocess.Popen([MIGRATE, "run", big, "--type", "claim", "--batch-size", "1", "--wait", "--json",
                                "--poll", "0.2"], cwd=local_stack.data_root, env=cli_env(local_stack),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = json.loads(waiting.stdout.readline())["run_id"]  # the trigger's answer comes first
        # WHEN another `migrate` cancels it
        cancelled = migrate(local_stack, "cancel", run_id, "--json")
        assert cancelled.returncode == 0, explain(cancelled)
        assert lines(cancelled)[0]["cancelled"] is True
        out, err = waiting.communicate(timeout=HANG)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    # THEN the waiting one ends with exit 3, its last line the cancelled run's status
    assert waiting.returncode == 3, f"{out[-2000:]}\n{err[-2000:]}"
    assert json.loads(out.splitlines()[-1])["status"] == "cancelled"


def test_run_upload_puts_the_file_in_the_bucket_and_runs_it(local_stack, tmp_path):
    # GIVEN a local file outside the data root, and the emulator's endpoint for boto3
    local = tmp_path / "absences.csv"
    shutil.copy(os.path.join(local_stack.data_root, "data/input/sample_absence_data.csv"), local)
    aws = {"AWS_ENDPOINT_URL": local_stack.emulator_url, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    # WHEN it is run with --upload
    result = migrate(local_stack, "run", str(local), "--type", "absence", "--mode", "file", "--upload",
                     f"s3://{DATA_BUCKET}/cli-uploads/", "--wait", "--json", "--poll", "0.3", env=aws,
                     cwd=str(tmp_path))
    # THEN the run read the uploaded object, to the end
    assert result.returncode == 0, explain(result)
    final = lines(result)[-1]
    assert final["file_path"] == f"s3://{DATA_BUCKET}/cli-uploads/absences.csv"
    assert final["status"] == "completed" and final["progress"]["total_records"] > 0


# ------------------------------------------------------------------ endpoints of issue 12 (preview, reconciliation)
def test_preview_then_promote(local_stack):
    previewed = migrate(local_stack, "preview", SAMPLE, "--type", "claim", "--mode", "file", "--records", "20",
                        "--json")
    assert previewed.returncode == 0, explain(previewed)
    [answer] = lines(previewed)
    assert answer["records_read"] == 20 and answer["valid"] + answer["rejected"] == 20
    assert answer["more_records"] is True and len(answer["documents"]) == answer["valid"]
    table = migrate(local_stack, "preview", SAMPLE, "--type", "claim", "--records", "5")
    assert table.returncode == 0 and "records read" in table.stdout

    promoted = migrate(local_stack, "preview", SAMPLE, "--type", "claim", "--mode", "file", "--records", "5",
                       "--promote", "--wait", "--json", "--poll", "0.3")
    assert promoted.returncode == 0, explain(promoted)
    documents = lines(promoted)
    assert documents[1]["status"] == "pending"  # the trigger's answer, after the preview's
    assert documents[-1]["status"] == "completed" and documents[-1]["file_path"] == SAMPLE


def test_reconcile_prints_the_balanced_report(local_stack, finished_run):
    run_id = finished_run["run_id"]
    result = migrate(local_stack, "reconcile", run_id, "--json")
    assert result.returncode == 0, explain(result)
    [report] = lines(result)
    assert report["run_id"] == run_id and report["balanced"] is True
    assert report["records"]["read"] == finished_run["progress"]["total_records"]
    table = migrate(local_stack, "reconcile", run_id)
    assert table.returncode == 0 and "BALANCED" in table.stdout and "control totals" in table.stdout
