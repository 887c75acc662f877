"""The API's use cases on their own: MigrationService over fakes of its ports (tests/unit/fakes.py).

trigger, cancel, status, running, recent and retry, each GIVEN a state of the
run store, vault, queue and data root, WHEN the use case runs, THEN what it
answers and what it left in the ports.
"""
from __future__ import annotations

import inspect

import pytest

from chalicelib.listing import ListQuery
from chalicelib.access import OPEN_CALLER as OPEN
from chalicelib.credentials import CredentialVault
from chalicelib.errors import InvalidRequest, RunConflict, RunNotFound, ServiceError
from chalicelib.messages import ChunkMessage, PlanMessage
from chalicelib.models import InputFormat, OutputMode, RunStatus
from chalicelib.runs import RunStore
from chalicelib.storage import part_name
from chalicelib.work_queue import WorkQueue
from tests.unit.fakes import FakeRunStore, FakeVault, FakeWorkQueue, employees_csv, wire

INPUT = "data/input/employees.csv"
TOKEN = {"type": "bearer_token", "token": "s3cr3t-t0k3n"}
UNKNOWN_ID = "0b5e8a5c-2c61-4d0e-9a7e-1f2d3c4b5a69"


@pytest.fixture
def w(tmp_path):
    wiring = wire(tmp_path, CHUNK_RECORDS="2")
    wiring.write(INPUT, employees_csv(6))
    return wiring


def body(**changes) -> dict:
    return {"file_path": INPUT, "record_type": "employee", "output_mode": "file", **changes}


def finished_with_a_failed_chunk(w, **request) -> tuple[str, ChunkMessage]:
    """A run of 6 records in 3 chunks, run by the worker, whose middle chunk failed for good (it reached
    the dead-letter queue); a run that delivers to the target has all three fail."""
    run_id = w.service.trigger(OPEN, body(**request))["run_id"]
    worker = w.worker
    worker.handle(w.queue.take()[0].to_json())
    chunks = w.queue.take()
    delivers = w.store.get(run_id).delivers_to_target  # no target in unit tests: its chunks all fail
    for message in chunks:
        if message == chunks[1] or delivers:
            worker.handle_dead_letter(message.to_json())
        else:
            worker.handle(message.to_json())
    assert not w.store.get(run_id).active
    return run_id, chunks[1]


# ----------------------------------------------------------------------------- trigger

def test_trigger_creates_a_pending_run_with_the_requests_values_and_the_defaults(w):
    answer = w.service.trigger(OPEN, body(metadata={"batch": "2026-11"}))
    run = w.store.get(answer["run_id"])
    assert answer["status"] == run.status.value == "pending"
    assert answer["created_at"] == run.created_at
    assert (run.file_path, run.record_type, run.output_mode, run.metadata) == (
        INPUT, "employee", OutputMode.FILE, {"batch": "2026-11"})
    assert (run.output_dir, run.batch_size, run.max_error_rate, run.input_format, run.validate_only) == (
        "data/output", 100, 0.1, InputFormat(), False)
    assert not run.planned and run.total_records == 0 and not run.own_credentials


def test_trigger_queues_exactly_one_plan_message_for_the_run(w):
    run_id = w.service.trigger(OPEN, body())["run_id"]
    assert w.queue.sent == [PlanMessage(run_id)]


def test_trigger_puts_the_credentials_in_the_vault_and_only_their_name_in_the_run(w):
    run_id = w.service.trigger(OPEN, body(output_mode="api", authentication=TOKEN))["run_id"]
    run = w.store.get(run_id)
    assert run.own_credentials
    assert w.vault.secrets == {run.credentials_ref: TOKEN}
    assert TOKEN["token"] not in repr(run)
    assert TOKEN["token"] not in repr(w.service.status(OPEN, run_id, include_details=True))


