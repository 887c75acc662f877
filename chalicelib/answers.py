"""The API's answers as pydantic models: one per shape, the response side of its OpenAPI description.

The service builds its answers as plain dicts (chalicelib.service and the views
of chalicelib.run); these models say what those dicts hold, and
chalicelib.openapi turns them into the description's response schemas. They
are not used to build answers, so nothing here can change what the service
says: tests hold the answers against them instead, those of the use cases
(tests/unit/test_openapi.py) and those of the live API
(tests/e2e/test_openapi_conformance.py).

They are as strict as the answers are regular, so that a changed answer fails
those tests: every model forbids keys it does not name; a key that is always
there is required, and one that may be null says so (`X | None`, no default);
a key that is sometimes left out (`present_only_when`) is optional and never
null. Free-form objects (a run's `metadata`) are the only open ones.

Nothing here imports numpy, pandas, requests or boto3: app.py imports it with
the OpenAPI generator.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.access import KEY_ID_PATTERN, ROLE_LABELS, TENANT_PATTERN
from chalicelib.inputs.fixed.file_layout import ROLES as RECORD_ROLES
from chalicelib.inputs.fixed.layout import USAGES
from chalicelib.models import MAX_BATCH_SIZE, MIN_BATCH_SIZE, InputFormat, OutputMode, RunStatus, Step
from chalicelib.records.spec_models import RECORD_TYPE_PATTERN

# The form service._looks_like_run_id accepts: str(uuid.UUID(x)) == x, so lowercase with dashes.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

RunId = Annotated[str, Field(pattern=UUID_PATTERN, description="The run's ID (a lowercase UUID).")]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                                 description="UTC, ISO 8601 with milliseconds, e.g. 2025-01-15T10:30:00.123Z.")]
Count = Annotated[int, Field(ge=0)]
RecordTypeName = Annotated[str, Field(pattern=RECORD_TYPE_PATTERN)]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def present_only_when(condition: str) -> Any:
    """A key the answer carries only in some cases: optional, and never null when present."""
    return Field(None, description=f"Present only {condition}.", json_schema_extra=_without_default)


def _closed_map(schema: dict[str, Any]) -> None:
    """A map whose keys follow a pattern: keys that do not are not allowed either."""
    schema["additionalProperties"] = False


class Answer(BaseModel):
    """An answer's shape: no key it does not name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built when first used: cold starts skip it


# ---------------------------------------------------------------- errors

class ErrorDetail(Answer):
    """Every error the service itself answers (chalicelib.api.answers_json)."""

    detail: str = Field(description="What is wrong; for a request field, `<field path>: <why>`.")


class ChaliceError(Answer):
    """An error Chalice answers before the service sees the request (an unsupported media type)."""

    Code: str = Field(description="e.g. `UnsupportedMediaType`.")
    Message: str


class GatewayMessage(Answer):
    """An answer of API Gateway's own, before the service sees the request: a 401 to a request without an
    Authorization header on a stage with keys, a 403 to an unsigned request on a stage with IAM, a 413 to
    a body past its limit."""

    message: str = Field(description="e.g. `Unauthorized`.")


class GatewayDenial(Answer):
    """API Gateway's 403 when the stage's authorizer refuses a key (it does not say why)."""

    Message: str = Field(description="`User is not authorized to access this resource`, and more in AWS.")


# ---------------------------------------------------------------- a run

Outcome = Literal["completed", "completed_with_rejections", "failed", "cancelled"]


class Progress(Answer):
    total_records: Count = Field(description="Records in the file; 0 until the run is planned.")
    processed_records: Count = Field(description="success_count + error_count.")
    success_count: Count
    error_count: Count = Field(description="Records rejected.")
    progress_percentage: float = Field(ge=0, le=100)
    current_step: Step = Field(description="Where the run is, or stopped: a failed or cancelled run keeps the step "
                                           "it was in. `api_integration` (api mode) and `file_output` (file mode) "
                                           "are delivery; a validate_only run has none.")
    live_records: Count = Field(description="processed_records plus the records that delivery calls of chunks not "
                                            "yet counted have handled: moves while a chunk is delivered. Once the "
                                            "run has ended, processed_records.")
    live_percentage: float = Field(ge=0, le=100)
    records_per_second: float | None = Field(ge=0, description="While running, live_records over the seconds "
                                                               "since it started; once ended, its final rate; "
                                                               "null while unknown.")
    eta_seconds: float | None = Field(ge=0, description="Seconds left at the current rate; null once the run has "
                                                        "ended, or while its rate or total is unknown.")


