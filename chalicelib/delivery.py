"""Delivery of mapped documents: JSON Lines files, or batches to the target API.

Both are idempotent under redelivery (DESIGN 4): a file part is named after
its run and chunk and replaced whole; every API call carries an
Idempotency-Key made of run, chunk and batch, the same on every attempt, so a
target can drop what it has already taken.

API delivery keeps a bounded number of calls in flight over one reused
session, retries 429, 5xx, timeouts and dropped connections with exponential
backoff and full jitter (honouring Retry-After) within a retry budget per
chunk, and halves its concurrency whenever the target says 429 (additive
increase, multiplicative decrease). A chunk whose budget runs out fails whole
and takes the queue's retry path; its batches come back with the same keys.
"""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import requests

from chalicelib.credentials import Authenticator
from chalicelib.observability import record_delivery
from chalicelib.personal import mask_ssn_like
from chalicelib.storage import StoredFile, part_name

if TYPE_CHECKING:
    from chalicelib.records import RecordError

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
CALL_TIMEOUT_SECONDS = 30
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 20.0
REASON_LENGTH = 200
# A target's reason may quote the record: what looks like an SSN in it is masked (chalicelib.personal).


class DeliveryFailed(Exception):
    """The target could not take a batch within the chunk's retry budget."""


@dataclass
class DeliveryOutcome:
    delivered: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (source row, the target's reason)
    stopped: bool = False   # the run was cancelled between calls
    calls: int = 0          # HTTP calls made, retries included
    retries: int = 0
    throttled: int = 0      # 429 answers
    latencies_ms: list[float] = field(default_factory=list)  # of each call the target answered
    # Documents of the batches that went out: the first `sent` of the chunk, as batches go in order. The target
    # took those less `rejected`; a cancel left the rest unsent (the reconciliation report's not processed).
    sent: int = 0


def write_part(folder: StoredFile, chunk: int, documents: str) -> StoredFile:
    target = folder.child(part_name(chunk))
    target.write_bytes(documents.encode("utf-8"))
    return target


def write_error_part(folder: StoredFile, chunk: int, errors: list["RecordError"]) -> None:
    lines = "".join(e.to_json() + "\n" for e in errors)
    folder.child("errors").child(part_name(chunk)).write_bytes(lines.encode("utf-8"))


class AdaptiveLimit:
    """How many calls may be in flight: halved on a 429, one more after each success streak.

    A Retry-After pauses every caller until it has passed.
    """

    def __init__(self, maximum: int, clock: Callable[[], float] = time.monotonic):
        self.maximum = maximum
        self.limit = maximum
        self._in_flight = 0
        self._streak = 0
        self._resume_at = 0.0
        self._clock = clock
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while True:
                wait = self._resume_at - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                elif self._in_flight >= self.limit:
                    self._cond.wait()
                else:
                    self._in_flight += 1
                    return

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            self._streak += 1
            if self._streak >= self.limit and self.limit < self.maximum:
                self.limit += 1
                self._streak = 0
                self._cond.notify_all()

    def throttled(self, retry_after: float | None) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)
            self._streak = 0
            if retry_after:
                self._resume_at = max(self._resume_at, self._clock() + retry_after)


class RetryBudget:
    """Seconds a chunk may spend waiting to retry, across all its batches."""

    def __init__(self, seconds: float):
        self.left = seconds
        self._lock = threading.Lock()

    def spend(self, seconds: float, why: str) -> None:
        with self._lock:
            if seconds > self.left:
                self.left = 0
                raise DeliveryFailed(f"the chunk's retry budget ran out ({why})")
            self.left -= seconds


