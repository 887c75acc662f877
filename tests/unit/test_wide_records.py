"""A chunk is bounded by bytes as well as records, whatever the format: a file of very wide records
(1 MB each) is cut into chunks of at most chunk_bytes plus one record, so a worker's memory depends on
chunk_bytes, never on how wide a file's records are."""
from __future__ import annotations

import pytest

from chalicelib.inputs.delimited import plan_delimited, read_delimited_chunk
from chalicelib.inputs.fixed.file_layout import FileLayout
from chalicelib.inputs.fixed.layout import FieldLayout, RecordLayout
from chalicelib.inputs.fixed.reader import plan_fixed_width, read_fixed_chunk
from chalicelib.models import InputFormat
from chalicelib.storage import BLOCK_SIZE

WIDE = 1 << 20           # bytes of a record
CHUNK_BYTES = 4 << 20    # the byte limit of a chunk: about four records
CHUNK_RECORDS = 25_000   # the default record limit, which never bites here
RECORDS = 30


def blocks_of(data: bytes, size: int = BLOCK_SIZE) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def assert_bounded_by_bytes(chunks, data_start: int, file_end: int, widest: int) -> None:
    assert chunks[0].start == data_start and chunks[-1].end == file_end
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))  # they tile the file
    assert all(c.end - c.start <= CHUNK_BYTES + widest for c in chunks)
    assert all(c.rows < CHUNK_RECORDS for c in chunks)
    assert len(chunks) >= RECORDS * WIDE // (CHUNK_BYTES + widest)


def test_a_csv_of_wide_records_is_cut_by_bytes():
    # GIVEN a CSV whose records hold a 1 MB field each (one of them quoted, with a newline inside)
    header = b"ID,NOTE,CODE\n"
    rows = [b"%d,%s,X\n" % (i, b"n" * WIDE) if i != 7 else b'7,"%s\nsecond line",X\n' % (b"q" * WIDE)
            for i in range(RECORDS)]
    data = header + b"".join(rows)
    # WHEN it is planned with the default record limit and a byte limit of four records
    plan = plan_delimited(blocks_of(data), CHUNK_RECORDS, CHUNK_BYTES)
    # THEN every chunk holds at most chunk_bytes plus one record, and every record is read once
    assert_bounded_by_bytes(plan.chunks, len(header), len(data), max(map(len, rows)))
    ids = []
    for chunk in plan.chunks:
        part = read_delimited_chunk(data[chunk.start:chunk.end], plan.header, chunk.first_row)
        assert len(part.frame) == chunk.rows and not part.malformed
        ids += part.frame["ID"].tolist()
    assert ids == [str(i) for i in range(RECORDS)]


@pytest.mark.parametrize("separator, between", [("none", b""), ("newline", b"\x0d\x25")])
def test_fixed_width_wide_records_are_cut_by_bytes(separator, between):
    # GIVEN EBCDIC fixed-width records of 1 MB each, with or without CR LF between them
    field = FieldLayout("ID", 0, 8, "X(8)")
    layout = FileLayout(RecordLayout("R", WIDE, (field,)), (field,), ("ID",), WIDE)
    form = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator=separator)
    records = [f"{i:08d}".encode("cp037") + b"\x40" * (WIDE - 8) + between for i in range(RECORDS)]
    data = b"".join(records)
    # WHEN it is planned with the default record limit and a byte limit of four records
    plan = plan_fixed_width(blocks_of(data), layout, form, CHUNK_RECORDS, CHUNK_BYTES)
    # THEN every chunk holds at most chunk_bytes plus one record, and every record is read once
    assert_bounded_by_bytes(plan.chunks, 0, len(data), len(records[0]))
    ids = []
    for chunk in plan.chunks:
        part = read_fixed_chunk(data[chunk.start:chunk.end], layout, form, chunk.first_row)
        assert len(part.frame) == chunk.rows and not part.malformed
        ids += part.frame["ID"].tolist()
    assert ids == [f"{i:08d}" for i in range(RECORDS)]
