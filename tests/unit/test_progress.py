"""Progress that moves, true steps, estimates from history, and the list's filters and cursor, over the fakes
of tests/unit/fakes.py (chalicelib.progress, chalicelib.listing)."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.access import OPEN_CALLER as OPEN, Caller
from chalicelib.errors import InvalidCursor, InvalidRequest
from chalicelib.listing import ListQuery, decode_cursor, encode_cursor, parse_list_query
from chalicelib.messages import PlanMessage
from chalicelib.models import OutputMode, RunStatus, Step
from chalicelib.progress import LiveNotes, duration_range, estimate, live_view, outcome_name
from chalicelib.run import Run
from tests.unit.fakes import employees_csv, wire

INPUT = "data/input/employees.csv"
STARTED = "2026-12-01T10:00:00.000Z"
RUN_ID = "7b1f0a52-6f43-4f57-9d2e-0f0d5b2f7a10"


def a_run(**changes) -> Run:
    values = dict(run_id=RUN_ID, file_path="data/input/x.csv", record_type="claim", output_mode=OutputMode.API,
                  created_at=STARTED, status=RunStatus.RUNNING, started_at=STARTED, total_records=1000,
                  chunks_total=4, success_count=200, error_count=50, planned_at=STARTED)
    values.update(changes)
    return Run(**values)


def at(seconds: float) -> datetime:
    return datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc) + timedelta(seconds=seconds)


# ---------------------------------------------------------------- the live view

def test_live_records_add_the_notes_of_chunks_being_delivered_to_the_exact_counts():
    # GIVEN 250 records counted and two chunks being delivered, 100 and 50 records into their delivery
    run = a_run(chunk_live={"3": 100, "4": 50})
    # WHEN its progress is read 10 s after it started
    view = live_view(run, now=at(10))
    # THEN the live records move, the exact counters do not, and the rate and ETA follow the live records
    assert view == {"live_records": 400, "live_percentage": 40.0, "records_per_second": 40.0, "eta_seconds": 15.0}
    assert run.progress()["processed_records"] == 250


def test_live_records_never_pass_the_files_records():
    assert live_view(a_run(chunk_live={"1": 900, "2": 900}), now=at(10))["live_records"] == 1000


def test_an_ended_run_shows_its_final_rate_and_no_eta():
    run = a_run(status=RunStatus.COMPLETED, success_count=950, duration=20.0, chunk_live={"1": 5})
    assert live_view(run, now=at(3600)) == {"live_records": 1000, "live_percentage": 100.0,
                                            "records_per_second": 50.0, "eta_seconds": None}


@pytest.mark.parametrize("changes", [dict(status=RunStatus.PENDING, started_at=None, success_count=0,
                                          error_count=0, total_records=0, planned_at=None),
                                     dict(success_count=0, error_count=0),   # running, nothing delivered yet
                                     dict(total_records=0, planned_at=None, success_count=0, error_count=0,
                                          chunk_live={})])
def test_the_rate_and_eta_are_null_while_unknown(changes):
    view = live_view(a_run(**changes), now=at(10))
    assert view["records_per_second"] is None and view["eta_seconds"] is None


@pytest.mark.parametrize("status, errors, outcome", [
    (RunStatus.PENDING, 0, None), (RunStatus.RUNNING, 5, None), (RunStatus.COMPLETED, 0, "completed"),
    (RunStatus.COMPLETED, 5, "completed_with_rejections"), (RunStatus.FAILED, 5, "failed"),
    (RunStatus.CANCELLED, 0, "cancelled")])
def test_the_outcome_tells_a_clean_completion_from_one_with_rejections(status, errors, outcome):
    run = a_run(status=status, error_count=errors)
    assert outcome_name(run) == outcome
    assert run.status_answer()["outcome"] == outcome and run.summary()["outcome"] == outcome


def test_an_item_written_before_live_progress_reads_an_empty_map():
    from chalicelib.runs import run_from_item, run_to_item
    item = run_to_item(a_run())
    del item["chunk_live"]
    assert run_from_item(item).chunk_live == {}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_live_notes_are_written_at_most_once_a_second():
    # GIVEN a delivery answering calls every 0.1 s for 3 s
    written, clock = [], Clock()
    notes = LiveNotes(lambda n: written.append(n) or True, clock=clock)
    for call in range(1, 31):
        clock.now = call * 0.1
        notes(call * 10)
    # THEN about one note a second was written, each larger than the last
    assert written == [10, 110, 210] or len(written) <= 4
    assert written == sorted(written) and notes.written == len(written) <= 4


def test_a_note_that_cannot_be_written_stops_the_notes_and_an_error_never_escapes():
    refused, clock = [], Clock()
    notes = LiveNotes(lambda n: refused.append(n) and False, clock=clock)
    notes(10)
    clock.now = 5
    notes(20)
    assert refused == [10] and notes.stopped
    errors, clock = [], Clock()

    def broken(n):
        raise RuntimeError("throttled")
    failing = LiveNotes(broken, clock=clock, on_error=errors.append)
    failing(10)  # no exception: progress is never worth failing a chunk for
    assert failing.stopped and len(errors) == 1


# ---------------------------------------------------------------- estimates

@pytest.mark.parametrize("low, high, said", [
    (5, 40, "under a minute"), (30, 200, "under 4 minutes"), (300, 600, "5-10 minutes"),
    (310, 590, "5-10 minutes"), (62, 170, "1-3 minutes"), (3600, 7200, "1-2 hours"),
    (2700, 7200, "45 minutes to 2 hours"), (5400, 5400, "1-2 hours"), (7200, 7200, "about 2 hours"),
    (1800, 1800, "about 30 minutes"), (3 * 86400, 5 * 86400, "3-5 days")])
def test_a_range_is_said_as_a_person_says_it(low, high, said):
    assert duration_range(low, high) == said


def test_an_estimate_comes_from_the_throughput_of_recent_runs_of_its_kind():
    # GIVEN three runs of 100 MB that took 100, 200 and 400 s (1, 0.5 and 0.25 MB/s)
    measures = [{"input_bytes": 100_000_000, "total_records": 1, "duration": d} for d in (100, 200, 400)]
    # WHEN a 60 MB file is estimated
    answer = estimate(60_000_000, measures, "claim", "api")
    # THEN its centre is at the median rate, its range spans the spread
    assert answer == {"estimated_duration": "under 5 minutes", "estimated_duration_seconds": 120.0,
                      "estimate_basis": "3 recent claim runs in api mode"}


def test_a_run_that_kept_no_size_is_measured_by_its_records():
    answer = estimate(13_000_000, [{"input_bytes": None, "total_records": 100_000, "duration": 13.0}], "claim", "file")
    assert answer["estimated_duration_seconds"] == 13.0 and answer["estimate_basis"] == "1 recent claim run in file mode"


def test_without_history_a_default_rate_says_so():
    answer = estimate(10_000_000, [], "claim", "api")
    assert answer["estimate_basis"] == "no recent claim runs in api mode: default rate"
    assert answer["estimated_duration_seconds"] == 10.0 and answer["estimated_duration"] == "under a minute"
    assert estimate(0, [], "claim", "api")["estimated_duration_seconds"] == 1.0


def test_the_trigger_estimates_from_the_tenants_completed_runs_of_the_same_kind(tmp_path):
    w = wire(tmp_path, CHUNK_RECORDS="2")
    w.write(INPUT, employees_csv(6))
    body = {"file_path": INPUT, "record_type": "employee", "output_mode": "file"}
    first = w.service.trigger(OPEN, body)
    assert first["estimate_basis"] == "no recent employee runs in file mode: default rate"
    # GIVEN that run completed, having taken 10 s
    run_to_the_end(w)
    w.store.runs[first["run_id"]].duration = 10.0
    # WHEN the same kind is triggered, and another kind
    again = w.service.trigger(OPEN, body)
    other = w.service.trigger(OPEN, {**body, "output_mode": "api", "validate_only": True})
    # THEN the first is estimated from it, the other kind from the default
    assert again["estimate_basis"] == "1 recent employee run in file mode"
    assert again["estimated_duration_seconds"] == 10.0 and again["estimated_duration"] == "under a minute"
    assert other["estimate_basis"] == "no recent employee runs in validate-only mode: default rate"


def run_to_the_end(w) -> None:
    for _ in range(10):
        messages = w.queue.take()
        if not messages:
            return
        for message in messages:
            w.worker.handle(message.to_json())


# ---------------------------------------------------------------- true steps

@pytest.mark.parametrize("request_changes, delivery", [
    (dict(output_mode="file"), "file_output"), (dict(output_mode="api", validate_only=True), None),
    (dict(output_mode="file", validate_only=True), None)])
def test_a_run_shows_only_the_steps_it_takes(tmp_path, request_changes, delivery):
    w = wire(tmp_path, CHUNK_RECORDS="2")
    w.write(INPUT, employees_csv(5))
    run_id = w.service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", **request_changes})["run_id"]
    run_to_the_end(w)
    run = w.store.get(run_id)
    steps = [entry["step"] for entry in run.step_history]
    assert run.status == RunStatus.COMPLETED and run.current_step == Step.COMPLETED
    assert "api_integration" not in steps
    assert (delivery in steps) if delivery else ("file_output" not in steps)
    assert steps == ["initializing", "workflow_initialized", "file_reading", "data_mapping", "data_transformation",
                     *([delivery] if delivery else []), "completed"]


def test_a_cancelled_run_keeps_the_step_it_stopped_in(tmp_path):
    w = wire(tmp_path, CHUNK_RECORDS="2")
    w.write(INPUT, employees_csv(5))
    run_id = w.service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file"})["run_id"]
    w.worker.handle(PlanMessage(run_id).to_json())
    w.queue.take()
    w.service.cancel(OPEN, run_id)
    run = w.store.get(run_id)
    assert run.current_step == Step.DATA_MAPPING and run.step_history[-1]["step"] == "cancelled"
    assert run.status_answer()["progress"]["current_step"] == "data_mapping"


# ---------------------------------------------------------------- the list

def test_a_cursor_goes_back_to_the_position_it_was_made_at():
    query = ListQuery(limit=5, status="failed")
    cursor = encode_cursor(("2026-12-01T10:00:00.000Z", RUN_ID), "acme", query)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor, "acme", query) == ("2026-12-01T10:00:00.000Z", RUN_ID)
    assert parse_list_query({"status": "failed", "limit": "5", "cursor": cursor}, "acme").after == \
        ("2026-12-01T10:00:00.000Z", RUN_ID)


def _forged(**document) -> str:
    raw = json.dumps({"v": 1, "t": "acme", "at": "2026-12-01T10:00:00.000Z", "id": RUN_ID,
                      "f": ListQuery().filters, **document}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "not a cursor!", "x" * 401, "AAAA", base64.urlsafe_b64encode(b"[1,2]").decode().rstrip("="),
    _forged(v=2), _forged(at="yesterday"), _forged(id="RUN#x"), _forged(t=["acme"]), _forged(extra=1)[:-4],
    base64.urlsafe_b64encode(json.dumps({"v": 1}).encode()).decode(),
    base64.urlsafe_b64encode(b'{"pk": {"S": "RUN#x"}, "sk": {"S": "RUN"}}').decode().rstrip("=")])
def test_a_cursor_the_api_did_not_give_is_a_400(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, "acme", ListQuery())


def test_another_tenants_cursor_or_one_for_other_filters_is_a_400():
    with pytest.raises(InvalidCursor, match="another tenant"):
        decode_cursor(_forged(t="other"), "acme", ListQuery())
    with pytest.raises(InvalidCursor, match="other filters"):
        decode_cursor(_forged(), "acme", ListQuery(status="failed"))
    since = parse_list_query({"since": "2026-12-02"}, "acme")
    with pytest.raises(InvalidCursor, match="since/until"):
        decode_cursor(_forged(f=since.filters), "acme", since)


@pytest.mark.parametrize("params, detail", [
    ({"status": "done"}, "status: must be one of"), ({"record_type": "Claim!"}, "record_type:"),
    ({"since": "yesterday"}, "since: must be a date"), ({"until": "2026-13-01"}, "until: must be a date"),
    ({"since": "2026-12-02", "until": "2026-12-01"}, "since: must not be later"), ({"limit": "201"}, "limit:"),
    ({"since": "2" * 41}, "since:")])
def test_a_bad_filter_is_a_422_naming_it(params, detail):
    with pytest.raises(InvalidRequest, match=detail):
        parse_list_query(params, "acme")


def test_dates_bound_whole_days_and_times_are_read_as_utc():
    query = parse_list_query({"since": "2026-12-01", "until": "2026-12-01"}, "acme")
    assert (query.since, query.until) == ("2026-12-01T00:00:00.000Z", "2026-12-01T23:59:59.999Z")
    query = parse_list_query({"since": "2026-12-01T10:30:00+02:00", "until": "2026-12-01T10:30:00.5"}, "acme")
    assert (query.since, query.until) == ("2026-12-01T08:30:00.000Z", "2026-12-01T10:30:00.500Z")


def test_the_list_filters_pages_and_counts_by_status(tmp_path):
    w = wire(tmp_path)
    statuses = [RunStatus.COMPLETED] * 5 + [RunStatus.FAILED] * 3 + [RunStatus.RUNNING] * 2
    for i, status in enumerate(statuses):
        w.store.create(Run(run_id=f"00000000-0000-4000-8000-{i:012d}", file_path=INPUT,
                           record_type="claim" if i % 2 else "employee", output_mode=OutputMode.FILE,
                           created_at=f"2026-12-0{1 + i % 3}T10:00:00.{i:03d}Z", status=status,
                           error_count=1 if i in (0, 1) else 0))
    w.store.create(Run(run_id="00000000-0000-4000-8000-999999999999", file_path=INPUT, record_type="claim",
                       output_mode=OutputMode.FILE, created_at="2026-12-01T11:00:00.000Z", tenant="other"))
    everything = w.service.recent(OPEN, ListQuery(limit=200))
    assert everything["count"] == 10 and everything["next_cursor"] is None and everything["counts_complete"]
    assert everything["counts_by_status"] == {"pending": 0, "running": 2, "completed": 3,
                                              "completed_with_rejections": 2, "failed": 3, "cancelled": 0}
    # pages of 3 of the failed and completed claims, in order, and nothing twice
    query = parse_list_query({"record_type": "claim", "limit": "3"}, OPEN.tenant)
    seen, pages = [], 0
    while True:
        page = w.service.recent(OPEN, query)
        seen += [row["run_id"] for row in page["migrations"]]
        pages += 1
        assert page["counts_by_status"]["completed_with_rejections"] == 1  # run 1 is a claim, run 0 is not
        if not page["next_cursor"]:
            break
        query = parse_list_query({"record_type": "claim", "limit": "3", "cursor": page["next_cursor"]}, OPEN.tenant)
    claims = [r.run_id for r in sorted(w.store.runs.values(), key=lambda r: r.created_at, reverse=True)
              if r.record_type == "claim" and r.tenant == OPEN.tenant]
    assert seen == claims and pages == 2
    rejected = w.service.recent(OPEN, parse_list_query({"status": "completed_with_rejections"}, OPEN.tenant))
    assert {row["run_id"][-1] for row in rejected["migrations"]} == {"0", "1"}
    day = w.service.recent(OPEN, parse_list_query({"since": "2026-12-02", "until": "2026-12-02"}, OPEN.tenant))
    assert day["count"] == 3 and sum(day["counts_by_status"].values()) == 3
    # another tenant's cursor is refused
    other = Caller(tenant="other", principal="key:x", role=OPEN.role)
    with pytest.raises(InvalidCursor):
        parse_list_query({"cursor": encode_cursor(("2026-12-01T10:00:00.000Z", RUN_ID), "default", ListQuery())},
                         other.tenant)
