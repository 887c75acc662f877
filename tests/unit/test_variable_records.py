"""Variable-length records (RECFM=V and VB): RDWs and BDWs read as hand-computed, every record
found once whatever the planner's block sizes and cut points, and malformed files rejected with
the record number and byte offset, never the record's bytes."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import InputFileError
from chalicelib.inputs.fixed.file_layout import FileLayout
from chalicelib.inputs.fixed.layout import FieldLayout, RecordLayout
from chalicelib.inputs.fixed.reader import plan_fixed_width
from chalicelib.inputs.fixed.variable import MAX_RECORD, VariableFound, VariableFraming, VariableScanner
from chalicelib.models import InputFormat

V = VariableFraming()
VB = VariableFraming(blocked=True)
ONE_BYTE = FieldLayout("A", 0, 1, "X")
ANY_RECORD = FileLayout(RecordLayout("R", 1, (ONE_BYTE,)), (ONE_BYTE,), ("A",), 1)


def plan_variable(blocks, framing: VariableFraming, records_per_chunk: int, max_chunk_bytes: int
                  ) -> list[tuple[int, int, int]]:
    """The service's planner on a V or VB file: (start, end, records) of each chunk."""
    form = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none",
                       recfm="VB" if framing.blocked else "V")
    plan = plan_fixed_width(blocks, ANY_RECORD, form, records_per_chunk, max_chunk_bytes, framing)
    return [(c.start, c.end, c.rows) for c in plan.chunks]


def scan(data, framing: VariableFraming = V, base: int = 0, final: bool = True, first_record: int = 1
         ) -> VariableFound:
    return VariableScanner(framing, first_record).scan(data, base, final)


def records_of(found: VariableFound) -> tuple[list[int], list[int], list[int], list[bool]]:
    return found.starts.tolist(), found.lengths.tolist(), found.ends.tolist(), found.cut_ok.tolist()


def blocks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


# ------------------------------------------------------------------ hand-written files

# Three records: "ABC" (RDW 0007), an empty one (RDW 0004), "12345" (RDW 0009), in EBCDIC.
V_FILE = bytes.fromhex("00070000 c1c2c3" "00040000" "00090000 f1f2f3f4f5")
V_STARTS, V_LENGTHS, V_ENDS = [4, 11, 15], [3, 0, 5], [7, 11, 20]

# Two blocks: BDW 0014 (20 bytes) holding "ABCD" and "EFGH", BDW 000b (11 bytes) holding "123".
VB_FILE = bytes.fromhex("00140000" "00080000 c1c2c3c4" "00080000 c5c6c7c8" "000b0000" "00070000 f1f2f3")
VB_STARTS, VB_LENGTHS, VB_ENDS, VB_CUTS = [8, 16, 28], [4, 4, 3], [12, 20, 31], [False, True, True]


def test_v_records_as_computed_by_hand():
    found = scan(V_FILE)
    assert records_of(found) == (V_STARTS, V_LENGTHS, V_ENDS, [True, True, True])
    assert found.pos == 20
    assert found.starts.dtype == np.int64 and found.lengths.dtype == np.int64 and found.ends.dtype == np.int64
    assert [V_FILE[s:s + n] for s, n in zip(V_STARTS, V_LENGTHS)] == [b"\xc1\xc2\xc3", b"", b"\xf1\xf2\xf3\xf4\xf5"]


def test_vb_records_as_computed_by_hand():
    found = scan(VB_FILE, VB)
    assert records_of(found) == (VB_STARTS, VB_LENGTHS, VB_ENDS, VB_CUTS)
    assert found.pos == 31


def test_offsets_are_absolute_from_base():
    found = scan(V_FILE, base=1000)
    assert records_of(found) == ([s + 1000 for s in V_STARTS], V_LENGTHS, [e + 1000 for e in V_ENDS], [True] * 3)
    assert found.pos == 1020


def test_numpy_and_memoryview_buffers_read_like_bytes():
    for framing, data in ((V, V_FILE), (VB, VB_FILE)):
        expected = records_of(scan(data, framing))
        assert records_of(scan(np.frombuffer(data, dtype=np.uint8), framing)) == expected
        assert records_of(scan(memoryview(data), framing)) == expected
        assert records_of(scan(bytearray(data), framing)) == expected


