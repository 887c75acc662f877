"""A delimited file planned by ranges, each scanned on its own and stitched, gives the single planner's plan.

The single planner is `plan_delimited(range_bytes=R)`, the one that streams the whole file; the fan-out is
`scan_range` per range (in any order, as workers would) and `stitch`. The files are random, with quoted
fields full of newlines, CRs, quotes and delimiters, blank lines, a BOM or none, a header or none, a last
record with or without its newline, and ranges as small as a few bytes, so range edges fall inside quoted
fields, inside CR LF pairs, on blank lines and inside multi-byte characters.
"""
from __future__ import annotations

import csv
import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import InputFileError
from chalicelib.inputs.delimited import SCAN_STEP, plan_delimited
from chalicelib.inputs.ranges import RangeScan, hash_file, plan_by_ranges, range_edges, scan_range, stitch

HEADER = ["ID", "NAME", "NOTE"]
field = st.text(alphabet=st.sampled_from(list('ab ,"\n\ré') + ["x", "€", "😀"]), max_size=12)


def csv_bytes(rows, line_end: str, header: bool, bom: bool, blank_lines: list[int], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(HEADER)
    for i, row in enumerate(rows):
        if i in blank_lines:
            out.write(line_end)
        writer.writerow(row)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode(encoding, errors="replace")


def reader(data: bytes):
    return lambda start, end: data[start:end]


def single(data: bytes, range_bytes: int, per_chunk: int, max_bytes: int, header: bool = True,
           encoding: str = "utf-8"):
    blocks = [data[i:i + 7] for i in range(0, len(data), 7)] or [b""]
    return plan_delimited(blocks, per_chunk, max_bytes, encoding, ",", header, "r", range_bytes=range_bytes)


def fanned_out(data: bytes, range_bytes: int, per_chunk: int, max_bytes: int, header: bool = True,
               encoding: str = "utf-8", shuffle: int = 0):
    edges = list(enumerate(range_edges(len(data), range_bytes)))
    random.Random(shuffle).shuffle(edges)  # workers finish in any order
    # Reads ahead in threads or not, blocks scanned as small as a byte, and reads of one block or of several:
    # the same scan.
    block = 1 + shuffle % 17
    scans = [scan_range(reader(data), len(data), i, a, b, per_chunk, max_bytes, encoding, header,
                        readers=1 + shuffle % 3, block_size=block, read_bytes=block * (1 + shuffle % 4))
             for i, (a, b) in edges]
    # What crosses from a range worker to the stitcher is its JSON document.
    scans = [RangeScan.from_dict(s.to_dict()) for s in scans]
    return stitch(scans, reader(data), len(data), encoding, ",", header, "r")


def outcome(plan_or_error):
    try:
        plan = plan_or_error()
    except InputFileError as err:
        return ("error", str(err))
    return (plan.header, plan.chunks)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 10**6), field, field), min_size=0, max_size=30),
       per_chunk=st.integers(1, 6), max_bytes=st.integers(1, 300), range_bytes=st.integers(1, 120),
       line_end=st.sampled_from(["\n", "\r\n"]), header=st.booleans(), bom=st.booleans(),
       blank_lines=st.lists(st.integers(0, 30), max_size=4), trailing=st.sampled_from(["", "\n", "\r\n\n", "  "]),
       drop_last_newline=st.booleans(), shuffle=st.integers(0, 1000))
def test_the_fanned_out_plan_is_the_single_plan(rows, per_chunk, max_bytes, range_bytes, line_end, header, bom,
                                                blank_lines, trailing, drop_last_newline, shuffle):
    # GIVEN a file with quoted newlines, blank lines and multi-byte characters, cut by a grid of small ranges
    data = csv_bytes(rows, line_end, header, bom, blank_lines)
    if drop_last_newline:
        data = data.rstrip(b"\r\n")
    data += trailing.encode()
    # WHEN one planner streams it, and when each range is scanned on its own and the scans stitched
    expected = outcome(lambda: single(data, range_bytes, per_chunk, max_bytes, header))
    got = outcome(lambda: fanned_out(data, range_bytes, per_chunk, max_bytes, header, shuffle=shuffle))
    # THEN the plans are the same, chunk for chunk: numbers, byte ranges, first rows, counts (or the same error)
    assert got == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 10**6), field, field), min_size=1, max_size=30),
       range_bytes=st.integers(1, 80), cut=st.integers(0, 10**6))
