"""Run-end notifications: one event on EventBridge for every run that ends, and the run's own webhook.

A run ends in several places: the worker that counts its last chunk (runs.finish_if_done), a plan that
fails, the dead-letter handler, a cancel, the reaper, an upload that could not start a run. Each ends it
with a conditional update of the run item, and only the caller whose update won hands the run, as that
update left it, to `RunEndNotices.run_ended`. So two workers that both see the last chunk counted announce
the end once; the announcement ends by taking the run out of the unannounced ones (RunStore.mark_announced).
A publish the bus refuses (throttled, down) goes on the work queue, and a worker publishes the same document
again, with the queue's retries (a listener may then see it twice, and drops the repeat by its `event_id`);
only an event that fails on every attempt, or cannot be queued either, is logged by its error's type and
counted (NotificationsFailed). A function that dies between its update and the end of its
announcement leaves the run unannounced, and the reaper announces it minutes later (chalicelib.reaper): the
event, the webhook and the report's message come then, perhaps a second time, each safe to repeat. Either way
the run keeps its status and counts.

The event's document (`run_ended_event`) holds ids, the status, counts, rule names and their counts, times
and `error_message`, which by construction quotes no record value (docs/security.md): never a record, the
request's metadata or a credential. Its `event_id` names the end (run and end time), the same in the
EventBridge event and the webhook call, so a receiver can drop a repeat.

A run may name a webhook (`notify`, docs/notifications.md). The call is not made where the run ends (an API
function answers within seconds, and a cancel is one): a notify message carrying the document goes on the
work queue, and a worker signs and delivers it (chalicelib.webhooks), recording the outcome on the run.

Nothing here imports requests or boto3: the API's cancel publishes through this module.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from chalicelib.messages import NotifyMessage, PublishMessage
from chalicelib.observability import NOTIFICATIONS_FAILED, log, record
from chalicelib.reconciliation import flag_report_failed

if TYPE_CHECKING:
    from chalicelib.models import Notify
    from chalicelib.outbound import OutboundPolicy
    from chalicelib.run import Run
    from chalicelib.runs import RunStore
    from chalicelib.work_queue import WorkQueue

EVENT_SOURCE = "records-migration"
EVENT_DETAIL_TYPE = "Migration run ended"
EVENT_BUS = "default"
EVENT_VERSION = 1
EVENT_IDS = uuid.UUID("8e3f6b2a-4c1d-4f7e-9a25-6d0b3c9e1f48")  # namespace of the ends' ids
PUT_EVENTS_ATTEMPTS = 3  # an entry EventBridge refuses (throttled, internal) is sent again this often

# A webhook's outcome, as the run records it (`notification.status`).
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
FINAL = (DELIVERED, FAILED)


def run_ended_event(run: Run) -> dict[str, Any]:
    """What is said of an ended run, on EventBridge and to its webhook: never a record value or a credential."""
    return {
        "version": EVENT_VERSION,
        "event_id": str(uuid.uuid5(EVENT_IDS, f"{run.run_id}/{run.completed_at}")),
        "run_id": run.run_id,
        "tenant": run.tenant,
        "status": run.status.value,
        "record_type": run.record_type,
        "file_path": run.file_path,
        "output_mode": run.output_mode.value,
        "validate_only": run.validate_only,
        "counts": {"total": run.total_records, "processed": run.processed_records, "success": run.success_count,
                   "errors": run.error_count},
        "errors_by_rule": run.rules_broken,
        "chunks": {"total": run.chunks_total, "done": run.chunks_done, "failed": run.chunks_failed},
        "retry_count": run.retry_count,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "duration": run.duration,
        "error_message": run.error_message,
    }


def notification_record(event_id: str, status: str, attempts: int = 0, last_error: str | None = None) -> dict:
    """The webhook's outcome as the run keeps it (`Run.notification`): no URL, no secret, no body."""
    return {"event_id": event_id, "status": status, "attempts": attempts, "last_error": last_error,
            "updated_at": _now_iso()}


def _now_iso() -> str:  # runs.now_iso's form
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------ the event bus

class EventNotPublished(Exception):
    """EventBridge refused the event (its error code, never the event)."""


class EventBus(ABC):
    """Where run-end events go: EventBridge's default bus, or a fake in unit tests."""

    @abstractmethod
    def publish(self, document: dict) -> None:
        """Put one run-end event on the bus; raises if it was not taken."""


class EventBridgeBus(EventBus):
    """The account's default EventBridge bus: source `records-migration`, detail-type `Migration run ended`."""

    def __init__(self, client_factory: Callable[[], Any], bus_name: str = EVENT_BUS,
                 sleep: Callable[[float], None] = time.sleep):
        self._client_factory = client_factory
        self._bus = bus_name
        self._sleep = sleep

    def publish(self, document: dict) -> None:
        entry = {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "EventBusName": self._bus,
                 "Detail": json.dumps(document, separators=(",", ":"))}
        # botocore retries a refused request; an entry refused inside an accepted request (ThrottlingException,
        # InternalFailure) is ours to send again.
        for attempt in range(PUT_EVENTS_ATTEMPTS):
            response = self._client_factory().put_events(Entries=[entry])
            if not response.get("FailedEntryCount"):
                return
            if attempt + 1 < PUT_EVENTS_ATTEMPTS:
                self._sleep(0.2 * 2 ** attempt)
        raise EventNotPublished(response["Entries"][0].get("ErrorCode") or "refused")


