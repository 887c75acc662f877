"""Webhook calls: the document of a run's end, POSTed to the URL its request named, signed.

A worker takes the notify message the run's end queued (chalicelib.notifications) and POSTs its
document as JSON (UTF-8, compact), with

    X-Event-Id:   the end's id (the document's `event_id`): the same on every attempt, so a receiver
                  that sees it twice drops the repeat;
    X-Timestamp:  the attempt's time, in Unix seconds;
    X-Signature:  sha256=<hex HMAC-SHA256 of `<X-Timestamp>.<body>`, keyed with the request's
                  `notify.secret`>, so a receiver can check that the call is the service's and that
                  the body is the one signed, and refuse an old one replayed (docs/notifications.md).

The URL is held to the stage's outbound policy (chalicelib.outbound) at trigger and again right before
the call, and no redirect is followed. A 2xx delivers it. A 408, a 429, a 5xx, a timeout or a dropped
connection is tried again, MAX_ATTEMPTS calls in all, waiting BACKOFF_SECONDS between them (a
Retry-After of at most MAX_RETRY_AFTER_SECONDS is honoured): a bounded wait, well inside a worker's
timeout. Any other answer (a redirect, another 4xx) fails it at once. The outcome is kept on the run
(`notification`: status, attempts, last error), and the key is deleted from the vault once the outcome
is final. A message that fails on every delivery (the worker dies) reaches the dead-letter queue, whose
handler records the call as failed (`give_up`).

A message delivered twice may call twice: at least once, with the same X-Event-Id.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import requests

from chalicelib.errors import InvalidRequest
from chalicelib.messages import NotifyMessage
from chalicelib.notifications import (DELIVERED, EVENT_DETAIL_TYPE, FAILED, FINAL, count_failed_notification,
                                      notification_record)
from chalicelib.observability import log

if TYPE_CHECKING:
    from chalicelib.credentials import CredentialVault
    from chalicelib.outbound import OutboundPolicy
    from chalicelib.runs import RunStore

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
EVENT_ID_HEADER = "X-Event-Id"
USER_AGENT = "records-migration-webhook/1"
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (1, 2, 4, 8)      # between the attempts: 15 s in all
MAX_RETRY_AFTER_SECONDS = 30
TIMEOUT_SECONDS = (5, 10)           # connect, read
RETRYABLE_STATUS = {408, 429}       # and every 5xx


def sign(key: str, timestamp: str, body: bytes) -> str:
    """The X-Signature of a call: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `key`."""
    digest = hmac.new(key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookKeyMissing(Exception):
    """The call's key is not in the vault (yet): the message comes back, and after its last delivery the
    dead-letter handler records the call as failed."""


@dataclass(frozen=True)
class CallOutcome:
    status: str              # DELIVERED or FAILED
    attempts: int
    last_error: str | None   # what the last attempt met: "HTTP 503", "ConnectTimeout", ...; never a body


@dataclass
class WebhookSender:
    """Delivers notify messages: signs, posts, retries, and keeps the outcome on the run."""

    store: RunStore
    vault: CredentialVault
    http: requests.Session
    outbound: OutboundPolicy
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time

    def deliver(self, message: NotifyMessage) -> None:
        event_id = message.event["event_id"]
        run = self.store.get(message.run_id)
        if run is None:
            log("webhook of an unknown run ignored", logging.WARNING, run_id=message.run_id)
            return
        seen = run.notification or {}
        if seen.get("event_id") == event_id and seen.get("status") in FINAL:
            return  # called already: this message came again
        key = self.vault.webhook_secret(message.secret_ref) if message.secret_ref else None
        if key is None:
            raise WebhookKeyMissing(f"no webhook key for run {message.run_id} yet")
        outcome = self.call(message.webhook_url, message.event, key)
        self._keep(message, outcome)

    def give_up(self, message: NotifyMessage, reason: str) -> None:
        """A notify message that failed on every delivery: the call is recorded as failed, its key deleted."""
        run = self.store.get(message.run_id)
        seen = (run.notification or {}) if run else {}
        if seen.get("event_id") == message.event["event_id"] and seen.get("status") in FINAL:
            return
        self._keep(message, CallOutcome(FAILED, int(seen.get("attempts") or 0), reason))

    def call(self, url: str, event: dict, key: str) -> CallOutcome:
        """POST `event` to `url`, signed with `key`, retrying what may pass; the outcome."""
        try:
            # Again right before calling: the name may resolve elsewhere than it did at trigger.
            self.outbound.check(url, "notify.webhook_url")
        except InvalidRequest as refused:
            return CallOutcome(FAILED, 0, f"not called: {refused.detail}")
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        why = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            timestamp = str(int(self.clock()))
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                       "X-Event-Type": EVENT_DETAIL_TYPE, EVENT_ID_HEADER: event["event_id"],
                       TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(key, timestamp, body)}
            retry_after = None
            try:
                # No redirect is followed: the policy checked this URL, not wherever an answer points next.
                # The answer's body is never read: nothing of it is kept.
                with self.http.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS,
                                    allow_redirects=False, stream=True) as response:
                    status = response.status_code
                    retry_after = _retry_after(response.headers.get("Retry-After"))
            except requests.RequestException as err:
                why, retryable = type(err).__name__, True
            else:
                if 200 <= status < 300:
                    return CallOutcome(DELIVERED, attempt, None)
                redirect = " (a redirect, which is not followed)" if 300 <= status < 400 else ""
                why, retryable = f"HTTP {status}{redirect}", status in RETRYABLE_STATUS or status >= 500
            if not retryable or attempt == MAX_ATTEMPTS:
                return CallOutcome(FAILED, attempt, why)
            self.sleep(retry_after if retry_after is not None else BACKOFF_SECONDS[attempt - 1])
        raise AssertionError("unreachable")

    def _keep(self, message: NotifyMessage, outcome: CallOutcome) -> None:
        event_id = message.event["event_id"]
        self.store.record_notification(message.run_id, notification_record(
            event_id, outcome.status, outcome.attempts, outcome.last_error))
        if message.secret_ref:
            self.vault.forget(message.secret_ref)  # the outcome is final: the key has served
        if outcome.status == DELIVERED:
            log("webhook delivered", run_id=message.run_id, event_id=event_id, attempts=outcome.attempts)
        else:
            log("webhook failed", logging.WARNING, run_id=message.run_id, event_id=event_id,
                attempts=outcome.attempts, reason=outcome.last_error)
            count_failed_notification("webhook")


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, capped; None for an HTTP date or anything else (our own schedule then)."""
    value = (value or "").strip()
    return float(min(int(value), MAX_RETRY_AFTER_SECONDS)) if value.isascii() and value.isdigit() else None