def test_a_repeat_with_the_same_idempotency_key_answers_the_same_run_and_queues_nothing(w):
    first = w.service.trigger(OPEN, body(), idempotency_key="nightly-2026-11-30")
    w.queue.take()
    again = w.service.trigger(OPEN, body(), idempotency_key="nightly-2026-11-30")
    assert again["run_id"] == first["run_id"] and again["created_at"] == first["created_at"]
    assert len(w.store.runs) == 1
    assert w.queue.sent == []


def test_a_repeat_with_credentials_stores_no_second_secret(w):
    request = body(output_mode="api", authentication=TOKEN)
    first = w.service.trigger(OPEN, request, idempotency_key="k-1")
    again = w.service.trigger(OPEN, request, idempotency_key="k-1")
    assert again["run_id"] == first["run_id"]
    assert len(w.vault.run_secrets) == 1


def test_a_repeat_answers_the_same_run_even_once_its_file_has_been_moved(w):
    first = w.service.trigger(OPEN, body(), idempotency_key="k-1")
    (w.root / INPUT).unlink()
    assert w.service.trigger(OPEN, body(), idempotency_key="k-1")["run_id"] == first["run_id"]


def test_the_same_idempotency_key_with_another_body_is_a_conflict(w):
    w.service.trigger(OPEN, body(), idempotency_key="k-1")
    w.queue.take()
    with pytest.raises(RunConflict):
        w.service.trigger(OPEN, body(batch_size=50), idempotency_key="k-1")
    assert len(w.store.runs) == 1 and w.queue.sent == []


def test_without_an_idempotency_key_each_trigger_is_a_new_run(w):
    first, second = w.service.trigger(OPEN, body()), w.service.trigger(OPEN, body())
    assert first["run_id"] != second["run_id"]
    assert [m.run_id for m in w.queue.plans] == [first["run_id"], second["run_id"]]


def test_an_idempotency_key_over_255_characters_is_refused(w):
    with pytest.raises(InvalidRequest):
        w.service.trigger(OPEN, body(), idempotency_key="k" * 256)
    assert w.store.runs == {} and w.queue.sent == []


@pytest.mark.parametrize("file_path", ["data/input/missing.csv", "../outside.csv", "/etc/passwd",
                                       "s3://someone-elses-bucket/x.csv"])
def test_a_file_that_is_missing_or_outside_the_data_root_is_refused_and_leaves_nothing(w, file_path):
    with pytest.raises(ServiceError) as refused:
        w.service.trigger(OPEN, body(file_path=file_path, output_mode="api", authentication=TOKEN))
    assert 400 <= refused.value.status_code < 500
    assert w.store.runs == {} and w.queue.sent == [] and w.vault.secrets == {}


def test_an_unknown_record_type_is_refused_and_leaves_nothing(w):
    with pytest.raises(ServiceError) as refused:
        w.service.trigger(OPEN, body(record_type="pension"))
    assert 400 <= refused.value.status_code < 500
    assert w.store.runs == {} and w.queue.sent == []


def test_a_run_cancelled_while_its_credentials_are_stored_forgets_them(w):
    # GIVEN a cancel that lands while trigger is writing the run's secret
    service = w.service

    class VaultSlowerThanACancel(FakeVault):
        def store_for_run(self, run_id, credentials):
            service.cancel(OPEN, run_id)
            return super().store_for_run(run_id, credentials)

    service.vault = w.vault = VaultSlowerThanACancel()
    # WHEN the trigger goes on
    run_id = service.trigger(OPEN, body(output_mode="api", authentication=TOKEN))["run_id"]
    # THEN the secret is deleted and the cancelled run points at none
    run = w.store.get(run_id)
    assert run.status == RunStatus.CANCELLED
    assert w.vault.secrets == {} and run.credentials_ref is None


# ------------------------------------------------------------------------------ cancel

