"""The worker: plans a run's file into chunks, then processes chunk by chunk.

Every step is safe to repeat, because SQS delivers at least once:
- planning a run twice sends the same chunks again, and a chunk counts once;
- a chunk re-processed rewrites its own file part, re-sends API batches with
  the same Idempotency-Keys, and finds its marker when it tries to count.
Cancel is read (consistently) before each chunk and between delivery calls.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import requests

from chalicelib.config import Settings
from chalicelib.credentials import Authenticator, Credentials, CredentialVault, TokenRefused
from chalicelib.delivery import ApiDelivery, write_error_part, write_part
from chalicelib.errors import InputFileError, InvalidRequest
from chalicelib.inputs import plan_file, read_records
from chalicelib.fanout import PartPlanner, fan_out_parts
from chalicelib.inputs.files import with_header
from chalicelib.messages import (ChunkMessage, NotifyMessage, PublishMessage, RangeMessage, ReconcileMessage,
                                 parse_message)
from chalicelib.notifications import RunEndNotices
from chalicelib.models import InputFormat, OutputMode, RunStatus, Step
from chalicelib.observability import CHUNKS_FAILED, RUNS_FINISHED, log, message_keys, record, record_chunk
from chalicelib.outbound import OutboundPolicy
from chalicelib.progress import LiveNotes
from chalicelib.records import RecordError, RecordSpec, Transformed, transform
from chalicelib.reconciliation import HashingSource, Reconciler, write_plan
from chalicelib.records.totals import chunk_totals
from chalicelib.run import Run
from chalicelib.runs import RunStore
from chalicelib.storage import GONE, DataRoot, StoredFile
from chalicelib.webhooks import WebhookSender
from chalicelib.work_queue import WorkQueue

CANCEL_CHECK_SECONDS = 0.25  # a consistent read at most this often while delivering


@dataclass
class Worker:
    settings: Settings
    store: RunStore
    queue: WorkQueue
    data_root: DataRoot
    vault: CredentialVault
    specs: dict[str, RecordSpec]
    http: requests.Session
    outbound: OutboundPolicy | None = None  # where a run's credentials may have us call; the stage's by default
    notices: RunEndNotices | None = None   # told of each run a worker ends (chalicelib.notifications)
    webhooks: WebhookSender | None = None  # calls ended runs' webhooks; over a session of its own by default

    def __post_init__(self):
        if self.outbound is None:
            self.outbound = OutboundPolicy.from_settings(self.settings)
        if self.webhooks is None:
            self.webhooks = WebhookSender(self.store, self.vault, requests.Session(), self.outbound)
        self.reconciler = Reconciler(self.store, self.data_root, self.specs)

    def handle(self, body: str) -> None:
        message = parse_message(body)
        with message_keys(run_id=message.run_id, chunk=getattr(message, "chunk", None)):
            if isinstance(message, ChunkMessage):
                self.process_chunk(message)
            elif isinstance(message, NotifyMessage):
                self.webhooks.deliver(message)
            elif isinstance(message, PublishMessage):
                self.notices.publish_again(message)
            elif isinstance(message, ReconcileMessage):
                self.reconciler.build(message.run_id)
            elif isinstance(message, RangeMessage):
                self.plan_part(message)
            else:
                self.plan(message.run_id)

    # ------------------------------------------------------------------ planning
    def plan(self, run_id: str) -> None:
        run = self.store.get(run_id)
        if run is None:
            log("plan for an unknown run ignored", logging.WARNING)
            return
        if run.status == RunStatus.PENDING:
            if not self.store.start_planning(run_id):
                return  # cancelled meanwhile, or another worker took it
        elif run.status != RunStatus.RUNNING or run.planned:
            return  # ended, or planned already: this is a duplicate message
        started = time.monotonic()
        self.store.advance_step(run_id, Step.FILE_READING)
        spec = self.specs[run.record_type]
        try:
            # Pinned: the chunks, a retry and the report read the version this plan reads (chalicelib.storage), the
            # one the trigger pinned (the file as it was asked for, an upload's own); a run queued before versions
            # were kept has none, and takes the file as it is now.
            file = self._input(run, run.input_version) if run.input_version else self._input(run).pin()
            parts = fan_out_parts(run, run.input_format, file.size(), self.settings, file.version)
            if parts:  # a big file: several workers plan it (chalicelib.fanout)
                # Its start first, as a preview reads it: a wrong header fails the run before any range is sent.
                # (Chunks of the run's size: chunks of one record made a message per record of the first block,
                # 65,000 of them, a quarter of a second before any range could start.)
                plan_file(file, run.input_format, spec, self.settings.chunk_records, self.settings.chunk_bytes,
                          run_id, stop_after=0)
                self.queue.send_ranges(parts)
                log("plan fanned out", parts=len(parts), seconds=round(time.monotonic() - started, 3))
                return
            source = HashingSource(file)  # the scan also takes the file's SHA-256 and size
            plan = plan_file(source, run.input_format, spec, self.settings.chunk_records,
                             self.settings.chunk_bytes, run_id, range_bytes=self.settings.plan_range_bytes)
        except InputFileError as err:
            self._reject_input(run, err)
            return
        sha256, size = source.identity()
        self._planned(run, plan, sha256, size, file.version)

    def plan_part(self, message: RangeMessage) -> None:
        """One part of a fanned-out plan (chalicelib.fanout): a range, whose worker stitches the plan and sends
        the chunks if it is the last range counted, or the file's digest, which the plan does not wait for."""
        run = self.store.get(message.run_id)
        if message.digest:
            self._digest(message, run)
            return
        if run is None or run.status != RunStatus.RUNNING or run.planned:
            return  # ended, or planned already: a duplicate
        output = self.data_root.resolve(run.output_dir, "output_dir").child(run.run_id)
        try:
            done = PartPlanner(self.store, self.settings).run_part(message, run, self._input(run, message.version),
                                                                   output)
            if done is None:
                return
            plan, sha256, size = done
            with_header(plan, run.input_format, self.specs[run.record_type])
        except InputFileError as err:
            self._reject_input(run, err)
            return
        self._planned(run, plan, sha256, size, message.version)

    def _digest(self, message: RangeMessage, run: Run | None) -> None:
        if run is None or run.input_sha256 or (not run.active and not run.planned):
            return  # taken already, or the run ended before it was planned: nothing to identify
        output = self.data_root.resolve(run.output_dir, "output_dir").child(run.run_id)
        try:
            PartPlanner(self.store, self.settings).digest(message, self._input(run, message.version), output)
        except InputFileError as err:
            if run.active:
                self._reject_input(run, err)
            return
        current = self.store.get(message.run_id)
        if current is not None and not current.active:
            self.queue.send_reconcile(message.run_id)  # it ended without its file's identity: report again
        log("input file hashed apart from its plan")

    def _reject_input(self, run: Run, err: InputFileError) -> None:
        log("run failed: input file rejected", logging.WARNING, reason=str(err))
        if ended := self.store.fail(run.run_id, f"{run.file_path}: {err}"):
            record(RUNS_FINISHED, 1, Status=RunStatus.FAILED.value)
            self._announce(ended)
        self.vault.release(run, self.store)

    def _planned(self, run: Run, plan, sha256: str | None, size: int, version: str | None) -> None:
        """Keep a plan and send its chunks: after one planner's scan, or the stitch of a fanned-out plan."""
        run_id = run.run_id
        # Written before the plan is recorded: a failure here brings the plan message back to plan again.
        write_plan(self.data_root.resolve(run.output_dir, "output_dir").child(run_id), run_id, plan, sha256, size)
        if not self.store.record_plan(run_id, plan.total_records, len(plan.chunks), plan.header,
                                      input_sha256=sha256, input_bytes=size, input_version=version):
            return  # cancelled while scanning
        log("run planned", records=plan.total_records, chunks=len(plan.chunks))
        if not plan.chunks:
            self._finish_if_done(run_id)
            return
        self.queue.send_chunks(plan.chunks)

    def _input(self, run: Run, version: str | None = None) -> StoredFile:
        """The run's input file, at `version` when one is given (as the plan pinned it)."""
        try:
            source = self.data_root.resolve(run.file_path, "file_path").at_version(version)
        except InvalidRequest as err:
            raise InputFileError(str(err.detail)) from None
        if not source.exists():
            raise InputFileError(GONE)
        return source

    # -------------------------------------------------------------------- chunks
    def process_chunk(self, message: ChunkMessage) -> None:
        started = time.monotonic()
        run = self.store.get(message.run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return  # cancelled or ended: no new work starts
        if self.store.chunk_counted(message.run_id, message.chunk):
            self._finish_if_done(message.run_id)
            return
        self._advance(run, Step.DATA_TRANSFORMATION)
        spec = self.specs[run.record_type]
        # The file was found and checked when the run was planned: no HEAD per chunk. Were it gone since,
        # the read fails and the chunk takes the retry path; were it changed (a local file has no older
        # version to read, an S3 version planned was deleted), every attempt would fail alike: it fails now.
        source = self.data_root.resolve(run.file_path, "file_path").at_version(run.input_version)
        try:
            data = source.read_range(message.start, message.end)
        except InputFileError as err:
            log("chunk failed: input file changed", logging.WARNING, reason=str(err))
            self.fail_chunk(message, str(err))
            return
        mapped = map_chunk(data, run.header, run.input_format, spec, message.first_row)
        if mapped.records != message.rows:
            raise RuntimeError(f"chunk {message.chunk} holds {mapped.records} records, the plan said {message.rows}")
        result, errors = mapped.result, mapped.errors
        output = self.data_root.resolve(run.output_dir, "output_dir").child(run.run_id)

        stopped = False
        rejected_by_target = 0
        delivered_rows = refused_rows = None  # api mode: the records the target took, and those it refused
        if run.delivery_step is not None:  # the target API or the output files; a dry run delivers nowhere
            self._advance(run, run.delivery_step)
        if run.validate_only:
            success = result.document_count  # a dry run: valid records are counted, nothing is delivered
        elif run.output_mode == OutputMode.FILE:
            write_part(output, message.chunk, result.documents)
            success = result.document_count
        else:
            try:
                outcome = self._deliver(run, message, result)
            except TokenRefused as err:
                # The stage does not call this token URL: every retry would be refused the same way.
                log("chunk failed: token URL refused", logging.WARNING, reason=str(err))
                self.fail_chunk(message, f"no access token: {err}")
                return
            success, stopped, rejected_by_target = outcome.delivered, outcome.stopped, len(outcome.rejected)
            delivered_rows = result.document_rows[:outcome.sent]
            refused_rows = np.array([row for row, _ in outcome.rejected], dtype=np.int64)
            errors += [RecordError.of_record(row, "target_rejected", why) for row, why in outcome.rejected]
            log("chunk delivered", calls=outcome.calls, retries=outcome.retries, throttled=outcome.throttled)
        if errors or run.retry_count:
            # A chunk of a retried run replaces its part of the report, which may still hold the rows
            # of the attempt that failed; other chunks write one only when they have errors.
            errors.sort(key=lambda e: e.row)
            write_error_part(output, message.chunk, errors)
        error_count = mapped.rejected + rejected_by_target
        if stopped:
            log("chunk stopped by cancel", delivered=success)
        rule_counts = Counter(e.rule for e in errors)
        # The chunk's control totals by group (chalicelib.reconciliation), kept in its marker: counted once.
        totals = chunk_totals(spec, mapped.frame, mapped.rows, mapped.unreadable, result, delivered_rows,
                              refused_rows, run.validate_only)
        totals["rules"] = dict(rule_counts)
        counted = self.store.count_chunk(message.run_id, message.chunk, success, error_count,
                                         rule_counts=rule_counts, error_rows=len(errors), totals=totals)
        elapsed = time.monotonic() - started
        if counted:
            record_chunk(run.record_type, valid=success, delivered=0 if run.validate_only else success,
                         rejected=error_count, seconds=elapsed)
            log("chunk counted", success=success, errors=error_count, seconds=round(elapsed, 3))
        self._finish_if_done(message.run_id, counted)

    def _deliver(self, run: Run, message: ChunkMessage, result):
        stored = self.vault.for_run(run.credentials_ref)
        credentials = Credentials.from_secret(stored) if stored else None
        url = f"{self.settings.target_api_url}/records/{self.specs[run.record_type].endpoint}"
        delivery = ApiDelivery(self.http, url, Authenticator(credentials, self.http, outbound=self.outbound),
                               run.batch_size,
                               max_in_flight=self.settings.max_calls_in_flight,
                               retry_budget_seconds=self.settings.retry_budget_seconds)
        documents = result.document_lines()
        last_check = [time.monotonic()]

        def cancelled() -> bool:
            if time.monotonic() - last_check[0] < CANCEL_CHECK_SECONDS:
                return False
            last_check[0] = time.monotonic()
            current = self.store.get(message.run_id)
            return current is None or current.status == RunStatus.CANCELLED

        notes = LiveNotes(lambda records: self.store.note_live(message.run_id, message.chunk, records),
                          on_error=lambda err: log("live progress not noted", logging.WARNING,
                                                   error=type(err).__name__))
        return delivery.deliver(message.run_id, message.chunk, documents,
                                result.document_rows.tolist(), cancelled, progress=notes)

    def _advance(self, run: Run, step: Step) -> None:
        if not run.reached(step):
            self.store.advance_step(run.run_id, step)
            run.current_step = step

    # ----------------------------------------------------------------- finishing
    def handle_dead_letter(self, body: str) -> None:
        """A work message that failed maxReceiveCount times (DESIGN 6)."""
        message = parse_message(body)
        with message_keys(run_id=message.run_id, chunk=getattr(message, "chunk", None)):
            if isinstance(message, ChunkMessage):
                self.fail_chunk(message, "the chunk failed on every attempt; its records were not delivered")
            elif isinstance(message, NotifyMessage):
                self.webhooks.give_up(message, "the call could not be made on any attempt (the worker failed)")
            elif isinstance(message, PublishMessage):
                self.notices.give_up(message)
            elif isinstance(message, ReconcileMessage):
                log("reconciliation report could not be built on any attempt", logging.ERROR)
                self.reconciler.give_up(message.run_id, "the reconciliation report could not be built on any "
                                                        "attempt")
            elif isinstance(message, RangeMessage) and message.digest:
                # The plan did not wait for it: the run goes on, and its report says the file is not identified.
                log("input file could not be hashed on any attempt", logging.ERROR)
            else:
                run = self.store.get(message.run_id)
                if run and (ended := self.store.fail(message.run_id, "planning the run failed on every attempt",
                                                     run)):
                    record(RUNS_FINISHED, 1, Status=RunStatus.FAILED.value)
                    self.vault.release(run, self.store)
                    self._announce(ended)

    def fail_chunk(self, message: ChunkMessage, reason: str) -> None:
        """A chunk that kept failing (it reached the DLQ): its records count as errors, once."""
        run = self.store.get(message.run_id)
        if run is None:
            return
        if self.store.chunk_counted(message.run_id, message.chunk):
            self._finish_if_done(message.run_id)  # it did get through, or this is a duplicate
            return
        output = self.data_root.resolve(run.output_dir, "output_dir").child(run.run_id)
        write_error_part(output, message.chunk, [RecordError.of_record(row, "chunk_failed", reason)
                                                 for row in range(message.first_row, message.first_row + message.rows)])
        # No totals: the reconciliation report reads a failed chunk's records again, as not processed.
        counted = self.store.count_chunk(message.run_id, message.chunk, 0, message.rows, failed=True, reason=reason,
                                         rule_counts={"chunk_failed": message.rows}, error_rows=message.rows,
                                         message=message)
        if counted:
            record(CHUNKS_FAILED, 1)
            log("chunk failed for good", logging.ERROR, records=message.rows)
        self._finish_if_done(message.run_id, counted)

    def _finish_if_done(self, run_id: str, counted: bool = False) -> None:
        run = self.store.get(run_id)
        if run is not None and counted and not run.active:
            # Counted after its run ended (it was being delivered when a cancel came): the report, perhaps
            # written already without it, is built again.
            self.queue.send_reconcile(run_id)
        if run is None or run.status != RunStatus.RUNNING or not run.all_chunks_counted:
            return
        status, message = run.outcome()
        if ended := self.store.finish_if_done(run, status, message):
            record(RUNS_FINISHED, 1, Status=status.value)
            log("run finished", status=status.value, success=run.success_count, errors=run.error_count)
            self.vault.release(run, self.store)
            self._announce(ended)

    def _announce(self, ended: Run) -> None:
        """Publish the end of a run this worker ended (only the caller whose update ended it gets here)."""
        if self.notices is not None:
            self.notices.run_ended(ended)


@dataclass
class MappedChunk:
    """A chunk read, mapped and validated: what the worker delivers and what it reports."""

    result: Transformed          # the documents of the valid records
    errors: list[RecordError]    # the error report's rows, in record order
    records: int                 # records read, valid or not
    rejected: int                # records rejected (a record may have several error rows)
    frame: pd.DataFrame | None = None  # the readable records as read (the reconciliation's source totals)
    rows: np.ndarray | None = None     # their record numbers
    unreadable: int = 0                # records that could not be read


def map_chunk(data: bytes, header: list[str], fmt: InputFormat, spec: RecordSpec, first_row: int,
              today: date | None = None) -> MappedChunk:
    """Read a chunk's bytes, map and validate its records: the worker's path without I/O."""
    chunk = read_records(data, header, fmt, spec, first_row)
    result = transform(chunk.frame, spec, chunk.rows, today=today)
    errors = [RecordError.of_record(row, chunk.malformed_rule, why) for row, why in chunk.malformed] + result.errors
    errors.sort(key=lambda e: e.row)
    return MappedChunk(result, errors, len(chunk.frame) + len(chunk.malformed), result.error_rows + len(chunk.malformed),
                       chunk.frame, chunk.rows, len(chunk.malformed))
