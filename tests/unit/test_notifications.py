"""Run-end notifications over fakes of the ports: one event per end, from whichever place ended the run; the
document holds no record value nor a secret; a publish that fails ends nothing else; a run's webhook is
queued, signed, retried within bounds and its outcome kept.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from chalicelib.listing import ListQuery
from chalicelib.access import OPEN_CALLER as OPEN
from chalicelib.errors import InvalidRequest, RunConflict
from chalicelib.messages import NotifyMessage, PlanMessage, PublishMessage, ReconcileMessage, parse_message
from chalicelib.models import RunStatus
from chalicelib.notifications import EVENT_VERSION, EventNotPublished, run_ended_event
from chalicelib.outbound import OutboundPolicy
from chalicelib.webhooks import BACKOFF_SECONDS, MAX_ATTEMPTS, WebhookKeyMissing, WebhookSender, sign
from local_stack.sandbox_target import verify_signature
from tests.unit.fakes import employees_csv, wire
from tests.functional.test_observability import documents, totals
from tests.unit.test_openapi import APP, assert_described

INPUT = "data/input/employees.csv"
TOKEN = {"type": "bearer_token", "token": "s3cr3t-t0k3n-never-published"}
HOOK = "https://hooks.example.com/migrations"
KEY = "a-receivers-own-webhook-key"
NOTIFY = {"webhook_url": HOOK, "secret": KEY}
DOCUMENT_KEYS = {"version", "event_id", "run_id", "tenant", "status", "record_type", "file_path", "output_mode",
                 "validate_only", "counts", "errors_by_rule", "chunks", "retry_count", "created_at", "started_at",
                 "completed_at", "duration", "error_message"}


def public(host, port, family=0, type=0, proto=0, flags=0):
    """A resolver that answers a public address for any name: no DNS in unit tests."""
    import socket
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]


@pytest.fixture
def w(tmp_path):
    wiring = wire(tmp_path, CHUNK_RECORDS="2", OUTBOUND_ALLOWLIST="https://hooks.example.com")
    wiring.write(INPUT, employees_csv(5, bad=(3,)))
    return wiring


def service(w):
    """The service with the stage's allow-list, its names resolved by `public`."""
    svc = w.service
    svc.outbound = OutboundPolicy(w.settings.outbound_allowlist, resolve=public)
    return svc


def trigger(w, **request) -> str:
    # One record in five is rejected: a fifth is tolerated, so a run that goes through completes.
    return service(w).trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file",
                                     "max_error_rate": 0.5, **request})["run_id"]


def run_to_end(w, **request) -> str:
    """A run worked through to its end: every message the worker queues is handled, notify messages kept."""
    run_id = trigger(w, **request)
    worker, notices = w.worker, []
    while taken := w.queue.take():
        notices += [m for m in taken if isinstance(m, (NotifyMessage, PublishMessage))]
        for message in (m for m in taken if not isinstance(m, (NotifyMessage, PublishMessage))):
            worker.handle(message.to_json())
    w.queue.sent.extend(notices)  # left on the queue, for the test to deliver
    return run_id


# ------------------------------------------------------------------------ the document

def test_the_end_document_holds_counts_rules_and_times_but_no_record_value_or_secret(w):
    # GIVEN a run with its own token and metadata, whose third record breaks a rule
    run_id = run_to_end(w, authentication=TOKEN, metadata={"ssn_of_the_day": "611697455"})
    # WHEN it ends
    [ended] = w.bus.published
    # THEN the document says how it ended, in counts and rule names
    assert set(ended) == DOCUMENT_KEYS
    assert ended["version"] == EVENT_VERSION
    assert (ended["run_id"], ended["tenant"], ended["status"], ended["record_type"]) == (
        run_id, "default", "completed", "employee")
    assert ended["counts"] == {"total": 5, "processed": 5, "success": 4, "errors": 1}
    assert ended["errors_by_rule"] == {"pattern": 1}
    assert ended["completed_at"] and ended["created_at"] and ended["duration"] is not None
    # AND nothing of a record, the metadata or the credentials
    text = json.dumps(ended)
    for secret in ("611697455", "JONES", "FATIMA", "X3", TOKEN["token"], "ssn_of_the_day"):
        assert secret not in text