class ApiDelivery:
    """Posts documents to the target's endpoint for a record type, in batches of `batch_size`."""

    def __init__(self, session: requests.Session, url: str, authenticator: Authenticator, batch_size: int,
                 max_in_flight: int = 8, retry_budget_seconds: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep):
        self._session = session
        self._url = url
        self._auth = authenticator
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._budget_seconds = retry_budget_seconds
        self._sleep = sleep

    def deliver(self, run_id: str, chunk: int, documents: list[str], rows: list[int],
                should_stop: Callable[[], bool], progress: Callable[[int], None] | None = None) -> DeliveryOutcome:
        """Post every batch, or stop between calls when `should_stop`. `progress`, if given, is called from
        the calling threads each time a batch's call is answered for good, with the records of this chunk
        answered so far (accepted or rejected): live progress, never the counts (chalicelib.progress)."""
        outcome = DeliveryOutcome()
        answered = [0]
        limit = AdaptiveLimit(self._max_in_flight)
        budget = RetryBudget(self._budget_seconds)
        stats_lock = threading.Lock()
        futures = []
        with ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="deliver") as pool:
            for batch, start in enumerate(range(0, len(documents), self._batch_size)):
                limit.acquire()  # blocks while the target is throttling us, or calls are at the bound
                if batch and should_stop():  # read when the call could go out, not before the wait
                    limit.release()
                    outcome.stopped = True
                    break
                futures.append(pool.submit(
                    self._send_batch, f"{run_id}:{chunk}:{batch}",
                    documents[start:start + self._batch_size], rows[start:start + self._batch_size],
                    limit, budget, outcome, stats_lock, answered, progress))
        outcome.sent = min(len(documents), len(futures) * self._batch_size)
        failure = None
        for future in futures:  # in batch order, so rejections keep file order
            try:
                accepted, rejected = future.result()
            except DeliveryFailed as err:
                failure = failure or err
                continue
            outcome.delivered += accepted
            outcome.rejected.extend(rejected)
        # Recorded here, on the worker's thread, and before a failure is raised: a chunk that ran out of retry
        # budget is where the retries and throttles are.
        record_delivery(outcome.calls, outcome.retries, outcome.throttled, outcome.latencies_ms)
        if failure:
            raise failure
        return outcome

    def _send_batch(self, key: str, docs: list[str], rows: list[int], limit: AdaptiveLimit, budget: RetryBudget,
                    outcome: DeliveryOutcome, stats_lock: threading.Lock, answered: list[int] | None = None,
                    progress: Callable[[int], None] | None = None) -> tuple[int, list[tuple[int, str]]]:
        body = ('{"records":[' + ",".join(docs) + "]}").encode("utf-8")
        attempt = 0
        refreshed = False
        # The batch keeps its place in flight while it waits to retry: were it
        # to give it up, a new batch could take it and sit in the pool's queue
        # while every pool thread waits for a place, and nothing would move.
        try:
            while True:
                with stats_lock:
                    outcome.calls += 1
                    outcome.retries += attempt > 0
                sent = time.monotonic()
                try:
                    response = self._session.post(self._url, data=body, timeout=CALL_TIMEOUT_SECONDS,
                                                  headers={"Content-Type": "application/json",
                                                           "Idempotency-Key": key, **self._auth.headers()})
                except (requests.ConnectionError, requests.Timeout) as err:
                    why, retry_after = type(err).__name__, None
                else:
                    with stats_lock:
                        outcome.latencies_ms.append((time.monotonic() - sent) * 1000)
                    status = response.status_code
                    if status == 401 and self._auth.refreshable and not refreshed:
                        self._auth.invalidate()  # an expired or revoked access token: fetch a new one once
                        refreshed = True
                        continue
                    if status not in RETRYABLE_STATUS:
                        limit.succeeded()
                        result = _outcome(response, rows)
                        if progress is not None:
                            with stats_lock:
                                answered[0] += len(rows)
                                so_far = answered[0]
                            progress(so_far)  # outside the lock: it may write, and must not hold other calls
                        return result
                    why, retry_after = f"HTTP {status}", _retry_after(response)
                    if status == 429:
                        limit.throttled(retry_after)
                        with stats_lock:
                            outcome.throttled += 1
                delay = retry_after if retry_after is not None else \
                    random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** attempt))
                budget.spend(delay, why)
                self._sleep(delay)
                attempt += 1
        finally:
            limit.release()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return min(max(float(value), 0.0), BACKOFF_CAP_SECONDS)
    except ValueError:
        return None  # an HTTP date, or nothing: back off on our own schedule


def _outcome(response: requests.Response, rows: list[int]) -> tuple[int, list[tuple[int, str]]]:
    """Accepted count and per-record rejections from a final (non-retryable) answer.

    2xx: every record accepted, unless the body lists per-record results (207
    Multi-Status, or any 2xx with `results`). Any other answer refuses the whole
    batch: its records are errors with the target's reason, not retries.
    """
    status = response.status_code
    results = None
    try:
        body = response.json()
        results = body.get("results") if isinstance(body, dict) else None
    except ValueError:
        body = None
    if 200 <= status < 300 and not isinstance(results, list):
        return len(rows), []
    if 200 <= status < 300:
        rejected = []
        by_index = {r.get("index", i): r for i, r in enumerate(results) if isinstance(r, dict)}
        for i, row in enumerate(rows):
            result = by_index.get(i)
            if result is None:
                rejected.append((row, f"target answered {status} without a result for this record"))
            elif not _accepted(result):
                rejected.append((row, _reason("target rejected the record", result.get("reason")
                                              or result.get("error") or result.get("detail"))))
        return len(rows) - len(rejected), rejected
    detail = body.get("detail") or body.get("message") if isinstance(body, dict) else None
    reason = _reason(f"target answered {status}", detail)
    return 0, [(row, reason) for row in rows]


def _accepted(result: dict) -> bool:
    status = result.get("status")
    if isinstance(status, int):
        return 200 <= status < 300
    return str(status).lower() in ("accepted", "ok", "created", "success")


def _reason(prefix: str, detail) -> str:
    if not detail:
        return prefix
    return f"{prefix}: {mask_ssn_like(str(detail))[:REASON_LENGTH]}"
