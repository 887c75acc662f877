"""The reader keeps well-formed records and reports the others, whatever their quoting."""
from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.inputs.delimited import read_delimited_chunk as read_chunk

HEADER = ["A", "B", "C"]
field = st.text(alphabet=st.sampled_from(list('x ,"\n')), max_size=6)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(field, min_size=1, max_size=5), min_size=1, max_size=30))
def test_records_of_the_wrong_width_are_reported_and_the_rest_kept(rows):
    # GIVEN records of one to five fields, some quoted with separators, quotes and newlines inside
    rows = [r for r in rows if r != [""]]  # a lone empty field writes a blank line, which is no record
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    # WHEN the chunk is read
    chunk = read_chunk(out.getvalue().encode(), HEADER, first_row=1)
    # THEN the three-field records are the frame, in order, and every other one is reported by number
    expected_good = [(n, r) for n, r in enumerate(rows, start=1) if len(r) == 3]
    assert chunk.frame.values.tolist() == [r for _, r in expected_good]
    assert chunk.rows.tolist() == [n for n, _ in expected_good]
    assert [n for n, _ in chunk.malformed] == [n for n, r in enumerate(rows, start=1) if len(r) != 3]


def test_report_says_what_is_wrong():
    chunk = read_chunk(b'1,2,3\n4,"5,6"\n7,8,9,10\n', HEADER, first_row=41)
    assert chunk.rows.tolist() == [41]
    assert chunk.malformed == [(42, "expected 3 fields, found 2"), (43, "expected 3 fields, found 4")]
