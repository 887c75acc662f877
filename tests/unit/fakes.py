"""Hand-written fakes of the service's ports, for unit tests of its use cases (Cosmic Python style).

Each fake offers the public methods of the adapter it stands for, with the same
meaning, in memory:

- `FakeRunStore` for `chalicelib.runs.RunStore` (runs and chunk markers in a
  DynamoDB table): the same conditions decide whether a transition happens, and
  `get` hands out a copy, as reading an item does;
- `FakeWorkQueue` for `chalicelib.work_queue.WorkQueue` (SQS): the messages sent,
  in order;
- `FakeVault` for `chalicelib.credentials.CredentialVault` (Secrets Manager);
- `FakeEventBus` for `chalicelib.notifications.EventBus` (EventBridge): the run-end
  documents published, in order.

The data root is the real `DataRoot` over a temporary folder (`local_data_root`);
`wire` puts the service, the worker and the reaper together over them.
test_service.py checks that each fake keeps the methods of its adapter.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.bootstrap import checked_record_specs, record_specs
from chalicelib.config import Settings
from chalicelib.messages import ChunkMessage, NotifyMessage, PlanMessage, PublishMessage, ReconcileMessage
from chalicelib.models import RunStatus, Step, steps_before
from chalicelib.notifications import EventBus, EventNotPublished, RunEndNotices
from chalicelib.outbound import OutboundPolicy
from chalicelib.run import Run, audit_entry
from chalicelib.runs import chunk_marker, now_iso
from chalicelib.service import MigrationService
from chalicelib.storage import DataRoot

if TYPE_CHECKING:
    from chalicelib.reaper import Reaper
    from chalicelib.worker import Worker

ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


def local_data_root(folder) -> DataRoot:
    """The real data root over a local folder; a path to a bucket is refused, and S3 is never called."""
    def no_s3():
        raise AssertionError("a unit test reached for S3")
    return DataRoot(str(folder), set(), no_s3)


class FakeRunStore:
    """RunStore in memory: runs by id, and each run's chunk markers by chunk number."""

    def __init__(self, marker_ttl_seconds: int = 30 * 24 * 3600):
        self.runs: dict[str, Run] = {}
        self.markers: dict[str, dict[int, dict]] = {}
        self.plan_parts: dict[str, set[str]] = {}  # the parts of each fanned-out plan counted so far
        self.unannounced: set[str] = set()  # ended runs whose end is not announced yet
        self._marker_ttl = marker_ttl_seconds

    # ----------------------------------------------------------------- create/read
    def create(self, run: Run) -> bool:
        if run.run_id in self.runs:
            return False
        self.runs[run.run_id] = copy.deepcopy(run)
        if not run.active:
            self.unannounced.add(run.run_id)
        return True

    def set_credentials(self, run_id: str, credentials_ref: str) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status != RunStatus.PENDING:
            return False
        run.credentials_ref = credentials_ref
        return True

    def get(self, run_id: str, consistent: bool = True) -> Run | None:
        run = self.runs.get(run_id)
        return copy.deepcopy(run) if run is not None else None

    def list_active(self, tenant: str | None = None) -> list[Run]:
        return [copy.deepcopy(r) for r in self._newest_first() if r.active and tenant in (None, r.tenant)]

    def list_unannounced(self) -> list[Run]:
        return [copy.deepcopy(r) for r in self._newest_first() if r.run_id in self.unannounced]

    def mark_announced(self, run_id: str) -> bool:
        if run_id not in self.unannounced:
            return False
        self.unannounced.discard(run_id)
        return True

    def list_runs(self, tenant: str, limit: int, status: str | None = None, record_type: str | None = None,
                  since: str | None = None, until: str | None = None, after: tuple[str, str] | None = None,
                  max_read: int = 2000) -> tuple[list[Run], tuple[str, str] | None]:
        # the index's order: created_at, then the table key, newest first
        runs = sorted((r for r in self.runs.values() if r.tenant == tenant
                       and (since is None or r.created_at >= since) and (until is None or r.created_at <= until)),
                      key=lambda r: (r.created_at, r.run_id), reverse=True)
        if after:
            runs = [r for r in runs if (r.created_at, r.run_id) < after]
        page, read = [], 0
        for run in runs:
            if len(page) == limit:
                return page, (page[-1].created_at, page[-1].run_id)
            if read == max_read:
                return page, (runs[read - 1].created_at, runs[read - 1].run_id)
            read += 1
            if (status is None or _outcome_key(run) == status or run.status.value == status) and \
                    record_type in (None, run.record_type):
                page.append(copy.deepcopy(run))
        return page, None

    def count_outcomes(self, tenant: str, record_type: str | None = None, since: str | None = None,
                       until: str | None = None, max_runs: int = 10_000) -> tuple[dict[str, int], bool]:
        counts = dict.fromkeys(("pending", "running", "completed", "completed_with_rejections", "failed",
                                "cancelled"), 0)
        runs = [r for r in self._newest_first() if r.tenant == tenant and record_type in (None, r.record_type)
                and (since is None or r.created_at >= since) and (until is None or r.created_at <= until)]
        for run in runs[:max_runs]:
            counts[_outcome_key(run)] += 1
        return counts, len(runs) <= max_runs

    def recent_measures(self, tenant: str, record_type: str, output_mode, validate_only: bool,
                        max_read: int = 200, wanted: int = 10) -> list[dict]:
        return [{"input_bytes": r.input_bytes, "total_records": r.total_records, "duration": r.duration}
                for r in self._newest_first()[:max_read]
                if r.tenant == tenant and r.status == RunStatus.COMPLETED and r.record_type == record_type
                and r.output_mode == output_mode and r.validate_only == validate_only and r.duration][:wanted]

    def _newest_first(self) -> list[Run]:
        # both indexes are sorted on created_at, read newest first
        return sorted(self.runs.values(), key=lambda r: r.created_at, reverse=True)

    # --------------------------------------------------------------- transitions
    def start_planning(self, run_id: str) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status != RunStatus.PENDING:
            return False
        at = now_iso()
        run.status, run.started_at, run.updated_at = RunStatus.RUNNING, at, at
        run.chunk_live = run.chunk_live or {}
        self._step(run, Step.WORKFLOW_INITIALIZED, at)
        return True

    def advance_step(self, run_id: str, step: Step, extra: dict | None = None) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return False
        earlier = steps_before(step)
        if earlier and run.current_step not in earlier:
            return False  # a step never goes back
        at = now_iso()
        run.updated_at = at
        self._step(run, step, at)
        for name, value in (extra or {}).items():
            setattr(run, name, value)
        return True

    def record_plan(self, run_id: str, total_records: int, chunks_total: int, header: list[str],
                    input_sha256: str | None = None, input_bytes: int | None = None,
                    input_version: str | None = None) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return False
        at = now_iso()
        run.total_records, run.chunks_total, run.header = total_records, chunks_total, list(header)
        run.input_sha256 = input_sha256 or run.input_sha256
        run.input_bytes = input_bytes if input_bytes is not None else run.input_bytes
        run.input_version = input_version or run.input_version
        run.planned_at = run.updated_at = at
        self._step(run, Step.DATA_MAPPING, at)
        return True

    def count_chunk(self, run_id: str, chunk: int, success: int, errors: int, failed: bool = False,
                    reason: str | None = None, rule_counts: dict[str, int] | None = None,
                    error_rows: int = 0, message: ChunkMessage | None = None, totals: dict | None = None) -> bool:
        markers = self.markers.setdefault(run_id, {})
        if chunk in markers:
            return False  # counted before: exactly once
        markers[chunk] = chunk_marker(run_id, chunk, success, errors, failed, reason, error_rows, message,
                                      self._marker_ttl, totals)
        run = self.runs.get(run_id)
        if run is not None:  # like the table's update, it does not look at the run's status
            run.chunk_live.pop(str(chunk), None)
            run.success_count += success
            run.error_count += errors
            if failed:
                run.chunks_failed += 1
            else:
                run.chunks_done += 1
            for rule, count in (rule_counts or {}).items():
                run.error_rules[rule] = run.error_rules.get(rule, 0) + count
            run.updated_at = now_iso()
        return True

    def note_live(self, run_id: str, chunk: int, records: int) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return False
        run.chunk_live[str(chunk)] = records
        return True

    def chunk_markers(self, run_id: str) -> list[dict]:
        markers = self.markers.get(run_id, {})
        return [copy.deepcopy(markers[n]) for n in sorted(markers)]

    def chunk_counted(self, run_id: str, chunk: int) -> bool:
        return chunk in self.markers.get(run_id, {})

    def finish_if_done(self, run: Run, status: RunStatus, error_message: str | None = None) -> Run | None:
        current = self.runs.get(run.run_id)
        if (current is None or current.status != RunStatus.RUNNING or current.chunks_done != run.chunks_done
                or current.chunks_failed != run.chunks_failed):
            return None  # another worker ended it, or counted another chunk since `run` was read
        at = now_iso()
        current.status, current.completed_at, current.updated_at = status, at, at
        current.duration = _seconds_between(run.started_at, at)
        current.current_step = Step.COMPLETED if status == RunStatus.COMPLETED else run.current_step
        current.step_history.append(
            {"step": Step.COMPLETED.value if status == RunStatus.COMPLETED else status.value, "at": at})
        if error_message:
            current.error_message = error_message
        self.unannounced.add(run.run_id)
        return copy.deepcopy(current)  # the run as it ended, as the table's update answers it

    def fail(self, run_id: str, error_message: str, run: Run | None = None) -> Run | None:
        return self._end(run_id, RunStatus.FAILED, run, error_message=error_message)

    def cancel(self, run_id: str, run: Run | None = None, by: str = "") -> Run | None:
        return self._end(run_id, RunStatus.CANCELLED, run, audit=("cancelled", by))

    def _end(self, run_id: str, status: RunStatus, seen: Run | None, error_message: str | None = None,
             audit: tuple[str, str] | None = None) -> Run | None:
        current = self.runs.get(run_id)
        if current is None or not current.active:
            return None
        seen = seen if seen is not None else current
        at = now_iso()
        current.status, current.completed_at, current.updated_at = status, at, at
        current.duration = _seconds_between(seen.started_at or seen.created_at, at)
        current.step_history.append({"step": status.value, "at": at})
        if status == RunStatus.CANCELLED:
            current.cancelled_at = at
        if error_message is not None:
            current.error_message = error_message
        if audit:
            current.audit.append(audit_entry(*audit, at))
        self.unannounced.add(run_id)
        return copy.deepcopy(current)

    def reopen_for_retry(self, run: Run, failed_chunks: int, credentials_ref: str | None, by: str = "",
                         notify: tuple[str, str] | None = None) -> bool:
        current = self.runs.get(run.run_id)
        if (current is None or current.status not in (RunStatus.COMPLETED, RunStatus.FAILED)
                or current.chunks_failed != failed_chunks):
            return False
        at = now_iso()
        current.status, current.updated_at, current.current_step = RunStatus.RUNNING, at, Step.DATA_MAPPING
        self.unannounced.discard(run.run_id)  # active again
        current.retry_count += 1
        current.chunk_live = {}
        current.step_history.append({"step": "retry", "at": at, "chunks": failed_chunks})
        current.audit.append(audit_entry("retried", by, at))
        if credentials_ref:
            current.credentials_ref = credentials_ref
        current.notify_url, current.notify_secret_ref = notify if notify else (None, None)
        current.notification = None
        current.completed_at = current.duration = current.error_message = None
        current.reconciliation = None
        return True

    def record_reconciliation(self, run_id: str, reconciliation: dict, ended_at: str | None) -> bool:
        current = self.runs.get(run_id)
        if current is None or current.active or (ended_at and current.completed_at != ended_at):
            return False
        current.reconciliation = dict(reconciliation)
        return True

    def request_report(self, run_id: str, by: str) -> bool:
        current = self.runs.get(run_id)
        if current is None or current.active or "failed" not in (current.reconciliation or {}):
            return False
        current.reconciliation = None
        current.audit.append(audit_entry("report_requested", by, now_iso()))
        return True

    def uncount_failed_chunk(self, run_id: str, marker: dict) -> bool:
        markers = self.markers.get(run_id, {})
        chunk = int(marker["chunk"])
        if markers.get(chunk, {}).get("outcome") != "failed":
            return False
        del markers[chunk]
        rows = int(marker["error_count"])
        run = self.runs[run_id]
        run.error_count -= rows
        run.chunks_failed -= 1
        run.error_rules["chunk_failed"] = run.error_rules["chunk_failed"] - rows  # as the table's SET does
        return True

    def note_plan_part(self, run_id: str, part: str) -> set[str] | None:
        run = self.runs.get(run_id)
        if run is None or run.status != RunStatus.RUNNING or run.planned:
            return None
        parts = self.plan_parts.setdefault(run_id, set())
        parts.add(part)
        return set(parts)

    def note_input_sha256(self, run_id: str, sha256: str) -> bool:
        run = self.runs.get(run_id)
        if run is None:
            return False
        run.input_sha256 = sha256
        return True

    def note_replan(self, run_id: str, seen_count: int) -> bool:
        run = self.runs.get(run_id)
        if run is None or not run.active or run.planned or run.replan_count != seen_count:
            return False
        run.replan_count = seen_count + 1
        run.updated_at = now_iso()
        return True

    def forget_credentials(self, run_id: str, reference: str) -> None:
        if run_id in self.runs and self.runs[run_id].credentials_ref == reference:
            self.runs[run_id].credentials_ref = None

    def record_notification(self, run_id: str, notification: dict, new_end: bool = False) -> bool:
        run = self.runs.get(run_id)
        if run is None or not (new_end or run.notification is None
                               or run.notification.get("event_id") == notification["event_id"]):
            return False
        run.notification = dict(notification)
        return True

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _step(run: Run, step: Step, at: str) -> None:
        run.current_step = step
        run.step_history.append({"step": step.value, "at": at})


