"""One entry point per step for every input format: plan a file, read a chunk.

The worker does not know whether a file is delimited text or fixed-width
mainframe records; it asks here.
"""
from __future__ import annotations

from chalicelib.errors import InputFileError
from chalicelib.models import InputFormat
from chalicelib.planner import Plan, plan_delimited
from chalicelib.reader import ChunkFrame, read_chunk
from chalicelib.record_types import RecordSpec, header_problems
from chalicelib.storage import StoredFile


def plan_file(source: StoredFile, fmt: InputFormat, spec: RecordSpec, records_per_chunk: int,
              max_chunk_bytes: int) -> Plan:
    """Scan the file into chunks; raise InputFileError saying what is wrong with it."""
    if fmt.type == "fixed_width":
        if spec.layout is None:
            raise InputFileError(f"record type {spec.record_type!r} has no fixed-width layout")
        from chalicelib.fixed_width import plan_fixed_width
        return plan_fixed_width(source.iter_blocks(), spec.layout, fmt, records_per_chunk, max_chunk_bytes)
    plan = plan_delimited(source.iter_blocks(), records_per_chunk, max_chunk_bytes,
                          fmt.encoding, fmt.delimiter, fmt.header)
    if not fmt.header:
        plan.header = spec.source_columns  # without a header row, columns come in the spec's order
    else:
        problem = header_problems(spec, plan.header)
        if problem:
            raise InputFileError(problem)
    return plan


def read_records(data: bytes, header: list[str], fmt: InputFormat, spec: RecordSpec, first_row: int) -> ChunkFrame:
    if fmt.type == "fixed_width":
        from chalicelib.fixed_width import read_fixed_chunk
        return read_fixed_chunk(data, spec.layout, fmt, first_row)
    return read_chunk(data, header, first_row, fmt.encoding, fmt.delimiter)
