"""Trial runs (POST /api/v1/migrations/preview): a file's first records, mapped as a run maps them.

A preview takes a trigger's body, checked as a trigger checks it
(MigrationService.checked_request), and answers at once with the documents the
first N records would become and the error report rows they would write. It
takes the run's path, not a copy of it:

- the records are framed by the planner itself (`inputs.plan_file` with
  `stop_after`): a chunk of N records is cut exactly where a run's planner
  would cut one, by the same rules for every format (quoted newlines in CSV,
  fixed-length, V and VB records, several record kinds); the scan stops in the
  block where record N+1 ends, so a 10 GB file is read no further than its
  first records;
- the chunk is mapped and validated by the worker's own `map_chunk`, on the very
  bytes the planner read (`_Start` keeps them): the same documents, in file
  order, and the same error rows.

Nothing is delivered or written: no run item, no queue message, no secret, no
file. A preview leaves no run behind. What needs the whole file (its last
bytes, a trailer's control totals) is a run's to check, not a preview's.

Personal data: the service never shows a personal value in an answer. The
documents are what would be sent with every field a spec marks `pii` masked
(personal.MASK) and SSN-like text in any other string masked
(personal.mask_ssn_like); the error rows are masked as the error report is.

`promote` is the trigger request that starts the full run with the same
options: the body as it was sent, without `authentication` and `notify`, which
hold secrets an answer never shows; a client sends them again (`omitted`).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator

from chalicelib.errors import InputFileError, InvalidRequest, cut
from chalicelib.observability import log
from chalicelib.personal import MASK, mask_ssn_like
from chalicelib.storage import BLOCK_SIZE

if TYPE_CHECKING:
    from chalicelib.access import Caller
    from chalicelib.models import InputFormat
    from chalicelib.records import RecordSpec
    from chalicelib.service import MigrationService
    from chalicelib.storage import StoredFile
    from chalicelib.worker import MappedChunk

FIRST_READ = 64 * 1024           # bytes of the first read; each next one is twice as long, up to BLOCK_SIZE
MAX_READ = 64 * 1024 * 1024      # a preview reads at most this much of a file: an answer at once
NO_CHUNK_LIMIT = 1 << 60         # the first chunk ends after N records, however many bytes they take
TRIGGER_PATH = "/api/v1/migrations/trigger"
SECRET_FIELDS = ("authentication", "notify")  # sent again with the promoted request: never answered


def preview(service: MigrationService, caller: Caller, body: Any, records: int) -> dict:
    """The answer to a preview of `records` records of the file a trigger `body` names."""
    request = service.checked_request(caller, body)
    source = service.data_root.resolve(request.file_path, "file_path")
    if not source.exists():
        raise InvalidRequest(f"file_path: file not found: {cut(request.file_path)}")
    service.data_root.output_folder(request.output_dir)  # refused as a trigger refuses it: nothing is made there
    spec = service.specs[request.record_type]
    try:
        trial = first_records(source, request.input_format, spec, records)
    except InputFileError as err:
        # The message a run of this file fails with (chalicelib.worker.plan); it quotes no record.
        raise InvalidRequest(f"file_path: {err}") from None
    log("preview mapped", record_type=request.record_type, records=trial.records_read, valid=trial.valid,
        rejected=trial.rejected, bytes_read=trial.bytes_read)
    omitted = [name for name in SECRET_FIELDS if body.get(name) is not None]
    return {
        "record_type": request.record_type,
        "file_path": request.file_path,
        "records_read": trial.records_read,
        "valid": trial.valid,
        "rejected": trial.rejected,
        "more_records": trial.more_records,
        # Numbers as Decimals, answered as the text they were sent as (api.exact_json): never through a float.
        "documents": [masked_document(json.loads(line, parse_float=Decimal), spec) for line in trial.documents],
        "errors": [error.to_dict() for error in trial.errors],
        "promote": {
            "method": "POST", "path": TRIGGER_PATH,
            "body": {name: value for name, value in body.items() if name not in SECRET_FIELDS},
            "omitted": omitted,
            "note": (f"{' and '.join(omitted)} {'were' if len(omitted) > 1 else 'was'} left out (secrets are never "
                     f"shown): send {'them' if len(omitted) > 1 else 'it'} again with the body") if omitted
                    else "the request as it was sent",
        },
    }


class Trial:
    """The first records of a file, mapped: what a preview answers, before masking."""

    def __init__(self, mapped: MappedChunk | None, last_row: int | None, more_records: bool, bytes_read: int):
        self.more_records = more_records
        self.bytes_read = bytes_read
        if mapped is None:
            self.documents, self.errors = [], []
            self.valid = self.rejected = 0
        else:
            rows = mapped.result.document_rows.tolist()
            keep = [i for i, row in enumerate(rows) if last_row is None or row <= last_row]
            lines = mapped.result.document_lines()
            self.documents = [lines[i] for i in keep]
            self.errors = [e for e in mapped.errors if last_row is None or e.row <= last_row]
            self.valid = len(keep)
            self.rejected = len({e.row for e in self.errors})  # a record may break several rules
        self.records_read = self.valid + self.rejected


def first_records(source: StoredFile, fmt: InputFormat, spec: RecordSpec, records: int) -> Trial:
    """Frame the file's first `records` records as the planner frames a chunk, and map them as the worker
    does; raise InputFileError as a run's planning would for what is wrong in the part of the file read."""
    from chalicelib.inputs import plan_file  # numpy and pandas: not at the API's cold start
    from chalicelib.worker import map_chunk

    start = _Start(source)
    plan = plan_file(start, fmt, spec, records, NO_CHUNK_LIMIT, stop_after=records)
    if not plan.chunks:
        return Trial(None, None, False, len(start.data))
    first = plan.chunks[0]
    mapped = map_chunk(bytes(start.data[first.start:first.end]), plan.header, fmt, spec, first.first_row)
    last_row = None
    if mapped.records > records:
        # A VB chunk ends with a block, which may hold records past the N-th: they are left for the run.
        numbered = sorted(set(mapped.result.document_rows.tolist()) | {e.row for e in mapped.errors})
        last_row = numbered[records - 1]
    return Trial(mapped, last_row, len(plan.chunks) > 1 or mapped.records > records, len(start.data))