def _outcome_key(run: Run) -> str:
    """A run's key in the list's counts by status: completed runs with rejections apart."""
    if run.status == RunStatus.COMPLETED and run.error_count:
        return "completed_with_rejections"
    return run.status.value


def _seconds_between(start: str | None, end: str) -> float | None:
    if not start:
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return round((parse(end) - parse(start)).total_seconds(), 3)


class FakeWorkQueue:
    """WorkQueue in memory: every message sent, in order, as the message objects the real one serialises."""

    def __init__(self):
        self.sent: list[PlanMessage | ChunkMessage] = []
        self.reconciles: list[ReconcileMessage] = []
        self.refusing_reconciles = False  # SQS refusing them (throttled, down)
        self.refusing_publishes = False

    def send_plan(self, run_id: str) -> None:
        self.sent.append(PlanMessage(run_id))

    def send_notify(self, message: NotifyMessage) -> None:
        self.sent.append(message)

    def send_publish(self, message: PublishMessage) -> None:
        if self.refusing_publishes:
            raise ConnectionError("the queue refused the message")
        self.sent.append(message)

    def send_chunks(self, chunks) -> None:
        self.sent.extend(chunks)

    def send_ranges(self, parts) -> None:
        self.sent.extend(parts)

    def send_reconcile(self, run_id: str) -> None:
        # Kept apart from the work a test drains: a test that wants a run's report hands these to the worker.
        if self.refusing_reconciles:
            raise ConnectionError("the queue refused the message")
        self.reconciles.append(ReconcileMessage(run_id))

    # ------------------------------------------------------------------ for tests
    @property
    def plans(self) -> list[PlanMessage]:
        return [m for m in self.sent if isinstance(m, PlanMessage)]

    @property
    def chunks(self) -> list[ChunkMessage]:
        return [m for m in self.sent if isinstance(m, ChunkMessage)]

    @property
    def notices(self) -> list[NotifyMessage]:
        return [m for m in self.sent if isinstance(m, NotifyMessage)]

    def take(self) -> list[PlanMessage | ChunkMessage]:
        """The messages waiting, as a worker would receive them; the queue is left empty."""
        taken, self.sent = self.sent, []
        return taken