def test_the_event_id_names_the_end_and_is_the_same_for_the_same_end(w):
    run_id = run_to_end(w)
    run = w.store.get(run_id)
    assert run_ended_event(run)["event_id"] == run_ended_event(w.store.get(run_id))["event_id"] == \
        w.bus.published[0]["event_id"]
    run.completed_at = "2030-01-01T00:00:00.000Z"  # another end of the same run (after a retry)
    assert run_ended_event(run)["event_id"] != w.bus.published[0]["event_id"]


# ------------------------------------------------------------------------ every end, once

def test_a_completed_run_publishes_one_event_however_often_its_end_is_seen(w):
    run_id = run_to_end(w)
    # WHEN workers see the last chunk counted again (a redelivered chunk, a second worker)
    w.worker._finish_if_done(run_id)
    w.worker.handle(PlanMessage(run_id).to_json())
    # THEN the end was published once
    assert [(d["run_id"], d["status"]) for d in w.bus.published] == [(run_id, "completed")]


def test_a_run_that_fails_at_planning_publishes_one_failed_event(w):
    run_id = trigger(w)
    (w.root / INPUT).unlink()
    w.worker.handle(w.queue.take()[0].to_json())
    [ended] = w.bus.published
    assert (ended["run_id"], ended["status"]) == (run_id, "failed")
    assert "file not found" in ended["error_message"]


def test_a_cancel_publishes_one_cancelled_event_and_a_second_cancel_none(w):
    run_id = trigger(w)
    service(w).cancel(OPEN, run_id)
    service(w).cancel(OPEN, run_id)
    assert [(d["run_id"], d["status"]) for d in w.bus.published] == [(run_id, "cancelled")]


def test_the_reaper_publishes_the_end_of_a_stalled_run_once(w):
    run_id = trigger(w)
    later = datetime.now(timezone.utc) + timedelta(seconds=w.settings.stalled_after_seconds + 60)
    w.reaper.reap(now=later)
    w.reaper.reap(now=later)
    [ended] = w.bus.published
    assert (ended["run_id"], ended["status"]) == (run_id, "failed")
    assert ended["error_message"].startswith("the run stopped moving")


def test_an_end_its_function_did_not_live_to_announce_is_announced_by_the_reaper_whole(w):
    # GIVEN a run with a webhook, ended by its update alone (its function died before it announced the end)
    run_id = trigger(w, notify=NOTIFY)
    w.queue.take()
    ended = w.store.cancel(run_id, by=OPEN.principal)
    # WHEN the reaper looks minutes later, twice
    later = datetime.now(timezone.utc) + timedelta(seconds=600)
    assert w.reaper.reap(now=later)["announced"] == [run_id]
    assert w.reaper.reap(now=later)["announced"] == []
    # THEN the end is announced once, as its function would have: the event, the webhook's call, the report
    assert w.bus.published == [run_ended_event(ended)]
    [call] = w.queue.notices
    assert call.event == run_ended_event(ended) and call.webhook_url == HOOK
    assert w.queue.reconciles == [ReconcileMessage(run_id)]


def test_a_dead_lettered_plan_and_a_dead_lettered_last_chunk_each_publish_once(w):
    planless = trigger(w)
    plan = w.queue.take()[0]
    w.worker.handle_dead_letter(plan.to_json())
    w.worker.handle_dead_letter(plan.to_json())
    chunked = trigger(w)
    w.worker.handle(w.queue.take()[0].to_json())
    first, second, third = w.queue.take()
    w.worker.handle(first.to_json())
    w.worker.handle(second.to_json())
    w.worker.handle_dead_letter(third.to_json())
    w.worker.handle_dead_letter(third.to_json())
    assert [(d["run_id"], d["status"]) for d in w.bus.published] == [(planless, "failed"), (chunked, "completed")]
    assert w.bus.published[1]["chunks"] == {"total": 3, "done": 2, "failed": 1}