def test_lengths_without_the_rdw_and_little_endian():
    # rdw_adjust=4: the RDW gives the data's length (3), not the record's (7).
    assert records_of(scan(bytes.fromhex("00030000 c1c2c3" "00010000 c4"), VariableFraming(rdw_adjust=4))) == \
        ([4, 11], [3, 1], [7, 12], [True, True])
    # Little-endian: length low byte first, bytes 2-3 still zero.
    assert records_of(scan(bytes.fromhex("07000000 c1c2c3" "05000000 c4"), VariableFraming(big_endian=False))) == \
        ([4, 11], [3, 1], [7, 12], [True, True])
    # A little-endian VB file: BDW 0f00 (15 bytes) holding records of 7 and 4 bytes.
    data = bytes.fromhex("0f000000" "07000000 c1c2c3" "04000000")
    assert records_of(scan(data, VariableFraming(blocked=True, big_endian=False))) == \
        ([8, 15], [3, 0], [11, 15], [False, True])
    # bdw_adjust=4: the BDW gives the length of the records, without its own 4 bytes.
    data = bytes.fromhex("000b0000" "00070000 c1c2c3" "00040000")
    assert records_of(scan(data, VariableFraming(blocked=True, bdw_adjust=4))) == \
        ([8, 15], [3, 0], [11, 15], [False, True])


def test_large_form_bdw():
    # High bit of byte 0 set: the other 31 bits are the block's length (15), bytes 2-3 included.
    data = bytes.fromhex("8000000f" "00070000 c1c2c3" "00040000" "00100000" "000c0000 c1c2c3c4c5c6c7c8")
    assert records_of(scan(data, VB)) == ([8, 15, 23], [3, 0, 8], [11, 15, 31], [False, True, True])
    # Little-endian: the word read little-endian, its high bit in byte 3.
    data = bytes.fromhex("0f000080" "07000000 c1c2c3" "04000000")
    assert records_of(scan(data, VariableFraming(blocked=True, big_endian=False))) == \
        ([8, 15], [3, 0], [11, 15], [False, True])


def test_longest_record_and_empty_block():
    record = struct.pack(">HH", MAX_RECORD, 0) + bytes([0xC1]) * (MAX_RECORD - 4)
    found = scan(record)
    assert records_of(found) == ([4], [MAX_RECORD - 4], [MAX_RECORD], [True])
    # A block holding no record (BDW 0004) is skipped; no chunk may end inside it.
    data = bytes.fromhex("00040000" "000b0000 00070000 c1c2c3" "00040000")
    assert records_of(scan(data, VB)) == ([12], [3], [15], [True])
    assert plan_variable([data], VB, 10, 1000) == [(0, 15, 1)]


def test_data_bytes_that_look_like_newlines_or_descriptors_are_data():
    data = bytes.fromhex("000c0000 0a0d1525 00004040" "00080000 00070000")
    assert records_of(scan(data)) == ([4, 16], [8, 4], [12, 20], [True, True])


# ------------------------------------------------------------------ carry-over

def test_non_final_scan_stops_before_an_unfinished_record():
    for cut in range(len(V_FILE)):
        found = scan(V_FILE[:cut], final=False)
        done = [i for i, end in enumerate(V_ENDS) if end <= cut]
        assert found.starts.tolist() == [V_STARTS[i] for i in done]
        assert found.pos == (V_ENDS[done[-1]] if done else 0)


def test_non_final_vb_scan_returns_whole_blocks_only():
    found = scan(VB_FILE[:30], VB, final=False)
    assert records_of(found) == (VB_STARTS[:2], VB_LENGTHS[:2], VB_ENDS[:2], VB_CUTS[:2])
    assert found.pos == 20
    assert scan(VB_FILE[:19], VB, final=False).pos == 0


@pytest.mark.parametrize("framing,data", [(V, V_FILE), (VB, VB_FILE),
                                          (VariableFraming(blocked=True), bytes.fromhex(
                                              "8000000f 00070000c1c2c3 00040000" "00100000 000c0000 " + "c1" * 8))])
