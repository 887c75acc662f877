"""The run store: run items and chunk markers in one DynamoDB table (DESIGN 10).

A run item (pk=RUN#<id>, sk=RUN) holds the request, status, step, counters and
timestamps. Each processed chunk leaves a marker (sk=CHUNK#<n>) written in the
same transaction that adds its counts to the run, guarded by
`attribute_not_exists`: a chunk delivered twice is counted once (DESIGN 4).
Active runs carry `active_pk`, so the sparse `active-runs` index holds only
them; a run that has ended keeps it, set to ANNOUNCING, until its end is
announced (chalicelib.notifications), so that the reaper finds an end whose
function died before announcing it. Every run carries `recent_pk` for the
`recent-runs` index, one partition per tenant (the default tenant's is the one
every run used before tenants existed).
"""
from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from functools import lru_cache

from botocore.exceptions import ClientError

from chalicelib.models import DYNAMODB_DIGITS, InputFormat, OutputMode, RunStatus, Step, steps_before
from chalicelib.messages import ChunkMessage
from chalicelib.access import DEFAULT_TENANT
from chalicelib.run import RUN_FIELDS, Run, audit_entry

ACTIVE_INDEX = "active-runs"
COUNT_CONFLICT_RETRIES = 6  # a chunk's count meeting other chunks' on the run item: up to about 3 s of waits
RECENT_INDEX = "recent-runs"
ACTIVE = "ACTIVE"
ANNOUNCING = "ANNOUNCING"  # the active-runs index's other partition: ended runs whose end is not yet announced
RECENT = "RUNS"



@lru_cache(maxsize=None)
def _types():
    """boto3's DynamoDB (de)serializers, made on first use: importing boto3 is a fifth of a second
    the API's cold start need not pay before its first request."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    return TypeSerializer(), TypeDeserializer()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(at: str) -> datetime:
    """A run's timestamp, as now_iso writes it, read back."""
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def seconds_between(start: str | None, end: str) -> float | None:
    """Seconds from one of a run's timestamps to another, to the millisecond; None without a start."""
    if not start:
        return None
    return round((parse_iso(end) - parse_iso(start)).total_seconds(), 3)


def _key(run_id: str, sk: str = "RUN") -> dict:
    return {"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": sk}}


def _to_ddb(values: dict) -> dict:
    serializer = _types()[0]
    return {k: serializer.serialize(_decimals(v)) for k, v in values.items()}


def _decimals(value: Any) -> Any:
    """DynamoDB takes numbers as Decimal, never float, of at most 38 significant digits: a whole number's
    trailing zeros go into the exponent (10**125 is 1E+125), or boto3 refuses it as rounded."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        sign, digits, exponent = number.as_tuple()
        if len(digits) <= DYNAMODB_DIGITS:
            return number  # as it is: counters stay plain digits
        while len(digits) > 1 and digits[-1] == 0:
            digits, exponent = digits[:-1], exponent + 1
        return Decimal((sign, digits, exponent))
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    return value


def _from_ddb(item: dict) -> dict:
    deserializer = _types()[1]
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def run_to_item(run: Run) -> dict:
    """The table item of a run: its fields (None left out), the keys, and the index keys."""
    values = {name: getattr(run, name) for name in RUN_FIELDS}
    values.update(status=run.status.value, current_step=run.current_step.value, output_mode=run.output_mode.value,
                  input_format=run.input_format.to_dict())
    item = {"pk": f"RUN#{run.run_id}", "sk": "RUN", "recent_pk": _recent_partition(run.tenant),
            **{k: v for k, v in values.items() if v is not None}}
    # A run written ended (an upload that could not start one) is announced like any other end.
    item["active_pk"] = ACTIVE if run.active else ANNOUNCING
    return item


def _recent_partition(tenant: str) -> str:
    return RECENT if tenant == DEFAULT_TENANT else f"{RECENT}#{tenant}"


def run_from_item(item: dict) -> Run:
    """A run from its table item (as `_from_ddb` gives it); fields an older item lacks take their defaults."""
    values = {k: v for k, v in item.items() if k in RUN_FIELDS}
    values["status"] = RunStatus(values["status"])
    values["current_step"] = Step(values.get("current_step", Step.INITIALIZING.value))
    values["output_mode"] = OutputMode(values["output_mode"])
    values["input_format"] = InputFormat(**values.get("input_format", {}))
    if "max_error_rate" in values:
        values["max_error_rate"] = float(values["max_error_rate"])
    return Run(**values)


def chunk_marker(run_id: str, chunk: int, success: int, errors: int, failed: bool, reason: str | None,
                 error_rows: int, message: ChunkMessage | None, ttl_seconds: int, totals: dict | None = None) -> dict:
    """What a counted chunk leaves beside its run: its counts and outcome, expiring after `ttl_seconds`."""
    marker = {"pk": f"RUN#{run_id}", "sk": f"CHUNK#{chunk:06d}", "chunk": chunk,
              "success_count": success, "error_count": errors, "error_rows": error_rows,
              "outcome": "failed" if failed else "done", "counted_at": now_iso(),
              "expires_at": int(time.time()) + ttl_seconds}
    if reason:
        marker["reason"] = reason
    if message is not None:
        marker["pointer"] = message.pointer()  # a failed chunk's message, so a retry can send it again
    if totals is not None:
        marker["totals"] = totals  # its record counts and control totals by group (chalicelib.reconciliation)
    return marker


def _position(run: Run) -> tuple[str, str]:
    """Where a listing goes on from after `run`: its keys in the recent-runs index."""
    return run.created_at, run.run_id


def _invalid_path(err: ClientError) -> bool:
    """A transaction refused because an update's document path does not exist in the item."""
    if err.response["Error"]["Code"] == "ValidationException":
        return "document path" in err.response["Error"].get("Message", "")
    reasons = err.response.get("CancellationReasons") or []
    return any(r.get("Code") == "ValidationError" for r in reasons) and \
        not any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _conditional_failed(err: ClientError) -> bool:
    return err.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