def test_a_file_broken_anywhere_fails_the_same_way(rows, range_bytes, cut):
    # GIVEN a file cut short (maybe inside a quoted field or a character) or with a stray byte put in
    data = csv_bytes(rows, "\n", True, False, [])
    at = cut % len(data)
    for broken in (data[:at], data[:at] + b"\xff" + data[at:], data[:at] + b'"' + data[at:]):
        # THEN the fan-out says what the single planner says
        assert outcome(lambda: fanned_out(broken, range_bytes, 3, 200)) == \
            outcome(lambda: single(broken, range_bytes, 3, 200)), broken


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_single_byte_encodings(encoding):
    rows = [[i, f"n\xe9{i}", 'say "hi",\nthere'] for i in range(50)]
    data = csv_bytes(rows, "\r\n", True, False, [3, 7], encoding)
    for range_bytes in (5, 17, 64, 1000):
        assert fanned_out(data, range_bytes, 4, 90, encoding=encoding).chunks == \
            single(data, range_bytes, 4, 90, encoding=encoding).chunks


def test_the_grid_cuts_a_chunk_at_the_first_record_end_past_each_range_edge():
    # GIVEN records of 10 bytes and ranges of 25 bytes
    data = b"".join(b"%09d\n" % i for i in range(10))
    plan = single(data, 25, 100, 10**6, header=False)
    # THEN chunks end at 30, 50, 80 (the first ends at or past 25, 50, 75) and at the file's end
    assert [(c.start, c.end, c.first_row, c.rows) for c in plan.chunks] == \
        [(0, 30, 1, 3), (30, 50, 4, 2), (50, 80, 6, 3), (80, 100, 9, 2)]
    assert sum(c.rows for c in plan.chunks) == 10


def test_without_a_grid_the_plan_is_unchanged():
    data = b"H\n" + b"".join(b"%09d\n" % i for i in range(10))
    blocks = [data]
    assert plan_delimited(blocks, 4, 10**6, "utf-8", ",", True, "r").chunks == \
        single(data, 10**6, 4, 10**6).chunks


def test_reads_larger_than_the_scan_step_are_scanned_a_step_at_a_time_and_lose_nothing_at_its_edges():
    # GIVEN a file of a few megabytes with a byte on each scan-step edge that only its neighbours explain: the
    # newline inside a quoted field, the LF of a CRLF, the LF of a blank line, a two-byte character's second
    # byte (each record's text, and where in it the edge falls)
    awkward = [(b'"quoted\nnewline"\n', 7), (b"crlf\r\n", 5), (b"blank\n\n", 6), ("caf\u00e9\n".encode(), 4)]
    data, records = bytearray(b"ID,NAME,CODE\n"), 0
    for edge, (text, at) in zip(range(SCAN_STEP, 5 * SCAN_STEP, SCAN_STEP), awkward):
        while len(data) < edge - 100:
            data += b"%07d,plain,x\n" % records
            records += 1
        prefix = b"%07d,pad," % records
        pad = edge - len(data) - len(prefix) - at
        data += prefix[:-1] + b"p" * pad + b"," + text
        records += 1
        assert data[edge:edge + 1] == text[at:at + 1]
    for _ in range(10):
        data += b"%07d,plain,x\n" % records
        records += 1
    data = bytes(data)
    # WHEN it is planned from one read of the whole file, from reads smaller than a step, and fanned out
    whole = plan_delimited([data], 1000, 10**9, "utf-8", ",", True, "r")
    small = plan_delimited([data[i:i + 65536] for i in range(0, len(data), 65536)], 1000, 10**9, "utf-8", ",",
                           True, "r")
    range_bytes = SCAN_STEP + SCAN_STEP // 3
    fanned = plan_by_ranges(reader(data), len(data), range_bytes, 1000, 10**9, run_id="r")
    # THEN every record is counted once, and the plans agree chunk for chunk
    assert sum(c.rows for c in whole.chunks) == records
    assert whole.chunks == small.chunks
    gridded = plan_delimited([data], 1000, 10**9, "utf-8", ",", True, "r", range_bytes=range_bytes)
    assert fanned.chunks == gridded.chunks
    assert sum(c.rows for c in fanned.chunks) == records


