"""Shapes shared by the API side and the workers: requests, statuses, steps, as pydantic v2 models.

Each shape is defined once here. The trigger request (`MigrationRequest`) and
the retry body (`RetryRequest`) are checked declaratively by their models, with
strict types (a batch size is a JSON integer, never "10" nor true) and no
unknown keys; `from_body` turns pydantic's first complaint into an
`InvalidRequest` of the form "<field path>: <why>" (the 422's `detail`). Every
string is bounded (docs/api.md, "Limits") and holds only what the run item,
S3 and a header can carry: no lone surrogate, no control character in a path.
A detail quotes the caller's input (a field name, a record type) only through
`errors.cut`. The
models' JSON Schema (`MigrationRequest.model_json_schema()`) is what the API's
OpenAPI description is generated from: every field says what it is.

The credentials types (chalicelib.credentials) are a discriminated union on
`type`; their secrets are `SecretStr`, and no error message quotes a value of
theirs. Nothing here imports numpy, pandas, requests or boto3: the API's cold
start imports this module.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, ValidationInfo, \
    field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.credentials import CREDENTIAL_TYPES, Authentication, credentials_wording
from chalicelib.errors import InvalidRequest, cut

MIN_BATCH_SIZE = 1
MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_SIZE = 100
DEFAULT_OUTPUT_DIR = "data/output"
DEFAULT_MAX_ERROR_RATE = 0.1
MAX_METADATA_BYTES = 4096
MAX_METADATA_DEPTH = 5      # objects and lists inside one another
MAX_METADATA_KEY = 64       # characters in a key name
DYNAMODB_DIGITS = 38        # the most significant digits a DynamoDB number holds
DYNAMODB_SMALLEST, DYNAMODB_LARGEST = Decimal("1e-130"), Decimal("1e126")  # its magnitudes
MAX_PATH_BYTES = 1024       # a file_path within its bucket or the data root, as UTF-8: S3's limit on a key
# An output_dir leaves room under S3's limit for what a run writes below it: "/<run id>/errors/part-000000.jsonl".
MAX_OUTPUT_DIR_BYTES = 960
MAX_RECORD_TYPE = 64        # characters; the record types' names are far shorter
MAX_ENCODING_NAME = 32
MIN_WEBHOOK_SECRET, MAX_WEBHOOK_SECRET = 16, 256  # characters of a webhook's signing key (chalicelib.webhooks)
MAX_WEBHOOK_URL = 2048      # as outbound.MAX_URL_LENGTH
MAX_CREDENTIAL_CHARS = 8192  # any credentials string: a JWT with many claims runs to a few KiB; servers refuse
                             # headers past 8 to 16 KiB
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# A path is never URL-decoded, so an escape in it is at best a mistake and at worst a traversal that a
# decoding layer downstream (a proxy, a console, a script) would make real: %2e%2e, %2f, %00, %c0%af.
PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
LONE_SURROGATE = "holds a lone surrogate, which is no character"  # what a JSON "\ud800" escape decodes to


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (RunStatus.PENDING, RunStatus.RUNNING)


class Step(StrEnum):
    """The steps a run walks through, in order. Delivery is one step of two names: an api-mode run
    delivers in `api_integration`, a file-mode run writes in `file_output`; a validate_only run has no
    delivery step at all."""

    INITIALIZING = "initializing"
    WORKFLOW_INITIALIZED = "workflow_initialized"
    FILE_READING = "file_reading"
    DATA_MAPPING = "data_mapping"
    DATA_TRANSFORMATION = "data_transformation"
    API_INTEGRATION = "api_integration"
    FILE_OUTPUT = "file_output"
    COMPLETED = "completed"


# Each step's rank: a step never goes back to a lower one. The two delivery steps share a rank, so that a
# run in one never "advances" to the other.
STEP_RANK: dict[Step, int] = {step: rank for rank, steps in enumerate((
    [Step.INITIALIZING], [Step.WORKFLOW_INITIALIZED], [Step.FILE_READING], [Step.DATA_MAPPING],
    [Step.DATA_TRANSFORMATION], [Step.API_INTEGRATION, Step.FILE_OUTPUT], [Step.COMPLETED])) for step in steps}


def steps_before(step: Step) -> list[Step]:
    """The steps a run may be in to move to `step`."""
    return [s for s in Step if STEP_RANK[s] < STEP_RANK[step]]


class OutputMode(StrEnum):
    API = "api"
    FILE = "file"


DELIMITERS = {",": ",", "|": "|", "\t": "\t", "tab": "\t", ";": ";"}
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
             "iso-8859-1": "latin-1", "iso8859-1": "latin-1", "windows-1252": "cp1252", "cp1252": "cp1252",
             "ascii": "ascii", "ebcdic": "cp037",
             # EBCDIC code pages (docs/fixed-width.md): US/Canada, Germany, Denmark/Norway, Finland/Sweden,
             # Italy, Spain, UK, France, international, and their euro versions 1140-1149.
             **{f"cp{n:03d}": f"cp{n:03d}" for n in (37, 273, 277, 278, 280, 284, 285, 297, 500,
                                                     *range(1140, 1150))}}
EBCDIC_ENCODINGS = {name for name in ENCODINGS.values() if name.startswith("cp") and name != "cp1252"}
RECORD_FORMATS = {"F": "F", "FB": "F", "V": "V", "VB": "VB"}

STRICT = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def refuse(why: str, at: str | None = None) -> PydanticCustomError:
    """A request mistake in the API's words; `at` names the field when the check spans several."""
    return PydanticCustomError("request", "{why}", {"why": why, "at": at})


