"""Fault injection: the local stack with real processes and real HTTP, while things go wrong.

Each test breaks one thing (a message delivered twice, a worker killed in the
middle of a chunk, the target down past the retry budget, a chunk that always
fails, a cancel in the middle of a run, twenty runs at once) and ends with the
same check, `assert_nothing_lost`: every run terminal, its counters consistent,
and the sandbox target's distinct records plus the run's errors equal to its
records, with nothing taken twice. docs/guarantees.md says what each proves.
"""
from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from local_stack.child import StackProcess, start_stack
from tests.e2e.faults import (SMALL_CHUNKS, api, assert_nothing_lost, error_report, reset_target,
                              set_target_faults, wait_all_finished, wait_for, wait_until_quiet, work_queue_depth,
                              worker_pids, write_inputs)

pytestmark = pytest.mark.e2e
RECORD_TYPES = ["disability", "absence", "group_policy", "employee", "claim"]


@pytest.fixture
def stack_with(tmp_path):
    """Start a stack whose environment differs from the others; stopped after the test."""
    started: list[StackProcess] = []

    def start(workers: int = 2, **env: str) -> StackProcess:
        (tmp_path / "data").mkdir(exist_ok=True)
        stack = start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=workers,
                            extra_env={**SMALL_CHUNKS, **env})
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()


@pytest.fixture(scope="module")
def four_workers(tmp_path_factory):
    """A stack with four worker processes and no faults of its own, shared by the tests that need nothing else."""
    root = tmp_path_factory.mktemp("four-workers")
    (root / "data").mkdir()
    stack = start_stack(str(root), str(root / "stack.log"), workers=4, extra_env=SMALL_CHUNKS)
    yield stack
    stack.stop()


def log_events(stack: StackProcess, message: str, run_id: str) -> list[dict]:
    """The service's structured log lines with this message for this run."""
    events = []
    for line in stack.log().splitlines():
        if line.startswith("{") and f'"{message}"' in line and run_id in line:
            event = json.loads(line)
            if event.get("message") == message and event.get("run_id") == run_id:
                events.append(event)
    return events


def trigger(stack: StackProcess, path: str, record_type: str, batch_size: int = 50, **extra) -> str:
    # No authentication: the stage's default credentials apply, so a retry needs none either.
    return stack.trigger(file_path=path, record_type=record_type, output_mode="api", batch_size=batch_size,
                         **extra)["run_id"]


def test_every_chunk_delivered_twice_counts_once(stack_with):
    # GIVEN a stack whose work queue delivers every message twice, more workers than the
    # run has chunks, and a target slow enough that a chunk and its copy overlap
    stack = stack_with(workers=4, FAULT_DUPLICATE_DELIVERY="1")
    invalid = write_inputs(stack.data_root, [("data/claims.csv", "claim", 1000, 11)])
    set_target_faults(stack, latency_ms=200)
    before = stack.target_count()
    # WHEN a run is migrated in batches of 10
    run_id = trigger(stack, "data/claims.csv", "claim", batch_size=10)
    status = stack.wait_until_finished(run_id, timeout=90)
    # THEN it completed, and nothing was lost or counted twice
    assert status["status"] == "completed", status
    assert_nothing_lost(stack, run_id, before, invalid)
    # AND the duplicates really were processed: chunks were delivered more often than there are chunks
    chunks = status["details"]["chunks"]["total"]
    assert 2 <= chunks < 4
    delivered = log_events(stack, "chunk delivered", run_id)
    assert len(delivered) > chunks, delivered
    assert len(log_events(stack, "chunk counted", run_id)) == chunks