class FakeVault:
    """CredentialVault in memory: secrets by name, the stage's default credentials under their own name."""

    def __init__(self, run_prefix: str = "records-migration/test/runs/", default_secret: str = "",
                 default_credentials: dict | None = None):
        self._prefix = run_prefix
        self._default = default_secret
        self.secrets: dict[str, dict] = {}
        if default_secret and default_credentials is not None:
            self.secrets[default_secret] = dict(default_credentials)

    def store_for_run(self, run_id: str, credentials: dict) -> str:
        name = f"{self._prefix}{run_id}"
        if name in self.secrets:
            raise ClientError({"Error": {"Code": "ResourceExistsException", "Message": name}}, "CreateSecret")
        self.secrets[name] = dict(credentials)
        return name

    def webhook_secret_name(self, run_id: str, retry_count: int = 0) -> str:
        return f"{self._prefix}{run_id}/webhook" + (f"-retry-{retry_count}" if retry_count else "")

    def store_webhook_secret(self, name: str, run_id: str, secret: str) -> str:
        self.secrets.setdefault(name, {"webhook_secret": secret})
        return name

    def webhook_secret(self, reference: str) -> str | None:
        return self.secrets.get(reference, {}).get("webhook_secret")

    def for_run(self, reference: str | None) -> dict | None:
        for name in (reference, self._default):
            if not name:
                continue
            if name in self.secrets:
                return dict(self.secrets[name])
            if name == reference:
                raise LookupError("the run's credentials are gone (the run has ended)")
        return None

    def release(self, run: Run, store) -> None:
        if run.credentials_ref:
            self.forget(run.credentials_ref)
            store.forget_credentials(run.run_id, run.credentials_ref)

    def forget(self, reference: str) -> None:
        self.secrets.pop(reference, None)

    # ------------------------------------------------------------------ for tests
    @property
    def run_secrets(self) -> dict[str, dict]:
        """The secrets of runs (the stage's default left out)."""
        return {k: v for k, v in self.secrets.items() if k.startswith(self._prefix)}