def test_every_split_offset_finds_the_same_records(framing, data):
    whole = records_of(scan(data, framing))
    for cut in range(len(data) + 1):
        # The scanner: a first scan of the bytes before the cut, then the rest carried over.
        scanner = VariableScanner(framing)
        first = scanner.scan(data[:cut], 0, final=False)
        rest = scanner.scan(data[first.pos:], first.pos, final=True)
        joined = tuple(a + b for a, b in zip(records_of(first), records_of(rest)))
        assert joined == whole, cut
        assert scanner.next_record == len(whole[0]) + 1
        # The planner, the file in two blocks split there.
        assert plan_variable([data[:cut], data[cut:]], framing, 1000, 1 << 20) == [(0, len(data), len(whole[0]))]
    for a in range(len(data) + 1):  # three blocks, every pair of split offsets
        for b in range(a, len(data) + 1):
            chunks = plan_variable([data[:a], data[a:b], data[b:]], framing, 1, 1 << 20)
            assert [c[1] for c in chunks] == [e for e, ok in zip(whole[2], whole[3]) if ok]


def test_chunks_cut_every_n_records_or_m_bytes():
    record = bytes.fromhex("000a0000 c1c2c3c4c5c6")  # 10 bytes
    v = record * 10
    assert plan_variable(blocks_of(v, 7), V, 3, 1 << 20) == [(0, 30, 3), (30, 60, 3), (60, 90, 3), (90, 100, 1)]
    assert plan_variable(blocks_of(v, 7), V, 100, 25) == [(0, 30, 3), (30, 60, 3), (60, 90, 3), (90, 100, 1)]
    assert plan_variable(blocks_of(v, 7), V, 100, 20) == [(0, 20, 2), (20, 40, 2), (40, 60, 2), (60, 80, 2),
                                                          (80, 100, 2)]
    # VB, two records a block (24 bytes): a chunk only ends at a block's end.
    vb = (bytes.fromhex("00180000") + record * 2) * 5
    assert plan_variable(blocks_of(vb, 5), VB, 3, 1 << 20) == [(0, 48, 4), (48, 96, 4), (96, 120, 2)]
    assert plan_variable(blocks_of(vb, 5), VB, 1, 1 << 20) == [(0, 24, 2), (24, 48, 2), (48, 72, 2), (72, 96, 2),
                                                              (96, 120, 2)]
    assert plan_variable(blocks_of(vb, 5), VB, 100, 30) == [(0, 48, 4), (48, 96, 4), (96, 120, 2)]


# ------------------------------------------------------------------ errors and padding

SECRET = "SMITH JOHN 123456789"


def secret_record(length_hex: str = "0018", zero: str = "0000") -> bytes:
    return bytes.fromhex(length_hex + zero) + SECRET.encode("cp037")


def assert_no_contents(message: str) -> None:
    for word in ("SMITH", "JOHN", "123456789"):
        assert word not in message
        assert word.encode("cp037").hex() not in message.lower()


def fails(data: bytes, framing: VariableFraming = V, match: str = "", **kwargs) -> str:
    with pytest.raises(InputFileError, match=match) as info:
        scan(data, framing, **kwargs)
    message = str(info.value)
    assert_no_contents(message)
    return message


def test_rdw_whose_bytes_2_3_are_not_zero():
    data = bytes.fromhex("00070000 c1c2c3") + secret_record(zero="0001")
    fails(data, match=r"^record 2 \(byte offset 7\): not an RDW: bytes 2-3")
    fails(data, first_record=41, base=700, match=r"^record 42 \(byte offset 707\): not an RDW")
    # A spanned-record segment descriptor (bytes 2-3: 0100, the first segment).
    fails(secret_record(zero="0100"), match=r"^record 1 \(byte offset 0\): not an RDW: .*spanned record \(RECFM=VS")
    # EBCDIC text where an RDW should be.
    fails(SECRET.encode("cp037"), match=r"^record 1 \(byte offset 0\): not an RDW")


def test_rdw_length_out_of_range():
    fails(bytes.fromhex("00070000 c1c2c3 00020000"), match=r"^record 2 \(byte offset 7\): RDW length 2 is below 4, "
                                                        r".*set rdw_adjust to 4")
    fails(bytes.fromhex("7ff90000") + bytes(32757), match=r"^record 1 \(byte offset 0\): RDW length 32761 is above "
                                                          r"32760")
    # A little-endian length read big-endian.
    fails(bytes.fromhex("c8000000") + bytes(196), match=r"^record 1 \(byte offset 0\): RDW length 51200 is above "
                                                        r"32760.*set big_endian to false")
    # Four zero bytes are no record, even when the lengths leave out the RDW's own 4.
    fails(bytes.fromhex("00030000 c1c2c3 00000000 c1"), VariableFraming(rdw_adjust=4),
          match=r"^record 2 \(byte offset 7\): not an RDW: its length is zero")