def test_an_upload_recorded_as_failed_publishes_once_and_is_listed_with_its_reason(w):
    body = {"file_path": "s3://bucket/incoming/pension/x.csv", "record_type": "pension", "output_mode": "api",
            "metadata": {"source": "upload", "object_key": "incoming/pension/x.csv", "version_id": "v1"}}
    reason = "record_type: unknown record type 'pension' (supported: ...)"
    assert service(w).record_failed_upload(OPEN, "7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a69", body, reason,
                                           body["metadata"]) is True
    assert service(w).record_failed_upload(OPEN, "7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a69", body, reason,
                                           body["metadata"]) is False  # the notification came again
    [listed] = service(w).recent(OPEN, ListQuery(limit=10))["migrations"]
    assert (listed["status"], listed["error_message"], listed["record_type"]) == ("failed", reason, "pension")
    assert service(w).running(OPEN)["count"] == 0
    [ended] = w.bus.published
    assert (ended["status"], ended["error_message"]) == ("failed", reason)


def test_a_failed_upload_whose_folder_names_no_record_type_is_shown_as_unknown(w):
    body = {"file_path": "s3://bucket/incoming/x.csv", "record_type": "", "output_mode": "file", "metadata": {}}
    service(w).record_failed_upload(OPEN, "7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a70", body, "file_path: ...", {})
    run = w.store.get("7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a70")
    assert (run.record_type, run.status, run.output_mode.value, run.completed_at) == (
        "unknown", RunStatus.FAILED, "file", run.created_at)
    assert [s["step"] for s in run.step_history] == ["initializing", "failed"]
    assert [(a["action"], a["by"]) for a in run.audit] == [("started", OPEN.principal)]


def failed_notifications(capsys) -> float:
    return totals(documents(capsys), "NotificationsFailed", Channel="event")


def test_an_event_the_bus_refuses_fails_nothing_and_is_published_again_by_a_worker(w, capsys):
    # GIVEN EventBridge refusing every event
    w.bus.refusing = True
    # WHEN a run ends
    run_id = run_to_end(w)
    # THEN it ended as it would have, its counts whole, and its event waits on the work queue, not lost
    run = w.store.get(run_id)
    assert (run.status, run.success_count, run.error_count) == (RunStatus.COMPLETED, 4, 1)
    assert w.bus.published == []
    (waiting,) = [m for m in w.queue.take() if isinstance(m, PublishMessage)]
    assert waiting.event == run_ended_event(run)
    # WHEN a worker tries while the bus still refuses, THEN it raises, so that the queue brings the message back
    with pytest.raises(EventNotPublished):
        w.worker.handle(waiting.to_json())
    # WHEN the bus takes events again, THEN the same document is published, once, and nothing was counted lost
    w.bus.refusing = False
    w.worker.handle(waiting.to_json())
    assert w.bus.published == [run_ended_event(run)]
    assert failed_notifications(capsys) == 0


def test_an_event_that_fails_on_every_attempt_or_cannot_be_queued_is_counted_lost(w, capsys):
    # GIVEN a run whose event the bus refused, and whose publish message failed on every attempt
    w.bus.refusing = True
    run_id = run_to_end(w)
    (waiting,) = [m for m in w.queue.take() if isinstance(m, PublishMessage)]
    capsys.readouterr()
    # WHEN the dead-letter queue hands it over, THEN it is counted for the operators' alarm
    w.worker.handle_dead_letter(waiting.to_json())
    assert failed_notifications(capsys) == 1
    # AND an end whose event can be neither published nor queued is counted at once
    w.queue.refusing_publishes = True
    w.service.cancel(OPEN, trigger(w))
    assert failed_notifications(capsys) == 1
    assert [m for m in w.queue.take() if isinstance(m, PublishMessage)] == []
    assert w.store.get(run_id).status == RunStatus.COMPLETED