class RunStore:
    """Run items and chunk markers, spoken of in the service's own verbs."""

    def __init__(self, client, table_name: str, marker_ttl_seconds: int = 30 * 24 * 3600,
                 sleep: Callable[[float], None] = time.sleep):
        self._db = client
        self._table = table_name
        self._marker_ttl = marker_ttl_seconds
        self._sleep = sleep

    # ----------------------------------------------------------------- create/read
    def create(self, run: Run) -> bool:
        """Write a new run, pending (or already failed: an upload that could not start one); False if a run
        with this id exists already."""
        try:
            self._db.put_item(TableName=self._table, Item=_to_ddb(run_to_item(run)),
                              ConditionExpression="attribute_not_exists(pk)")
        except ClientError as err:
            if _conditional_failed(err):
                return False
            raise
        return True

    def set_credentials(self, run_id: str, credentials_ref: str) -> bool:
        """Point a pending run at its credentials; False if it was cancelled meanwhile."""
        return self._update(run_id, "SET credentials_ref = :ref",
                            {":ref": credentials_ref, ":pending": RunStatus.PENDING.value},
                            condition="#status = :pending")

    def get(self, run_id: str, consistent: bool = True) -> Run | None:
        response = self._db.get_item(TableName=self._table, Key=_key(run_id), ConsistentRead=consistent)
        item = response.get("Item")
        return run_from_item(_from_ddb(item)) if item else None

    def list_active(self, tenant: str | None = None) -> list[Run]:
        """Pending and running runs: a tenant's, or every tenant's (the reaper). Few at a time, as each
        tenant has a cap on them, so one index partition holds them all."""
        if tenant is None:
            return self._query(ACTIVE_INDEX, "active_pk", ACTIVE, limit=None)
        # Runs written before tenants existed carry none: they are the default tenant's.
        mine = "(#tenant = :tenant OR attribute_not_exists(#tenant))" if tenant == DEFAULT_TENANT else \
            "#tenant = :tenant"
        return self._query(ACTIVE_INDEX, "active_pk", ACTIVE, limit=None,
                           where=(mine, {"#tenant": "tenant"}, {":tenant": {"S": tenant}}))

    def list_unannounced(self) -> list[Run]:
        """Ended runs whose end is not announced yet: for a few milliseconds after each end, or for good if the
        function that ended the run died before it announced the end (the reaper announces it then)."""
        return self._query(ACTIVE_INDEX, "active_pk", ANNOUNCING, limit=None)

    def mark_announced(self, run_id: str) -> bool:
        """Take an ended run out of the unannounced ones; False if it is not among them (announced already,
        or reopened by a retry, which made it active again)."""
        return self._conditional_update(run_id, "REMOVE active_pk", {":announcing": ANNOUNCING},
                                        condition="active_pk = :announcing") is not None

    def list_runs(self, tenant: str, limit: int, status: str | None = None, record_type: str | None = None,
                  since: str | None = None, until: str | None = None, after: tuple[str, str] | None = None,
                  max_read: int = 2000) -> tuple[list[Run], tuple[str, str] | None]:
        """A page of the tenant's runs, newest first: at most `limit` of those created within [since, until]
        (timestamps as runs keep them) with that status and record type, after the position `after`.

        `status` is a run's status, or `completed_with_rejections` (completed, some records rejected).
        DynamoDB applies its Limit before the filter, so the index is read page after page until `limit` runs
        are found, the partition ends, or `max_read` runs were read. Answers the runs and the position
        (created_at, run_id) to go on from, or None at the end.
        """
        where: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if status == "completed_with_rejections":
            where.append("#status = :status AND error_count > :zero")
            names["#status"], values[":status"], values[":zero"] = "status", RunStatus.COMPLETED.value, 0
        elif status:
            where.append("#status = :status")
            names["#status"], values[":status"] = "status", status
        if record_type:
            where.append("record_type = :record_type")
            values[":record_type"] = record_type
        kwargs = self._recent_query(tenant, since, until, " AND ".join(where), names, values)
        if after:
            kwargs["ExclusiveStartKey"] = {"recent_pk": {"S": _recent_partition(tenant)}, "created_at": {"S": after[0]},
                                           "pk": {"S": f"RUN#{after[1]}"}, "sk": {"S": "RUN"}}
        runs: list[Run] = []
        read = 0
        while True:
            wanted = limit - len(runs)
            kwargs["Limit"] = min(max_read - read, max(wanted, 100) if where else wanted)
            response = self._db.query(**kwargs)
            read += response.get("ScannedCount", len(response.get("Items", [])))
            for item in response.get("Items", []):
                if len(runs) == limit:
                    return runs, _position(runs[-1])
                runs.append(run_from_item(_from_ddb(item)))
            last = response.get("LastEvaluatedKey")
            if last is None:
                return runs, None
            if len(runs) == limit:
                return runs, _position(runs[-1])
            if read >= max_read:  # bounded: the next page goes on from where this one stopped reading
                return runs, (last["created_at"]["S"], last["pk"]["S"].removeprefix("RUN#"))
            kwargs["ExclusiveStartKey"] = last

    def count_outcomes(self, tenant: str, record_type: str | None = None, since: str | None = None,
                       until: str | None = None, max_runs: int = 10_000) -> tuple[dict[str, int], bool]:
        """How many of the tenant's runs (of a record type, created within [since, until]) are pending,
        running, completed (without rejections), completed_with_rejections, failed and cancelled; and whether
        every run was counted (False when more than `max_runs` were, the newest `max_runs` only)."""
        counts = {name: 0 for name in ("pending", "running", "completed", "completed_with_rejections", "failed",
                                       "cancelled")}
        values: dict[str, Any] = {":record_type": record_type} if record_type else {}
        kwargs = self._recent_query(tenant, since, until, "record_type = :record_type" if record_type else "",
                                    {"#status": "status"}, values)
        kwargs["ProjectionExpression"] = "#status, error_count"
        read = 0
        while True:
            kwargs["Limit"] = max_runs - read
            response = self._db.query(**kwargs)
            read += response.get("ScannedCount", len(response.get("Items", [])))
            for item in map(_from_ddb, response.get("Items", [])):
                status = item.get("status")
                if status == RunStatus.COMPLETED.value and item.get("error_count"):
                    status = "completed_with_rejections"
                if status in counts:
                    counts[status] += 1
            if "LastEvaluatedKey" not in response:
                return counts, True
            if read >= max_runs:
                return counts, False
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def recent_measures(self, tenant: str, record_type: str, output_mode: OutputMode, validate_only: bool,
                        max_read: int = 200, wanted: int = 10) -> list[dict]:
        """Size and duration of the tenant's latest completed runs of a kind (at most `wanted`), for estimates
        (chalicelib.progress): one query, reading at most `max_read` of its newest runs."""
        kwargs = self._recent_query(
            tenant, None, None,
            "#status = :completed AND record_type = :record_type AND output_mode = :mode AND "
            "validate_only = :validate_only AND #duration > :zero",
            {"#status": "status", "#duration": "duration"},
            {":completed": RunStatus.COMPLETED.value, ":record_type": record_type, ":mode": output_mode.value,
             ":validate_only": validate_only, ":zero": 0})
        kwargs.update(Limit=max_read, ProjectionExpression="input_bytes, total_records, #duration")
        return [_from_ddb(item) for item in self._db.query(**kwargs).get("Items", [])][:wanted]

    def _recent_query(self, tenant: str, since: str | None, until: str | None, where: str, names: dict,
                      values: dict) -> dict[str, Any]:
        """A query of the tenant's partition of the recent-runs index, newest first, created within [since, until]
        (the index's sort key), filtered by `where`."""
        key = "#k = :v"
        if since and until:
            key += " AND #created BETWEEN :since AND :until"
        elif since or until:
            key += " AND #created >= :since" if since else " AND #created <= :until"
        bounds = {name: value for name, value in ((":since", since), (":until", until)) if value}
        kwargs: dict[str, Any] = dict(
            TableName=self._table, IndexName=RECENT_INDEX, KeyConditionExpression=key, ScanIndexForward=False,
            ExpressionAttributeNames={"#k": "recent_pk", **({"#created": "created_at"} if bounds else {}), **names},
            ExpressionAttributeValues=_to_ddb({":v": _recent_partition(tenant), **bounds, **values}))
        if where:
            kwargs["FilterExpression"] = where
        return kwargs

    def _query(self, index: str, key: str, value: str, limit: int | None,
               where: tuple[str, dict, dict] | None = None) -> list[Run]:
        items: list[Run] = []
        kwargs: dict[str, Any] = dict(
            TableName=self._table, IndexName=index, KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": key}, ExpressionAttributeValues={":v": {"S": value}},
            ScanIndexForward=False)
        if where:
            kwargs["FilterExpression"] = where[0]
            kwargs["ExpressionAttributeNames"].update(where[1])
            kwargs["ExpressionAttributeValues"].update(where[2])
        while True:
            if limit:
                kwargs["Limit"] = limit - len(items)
            response = self._db.query(**kwargs)
            items.extend(run_from_item(_from_ddb(i)) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response or (limit and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --------------------------------------------------------------- transitions
    def start_planning(self, run_id: str) -> bool:
        """pending -> running; False if the run is no longer pending (cancelled, or planned already)."""
        at = now_iso()
        return self._update(
            run_id,
            "SET #status = :running, started_at = :at, updated_at = :at, current_step = :step, "
            "step_history = list_append(step_history, :history), chunk_live = if_not_exists(chunk_live, :none)",
            {":running": RunStatus.RUNNING.value, ":at": at, ":step": Step.WORKFLOW_INITIALIZED.value,
             ":history": [{"step": Step.WORKFLOW_INITIALIZED.value, "at": at}],
             ":pending": RunStatus.PENDING.value, ":none": {}},
            condition="#status = :pending")

    def advance_step(self, run_id: str, step: Step, extra: dict | None = None) -> bool:
        """Move the step forward; a step never goes back, and only a running run moves."""
        at = now_iso()
        earlier = [s.value for s in steps_before(step)]
        names = {f":e{i}": s for i, s in enumerate(earlier)}
        sets = "current_step = :step, updated_at = :at, step_history = list_append(step_history, :history)"
        values: dict[str, Any] = {":step": step.value, ":at": at, ":history": [{"step": step.value, "at": at}],
                                  ":running": RunStatus.RUNNING.value, **names}
        for i, (k, v) in enumerate((extra or {}).items()):
            sets += f", {k} = :x{i}"
            values[f":x{i}"] = v
        condition = "#status = :running"
        if names:
            condition += f" AND current_step IN ({', '.join(names)})"
        return self._update(run_id, "SET " + sets, values, condition=condition)

    def record_plan(self, run_id: str, total_records: int, chunks_total: int, header: list[str],
                    input_sha256: str | None = None, input_bytes: int | None = None,
                    input_version: str | None = None) -> bool:
        """Keep the plan's counts, the file's header, and the file's identity (SHA-256, size, and the version
        the plan read: the one the run was queued with, or for a run queued before versions were kept, the one
        it found) as planned."""
        at = now_iso()
        identity = {":sha": input_sha256, ":bytes": input_bytes, ":version": input_version}
        sets = "".join(f", {name} = {key}" for name, key in (("input_sha256", ":sha"), ("input_bytes", ":bytes"),
                                                            ("input_version", ":version"))
                       if identity[key] is not None)
        return self._update(
            run_id,
            "SET total_records = :total, chunks_total = :chunks, header = :header, planned_at = :at, "
            "updated_at = :at, current_step = :step, step_history = list_append(step_history, :history)" + sets,
            {":total": total_records, ":chunks": chunks_total, ":header": header, ":at": at,
             ":step": Step.DATA_MAPPING.value, ":history": [{"step": Step.DATA_MAPPING.value, "at": at}],
             ":running": RunStatus.RUNNING.value, **{k: v for k, v in identity.items() if v is not None}},
            condition="#status = :running")

    def record_reconciliation(self, run_id: str, reconciliation: dict, ended_at: str | None) -> bool:
        """Flag an ended run with its reconciliation report ({balanced, report, generated_at}), or with its failure
        ({failed, failed_at}); False if the run is active again (a retry) or ended anew since the end the report
        was built for."""
        values: dict[str, Any] = {":reconciliation": reconciliation, ":pending": RunStatus.PENDING.value,
                                  ":running": RunStatus.RUNNING.value}
        condition = "NOT #status IN (:pending, :running)"
        if ended_at:
            values[":ended"] = ended_at
            condition += " AND completed_at = :ended"
        return self._update(run_id, "SET reconciliation = :reconciliation", values, condition=condition)

    def request_report(self, run_id: str, by: str) -> bool:
        """Take the failure flag off an ended run's reconciliation (docs/reconciliation.md), so that the report
        asked for again reads "not written yet" until it is, and note who asked in the audit trail. False
        unless the run has ended and its report is flagged as failed: a request made twice at once takes the
        flag off once."""
        return self._conditional_update(
            run_id, "SET audit = list_append(if_not_exists(audit, :none), :audit) REMOVE reconciliation",
            {":none": [], ":audit": [audit_entry("report_requested", by, now_iso())],
             ":pending": RunStatus.PENDING.value, ":running": RunStatus.RUNNING.value},
            condition="NOT #status IN (:pending, :running) AND attribute_exists(reconciliation.#failed)",
            names={"#failed": "failed"}) is not None

    def note_live(self, run_id: str, chunk: int, records: int) -> bool:
        """Note the records a chunk's current attempt has delivered so far (progress per delivery call,
        chalicelib.progress): its own entry, overwritten, so an attempt after a failed one starts it again.
        False if the run is no longer running, or its item predates live progress (it has no map to note in:
        a nested SET on a missing map is refused)."""
        return self._conditional_update(
            run_id, "SET chunk_live.#chunk = :records", {":records": records, ":running": RunStatus.RUNNING.value},
            condition="#status = :running AND attribute_exists(chunk_live)", names={"#chunk": str(chunk)}) is not None

    def count_chunk(self, run_id: str, chunk: int, success: int, errors: int, failed: bool = False,
                    reason: str | None = None, rule_counts: dict[str, int] | None = None,
                    error_rows: int = 0, message: ChunkMessage | None = None, totals: dict | None = None) -> bool:
        """Add one chunk's counts to its run, exactly once. False if it was counted before.

        `rule_counts` are the chunk's broken rules (a record may break several);
        `error_rows` is the number of rows of its error report part, which the
        errors endpoint pages through.
        """
        marker = chunk_marker(run_id, chunk, success, errors, failed, reason, error_rows, message, self._marker_ttl,
                              totals)
        done_counter = "chunks_failed" if failed else "chunks_done"
        names: dict[str, str] = {"#live": str(chunk)}
        values: dict[str, Any] = {":s": success, ":e": errors, ":one": 1, ":at": now_iso(), ":zero": 0}
        sets = ["updated_at = :at"]
        for i, (rule, count) in enumerate(sorted((rule_counts or {}).items())):
            names[f"#r{i}"] = rule
            values[f":r{i}"] = count
            sets.append(f"error_rules.#r{i} = if_not_exists(error_rules.#r{i}, :zero) + :r{i}")
        # The chunk's live note goes as its counts come: the live view never counts its records twice.
        update: dict[str, Any] = {
            "TableName": self._table, "Key": _key(run_id),
            "UpdateExpression": f"ADD success_count :s, error_count :e, {done_counter} :one SET " + ", ".join(sets)
                                + " REMOVE chunk_live.#live",
            "ExpressionAttributeValues": _to_ddb(values), "ExpressionAttributeNames": names}
        put = {"Put": {"TableName": self._table, "Item": _to_ddb(marker), "ConditionExpression": "attribute_not_exists(pk)"}}
        try:
            try:
                self._count_transaction([put, {"Update": update}])
            except ClientError as err:
                if not _invalid_path(err):
                    raise
                # An item written before live progress has no map to remove from (DynamoDB refuses the path):
                # it has no note either, so it is counted without.
                update["UpdateExpression"] = update["UpdateExpression"].removesuffix(" REMOVE chunk_live.#live")
                del names["#live"]
                if not names:
                    del update["ExpressionAttributeNames"]
                self._count_transaction([put, {"Update": update}])
            return True
        except ClientError as err:
            reasons = err.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise

    def _count_transaction(self, items: list[dict]) -> None:
        """A chunk's count-once transaction, tried again when it met another on the run item.

        Every chunk of a run adds to the same item, so two workers counting at once collide: DynamoDB cancels
        one transaction whole (TransactionConflict), and the SDK does not retry that. Without a retry here the
        chunk would come back only after the queue's visibility timeout, minutes later. Trying again is safe:
        the cancelled attempt wrote nothing, and the marker's condition still counts the chunk once.
        """
        for attempt in range(COUNT_CONFLICT_RETRIES + 1):
            try:
                self._db.transact_write_items(TransactItems=items)
                return
            except ClientError as err:
                codes = {r.get("Code") for r in err.response.get("CancellationReasons") or []}
                if "TransactionConflict" not in codes or "ConditionalCheckFailed" in codes \
                        or attempt == COUNT_CONFLICT_RETRIES:
                    raise
                self._sleep(random.uniform(0, min(1.0, 0.05 * 2 ** attempt)))  # full jitter

    def chunk_markers(self, run_id: str) -> list[dict]:
        """The run's counted chunks, in chunk order."""
        markers: list[dict] = []
        kwargs: dict[str, Any] = dict(
            TableName=self._table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chunk)",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":chunk": {"S": "CHUNK#"}})
        while True:
            response = self._db.query(**kwargs)
            markers.extend(_from_ddb(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return markers
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def chunk_counted(self, run_id: str, chunk: int) -> bool:
        response = self._db.get_item(TableName=self._table, Key=_key(run_id, f"CHUNK#{chunk:06d}"),
                                     ConsistentRead=True, ProjectionExpression="pk")
        return "Item" in response

    def finish_if_done(self, run: Run, status: RunStatus, error_message: str | None = None) -> Run | None:
        """End a running run whose chunks are all counted, as seen in `run`: the run as it ended, or None.

        The condition repeats the counts that were read, so of two workers that
        both see the last chunk counted only one ends the run, and only that one
        is handed the ended run (to announce its end: chalicelib.notifications).
        """
        at = now_iso()
        sets = ("SET #status = :status, completed_at = :at, updated_at = :at, #duration = :duration, "
                "current_step = :step, step_history = list_append(step_history, :history)")
        step = Step.COMPLETED if status == RunStatus.COMPLETED else None
        values: dict[str, Any] = {
            ":status": status.value, ":at": at, ":duration": seconds_between(run.started_at, at),
            ":running": RunStatus.RUNNING.value, ":done": run.chunks_done, ":failed": run.chunks_failed,
            ":step": (step or run.current_step).value,
            ":history": [{"step": (step.value if step else f"{status.value}"), "at": at}],
        }
        if error_message:
            sets += ", error_message = :message"
            values[":message"] = error_message
        values[":announcing"] = ANNOUNCING
        return self._ended(self._conditional_update(
            run.run_id, sets + ", active_pk = :announcing", values,
            condition="#status = :running AND chunks_done = :done AND chunks_failed = :failed", returning=True))

    def fail(self, run_id: str, error_message: str, run: Run | None = None) -> Run | None:
        """End a pending or running run as failed (unreadable file, wrong header, ...): the run as it ended,
        or None if it had already ended."""
        return self._end(run_id, RunStatus.FAILED, run, {"error_message": error_message})

    def cancel(self, run_id: str, run: Run | None = None, by: str = "") -> Run | None:
        """pending/running -> cancelled, noting who cancelled it: the run as it ended, or None if it had
        already ended."""
        return self._end(run_id, RunStatus.CANCELLED, run, {"cancelled_at": None}, audit_action=("cancelled", by))

    def _end(self, run_id: str, status: RunStatus, run: Run | None, extra: dict,
             audit_action: tuple[str, str] | None = None) -> Run | None:
        """End a pending or running run. `run` (as last read) gives its start, for the duration;
        it is read here when the caller has no fresh copy. `extra` values of None take the end time.
        The update answers the item it left, so the caller that ended the run has it without a read."""
        at = now_iso()
        run = run if run is not None else self.get(run_id)
        values: dict[str, Any] = {
            ":status": status.value, ":at": at, ":history": [{"step": status.value, "at": at}],
            ":duration": seconds_between(run and (run.started_at or run.created_at), at),
            ":pending": RunStatus.PENDING.value, ":running": RunStatus.RUNNING.value, ":announcing": ANNOUNCING}
        sets = ""
        for i, (name, value) in enumerate(extra.items()):
            sets += f"{name} = :e{i}, "
            values[f":e{i}"] = at if value is None else value
        if audit_action:
            sets += "audit = list_append(if_not_exists(audit, :none), :audit), "
            values.update({":none": [], ":audit": [audit_entry(*audit_action, at)]})
        return self._ended(self._conditional_update(
            run_id,
            f"SET #status = :status, {sets}completed_at = :at, updated_at = :at, #duration = :duration, "
            "step_history = list_append(step_history, :history), active_pk = :announcing",
            values, condition="#status IN (:pending, :running)", returning=True))

    @staticmethod
    def _ended(response: dict | None) -> Run | None:
        return run_from_item(_from_ddb(response["Attributes"])) if response is not None else None

    def reopen_for_retry(self, run: Run, failed_chunks: int, credentials_ref: str | None, by: str = "",
                         notify: tuple[str, str] | None = None) -> bool:
        """A finished run with failed chunks -> running again, noting who retried it; False if another
        retry got there first. `notify` (webhook URL, the vault's name for its key) is the webhook the
        retried run's end calls; without it, that end calls none (its key went with the first end's call)."""
        at = now_iso()
        sets = ("SET #status = :running, updated_at = :at, current_step = :step, active_pk = :active, "
                "retry_count = if_not_exists(retry_count, :zero) + :one, chunk_live = :no_notes, "
                "step_history = list_append(step_history, :history), "
                "audit = list_append(if_not_exists(audit, :none), :audit)")
        values: dict[str, Any] = {
            ":none": [], ":audit": [audit_entry("retried", by, at)], ":no_notes": {},
            ":running": RunStatus.RUNNING.value, ":at": at, ":step": Step.DATA_MAPPING.value, ":active": ACTIVE,
            ":zero": 0, ":one": 1, ":failed": failed_chunks,
            ":history": [{"step": "retry", "at": at, "chunks": failed_chunks}],
            ":completed": RunStatus.COMPLETED.value, ":failed_status": RunStatus.FAILED.value}
        if credentials_ref:
            sets += ", credentials_ref = :credentials"
            values[":credentials"] = credentials_ref
        # the next end's call is its own, and so is its reconciliation report
        removed = "completed_at, #duration, error_message, notification, reconciliation"
        if notify:
            sets += ", notify_url = :notify_url, notify_secret_ref = :notify_secret"
            values.update({":notify_url": notify[0], ":notify_secret": notify[1]})
        else:
            removed += ", notify_url, notify_secret_ref"
        return self._update(run.run_id, f"{sets} REMOVE {removed}", values,
                            condition="#status IN (:completed, :failed_status) AND chunks_failed = :failed")

    def uncount_failed_chunk(self, run_id: str, marker: dict) -> bool:
        """Take a failed chunk's counts back off its run, in one transaction with its marker."""
        rows = int(marker["error_count"])
        try:
            self._db.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self._table, "Key": _key(run_id, f"CHUNK#{int(marker['chunk']):06d}"),
                            "ConditionExpression": "outcome = :failed",
                            "ExpressionAttributeValues": _to_ddb({":failed": "failed"})}},
                {"Update": {"TableName": self._table, "Key": _key(run_id),
                            "UpdateExpression": "ADD error_count :minus, chunks_failed :minus_one "
                                                "SET error_rules.chunk_failed = error_rules.chunk_failed - :rows",
                            "ExpressionAttributeValues": _to_ddb({":minus": -rows, ":minus_one": -1,
                                                                  ":rows": rows})}},
            ])
            return True
        except ClientError as err:
            if _conditional_failed(err):
                return False
            raise

    def note_plan_part(self, run_id: str, part: str) -> set[str] | None:
        """Count one part of a fanned-out plan (chalicelib.inputs.ranges) in the run's set of planned parts:
        a set, so a part delivered twice counts once. The parts counted so far, or None if the run is no
        longer running or is planned already (a late duplicate)."""
        answer = self._conditional_update(
            run_id, "ADD plan_parts :part SET updated_at = :at",
            {":part": {part}, ":at": now_iso(), ":running": RunStatus.RUNNING.value},
            condition="#status = :running AND attribute_not_exists(planned_at)", returning=True)
        if answer is None:
            return None
        return set(_from_ddb(answer["Attributes"]).get("plan_parts", ()))

    def note_input_sha256(self, run_id: str, sha256: str) -> bool:
        """Keep the input file's SHA-256, taken apart from the plan (a fanned-out plan's digest part), whatever
        the run's state: the run's reconciliation report shows it. False if there is no such run."""
        return self._update(run_id, "SET input_sha256 = :sha", {":sha": sha256}, condition="attribute_exists(pk)")

    def note_replan(self, run_id: str, seen_count: int) -> bool:
        """Count a re-sent plan; False if the run was planned, ended or re-planned meanwhile."""
        values: dict[str, Any] = {":next": seen_count + 1, ":at": now_iso(),
                                  ":pending": RunStatus.PENDING.value, ":running": RunStatus.RUNNING.value}
        values[":seen"] = seen_count
        seen = "replan_count = :seen"
        if not seen_count:  # an item written before runs carried the count has none
            seen = "(attribute_not_exists(replan_count) OR replan_count = :seen)"
        return self._update(run_id, "SET replan_count = :next, updated_at = :at", values,
                            condition=f"#status IN (:pending, :running) AND attribute_not_exists(planned_at) "
                                      f"AND {seen}")

    def forget_credentials(self, run_id: str, reference: str) -> None:
        """Drop the run's pointer to credentials that were deleted; only to those: a retry that gave the run
        new ones meanwhile (a late release of the end before it) keeps its own."""
        self._conditional_update(run_id, "REMOVE credentials_ref", {":ref": reference},
                                 condition="credentials_ref = :ref")

    def record_notification(self, run_id: str, notification: dict, new_end: bool = False) -> bool:
        """Keep how the run's webhook call went (`notifications.notification_record`). A new end's record
        (`new_end`) replaces whatever was there; any other only its own end's (or none), so a late outcome
        of an earlier end never overwrites a later one. False if it did not."""
        values: dict[str, Any] = {":notification": notification}
        condition = "attribute_exists(pk)"
        if not new_end:
            values[":event"] = notification["event_id"]
            condition = "attribute_not_exists(notification) OR notification.event_id = :event"
        return self._update(run_id, "SET notification = :notification", values, condition=condition)

    def _update(self, run_id: str, expression: str, values: dict, condition: str) -> bool:
        return self._conditional_update(run_id, expression, values, condition) is not None

    def _conditional_update(self, run_id: str, expression: str, values: dict, condition: str,
                            returning: bool = False, names: dict[str, str] | None = None) -> dict | None:
        """The update's answer (with the item it left, if `returning`), or None if the condition failed."""
        kwargs: dict[str, Any] = dict(
            TableName=self._table, Key=_key(run_id), UpdateExpression=expression,
            ConditionExpression=f"attribute_exists(pk) AND ({condition})",
            ExpressionAttributeValues=_to_ddb(values))
        # Both are DynamoDB reserved words, so they go by placeholder names.
        names = {**{n: n[1:] for n in ("#status", "#duration") if n in expression + condition}, **(names or {})}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if returning:
            kwargs["ReturnValues"] = "ALL_NEW"
        try:
            return self._db.update_item(**kwargs)
        except ClientError as err:
            if _conditional_failed(err):
                return None
            raise