def test_cancel_ends_a_pending_run_and_releases_its_credentials(w):
    run_id = w.service.trigger(OPEN, body(output_mode="api", authentication=TOKEN))["run_id"]
    answer = w.service.cancel(OPEN, run_id)
    run = w.store.get(run_id)
    assert answer == {"message": f"Migration {run_id} cancelled successfully", "run_id": run_id, "cancelled": True}
    assert run.status == RunStatus.CANCELLED and run.cancelled_at and not run.active
    assert w.vault.secrets == {} and run.credentials_ref is None


def test_cancel_ends_a_running_run(w):
    run_id = w.service.trigger(OPEN, body(output_mode="api", authentication=TOKEN))["run_id"]
    w.store.start_planning(run_id)
    w.service.cancel(OPEN, run_id)
    assert w.store.get(run_id).status == RunStatus.CANCELLED
    assert w.vault.secrets == {}


def test_cancelling_twice_answers_the_same(w):
    run_id = w.service.trigger(OPEN, body())["run_id"]
    first = w.service.cancel(OPEN, run_id)
    cancelled_at = w.store.get(run_id).cancelled_at
    assert w.service.cancel(OPEN, run_id) == first
    assert w.store.get(run_id).cancelled_at == cancelled_at


def test_cancelling_a_finished_run_is_a_conflict_and_leaves_it_finished(w):
    run_id, _ = finished_with_a_failed_chunk(w)
    with pytest.raises(RunConflict):
        w.service.cancel(OPEN, run_id)
    assert w.store.get(run_id).status == RunStatus.FAILED


def test_a_cancel_that_another_cancel_overtakes_answers_the_same(w):
    # GIVEN another request cancels the run between this cancel's read and its write
    class StoreWhereAnotherCancelWins(FakeRunStore):
        def cancel(self, run_id, run=None, by=""):
            super().cancel(run_id, run, by)
            return False

    store = StoreWhereAnotherCancelWins()
    w.store = store
    service = w.service
    run_id = service.trigger(OPEN, body())["run_id"]
    assert service.cancel(OPEN, run_id)["cancelled"] is True
    assert store.get(run_id).status == RunStatus.CANCELLED


def test_credentials_a_trigger_points_at_after_the_cancel_read_them_are_released(w):
    # GIVEN a trigger that stores its credentials and points the run at them between this cancel's
    # read of the run and its write (the run it read has no credentials yet)
    class StoreWhereTheTriggerLandsFirst(FakeRunStore):
        def cancel(self, run_id, run=None, by=""):
            reference = w.vault.store_for_run(run_id, TOKEN)
            assert self.set_credentials(run_id, reference)
            return super().cancel(run_id, run, by)

    store = StoreWhereTheTriggerLandsFirst()
    w.store = store
    run_id = w.service.trigger(OPEN, body())["run_id"]
    # WHEN the run is cancelled
    w.service.cancel(OPEN, run_id)
    # THEN its credentials are gone with it, and nothing points at them
    assert w.vault.secrets == {} and store.get(run_id).credentials_ref is None


@pytest.mark.parametrize("run_id", [UNKNOWN_ID, "not-a-run-id", UNKNOWN_ID.upper(), ""])
def test_cancel_of_an_unknown_or_malformed_id_is_not_found(w, run_id):
    with pytest.raises(RunNotFound):
        w.service.cancel(OPEN, run_id)


# ------------------------------------------------------------------ status, running, recent

def test_status_answers_the_runs_status_view(w):
    run_id = w.service.trigger(OPEN, body(metadata={"ticket": "MIG-7"}))["run_id"]
    w.store.start_planning(run_id)
    run = w.store.get(run_id)
    assert w.service.status(OPEN, run_id) == run.status_answer()
    assert w.service.status(OPEN, run_id, include_details=True) == run.status_answer(include_details=True)
    assert w.service.status(OPEN, run_id)["status"] == "running"


@pytest.mark.parametrize("run_id", [UNKNOWN_ID, "RUN#1"])
def test_status_of_an_unknown_or_malformed_id_is_not_found(w, run_id):
    with pytest.raises(RunNotFound):
        w.service.status(OPEN, run_id)