class QueuedAnswer(Answer):
    """A trigger's answer: the run it queued (or, for a repeated Idempotency-Key, the run it made then)."""

    run_id: RunId
    status: RunStatus = Field(description="`pending` for a new run; a repeat answers the run's status now.")
    message: str
    created_at: Timestamp
    estimated_duration: str = Field(description="How long the run should take, as a range: `under a minute`, "
                                                "`5-10 minutes`, `1-2 hours`.")
    estimated_duration_seconds: float = Field(ge=1, description="The central estimate, in seconds.")
    estimate_basis: str = Field(description="What the estimate comes from: the throughput of the tenant's recent "
                                            "completed runs of the record type and mode (`3 recent claim runs in "
                                            "api mode`), or a default rate when there are none.")


class StepEntry(Answer):
    """One entry of a run's step history."""

    step: Literal[tuple(s.value for s in Step) + ("failed", "cancelled", "retry")] = Field(
        description="A step; the status a run ended with (`failed`, `cancelled`); or `retry`.")
    at: Timestamp
    chunks: int = present_only_when("for `retry`: the failed chunks queued again")


class ChunkCounts(Answer):
    total: Count
    done: Count
    failed: Count


class InputFormatAnswer(InputFormat):
    """How the run reads its file, with every default filled in."""

    model_config = ConfigDict(**InputFormat.model_config, title="InputFormatAnswer",
                              json_schema_serialization_defaults_required=True, defer_build=True)


class RunDetails(Answer):
    output_mode: OutputMode
    batch_size: int = Field(ge=MIN_BATCH_SIZE, le=MAX_BATCH_SIZE)
    chunks: ChunkCounts
    steps: list[StepEntry]
    records_per_second: float | None = Field(ge=0, description="null until the run has a duration.")
    output_location: str | None = Field(description="The run's output folder; null unless the run writes files.")
    error_report: str = Field(description="The folder of the run's error report.")
    errors_by_rule: dict[str, Count]
    validate_only: bool
    input_format: InputFormatAnswer
    updated_at: Timestamp


class Notification(Answer):
    """How the run's webhook call went (docs/notifications.md): never the key it was signed with."""

    webhook_url: str | None = Field(description="Where it went, without its query; null once a retry named none.")
    event_id: str = Field(description="The end it told of: the run-end document's `event_id`, its X-Event-Id.")
    status: Literal["pending", "delivered", "failed"]
    attempts: Count = Field(description="Calls made; 0 if none could be (a URL the stage no longer calls).")
    last_error: str | None = Field(description="What the last attempt met (`HTTP 503`, `ConnectTimeout`, ...); "
                                               "null once delivered.")
    updated_at: Timestamp


class RunStatusAnswer(Answer):
    """A run's status, without details."""

    run_id: RunId
    status: RunStatus
    progress: Progress
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration: float | None = Field(ge=0, description="Seconds from start (or creation) to the end; null while "
                                                     "the run is active.")
    error_message: str | None
    file_path: str
    record_type: RecordTypeName
    metadata: dict[str, Any] = Field(description="The request's metadata, as it was sent; for a run an upload "
                                                "started, with the object's key and version (chalicelib.manifests).")
    notification: Notification = present_only_when("once the run has ended with a webhook (`notify`)")
    outcome: Outcome | None = Field(description="How it ended; null while pending or running.")
    reconciliation: ReconciliationState


class RunStatusWithDetails(RunStatusAnswer):
    """A run's status with `include_details=true`."""

    details: RunDetails


class ActiveRun(Answer):
    status: Literal["pending", "running"]
    created_at: Timestamp
    file_path: str
    record_type: RecordTypeName


class RunningAnswer(Answer):
    running_migrations: dict[Annotated[str, Field(pattern=UUID_PATTERN)], ActiveRun] = Field(
        description="The active runs, by run ID.", json_schema_extra=_closed_map)
    count: Count


class ReconciliationFlag(Answer):
    """Whether the run's reconciliation report balances, and where it is."""

    balanced: bool
    report: str = Field(description="The report's path (reconciliation.json), as output paths are shown.")
    generated_at: Timestamp


class ReconciliationFailed(Answer):
    """The run's reconciliation report could not be built on any attempt: there is none to read."""

    failed: str = Field(description="Why, in a sentence (the worker's log has the details).")
    failed_at: Timestamp


ReconciliationState = Annotated[ReconciliationFlag | ReconciliationFailed | None, Field(
    description="null until the run's reconciliation report is written (GET .../{run_id}/reconciliation); "
                "`balanced: false` flags a run whose records or control totals do not add up; `failed` says "
                "the report could not be built on any attempt.")]


