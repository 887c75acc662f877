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

class Progress(Answer):
    total_records: Count = Field(description="Records in the file; 0 until the run is planned.")
    processed_records: Count = Field(description="success_count + error_count.")
    success_count: Count
    error_count: Count = Field(description="Records rejected.")
    progress_percentage: float = Field(ge=0, le=100)
    current_step: Step


class QueuedAnswer(Answer):
    """A trigger's answer: the run it queued (or, for a repeated Idempotency-Key, the run it made then)."""

    run_id: RunId
    status: RunStatus = Field(description="`pending` for a new run; a repeat answers the run's status now.")
    message: str
    created_at: Timestamp
    estimated_duration: float = Field(ge=1, description="Seconds, a rough estimate from the file's size.")


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


class RecentAnswer(Answer):
    migrations: list[RunSummary] = Field(description="Newest first.")
    count: Count


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
    offset: Count
    limit: int = Field(ge=1)
    errors: list[ErrorRow]
    next_offset: Count | None = Field(description="The offset of the next page; null on the last one.")


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


class AuditEntry(Answer):
    action: Literal["started", "cancelled", "retried"]
    by: str = Field(description="`key:<key id>`, an IAM ARN, `upload`, or `anonymous` on an open stage.")
    at: Timestamp


class AuditAnswer(Answer):
    run_id: RunId
    tenant: str
    audit: list[AuditEntry] = Field(description="Oldest first.")


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