def test_running_lists_the_pending_and_running_runs_only(w):
    pending = w.service.trigger(OPEN, body())["run_id"]
    running = w.service.trigger(OPEN, body())["run_id"]
    w.store.start_planning(running)
    cancelled = w.service.trigger(OPEN, body())["run_id"]
    w.service.cancel(OPEN, cancelled)
    answer = w.service.running(OPEN)
    assert answer["count"] == 2
    assert {k: v["status"] for k, v in answer["running_migrations"].items()} == {pending: "pending",
                                                                                running: "running"}
    assert answer["running_migrations"][pending] == {"status": "pending", "created_at": w.store.get(pending).created_at,
                                                     "file_path": INPUT, "record_type": "employee"}


def test_recent_lists_the_runs_summaries_newest_first_up_to_the_limit(w):
    run_ids = [w.service.trigger(OPEN, body())["run_id"] for _ in range(3)]
    for n, run_id in enumerate(run_ids):  # created a second apart, the last newest
        w.store.runs[run_id].created_at = f"2026-12-01T00:00:0{n}.000Z"
    answer = w.service.recent(OPEN, ListQuery(limit=2))
    assert answer["count"] == 2
    assert answer["migrations"] == [w.store.get(run_ids[2]).summary(), w.store.get(run_ids[1]).summary()]


# ------------------------------------------------------------------------------- retry

def test_retry_queues_only_the_failed_chunks_with_their_original_pointers(w):
    run_id, failed = finished_with_a_failed_chunk(w)
    answer = w.service.retry(OPEN, run_id, None)
    assert w.queue.sent == [failed]
    assert answer == {"run_id": run_id, "status": "running", "retried_chunks": 1, "retried_records": 2,
                      "message": f"Migration {run_id}: 1 failed chunks queued again"}


def test_retry_takes_the_failed_chunks_counts_back_off_exactly(w):
    run_id, failed = finished_with_a_failed_chunk(w)
    others = [m["chunk"] for m in w.store.chunk_markers(run_id) if m["chunk"] != failed.chunk]
    before = w.store.get(run_id)
    assert (before.success_count, before.error_count, before.chunks_done, before.chunks_failed) == (4, 2, 2, 1)
    w.service.retry(OPEN, run_id, {})
    after = w.store.get(run_id)
    assert after.status == RunStatus.RUNNING and after.active and after.retry_count == 1
    assert (after.success_count, after.error_count, after.chunks_done, after.chunks_failed) == (4, 0, 2, 0)
    assert after.error_rules.get("chunk_failed", 0) == 0
    assert after.completed_at is None and after.error_message is None
    assert [m["chunk"] for m in w.store.chunk_markers(run_id)] == others and len(others) == 2


def test_a_retried_chunk_that_goes_through_completes_the_run_with_every_record(w):
    run_id, _ = finished_with_a_failed_chunk(w)
    w.service.retry(OPEN, run_id, None)
    for message in w.queue.take():
        w.worker.handle(message.to_json())
    run = w.store.get(run_id)
    assert run.status == RunStatus.COMPLETED and run.error_message is None
    assert (run.success_count, run.error_count, run.chunks_done, run.chunks_failed) == (6, 0, 3, 0)


def test_a_retried_chunk_that_goes_through_leaves_no_rejection_behind(w):
    # GIVEN a run with a rejected record whose middle chunk failed for good, retried
    bad = w.write("data/input/bad.csv", employees_csv(6, bad=(1,)))
    run_id, failed = finished_with_a_failed_chunk(w, max_error_rate=0.5, file_path=bad)
    report = w.root / "data" / "output" / run_id / "errors" / part_name(failed.chunk)
    assert report.read_bytes().count(b"chunk_failed") == 2
    w.service.retry(OPEN, run_id, None)
    for message in w.queue.take():
        w.worker.handle(message.to_json())
    # THEN the chunk's part of the error report no longer holds the failed attempt's rows, and the
    # counts by rule no longer name chunk_failed
    run = w.store.get(run_id)
    assert run.status == RunStatus.COMPLETED and report.read_bytes() == b""
    assert "chunk_failed" not in run.error_message and "chunk_failed" not in run.details()["errors_by_rule"]
    assert w.service.errors(OPEN, run_id, 0, 100)["by_rule"] == run.details()["errors_by_rule"] != {}


