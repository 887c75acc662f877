"""Shapes shared by the API side and the workers: requests, messages, statuses.

Each shape is defined once here. Validation of a trigger request happens in
`MigrationRequest.from_body`, which raises `InvalidRequest` naming the field.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.errors import InvalidRequest

MIN_BATCH_SIZE = 1
MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_SIZE = 100
DEFAULT_OUTPUT_DIR = "data/output"
DEFAULT_MAX_ERROR_RATE = 0.1
MAX_METADATA_BYTES = 4096


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
    """The steps a run walks through, in order."""

    INITIALIZING = "initializing"
    WORKFLOW_INITIALIZED = "workflow_initialized"
    FILE_READING = "file_reading"
    DATA_MAPPING = "data_mapping"
    DATA_TRANSFORMATION = "data_transformation"
    API_INTEGRATION = "api_integration"
    COMPLETED = "completed"


STEP_ORDER = list(Step)


class OutputMode(StrEnum):
    API = "api"
    FILE = "file"


REQUEST_FIELDS = {
    "file_path", "record_type", "output_mode", "output_dir", "batch_size",
    "authentication", "metadata", "max_error_rate", "input_format", "validate_only",
}
DELIMITERS = {",": ",", "|": "|", "\t": "\t", "tab": "\t", ";": ";"}
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
             "iso-8859-1": "latin-1", "windows-1252": "cp1252", "cp1252": "cp1252",
             "ascii": "ascii", "ebcdic": "cp037",
             # EBCDIC code pages (docs/fixed-width.md): US/Canada, Germany, Denmark/Norway, Finland/Sweden,
             # Italy, Spain, UK, France, international, and their euro versions 1140-1149.
             **{f"cp{n:03d}": f"cp{n:03d}" for n in (37, 273, 277, 278, 280, 284, 285, 297, 500,
                                                     *range(1140, 1150))}}
EBCDIC_ENCODINGS = {name for name in ENCODINGS.values() if name.startswith("cp") and name != "cp1252"}
RECORD_FORMATS = {"F": "F", "FB": "F", "V": "V", "VB": "VB"}
FORMAT_KEYS = {"type", "delimiter", "header", "encoding", "record_separator", "recfm"}


@dataclass(frozen=True)
class InputFormat:
    """How the legacy file is laid out. Delimited text with a header, UTF-8, by default."""

    type: str = "delimited"          # or "fixed_width" (the record type's layout)
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"          # a Python codec name
    record_separator: str = "newline"  # fixed width: "newline" (LF or CRLF) or "none"
    recfm: str = "F"                 # fixed width: "F" fixed-length records, "V" or "VB" with RDWs (and BDWs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_body(cls, raw: Any) -> "InputFormat":
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise InvalidRequest("input_format: must be an object")
        unknown = sorted(set(raw) - FORMAT_KEYS)
        if unknown:
            raise InvalidRequest(f"input_format.{unknown[0]}: unknown field (allowed: {', '.join(sorted(FORMAT_KEYS))})")
        kind = raw.get("type", "delimited")
        if kind not in ("delimited", "fixed_width"):
            raise InvalidRequest("input_format.type: must be delimited or fixed_width")
        delimiter = raw.get("delimiter", ",")
        if delimiter not in DELIMITERS:
            raise InvalidRequest("input_format.delimiter: must be one of , | ; \\t (or \"tab\")")
        header = raw.get("header", kind == "delimited")
        if not isinstance(header, bool):
            raise InvalidRequest("input_format.header: must be true or false")
        if kind == "fixed_width" and header:
            raise InvalidRequest("input_format.header: fixed-width files have no header row")
        encoding = str(raw.get("encoding", "cp037" if kind == "fixed_width" else "utf-8")).lower()
        if encoding not in ENCODINGS:
            raise InvalidRequest(f"input_format.encoding: must be one of {', '.join(sorted(ENCODINGS))}")
        if kind == "delimited" and ENCODINGS[encoding] in EBCDIC_ENCODINGS:
            raise InvalidRequest("input_format.encoding: EBCDIC is supported for fixed-width files only")
        recfm = raw.get("recfm", "F")
        if recfm not in RECORD_FORMATS or (kind == "delimited" and "recfm" in raw):
            raise InvalidRequest("input_format.recfm: must be F, FB, V or VB, for fixed-width files only")
        separator = raw.get("record_separator", "newline" if RECORD_FORMATS[recfm] == "F" else "none")
        if separator not in ("newline", "none"):
            raise InvalidRequest("input_format.record_separator: must be newline or none")
        if RECORD_FORMATS[recfm] != "F" and separator != "none":
            raise InvalidRequest("input_format.record_separator: variable-length records (V, VB) have none")
        return cls(kind, DELIMITERS[delimiter], header, ENCODINGS[encoding], separator, RECORD_FORMATS[recfm])


@dataclass(frozen=True)
class MigrationRequest:
    file_path: str
    record_type: str
    output_mode: OutputMode
    output_dir: str = DEFAULT_OUTPUT_DIR
    batch_size: int = DEFAULT_BATCH_SIZE
    authentication: dict | None = None
    metadata: dict = field(default_factory=dict)
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    input_format: InputFormat = field(default_factory=InputFormat)
    validate_only: bool = False

    @classmethod
    def from_body(cls, body: Any, known_record_types: list[str]) -> "MigrationRequest":
        if not isinstance(body, dict):
            raise InvalidRequest("body: must be a JSON object")
        unknown = sorted(set(body) - REQUEST_FIELDS)
        if unknown:
            raise InvalidRequest(f"{unknown[0]}: unknown field (allowed: {', '.join(sorted(REQUEST_FIELDS))})")
        for name in ("file_path", "record_type", "output_mode"):
            if name not in body:
                raise InvalidRequest(f"{name}: field required")
        file_path = _string(body, "file_path")
        record_type = _string(body, "record_type")
        if record_type not in known_record_types:
            raise InvalidRequest(
                f"record_type: unknown record type {record_type!r} (supported: {', '.join(known_record_types)})")
        output_mode = _string(body, "output_mode")
        if output_mode not in OutputMode.__members__.values():
            raise InvalidRequest(f"output_mode: must be one of {', '.join(m.value for m in OutputMode)}")
        output_dir = _string(body, "output_dir") if body.get("output_dir") is not None else DEFAULT_OUTPUT_DIR
        batch_size = body.get("batch_size", DEFAULT_BATCH_SIZE)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise InvalidRequest("batch_size: must be an integer")
        if not MIN_BATCH_SIZE <= batch_size <= MAX_BATCH_SIZE:
            raise InvalidRequest(f"batch_size: must be between {MIN_BATCH_SIZE} and {MAX_BATCH_SIZE}")
        authentication = parse_authentication(body.get("authentication"))
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidRequest("metadata: must be an object")
        if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            raise InvalidRequest(f"metadata: must be at most {MAX_METADATA_BYTES} bytes as JSON")
        max_error_rate = body.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)
        if isinstance(max_error_rate, bool) or not isinstance(max_error_rate, (int, float)) \
                or not 0 <= max_error_rate <= 1:
            raise InvalidRequest("max_error_rate: must be a number from 0 to 1")
        input_format = InputFormat.from_body(body.get("input_format"))
        validate_only = body.get("validate_only", False)
        if not isinstance(validate_only, bool):
            raise InvalidRequest("validate_only: must be true or false")
        return cls(file_path, record_type, OutputMode(output_mode), output_dir, batch_size,
                   authentication, metadata, float(max_error_rate), input_format, validate_only)


def _string(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name}: must be a non-empty string")
    return value.strip()


# Each credentials type and its fields: (name, required). Every value is a string.
AUTH_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "bearer_token": (("token", True),),
    "api_key": (("header", False), ("key", True)),
    "basic": (("username", True), ("password", True)),
    "oauth2_client_credentials": (("token_url", True), ("client_id", True), ("client_secret", True),
                                  ("scope", False)),
}
AUTH_TYPES = tuple(AUTH_FIELDS)
DEFAULT_API_KEY_HEADER = "X-API-Key"


def parse_authentication(auth: Any) -> dict | None:
    if auth is None:
        return None
    if not isinstance(auth, dict):
        raise InvalidRequest("authentication: must be an object")
    auth_type = auth.get("type")
    if auth_type not in AUTH_FIELDS:
        raise InvalidRequest(f"authentication.type: must be one of {', '.join(AUTH_TYPES)}")
    fields = dict(AUTH_FIELDS[auth_type])
    extra = sorted(set(auth) - set(fields) - {"type"})
    if extra:
        raise InvalidRequest(f"authentication.{extra[0]}: unknown field for {auth_type} "
                             f"(allowed: {', '.join(fields)})")
    clean = {"type": auth_type}
    for name, required in fields.items():
        value = auth.get(name)
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"authentication.{name}: must be a non-empty string")
        clean[name] = value
    if auth_type == "api_key":
        clean.setdefault("header", DEFAULT_API_KEY_HEADER)
        if not all(c.isalnum() or c == "-" for c in clean["header"]):
            raise InvalidRequest("authentication.header: must be an HTTP header name")
    if auth_type == "oauth2_client_credentials" and not clean["token_url"].startswith(("https://", "http://")):
        raise InvalidRequest("authentication.token_url: must be an http(s) URL")
    return clean