def test_plan_by_ranges_and_the_files_hash():
    import hashlib

    data = csv_bytes([[i, "a\nb", "c"] for i in range(100)], "\n", True, True, [])
    assert plan_by_ranges(reader(data), len(data), 33, 7, 10**6, run_id="r").chunks == single(data, 33, 7, 10**6).chunks
    assert hash_file(reader(data), len(data), block=10) == hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ the flow on the work queue (over fakes)

def _employees_with_quoted_addresses(records: int) -> bytes:
    from tests.unit.fakes import employees_csv

    lines = employees_csv(records, bad=(5, 77)).decode().split("\n")
    for row in range(1, records + 1, 3):  # every third record holds a quoted address with a newline and a comma
        fields = lines[row].split(",")
        fields[8] = f'"{row} MAIN ST\nAPT ""{row % 7}"", SPRINGFIELD"'
        lines[row] = ",".join(fields)
    return "\n".join(lines).encode()


def _drain(wiring, order_seed: int, duplicate: bool = True) -> list:
    """Hand every waiting message to a worker, in a shuffled order, some of them twice, until none is left;
    the chunk messages seen, as sent."""
    worker, rng, chunks = wiring.worker, random.Random(order_seed), []
    while messages := wiring.queue.take():
        rng.shuffle(messages)
        for message in messages + ([messages[0]] if duplicate else []):   # SQS delivers at least once
            if message.kind == "chunk":
                chunks.append(message)
            worker.handle(message.to_json())
    return chunks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fanned_out_run_counts_every_record_once_in_the_single_plans_chunks(tmp_path, seed):
    import hashlib

    from chalicelib.access import OPEN_CALLER
    from chalicelib.messages import RangeMessage
    from tests.unit.fakes import wire

    data = _employees_with_quoted_addresses(300)
    request = {"file_path": "data/input/big.csv", "record_type": "employee", "output_mode": "file"}
    runs = {}
    for name, fan_out in (("single", "1000000000"), ("fanned", "1")):
        # GIVEN the same file, planned by one worker, and fanned out in ranges of 700 bytes
        wiring = wire(tmp_path / name, CHUNK_RECORDS="7", PLAN_RANGE_BYTES="700", PLAN_FANOUT_BYTES=fan_out)
        wiring.write(request["file_path"], data)
        run_id = wiring.service.trigger(OPEN_CALLER, request)["run_id"]
        wiring.worker.handle(wiring.queue.take()[0].to_json())
        parts = [m for m in wiring.queue.sent if isinstance(m, RangeMessage)]
        assert len(parts) == (0 if name == "single" else -(-len(data) // 700) + 1)
        # WHEN workers take every message in any order, some twice
        chunks = _drain(wiring, seed)
        runs[name] = (wiring.store.get(run_id), chunks)
    single, fanned = runs["single"][0], runs["fanned"][0]
    # THEN the fanned-out run ends as the single one: the same counts, each record counted once ...
    assert fanned.status.value == single.status.value == "completed"
    assert fanned.total_records == single.total_records == 300
    assert (fanned.success_count, fanned.error_count) == (single.success_count, single.error_count)
    assert fanned.success_count + fanned.error_count == 300
    # ... the same chunks (numbers, byte ranges, first rows, counts) and the file's real SHA-256
    pointers = lambda chunks: sorted({(c.chunk, c.start, c.end, c.first_row, c.rows) for c in chunks})  # noqa: E731
    assert pointers(runs["fanned"][1]) == pointers(runs["single"][1])
    assert fanned.input_sha256 == single.input_sha256 == hashlib.sha256(data).hexdigest()
    assert fanned.input_bytes == len(data)


def test_a_fanned_out_plan_fails_the_run_as_one_planner_would(tmp_path):
    from chalicelib.access import OPEN_CALLER
    from tests.unit.fakes import wire

    # GIVEN a big file whose last quoted field is never closed
    data = _employees_with_quoted_addresses(100) + b'E1,"unclosed\n'
    wiring = wire(tmp_path, CHUNK_RECORDS="7", PLAN_RANGE_BYTES="500", PLAN_FANOUT_BYTES="1")
    wiring.write("data/input/bad.csv", data)
    run_id = wiring.service.trigger(OPEN_CALLER, {"file_path": "data/input/bad.csv", "record_type": "employee",
                                                  "output_mode": "file"})["run_id"]
    # WHEN its parts are planned
    _drain(wiring, 7)
    # THEN the run fails with the single planner's reason, and no chunk was sent
    run = wiring.store.get(run_id)
    assert run.status.value == "failed" and "ends inside a quoted field" in run.error_message
    assert not run.planned


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abc,\n") + ["é", "€", "😀"]), min_size=1, max_size=300),
       noise=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0x80, 0xFF)), max_size=3))