def test_a_report_that_could_not_be_queued_is_flagged_and_asked_for_again_builds_it(w):
    # GIVEN the queue refusing reconcile messages
    w.queue.refusing_reconciles = True
    # WHEN a run ends
    run_id = run_to_end(w)
    # THEN it ended as it would have, and is flagged: its report is not coming by itself
    run = w.store.get(run_id)
    assert (run.status, run.success_count, run.error_count) == (RunStatus.COMPLETED, 4, 1)
    assert run.reconciliation["failed"] == "the reconciliation report could not be queued"
    with pytest.raises(RunConflict, match=r"could not be queued .*POST \.\.\./[0-9a-f-]+/reconciliation builds it"):
        w.service.reconciliation(OPEN, run_id)
    # WHEN it is asked for again while the queue still refuses
    with pytest.raises(ConnectionError):
        w.service.rebuild_report(OPEN, run_id)
    # THEN it is flagged again, so that it can be asked for once more, not "not written yet" for ever
    assert w.store.get(run_id).reconciliation["failed"] == "the reconciliation report could not be queued"
    assert w.queue.reconciles == []
    # WHEN the queue takes messages again and the report is asked for again
    w.queue.refusing_reconciles = False
    answer = w.service.rebuild_report(OPEN, run_id)
    # THEN the flag is off (not written yet), one message is queued, and the audit trail says who asked, each time
    assert answer == {"run_id": run_id, "message": f"Migration {run_id}: its reconciliation report is being built "
                                                   f"again; GET .../reconciliation answers 409 until it is written"}
    assert w.store.get(run_id).reconciliation is None
    assert w.queue.reconciles == [ReconcileMessage(run_id)]
    trail = [(a["action"], a["by"]) for a in w.store.get(run_id).audit]
    assert trail[-2:] == [("report_requested", OPEN.principal)] * 2
    # AND asking again before it is built queues nothing more
    with pytest.raises(RunConflict, match="is being built already"):
        w.service.rebuild_report(OPEN, run_id)
    assert len(w.queue.reconciles) == 1
    # WHEN the worker builds it, THEN it replaces the flag, and a written report is not queued again
    w.worker.handle(w.queue.reconciles.pop().to_json())
    assert w.store.get(run_id).reconciliation["balanced"] is True
    with pytest.raises(RunConflict, match="is written"):
        w.service.rebuild_report(OPEN, run_id)
    assert w.queue.reconciles == []


def test_a_report_is_not_asked_for_again_while_its_run_is_going(w):
    run_id = trigger(w)
    with pytest.raises(RunConflict, match="pending: its reconciliation report is built when it ends"):
        w.service.rebuild_report(OPEN, run_id)
    assert w.queue.reconciles == [] and [a["action"] for a in w.store.get(run_id).audit] == ["started"]


# ------------------------------------------------------------------------ webhooks

def test_a_run_that_names_a_webhook_keeps_its_key_in_the_vault_only(w):
    run_id = trigger(w, notify=NOTIFY)
    run = w.store.get(run_id)
    assert run.notify_url == HOOK and run.notify_secret_ref == w.vault.webhook_secret_name(run_id)
    assert w.vault.webhook_secret(run.notify_secret_ref) == KEY
    assert KEY not in repr(run) and KEY not in json.dumps(service(w).status(OPEN, run_id, include_details=True))


def test_a_webhook_off_the_allow_list_or_to_a_private_address_is_refused_at_trigger(w):
    with pytest.raises(InvalidRequest) as caught:
        trigger(w, notify={**NOTIFY, "webhook_url": "https://elsewhere.example.org/hook"})
    assert caught.value.detail.startswith("notify.webhook_url: ")
    svc = service(w)
    svc.outbound = OutboundPolicy(w.settings.outbound_allowlist, resolve=lambda *a, **k: [
        (2, 1, 6, "", ("10.0.0.7", 443))])
    with pytest.raises(InvalidRequest) as caught:
        svc.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file", "notify": NOTIFY})
    assert caught.value.detail == "notify.webhook_url: resolves to a private address (10.0.0.7)"
    assert w.store.runs == {} and w.vault.secrets == {}


