"""The worker and the reaper on their own: planning, chunks, finishing and dead letters over fakes of
the ports (tests/unit/fakes.py) and a small CSV under a temporary data root.

Runs write files (output_mode "file") or deliver nothing (validate_only): the
worker is given no HTTP session, so a call to a target would fail the test.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.access import OPEN_CALLER as OPEN
from chalicelib.messages import ChunkMessage, PlanMessage
from chalicelib.models import RunStatus, Step
from chalicelib.reaper import MAX_REPLANS
from chalicelib.storage import part_name
from tests.unit.fakes import EMPLOYEE_HEADER, employees_csv, wire

INPUT = "data/input/employees.csv"
TOKEN = {"type": "bearer_token", "token": "s3cr3t-t0k3n"}
RECORDS = 5  # in chunks of 2: rows 1-2, 3-4, 5


@pytest.fixture
def w(tmp_path):
    wiring = wire(tmp_path, CHUNK_RECORDS="2", STALLED_AFTER_SECONDS="1800", REPLAN_AFTER_SECONDS="300")
    wiring.write(INPUT, employees_csv(RECORDS, bad=(3,)))
    return wiring


def trigger(w, **request) -> str:
    """A queued run; its plan message is taken off the queue."""
    run_id = w.service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file",
                                **request})["run_id"]
    assert w.queue.take() == [PlanMessage(run_id)]
    return run_id


def planned(w, **request) -> tuple[str, list[ChunkMessage]]:
    """A run the worker planned, and its chunk messages (taken off the queue)."""
    run_id = trigger(w, **request)
    w.worker.handle(PlanMessage(run_id).to_json())
    return run_id, w.queue.take()


def counts(w, run_id) -> tuple[int, int, int, int]:
    run = w.store.get(run_id)
    return run.success_count, run.error_count, run.chunks_done, run.chunks_failed


def output(w, run_id, *names) -> list[dict]:
    """The JSON Lines of a part under the run's output folder."""
    path = w.root.joinpath("data/output", run_id, *names)
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


# ---------------------------------------------------------------------------- planning

def test_planning_queues_chunk_messages_that_cover_every_record_once(w):
    run_id, chunks = planned(w)
    assert all(isinstance(m, ChunkMessage) and m.run_id == run_id for m in chunks)
    assert [(m.first_row, m.rows) for m in chunks] == [(1, 2), (3, 2), (5, 1)]
    assert len({m.chunk for m in chunks}) == len(chunks)
    size = (w.root / INPUT).stat().st_size
    assert chunks[0].start == len(EMPLOYEE_HEADER) + 1 and chunks[-1].end == size
    assert all(before.end == after.start for before, after in zip(chunks, chunks[1:]))


def test_planning_records_the_plan_on_the_run(w):
    run_id, chunks = planned(w)
    run = w.store.get(run_id)
    assert run.status == RunStatus.RUNNING and run.planned and run.current_step == Step.DATA_MAPPING
    assert (run.total_records, run.chunks_total) == (RECORDS, len(chunks))
    assert run.header == EMPLOYEE_HEADER.split(",")


def test_a_plan_message_delivered_again_queues_nothing_more(w):
    run_id, _ = planned(w)
    w.worker.handle(PlanMessage(run_id).to_json())
    assert w.queue.sent == []


def test_a_plan_for_a_cancelled_run_queues_nothing(w):
    run_id = trigger(w)
    w.service.cancel(OPEN, run_id)
    w.worker.handle(PlanMessage(run_id).to_json())
    assert w.queue.sent == [] and w.store.get(run_id).status == RunStatus.CANCELLED


def test_a_file_removed_after_the_trigger_fails_the_run_and_releases_its_credentials(w):
    run_id = trigger(w, output_mode="api", authentication=TOKEN)
    (w.root / INPUT).unlink()
    w.worker.handle(PlanMessage(run_id).to_json())
    run = w.store.get(run_id)
    assert run.status == RunStatus.FAILED and run.error_message.startswith(f"{INPUT}: file not found")
    assert w.queue.sent == [] and w.vault.secrets == {} and run.credentials_ref is None


def test_a_file_of_a_header_only_completes_the_run_at_once(w):
    w.write(INPUT, employees_csv(0))
    run_id, chunks = planned(w)
    run = w.store.get(run_id)
    assert chunks == [] and run.status == RunStatus.COMPLETED and run.total_records == 0


# ------------------------------------------------------------------------------ chunks

def test_each_chunk_is_counted_once(w):
    run_id, chunks = planned(w)
    for message in chunks:
        w.worker.handle(message.to_json())
    assert counts(w, run_id) == (4, 1, 3, 0)
    assert [m["chunk"] for m in w.store.chunk_markers(run_id)] == [m.chunk for m in chunks]