def test_truncated_last_record():
    data = bytes.fromhex("00070000 c1c2c3") + secret_record()
    fails(data[:-3], match=r"^record 2 \(byte offset 7\): the file ends inside the record, 24 bytes by its RDW, "
                           r"21 left")
    fails(data[:9], match=r"^record 2 \(byte offset 7\): the file ends 2 bytes into the record's 4-byte RDW")
    fails(data[:-3], first_record=10, match=r"^record 11 \(byte offset 7\)")
    # Not final: the scan just stops before it.
    found = scan(data[:-3], final=False)
    assert found.starts.tolist() == [4] and found.pos == 7


def test_vb_record_past_its_block_end():
    # The block is 14 bytes, but its second record (RDW at 10) needs 24.
    data = bytes.fromhex("000e0000 00060000 c1c2") + secret_record()
    fails(data, VB, match=r"^record 2 \(byte offset 10\): the record, 24 bytes by its RDW, runs past the end of its "
                          r"block 1 \(byte offset 0, ending at byte offset 14\)")
    # Two bytes left in the block after a record: too few for an RDW.
    data = bytes.fromhex("000c0000 00060000 c1c2 c3c4") + secret_record()
    fails(data, VB, match=r"^record 2 \(byte offset 10\): block 1 \(byte offset 0, ending at byte offset 12\) has 2 "
                          r"bytes left")
    # The same, in the second block; with a base and a first record number, as a worker sees it.
    good = bytes.fromhex("000b0000 00070000 c1c2c3")
    data = good + bytes.fromhex("000e0000 00060000 c1c2") + secret_record()
    fails(data, VB, base=100, first_record=5,
          match=r"^record 7 \(byte offset 121\): .*runs past the end of its block 2 \(byte offset 111, ending at "
                r"byte offset 125\)")
    # An invalid RDW inside a block.
    data = bytes.fromhex("001c0000") + secret_record(zero="4040")
    fails(data, VB, match=r"^record 1 \(byte offset 4\): not an RDW.*; in block 1 \(byte offset 0")


def test_bad_bdws():
    fails(bytes.fromhex("000b0001 00070000 c1c2c3"), VB,
          match=r"^block 1 \(byte offset 0, before record 1\): not a BDW: bytes 2-3")
    fails(VB_FILE + bytes.fromhex("00030000"), VB, match=r"^block 3 \(byte offset 31, before record 4\): BDW length 3 "
                                                          r"is below 4")
    fails(bytes.fromhex("7ff90000") + bytes(40000), VB, match=r"^block 1 \(byte offset 0, before record 1\): BDW "
                                                              r"length 32761 is above 32760")
    fails(bytes.fromhex("ffffffff") + bytes(100), VB, match=r"large-form BDW length 2147483647 is above")
    fails(VB_FILE + bytes.fromhex("00140000 00080000"), VB,
          match=r"^block 3 \(byte offset 31, before record 4\): the file ends inside the block, 20 bytes by its BDW, "
                r"8 left")
    fails(VB_FILE + bytes.fromhex("0014"), VB,
          match=r"^block 3 \(byte offset 31, before record 4\): the file ends 2 bytes into its 4-byte BDW")
    # A V file read as VB: its first RDW taken for a BDW, the data after it for an RDW.
    fails(V_FILE, VB, match=r"^record 1 \(byte offset 4\)")


@pytest.mark.parametrize("pad", [b"\x00", b"\x40", b"\x00" * 3, b"\x40" * 3, b"\x00" * 4, b"\x40" * 9,
                                 b"\x00" * 5000, b"\x40" * 40000])
@pytest.mark.parametrize("framing,data", [
    (V, V_FILE), (VB, VB_FILE), (VariableFraming(rdw_adjust=4), bytes.fromhex("00030000 c1c2c3")),
    (VariableFraming(blocked=True, rdw_adjust=4, bdw_adjust=4), bytes.fromhex("00070000 00030000 c1c2c3"))])