def test_a_run_without_failed_chunks_cannot_be_retried(w):
    run_id = w.service.trigger(OPEN, body())["run_id"]
    w.worker.handle(w.queue.take()[0].to_json())
    for message in w.queue.take():
        w.worker.handle(message.to_json())
    assert w.store.get(run_id).status == RunStatus.COMPLETED
    with pytest.raises(RunConflict):
        w.service.retry(OPEN, run_id, None)
    assert w.queue.sent == [] and w.store.get(run_id).status == RunStatus.COMPLETED


def test_an_active_run_cannot_be_retried(w):
    run_id = w.service.trigger(OPEN, body())["run_id"]
    w.queue.take()
    with pytest.raises(RunConflict):
        w.service.retry(OPEN, run_id, None)
    assert w.queue.sent == [] and w.store.get(run_id).status == RunStatus.PENDING


def test_a_running_run_with_a_failed_chunk_cannot_be_retried(w):
    run_id = w.service.trigger(OPEN, body())["run_id"]
    w.worker.handle(w.queue.take()[0].to_json())
    w.worker.handle_dead_letter(w.queue.take()[0].to_json())
    before = w.store.get(run_id)
    with pytest.raises(RunConflict):
        w.service.retry(OPEN, run_id, None)
    assert w.queue.sent == [] and w.store.get(run_id) == before


def test_retry_takes_nothing_but_authentication(w):
    run_id, _ = finished_with_a_failed_chunk(w)
    with pytest.raises(InvalidRequest):
        w.service.retry(OPEN, run_id, {"batch_size": 10})
    assert w.queue.sent == [] and w.store.get(run_id).status == RunStatus.FAILED


def test_a_run_whose_own_credentials_were_deleted_needs_them_again_to_retry(w):
    run_id, _ = finished_with_a_failed_chunk(w, output_mode="api", authentication=TOKEN)
    assert w.vault.secrets == {} and w.store.get(run_id).credentials_ref is None  # deleted when it ended
    with pytest.raises(InvalidRequest):
        w.service.retry(OPEN, run_id, None)
    assert w.queue.sent == [] and w.store.get(run_id).status == RunStatus.FAILED


def test_credentials_sent_again_with_a_retry_go_to_the_vault_for_the_run(w):
    run_id, _ = finished_with_a_failed_chunk(w, output_mode="api", authentication=TOKEN)
    fresh = {"type": "bearer_token", "token": "n3w-t0k3n"}
    answer = w.service.retry(OPEN, run_id, {"authentication": fresh})
    run = w.store.get(run_id)
    assert answer["retried_chunks"] == 3
    assert w.vault.secrets == {run.credentials_ref: fresh}
    assert w.vault.for_run(run.credentials_ref) == fresh


def test_a_dry_run_needs_no_credentials_to_retry(w):
    run_id, _ = finished_with_a_failed_chunk(w, output_mode="api", authentication=TOKEN, validate_only=True)
    assert w.service.retry(OPEN, run_id, None)["retried_chunks"] == 1


# -------------------------------------------------------------------------- the fakes

@pytest.mark.parametrize("fake, real", [(FakeRunStore, RunStore), (FakeWorkQueue, WorkQueue),
                                        (FakeVault, CredentialVault)])
def test_each_fake_offers_the_public_methods_of_the_adapter_it_stands_for(fake, real):
    def methods(cls):
        return {name: [p for p in inspect.signature(member).parameters]
                for name, member in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}
    real_methods = methods(real)
    assert {name: methods(fake).get(name) for name in real_methods} == real_methods