def test_a_chunk_delivered_again_adds_nothing(w):
    run_id, chunks = planned(w)
    w.worker.handle(chunks[1].to_json())
    once = counts(w, run_id)
    w.worker.handle(chunks[1].to_json())
    assert counts(w, run_id) == once == (1, 1, 1, 0)


def test_a_chunk_delivered_again_after_the_run_ended_changes_nothing(w):
    run_id, chunks = planned(w, max_error_rate=0.5)
    for message in chunks:
        w.worker.handle(message.to_json())
    ended = w.store.get(run_id)
    w.worker.handle(chunks[0].to_json())
    assert w.store.get(run_id) == ended


def test_the_run_keeps_running_until_its_last_chunk_is_counted(w):
    run_id, chunks = planned(w)
    for message in chunks[:-1]:
        w.worker.handle(message.to_json())
        assert w.store.get(run_id).status == RunStatus.RUNNING
    w.worker.handle(chunks[-1].to_json())
    assert w.store.get(run_id).status != RunStatus.RUNNING


def test_the_last_chunk_completes_a_run_within_its_error_tolerance(w):
    run_id, chunks = planned(w, max_error_rate=0.25)  # 1 of 5 records rejected: 20 %
    for message in chunks:
        w.worker.handle(message.to_json())
    run = w.store.get(run_id)
    assert run.status == RunStatus.COMPLETED and not run.active and run.completed_at
    assert run.error_message == "1 of 5 records were rejected (by rule: pattern 1); see the error report"
    assert (run.status, run.error_message) == run.outcome()


def test_the_last_chunk_fails_a_run_above_its_error_tolerance(w):
    run_id, chunks = planned(w, max_error_rate=0.1)
    for message in chunks:
        w.worker.handle(message.to_json())
    run = w.store.get(run_id)
    assert run.status == RunStatus.FAILED and not run.active
    assert run.error_message == ("1 of 5 records were rejected (20.0%, more than the tolerated 10.0%) "
                                 "(by rule: pattern 1)")


def test_a_run_ending_releases_its_credentials(w):
    run_id, chunks = planned(w, output_mode="api", validate_only=True, authentication=TOKEN, max_error_rate=0.5)
    assert w.vault.run_secrets
    for message in chunks:
        w.worker.handle(message.to_json())
    assert w.store.get(run_id).status == RunStatus.COMPLETED
    assert w.vault.secrets == {} and w.store.get(run_id).credentials_ref is None


def test_file_output_writes_each_chunks_valid_documents_and_its_error_rows(w):
    run_id, chunks = planned(w, max_error_rate=0.5)
    for message in chunks:
        w.worker.handle(message.to_json())
    documents = [output(w, run_id, part_name(m.chunk)) for m in chunks]
    assert [len(part) for part in documents] == [2, 1, 1]
    assert documents[0][0]["employee_id"] == "E1000001"
    errors = output(w, run_id, "errors", part_name(chunks[1].chunk))
    assert [(e["row"], e["rule"], e["field"]) for e in errors] == [(3, "pattern", "EMP_ID")]


def test_a_dry_run_counts_the_valid_records_and_delivers_nothing(w):
    # api output with no HTTP session: a delivery would fail the test
    run_id, chunks = planned(w, output_mode="api", validate_only=True, max_error_rate=0.5)
    for message in chunks:
        w.worker.handle(message.to_json())
    assert counts(w, run_id) == (4, 1, 3, 0)
    assert w.store.get(run_id).status == RunStatus.COMPLETED
    folder = w.root / "data/output" / run_id
    # the error report and the plan's chunk pointers (for the reconciliation report), no documents
    assert sorted(p.name for p in folder.iterdir()) == ["errors", "plan.json"]


def test_a_dry_run_in_file_mode_writes_no_documents(w):
    run_id, chunks = planned(w, validate_only=True, max_error_rate=0.5)
    for message in chunks:
        w.worker.handle(message.to_json())
    assert not any((w.root / "data/output" / run_id / part_name(m.chunk)).exists() for m in chunks)


def test_a_chunk_of_a_cancelled_run_is_not_processed(w):
    run_id, chunks = planned(w)
    w.service.cancel(OPEN, run_id)
    w.worker.handle(chunks[0].to_json())
    assert counts(w, run_id) == (0, 0, 0, 0) and w.store.chunk_markers(run_id) == []
    assert [p.name for p in (w.root / "data/output" / run_id).iterdir()] == ["plan.json"]  # written by the plan


# ------------------------------------------------------------------------ dead letters