Sum = Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?$", description="An exact decimal, never rounded.")]


class SumValues(Answer):
    """How many values a sum is of: blanks and values that are not numbers are counted, and in no sum."""

    numbers: Count
    blank: Count
    not_a_number: Count


class ControlTotalAnswer(Answer):
    """A control total the record spec declares, by group: source = delivered + validated + rejected +
    not_processed, exactly, for it to balance."""

    name: str
    kind: Literal["sum", "count_by"]
    field: str = Field(description="The source field it is taken of (never a personal field).")
    source: Sum | dict[str, Count] = Field(description="Of every record read, from the file's values. A sum is an "
                                                       "exact decimal; a count_by maps each code (`(none)`: blank; "
                                                       "`(other)`: not a code of the field) to its records.")
    delivered: Sum | dict[str, Count] = Field(description="Of the records delivered or written, from the documents.")
    validated: Sum | dict[str, Count] = Field(description="Of a validate_only run's valid records, from the "
                                                          "documents it would deliver.")
    rejected: Sum | dict[str, Count] = Field(description="Of the records rejected (by a rule, by the target, or "
                                                         "unreadable), from the file's values.")
    not_processed: Sum | dict[str, Count] = Field(description="Of the records neither delivered nor rejected, from "
                                                              "the file's values.")
    values: dict[Literal["source", "delivered", "validated", "rejected", "not_processed"], SumValues] = \
        present_only_when("for a sum: how many values each group's sum is of")
    balanced: bool


class ReconciliationCheck(Answer):
    check: str
    ok: bool
    detail: str


class ReconciliationInput(Answer):
    file_path: str
    size_bytes: Count | None = Field(description="Bytes, as planned; null if the run ended before planning.")
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] | None = Field(
        description="The file's SHA-256 as planned; null if the run ended before planning.")
    version: str | None = Field(None, description=(
        "The version of the file the run read (chalicelib.storage): in S3 its VersionId (get it back with "
        "`aws s3api get-object --version-id`), or \"etag:\" and its ETag in a bucket without versions; a local "
        "file's inode, size and modification time. Null if the run ended before planning, or was planned before "
        "versions were kept."))


class ReconciliationRecords(Answer):
    planned: Count
    read: Count
    delivered: Count
    validated: Count = Field(description="A validate_only run's valid records: counted, never delivered.")
    rejected: Count
    not_processed: Count
    unreadable: Count = Field(description="Records that could not be read (malformed): in `rejected`, or in "
                                          "`not_processed` for chunks never processed; in no control total.")
    rejected_by_rule: dict[str, Count] = Field(description="Error report rows by rule (a record may break several).")
    not_processed_by_reason: dict[Literal["cancelled_during_delivery", "chunk_failed", "never_processed"], Count]


class ReconciliationRunCounts(Answer):
    """The run's own counters when the report was built, which the checks compare with."""

    total_records: Count
    success_count: Count
    error_count: Count
    errors_by_rule: dict[str, Count]
    chunks_total: Count
    chunks_failed: Count


class ReconciliationReport(Answer):
    """A run's reconciliation report (docs/reconciliation.md)."""

    run_id: RunId
    record_type: RecordTypeName
    status: RunStatus
    generated_at: Timestamp
    ended_at: Timestamp | None
    output_mode: OutputMode
    validate_only: bool
    input: ReconciliationInput
    run_counts: ReconciliationRunCounts
    records: ReconciliationRecords
    control_totals: list[ControlTotalAnswer]
    checks: list[ReconciliationCheck]
    balanced: bool = Field(description="true only if every check holds.")


class RunSummary(Answer):
    run_id: RunId
    status: RunStatus
    created_at: Timestamp
    completed_at: Timestamp | None
    file_path: str
    record_type: RecordTypeName
    output_mode: OutputMode
    progress: Progress
    error_message: str | None
    duration: float | None = Field(ge=0, description="Seconds from start (or creation) to the end; null while "
                                                     "the run is active.")
    outcome: Outcome | None = Field(description="How it ended; null while pending or running.")
    reconciliation: ReconciliationState


class StatusCounts(Answer):
    """Runs by status; completed runs that rejected records are counted apart from clean ones."""

    pending: Count
    running: Count
    completed: Count = Field(description="Completed without a rejected record.")
    completed_with_rejections: Count
    failed: Count
    cancelled: Count


