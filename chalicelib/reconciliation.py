"""A run's reconciliation report: what an auditor checks, from the report alone, to know that nothing was lost
or made up between the source file and the target (docs/reconciliation.md).

Three moments make it:

- planning: the planner's scan of the file also takes its SHA-256 and size (`HashingSource`), kept on the run,
  and the plan's chunk pointers are written beside the run's outputs (`plan.json`), so chunks that are never
  counted (a cancel) or that failed can still be read when the report is built;
- each chunk: the worker takes the chunk's record counts and control totals by group
  (chalicelib.records.totals) and keeps them in the chunk's marker, in the transaction that counts the chunk
  once (DESIGN 4), so a chunk delivered twice adds its totals once;
- each end: the caller that ended the run queues a reconcile message (chalicelib.notifications); a worker
  builds the report (`Reconciler.build`) from the markers, reads the chunks no marker accounts for, writes
  `reconciliation.json` beside the outputs and flags the run with {balanced, report, generated_at}. A chunk
  counted after its run ended (it was being delivered when the cancel came) queues the report again. Building
  twice gives the same report: one whose figures have not changed keeps its `generated_at`.

The report holds counts, decimal sums, code values of non-personal code fields, rule names and the file's
identity: never a record's values (the spec refuses control totals of personal fields).

This module imports no numpy or pandas at import: the API serves the report through it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator

from chalicelib.access import DEFAULT_TENANT
from chalicelib.errors import InputFileError, RunConflict
from chalicelib.messages import ChunkMessage
from chalicelib.observability import RECONCILIATIONS_FAILED, log, record
from chalicelib.runs import now_iso
from chalicelib.storage import BLOCK_SIZE

if TYPE_CHECKING:
    from chalicelib.inputs.chunks import Plan
    from chalicelib.records.schema import RecordSpec
    from chalicelib.run import Run
    from chalicelib.runs import RunStore
    from chalicelib.storage import DataRoot, StoredFile

REPORT_NAME = "reconciliation.json"
PLAN_NAME = "plan.json"
GROUPS = ("delivered", "validated", "rejected", "not_processed")  # what the source splits into
SHOWN_PROBLEMS = 10  # chunk problems named in a check's detail; the count says how many more


# ------------------------------------------------------------------ planning: the file's identity and the plan

class HashingSource:
    """A stored file whose blocks are hashed as the planner reads them: the scan that cuts chunks also gives
    the file's SHA-256 and size, without a second read (unless the planner stopped before the end)."""

    def __init__(self, source: StoredFile):
        self._source = source
        self._digest = hashlib.sha256()
        self._size = 0
        self._complete = False

    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        self._digest, self._size, self._complete = hashlib.sha256(), 0, False
        for block in self._source.iter_blocks(block_size):
            self._digest.update(block)
            self._size += len(block)
            yield block
        self._complete = True

    def identity(self) -> tuple[str, int]:
        """(SHA-256 in hex, size in bytes) of the whole file."""
        if not self._complete:
            for _ in self.iter_blocks():
                pass
        return self._digest.hexdigest(), self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def write_plan(folder: StoredFile, run_id: str, plan: Plan, sha256: str | None, size: int) -> None:
    """The plan's chunk pointers beside the run's outputs: what the report reads for chunks never counted.
    A fanned-out plan may be stitched before its digest is taken (chalicelib.fanout): its sha256 is then null
    here, and the run's own field, set by the digest, is what the report shows."""
    document = {"run_id": run_id, "input": {"sha256": sha256, "size_bytes": size},
                "total_records": plan.total_records, "chunks": [c.pointer() for c in plan.chunks]}
    folder.child(PLAN_NAME).write_bytes(json.dumps(document, separators=(",", ":")).encode())


def run_folder(run: Run, data_root: DataRoot) -> tuple[StoredFile, str]:
    """The run's output folder and its path as answers show it. A run an upload could not start keeps the
    default output_dir, which is not a named tenant's area: its report goes to the tenant's own."""
    output_dir = run.output_dir
    if run.tenant != DEFAULT_TENANT and not output_dir.startswith(f"tenants/{run.tenant}/"):
        output_dir = f"tenants/{run.tenant}/output"
    return (data_root.resolve(output_dir, "output_dir").child(run.run_id),
            f"{output_dir.rstrip('/')}/{run.run_id}/")


# ------------------------------------------------------------------ serving it