# ---------------------------------------------------------------- input format

class InputFormat(BaseModel):
    """How the legacy file is laid out: delimited text (by default with a header row, in UTF-8), or
    fixed-width records (by default EBCDIC, without a header)."""

    # Values are kept canonical: `tab` as a tab, an encoding as its codec name, FB as F. The reader and the
    # run store build it directly (`InputFormat(type="fixed_width", ...)`, `InputFormat(**item)`): the same
    # checks apply.
    model_config = ConfigDict(**STRICT, frozen=True)

    type: Literal["delimited", "fixed_width"] = Field(
        "delimited", description="`delimited` (a header row, then one record a line) or `fixed_width` (the "
                                 "record type's fixed-width layout, docs/fixed-width.md).")
    delimiter: Literal[",", "|", ";", "\t", "tab"] = Field(
        ",", description="Delimited files: the field separator; `tab` means a tab.")
    header: bool = Field(True, description="The file starts with a header row of column names. Default: true "
                                           "for delimited files; fixed-width files have none.")
    encoding: str = Field("utf-8", max_length=MAX_ENCODING_NAME,
                          description="The file's character encoding (case-insensitive): one of "
                                      + ", ".join(sorted(ENCODINGS)) + ". Default: utf-8 for delimited "
                                      "files, cp037 (EBCDIC) for fixed-width files; EBCDIC code pages are "
                                      "for fixed-width files only.")
    record_separator: Literal["newline", "none"] = Field(
        "newline", description="Fixed-width files: `newline` (LF or CRLF) after each record, or `none`. Default: "
                               "newline for F records, none for V and VB (which have none).")
    recfm: Literal["F", "FB", "V", "VB"] = Field(
        "F", description="Fixed-width files only: `F` (or `FB`) fixed-length records, `V` or `VB` variable-length "
                         "records behind their record (and block) descriptor words.")

    @model_validator(mode="before")
    @classmethod
    def _defaults_of_its_type(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        fixed = raw.get("type") == "fixed_width"
        recfm = raw.get("recfm", "F")
        variable = isinstance(recfm, str) and RECORD_FORMATS.get(recfm, "F") != "F"
        return {"header": not fixed, "encoding": "cp037" if fixed else "utf-8",
                "record_separator": "none" if variable else "newline", **raw}

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, delimiter: str) -> str:
        return DELIMITERS[delimiter]

    @field_validator("encoding")
    @classmethod
    def _codec(cls, encoding: str) -> str:
        if encoding.lower() not in ENCODINGS:
            raise refuse(ENCODING_WHY)
        return ENCODINGS[encoding.lower()]

    @field_validator("recfm")
    @classmethod
    def _recfm(cls, recfm: str) -> str:
        return RECORD_FORMATS[recfm]

    @model_validator(mode="after")
    def _consistent(self) -> "InputFormat":
        if self.type == "fixed_width" and self.header:
            raise refuse("fixed-width files have no header row", "header")
        if self.type == "delimited" and self.encoding in EBCDIC_ENCODINGS:
            raise refuse("EBCDIC is supported for fixed-width files only", "encoding")
        if self.recfm != "F" and self.record_separator != "none":
            raise refuse("variable-length records (V, VB) have none", "record_separator")
        return self

    def to_dict(self) -> dict:
        return self.model_dump()