def test_a_dead_lettered_chunk_counts_its_records_as_errors_once(w):
    run_id, chunks = planned(w)
    w.worker.handle_dead_letter(chunks[0].to_json())
    w.worker.handle_dead_letter(chunks[0].to_json())
    run = w.store.get(run_id)
    assert counts(w, run_id) == (0, 2, 0, 1) and run.error_rules == {"chunk_failed": 2}
    [marker] = w.store.chunk_markers(run_id)
    assert marker["outcome"] == "failed" and marker["pointer"] == chunks[0].pointer()
    errors = output(w, run_id, "errors", part_name(chunks[0].chunk))
    assert [(e["row"], e["rule"]) for e in errors] == [(1, "chunk_failed"), (2, "chunk_failed")]


def test_a_chunk_counted_before_it_was_dead_lettered_keeps_its_counts(w):
    run_id, chunks = planned(w)
    w.worker.handle(chunks[0].to_json())
    w.worker.handle_dead_letter(chunks[0].to_json())
    assert counts(w, run_id) == (2, 0, 1, 0)
    assert not (w.root / "data/output" / run_id / "errors" / part_name(chunks[0].chunk)).exists()


def test_a_chunk_dead_lettered_last_ends_the_run_with_the_failed_chunks_named(w):
    run_id, chunks = planned(w, max_error_rate=0.5)
    for message in chunks[:-1]:
        w.worker.handle(message.to_json())
    w.worker.handle_dead_letter(chunks[-1].to_json())
    run = w.store.get(run_id)
    assert run.status == RunStatus.COMPLETED
    assert run.error_message == ("2 of 5 records were rejected (by rule: chunk_failed 1, pattern 1); see the error "
                                 "report; 1 of 3 chunks failed")


def test_a_dead_lettered_plan_fails_the_run_and_releases_its_credentials(w):
    run_id = trigger(w, output_mode="api", authentication=TOKEN)
    w.worker.handle_dead_letter(PlanMessage(run_id).to_json())
    run = w.store.get(run_id)
    assert run.status == RunStatus.FAILED and run.error_message == "planning the run failed on every attempt"
    assert w.vault.secrets == {} and run.credentials_ref is None


# ------------------------------------------------------------------------------ reaper

def later(iso: str, seconds: float) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(seconds=seconds)


def test_the_reaper_fails_a_stalled_run_with_a_message_and_releases_its_credentials(w):
    run_id, chunks = planned(w, output_mode="api", validate_only=True, authentication=TOKEN)
    w.worker.handle(chunks[0].to_json())
    acted = w.reaper.reap(now=later(w.store.get(run_id).updated_at, 1801))
    run = w.store.get(run_id)
    assert acted == {"failed": [run_id], "replanned": [], "announced": []}
    assert run.status == RunStatus.FAILED and not run.active
    assert run.error_message == ("the run stopped moving: no progress for 30 minutes while running "
                                 "(step data_transformation); 1 of 3 chunks were counted")  # a dry run delivers nowhere
    assert w.vault.secrets == {} and run.credentials_ref is None


def test_the_reaper_leaves_a_run_that_moved_recently_alone(w):
    run_id, _ = planned(w)
    before = w.store.get(run_id)
    assert w.reaper.reap(now=later(before.updated_at, 1799)) == {"failed": [], "replanned": [], "announced": []}
    assert w.store.get(run_id) == before


def test_the_reaper_sends_an_unplanned_runs_plan_again_at_most_max_replans_times(w):
    run_id = trigger(w)
    for _ in range(MAX_REPLANS + 2):
        w.reaper.reap(now=datetime.now(timezone.utc) + timedelta(seconds=400))  # idle past replan_after
    assert w.queue.sent == [PlanMessage(run_id)] * MAX_REPLANS
    run = w.store.get(run_id)
    assert run.replan_count == MAX_REPLANS and run.status == RunStatus.PENDING


def test_the_reaper_does_not_replan_a_run_before_replan_after(w):
    run_id = trigger(w)
    assert w.reaper.reap(now=later(w.store.get(run_id).created_at, 299))["replanned"] == []
    assert w.queue.sent == []


def test_the_reaper_does_not_replan_a_planned_run(w):
    run_id, _ = planned(w)
    assert w.reaper.reap(now=later(w.store.get(run_id).updated_at, 400))["replanned"] == []
    assert w.queue.sent == []


def test_a_replanned_run_is_planned_once(w):
    run_id = trigger(w)
    w.reaper.reap(now=datetime.now(timezone.utc) + timedelta(seconds=400))
    for message in [PlanMessage(run_id)] + w.queue.take():  # the lost plan turns up after all
        w.worker.handle(message.to_json())
    assert len(w.queue.chunks) == 3 and w.store.get(run_id).chunks_total == 3
