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
from concurrent.futures import ThreadPoolExecutor

import pytest

from local_stack.child import StackProcess, start_stack
from tests.e2e.faults import (SMALL_CHUNKS, api, assert_nothing_lost, error_report, reset_target,
                              delivering_workers, set_target_faults, wait_all_finished, wait_for, work_queue_depth,
                              worker_pids, write_inputs)

pytestmark = pytest.mark.e2e
RECORD_TYPES = ["disability", "absence", "group_policy", "employee", "claim"]
FOUR_WORKERS = 4
MAX_CALLS_IN_FLIGHT = 8  # per worker: the stage's value, set explicitly for the cancel test's bound
# The deadlines below bound a hang; none asks for speed (a loaded two-core machine must pass).


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
    stack = start_stack(str(root), str(root / "stack.log"), workers=FOUR_WORKERS,
                        extra_env={**SMALL_CHUNKS, "MAX_CALLS_IN_FLIGHT": str(MAX_CALLS_IN_FLIGHT)})
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
    # GIVEN a stack whose work queue delivers every message twice, more workers than the run has
    # chunks, and, to begin with, a target that fails every call: a worker that takes a chunk keeps
    # retrying it (the retry budget is large) and holds it (no visibility timeout runs out meanwhile)
    workers, in_flight = 4, 8
    stack = stack_with(workers=workers, FAULT_DUPLICATE_DELIVERY="1", RETRY_BUDGET_SECONDS="3600",
                       LOCAL_VISIBILITY_SECONDS="900", MAX_CALLS_IN_FLIGHT=str(in_flight))
    invalid = write_inputs(stack.data_root, [("data/claims.csv", "claim", 1000, 11)])
    set_target_faults(stack, error_rate=1.0)
    before = stack.target_count()
    # WHEN a run is migrated in batches of 10
    run_id = trigger(stack, "data/claims.csv", "claim", batch_size=10)
    chunks = wait_for(lambda: stack.status(run_id, details=True)["details"]["chunks"]["total"], 300, "the plan")
    assert 2 <= chunks < workers
    # AND every worker is delivering a chunk at once: more deliveries than chunks, so a chunk and its
    # copy are delivered side by side (neither can finish while the target fails)
    wait_for(lambda: len(delivering_workers(stack, in_flight)) == workers, 300,
             f"all {workers} workers delivering a chunk")
    # AND only then the target answers again
    set_target_faults(stack)
    status = stack.wait_until_finished(run_id, timeout=600)
    # THEN it completed, and nothing was lost or counted twice
    assert status["status"] == "completed", status
    assert_nothing_lost(stack, run_id, before, invalid)
    # AND the duplicates really were processed: once every copy's handler returned (the queue is empty;
    # a copy may still be waiting out a retry's backoff after the run completed), chunks were delivered
    # more often than there are chunks, the copies' batches answered from their Idempotency-Keys, and
    # each chunk counted once
    wait_for(lambda: work_queue_depth(stack) == 0, 300, "every copy's handler to return")
    delivered = log_events(stack, "chunk delivered", run_id)
    assert len(delivered) > chunks, delivered
    assert stack.target_count()["duplicate_calls"] > before["duplicate_calls"]
    assert len(log_events(stack, "chunk counted", run_id)) == chunks