def test_padding_after_the_last_record_or_block_is_ignored(pad, framing, data):
    whole = records_of(scan(data, framing))
    found = scan(data + pad, framing)
    assert records_of(found) == whole
    assert found.pos == len(data) + len(pad)
    count = len(whole[0])
    for size in (1, 3, 1000, 1 << 20):
        assert plan_variable(blocks_of(data + pad, size), framing, 1000, 1 << 20) == [(0, len(data), count)]
    # Followed by anything else, it is an error where the padding starts.
    with pytest.raises(InputFileError, match=rf"byte offset {len(data)}\b"):
        scan(data + pad + b"\x00\x00\x00\xc1", framing)
    for size in (1, 1000, 1 << 20):
        with pytest.raises(InputFileError, match=rf"^(record|block) \d+ \(byte offset {len(data)}\b"):
            plan_variable(blocks_of(data + pad + b"\x00\x00\x00\xc1", size), framing, 1000, 1 << 20)


def test_padding_that_looks_like_a_bdw():
    # "40 00 00 00" is a BDW of 16384 bytes; the "RDWs" in it are padding too.
    pad = b"\x40" + bytes(20000)
    found = scan(VB_FILE + pad, VB)
    assert records_of(found) == records_of(scan(VB_FILE, VB)) and found.pos == len(VB_FILE) + len(pad)
    assert plan_variable(blocks_of(VB_FILE + pad, 1000), VB, 10, 1000) == [(0, len(VB_FILE), 3)]
    with pytest.raises(InputFileError, match=r"^record 4 \(byte offset 35\): not an RDW.* in block 3 \(byte offset 31"):
        plan_variable(blocks_of(VB_FILE + pad + b"\xc1", 1000), VB, 10, 1000)


def test_framing_options_are_checked():
    for bad in (1.5, True, "4", 40000):
        with pytest.raises(ValueError, match="rdw_adjust must be a whole number"):
            VariableFraming(rdw_adjust=bad)


def test_padding_is_held_back_until_the_file_ends():
    for framing, data in ((V, V_FILE), (VB, VB_FILE)):
        scanner = VariableScanner(framing)
        found = scanner.scan(data + bytes(10), 0, final=False)
        assert records_of(found) == records_of(scan(data, framing))
        assert found.pos == scanner.padding_at == len(data)
        # Bytes that could still be a record or block are not padding.
        scanner = VariableScanner(framing)
        assert scanner.scan(data + b"\x40", 0, final=False).pos == len(data) and scanner.padding_at is None


def test_empty_files():
    for framing in (V, VB):
        with pytest.raises(InputFileError, match="^file is empty$"):
            plan_variable([b""], framing, 10, 100)
        with pytest.raises(InputFileError, match="^file is empty: its 100 bytes are blank records or padding"):
            plan_variable([bytes(100)], framing, 10, 100)
        found = scan(b"", framing)
        assert len(found.starts) == 0 and found.pos == 0


def test_messages_count_records_across_scans():
    scanner = VariableScanner(V)
    found = scanner.scan(V_FILE, 0, final=False)
    with pytest.raises(InputFileError, match=r"^record 4 \(byte offset 20\): not an RDW"):
        scanner.scan(secret_record(zero="0001"), found.pos, final=True)


# ------------------------------------------------------------------ property: any file, any cut points

def encode(records: list[bytes], framing: VariableFraming, groups: list[int], large: list[bool]
           ) -> tuple[bytes, list[int], list[int]]:
    """The file; the offset of each record's data; the offsets where a chunk may end."""
    order = ">" if framing.big_endian else "<"

    def rdw(record: bytes) -> bytes:
        return struct.pack(order + "HH", len(record) + 4 - framing.rdw_adjust, 0) + record

    out, starts, cuts = bytearray(), [], []
    if not framing.blocked:
        for record in records:
            out += rdw(record)
            starts.append(len(out) - len(record))
            cuts.append(len(out))
        return bytes(out), starts, cuts
    i = 0
    for count, big in zip(groups, large):
        body = bytearray()
        for record in records[i:i + count]:
            body += rdw(record)
            starts.append(len(out) + 4 + len(body) - len(record))
        i += count
        size = len(body) + 4 - framing.bdw_adjust
        out += struct.pack(order + "I", 0x80000000 | size) if big else struct.pack(order + "HH", size, 0)
        out += body
        if count:
            cuts.append(len(out))
    assert i == len(records)
    return bytes(out), starts, cuts