ENCODING_WHY = f"must be one of {', '.join(sorted(ENCODINGS))}"
RECFM_WHY = "must be F, FB, V or VB, for fixed-width files only"


# ---------------------------------------------------------------- requests

class Notify(BaseModel):
    """Where the service says that a run ended: a webhook URL, and the key its calls are signed with."""

    model_config = ConfigDict(**STRICT, frozen=True)

    webhook_url: str = Field(max_length=MAX_WEBHOOK_URL, pattern=r"^https?://", json_schema_extra={"format": "uri"},
                             description="An http(s) URL on the stage's outbound allow-list (docs/security.md). "
                                         "When the run ends, the service POSTs the run-end document to it, "
                                         "signed; it follows no redirect.")
    secret: Annotated[SecretStr, Field(min_length=MIN_WEBHOOK_SECRET, max_length=MAX_WEBHOOK_SECRET)] = Field(
        description=f"The HMAC-SHA256 key the calls are signed with ({MIN_WEBHOOK_SECRET} to {MAX_WEBHOOK_SECRET} "
                    f"printable ASCII characters), the one your receiver checks: kept in Secrets Manager until "
                    f"the run's end is notified, never in the run table, a log or an answer.")

    @field_validator("secret")
    @classmethod
    def _printable_ascii(cls, secret: SecretStr) -> SecretStr:
        # A receiver types it into its own configuration; and its UTF-8 bytes are the key, so no lone surrogate.
        if not all(" " <= c <= "~" for c in secret.get_secret_value()):
            raise PydanticCustomError("webhook_secret", "must be printable ASCII")
        return secret