class FakeEventBus(EventBus):
    """EventBus in memory: every document published, in order. With `refusing`, every publish raises, as
    EventBridge refusing the entry does."""

    def __init__(self):
        self.published: list[dict] = []
        self.refusing = False

    def publish(self, document: dict) -> None:
        if self.refusing:
            raise EventNotPublished("ThrottlingException")
        self.published.append(copy.deepcopy(document))


# ---------------------------------------------------------------------- wiring

@dataclass
class Wiring:
    """The use cases over the fakes and a local data root, wired as bootstrap wires them over AWS."""

    root: Path
    settings: Settings
    store: FakeRunStore
    queue: FakeWorkQueue
    vault: FakeVault
    data_root: DataRoot
    bus: FakeEventBus

    @property
    def notices(self) -> RunEndNotices:
        return RunEndNotices(self.bus, self.queue, self.store)

    @property
    def service(self) -> MigrationService:
        return MigrationService(self.store, self.queue, self.data_root, self.vault, record_specs(),
                                OutboundPolicy.from_settings(self.settings), notices=self.notices)

    @property
    def worker(self) -> "Worker":
        from chalicelib.worker import Worker
        # http=None: file output and validate_only make no call, and a call would fail loudly
        return Worker(self.settings, self.store, self.queue, self.data_root, self.vault, checked_record_specs(),
                      None, notices=self.notices)

    @property
    def reaper(self) -> "Reaper":
        from chalicelib.reaper import Reaper
        return Reaper(self.store, self.vault, self.queue, self.settings.stalled_after_seconds,
                      self.settings.replan_after_seconds, notices=self.notices)

    def write(self, relative: str, data: bytes) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return relative