def test_the_fast_utf8_check_finds_what_the_decoder_finds(text, noise):
    import codecs

    from chalicelib.inputs.delimited import check_decoding

    # GIVEN mostly ASCII text (so that the check takes its fast path), maybe with stray bytes put in
    data = bytearray((text * 20).encode())
    for at, byte in noise:
        data[at % len(data)] = byte
    data = bytes(data)

    def error(check):
        try:
            check()
        except UnicodeDecodeError as err:
            return err.start
        return None
    # THEN it fails where (and only where) a decoder fails
    assert error(lambda: check_decoding(codecs.getincrementaldecoder("utf-8")(), data, "utf-8", final=True)) == \
        error(lambda: data.decode("utf-8"))


def test_the_plan_does_not_wait_for_the_digest_and_a_late_digest_reports_again(tmp_path):
    import hashlib

    from chalicelib.access import OPEN_CALLER
    from chalicelib.messages import RangeMessage
    from tests.unit.fakes import wire

    data = _employees_with_quoted_addresses(60)
    wiring = wire(tmp_path, CHUNK_RECORDS="7", PLAN_RANGE_BYTES="900", PLAN_FANOUT_BYTES="1")
    wiring.write("data/input/big.csv", data)
    run_id = wiring.service.trigger(OPEN_CALLER, {"file_path": "data/input/big.csv", "record_type": "employee",
                                                  "output_mode": "file"})["run_id"]
    worker = wiring.worker
    worker.handle(wiring.queue.take()[0].to_json())
    parts = wiring.queue.take()
    digest = [p for p in parts if isinstance(p, RangeMessage) and p.digest]
    assert len(digest) == 1 and parts[-1] == digest[0]  # sent last
    # WHEN every range and chunk is done before the digest
    for message in parts[:-1]:
        worker.handle(message.to_json())
    for message in wiring.queue.take():
        worker.handle(message.to_json())
    run = wiring.store.get(run_id)
    # THEN the run ended with exact counts, without its file's identity ...
    assert run.status.value == "completed" and run.total_records == 60 and run.input_sha256 is None
    reconciles = len(wiring.queue.reconciles)
    # ... which the digest then sets, and asks for the report again
    worker.handle(digest[0].to_json())
    assert wiring.store.get(run_id).input_sha256 == hashlib.sha256(data).hexdigest()
    assert len(wiring.queue.reconciles) == reconciles + 1


def test_a_big_file_with_a_wrong_header_fails_before_it_fans_out(tmp_path):
    from chalicelib.access import OPEN_CALLER
    from tests.unit.fakes import wire

    # GIVEN a big file whose header is not the record type's
    data = b"A,B,C\n" + _employees_with_quoted_addresses(50).split(b"\n", 1)[1]
    wiring = wire(tmp_path, CHUNK_RECORDS="7", PLAN_RANGE_BYTES="500", PLAN_FANOUT_BYTES="1")
    wiring.write("data/input/bad.csv", data)
    run_id = wiring.service.trigger(OPEN_CALLER, {"file_path": "data/input/bad.csv", "record_type": "employee",
                                                  "output_mode": "file"})["run_id"]
    # WHEN its plan message is handled
    wiring.worker.handle(wiring.queue.take()[0].to_json())
    # THEN the run fails on its header, and no range was sent
    run = wiring.store.get(run_id)
    assert run.status.value == "failed" and "header does not match" in run.error_message
    assert wiring.queue.take() == []