def report_answer(run: Run, data_root: DataRoot) -> dict:
    """The report of an ended run, as written; a 409 while the run is active or its report not yet written."""
    if run.active:
        raise RunConflict(f"Migration {run.run_id} is {run.status.value}: its reconciliation report is written "
                          f"when it ends")
    if run.reconciliation is None:
        raise RunConflict(f"Migration {run.run_id} ended, but its reconciliation report is not written yet; "
                          f"try again in a few seconds")
    if "failed" in run.reconciliation:
        raise RunConflict(f"Migration {run.run_id} ended, but {run.reconciliation['failed']} "
                          f"({run.reconciliation['failed_at']}): the worker's log says why. Once that is mended, "
                          f"POST .../{run.run_id}/reconciliation builds it again (docs/reconciliation.md)")
    folder, _ = run_folder(run, data_root)
    report = folder.child(REPORT_NAME)
    if not report.exists():
        raise RunConflict(f"Migration {run.run_id}: its reconciliation report is no longer in its output folder")
    return json.loads(report.read_bytes())


def flag_report_failed(store: RunStore, run: Run, reason: str) -> bool:
    """Flag an ended run whose report will not come by itself (its message dead-lettered, or was refused at
    the run's end), so that its status and its report's route say so instead of "not written yet" for ever,
    and count it for the operators' alarm. The flag (answers.py: ReconciliationFailed) says why and when; it
    is set only on the end the report was for, and a report built later replaces it. False if the run is
    active again, or flagged already (a dead letter delivered twice counts once)."""
    if "failed" in (run.reconciliation or {}):
        return False
    flagged = store.record_reconciliation(run.run_id, {"failed": reason, "failed_at": now_iso()}, run.completed_at)
    if flagged:
        record(RECONCILIATIONS_FAILED, 1)
    return flagged


# ------------------------------------------------------------------ building it

