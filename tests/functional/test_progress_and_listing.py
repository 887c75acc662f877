"""Progress that moves during delivery, true steps, and the list's filters, cursor and counts: the app
in-process over moto, with the sandbox target on loopback (tests/functional/conftest.py)."""
from __future__ import annotations

import base64
import json
import os
import threading
import time

import requests

from chalicelib import bootstrap
from chalicelib.listing import ListQuery, encode_cursor
from chalicelib.models import OutputMode, RunStatus
from chalicelib.run import Run

API = "/api/v1/migrations"
HEADER = ("CLAIM_NO,POLICY_NO,SSN,LAST_NAME,FIRST_NAME,DOB,GENDER,DISABILITY_TYPE,DIAGNOSIS_CODE,"
          "DATE_OF_DISABILITY,BENEFIT_START_DATE,BENEFIT_END_DATE,WEEKLY_BENEFIT_AMT,CLAIM_STATUS,"
          "EMPLOYER_NAME,STATE")


def disability_file(harness, records: int, name: str = "progress.csv") -> str:
    path = f"data/input/{name}"
    lines = [HEADER] + [f"DC{n:08d},POL{n:06d},123-45-6789,Smith,Ann,19800101,F,STD,M54.5,20230105,20230110,"
                        f"20230301,512.25,OPEN,Acme Corp,NY" for n in range(1, records + 1)]
    with open(os.path.join(harness.data_root, path), "w", newline="") as f:
        f.write("\n".join(lines) + "\n")
    return path


def set_faults(harness, **faults) -> None:
    url = f"http://127.0.0.1:{harness.target.server_address[1]}"
    assert requests.put(f"{url}/faults", json=faults, timeout=5).status_code == 200


# ---------------------------------------------------------------- progress that moves

def test_live_progress_moves_while_a_chunk_is_delivered_and_the_counters_stay_exact(harness):
    # GIVEN an api-mode run of one 100-record chunk, sent a record per call to a target that takes 100 ms a call
    set_faults(harness, latency_ms=100)
    run_id = harness.trigger(file_path=disability_file(harness, 100), record_type="disability",
                             output_mode="api", batch_size=1)
    [plan] = harness.receive()
    harness.deliver(plan)
    [chunk] = harness.receive()
    store = bootstrap.components().store
    # WHEN the chunk is delivered, its run read all the while
    seen: list[dict] = []
    worker = threading.Thread(target=harness.deliver, args=(chunk,))
    worker.start()
    while worker.is_alive():
        seen.append(store.get(run_id).progress())
        time.sleep(0.02)
    worker.join()
    # THEN the bar moved before the chunk was counted, while the exact counters stayed at 0 until then
    moving = [p for p in seen if p["processed_records"] == 0 and 0 < p["live_records"] < 100]
    assert moving, seen[-5:]
    assert all(p["live_records"] <= 100 and p["success_count"] in (0, 100) for p in seen)
    assert any(p["records_per_second"] and p["eta_seconds"] is not None for p in moving)
    assert [p["live_records"] for p in seen] == sorted(p["live_records"] for p in seen)
    # AND once counted, the live note is gone and the counters are exact
    status = harness.status(run_id)
    run = store.get(run_id)
    assert run.chunk_live == {} and run.status == RunStatus.COMPLETED
    assert status["progress"]["success_count"] == 100
    assert status["progress"]["live_records"] == status["progress"]["processed_records"] == 100
    assert status["progress"]["eta_seconds"] is None and status["progress"]["records_per_second"] > 0
    assert status["outcome"] == "completed" and status["progress"]["current_step"] == "completed"
    assert "api_integration" in [s["step"] for s in status["details"]["steps"]]


def test_counting_a_chunk_removes_its_note_and_an_item_without_the_map_still_counts(harness):
    store = bootstrap.components().store
    run_id = harness.trigger(file_path=disability_file(harness, 5), record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])  # planned: running, with an empty map
    assert store.note_live(run_id, 1, 3) and store.get(run_id).chunk_live == {"1": 3}
    assert store.note_live(run_id, 1, 2) and store.get(run_id).chunk_live == {"1": 2}  # its own entry, overwritten
    assert store.count_chunk(run_id, 1, 4, 1) and store.get(run_id).chunk_live == {}
    assert (store.get(run_id).success_count, store.get(run_id).error_count) == (4, 1)
    # an item written before live progress: no note is written, and counting still works
    table = boto3_table()
    table.update_item(Key={"pk": f"RUN#{run_id}", "sk": "RUN"}, UpdateExpression="REMOVE chunk_live")
    assert not store.note_live(run_id, 2, 3)
    assert store.count_chunk(run_id, 2, 1, 0) and store.get(run_id).success_count == 5
    assert not store.count_chunk(run_id, 2, 1, 0)  # and still once


def boto3_table():
    import boto3
    return boto3.resource("dynamodb").Table(os.environ["RUNS_TABLE_NAME"])


# ---------------------------------------------------------------- true steps

