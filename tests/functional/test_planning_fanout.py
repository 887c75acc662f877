"""A big file's plan fanned out over several workers (chalicelib.fanout), end to end over moto: with the
stage's fan-out threshold lowered, a run is planned in ranges, completes with exact counters, and its
plan is the single planner's, chunk for chunk."""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from chalicelib.inputs.delimited import plan_delimited
from local_stack.environment import PROJECT_DIR
from tests.functional.conftest import functional_stage
from tests.functional.test_migration_api import HEADER, record, write

RANGE_BYTES = 2000


@pytest.fixture
def fanned_out(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAN_FANOUT_BYTES", "1")           # every file fans out
    monkeypatch.setenv("PLAN_RANGE_BYTES", str(RANGE_BYTES))
    data_root = tmp_path / "root"
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), data_root / "data" / "input")
    with functional_stage(data_root, monkeypatch) as harness:
        yield harness


def test_a_fanned_out_run_completes_with_exact_counters_and_the_single_plans_chunks(fanned_out):
    # GIVEN 500 records, every fourth with a quoted employer holding a newline and quotes, some invalid
    rows = [record(n, ssn="123-45-6789" if n % 50 else "bad",
                   employer='"Acme\nCorp ""East"", Inc"' if n % 4 == 0 else "Acme Corp") for n in range(1, 501)]
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    path = write(fanned_out, "data/input/fanned.csv", text)
    # WHEN the run goes to its end
    status = fanned_out.run_to_end(file_path=path, record_type="disability", output_mode="file")
    # THEN it completed with every record counted once
    progress = status["progress"]
    assert status["status"] == "completed", status
    assert progress["total_records"] == progress["processed_records"] == 500
    assert progress["success_count"] + progress["error_count"] == 500 and progress["error_count"] == 10
    # AND its plan is the one a single planner makes on the same grid, and the file's identity is its own
    folder = fanned_out.output_dir(status["run_id"])
    plan = json.load(open(os.path.join(folder, "plan.json")))
    assert len([name for name in os.listdir(os.path.join(folder, "plan-parts"))]) > 2  # it did fan out
    data = text.encode()
    single = plan_delimited([data], 100, 16 * 1024 * 1024, range_bytes=RANGE_BYTES)
    assert [(c["chunk"], c["start"], c["end"], c["first_row"], c["rows"]) for c in plan["chunks"]] == \
        [(c.chunk, c.start, c.end, c.first_row, c.rows) for c in single.chunks]
    assert plan["input"]["size_bytes"] == len(data)
    # AND the digest, taken apart from the plan, is the file's real SHA-256, in a balanced report
    assert status["reconciliation"]["balanced"] is True
    report = fanned_out.get(f"/api/v1/migrations/{status['run_id']}/reconciliation").json_body
    assert report["input"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert report["input"]["size_bytes"] == len(data)


def test_a_redelivered_range_is_counted_again_without_being_scanned_again(fanned_out):
    # GIVEN a run whose plan fanned out, its plan message handled
    rows = [record(n, employer='"Acme\nCorp"' if n % 7 == 0 else "Acme Corp") for n in range(1, 301)]
    path = write(fanned_out, "data/input/redelivered.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = fanned_out.trigger(file_path=path, record_type="disability", output_mode="file")
    for message in fanned_out.receive():
        fanned_out.deliver(message)
    parts = os.path.join(fanned_out.output_dir(run_id), "plan-parts")
    ranges = fanned_out.receive(limit=100)
    assert [json.loads(m["Body"]).get("kind") for m in ranges] == ["range"] * len(ranges) and len(ranges) > 3
    # WHEN the first range is handled, and then comes again (its message redelivered)
    first = ranges[0]
    fanned_out.invoke(first)
    part = os.path.join(parts, f"range-{json.loads(first['Body'])['index']:06d}.json")
    written = os.stat(part)
    fanned_out.deliver(first)
    # THEN its part was not written again (the range was not scanned again)
    again = os.stat(part)
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    # AND the run, its other parts (the digest among them) handled, completes with every record counted once
    for message in ranges[1:]:
        fanned_out.deliver(message)
    fanned_out.drain()
    status = fanned_out.status(run_id)
    progress = status["progress"]
    assert status["status"] == "completed", status
    assert progress["total_records"] == progress["processed_records"] == 300
    assert progress["success_count"] + progress["error_count"] == 300


def test_a_file_with_a_wrong_header_fails_before_any_range_is_sent(fanned_out):
    # GIVEN a big file (every file fans out here) whose first row is not the record type's header
    rows = [record(n) for n in range(1, 201)]
    path = write(fanned_out, "data/input/headless.csv", "\n".join(rows) + "\n")
    run_id = fanned_out.trigger(file_path=path, record_type="disability", output_mode="file")
    # WHEN its plan message is handled
    for message in fanned_out.receive():
        fanned_out.deliver(message)
    # THEN the run failed, saying what is wrong with the header, and no range was sent
    status = fanned_out.status(run_id)
    assert status["status"] == "failed", status
    assert "header does not match record type 'disability'" in status["error_message"], status
    assert [json.loads(m["Body"]).get("kind") for m in fanned_out.receive()] == ["reconcile"]  # its report


def test_a_file_replaced_while_its_plan_fans_out_fails_the_run_and_says_why(fanned_out):
    # GIVEN a run whose plan fanned out into ranges, none scanned yet
    rows = [record(n) for n in range(1, 301)]
    path = write(fanned_out, "data/input/swapped.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = fanned_out.trigger(file_path=path, record_type="disability", output_mode="file")
    for message in fanned_out.receive():
        fanned_out.deliver(message)
    # WHEN another file of the same size takes its place (the size check alone would not see it)
    full = os.path.join(fanned_out.data_root, path)
    with open(full + ".new", "w", newline="") as f:
        f.write(HEADER + "\n" + "\n".join(record(n) for n in range(1001, 1301)) + "\n")
    assert os.path.getsize(full + ".new") == os.path.getsize(full)
    os.replace(full + ".new", full)
    fanned_out.drain()
    # THEN the run failed at its first range, before it was planned, saying the file changed, quoting none of it
    status = fanned_out.status(run_id)
    assert status["status"] == "failed" and status["progress"]["total_records"] == 0, status
    assert status["error_message"] == (f"{path}: the file changed after the run was queued (another file, "
                                       "or its size or modification time is not what it was)")