@dataclass
class Reconciler:
    """Builds an ended run's report from its chunk markers and, for chunks no marker accounts for, its file."""

    store: RunStore
    data_root: DataRoot
    specs: dict[str, RecordSpec]

    def build(self, run_id: str) -> dict | None:
        """Write the report and flag the run; None if there is no ended run to report on (a retry reopened it:
        its next end builds the report again)."""
        run = self.store.get(run_id)
        if run is None or run.active:
            return None
        folder, shown = run_folder(run, self.data_root)
        report = self.report(run, folder)
        target = folder.child(REPORT_NAME)
        previous = json.loads(target.read_bytes()) if target.exists() else None
        if previous is not None and _figures(previous) == _figures(report):
            report = previous  # the same report: it keeps the time it was first written
        else:
            target.write_bytes(json.dumps(report, indent=1).encode())
        flag = {"balanced": report["balanced"], "report": shown + REPORT_NAME, "generated_at": report["generated_at"]}
        if run.reconciliation != flag:
            self.store.record_reconciliation(run_id, flag, run.completed_at)
        log("reconciliation report written", balanced=report["balanced"])
        return report

    def give_up(self, run_id: str, reason: str) -> bool:
        """A report that could not be built on any attempt (its message reached the DLQ): flag_report_failed."""
        run = self.store.get(run_id)
        return run is not None and not run.active and flag_report_failed(self.store, run, reason)

    def report(self, run: Run, folder: StoredFile) -> dict:
        spec = self.specs.get(run.record_type)
        controls = spec.control_totals if spec is not None else ()
        tally = _Tally(controls)
        problems: list[str] = []
        failed_rows = 0
        if run.planned and spec is not None:
            markers = {int(m["chunk"]): m for m in self.store.chunk_markers(run.run_id)}
            pointers = self._pointers(run, folder, markers, problems)
            for number in range(1, run.chunks_total + 1):
                marker = markers.get(number)
                if marker is not None and marker.get("outcome") == "done":
                    if "totals" in marker:
                        tally.add(marker["totals"], "counted")
                    else:
                        problems.append(f"chunk {number} was counted without totals")
                    continue
                if marker is not None:
                    failed_rows += int(marker.get("error_count", 0))
                reason = "chunk_failed" if marker is not None else "never_processed"
                pointer = pointers.get(number) or (ChunkMessage(**marker["pointer"]) if marker and
                                                   marker.get("pointer") else None)
                if pointer is None:
                    problems.append(f"chunk {number} has no pointer in the plan")
                    continue
                totals = self._unprocessed(run, spec, pointer, problems)
                if totals is not None:
                    tally.add(totals, reason)
        return self._document(run, spec, tally, problems, failed_rows)

    def _pointers(self, run: Run, folder: StoredFile, markers: dict, problems: list[str]) -> dict[int, ChunkMessage]:
        """The plan's chunk pointers, read only when a chunk lacks a marker that accounts for it."""
        if all(m.get("outcome") == "done" for m in markers.values()) and len(markers) >= run.chunks_total:
            return {}
        plan = folder.child(PLAN_NAME)
        if not plan.exists():
            problems.append("the plan's chunk pointers (plan.json) are missing")
            return {}
        document = json.loads(plan.read_bytes())
        return {c["chunk"]: ChunkMessage(**c) for c in document.get("chunks", [])}

    def _unprocessed(self, run: Run, spec: RecordSpec, pointer: ChunkMessage, problems: list[str]) -> dict | None:
        """A chunk nothing was delivered or rejected from, read again from the file: all of it not processed."""
        from chalicelib.inputs import read_records
        from chalicelib.records.totals import chunk_totals

        try:
            source = self.data_root.resolve(run.file_path, "file_path").at_version(run.input_version)
            if run.input_bytes is not None and source.size() != run.input_bytes:
                problems.append(f"chunk {pointer.chunk} could not be read: the file changed since it was planned")
                return None
            chunk = read_records(source.read_range(pointer.start, pointer.end), run.header, run.input_format, spec,
                                 pointer.first_row)
        except InputFileError as err:
            problems.append(f"chunk {pointer.chunk} could not be read: {err}")
            return None
        except Exception as err:  # noqa: BLE001 (whatever stops the read, the report says so and is not balanced)
            problems.append(f"chunk {pointer.chunk} could not be read ({type(err).__name__})")
            return None
        totals = chunk_totals(spec, chunk.frame, chunk.rows, len(chunk.malformed), None)
        if totals["records"]["read"] != pointer.rows:
            problems.append(f"chunk {pointer.chunk} holds {totals['records']['read']} records, the plan said "
                            f"{pointer.rows}")
        return totals

    def _document(self, run: Run, spec: RecordSpec | None, tally: "_Tally", problems: list[str],
                  failed_rows: int) -> dict:
        records = tally.records
        outcomes = sum(records[g] for g in GROUPS)
        rules = dict(sorted(tally.rules.items()))
        expected_rules = dict(run.rules_broken)
        if failed_rows:
            rules_with_failed = {**rules, "chunk_failed": rules.get("chunk_failed", 0) + failed_rows}
        else:
            rules_with_failed = rules
        control_totals = [tally.control(c, spec) for c in (spec.control_totals if spec else ())]
        unbalanced = [c["name"] for c in control_totals if not c["balanced"]]
        checks = [
            _check("file_planned", run.planned,
                   "the file was scanned and cut into chunks" if run.planned else
                   f"the run ended ({run.status.value}) before its file was planned"
                   + (f": {run.error_message}" if run.error_message else "") + "; no record was read"),
            _check("input_identified", bool(run.input_sha256) and run.input_bytes is not None,
                   "SHA-256 and size taken while planning" if run.input_sha256 else "the file's identity is unknown"),
            _check("chunks_accounted", run.planned and spec is not None and not problems,
                   _problems(problems) if problems else f"{run.chunks_total} chunks: each counted with totals, or "
                                                         f"read again as not processed"),
            _check("planned_equals_read", records["read"] == run.total_records,
                   f"planned {run.total_records}, read {records['read']}"),
            _check("read_equals_outcomes", records["read"] == outcomes,
                   f"read {records['read']} = delivered {records['delivered']} + validated {records['validated']} + "
                   f"rejected {records['rejected']} + not processed {records['not_processed']} ({outcomes})"),
            _check("delivered_equals_success_count", records["delivered"] + records["validated"] == run.success_count,
                   f"delivered {records['delivered']} + validated {records['validated']}; the run's success_count "
                   f"{run.success_count}" + (" (validate_only: valid records are counted as validated, none is "
                                             "delivered)" if run.validate_only else "")),
            _check("rejected_equals_error_count", records["rejected"] + failed_rows == run.error_count,
                   f"rejected {records['rejected']} + records of failed chunks {failed_rows}; the run's error_count "
                   f"{run.error_count}"),
            _check("rule_counts_match", rules_with_failed == expected_rules,
                   "the chunks' counts by rule add up to the run's" if rules_with_failed == expected_rules else
                   f"chunks {rules_with_failed}, run {expected_rules}"),
            _check("control_totals_balance", not unbalanced,
                   f"source = delivered + validated + rejected + not processed for {len(control_totals)} totals"
                   if not unbalanced else f"do not balance: {', '.join(unbalanced)}"),
        ]
        return {
            "run_id": run.run_id, "record_type": run.record_type, "status": run.status.value,
            "generated_at": now_iso(), "ended_at": run.completed_at,
            "output_mode": run.output_mode.value, "validate_only": run.validate_only,
            "input": {"file_path": run.file_path, "size_bytes": run.input_bytes, "sha256": run.input_sha256,
                      "version": run.input_version},
            "run_counts": {"total_records": run.total_records, "success_count": run.success_count,
                           "error_count": run.error_count, "errors_by_rule": expected_rules,
                           "chunks_total": run.chunks_total, "chunks_failed": run.chunks_failed},
            "records": {"planned": run.total_records, **records, "rejected_by_rule": rules,
                        "not_processed_by_reason": dict(sorted(tally.not_processed.items()))},
            "control_totals": control_totals,
            "checks": checks,
            "balanced": all(c["ok"] for c in checks),
        }