# ------------------------------------------------------------------ announcing an end

@dataclass
class RunEndNotices:
    """What the caller that ended a run does next: publish its event, and queue its webhook call if it has one.

    Never raises: the run has ended whatever happens here, and its counts are kept.
    """

    bus: EventBus
    queue: WorkQueue
    store: RunStore

    def run_ended(self, run: Run) -> None:
        """`run` as the update that ended it left it (status, end time, counts). Also queues the building of the
        run's reconciliation report (chalicelib.reconciliation)."""
        document = run_ended_event(run)
        try:
            self.bus.publish(document)
            log("run-end event published", run_id=run.run_id, status=run.status.value,
                event_id=document["event_id"])
        except Exception as err:  # noqa: BLE001 (whatever it is, the run has ended: say so and go on)
            log("run-end event not published; a worker publishes it again", logging.WARNING, run_id=run.run_id,
                error=type(err).__name__)
            self._publish_later(run, document)
        if run.notify_url:
            self._queue_webhook(run, document)
        try:
            # Every end has its reconciliation report, built by a worker (a cancel answers at once).
            self.queue.send_reconcile(run.run_id)
        except Exception as err:  # noqa: BLE001 (the run has ended all the same; the log line says what is missing)
            log("reconciliation not queued", logging.WARNING, run_id=run.run_id, error=type(err).__name__)
            self._report_not_queued(run)
        try:
            # Announced: the reaper need not announce it again (chalicelib.reaper).
            self.store.mark_announced(run.run_id)
        except Exception as err:  # noqa: BLE001 (the reaper announces it again: listeners drop the repeat)
            log("run end not marked announced", logging.WARNING, run_id=run.run_id, error=type(err).__name__)

    def _publish_later(self, run: Run, document: dict) -> None:
        """The bus refused the event (throttled, down): a worker sends it again, from the work queue, with its
        retries and dead-letter queue. Only an event that cannot be queued either is lost here, and counted."""
        try:
            self.queue.send_publish(PublishMessage(run.run_id, document))
        except Exception as err:  # noqa: BLE001 (nothing more can be done here; the metric and the log say so)
            log("run-end event lost: not published, and not queued", logging.ERROR, run_id=run.run_id,
                error=type(err).__name__)
            count_failed_notification("event")

    def publish_again(self, message: PublishMessage) -> None:
        """A worker's try at an event the bus refused where the run ended. Raises while the bus still refuses, so
        that the message comes back; `give_up` once it has failed on every attempt."""
        self.bus.publish(message.event)
        log("run-end event published", run_id=message.run_id, event_id=message.event["event_id"], late=True)

    def give_up(self, message: PublishMessage) -> None:
        """An event that could not be published on any attempt (its message reached the dead-letter queue)."""
        log("run-end event could not be published on any attempt", logging.ERROR, run_id=message.run_id,
            event_id=message.event.get("event_id"))
        count_failed_notification("event")

    def _report_not_queued(self, run: Run) -> None:
        """The report is not coming: flag the run (docs/reconciliation.md says how to queue it again)."""
        try:
            flag_report_failed(self.store, run, "the reconciliation report could not be queued")
        except Exception as err:  # noqa: BLE001 (nothing more can be done here; the log says so)
            log("reconciliation failure not recorded", logging.ERROR, run_id=run.run_id, error=type(err).__name__)

    def _queue_webhook(self, run: Run, document: dict) -> None:
        event_id = document["event_id"]
        try:
            self.store.record_notification(run.run_id, notification_record(event_id, PENDING), new_end=True)
        except Exception as err:  # noqa: BLE001 (the call is queued all the same; its outcome is recorded then)
            log("webhook call not recorded as pending", logging.WARNING, run_id=run.run_id, error=type(err).__name__)
        try:
            self.queue.send_notify(NotifyMessage(run.run_id, run.notify_url, run.notify_secret_ref or "", document))
        except Exception as err:  # noqa: BLE001
            log("webhook call not queued", logging.WARNING, run_id=run.run_id, error=type(err).__name__)
            count_failed_notification("webhook")
            try:
                self.store.record_notification(run.run_id, notification_record(
                    event_id, FAILED, last_error=f"the call could not be queued ({type(err).__name__})"))
            except Exception:  # noqa: BLE001 (the table fails too: the log line above is what is left)
                pass


def count_failed_notification(channel: str) -> None:
    """Count a run-end event that EventBridge did not take on any attempt (`event`), or a webhook call that
    failed for good (`webhook`)."""
    record(NOTIFICATIONS_FAILED, 1, Channel=channel)


def check_notify(notify: Notify | None, policy: OutboundPolicy) -> None:
    """Refuse (a 422 naming the field) a webhook URL the stage does not call: the same policy as a token URL."""
    if notify is not None:
        policy.check(notify.webhook_url, "notify.webhook_url")
