"""Shared helpers for the fault-injection tests: stacks with faults, real process kills, the invariants.

The invariant every fault-injection test ends with is `assert_nothing_lost`:
nothing was lost or double-counted, whatever went wrong on the way.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterable

import boto3
import requests

from datagen.legacy_files import write_legacy_file
from local_stack.child import TERMINAL, StackProcess

# Small chunks, so a few thousand records make several chunks. A chunk ends at
# whichever of the two limits comes first.
SMALL_CHUNKS = {"CHUNK_RECORDS": "500", "CHUNK_BYTES": "60000"}


# ----------------------------------------------------------------- polling
def data_bucket(stack: StackProcess) -> tuple[object, str]:
    """An S3 client of the stack's emulator, as the README's boto3 example makes one, and the data bucket's name."""
    s3 = boto3.client("s3", endpoint_url=stack.emulator_url, region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
    return s3, next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("records-migration-data"))


def wait_for(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.1):
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds.

    `timeout` bounds a hang, generously: it is never a speed requirement.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


# ------------------------------------------------------------ input files
def write_inputs(data_root: str, specs: Iterable[tuple[str, str, int, int]]) -> dict[str, int]:
    """Write legacy files under the data root: (relative path, record type, records, seed) each.

    Returns the number of deliberately invalid records of each file, by path.
    Distinct seeds give distinct records, so the target's distinct count does
    not merge records of different files.
    """
    invalid = {}
    for path, record_type, records, seed in specs:
        full = Path(data_root) / path
        full.parent.mkdir(parents=True, exist_ok=True)
        invalid[path] = write_legacy_file(record_type, str(full), records, seed=seed)
    return invalid


# ------------------------------------------------------------ the target
def set_target_faults(stack: StackProcess, **faults) -> dict:
    response = requests.put(f"{stack.target_url}/faults", json=faults, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def reset_target(stack: StackProcess) -> dict:
    requests.delete(f"{stack.target_url}/records", timeout=60).raise_for_status()
    return stack.target_count()


# ------------------------------------------------------------ the service
def api(stack: StackProcess, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{stack.api_url}/api/v1/migrations{path}", timeout=60, **kwargs)


def error_report(stack: StackProcess, run_id: str) -> tuple[dict, list[dict]]:
    """The whole error report of a run: its first page's summary and every row, page by page."""
    rows: list[dict] = []
    offset: int | None = 0
    first: dict = {}
    while offset is not None:
        response = api(stack, "GET", f"/{run_id}/errors", params={"offset": offset, "limit": 1000})
        assert response.status_code == 200, response.text
        page = response.json()
        first = first or page
        rows.extend(page["errors"])
        offset = page["next_offset"]
    return first, rows


def work_queue_depth(stack: StackProcess) -> int:
    """Messages on the work queue, visible or held by a worker."""
    sqs = boto3.client("sqs", endpoint_url=stack.emulator_url, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    url = sqs.get_queue_url(QueueName="records-migration-work-local")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_all_finished(stack: StackProcess, run_ids: list[str], timeout: float) -> dict[str, dict]:
    """Statuses of runs once every one of them is terminal."""
    deadline = time.monotonic() + timeout
    finished: dict[str, dict] = {}
    while len(finished) < len(run_ids):
        for run_id in run_ids:
            if run_id not in finished:
                status = stack.status(run_id)
                if status["status"] in TERMINAL:
                    finished[run_id] = status
        if len(finished) < len(run_ids):
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(run_ids) - len(finished)} of {len(run_ids)} runs did not finish "
                                     f"in {timeout}s")
            time.sleep(0.25)
    return finished


# ------------------------------------------------------- real process kills
def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])  # after "pid (comm) state"


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(stack: StackProcess) -> list[int]:
    """The stack's worker processes: its multiprocessing 'spawn' children (not the resource tracker)."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return sorted(pid for pid in pids
                  if _parent_pid(pid) == stack.process.pid and "spawn_main" in _command_line(pid))


def thread_count(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    except (OSError, StopIteration):
        return 0


def delivering_workers(stack: StackProcess, calls_in_flight: int) -> list[int]:
    """The worker processes delivering a chunk right now.

    A worker delivering a chunk of at least `calls_in_flight` batches runs a pool
    of `calls_in_flight` threads (the stack's MAX_CALLS_IN_FLIGHT) until the
    chunk's delivery returns; otherwise it has one or two threads. So this reads
    what a worker is doing from the outside, whatever the machine's speed.
    """
    return [pid for pid in worker_pids(stack) if thread_count(pid) > calls_in_flight]


# ------------------------------------------------------------ the invariant
def assert_nothing_lost(stack: StackProcess, run_ids: str | Iterable[str], before: dict,
                        invalid: dict[str, int] | None = None) -> dict[str, dict]:
    """Nothing lost, nothing counted twice, for runs in api mode whose records only they sent since `before`.

    - every run is terminal, and its counters are consistent: processed = success
      + errors; a completed or failed run processed every record and every chunk
      is done or failed; a cancelled one processed no more than it holds;
    - its error report holds one row or more for each record counted as an
      error, and no row twice;
    - the target's distinct records since `before` are the runs' success counts,
      and it took no record twice (records == distinct records);
    - so, for runs that were not cancelled: target distinct + errors = total.
    `invalid`, by file path, gives the exact error count a run must have.
    Returns the runs' statuses (with details), by run id.
    """
    run_ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    after = stack.target_count()
    statuses = {}
    for run_id in run_ids:
        status = stack.status(run_id, details=True)
        progress, chunks = status["progress"], status["details"]["chunks"]
        context = f"run {run_id}: {status}"
        assert status["status"] in TERMINAL, context
        assert progress["processed_records"] == progress["success_count"] + progress["error_count"], context
        assert progress["success_count"] >= 0 and progress["error_count"] >= 0, context
        if status["status"] == "cancelled":
            assert progress["processed_records"] <= progress["total_records"], context
            assert chunks["done"] + chunks["failed"] <= chunks["total"], context
        else:
            assert progress["processed_records"] == progress["total_records"], context
            assert chunks["done"] + chunks["failed"] == chunks["total"], context
            assert progress["progress_percentage"] == 100.0, context
        if invalid is not None and status["status"] == "completed":
            assert progress["error_count"] == invalid[status["file_path"]], context
        summary, rows = error_report(stack, run_id)
        assert summary["records_rejected"] == progress["error_count"], context
        assert len(rows) == summary["error_rows"], context
        assert len({row["row"] for row in rows}) == progress["error_count"], context
        assert len({(row["row"], row["field"], row["rule"]) for row in rows}) == len(rows), "a row reported twice"
        statuses[run_id] = status
    delivered = after["distinct_records"] - before["distinct_records"]
    success = sum(s["progress"]["success_count"] for s in statuses.values())
    assert after["records"] - before["records"] == delivered, f"the target took records twice: {after}"
    assert delivered == success, f"target has {delivered} distinct records, the runs count {success} delivered"
    ended = [s["progress"] for s in statuses.values() if s["status"] != "cancelled"]
    if len(ended) == len(statuses):
        assert delivered + sum(p["error_count"] for p in ended) == sum(p["total_records"] for p in ended)
    return statuses