class _Tally:
    """Chunk totals added up."""

    def __init__(self, controls):
        self.records = {"read": 0, "delivered": 0, "validated": 0, "rejected": 0, "not_processed": 0,
                        "unreadable": 0}
        self.controls: dict[str, dict] = {}
        self.rules: dict[str, int] = {}
        self.not_processed: dict[str, int] = {}
        self._kinds = {c.name: c.kind for c in controls}

    def add(self, totals: dict, how: str) -> None:
        from chalicelib.records.totals import add_totals

        for key in self.records:
            self.records[key] += int(totals["records"].get(key, 0))
        not_processed = int(totals["records"].get("not_processed", 0))
        if not_processed:
            reason = "cancelled_during_delivery" if how == "counted" else how
            self.not_processed[reason] = self.not_processed.get(reason, 0) + not_processed
        for rule, count in totals.get("rules", {}).items():
            self.rules[rule] = self.rules.get(rule, 0) + int(count)
        for name, kind in self._kinds.items():
            groups = totals["controls"].get(name)
            if groups is None:
                continue  # declared after this chunk was counted: the check of its balance says so
            mine = self.controls.setdefault(name, {})
            for group in ("source",) + GROUPS:
                if group in groups:
                    mine[group] = add_totals(kind, mine[group], groups[group]) if group in mine else groups[group]

    def control(self, control, spec: RecordSpec) -> dict:
        groups = self.controls.get(control.name, {})
        entry: dict[str, Any] = {"name": control.name, "kind": control.kind, "field": control.field}
        if control.kind == "sum":
            decimal = spec.field(control.field).type == "decimal"
            sums = {g: Decimal(groups[g]["sum"]) if g in groups else Decimal(0) for g in ("source",) + GROUPS}
            counts = {g: {k: int(groups.get(g, {}).get(k, 0)) for k in ("numbers", "blank", "not_a_number")}
                      for g in ("source",) + GROUPS}
            entry.update({g: _money(sums[g], decimal) for g in ("source",) + GROUPS})
            entry["values"] = counts  # how many values each sum is of; blanks and non-numbers are in no sum
            balanced = sums["source"] == sum((sums[g] for g in GROUPS), Decimal(0)) and all(
                counts["source"][k] == sum(counts[g][k] for g in GROUPS) for k in counts["source"])
        else:
            by_group = {g: dict(sorted(groups.get(g, {}).items())) for g in ("source",) + GROUPS}
            entry.update(by_group)
            keys = set().union(*by_group.values())
            balanced = all(by_group["source"].get(k, 0) == sum(by_group[g].get(k, 0) for g in GROUPS) for k in keys)
        entry["balanced"] = bool(balanced and (groups or not self.records["read"]))
        return entry


def _money(value: Decimal, decimal: bool) -> str:
    """A sum as exact decimal text, with at least cents for a decimal field: never rounded."""
    places = max(2 if decimal else 0, -value.as_tuple().exponent)
    return format(value, f".{places}f")


def _check(name: str, ok: bool, detail: str) -> dict:
    return {"check": name, "ok": bool(ok), "detail": detail}


def _problems(problems: list[str]) -> str:
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


def _figures(report: dict) -> dict:
    """A report without the time it was written: what building it again must give the same."""
    return {k: v for k, v in report.items() if k != "generated_at"}