def test_a_file_mode_run_never_shows_api_integration(harness):
    status = harness.run_to_end(file_path=disability_file(harness, 150), record_type="disability",
                                output_mode="file")
    steps = [s["step"] for s in status["details"]["steps"]]
    assert status["status"] == "completed" and "file_output" in steps and "api_integration" not in steps
    dry = harness.run_to_end(file_path=disability_file(harness, 150), record_type="disability",
                             output_mode="api", validate_only=True)
    steps = [s["step"] for s in dry["details"]["steps"]]
    assert "api_integration" not in steps and "file_output" not in steps


def test_a_cancelled_run_shows_where_it_stopped(harness):
    run_id = harness.trigger(file_path=disability_file(harness, 250), record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])
    chunks = harness.receive()
    harness.deliver(chunks[0])  # one chunk written: the run is in file_output
    assert harness.post(f"{API}/cancel/{run_id}", {}).status_code == 200
    status = harness.status(run_id)
    assert status["status"] == "cancelled" and status["outcome"] == "cancelled"
    assert status["progress"]["current_step"] == "file_output"
    assert status["details"]["steps"][-1]["step"] == "cancelled"


# ---------------------------------------------------------------- the list

def add_runs(count: int, tenant: str = "default") -> list[str]:
    """Runs written straight to the table: `count` of them a second apart, of two record types and every
    status."""
    store = bootstrap.components().store
    statuses = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING]
    ids = []
    for i in range(count):
        run_id = f"00000000-0000-4000-8000-{i:012d}"
        status = statuses[i % 4]
        day, second = 1 + i // 100, i % 100  # created a second apart, 100 a day
        assert store.create(Run(run_id=run_id, file_path="data/input/x.csv", record_type=("claim", "employee")[i % 2],
                                output_mode=OutputMode.FILE, tenant=tenant,
                                created_at=f"2026-11-{day:02d}T00:{second // 60:02d}:{second % 60:02d}.000Z",
                                status=status, error_count=1 if i % 8 == 0 else 0))
        ids.append(run_id)
    return ids


def test_the_list_pages_past_200_with_filters_and_counts(harness):
    ids = add_runs(250)
    # WHEN every run is listed 200 at a time
    first = harness.get(f"{API}?limit=200").json_body
    second = harness.get(f"{API}?limit=200&cursor={first['next_cursor']}").json_body
    listed = [r["run_id"] for r in first["migrations"] + second["migrations"]]
    # THEN each run comes once, newest first, and the counts cover them all
    assert first["count"] == 200 and second["count"] == 50 and second["next_cursor"] is None
    assert listed == list(reversed(ids))
    assert first["counts_by_status"] == {"pending": 0, "running": 62, "completed": 31,
                                         "completed_with_rejections": 32, "failed": 63, "cancelled": 62}
    assert first["counts_complete"] is True and sum(first["counts_by_status"].values()) == 250
    # AND filtered pages (the limit applies after the filter) hold only what matches, each once
    pages, cursor = [], None
    while True:
        page = harness.get(f"{API}?status=completed&record_type=claim&limit=25"
                           + (f"&cursor={cursor}" if cursor else "")).json_body
        pages.append(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    rows = [r["run_id"] for p in pages for r in p["migrations"]]
    assert rows == [run_id for n, run_id in reversed(list(enumerate(ids))) if n % 4 == 0]  # completed are claims
    assert all(p["count"] <= 25 for p in pages) and len(pages) >= 3
    assert pages[0]["counts_by_status"] == {"pending": 0, "running": 0, "completed": 31,
                                            "completed_with_rejections": 32, "failed": 0, "cancelled": 62}
    rejected = harness.get(f"{API}?status=completed_with_rejections&limit=200").json_body
    assert rejected["count"] == 32 and all(r["outcome"] == "completed_with_rejections" for r in rejected["migrations"])
    # a date window: since and until bound created_at
    day = harness.get(f"{API}?since=2026-11-02&until=2026-11-02T23:59:59Z&limit=200").json_body
    assert day["count"] == 100 and sum(day["counts_by_status"].values()) == 100
    assert all(r["created_at"].startswith("2026-11-02") for r in day["migrations"])
    row = day["migrations"][0]
    assert {"duration", "outcome", "reconciliation"} <= set(row) and "live_records" in row["progress"]


def test_a_tampered_or_foreign_cursor_is_a_400_and_reads_nothing(harness):
    add_runs(30)
    page = harness.get(f"{API}?limit=10").json_body
    cursor = page["next_cursor"]
    document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    tampered = base64.urlsafe_b64encode(json.dumps({**document, "id": "RUN#x"}).encode()).decode().rstrip("=")
    foreign = encode_cursor((document["at"], document["id"]), "acme", ListQuery(limit=10))
    for bad in (cursor[:-3], cursor + "AAAA", tampered, foreign, "%00", "a" * 500):
        response = harness.get(f"{API}?limit=10&cursor={bad}")
        assert response.status_code == 400, (bad, response.body)
        assert response.json_body["detail"].startswith("cursor:")
    # a cursor with other filters is refused too
    assert harness.get(f"{API}?limit=10&status=failed&cursor={cursor}").status_code == 400
    for query in ("status=done", "since=yesterday", "limit=0", "record_type=Claim%21"):
        assert harness.get(f"{API}?{query}").status_code == 422, query