def test_a_worker_killed_in_the_middle_of_a_chunk(stack_with):
    # GIVEN two workers, a work queue that hands a held chunk out again after 5 s,
    # and a target slow enough that a chunk takes a few seconds
    stack = stack_with(workers=2, LOCAL_VISIBILITY_SECONDS="5")
    invalid = write_inputs(stack.data_root, [("data/disability.csv", "disability", 3000, 12)])
    set_target_faults(stack, latency_ms=300)
    before = stack.target_count()
    workers = worker_pids(stack)
    assert len(workers) == 2, workers
    run_id = trigger(stack, "data/disability.csv", "disability", batch_size=10)
    # WHEN one worker process is killed (SIGKILL) once the target has some of the run's
    # records, and before the first chunk is counted: both workers are in a chunk
    wait_for(lambda: stack.target_count()["records"] > before["records"], 60, "the first delivered records")
    assert stack.status(run_id, details=True)["details"]["chunks"]["done"] == 0
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    # THEN the stack starts another worker in its place
    replacement = wait_for(lambda: [p for p in worker_pids(stack) if p not in workers], 30, "a new worker")
    assert victim not in worker_pids(stack) and len(replacement) == 1
    assert f"(pid {victim}) died with exit code -9; starting another" in stack.log()
    # AND the killed chunk comes back, and the run completes with nothing lost or counted twice
    status = stack.wait_until_finished(run_id, timeout=120)
    assert status["status"] == "completed", status
    assert_nothing_lost(stack, run_id, before, invalid)
    # AND the chunk the killed worker held was delivered again (its batches already
    # taken were answered from their Idempotency-Keys)
    assert stack.target_count()["duplicate_calls"] > before["duplicate_calls"]
    assert len(log_events(stack, "chunk counted", run_id)) == status["details"]["chunks"]["total"]


def test_target_down_past_the_retry_budget_then_retried(stack_with):
    # GIVEN a short retry budget, failed messages back after 1 s, and a target that answers 5xx to every call
    stack = stack_with(workers=2, RETRY_BUDGET_SECONDS="1", LOCAL_RETRY_SECONDS="1")
    invalid = write_inputs(stack.data_root, [("data/absence.csv", "absence", 1000, 13)])
    set_target_faults(stack, error_rate=1.0)
    before = stack.target_count()
    # WHEN a run is migrated (with the stage's default credentials)
    run_id = trigger(stack, "data/absence.csv", "absence")
    status = stack.wait_until_finished(run_id, timeout=150)
    # THEN every chunk reached the DLQ after its receives, and the run failed, saying so
    chunks = status["details"]["chunks"]
    assert status["status"] == "failed", status
    assert chunks["failed"] == chunks["total"] >= 2 and chunks["done"] == 0
    assert f"{chunks['total']} of {chunks['total']} chunks failed after retries" in status["error_message"]
    assert status["progress"]["error_count"] == status["progress"]["total_records"] == 1000
    assert stack.target_count()["errors"] > before["errors"]
    assert_nothing_lost(stack, run_id, before)
    summary, rows = error_report(stack, run_id)
    assert summary["by_rule"] == {"chunk_failed": 1000} and {r["rule"] for r in rows} == {"chunk_failed"}

    # WHEN the target is back and the failed chunks are redriven
    set_target_faults(stack)
    response = api(stack, "POST", f"/retry/{run_id}")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["run_id"] == run_id and answer["retried_chunks"] == chunks["total"]
    assert answer["retried_records"] == 1000
    status = stack.wait_until_finished(run_id, timeout=60)
    # THEN the same run completed, its history shows the retry, and nothing was lost or counted twice
    assert status["status"] == "completed", status
    assert status["run_id"] == run_id
    assert status["details"]["chunks"] == {"total": chunks["total"], "done": chunks["total"], "failed": 0}
    assert [s for s in status["details"]["steps"] if s["step"] == "retry"] != []
    assert_nothing_lost(stack, run_id, before, invalid)
    summary, rows = error_report(stack, run_id)
    assert summary["by_rule"].get("chunk_failed", 0) == 0 and "chunk_failed" not in {r["rule"] for r in rows}
    # AND there is nothing left to retry
    assert api(stack, "POST", f"/retry/{run_id}").status_code == 409


