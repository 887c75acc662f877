"""What a worker does to one chunk's data in file mode, minus the AWS calls: the benchmarks' unit of work.

`Worker.process_chunk` (chalicelib.worker) reads the chunk's range, maps and validates its records
(`map_chunk`), writes the documents' part and, when there are errors, the error report's part, counts the
rules broken and takes the chunk's control totals for the reconciliation report (`chunk_totals`). Everything
else it does is a call to SQS, DynamoDB or S3. The benchmarks time exactly this, so that a step the worker
pays for cannot be left out of the figures.
"""
from __future__ import annotations

from collections import Counter

from chalicelib.delivery import write_error_part, write_part
from chalicelib.models import InputFormat
from chalicelib.records.schema import RecordSpec
from chalicelib.records.totals import chunk_totals
from chalicelib.storage import StoredFile
from chalicelib.worker import MappedChunk, map_chunk


def process_chunk_data(output: StoredFile, number: int, data: bytes, header: list[str], fmt: InputFormat,
                       spec: RecordSpec, first_row: int) -> MappedChunk:
    """Map, write and total one chunk as `Worker.process_chunk` does in file mode."""
    mapped = map_chunk(data, header, fmt, spec, first_row)
    result, errors = mapped.result, mapped.errors
    write_part(output, number, result.documents)
    if errors:
        errors.sort(key=lambda e: e.row)
        write_error_part(output, number, errors)
    totals = chunk_totals(spec, mapped.frame, mapped.rows, mapped.unreadable, result)
    totals["rules"] = dict(Counter(e.rule for e in errors))
    return mapped
