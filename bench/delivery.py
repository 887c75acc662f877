"""Delivery benchmarks: batched, concurrent delivery vs naive sending; exactly once under faults."""
from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time

import requests

from chalicelib.credentials import Authenticator
from chalicelib.delivery import ApiDelivery
from local_stack.child import start_stack
from local_stack.sandbox_target import make_server

TOKEN = "bench-token"


def _documents(n: int) -> list[str]:
    return [json.dumps({"record_type": "claim", "claim_number": f"CL{i:09d}", "amount": 100 + i % 997,
                        "claimant": {"last_name": "SMITH", "first_name": "ANN"}, "source_row": i})
            for i in range(1, n + 1)]


def delivery_rate(records: int, naive_records: int, latency_ms: float = 20, batch_size: int = 100,
                  max_in_flight: int = 8) -> dict:
    """Records/s into a sandbox target answering after `latency_ms`: ours vs one record per call."""
    server = make_server(0, TOKEN, faults={"latency_ms": latency_ms})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/records/claims"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        naive_docs = _documents(naive_records)
        session = requests.Session()
        started = time.perf_counter()
        for i, doc in enumerate(naive_docs):  # what a simple loop does: one record, one call, wait, next
            session.post(url, data=('{"records":[' + doc + "]}").encode(), headers=headers,
                         timeout=30).raise_for_status()
        naive_s = time.perf_counter() - started
        requests.delete(url.rsplit("/", 1)[0], timeout=5)

        docs = _documents(records)
        session = requests.Session()
        delivery = ApiDelivery(session, url, Authenticator({"type": "bearer_token", "token": TOKEN}, session),
                               batch_size, max_in_flight=max_in_flight)
        started = time.perf_counter()
        # The metric documents every call prints (as a Lambda's stdout would carry them) are made and written
        # all the same, into memory: on the bench's own output they buried its figures.
        with contextlib.redirect_stdout(io.StringIO()):
            outcome = delivery.deliver("bench", 1, docs, list(range(1, records + 1)), lambda: False)
        ours_s = time.perf_counter() - started
        counts = server.state.snapshot()
        assert outcome.delivered == records == counts["distinct_records"], counts
    finally:
        server.shutdown()
    naive_rate, ours_rate = naive_records / naive_s, records / ours_s
    return {"latency_ms": latency_ms, "batch_size": batch_size, "calls_in_flight": max_in_flight,
            "naive_records": naive_records, "naive_records_per_s": round(naive_rate, 1),
            "records": records, "records_per_s": round(ours_rate), "ratio": round(ours_rate / naive_rate, 1),
            "target": ">= 50"}


def delivery_under_faults(work: str, records_file: str, workers: int) -> dict:
    """A run in api mode through the local stack while the target misbehaves."""
    faults = {"latency_ms": 20, "throttle_rate": 0.05, "error_rate": 0.05, "drop_rate": 0.01,
              "retry_after_s": 0.2, "seed": 3}
    stack = start_stack(work, os.path.join(work, "faults-stack.log"), workers=workers,
                        extra_env={"TARGET_FAULTS": json.dumps(faults)})
    try:
        started = time.perf_counter()
        answer = stack.trigger(file_path=records_file, record_type="disability", output_mode="api",
                               batch_size=100, max_error_rate=0.5)
        status = stack.wait_until_finished(answer["run_id"], timeout=1800, poll=0.2)
        elapsed = time.perf_counter() - started
        counts = stack.target_count()
    finally:
        stack.stop()
    progress = status["progress"]
    exact = (counts["distinct_records"] == counts["records"] == progress["success_count"]
             and progress["success_count"] + progress["error_count"] == progress["total_records"]
             == progress["processed_records"])
    return {"faults": faults, "status": status["status"], "seconds": round(elapsed, 2),
            "total_records": progress["total_records"], "success_count": progress["success_count"],
            "error_count": progress["error_count"], "target_distinct_records": counts["distinct_records"],
            "target_calls": counts["calls"], "throttled": counts["throttled"], "server_errors": counts["errors"],
            "dropped": counts["dropped"], "duplicate_calls": counts["duplicate_calls"], "exactly_once": exact}