def test_a_worker_killed_in_the_middle_of_a_chunk(stack_with):
    # GIVEN two workers, a work queue that hands a held chunk out again after 5 s, and a target slow
    # enough that a chunk takes a few seconds; the retry budget is large, so a worker whose calls fail
    # keeps retrying and holds its chunk
    in_flight = 8
    stack = stack_with(workers=2, LOCAL_VISIBILITY_SECONDS="5", RETRY_BUDGET_SECONDS="3600",
                       MAX_CALLS_IN_FLIGHT=str(in_flight))
    invalid = write_inputs(stack.data_root, [("data/disability.csv", "disability", 3000, 12)])
    set_target_faults(stack, latency_ms=300)
    before = stack.target_count()
    workers = worker_pids(stack)
    assert len(workers) == 2, workers
    run_id = trigger(stack, "data/disability.csv", "disability", batch_size=10)

    # WHEN the target has taken some of the run's records and then fails every call, so that both
    # workers are stuck in the middle of a chunk: a chunk some of whose records the target took, and
    # that is not counted (the target took more than the run's counted chunks delivered). Read from
    # the outside once the workers are stuck, so whatever the machine's speed; tried again if the
    # target happened to stop between two chunks.
    def stuck_with_records_taken() -> bool:
        taken_before = stack.target_count()["records"]
        wait_for(lambda: stack.target_count()["records"] > taken_before, 300, "records delivered")
        set_target_faults(stack, error_rate=1.0)
        wait_for(lambda: len(delivering_workers(stack, in_flight)) == 2, 300, "both workers in a chunk")
        counted = stack.status(run_id)["progress"]["success_count"]
        if stack.target_count()["records"] - before["records"] > counted:
            return True
        set_target_faults(stack, latency_ms=300)
        return False

    wait_for(stuck_with_records_taken, 600, "both workers stuck in a chunk the target took records of")
    # AND both worker processes are killed (SIGKILL), then the target answers again
    for victim in workers:
        os.kill(victim, signal.SIGKILL)
    set_target_faults(stack)
    # THEN the stack starts another worker in place of each
    def replacements() -> list[int]:
        new = [pid for pid in worker_pids(stack) if pid not in workers]
        return new if len(new) == 2 else []

    wait_for(replacements, 150, "two new workers")
    assert not set(workers) & set(worker_pids(stack))
    for victim in workers:
        wait_for(lambda: f"(pid {victim}) died with exit code -9; starting another" in stack.log(), 150,
                 f"the stack to report worker {victim}'s death")
    # AND the killed chunks come back, and the run completes with nothing lost or counted twice
    status = stack.wait_until_finished(run_id, timeout=600)
    assert status["status"] == "completed", status
    assert_nothing_lost(stack, run_id, before, invalid)
    # AND a chunk a killed worker held was delivered again (its batches already
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
    status = stack.wait_until_finished(run_id, timeout=750)
    # THEN every chunk reached the DLQ after its receives, and the run failed, saying so
    chunks = status["details"]["chunks"]
    assert status["status"] == "failed", status
    assert chunks["failed"] == chunks["total"] >= 2 and chunks["done"] == 0
    assert f"{chunks['total']} of {chunks['total']} chunks failed" in status["error_message"]
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
    status = stack.wait_until_finished(run_id, timeout=300)
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
    status = stack.wait_until_finished(run_id, timeout=300)
    # THEN it completed with one chunk failed, and says so
    chunks = status["details"]["chunks"]
    assert status["status"] == "completed", status
    assert chunks["failed"] == 1 and chunks["done"] == chunks["total"] - 1 >= 2
    assert f"1 of {chunks['total']} chunks failed" in status["error_message"]
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


def test_a_reconciliation_report_that_keeps_failing_is_flagged_on_the_run_and_the_page(stack_with, chromium):
    # GIVEN a stack where building any reconciliation report always makes the worker raise, retried after 1 s
    stack = stack_with(workers=1, FAULT_POISON='"kind": "reconcile"', LOCAL_RETRY_SECONDS="1")
    write_inputs(stack.data_root, [("data/employees.csv", "employee", 200, 16)])
    # WHEN a run ends
    run_id = trigger(stack, "data/employees.csv", "employee", max_error_rate=1.0)
    assert stack.wait_until_finished(run_id, timeout=300)["status"] == "completed"
    # THEN once its reconcile message has failed the queue's maxReceiveCount times, the run says so
    def flagged():
        status = stack.status(run_id)
        return status if (status["reconciliation"] or {}).get("failed") else None

    status = wait_for(flagged, 120, "the run flagged as having no report")
    assert status["reconciliation"]["failed"] == "the reconciliation report could not be built on any attempt"
    assert stack.log().count("PoisonedMessage: FAULT_POISON matched this message") == 5
    answer = api(stack, "GET", f"/{run_id}/reconciliation")
    assert answer.status_code == 409 and "could not be built on any attempt" in answer.json()["detail"]
    # AND the dashboard shows it in the run's row, not an empty cell
    chromium.get(stack.api_url + "/")
    wait_for(lambda: "report not built" in chromium.find_element("id", "runs").text, 60,
             "the dashboard's flag of the run with no report")


