"""The planner cuts files on record boundaries and counts every record exactly once."""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import InputFileError
from chalicelib.inputs.delimited import plan_delimited
from chalicelib.inputs.delimited import read_delimited_chunk as read_chunk

HEADER = ["ID", "NAME", "NOTE"]
# Fields that make delimited files awkward: every delimiter, quotes, newlines (LF and CRLF),
# blanks, and characters outside ASCII that each encoding below can hold.
field = st.text(alphabet=st.sampled_from(list('ab ,|;\t"\n\ré') + ["x"]), max_size=12)
DELIMITERS = [",", "|", "\t", ";"]
ENCODINGS = ["utf-8", "latin-1", "cp1252"]


def csv_bytes(rows: list[list[str]], line_end: str, delimiter: str = ",", encoding: str = "utf-8",
              header: bool = True, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(HEADER)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode(encoding)


def blocks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 10**6), field, field), min_size=0, max_size=40),
       per_chunk=st.integers(1, 7), block=st.integers(1, 64), line_end=st.sampled_from(["\n", "\r\n"]),
       trailing_blank_lines=st.integers(0, 3), max_bytes=st.integers(1, 400),
       delimiter=st.sampled_from(DELIMITERS), encoding=st.sampled_from(ENCODINGS), header=st.booleans(),
       bom=st.booleans())
def test_every_record_is_read_exactly_once_whatever_the_cut_points(rows, per_chunk, block, line_end,
                                                                  trailing_blank_lines, max_bytes, delimiter,
                                                                  encoding, header, bom):
    # GIVEN a delimited file with awkward quoted fields, in any delimiter and encoding,
    # with or without a header row and a byte-order mark, read in blocks of any size
    bom = bom and encoding == "utf-8"
    records = [[str(i), a, b] for i, a, b in rows]
    data = csv_bytes(records, line_end, delimiter, encoding, header, bom) + \
        line_end.encode() * trailing_blank_lines
    if not header and not records:
        return  # an empty file: refused, see test_unreadable_files_are_refused_with_a_reason
    # WHEN it is planned and each chunk is read on its own
    plan = plan_delimited(blocks_of(data, block), per_chunk, max_bytes, encoding, delimiter, header)
    columns = plan.header if header else HEADER
    read_back = []
    for chunk in plan.chunks:
        part = read_chunk(data[chunk.start:chunk.end], columns, chunk.first_row, encoding, delimiter)
        assert len(part.frame) == chunk.rows and not part.malformed
        assert list(part.rows) == list(range(chunk.first_row, chunk.first_row + chunk.rows))
        read_back.extend(part.frame.values.tolist())
    # THEN the chunks tile the file and hold every record once, in order, as written
    if header:
        assert plan.header == HEADER
    assert plan.total_records == len(read_back) == len(records)
    assert read_back == records
    for before, after in zip(plan.chunks, plan.chunks[1:]):
        assert before.end == after.start
    assert all(c.rows <= per_chunk for c in plan.chunks)


def test_chunk_size_in_records():
    data = csv_bytes([[str(i), "a", "b"] for i in range(10)], "\n")
    plan = plan_delimited([data], 4, 10**6)
    assert [(c.first_row, c.rows) for c in plan.chunks] == [(1, 4), (5, 4), (9, 2)]


def test_chunk_also_ends_at_the_byte_limit():
    # GIVEN records of 55 bytes and a limit of 120 bytes a chunk
    data = csv_bytes([[str(i), "a" * 50, "b"] for i in range(10)], "\n")
    # WHEN planned with a record limit that never bites
    plan = plan_delimited([data], 1000, 120)
    # THEN a chunk ends with the record that reaches the byte limit
    assert [(c.first_row, c.rows) for c in plan.chunks] == [(1, 3), (4, 3), (7, 3), (10, 1)]


def test_byte_order_mark_is_not_part_of_the_header():
    plan = plan_delimited([b"\xef\xbb\xbfID,NAME\r\n1,a\r\n"], 10, 10**6)
    assert plan.header == ["ID", "NAME"]
    assert plan.total_records == 1


def test_last_record_without_newline_counts():
    plan = plan_delimited([b"ID,NAME\n1,a\n2,b"], 10, 10**6)
    assert plan.total_records == 2
    assert plan.chunks[-1].end == len(b"ID,NAME\n1,a\n2,b")


@pytest.mark.parametrize("data, message", [
    (b"", "file is empty"),
    (b"\n \n", "file is empty"),
    (b'ID,NAME\n1,"open\n', "closing quote is missing"),
    (b"ID,NAME\n1,\xe9t\xe9\n", "undecodable byte 0xE9 at byte offset 10 (line 2)"),
    (b"ID,NAME\n1,\xe2\x82", "ends in the middle of a character"),
])
def test_unreadable_files_are_refused_with_a_reason(data, message):
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_delimited(blocks_of(data, 4), 10, 10**6)