class _Start:
    """The file as the planner reads it, from its first byte, in reads that grow (FIRST_READ, then twice as
    long each time, up to the planner's block size) and are kept: the planner reads no more than it asks
    for, and the chunk it frames is mapped from these bytes without reading them again."""

    def __init__(self, source: StoredFile):
        self.source = source
        self.size = source.size()  # a ranged read past the end of an S3 object is an error, not b""
        self.data = bytearray()

    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        length = FIRST_READ
        while len(self.data) < self.size:
            if len(self.data) >= MAX_READ:
                shown = f"{MAX_READ // 2 ** 20} MiB" if MAX_READ >= 2 ** 20 else f"{MAX_READ} bytes"
                raise InputFileError(f"the records asked for do not end within the first {shown} of the file "
                                     f"(records that long, or a quoted field never closed): preview fewer records")
            block = self.source.read_range(len(self.data), min(self.size, len(self.data) + length, MAX_READ))
            if not block:
                return  # the file shrank meanwhile
            self.data += block
            yield block
            length = min(2 * length, block_size)


def masked_document(document: dict, spec: RecordSpec) -> dict:
    """A document as a preview shows it: every personal field's value (a spec's `pii`) masked, and SSN-like
    text masked in every other string. A null stays null: it shows no one's data."""
    personal = {tuple(f.target.split(".")) for f in spec.fields if f.pii}

    def mask(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {key: mask(inner, path + (key,)) for key, inner in value.items()}
        if value is None:
            return None
        if path in personal:
            return MASK
        return mask_ssn_like(value) if isinstance(value, str) else value

    return mask(document, ())
