"""The laptop shows what CloudWatch would: GET /local/metrics of the local stack, summed from the EMF documents
its processes print (the workers in their own processes), and GET /api/v1/health of the running stack."""
from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.e2e

SAMPLE = "data/input/sample_disability_data.csv"


def series(stack) -> dict[tuple, dict]:
    answer = requests.get(f"{stack.api_url}/local/metrics", timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    return {(m["name"], tuple(sorted(m["dimensions"].items()))): m
            for m in answer.json()["metrics"] if m["namespace"] == "RecordsMigration"}


def total(snapshot: dict, name: str, **dimensions) -> float:
    found = snapshot.get((name, tuple(sorted({"Stage": "local", **dimensions}.items()))))
    return found["sum"] if found else 0.0


def test_local_metrics_add_up_a_real_run(local_stack):
    # GIVEN the stack's metrics so far (other tests share the stack)
    before = series(local_stack)
    # WHEN a run delivers a file with invalid records to the sandbox target
    run_id = local_stack.trigger(file_path=SAMPLE, record_type="disability", output_mode="api")["run_id"]
    done = local_stack.wait_until_finished(run_id)
    progress = done["progress"]
    # A handler prints its metrics when it returns, a moment after the count that ended the run: wait for them
    # (bounded: this guards a hang, it does not time anything).
    deadline = time.monotonic() + 120
    while True:
        after = series(local_stack)
        if total(after, "RecordsProcessed", RecordType="disability") - total(
                before, "RecordsProcessed", RecordType="disability") >= progress["processed_records"] \
                or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    def grew(name: str, **dimensions) -> float:
        return total(after, name, **dimensions) - total(before, name, **dimensions)

    # THEN the sums grew by the run's own counts, per stage and per record type, as CloudWatch would show them
    assert done["status"] == "completed"
    assert grew("RunsStarted") >= 1 and grew("RunsStarted", Source="api") >= 1
    assert grew("RecordsProcessed", RecordType="disability") >= progress["processed_records"]
    assert grew("RecordsRejected", RecordType="disability") >= progress["error_count"] > 0
    assert grew("RecordsDelivered") >= progress["success_count"]
    assert grew("RunsFinished", Status="completed") >= 1
    assert grew("DeliveryCalls") >= 1
    latency = after[("DeliveryLatency", (("Stage", "local"),))]
    assert latency["unit"] == "Milliseconds" and latency["minimum"] >= 0 and latency["p95"] <= latency["maximum"]
    chunk = after[("ChunkSeconds", (("RecordType", "disability"), ("Stage", "local")))]
    assert chunk["sample_count"] >= 1 and chunk["unit"] == "Seconds"


def test_health_of_the_running_stack(local_stack):
    answer = requests.get(f"{local_stack.api_url}/api/v1/health", timeout=60)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "checks": {"runs_table": "ok", "work_queue": "ok"}}
