"""A migration run: its request, state, counters and times, and the views the API gives of it.

The run store turns a table item into a `Run` and back (runs.py); every other
module works with this type, never with the raw item. Its defaults are defined
here once: an item written before a field existed reads that field's default.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from chalicelib.access import DEFAULT_TENANT

from chalicelib.models import (DEFAULT_BATCH_SIZE, DEFAULT_MAX_ERROR_RATE, DEFAULT_OUTPUT_DIR, InputFormat,
                               MigrationRequest, OutputMode, RunStatus, Step, STEP_RANK)
from chalicelib.progress import live_view, outcome_name


@dataclass
class Run:
    run_id: str
    file_path: str
    record_type: str
    output_mode: OutputMode
    created_at: str
    # whose it is: only callers of its tenant see it (access.py)
    tenant: str = DEFAULT_TENANT
    # who started, cancelled and retried it, and asked again for its report, and when: [{"action", "by", "at"}]
    audit: list[dict] = field(default_factory=list)
    # what was asked
    output_dir: str = DEFAULT_OUTPUT_DIR
    batch_size: int = DEFAULT_BATCH_SIZE
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    input_format: InputFormat = field(default_factory=InputFormat)
    validate_only: bool = False
    metadata: dict = field(default_factory=dict)
    own_credentials: bool = False      # the request brought credentials (kept in the vault, not here)
    request_fingerprint: str = ""      # what makes a repeated trigger the same request
    credentials_ref: str | None = None  # the vault's name for them, while the run needs them
    notify_url: str | None = None       # the webhook called when the run ends (chalicelib.notifications)
    notify_secret_ref: str | None = None  # the vault's name for the key its calls are signed with
    notification: dict | None = None    # how the last call went: {event_id, status, attempts, last_error, ...}
    # where it stands
    status: RunStatus = RunStatus.PENDING
    current_step: Step = Step.INITIALIZING
    step_history: list[dict] = field(default_factory=list)
    updated_at: str = ""
    started_at: str | None = None
    planned_at: str | None = None
    completed_at: str | None = None
    cancelled_at: str | None = None
    duration: float | None = None      # seconds from start (or creation) to the end
    error_message: str | None = None
    header: list[str] = field(default_factory=list)  # the file's column names, once planned
    input_sha256: str | None = None    # the input file's SHA-256 and size, taken while planning scanned it
    input_bytes: int | None = None
    # the version of the input the run was asked for, pinned when it was queued, which every read of it asks for
    # (chalicelib.storage: an S3 VersionId or ETag, a local file's inode, size and time); None for a run queued
    # before versions were kept
    input_version: str | None = None
    # the reconciliation report, once written at the run's end: {balanced, report, generated_at}; or, when it
    # could not be built on any attempt, {failed, failed_at} (chalicelib.reconciliation.Reconciler.give_up)
    reconciliation: dict | None = None
    # counters, exact: each chunk adds its counts once (DESIGN 4)
    total_records: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    chunks_failed: int = 0
    success_count: int = 0
    error_count: int = 0
    error_rules: dict[str, int] = field(default_factory=dict)
    retry_count: int = 0
    replan_count: int = 0
    # progress per delivery call, kept apart from the counters: chunk number -> records its current attempt has
    # delivered so far; a chunk's entry goes when it is counted (chalicelib.progress)
    chunk_live: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_request(cls, run_id: str, request: MigrationRequest, fingerprint: str, at: str, tenant: str,
                     started_by: str, notify_secret_ref: str | None = None) -> "Run":
        return cls(run_id=run_id, file_path=request.file_path, record_type=request.record_type,
                   output_mode=request.output_mode, created_at=at, tenant=tenant,
                   audit=[audit_entry("started", started_by, at)], output_dir=request.output_dir,
                   batch_size=request.batch_size, max_error_rate=request.max_error_rate,
                   input_format=request.input_format, validate_only=request.validate_only,
                   metadata=request.metadata, own_credentials=request.authentication is not None,
                   request_fingerprint=fingerprint, updated_at=at,
                   notify_url=request.notify.webhook_url if request.notify else None,
                   notify_secret_ref=notify_secret_ref if request.notify else None,
                   step_history=[{"step": Step.INITIALIZING.value, "at": at}])

    @classmethod
    def failed_at_start(cls, run_id: str, file_path: str, record_type: str, output_mode: OutputMode, at: str,
                        tenant: str, started_by: str, error_message: str, metadata: dict) -> "Run":
        """A run that ended before it began: an upload that could not start one (an unknown record type, a bad
        manifest, a file gone). It is kept, and listed, so that the reason is seen where runs are."""
        return cls(run_id=run_id, file_path=file_path, record_type=record_type, output_mode=output_mode,
                   created_at=at, tenant=tenant, audit=[audit_entry("started", started_by, at)],
                   metadata=metadata, status=RunStatus.FAILED, updated_at=at, completed_at=at, duration=0.0,
                   error_message=error_message,
                   step_history=[{"step": Step.INITIALIZING.value, "at": at},
                                 {"step": RunStatus.FAILED.value, "at": at}])

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        return self.status.is_active

    @property
    def planned(self) -> bool:
        return self.planned_at is not None

    @property
    def processed_records(self) -> int:
        return self.success_count + self.error_count

    @property
    def all_chunks_counted(self) -> bool:
        return self.planned and self.chunks_done + self.chunks_failed >= self.chunks_total

    @property
    def delivers_to_target(self) -> bool:
        return self.output_mode == OutputMode.API and not self.validate_only

    @property
    def delivery_step(self) -> Step | None:
        """Where its chunks go once mapped: the target API, the output files, or nowhere (a dry run)."""
        if self.validate_only:
            return None
        return Step.API_INTEGRATION if self.output_mode == OutputMode.API else Step.FILE_OUTPUT

    @property
    def output_folder(self) -> str:
        return f"{self.output_dir.rstrip('/')}/{self.run_id}/"

    @property
    def rules_broken(self) -> dict[str, int]:
        """Counts by rule, without the rules a retry took back to zero (a failed chunk that went through)."""
        return {rule: count for rule, count in self.error_rules.items() if count}

    def reached(self, step: Step) -> bool:
        return STEP_RANK[self.current_step] >= STEP_RANK[step]

    def outcome(self) -> tuple[RunStatus, str | None]:
        """completed when the rejected share is within the run's tolerance, else failed. The message
        gives the counts by rule, never a record's values."""
        total, errors, tolerated = self.total_records, self.error_count, self.max_error_rate
        rules = ", ".join(f"{rule} {count}" for rule, count in
                          sorted(self.rules_broken.items(), key=lambda kv: (-kv[1], kv[0])))
        by_rule = f" (by rule: {rules})" if rules else ""
        failed_chunks = (f"{self.chunks_failed} of {self.chunks_total} chunks failed"
                         if self.chunks_failed else None)
        if total and errors / total > tolerated:
            share = (f"{errors} of {total} records were rejected ({errors / total:.1%}, more than the tolerated "
                     f"{tolerated:.1%}){by_rule}")
            return RunStatus.FAILED, "; ".join(filter(None, [share, failed_chunks]))
        summary = f"{errors} of {total} records were rejected{by_rule}; see the error report" if errors else None
        return RunStatus.COMPLETED, "; ".join(filter(None, [summary, failed_chunks])) or None

    # ------------------------------------------------------------------ views
    def progress(self) -> dict:
        total, processed = self.total_records, self.processed_records
        return {
            "total_records": total,
            "processed_records": processed,
            "success_count": self.success_count,
            "error_count": self.error_count,
            "progress_percentage": round(100.0 * processed / total, 2) if total else
            (100.0 if self.status == RunStatus.COMPLETED else 0.0),
            "current_step": self.current_step.value,
            **live_view(self),
        }

    def details(self) -> dict:
        return {
            "output_mode": self.output_mode.value,
            "batch_size": self.batch_size,
            "chunks": {"total": self.chunks_total, "done": self.chunks_done, "failed": self.chunks_failed},
            "steps": self.step_history,
            "records_per_second": round(self.processed_records / self.duration, 1) if self.duration else None,
            "output_location": self.output_folder if self.output_mode == OutputMode.FILE and not self.validate_only
            else None,
            "error_report": f"{self.output_folder}errors/",
            "errors_by_rule": self.rules_broken,
            "validate_only": self.validate_only,
            "input_format": self.input_format.to_dict(),
            "updated_at": self.updated_at,
        }

    def status_answer(self, include_details: bool = False) -> dict:
        answer = {
            "run_id": self.run_id, "status": self.status.value, "progress": self.progress(),
            "created_at": self.created_at, "started_at": self.started_at, "completed_at": self.completed_at,
            "duration": self.duration, "error_message": self.error_message, "file_path": self.file_path,
            "record_type": self.record_type, "metadata": self.metadata, "outcome": outcome_name(self),
            "reconciliation": self.reconciliation,
        }
        if self.notification is not None:
            answer["notification"] = self.notification_view()
        if include_details:
            answer["details"] = self.details()
        return answer

    def notification_view(self) -> dict:
        """How the run's webhook call went, and where it went (its URL without the query, which may hold a
        key): never the key it was signed with."""
        return {"webhook_url": (self.notify_url or "").split("?", 1)[0] or None, **(self.notification or {})}

    def audit_answer(self) -> dict:
        return {"run_id": self.run_id, "tenant": self.tenant, "audit": self.audit}

    def summary(self) -> dict:
        return {"run_id": self.run_id, "status": self.status.value, "created_at": self.created_at,
                "completed_at": self.completed_at, "file_path": self.file_path, "record_type": self.record_type,
                "output_mode": self.output_mode.value, "progress": self.progress(),
                "error_message": self.error_message, "duration": self.duration, "outcome": outcome_name(self),
                "reconciliation": self.reconciliation}


RUN_FIELDS = tuple(f.name for f in fields(Run))


def audit_entry(action: str, by: str, at: str) -> dict:
    """One line of a run's audit trail: what was done to it, by whom (a key, an IAM principal, an upload), when."""
    return {"action": action, "by": by, "at": at}