def wire(root: Path, **environ: str) -> Wiring:
    """Fakes over `root`; `environ` are stage settings by their variable names (CHUNK_RECORDS="2")."""
    settings = Settings.from_environ({"STAGE": "test", "DATA_ROOT": str(root), **environ})
    return Wiring(root, settings, FakeRunStore(settings.marker_ttl_seconds), FakeWorkQueue(),
                  FakeVault(settings.run_secrets_prefix, settings.target_credentials_secret),
                  local_data_root(root), FakeEventBus())


# ------------------------------------------------------------------- test data

EMPLOYEE_HEADER = ("EMP_ID,SSN,LAST_NAME,FIRST_NAME,MIDDLE_INIT,DOB,GENDER,MARITAL_STAT,HOME_ADDR,HIRE_DT,TERM_DT,"
                   "JOB_CLASS,ANNUAL_SALARY,PAY_FREQ,EMP_STATUS,WORK_STATE,GRP_POLICY_NO")


def employees_csv(records: int, bad: tuple[int, ...] = ()) -> bytes:
    """A delimited employee export of `records` records (rows 1..records); the rows in `bad` break one
    rule each (EMP_ID's pattern)."""
    lines = [EMPLOYEE_HEADER]
    for row in range(1, records + 1):
        emp_id = f"X{row}" if row in bad else f"E{1000000 + row:07d}"
        lines.append(f"{emp_id},611697455,JONES,FATIMA,,1988024,F,M,,2010040,,MGMT,71716.00,B,A,FL,POL105649")
    return ("\n".join(lines) + "\n").encode()