def test_a_poison_chunk_lands_in_the_dlq_and_counts_as_errors_once(stack_with):
    # GIVEN a stack where chunk 2 of every run always makes the worker raise, retried after 1 s
    stack = stack_with(workers=2, FAULT_POISON='"chunk":2,', LOCAL_RETRY_SECONDS="1")
    write_inputs(stack.data_root, [("data/employees.csv", "employee", 2000, 14)])
    before = stack.target_count()
    # WHEN a run that tolerates half its records rejected is migrated
    run_id = trigger(stack, "data/employees.csv", "employee", max_error_rate=0.5)
    status = stack.wait_until_finished(run_id, timeout=60)
    # THEN it completed with one chunk failed, and says so
    chunks = status["details"]["chunks"]
    assert status["status"] == "completed", status
    assert chunks["failed"] == 1 and chunks["done"] == chunks["total"] - 1 >= 2
    assert f"1 of {chunks['total']} chunks failed after retries" in status["error_message"]
    assert_nothing_lost(stack, run_id, before)
    # AND the poisoned chunk was received the queue's maxReceiveCount times, then failed for good once
    assert stack.log().count("PoisonedMessage: FAULT_POISON matched this message") == 5
    assert len(log_events(stack, "chunk failed for good", run_id)) == 1
    # AND the error report lists each of its rows once, with rule chunk_failed
    summary, rows = error_report(stack, run_id)
    failed_rows = sorted(r["row"] for r in rows if r["rule"] == "chunk_failed")
    assert summary["by_rule"]["chunk_failed"] == len(failed_rows) > 0
    assert failed_rows == list(range(failed_rows[0], failed_rows[0] + len(failed_rows)))  # one slice of the file
    assert failed_rows[0] > 1  # chunk 2, after chunk 1
    assert not [r for r in rows if r["rule"] != "chunk_failed" and failed_rows[0] <= r["row"] <= failed_rows[-1]]
    dead = next(r for r in rows if r["rule"] == "chunk_failed")
    assert dead["message"] == "the chunk failed on every attempt; its records were not delivered"


def test_cancel_in_the_middle_of_a_run(four_workers):
    stack = four_workers
    # GIVEN four workers and a target slow enough that a run takes several seconds
    write_inputs(stack.data_root, [("data/cancel/group_policy.csv", "group_policy", 8000, 15)])
    set_target_faults(stack, latency_ms=200)
    before = stack.target_count()
    try:
        run_id = trigger(stack, "data/cancel/group_policy.csv", "group_policy", batch_size=10)
        wait_for(lambda: stack.target_count()["records"] - before["records"] >= 100, 60, "some records delivered")
        # WHEN it is cancelled in the middle
        response = stack.cancel(run_id)
        cancelled_at = time.monotonic()
        # THEN the cancel is accepted and the run is cancelled at once
        assert response.status_code == 200, response.text
        assert stack.status(run_id)["status"] == "cancelled"
        # AND no chunk starts after it: the calls in flight finish (a worker reads the flag every
        # 0.25 s; a call takes 0.2 s), then the target's count stops growing, about a second later
        _, last_change = wait_until_quiet(lambda: stack.target_count()["records"], quiet_for=2.0, timeout=20)
        assert last_change - cancelled_at < 2.5, f"records still arrived {last_change - cancelled_at:.1f}s after"
        wait_for(lambda: work_queue_depth(stack) == 0, 30, "the work queue to drain")
        # AND the counters match what the target actually received, and stop there
        statuses = assert_nothing_lost(stack, run_id, before)
        progress = statuses[run_id]["progress"]
        assert statuses[run_id]["status"] == "cancelled"
        assert 0 < progress["success_count"] and progress["processed_records"] < progress["total_records"] == 8000
        assert stack.target_count()["records"] - before["records"] == progress["success_count"]
        # AND cancelling again answers 200, the same
        again = stack.cancel(run_id)
        assert again.status_code == 200 and again.json() == response.json()
        assert [s["step"] for s in statuses[run_id]["details"]["steps"]].count("cancelled") == 1
    finally:
        set_target_faults(stack)


def test_twenty_migrations_at_once(four_workers):
    stack = four_workers
    # GIVEN twenty distinct files, four of each record type, and a target that starts counting from zero
    files = [(f"data/many/{record_type}-{i}.csv", record_type, 1000, 100 + n)
             for n, (i, record_type) in enumerate((i, t) for i in range(4) for t in RECORD_TYPES)]
    invalid = write_inputs(stack.data_root, files)
    before = reset_target(stack)
    # WHEN all twenty are triggered at once on four workers
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        run_ids = list(pool.map(lambda f: trigger(stack, f[0], f[1], batch_size=100), files))
    assert len(set(run_ids)) == 20
    finished = wait_all_finished(stack, run_ids, timeout=180)
    # THEN every run completed with exact counters, and the target holds exactly the sum of their successes
    assert {s["status"] for s in finished.values()} == {"completed"}, finished
    statuses = assert_nothing_lost(stack, run_ids, before, invalid)
    assert all(s["progress"]["total_records"] == 1000 for s in statuses.values())
    after = stack.target_count()
    assert after["distinct_records"] == sum(s["progress"]["success_count"] for s in statuses.values()) \
        == 20 * 1000 - sum(invalid.values())
    assert after["duplicate_calls"] == 0
