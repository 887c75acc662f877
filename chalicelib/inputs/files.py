"""One entry point per step for every input format: plan a file, read a chunk.

The worker does not know whether a file is delimited text or fixed-width
mainframe records; it asks here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import InputFileError
from chalicelib.inputs.chunks import ChunkFrame, Plan
from chalicelib.inputs.delimited import header_problems, plan_delimited, read_delimited_chunk
from chalicelib.inputs.fixed.reader import plan_fixed_width, read_fixed_chunk

if TYPE_CHECKING:
    from chalicelib.models import InputFormat
    from chalicelib.records.schema import RecordSpec
    from chalicelib.storage import StoredFile


def plan_file(source: StoredFile, fmt: InputFormat, spec: RecordSpec, records_per_chunk: int,
              max_chunk_bytes: int, run_id: str = "", stop_after: int | None = None,
              range_bytes: int | None = None) -> Plan:
    """Scan the file into chunks, the work messages of run `run_id`; raise InputFileError saying
    what is wrong with the file. With `stop_after`, only the file's start is scanned, until more records
    than that are framed (a preview's: chalicelib.preview). With `range_bytes`, a delimited file's chunks are
    also cut on the grid its plan fans out on (chalicelib.inputs.ranges)."""
    if fmt.type == "fixed_width":
        if spec.layout is None:
            raise InputFileError(f"record type {spec.record_type!r} has no fixed-width layout")
        return plan_fixed_width(source.iter_blocks(), spec.layout, fmt, records_per_chunk, max_chunk_bytes,
                                run_id=run_id, stop_after=stop_after)
    plan = plan_delimited(source.iter_blocks(), records_per_chunk, max_chunk_bytes,
                          fmt.encoding, fmt.delimiter, fmt.header, run_id, stop_after, range_bytes)
    return with_header(plan, fmt, spec)


def with_header(plan: Plan, fmt: InputFormat, spec: RecordSpec) -> Plan:
    """A delimited plan with the columns the records have: the file's header, checked against the spec's."""
    if not fmt.header:
        plan.header = spec.source_columns  # without a header row, columns come in the spec's order
    else:
        problem = header_problems(spec.record_type, spec.source_columns, plan.header)
        if problem:
            raise InputFileError(problem)
    return plan


def read_records(data: bytes, header: list[str], fmt: InputFormat, spec: RecordSpec, first_row: int) -> ChunkFrame:
    if fmt.type == "fixed_width":
        return read_fixed_chunk(data, spec.layout, fmt, first_row)
    return read_delimited_chunk(data, header, first_row, fmt.encoding, fmt.delimiter)