SPECIAL = [0x0A, 0x0D, 0x15, 0x25, 0x00, 0x40, 0xFF, 0x80]
record_bytes = st.lists(st.one_of(st.sampled_from(SPECIAL), st.integers(0, 255)), max_size=300).map(bytes)


@st.composite
def files(draw):
    framing = VariableFraming(blocked=draw(st.booleans()), rdw_adjust=draw(st.sampled_from([0, 4])),
                              big_endian=draw(st.booleans()), bdw_adjust=draw(st.sampled_from([0, 4])))
    records = draw(st.lists(record_bytes, min_size=0, max_size=60))
    if framing.rdw_adjust:  # four zero bytes are never an RDW: no empty record then
        records = [r or b"\xc1" for r in records]
    groups: list[int] = []
    if framing.blocked:
        left = len(records)
        while left or draw(st.booleans()) and len(groups) < 3:  # sometimes empty blocks, some at the end
            count = min(left, draw(st.integers(0 if len(groups) < 20 and draw(st.booleans()) else 1, 12)))
            groups.append(count)
            left -= count
    large = [draw(st.booleans()) for _ in groups]
    if framing.bdw_adjust:  # nor a BDW: an empty block then has the large form
        large = [big or not count for big, count in zip(large, groups)]
    padding = draw(st.sampled_from([b"", b"\x00", b"\x40"])) * draw(st.integers(0, 40))
    return framing, records, groups, large, padding


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(file=files(), data=st.data())
def test_every_chunk_rescanned_alone_finds_the_planners_records(file, data):
    framing, records, groups, large, padding = file
    body, starts, cut_points = encode(records, framing, groups, large)
    raw = body + padding
    # One scan of the whole file finds the encoded records.
    whole = scan(raw, framing)
    assert whole.starts.tolist() == starts
    assert whole.lengths.tolist() == [len(r) for r in records]
    assert [raw[s:s + n] for s, n in zip(whole.starts.tolist(), whole.lengths.tolist())] == records
    assert [e for e, ok in zip(whole.ends.tolist(), whole.cut_ok.tolist()) if ok] == cut_points
    # The planner, given the file in blocks of random sizes.
    sizes = data.draw(st.lists(st.integers(1, 64), min_size=1, max_size=40))
    blocks, i = [], 0
    while i < len(raw):
        blocks.append(raw[i:i + sizes[len(blocks) % len(sizes)]])
        i += len(blocks[-1])
    per_chunk = data.draw(st.integers(1, 20))
    max_bytes = data.draw(st.integers(1, 600))
    if not records:
        with pytest.raises(InputFileError, match="^file is empty"):
            plan_variable(blocks, framing, per_chunk, max_bytes)
        return
    chunks = plan_variable(blocks, framing, per_chunk, max_bytes)
    assert chunks[0][0] == 0 and chunks[-1][1] == cut_points[-1]  # empty blocks after the last record: no chunk's
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert set(c[1] for c in chunks) <= set(cut_points)
    found_starts, found_lengths, number = [], [], 1
    for start, end, count in chunks:
        part = VariableScanner(framing, first_record=number).scan(raw[start:end], start, final=True)
        assert len(part.starts) == count > 0
        assert part.pos == end and part.ends[-1] == end and part.cut_ok[-1]
        # The chunk closed at the first allowed cut with enough records or bytes, not before.
        inside = [(k + 1, e - start) for k, (e, ok) in enumerate(zip(part.ends.tolist(), part.cut_ok.tolist()))
                  if ok and e < end]
        assert all(n < per_chunk and size < max_bytes for n, size in inside)
        if end != cut_points[-1]:
            assert count >= per_chunk or end - start >= max_bytes
        found_starts += part.starts.tolist()
        found_lengths += part.lengths.tolist()
        number += count
    assert found_starts == starts
    assert [raw[s:s + n] for s, n in zip(found_starts, found_lengths)] == records
