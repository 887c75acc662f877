"""The typed run: its table item both ways, its defaults, the outcome it decides."""
from __future__ import annotations

from chalicelib.models import DEFAULT_MAX_ERROR_RATE, InputFormat, OutputMode, RunStatus, Step
from chalicelib.run import Run
from chalicelib.runs import run_from_item, run_to_item


def finished_run(**changes) -> Run:
    values = dict(run_id="7b1f0a52-6f43-4f57-9d2e-0f0d5b2f7a10", file_path="data/input/x.csv",
                  record_type="claim", output_mode=OutputMode.FILE, created_at="2026-12-01T00:00:00.000Z",
                  status=RunStatus.RUNNING, current_step=Step.FILE_OUTPUT, planned_at="2026-12-01T00:00:01.000Z",
                  total_records=100, chunks_total=2, chunks_done=2, success_count=80, error_count=20,
                  error_rules={"required": 15, "date_format": 7})
    values.update(changes)
    return Run(**values)


def test_a_run_goes_to_its_table_item_and_back_unchanged():
    run = finished_run(input_format=InputFormat(type="fixed_width", header=False, encoding="cp037",
                                                record_separator="none", recfm="VB"),
                       metadata={"batch": "2026-11", "n": 3}, credentials_ref="records-migration/test/runs/x")
    item = run_to_item(run)
    assert item["pk"] == f"RUN#{run.run_id}" and item["active_pk"] == "ACTIVE" and item["status"] == "running"
    assert run_from_item(item) == run


def test_a_run_written_ended_waits_in_the_index_until_its_end_is_announced():
    # (an upload that could not start a run is written failed: its end is announced like any other)
    assert run_to_item(finished_run(status=RunStatus.COMPLETED))["active_pk"] == "ANNOUNCING"


def test_an_item_without_max_error_rate_takes_the_request_default():
    # GIVEN an item written before runs kept max_error_rate (the worker once fell back to 1.0 there)
    item = run_to_item(finished_run())
    del item["max_error_rate"]
    run = run_from_item(item)
    # THEN it reads the request's default, 10 %, and 20 % rejected records fail the run
    assert run.max_error_rate == DEFAULT_MAX_ERROR_RATE == 0.1
    status, message = run.outcome()
    assert status == RunStatus.FAILED
    assert message == ("20 of 100 records were rejected (20.0%, more than the tolerated 10.0%) "
                       "(by rule: required 15, date_format 7)")


def test_the_outcome_is_completed_within_the_tolerance_and_names_failed_chunks():
    status, message = finished_run(max_error_rate=0.25, chunks_failed=1, chunks_done=1).outcome()
    assert status == RunStatus.COMPLETED
    assert message == ("20 of 100 records were rejected (by rule: required 15, date_format 7); see the error "
                       "report; 1 of 2 chunks failed")
    assert finished_run(error_count=0, success_count=100, error_rules={}).outcome() == (RunStatus.COMPLETED, None)


def test_progress_and_the_step_reached():
    run = finished_run()
    assert run.progress() == {"total_records": 100, "processed_records": 100, "success_count": 80,
                              "error_count": 20, "progress_percentage": 100.0, "current_step": "file_output",
                              # not started (no started_at): no rate, no ETA
                              "live_records": 100, "live_percentage": 100.0, "records_per_second": None,
                              "eta_seconds": None}
    assert run.all_chunks_counted and run.reached(Step.DATA_MAPPING) and not run.reached(Step.COMPLETED)
    assert run.reached(Step.API_INTEGRATION)  # the two delivery steps are one rank
    assert not finished_run(planned_at=None).all_chunks_counted
