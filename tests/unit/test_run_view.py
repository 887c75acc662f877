"""The run page's views (chalicelib.run_view) through the service, over the fakes of its ports.

GIVEN runs processed by the real worker chunk by chunk, the chunks answer says each chunk's state as
the markers and the run's live map give it, and the errors answer filtered by rule pages exactly
through that rule's rows, whatever the page size.
"""
from __future__ import annotations

import pytest

from chalicelib.access import OPEN_CALLER as OPEN
from chalicelib.access import Caller, Role
from chalicelib.errors import InvalidRequest, RunNotFound
from chalicelib.run_view import THROUGHPUT_POINTS, throughput
from tests.unit.fakes import EMPLOYEE_HEADER, employees_csv, wire

INPUT = "data/input/employees.csv"


@pytest.fixture
def w(tmp_path):
    return wire(tmp_path, CHUNK_RECORDS="2")


def two_rules_csv(records: int, bad_id: tuple[int, ...], bad_gender: tuple[int, ...]) -> bytes:
    """Employees whose rows in `bad_id` break EMP_ID's pattern and those in `bad_gender` GENDER's values."""
    lines = employees_csv(records, bad=bad_id).decode().splitlines()
    assert lines[0] == EMPLOYEE_HEADER
    for row in bad_gender:
        lines[row] = lines[row].replace(",F,M,", ",Q,M,")
    return ("\n".join(lines) + "\n").encode()


def trigger(w, path: str = INPUT, **changes) -> str:
    body = {"file_path": path, "record_type": "employee", "output_mode": "file", "max_error_rate": 1.0, **changes}
    return w.service.trigger(OPEN, body)["run_id"]


def plan(w, run_id: str) -> list:
    w.worker.handle(w.queue.take()[0].to_json())
    return w.queue.take()


def test_the_chunks_of_a_run_go_from_pending_to_done_or_failed_and_the_line_adds_up(w):
    # GIVEN a run of 6 records in 3 chunks, planned
    w.write(INPUT, employees_csv(6, bad=(3,)))
    run_id = trigger(w)
    assert w.service.chunks(OPEN, run_id, 0, 2000)["chunks"] == []  # not planned: no chunks yet
    chunks = plan(w, run_id)
    before = w.service.chunks(OPEN, run_id, 0, 2000)
    assert before["chunks_total"] == 3 and [c["state"] for c in before["chunks"]] == ["pending"] * 3
    assert before["counts"] == {"done": 0, "failed": 0, "in_progress": 0, "pending": 3}
    assert before["throughput"] == [] and before["next_offset"] is None
    # WHEN chunk 1 is processed, chunk 2 fails for good (its DLQ), and chunk 3 is being delivered
    w.worker.handle(chunks[0].to_json())
    w.worker.handle_dead_letter(chunks[1].to_json())
    run = w.store.runs[run_id]
    run.chunk_live = {"3": 1}  # what a delivery call of chunk 3 would have left (progress per call)
    answer = w.service.chunks(OPEN, run_id, 0, 2000)
    # THEN each chunk says its state and counts
    assert [(c["chunk"], c["state"]) for c in answer["chunks"]] == [(1, "done"), (2, "failed"), (3, "in_progress")]
    assert answer["counts"] == {"done": 1, "failed": 1, "in_progress": 1, "pending": 0}
    assert (answer["chunks"][0]["success_count"], answer["chunks"][0]["error_count"]) == (2, 0)
    assert (answer["chunks"][1]["success_count"], answer["chunks"][1]["error_count"]) == (0, 2)
    assert answer["chunks"][2]["live_records"] == 1 and answer["chunks"][2]["counted_at"] is None
    assert all(c["counted_at"] for c in answer["chunks"][:2])
    # AND the throughput line ends at the records counted so far
    assert [p["records"] for p in answer["throughput"]] == [2, 4]
    # AND WHEN chunk 3 is counted, its marker wins over a live entry left behind
    w.worker.handle(chunks[2].to_json())
    w.store.runs[run_id].chunk_live = {"3": 2}
    done = w.service.chunks(OPEN, run_id, 0, 2000)
    assert [c["state"] for c in done["chunks"]] == ["done", "failed", "done"]
    assert done["throughput"][-1]["records"] == 6 == w.store.get(run_id).processed_records