def test_cancel_in_the_middle_of_a_run(four_workers):
    stack = four_workers
    # GIVEN four workers and a target slow enough that a run is still going when it is cancelled
    batch_size = 10
    write_inputs(stack.data_root, [("data/cancel/group_policy.csv", "group_policy", 8000, 15)])
    set_target_faults(stack, latency_ms=200)
    before = stack.target_count()
    try:
        run_id = trigger(stack, "data/cancel/group_policy.csv", "group_policy", batch_size=batch_size)
        wait_for(lambda: stack.target_count()["records"] - before["records"] >= 100, 300, "some records delivered")
        # WHEN it is cancelled in the middle
        response = stack.cancel(run_id)
        # THEN the cancel is accepted and the run is cancelled at once (the next read says so)
        assert response.status_code == 200, response.text
        at_cancel = stack.status(run_id, details=True)
        assert at_cancel["status"] == "cancelled"
        delivered_at_cancel = stack.target_count()["records"] - before["records"]
        # AND the workers let go: every message of the run leaves the work queue (a message
        # leaves it only once its handler returned), so no worker is in a chunk of it any more
        wait_for(lambda: work_queue_depth(stack) == 0, 300, "the work queue to drain")
        delivered = stack.target_count()["records"] - before["records"]
        # AND what arrived after the cancel is bounded by what was in flight, whatever the machine's
        # speed: each worker holds one chunk; its calls in flight finish, and it starts new calls only
        # until its next read of the flag, which comes within CANCEL_CHECK_SECONDS (0.25 s) of the
        # previous one, while every call takes at least the target's 0.2 s: at most 2 more calls per
        # place in flight. So at most 3 x MAX_CALLS_IN_FLIGHT batches per worker, and no new chunk.
        bound = FOUR_WORKERS * 3 * MAX_CALLS_IN_FLIGHT * batch_size
        assert delivered - delivered_at_cancel <= bound, (delivered_at_cancel, delivered, bound)
        # AND no chunk started after the cancel: the chunks that delivered anything are those counted
        # when it was read, plus at most the one each worker held
        delivering = {event["chunk"] for event in log_events(stack, "chunk delivered", run_id)}
        assert len(delivering) <= at_cancel["details"]["chunks"]["done"] + FOUR_WORKERS, sorted(delivering)
        # AND the counters match what the target actually received, and stop there
        statuses = assert_nothing_lost(stack, run_id, before)
        progress = statuses[run_id]["progress"]
        assert statuses[run_id]["status"] == "cancelled"
        assert 0 < progress["success_count"] and progress["processed_records"] < progress["total_records"] == 8000
        assert stack.target_count()["records"] - before["records"] == progress["success_count"] == delivered
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
    finished = wait_all_finished(stack, run_ids, timeout=900)
    # THEN every run completed with exact counters, and the target holds exactly the sum of their successes
    assert {s["status"] for s in finished.values()} == {"completed"}, finished
    statuses = assert_nothing_lost(stack, run_ids, before, invalid)
    assert all(s["progress"]["total_records"] == 1000 for s in statuses.values())
    after = stack.target_count()
    assert after["distinct_records"] == sum(s["progress"]["success_count"] for s in statuses.values()) \
        == 20 * 1000 - sum(invalid.values())
    assert after["duplicate_calls"] == 0