class RecentAnswer(Answer):
    migrations: list[RunSummary] = Field(description="Newest first.")
    count: Count
    next_cursor: str | None = Field(description="The `cursor` of the next page (with the same filters); null on "
                                                "the last.")
    counts_by_status: StatusCounts = Field(description="The caller's runs of the same record_type, since and until, "
                                                       "whatever their status.")
    counts_complete: bool = Field(description="false when there were more runs than are counted (the newest "
                                              "10,000 are).")


class ErrorRow(Answer):
    """One row of a run's error report: a rule a record broke."""

    row: int = Field(ge=1, description="The record's number in the file.")
    field: str | None = Field(description="The source field; null for an error of the whole record.")
    rule: str
    message: str
    value: str | None = Field(description="The value, personal data masked; null for an error of the whole record.")


class ErrorsPage(Answer):
    run_id: RunId
    status: RunStatus
    records_rejected: Count
    error_rows: Count = Field(description="Rows of the whole report (a record may break several rules).")
    by_rule: dict[str, Count]
    rule: str | None = Field(description="The `rule` filter: the page holds only that rule's rows; null for all.")
    matching_rows: Count = Field(description="Rows of the report that match `rule` (`error_rows` without it): "
                                             "`offset` and `next_offset` count these.")
    offset: Count
    limit: int = Field(ge=1)
    errors: list[ErrorRow]
    next_offset: Count | None = Field(description="The offset of the next page; null on the last one.")


class ChunkState(Answer):
    """One chunk of a run, as the run page's grid shows it."""

    chunk: int = Field(ge=1, description="Its number: chunks are numbered from 1 in file order.")
    state: Literal["pending", "in_progress", "done", "failed"] = Field(
        description="`done` or `failed` once counted; `in_progress` while a delivery of it is under way; else "
                    "`pending`.")
    success_count: Count = Field(description="Its records delivered or written, once counted (0 before).")
    error_count: Count = Field(description="Its records rejected, once counted (0 before).")
    live_records: Count | None = Field(description="While in progress: records its current attempt delivered so "
                                                   "far; else null.")
    counted_at: Timestamp | None = Field(description="When its counts were added to the run; null before.")


class ChunkStateCounts(Answer):
    done: Count
    failed: Count
    in_progress: Count
    pending: Count


class ThroughputPoint(Answer):
    at: Timestamp
    records: Count = Field(description="Records counted (processed) by then, in all.")


class ChunksAnswer(Answer):
    """A run's chunks by state, a page of them, and its throughput over time."""

    run_id: RunId
    status: RunStatus
    chunks_total: Count = Field(description="Chunks the run was planned into; 0 until it is planned.")
    counts: ChunkStateCounts = Field(description="Chunks in each state, over the whole run (not only this page).")
    offset: Count
    limit: int = Field(ge=1)
    chunks: list[ChunkState] = Field(description="Chunks `offset + 1` to `offset + limit`, in order.")
    next_offset: Count | None = Field(description="The offset of the next page; null on the last one.")
    throughput: list[ThroughputPoint] = Field(
        description="Records counted over time, one point per counted chunk in the order they were counted, "
                    "thinned to at most 240 points (the last, the total so far, always kept).")


class RetryAnswer(Answer):
    run_id: RunId
    status: Literal["running"]
    retried_chunks: Count
    retried_records: Count
    message: str


class CancelAnswer(Answer):
    message: str
    run_id: RunId
    cancelled: Literal[True]


class ReportRequested(Answer):
    run_id: RunId
    message: str


class AuditEntry(Answer):
    action: Literal["started", "cancelled", "retried", "report_requested"] = Field(
        description="`report_requested`: the run's reconciliation report, which could not be built or queued, "
                    "was asked for again.")
    by: str = Field(description="`key:<key id>`, an IAM ARN, `upload`, or `anonymous` on an open stage.")
    at: Timestamp


class AuditAnswer(Answer):
    run_id: RunId
    tenant: str
    audit: list[AuditEntry] = Field(description="Oldest first.")


class PromoteRequest(Answer):
    """The trigger request that starts the full run a preview tried (chalicelib.preview)."""

    method: Literal["POST"]
    path: Literal["/api/v1/migrations/trigger"]
    body: dict[str, Any] = Field(description="The preview's body as it was sent, without `authentication` and "
                                             "`notify`: they hold secrets, which no answer shows.")
    omitted: list[Literal["authentication", "notify"]] = Field(
        description="The fields the preview was sent with and `body` leaves out: send them again with it.")
    note: str