def test_a_page_of_chunks_counts_every_chunk_and_points_at_the_next(w):
    w.write(INPUT, employees_csv(10))
    run_id = trigger(w)
    for message in plan(w, run_id):
        w.worker.handle(message.to_json())
    first = w.service.chunks(OPEN, run_id, 0, 2)
    assert [c["chunk"] for c in first["chunks"]] == [1, 2] and first["next_offset"] == 2
    last = w.service.chunks(OPEN, run_id, 4, 2)
    assert [c["chunk"] for c in last["chunks"]] == [5] and last["next_offset"] is None
    assert first["counts"] == last["counts"] == {"done": 5, "failed": 0, "in_progress": 0, "pending": 0}
    assert w.service.chunks(OPEN, run_id, 50, 2)["chunks"] == []


def test_the_throughput_line_of_a_huge_run_is_thinned_and_keeps_its_total():
    markers = [{"chunk": n, "success_count": 3, "error_count": 1, "counted_at": f"2025-01-01T00:{n // 60:02d}:"
                f"{n % 60:02d}.000Z"} for n in range(1000)]
    line = throughput(markers)
    assert len(line) == THROUGHPUT_POINTS and line[-1]["records"] == 4000
    assert [p["records"] for p in line] == sorted(p["records"] for p in line)


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_a_page_filtered_by_rule_holds_that_rules_rows_only_and_pages_exactly(w, limit):
    # GIVEN a run whose rows break two rules, in several parts of the report
    w.write(INPUT, two_rules_csv(10, bad_id=(1, 4, 7), bad_gender=(2, 4, 9)))
    run_id = trigger(w)
    for message in plan(w, run_id):
        w.worker.handle(message.to_json())
    whole = w.service.errors(OPEN, run_id, 0, 1000)
    rules = {row["rule"] for row in whole["errors"]}
    assert len(rules) == 2 and whole["rule"] is None and whole["matching_rows"] == whole["error_rows"]
    for rule in rules:
        # WHEN its rows are read page by page with the filter
        rows, offset, pages = [], 0, 0
        while offset is not None:
            page = w.service.errors(OPEN, run_id, offset, limit, rule=rule)
            assert page["rule"] == rule and len(page["errors"]) <= limit
            assert page["matching_rows"] == whole["by_rule"][rule]
            rows += page["errors"]
            offset, pages = page["next_offset"], pages + 1
        # THEN they are exactly that rule's rows of the whole report, in order, each once
        assert rows == [row for row in whole["errors"] if row["rule"] == rule]
        assert pages == -(-len(rows) // limit)
    # AND a rule the run never broke gives an empty page
    assert w.service.errors(OPEN, run_id, 0, 10, rule="no_such_rule")["errors"] == []


@pytest.mark.parametrize("rule", ["", "a b", "x" * 65, "../etc", "1abc", "ru\u00e9le"])
def test_a_rule_that_is_not_a_rules_name_is_refused(w, rule):
    w.write(INPUT, employees_csv(2))
    run_id = trigger(w)
    with pytest.raises(InvalidRequest, match="rule"):
        w.service.errors(OPEN, run_id, 0, 10, rule=rule)


def test_another_tenants_run_has_no_chunks_to_show(w):
    w.write(INPUT, employees_csv(2))
    run_id = trigger(w)
    stranger = Caller(tenant="other", principal="key:0123456789abcdef", role=Role.VIEWER)
    with pytest.raises(RunNotFound):
        w.service.chunks(stranger, run_id, 0, 10)
    with pytest.raises(RunNotFound):
        w.service.errors(stranger, run_id, 0, 10, rule="required")
