"""The API's use cases: trigger, status, list, cancel. Handlers call these.

Each takes the caller (access.py): a run belongs to the tenant of whoever started
it, and another tenant's run is "not found", never "forbidden", so a caller
cannot even learn that it exists.

Trigger never reads the file: it checks that the path is allowed and that the
file exists, writes the run and enqueues one plan message. Its latency does not
depend on the file's size.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.access import DEFAULT_TENANT, Caller
from chalicelib.credentials import check_outbound
from chalicelib.errors import (InputFileError, InvalidRequest, RecordTypeNotFound, RunConflict, RunNotFound,
                               TooManyRequests, cut)
from chalicelib.messages import ChunkMessage
from chalicelib.models import MigrationRequest, OutputMode, RetryRequest, RunStatus
from chalicelib.notifications import check_notify
from chalicelib.observability import RUNS_FINISHED, RUNS_STARTED, log, record
from chalicelib import run_view
from chalicelib import progress
from chalicelib.listing import MAX_COUNTED, MAX_READ_PER_PAGE, ListQuery, encode_cursor
from chalicelib.reconciliation import flag_report_failed, report_answer
from chalicelib.run import Run
from chalicelib.runs import RunStore, now_iso
from chalicelib.storage import DataRoot, part_name
from chalicelib.work_queue import WorkQueue

if TYPE_CHECKING:
    from chalicelib.credentials import CredentialVault
    from chalicelib.notifications import RunEndNotices
    from chalicelib.outbound import OutboundPolicy
    from chalicelib.records import RecordSpec

TRIGGER_KEYS = uuid.UUID("5b0c9a43-3f7e-4a0e-9d55-2d0e8f7c6a11")  # namespace of runs named by Idempotency-Key
RECORD_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # what a run's record_type is shown as (answers.py)


@dataclass
class MigrationService:
    store: RunStore
    queue: WorkQueue
    data_root: DataRoot
    vault: CredentialVault
    specs: dict[str, RecordSpec]
    outbound: OutboundPolicy
    max_active_runs_per_tenant: int = 20
    notices: RunEndNotices | None = None  # told of each run this service ends (a cancel, a failed upload)

    def record_types(self) -> dict:
        return {"record_types": [spec.describe() for spec in self.specs.values()]}

    def layout(self, record_type: str) -> dict:
        """The fixed-width layout the service understood for a record type (offsets, PICs, usages),
        to hold against the mainframe's compile listing."""
        spec = self.specs.get(record_type)
        if spec is None:
            raise RecordTypeNotFound(record_type)
        if spec.layout is None:
            raise RecordTypeNotFound(record_type, "fixed-width layout for record type")
        return {"record_type": record_type, **spec.layout.describe()}

    def trigger(self, caller: Caller, body, run_id: str | None = None, idempotency_key: str | None = None,
                input_version: str | None = None) -> dict:
        """Queue a run of the caller's tenant.

        With an Idempotency-Key (or a `run_id` chosen by the caller, as uploads
        do) a repeat of the same request answers the run it made; the same key
        with another request is a conflict. Keys are the tenant's own: another
        tenant's same key names another run.

        The run reads its file as it is now (chalicelib.storage pins its
        version), or at `input_version`, the version an upload's notification
        names (never a request's to choose): a file replaced before the run is
        planned does not change what it migrates.
        """
        request = self.checked_request(caller, body)
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 255:
                raise InvalidRequest("Idempotency-Key: must be 1 to 255 characters")
            # The default tenant's keys name the runs they named before tenants existed.
            name = idempotency_key if caller.tenant == DEFAULT_TENANT else f"{caller.tenant}\n{idempotency_key}"
            run_id = str(uuid.uuid5(TRIGGER_KEYS, name))
        fingerprint = request_fingerprint(request)
        if run_id and (existing := self.store.get(run_id)):
            if existing.tenant != caller.tenant:  # an upload's id is derived from its object: never shared
                raise RunConflict("this run id is taken; use another Idempotency-Key")
            return self._repeat(existing, fingerprint)
        active = len(self.store.list_active(caller.tenant))
        if active >= self.max_active_runs_per_tenant:
            raise TooManyRequests(f"this tenant has {active} migrations pending or running, its limit; start "
                                  f"this one when one of them ends", retry_after_seconds=60)
        source = self.data_root.resolve(request.file_path, "file_path")
        try:
            if input_version is None:
                source = source.pin()  # finds it, or raises
            elif not (source := source.at_version(input_version)).exists():
                raise InputFileError("the upload's version is gone")
        except InputFileError:
            raise InvalidRequest(f"file_path: file not found: {cut(request.file_path)}") from None
        self.data_root.output_folder(request.output_dir)
        run_id = run_id or str(uuid.uuid4())
        # The webhook's key is stored once the run exists; a worker that needs it sooner (a cancel at once)
        # finds it missing and its message comes back.
        webhook_key = self.vault.webhook_secret_name(run_id) if request.notify else None
        run = Run.from_request(run_id, request, fingerprint, now_iso(), tenant=caller.tenant,
                               started_by=caller.principal, notify_secret_ref=webhook_key)
        run.input_version = source.version
        if not self.store.create(run):  # a concurrent repeat created it first
            return self._repeat(self.store.get(run.run_id), fingerprint)
        if request.notify is not None:
            self.vault.store_webhook_secret(webhook_key, run_id, request.notify.secret.get_secret_value())
        if request.authentication is not None:
            reference = self.vault.store_for_run(run.run_id, request.authentication.to_secret())
            if not self.store.set_credentials(run.run_id, reference):
                self.vault.forget(reference)  # cancelled before it was even queued
        self.queue.send_plan(run.run_id)
        # Uploads trigger on behalf of the principal "upload" (chalicelib.uploads); API callers are keys, IAM ARNs
        # or "anonymous".
        record(RUNS_STARTED, 1, Source="upload" if caller.principal == "upload" else "api")
        log("run queued", run_id=run.run_id, record_type=run.record_type, output_mode=run.output_mode.value)
        return self._queued_answer(run, source.size())

    def checked_request(self, caller: Caller, body) -> MigrationRequest:
        """The run a trigger body asks for, checked as a trigger and a preview check it (a 422 naming the
        field): its fields, where its credentials and webhook would have the service call, its record
        type's layout, and the caller's tenant's file areas."""
        request = MigrationRequest.from_body(body, sorted(self.specs))
        check_outbound(request.authentication, self.outbound)
        check_notify(request.notify, self.outbound)
        if request.input_format.type == "fixed_width" and self.specs[request.record_type].layout is None:
            raise InvalidRequest(f"input_format.type: record type {request.record_type!r} has no fixed-width layout")
        return self._within_tenant_area(request, caller.tenant)

    def preview(self, caller: Caller, body, records: int) -> dict:
        """A trial run of the first `records` records of the file a trigger body names (chalicelib.preview):
        nothing is delivered or written, and no run is made."""
        from chalicelib.preview import preview
        return preview(self, caller, body, records)

    def _within_tenant_area(self, request: MigrationRequest, tenant: str) -> MigrationRequest:
        """A named tenant reads only under its own folders and writes only under tenants/<tenant>/ (its
        output folder by default); the default tenant, the operator's own, reaches the whole data root."""
        if tenant == DEFAULT_TENANT:
            return request
        home = f"tenants/{tenant}/"
        if "output_dir" not in request.model_fields_set:
            request = request.model_copy(update={"output_dir": home + "output"})
        for field, path, areas in (("file_path", request.file_path, (home, f"incoming/{tenant}/")),
                                   ("output_dir", request.output_dir, (home,))):
            where = self.data_root.relative(self.data_root.resolve(path, field))
            if not where.startswith(areas):
                raise InvalidRequest(f"{field}: this tenant's files are under {' or '.join(areas)}")
        return request

    def _repeat(self, existing: Run, fingerprint: str) -> dict:
        if existing.request_fingerprint != fingerprint:
            raise RunConflict("Idempotency-Key was already used for a different request "
                              f"(run {existing.run_id}); use a new key for a new migration")
        size = existing.input_bytes
        if size is None:  # not planned yet: the file, if it is still there
            source = self.data_root.resolve(existing.file_path, "file_path")
            size = source.size() if source.exists() else 0
        return self._queued_answer(existing, size)

    def _queued_answer(self, run: Run, source_size: int) -> dict:
        return {
            "run_id": run.run_id,
            "status": run.status.value,
            "message": "Migration queued successfully",
            "created_at": run.created_at,
            **self._estimate(run, source_size),
        }

    def _estimate(self, run: Run, size_bytes: int) -> dict:
        """How long a run of this file should take, from the tenant's recent runs of its kind: one bounded
        query (chalicelib.progress)."""
        mode = "validate-only" if run.validate_only else run.output_mode.value
        measures = self.store.recent_measures(run.tenant, run.record_type, run.output_mode, run.validate_only)
        return progress.estimate(size_bytes, measures, run.record_type, mode)

    def status(self, caller: Caller, run_id: str, include_details: bool = False) -> dict:
        return self._get(caller, run_id).status_answer(include_details)

    def audit(self, caller: Caller, run_id: str) -> dict:
        return self._get(caller, run_id).audit_answer()

    def reconciliation(self, caller: Caller, run_id: str) -> dict:
        """The run's reconciliation report (chalicelib.reconciliation); a 409 until it is written."""
        return report_answer(self._get(caller, run_id), self.data_root)

    def rebuild_report(self, caller: Caller, run_id: str) -> dict:
        """Queue again the report of an ended run whose report could not be built or queued (its flag says so),
        once what failed is mended: the run's tenant does it here, without reaching the work queue itself. Building
        a report again reads the same markers and file, so it changes nothing but the flag."""
        run = self._get(caller, run_id)
        if run.active:
            raise RunConflict(f"Migration {run_id} is {run.status.value}: its reconciliation report is built when "
                              f"it ends")
        if not self.store.request_report(run_id, caller.principal):
            state = (self.store.get(run_id) or run).reconciliation
            raise RunConflict(f"Migration {run_id}'s reconciliation report " + (
                "is written: read it with GET .../reconciliation" if state and "failed" not in state else
                "is being built already" if not state else "changed meanwhile; read the run's status and try again"))
        try:
            self.queue.send_reconcile(run_id)
        except Exception:
            # Flagged again, so that it can be asked for again, rather than "not written yet" for ever.
            flag_report_failed(self.store, self.store.get(run_id) or run, "the reconciliation report could not be "
                                                                          "queued")
            raise
        log("reconciliation asked for again", run_id=run_id)
        return {"run_id": run_id, "message": f"Migration {run_id}: its reconciliation report is being built again; "
                                             f"GET .../reconciliation answers 409 until it is written"}

    def running(self, caller: Caller) -> dict:
        runs = self.store.list_active(caller.tenant)
        return {
            "running_migrations": {
                r.run_id: {"status": r.status.value, "created_at": r.created_at, "file_path": r.file_path,
                           "record_type": r.record_type}
                for r in runs},
            "count": len(runs),
        }

    def recent(self, caller: Caller, query: ListQuery = ListQuery()) -> dict:
        """A page of the caller's runs, newest first, filtered (chalicelib.listing), with the counts by status
        of its runs of the same record type and dates, whatever their status."""
        runs, position = self.store.list_runs(caller.tenant, query.limit, status=query.status,
                                              record_type=query.record_type, since=query.since, until=query.until,
                                              after=query.after, max_read=MAX_READ_PER_PAGE)
        counts, complete = self.store.count_outcomes(caller.tenant, query.record_type, query.since, query.until,
                                                     max_runs=MAX_COUNTED)
        return {"migrations": [r.summary() for r in runs], "count": len(runs),
                "next_cursor": encode_cursor(position, caller.tenant, query) if position else None,
                "counts_by_status": counts, "counts_complete": complete}

    def errors(self, caller: Caller, run_id: str, offset: int, limit: int, rule: str | None = None) -> dict:
        """A page of the run's error report (rows of counted chunks, in file order), of one rule's rows
        with `rule`. While a run is going, pages may shift as chunks land (run_view.errors_page)."""
        rule = run_view.check_rule(rule)
        run = self._get(caller, run_id)
        folder = self.data_root.resolve(run.output_dir, "output_dir").child(run_id).child("errors")
        return run_view.errors_page(run, self.store.chunk_markers(run_id),
                                    lambda chunk: folder.child(part_name(chunk)).read_bytes(), offset, limit, rule)

    def chunks(self, caller: Caller, run_id: str, offset: int, limit: int) -> dict:
        """The run's chunks by state (a page of them) and its throughput over time, for the run page."""
        run = self._get(caller, run_id)
        return run_view.chunks_answer(run, self.store.chunk_markers(run_id), offset, limit)

    def retry(self, caller: Caller, run_id: str, body) -> dict:
        """Process again only the failed chunks of a finished run, as the same run.

        The run keeps its id, counters and output; its failed chunks' counts
        are taken back off and the chunks are queued again, so the counters
        stay exact. Its step history records each retry.
        """
        run = self._get(caller, run_id)
        if run.status not in (RunStatus.COMPLETED, RunStatus.FAILED):
            raise RunConflict(f"Migration {run_id} is {run.status.value}: only a completed or failed run can be "
                              f"retried")
        retry = RetryRequest.from_body(body)
        authentication = retry.authentication
        check_outbound(authentication, self.outbound)
        check_notify(retry.notify, self.outbound)
        failed = [m for m in self.store.chunk_markers(run_id) if m.get("outcome") == "failed" and m.get("pointer")]
        if not failed:
            raise RunConflict(f"Migration {run_id} has no failed chunks to retry")
        if run.delivers_to_target and run.own_credentials and authentication is None:
            raise InvalidRequest("authentication: the run's own credentials were deleted when it ended; "
                                 "send them again to retry it")
        reference = self.vault.store_for_run(run_id, authentication.to_secret()) \
            if authentication is not None else None
        notify = None
        if retry.notify is not None:  # a key of its own: the first end's may still be in use by its call
            notify = (retry.notify.webhook_url, self.vault.store_webhook_secret(
                self.vault.webhook_secret_name(run_id, run.retry_count + 1), run_id,
                retry.notify.secret.get_secret_value()))
        if not self.store.reopen_for_retry(run, len(failed), reference, by=caller.principal, notify=notify):
            for kept in (reference, notify and notify[1]):
                if kept:
                    self.vault.forget(kept)
            raise RunConflict(f"Migration {run_id} changed meanwhile (another retry?); read its status and try again")
        chunks = []
        for marker in failed:
            if self.store.uncount_failed_chunk(run_id, marker):
                chunks.append(ChunkMessage(**marker["pointer"]))
        self.queue.send_chunks(chunks)
        records = sum(c.rows for c in chunks)
        record(RUNS_STARTED, 1, Source="retry")
        log("run retried", run_id=run_id, chunks=len(chunks), records=records)
        return {"run_id": run_id, "status": RunStatus.RUNNING.value, "retried_chunks": len(chunks),
                "retried_records": records,
                "message": f"Migration {run_id}: {len(chunks)} failed chunks queued again"}

    def cancel(self, caller: Caller, run_id: str) -> dict:
        run = self._get(caller, run_id)
        if run.status == RunStatus.CANCELLED:
            pass  # cancelling twice answers the same
        elif not (ended := self.store.cancel(run_id, run, by=caller.principal)):
            current = self._get(caller, run_id)
            if current.status != RunStatus.CANCELLED:
                raise RunConflict(f"Migration {run_id} has already finished with status "
                                  f"'{current.status.value}' and cannot be cancelled")
        else:
            record(RUNS_FINISHED, 1, Status=RunStatus.CANCELLED.value)
            log("run cancelled", run_id=run_id)
            # Read again: a trigger may have pointed the run at its credentials after the read above,
            # and an ended run's credentials must not outlive it.
            self.vault.release(self.store.get(run_id) or run, self.store)
            self._announce(ended)
        return {"message": f"Migration {run_id} cancelled successfully", "run_id": run_id, "cancelled": True}

    def record_failed_upload(self, caller: Caller, run_id: str, body: dict, reason: str, metadata: dict) -> bool:
        """An upload that could not start a run (chalicelib.uploads): a run of the caller's tenant, failed at
        once with `reason` (the 4xx detail a trigger with `body` would have answered), listed with the others
        and announced like any other end. False if it exists already: the notification came again.

        The run keeps what it can of the request: all of it if the body is a valid request (its webhook too,
        if the stage calls it), else the upload's own `metadata`.
        """
        try:
            request = MigrationRequest.from_body(body, sorted(self.specs))
            check_notify(request.notify, self.outbound)
        except InvalidRequest:
            request = None
        record_type, mode = body.get("record_type"), body.get("output_mode")
        output_mode = request.output_mode if request else \
            OutputMode(mode) if isinstance(mode, str) and mode in {m.value for m in OutputMode} else OutputMode.API
        run = Run.failed_at_start(
            run_id, file_path=body["file_path"], output_mode=output_mode, at=now_iso(), tenant=caller.tenant,
            started_by=caller.principal, error_message=reason, metadata=request.metadata if request else metadata,
            # The answers' record_type is a name; a folder that names none is shown as such.
            record_type=record_type if isinstance(record_type, str) and RECORD_TYPE_NAME.fullmatch(record_type)
            else "unknown")
        if request and request.notify:
            run.notify_url = request.notify.webhook_url
            run.notify_secret_ref = self.vault.store_webhook_secret(
                self.vault.webhook_secret_name(run_id), run_id, request.notify.secret.get_secret_value())
        if not self.store.create(run):
            return False
        record(RUNS_FINISHED, 1, Status=RunStatus.FAILED.value)
        log("upload could not start a migration: recorded as a failed run", logging.WARNING, run_id=run_id,
            reason=reason)
        self._announce(run)
        return True

    def _announce(self, ended: Run) -> None:
        if self.notices is not None:
            self.notices.run_ended(ended)

    def _get(self, caller: Caller, run_id: str) -> Run:
        if not _looks_like_run_id(run_id):
            raise RunNotFound(run_id)
        run = self.store.get(run_id)
        if run is None or run.tenant != caller.tenant:
            raise RunNotFound(run_id)
        return run


def request_fingerprint(request: MigrationRequest) -> str:
    """What makes two trigger requests the same: every field, credentials by type only
    (a secret's hash is not stored anywhere)."""
    # A field left out is left out of the fingerprint, so a request made before the field existed and repeated
    # with the same Idempotency-Key since is still the same request.
    fields = request.model_dump(mode="json", exclude={"notify"} if request.notify is None else None)
    if request.authentication is not None:
        fields["authentication"] = {"type": request.authentication.type}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _looks_like_run_id(run_id: str) -> bool:
    try:
        return str(uuid.UUID(run_id)) == run_id
    except ValueError:
        return False