class PreviewAnswer(Answer):
    """A trial run of a file's first records: what a run would send and report for them. Nothing was
    delivered or written, and no run was made."""

    record_type: RecordTypeName
    file_path: str
    records_read: Count = Field(description="The file's first records mapped: `records`, or all the file holds "
                                            "when it holds fewer.")
    valid: Count = Field(description="Of those, records that would be sent (one document each).")
    rejected: Count = Field(description="Of those, records that would be rejected (each with one or more rows in "
                                        "`errors`).")
    more_records: bool = Field(description="Whether the file holds records after those.")
    documents: list[dict[str, Any]] = Field(
        description="What would be sent, in file order (`source_row` is the record's number), with personal "
                    "fields (a spec's `pii`) masked as `***` and SSN-like text masked in every other field.")
    errors: list[ErrorRow] = Field(description="The rows a run would write to its error report for those records, "
                                               "in file order, masked as the report is.")
    promote: PromoteRequest = Field(description="The request that starts the full run with the same options.")


# ---------------------------------------------------------------- API keys

class KeyDescription(Answer):
    """A key as the API shows it: never the key, its salt or its hash."""

    key_id: Annotated[str, Field(pattern=KEY_ID_PATTERN)]
    tenant: Annotated[str, Field(pattern=TENANT_PATTERN)]
    role: Literal[ROLE_LABELS]
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    created_by: str
    description: str
    expires_at: str | None = Field(json_schema_extra={"format": "date-time"}, description="null: until revoked.")
    revoked_at: str | None = Field(json_schema_extra={"format": "date-time"})
    revoked_by: str | None


class KeyIssued(KeyDescription):
    key: str = Field(pattern=r"^rmk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$",
                     description="The key, shown only in this answer: the service keeps a salted hash of it.")
    message: str


class KeyList(Answer):
    keys: list[KeyDescription] = Field(description="The caller's tenant's keys, newest first.")
    count: Count


class KeyRevoked(KeyDescription):
    revoked: Literal[True]


# ---------------------------------------------------------------- record types

class RecordTypeDescription(Answer):
    record_type: RecordTypeName
    title: str
    description: str
    source_columns: list[str]
    target_fields: list[str]
    required_columns: list[str]
    input_formats: list[Literal["delimited", "fixed_width"]]


class RecordTypesAnswer(Answer):
    record_types: list[RecordTypeDescription]


class LayoutField(Answer):
    """One field as a compile listing shows it."""

    source: str = Field(description="The record type's source column.")
    name: str = Field(description="The copybook's data name.")
    offset: Count = Field(description="0-based.")
    position: int = Field(ge=1, description="1-based.")
    length: int = Field(ge=1, description="Bytes.")
    pic: str
    usage: Literal[USAGES]
    sign: Literal["", "trailing", "leading", "trailing separate", "leading separate"]
    depends: str = Field(description="In an OCCURS DEPENDING ON table, `<counter> >= <occurrence>`; else empty.")


class DependingOn(Answer):
    counter: str
    minimum: Count
    maximum: Count
    offset: Count
    element_length: int = Field(ge=1)


class RecordKind(Answer):
    value: str
    record: str
    role: Literal[RECORD_ROLES]
    count: str = present_only_when("for a control record that states the number of data records")
    sums: dict[str, str] = present_only_when("for a control record that states sums of data fields")


class Discriminator(Answer):
    field: str
    offset: Count
    length: int = Field(ge=1)
    kinds: list[RecordKind]


class LayoutAnswer(Answer):
    record_type: RecordTypeName
    record: str = Field(description="The copybook record (01 level) of the run's data records.")
    record_length: int = Field(ge=1)
    fields: list[LayoutField]
    depending_on: DependingOn = present_only_when("when the record ends in an OCCURS DEPENDING ON table")
    discriminator: Discriminator = present_only_when("when the file holds several kinds of record")


# ---------------------------------------------------------------- the description itself

class OpenApiDocument(Answer):
    """This API's OpenAPI description (chalicelib.openapi)."""

    openapi: str = Field(pattern=r"^3\.1\.\d+$")
    info: dict[str, Any]
    tags: list[dict[str, Any]]
    security: list[dict[str, list[str]]]
    paths: dict[str, Any]
    components: dict[str, Any]


# ---------------------------------------------------------------- health

HealthState = Literal["ok", "failing"]


class HealthChecks(Answer):
    """Each component the service needs, and whether it answered."""

    runs_table: HealthState
    work_queue: HealthState


class HealthAnswer(Answer):
    """Whether the service's dependencies answer (chalicelib.health): 200 when all do, 503 when one does not.
    Open to callers without a key, so it says nothing more than ok or failing per component."""

    status: HealthState
    checks: HealthChecks