def test_an_end_with_a_webhook_queues_one_call_with_the_published_document(w):
    run_id = run_to_end(w, notify=NOTIFY)
    [message] = w.queue.notices
    assert parse_message(message.to_json()) == message
    assert (message.run_id, message.webhook_url, message.event) == (run_id, HOOK, w.bus.published[0])
    assert message.secret_ref == w.store.get(run_id).notify_secret_ref and KEY not in message.to_json()
    assert w.store.get(run_id).notification["status"] == "pending"


class Answer:
    def __init__(self, status: int, headers: dict | None = None):
        self.status_code, self.headers = status, headers or {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ScriptedSession:
    """A requests session whose answers are given in advance: a status, or an exception to raise."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[dict] = []

    def post(self, url, data, headers, timeout, allow_redirects, stream):
        self.calls.append({"url": url, "data": data, "headers": dict(headers), "allow_redirects": allow_redirects})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return Answer(*step) if isinstance(step, tuple) else Answer(step)


def sender(w, *script) -> tuple[WebhookSender, ScriptedSession, list[float]]:
    session, slept = ScriptedSession(*script), []
    return (WebhookSender(w.store, w.vault, session, OutboundPolicy(("https://hooks.example.com",), resolve=public),
                          sleep=slept.append), session, slept)


def ended_with_webhook(w) -> tuple[str, NotifyMessage]:
    run_id = run_to_end(w, notify=NOTIFY)
    return run_id, w.queue.notices[0]


def test_a_webhook_call_is_signed_so_a_receiver_can_check_it(w):
    run_id, message = ended_with_webhook(w)
    webhooks, session, _ = sender(w, 204)
    webhooks.deliver(message)
    [call] = session.calls
    headers, body = call["headers"], call["data"]
    assert call["allow_redirects"] is False and json.loads(body) == message.event
    assert headers["X-Event-Id"] == message.event["event_id"]
    expected = hmac.new(KEY.encode(), headers["X-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == f"sha256={expected}" == sign(KEY, headers["X-Timestamp"], body)
    assert verify_signature(KEY, headers["X-Timestamp"], body, headers["X-Signature"])  # docs' receiver
    assert not verify_signature("another-receivers-key!", headers["X-Timestamp"], body, headers["X-Signature"])
    assert not verify_signature(KEY, headers["X-Timestamp"], body + b" ", headers["X-Signature"])
    assert not verify_signature(KEY, str(int(headers["X-Timestamp"]) - 3600), body, headers["X-Signature"])
    notification = w.store.get(run_id).notification
    assert (notification["status"], notification["attempts"], notification["last_error"]) == ("delivered", 1, None)
    assert w.vault.webhook_secret(message.secret_ref) is None  # its key has served


def test_a_webhook_is_called_again_after_a_5xx_a_timeout_or_a_dropped_connection(w):
    run_id, message = ended_with_webhook(w)
    webhooks, session, slept = sender(w, 500, requests.ConnectTimeout(), (503, {"Retry-After": "7"}),
                                      requests.ConnectionError(), 200)
    webhooks.deliver(message)
    assert len(session.calls) == 5 and slept == [BACKOFF_SECONDS[0], BACKOFF_SECONDS[1], 7, BACKOFF_SECONDS[3]]
    assert w.store.get(run_id).notification["status"] == "delivered"
    assert len({c["headers"]["X-Event-Id"] for c in session.calls}) == 1


def test_a_webhook_that_keeps_failing_is_given_up_after_its_last_attempt(w):
    run_id, message = ended_with_webhook(w)
    webhooks, session, slept = sender(w, *[502] * MAX_ATTEMPTS)
    webhooks.deliver(message)
    notification = w.store.get(run_id).notification
    assert (notification["status"], notification["attempts"], notification["last_error"]) == (
        "failed", MAX_ATTEMPTS, "HTTP 502")
    assert len(session.calls) == MAX_ATTEMPTS and len(slept) == MAX_ATTEMPTS - 1


@pytest.mark.parametrize("status, error", [(302, "HTTP 302 (a redirect, which is not followed)"), (404, "HTTP 404"),
                                           (401, "HTTP 401")])
def test_a_redirect_or_a_4xx_fails_the_webhook_at_once(w, status, error):
    run_id, message = ended_with_webhook(w)
    webhooks, session, slept = sender(w, status)
    webhooks.deliver(message)
    assert (w.store.get(run_id).notification["last_error"], len(session.calls), slept) == (error, 1, [])


def test_a_webhook_whose_url_the_stage_no_longer_calls_is_not_called(w):
    run_id, message = ended_with_webhook(w)
    webhooks, session, _ = sender(w)
    webhooks.outbound = OutboundPolicy(("https://hooks.example.com",), resolve=lambda *a, **k: [
        (2, 1, 6, "", ("169.254.169.254", 443))])
    webhooks.deliver(message)
    notification = w.store.get(run_id).notification
    assert (notification["status"], notification["attempts"], session.calls) == ("failed", 0, [])
    assert "cloud metadata address" in notification["last_error"]


def test_a_notify_message_that_comes_again_after_its_outcome_calls_nothing(w):
    _, message = ended_with_webhook(w)
    webhooks, session, _ = sender(w, 200)
    webhooks.deliver(message)
    webhooks.deliver(message)
    assert len(session.calls) == 1


def test_a_notify_message_without_its_key_comes_back_and_is_given_up_by_the_dead_letter_handler(w):
    run_id, message = ended_with_webhook(w)
    w.vault.forget(message.secret_ref)  # as if the trigger died before it stored the key
    with pytest.raises(WebhookKeyMissing):
        w.worker.handle(message.to_json())
    w.worker.handle_dead_letter(message.to_json())
    notification = w.store.get(run_id).notification
    assert notification["status"] == "failed" and "any attempt" in notification["last_error"]


def test_a_late_outcome_of_an_earlier_end_does_not_overwrite_a_later_ends(w):
    run_id, message = ended_with_webhook(w)
    later = {**message.event, "event_id": "a-later-end"}
    w.store.record_notification(run_id, {"event_id": "a-later-end", "status": "pending", "attempts": 0,
                                         "last_error": None, "updated_at": "2030-01-01T00:00:00.000Z"}, new_end=True)
    webhooks, _, _ = sender(w, 200)
    webhooks.deliver(message)
    assert w.store.get(run_id).notification["event_id"] == later["event_id"]


def test_the_status_shows_the_webhooks_outcome_without_its_key_or_query(w):
    run_id = run_to_end(w, notify={**NOTIFY, "webhook_url": HOOK + "?token=abc"})
    sender(w, 204)[0].deliver(w.queue.notices[0])
    shown = service(w).status(OPEN, run_id)["notification"]
    assert shown["webhook_url"] == HOOK and shown["status"] == "delivered" and "abc" not in json.dumps(shown)


def test_a_retry_names_its_own_webhook_or_none(w):
    # GIVEN a run with a webhook whose second chunk failed for good
    run_id = trigger(w, notify=NOTIFY)
    worker = w.worker
    worker.handle(w.queue.take()[0].to_json())
    first, second, third = w.queue.take()
    worker.handle(first.to_json())
    worker.handle_dead_letter(second.to_json())
    worker.handle(third.to_json())
    sender(w, 204)[0].deliver(w.queue.notices[0])
    w.queue.take()
    # WHEN it is retried with a webhook of its own
    service(w).retry(OPEN, run_id, {"notify": {"webhook_url": HOOK + "/retry", "secret": "the-retrys-own-key!"}})
    run = w.store.get(run_id)
    assert run.notify_url == HOOK + "/retry"
    assert w.vault.webhook_secret(run.notify_secret_ref) == "the-retrys-own-key!"
    for message in w.queue.take():
        worker.handle(message.to_json())
    # THEN its end calls that one
    [notice] = w.queue.notices
    assert notice.webhook_url == HOOK + "/retry" and notice.event["retry_count"] == 1
    assert [d["status"] for d in w.bus.published] == ["completed", "completed"]


def test_a_retry_without_notify_calls_no_webhook_at_its_end(w):
    run_id = trigger(w, notify=NOTIFY)
    worker = w.worker
    worker.handle(w.queue.take()[0].to_json())
    chunks = w.queue.take()
    for chunk in chunks:
        worker.handle_dead_letter(chunk.to_json())
    w.queue.take()
    service(w).retry(OPEN, run_id, {})
    assert w.store.get(run_id).notify_url is None
    for message in w.queue.take():
        worker.handle(message.to_json())
    assert w.store.get(run_id).status == RunStatus.COMPLETED and len(w.bus.published) == 2
    assert w.queue.notices == []


# ------------------------------------------------------------------------ as the API describes them

@pytest.fixture(scope="module")
def description() -> dict:
    from chalicelib import openapi
    return openapi.document(APP)


def test_a_status_with_its_webhooks_outcome_and_a_failed_uploads_run_answer_as_described(w, description):
    run_id = run_to_end(w, notify=NOTIFY)
    pending = service(w).status(OPEN, run_id, include_details=True)
    sender(w, 500, 204)[0].deliver(w.queue.notices[0])
    delivered = service(w).status(OPEN, run_id)
    body = {"file_path": "s3://bucket/incoming/x.csv", "record_type": "", "output_mode": "api", "metadata": {}}
    service(w).record_failed_upload(OPEN, "7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a71", body, "file_path: ...", {})
    failed = service(w).status(OPEN, "7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a71", include_details=True)
    for answer in (pending, delivered, failed):
        assert_described(description, "GET", "/api/v1/migrations/status/{run_id}", answer)
    assert_described(description, "GET", "/api/v1/migrations", service(w).recent(OPEN, ListQuery(limit=20)))
    assert pending["notification"]["status"] == "pending" and delivered["notification"]["attempts"] == 2


def test_the_docs_receiver_check_accepts_the_services_signature_and_refuses_others():
    # GIVEN the verify function docs/notifications.md gives receivers, run as written
    import os
    import re
    import time

    from local_stack.environment import PROJECT_DIR
    with open(os.path.join(PROJECT_DIR, "docs", "notifications.md"), encoding="utf-8") as f:
        section = f.read().split("### Checking a call", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/notifications.md", "exec"), namespace)  # noqa: S102 (our own docs)
    verify = namespace["verify"]
    # WHEN it checks what the service signs, THEN it accepts that and nothing else
    body, now = b'{"run_id":"r"}', str(int(time.time()))
    assert verify(KEY, now, body, sign(KEY, now, body))
    assert not verify(KEY, now, body + b"x", sign(KEY, now, body))
    assert not verify("another-key-entirely", now, body, sign(KEY, now, body))
    old = str(int(time.time()) - 3600)
    assert not verify(KEY, old, body, sign(KEY, old, body))


@pytest.mark.parametrize("output_mode, shown", [({"not": "a mode"}, "api"), ("fax", "api"), ("file", "file")])
def test_a_failed_upload_keeps_a_valid_output_mode_of_its_request_only(w, output_mode, shown):
    body = {"file_path": "s3://bucket/incoming/claim/x.csv", "record_type": "claim", "output_mode": output_mode,
            "batch_size": 0, "metadata": {}}
    service(w).record_failed_upload(OPEN, "7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a72", body, "batch_size: ...", {})
    assert w.store.get("7e0c2f8e-7a0a-4b43-9d7f-1f2d3c4b5a72").output_mode.value == shown