class MigrationRequest(BaseModel):
    """A trigger request: which file, read how, mapped as which record type, delivered where."""

    model_config = ConfigDict(**STRICT, frozen=True)

    file_path: NonEmpty = Field(description="The legacy file: a path under the data root, or an s3:// URL in the "
                                            "stage's data bucket.")
    record_type: NonEmpty = Field(description="The record type (GET /api/v1/record-types) the file holds.")
    output_mode: OutputMode = Field(strict=False, description="`api`: documents are delivered to the target API; "
                                                              "`file`: written as JSON Lines under `output_dir`.")
    output_dir: NonEmpty = Field(DEFAULT_OUTPUT_DIR, description="Where output and the error report are written "
                                                                 "(a folder per run).")
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=MIN_BATCH_SIZE, le=MAX_BATCH_SIZE,
                            description="Records per call to the target API. It does not affect file output.")
    authentication: Authentication | None = Field(
        None, description="Credentials for the target API, by `type`; without them the stage's default "
                          "credentials are used. Kept in Secrets Manager while the run lasts, never shown.")
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description=f"Free JSON object kept with the run and shown in its status "
                                                 f"(at most {MAX_METADATA_BYTES} bytes as JSON).")
    max_error_rate: float = Field(DEFAULT_MAX_ERROR_RATE, ge=0, le=1, allow_inf_nan=False,
                                  description="The share of rejected records (0 to 1) above which the run fails.")
    input_format: InputFormat = Field(default_factory=InputFormat, description="How the file is laid out.")
    notify: Notify | None = Field(None, description="A webhook to call when the run ends, with the run-end "
                                                    "document, signed (docs/notifications.md).")
    validate_only: bool = Field(False, description="A dry run: records are read, mapped and validated and the "
                                                   "error report is written; no document is delivered or written.")

    @field_validator("output_dir", "metadata", mode="before")
    @classmethod
    def _null_is_the_default(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return DEFAULT_OUTPUT_DIR if info.field_name == "output_dir" else {}
        return value

    @field_validator("output_mode", mode="before")
    @classmethod
    def _trimmed_text(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise refuse("must be a non-empty string")
        return value.strip()

    @field_validator("file_path", "output_dir")
    @classmethod
    def _storable_path(cls, path: str, info: ValidationInfo) -> str:
        problem = _path_problem(path, MAX_OUTPUT_DIR_BYTES if info.field_name == "output_dir" else MAX_PATH_BYTES)
        if problem:
            raise refuse(problem)
        return path

    @field_validator("record_type")
    @classmethod
    def _known(cls, record_type: str, info: ValidationInfo) -> str:
        if len(record_type) > MAX_RECORD_TYPE:
            raise refuse(f"must be at most {MAX_RECORD_TYPE} characters")
        known = (info.context or {}).get("record_types")
        if known is not None and record_type not in known:
            raise refuse(f"unknown record type {cut(record_type)!r} (supported: {', '.join(known)})")
        return record_type

    @field_validator("authentication", mode="before")
    @classmethod
    def _bounded_credentials(cls, raw: Any) -> Any:
        return _bounded_credentials(raw)

    @field_validator("metadata")
    @classmethod
    def _small(cls, metadata: dict) -> dict:
        problem = _unstorable(metadata, "", 1)
        if problem:
            raise refuse(problem)
        try:
            size = len(json.dumps(metadata, allow_nan=False))
        except (TypeError, ValueError):  # not from a JSON body
            raise refuse("must be an object") from None
        if size > MAX_METADATA_BYTES:
            raise refuse(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return metadata

    @field_validator("input_format", mode="wrap")
    @classmethod
    def _only_what_applies(cls, raw: Any, handler) -> InputFormat:
        """null is the default format; a delimited file's request gives no `recfm`."""
        fmt = handler({} if raw is None else raw)
        if fmt.type == "delimited" and isinstance(raw, dict) and "recfm" in raw:
            raise refuse(RECFM_WHY, "recfm")
        return fmt

    @classmethod
    def from_body(cls, body: Any, known_record_types: list[str]) -> "MigrationRequest":
        """The request a trigger body asks for, or InvalidRequest naming the field and why."""
        try:
            return cls.model_validate(body, context={"record_types": known_record_types})
        except ValidationError as err:
            raise InvalidRequest(request_problem(err, cls)) from None


class RetryRequest(BaseModel):
    """A retry's body: nothing, or the credentials again (a run's own are deleted when it ends)."""

    model_config = ConfigDict(**STRICT, frozen=True)

    authentication: Authentication | None = Field(
        None, description="The run's credentials for the target API, needed again when the run had its own.")
    notify: Notify | None = Field(
        None, description="The webhook the retried run's end calls; without it, that end calls none (the key of "
                          "the first end's call is deleted once it is made).")

    @field_validator("authentication", mode="before")
    @classmethod
    def _bounded_credentials(cls, raw: Any) -> Any:
        return _bounded_credentials(raw)

    @classmethod
    def from_body(cls, body: Any) -> "RetryRequest":
        try:
            return cls.model_validate({} if body is None else body)
        except ValidationError as err:
            raise InvalidRequest(request_problem(err, cls)) from None


def _path_problem(path: str, max_bytes: int) -> str | None:
    """Why a path field cannot name a file of the data root as sent, or None. Where it leads (`..`, an
    absolute path, another bucket, a link out of the root) is storage.DataRoot's to say."""
    if not _encodable(path):
        return LONE_SURROGATE
    if CONTROL_CHARACTERS.search(path):
        return "must not hold control characters (NUL, tab, line breaks...)"
    if PERCENT_ESCAPE.search(path):
        return "must not hold %XX escapes: a path is taken as written, never URL-decoded"
    if URL_SCHEME.match(path) and not path.startswith("s3://"):
        return "a URL must be s3://<the stage's data bucket>/<key>; any other path is relative to the data root"
    within = path[len("s3://"):].partition("/")[2] if path.startswith("s3://") else path
    if len(within.encode("utf-8")) > max_bytes:
        return f"must be at most {max_bytes} bytes (UTF-8) long within the bucket or data root"
    return None


def _bounded_credentials(raw: Any) -> Any:
    """Credentials' strings within bounds and encodable, checked before their type is: no value is quoted."""
    if isinstance(raw, dict):
        for name, value in raw.items():
            if not isinstance(value, str) or name not in CREDENTIAL_FIELDS:
                continue  # a wrong type or an unknown field: the credentials type says so
            if len(value) > MAX_CREDENTIAL_CHARS:
                raise refuse(f"must be at most {MAX_CREDENTIAL_CHARS} characters", name)
            if not _encodable(value):
                raise refuse(LONE_SURROGATE, name)
    return raw


CREDENTIAL_FIELDS = {name for kind in CREDENTIAL_TYPES.values() for name in kind.model_fields}


# ---------------------------------------------------------------- errors in the API's words

REQUEST_FIELDS = tuple(MigrationRequest.model_fields)
FORMAT_KEYS = tuple(InputFormat.model_fields)
NOTIFY_KEYS = tuple(Notify.model_fields)

# Why a field was refused, by field path and then pydantic's error type ("*": any other).
WORDING: dict[str, dict[str, str]] = {
    "file_path": {"*": "must be a non-empty string"},
    "record_type": {"*": "must be a non-empty string"},
    "output_mode": {"*": f"must be one of {', '.join(m.value for m in OutputMode)}"},
    "output_dir": {"*": "must be a non-empty string"},
    "batch_size": {"int_type": "must be an integer", "*": f"must be between {MIN_BATCH_SIZE} and {MAX_BATCH_SIZE}"},
    "metadata": {"*": "must be an object"},
    "max_error_rate": {"*": "must be a number from 0 to 1"},
    "validate_only": {"*": "must be true or false"},
    "input_format": {"*": "must be an object"},
    "input_format.type": {"*": "must be delimited or fixed_width"},
    "input_format.delimiter": {"*": 'must be one of , | ; \\t (or "tab")'},
    "input_format.header": {"*": "must be true or false"},
    "input_format.encoding": {"*": ENCODING_WHY},
    "input_format.record_separator": {"*": "must be newline or none"},
    "input_format.recfm": {"*": RECFM_WHY},
    "authentication": {"*": "must be an object"},
    "notify": {"*": "must be an object"},
    "notify.webhook_url": {"*": f"must be an http(s) URL of at most {MAX_WEBHOOK_URL} characters"},
    "notify.secret": {"*": f"must be {MIN_WEBHOOK_SECRET} to {MAX_WEBHOOK_SECRET} printable ASCII characters"},
}


def request_problem(err: ValidationError, model: type[BaseModel]) -> str:
    """The first problem pydantic found in a request body, as "<field path>: <why>".

    The order is the one the API always answered in: an unknown top-level field, then a missing one, then
    the fields in their order (in each, an unknown key first). No value of a credentials field is quoted.
    """
    errors = err.errors(include_url=False, include_input=False)
    fields = list(model.model_fields)

    def rank(i: int) -> tuple:
        loc, kind = errors[i]["loc"], errors[i]["type"]
        top = loc[0] if loc else None
        group = 0 if kind == "extra_forbidden" and len(loc) == 1 else 1 if kind == "missing" and len(loc) == 1 else 2
        return group, fields.index(top) if top in fields else -1, kind != "extra_forbidden", i

    return _explain(errors[min(range(len(errors)), key=rank)], model)


def _explain(error: dict, model: type[BaseModel]) -> str:
    loc, kind = list(error["loc"]), error["type"]
    if loc[:1] == ["authentication"] and len(loc) > 1:
        return _explain_credentials(error, loc)
    path = cut(".".join(str(part) for part in loc)) or "body"  # an unknown field's name is the caller's
    if model is RetryRequest and ((kind == "extra_forbidden" and len(loc) == 1) or path == "body"):
        return "body: only 'authentication' and 'notify' may be given to a retry"
    if kind == "request":
        at = error["ctx"].get("at")
        return f"{path}.{at}: {error['ctx']['why']}" if at else f"{path}: {error['ctx']['why']}"
    if kind == "extra_forbidden":
        nested = {"input_format": FORMAT_KEYS, "notify": NOTIFY_KEYS}
        allowed = ", ".join(sorted(nested.get(loc[0], REQUEST_FIELDS) if len(loc) > 1 else REQUEST_FIELDS))
        return f"{path}: unknown field (allowed: {allowed})"
    if kind == "missing":
        return f"{path}: field required"
    if path == "body":
        return "body: must be a JSON object"
    if kind == "string_unicode":  # pydantic's own check, before any of ours
        return f"{path}: {LONE_SURROGATE}"
    wording = WORDING.get(path)
    if wording is None:
        return f"{path}: {error['msg']}"
    return f"{path}: {wording.get(kind, wording['*'])}"


def _explain_credentials(error: dict, loc: list) -> str:
    """authentication.<field>: why, for the loc ["authentication", <type>, <field>, ...]; never a value."""
    kind_name, field = loc[1], (loc[2] if len(loc) > 2 else None)
    if field is None:  # no check of a whole credentials object fails today
        return "authentication: must be valid credentials"
    if error["type"] == "extra_forbidden":
        allowed = [name for name in CREDENTIAL_TYPES[kind_name].model_fields if name != "type"]
        return f"authentication.{cut(field)}: unknown field for {kind_name} (allowed: {', '.join(allowed)})"
    return f"authentication.{field}: {credentials_wording(error)}"


def _unstorable(value: Any, where: str, depth: int) -> str | None:
    """Why a metadata value cannot be kept with the run as it was sent (DynamoDB cannot store it, or it
    is nested past reason), or None. Key names are echoed cut to a short prefix."""
    if isinstance(value, (dict, list)):
        if depth > MAX_METADATA_DEPTH:
            return f"nested more than {MAX_METADATA_DEPTH} levels deep (at {where or 'the top'})"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, str) or not key:
                    return "an empty key cannot be stored"
                if len(key) > MAX_METADATA_KEY:
                    return f"key {cut(key, 16)!r} is longer than {MAX_METADATA_KEY} characters"
                if not _encodable(key):
                    return "a key holds a lone surrogate, which is no character"
            problem = _unstorable(item, f"{where}.{cut(key, 16)}" if where else cut(key, 16), depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, str) and not _encodable(value):
        return f"the value at {where} holds a lone surrogate, which is no character"
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return f"the number at {where} is not finite"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if number and not DYNAMODB_SMALLEST <= abs(number) < DYNAMODB_LARGEST:
            return f"the number at {where} is out of the range a run can keep (1e-130 to 1e126)"
        if len("".join(map(str, number.as_tuple().digits)).strip("0")) > DYNAMODB_DIGITS:  # exact, no context
            return f"the number at {where} has more than {DYNAMODB_DIGITS} significant digits"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
