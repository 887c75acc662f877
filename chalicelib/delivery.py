"""Delivery of mapped documents: JSON Lines files, or batches to the target API.

Both are idempotent under redelivery (DESIGN 4): a file part is named after
its run and chunk and replaced whole; every API call carries an
Idempotency-Key made of run, chunk and batch, the same on every attempt.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Callable

import requests

from chalicelib.storage import StoredFile

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
CALL_TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 4


class DeliveryFailed(Exception):
    """The target could not take a batch after retries; the chunk will be retried whole."""


@dataclass
class DeliveryOutcome:
    delivered: int
    rejected: list[tuple[int, str]]  # (source row, reason) for records the target refused
    stopped: bool = False            # the run was cancelled between calls


def part_name(chunk: int) -> str:
    return f"part-{chunk:06d}.jsonl"


def write_part(folder: StoredFile, chunk: int, documents: str) -> StoredFile:
    target = folder.child(part_name(chunk))
    target.write_bytes(documents.encode("utf-8"))
    return target


def write_error_part(folder: StoredFile, chunk: int, errors: list[dict]) -> None:
    lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in errors)
    folder.child("errors").child(part_name(chunk)).write_bytes(lines.encode("utf-8"))


def auth_headers(credentials: dict | None) -> dict:
    if not credentials:
        return {}
    if credentials.get("type") == "bearer_token":
        return {"Authorization": f"Bearer {credentials['token']}"}
    raise ValueError(f"unsupported credentials type: {credentials.get('type')!r}")


class ApiDelivery:
    """Posts documents to `<target>/records/<endpoint>` in batches of `batch_size`."""

    def __init__(self, session: requests.Session, url: str, credentials: dict | None, batch_size: int,
                 sleep: Callable[[float], None] = time.sleep):
        self._session = session
        self._url = url
        self._headers = {"Content-Type": "application/json", **auth_headers(credentials)}
        self._batch_size = batch_size
        self._sleep = sleep

    def deliver(self, run_id: str, chunk: int, documents: list[str], rows: list[int],
                should_stop: Callable[[], bool]) -> DeliveryOutcome:
        outcome = DeliveryOutcome(0, [])
        for batch, start in enumerate(range(0, len(documents), self._batch_size)):
            if batch and should_stop():
                outcome.stopped = True
                return outcome
            docs = documents[start:start + self._batch_size]
            status, reason = self._post(f"{run_id}:{chunk}:{batch}", '{"records":[' + ",".join(docs) + "]}")
            if status < 300:
                outcome.delivered += len(docs)
            else:
                # A 4xx other than 429 refuses the batch: its records are errors, not retries.
                outcome.rejected.extend((row, reason) for row in rows[start:start + self._batch_size])
        return outcome

    def _post(self, idempotency_key: str, body: str) -> tuple[int, str]:
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        last = ""
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self._session.post(self._url, data=body.encode("utf-8"), headers=headers,
                                              timeout=CALL_TIMEOUT_SECONDS)
            except (requests.ConnectionError, requests.Timeout) as err:
                last = type(err).__name__
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return response.status_code, _reason(response)
                last = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    self._sleep(min(float(retry_after), 30.0))
                    continue
            self._sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))
        raise DeliveryFailed(f"target did not accept a batch after {MAX_ATTEMPTS} attempts ({last})")


def _reason(response: requests.Response) -> str:
    """The target's reason for refusing a batch, short and without echoing records."""
    try:
        detail = response.json().get("detail") or response.json().get("message") or ""
    except (ValueError, AttributeError):
        detail = ""
    text = f"target answered {response.status_code}"
    return f"{text}: {str(detail)[:200]}" if detail else text
