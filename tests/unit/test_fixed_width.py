"""Fixed-width records: layouts are checked loudly, zoned and packed decimals and EBCDIC
decode as hand-computed, and every record is read exactly once whatever the cut points."""
from __future__ import annotations

import io
import json
import os
import random
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.errors import InputFileError
from chalicelib.inputs.fixed.file_layout import FileLayout, load_file_layout
from chalicelib.inputs.fixed.reader import plan_fixed_width, read_fixed_chunk
from chalicelib.models import InputFormat
from chalicelib.inputs.delimited import plan_delimited
from chalicelib.inputs.delimited import read_delimited_chunk as read_chunk
from chalicelib.errors import SpecError
from chalicelib.records import load_spec, load_specs, transform
from datagen.fixed_width import write_fixed_width, write_fixed_width_file
from datagen.legacy_files import generate_rows, write_legacy_file


def load_layout(name, raw, sources):
    return load_file_layout(name, raw, sources, ".")


def fmt(encoding: str = "cp037", separator: str = "none") -> InputFormat:
    return InputFormat(type="fixed_width", header=False, encoding=encoding, record_separator=separator)


def blocks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def read_all(data: bytes, layout: FileLayout, form: InputFormat, block: int = 1 << 20, per_chunk: int = 25_000,
             max_bytes: int = 1 << 24):
    """Plan the file, read every chunk on its own: (row, values) of every record, malformed ones."""
    plan = plan_fixed_width(blocks_of(data, block), layout, form, per_chunk, max_bytes)
    assert plan.header == list(layout.names)
    records, malformed = [], []
    for chunk in plan.chunks:
        part = read_fixed_chunk(data[chunk.start:chunk.end], layout, form, chunk.first_row)
        assert list(part.frame.columns) == list(layout.names)
        assert len(part.frame) + len(part.malformed) == chunk.rows
        records += list(zip(part.rows.tolist(), part.frame.values.tolist()))
        malformed += part.malformed
    return plan, records, malformed


# ------------------------------------------------------------------ layouts

SOURCES = ["ID", "AMOUNT", "BORN"]
GOOD = {"record_length": 30, "fields": [
    {"source": "ID", "offset": 0, "length": 10, "pic": "X(10)"},
    {"source": "AMOUNT", "offset": 10, "length": 5, "pic": "S9(7)V99", "usage": "COMP-3"},
    {"source": "BORN", "offset": 15, "length": 8, "pic": "9(8)"},
]}


def with_field(index: int, **changes) -> dict:
    layout = json.loads(json.dumps(GOOD))
    layout["fields"][index].update(changes)
    layout["fields"][index] = {k: v for k, v in layout["fields"][index].items() if v is not None}
    return layout


def test_a_good_layout_loads_in_the_spec_s_source_order():
    shuffled = dict(GOOD, fields=list(reversed(GOOD["fields"])))
    layout = load_layout("x.json", shuffled, SOURCES)
    assert list(layout.names) == SOURCES
    amount = layout.columns[1]
    assert (amount.numeric, amount.signed, amount.digits, amount.scale, amount.packed) == (True, True, 9, 2, True)
    assert layout.binary


def test_length_may_be_left_to_the_pic():
    layout = load_layout("x.json", with_field(1, length=None), SOURCES)
    assert layout.columns[1].length == 5


@pytest.mark.parametrize("raw, message", [
    (dict(GOOD, recordlength=30), r"x\.json: fixed_width: unknown key 'recordlength'"),
    ({"fields": GOOD["fields"]}, r"x\.json: fixed_width: 'record_length' must be"),
    (dict(GOOD, record_length=True), r"'record_length' must be"),
    (dict(GOOD, fields=[]), r"'fields' must be a non-empty list"),
    (with_field(0, size=3), r"field 'ID': unknown key 'size'"),
    (with_field(0, pic="X(10"), r"field 'ID': PIC X\(10: unbalanced parentheses"),
    (with_field(0, pic="Z(10)Q"), r"field 'ID': PIC Z\(10\)Q"),
    (with_field(2, pic="9(8)VV"), r"field 'BORN': PIC 9\(8\)VV"),
    (with_field(2, pic="S"), r"field 'BORN': PIC S: no digit positions"),
    (with_field(0, pic="SX(10)"), r"field 'ID': PIC SX\(10\): S cannot appear with X or A"),
    (with_field(0, pic="X(0)"), r"field 'ID': PIC X\(0\): a repeat count of \(0\)"),
    (with_field(1, usage="COMP"), r"field 'AMOUNT': PIC S9\(7\)V99 COMP takes 4 bytes, not length 5"),
    (with_field(1, usage="POINTER"), r"field 'AMOUNT': usage 'POINTER' is not supported"),
    (with_field(0, usage="COMP-3"), r"field 'ID': PIC X\(10\): USAGE COMP-3 needs a numeric PIC"),
    (with_field(0, length=9), r"field 'ID': PIC X\(10\) takes 10 bytes, not length 9"),
    (with_field(1, usage=None), r"field 'AMOUNT': PIC S9\(7\)V99 takes 9 bytes, not length 5"),
    (with_field(1, length=9), r"field 'AMOUNT': PIC S9\(7\)V99 COMP-3 takes 5 bytes, not length 9"),
    (with_field(2, pic="9(6)"), r"field 'BORN': PIC 9\(6\) takes 6 bytes, not length 8"),
    (with_field(1, pic="S9(30)V99", length=17), r"field 'AMOUNT': PIC S9\(30\)V99: at most 31 digits"),
    (with_field(2, offset=25), r"field 'BORN': bytes 25-32 run past the record length 30"),
    (with_field(2, offset=-1), r"field 'BORN': 'offset' must be"),
    (with_field(2, offset=True), r"field 'BORN': 'offset' must be"),
    (with_field(1, offset=8), r"fields 'ID' \(bytes 0-9\) and 'AMOUNT' \(bytes 8-12\) overlap"),
    (with_field(2, source="BIRTH"), r"field 'BIRTH' is not one of the spec's source fields"),
    (with_field(2, source="ID", offset=20, pic="X(10)", length=10), r"field 'ID' appears twice"),
    (with_field(0, pic=None), r"field 'ID': needs a 'pic'"),
    (with_field(0, source=None), r"fixed_width: field 0: needs a 'source'"),
])
def test_a_broken_layout_is_refused_naming_the_file_and_the_field(raw, message):
    with pytest.raises(SpecError, match=message):
        load_layout("x.json", raw, SOURCES)


def test_a_source_field_missing_from_the_layout_is_named():
    with pytest.raises(SpecError, match=r"x\.json: fixed_width: source fields missing from the layout: "
                                        r"NOTE, CODE"):
        load_layout("x.json", GOOD, SOURCES + ["NOTE", "CODE"])


def test_a_spec_file_with_a_broken_layout_fails_to_load(tmp_path):
    spec = {"record_type": "thing", "endpoint": "things", "fields": [
        {"source": s, "target": s.lower(), "type": "string"} for s in SOURCES],
        "fixed_width": with_field(0, length=12)}
    path = tmp_path / "thing.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError, match=r"^thing\.json: fixed_width: field 'ID': PIC X\(10\) takes 10 bytes"):
        load_spec(str(path))


def test_the_shipped_layouts_cover_their_specs():
    specs = load_specs()
    for name in ("disability", "claim"):
        layout = specs[name].layout
        assert layout is not None and list(layout.names) == specs[name].source_columns
        assert "fixed_width" in specs[name].describe()["input_formats"]
    amount = {f.name: f for f in specs["disability"].layout.columns}["WEEKLY_BENEFIT_AMT"]
    assert (amount.pic, amount.usage, amount.length) == ("S9(7)V99", "COMP-3", 5)
    # claim's layout comes from its copybook (claim.cpy): offsets as the claim system's layout states them
    claim = {row["source"]: row for row in specs["claim"].layout.describe()["fields"]}
    assert claim["CLAIMED_AMT"] == {"source": "CLAIMED_AMT", "name": "CLAIMED-AMT", "offset": 139, "position": 140,
                                    "length": 9, "pic": "S9(7)V99", "usage": "DISPLAY", "sign": "trailing",
                                    "depends": ""}
    assert [(claim[s]["offset"], claim[s]["length"]) for s in ("CLM_NO", "CLMT_FIRST_NAME", "PROVIDER_NPI")] == \
        [(0, 12), (68, 25), (211, 10)]
    assert specs["claim"].layout.record_length == 240


# ------------------------------------------------------------------ decoding, by hand

def one_field(pic: str, usage: str = "DISPLAY") -> FileLayout:
    """A layout of one field, as long as its PIC says."""
    probe = load_layout("t.json", {"record_length": 64, "fields": [
        {"source": "V", "offset": 0, "pic": pic, "usage": usage}]}, ["V"])
    return load_layout("t.json", {"record_length": probe.columns[0].length, "fields": [
        {"source": "V", "offset": 0, "pic": pic, "usage": usage}]}, ["V"])


def decode(pic: str, data: bytes, usage: str = "DISPLAY", encoding: str = "cp037") -> str:
    part = read_fixed_chunk(data, one_field(pic, usage), fmt(encoding), 1)
    assert not part.malformed
    return part.frame["V"].tolist()[0] if len(part.frame) else "<blank record>"


@pytest.mark.parametrize("pic, data, expected", [
    ("S9(4)V99", "0123456C", "1234.56"),     # 6 digits in 4 bytes: the first nibble is the spare 0
    ("S9(4)V99", "0123456D", "-1234.56"),
    ("S9(4)V99", "0123456B", "-1234.56"),    # B and D are minus
    ("S9(4)V99", "0123456A", "1234.56"),     # A, C, E, F are plus
    ("S9(4)V99", "0123456E", "1234.56"),
    ("S9(4)V99", "0123456F", "1234.56"),
    ("S9(7)V99", "000000001C", "0.01"),
    ("S9(7)V99", "000000000D", "0.00"),      # no minus zero
    ("S9(7)V99", "999999999C", "9999999.99"),
    ("S9(3)V99", "12345D", "-123.45"),
    ("S9(5)", "00123D", "-123"),
    ("9(5)", "12345F", "12345"),
    ("9(8)", "001152023F", "01152023"),      # an unsigned whole number keeps its leading zeros, as a date needs
    ("V99", "045C", "0.45"),
    ("9(3)V9", "01234F", "123.4"),
])
def test_packed_decimals_decode_as_hand_computed(pic, data, expected):
    assert decode(pic, bytes.fromhex(data), "COMP-3") == expected


@pytest.mark.parametrize("pic, data", [
    ("S9(4)V99", "012345AC"),                # a digit nibble of A
    ("S9(4)V99", "01234560"),                # sign nibble 0
    ("S9(4)V99", "01234569"),                # sign nibble 9
    ("S9(4)V99", "1123456C"),                # the spare first nibble must be 0
    ("S9(7)V99", "FFFFFFFFFF"),              # high-values
])
def test_invalid_packed_decimals_become_values_transform_rejects(pic, data):
    value = decode(pic, bytes.fromhex(data), "COMP-3")
    assert value == f"<invalid packed decimal X'{data.upper()}'>"


@pytest.mark.parametrize("data", ["40404040", "00000000", "40004040"])
def test_a_blank_packed_field_is_blank(data):
    # spaces, or low-values, left in a packed field that was never set
    layout = load_layout("t.json", {"record_length": 5, "fields": [
        {"source": "K", "offset": 0, "pic": "X"}, {"source": "V", "offset": 1, "pic": "S9(4)V99", "usage": "COMP-3"}]},
        ["K", "V"])
    part = read_fixed_chunk(b"\xc1" + bytes.fromhex(data), layout, fmt(), 1)
    assert part.frame.values.tolist() == [["A", ""]]


@pytest.mark.parametrize("pic, data, expected", [
    ("S9(5)V99", "F0F0F1F2F3F4C5", "123.45"),    # zone C: plus
    ("S9(5)V99", "F0F0F1F2F3F4D5", "-123.45"),   # zone D: minus
    ("S9(5)V99", "F0F0F1F2F3F4F5", "123.45"),    # zone F: unsigned, plus
    ("S9(5)V99", "F0F0F1F2F3F4B5", "-123.45"),   # B: minus; A, E: plus
    ("S9(5)V99", "F0F0F1F2F3F4E1", "123.41"),
    ("S9(5)V99", "F0F0F0F0F0F0D0", "0.00"),
    ("S9(5)V99", "4040F1F2F3F4C5", "123.45"),    # leading spaces stand for zeros
    ("S9(3)", "F1F2D9", "-129"),
    ("9(8)", "F2F0F2F3F0F1F1F5", "20230115"),
    ("9(8)", "F0F1F1F5F2F0F2F3", "01152023"),
    ("9(5)", "4040F4F2F0", "420"),               # as written, without the leading spaces
    ("9(3)V99", "F0F1F2F3F4", "12.34"),
    ("V99", "F4F5", "0.45"),
])
def test_ebcdic_zoned_decimals_decode_as_hand_computed(pic, data, expected):
    assert decode(pic, bytes.fromhex(data)) == expected


@pytest.mark.parametrize("text, expected", [
    ("000012{", "1.20"), ("000012A", "1.21"), ("000012I", "1.29"),
    ("000012}", "-1.20"), ("000012J", "-1.21"), ("000012R", "-1.29"),
    ("0000123", "1.23"), ("  00123", "1.23"),
])
def test_ascii_overpunched_signs_decode_as_hand_computed(text, expected):
    assert decode("S9(5)V99", text.encode("ascii"), encoding="ascii") == expected


@pytest.mark.parametrize("pic, data", [
    ("S9(5)V99", "F0F140F2F3F4C5"),    # a space inside the digits
    ("S9(5)V99", "F0F1F2F3F4C5F5"),    # a sign byte before the last
    ("S9(5)V99", "F0F0F1F2F3C1C5"),    # a sign byte (a letter) before the last
    ("S9(5)V99", "F0F0F1F2F3F440"),    # a space in the sign byte
    ("9(5)", "F1F2F3F4D5"),            # an unsigned field cannot hold a minus sign (C reads as F)
    ("9(8)", "F2F0F2F3D6F1F1F5"),      # a letter in a date
    ("9(4)", "F1F2F340"),              # a trailing space
])
def test_invalid_zoned_decimals_become_values_transform_rejects(pic, data):
    assert decode(pic, bytes.fromhex(data)) == f"<invalid zoned decimal X'{data}'>"


def test_what_transform_makes_of_invalid_numbers():
    spec = load_specs()["disability"]
    record = bytearray(b"\x40" * 220)
    fields = {f.name: f for f in spec.layout.columns}

    def put(name: str, data: bytes) -> None:
        f = fields[name]
        record[f.offset:f.offset + f.length] = data.ljust(f.length, b"\x40")

    for name, text in (("CLAIM_NO", "DC10000001"), ("POLICY_NO", "POL100007"), ("SSN", "123456789"),
                       ("LAST_NAME", "PEÑA"), ("FIRST_NAME", "ZOË"), ("DOB", "2023O115"), ("DISABILITY_TYPE", "STD"),
                       ("CLAIM_STATUS", "OPEN")):
        put(name, text.encode("cp037"))
    put("DATE_OF_DISABILITY", bytes.fromhex("0134D6E5"))  # PIC 9(8) COMP: 20240101 = 0x0134D6E5
    put("BENEFIT_START_DATE", bytes.fromhex("0134D6EC"))  # 20240108 = 0x0134D6EC
    put("WEEKLY_BENEFIT_AMT", bytes.fromhex("FFFFFFFFFF"))
    part = read_fixed_chunk(bytes(record), spec.layout, fmt(), 7)
    result = transform(part.frame, spec, part.rows)
    assert result.document_count == 0
    assert {(e.row, e.field, e.rule) for e in result.errors} == {
        (7, "DOB", "date_format"), (7, "WEEKLY_BENEFIT_AMT", "number_format")}
    amount = [e for e in result.errors if e.field == "WEEKLY_BENEFIT_AMT"][0]
    assert amount.value == "<invalid packed decimal X'FFFFFFFFFF'>"
    assert part.frame["LAST_NAME"].tolist() == ["PEÑA"] and part.frame["FIRST_NAME"].tolist() == ["ZOË"]
    assert part.frame[["DATE_OF_DISABILITY", "BENEFIT_START_DATE"]].values.tolist() == [["20240101", "20240108"]]


def test_ebcdic_text_is_decoded_and_its_trailing_blanks_dropped():
    layout = load_layout("t.json", {"record_length": 12, "fields": [
        {"source": "A", "offset": 0, "pic": "X(8)"}, {"source": "B", "offset": 8, "pic": "X(4)"}]}, ["A", "B"])
    record = "  Peña,".encode("cp037") + b"\x00" + "O'B".encode("cp037") + b"\x00"
    part = read_fixed_chunk(record, layout, fmt(), 1)
    assert part.frame.values.tolist() == [["  Peña,", "O'B"]]  # leading blanks kept; low-values are blanks
    assert bytes.fromhex("C8C5D3D3D6") == "HELLO".encode("cp037")


def test_newline_bytes_inside_text_fields_stay_in_their_record():
    # GIVEN newline-separated EBCDIC records whose text holds NL (0x15), LF (0x25), CR (0x0D), an ASCII
    # LF (0x0A) and other control bytes, written out byte by byte
    layout = load_layout("t.json", {"record_length": 6, "fields": [
        {"source": "A", "offset": 0, "pic": "X(3)"}, {"source": "B", "offset": 3, "pic": "X(3)"}]}, ["A", "B"])
    data = bytes.fromhex("C115C2" "C325C4" "25"    # A NL B | C LF D, then the record's newline
                         "0DC10A" "C20BC3" "25"    # CR A ASCII-LF | B VT C
                         "C1C2C3" "C4C5C6" "25")
    # WHEN it is planned in blocks of every size and read
    for block in range(1, len(data) + 1):
        plan, records, malformed = read_all(data, layout, fmt("cp037", "newline"), block=block, per_chunk=1)
        # THEN every record is whole, numbered in order, its control characters kept as characters
        assert not malformed and plan.total_records == 3
        assert records == [(1, ["A\x85B", "C\nD"]), (2, ["\rA\x8e", "B\x0bC"]), (3, ["ABC", "DEF"])]


def test_a_utf8_byte_order_mark_is_no_part_of_the_first_record():
    layout = load_layout("t.json", {"record_length": 4, "fields": [
        {"source": "A", "offset": 0, "pic": "X(4)"}]}, ["A"])
    data = b"\xef\xbb\xbfABCD\nWXYZ\n"
    plan, records, malformed = read_all(data, layout, fmt("utf-8", "newline"), block=2)
    assert plan.chunks[0].start == 3 and records == [(1, ["ABCD"]), (2, ["WXYZ"])] and not malformed


def test_undecodable_text_is_a_record_error_not_a_failed_chunk():
    layout = load_layout("t.json", {"record_length": 4, "fields": [
        {"source": "A", "offset": 0, "pic": "X(4)"}]}, ["A"])
    part = read_fixed_chunk(b"ABCD\nAB\xe9D\nWXYZ\n", layout, fmt("ascii", "newline"), 5)
    assert part.frame["A"].tolist() == ["ABCD", "WXYZ"] and part.rows.tolist() == [5, 7]
    assert part.malformed == [(6, "A is not valid ascii text")]
    part = read_fixed_chunk("ABCD\nABé\nWXYZ\n".encode(), layout, fmt("utf-8", "newline"), 1)
    assert part.frame["A"].tolist() == ["ABCD", "ABé", "WXYZ"]


# ------------------------------------------------------------------ every record exactly once

FIELDS = [  # (source, offset, pic, usage): every kind of field
    ("NAME", 0, "X(5)", "DISPLAY"),
    ("AMOUNT", 5, "S9(5)V99", "COMP-3"),
    ("COUNT", 9, "9(4)", "DISPLAY"),
    ("BALANCE", 13, "S9(3)V99", "DISPLAY"),
    ("RATE", 18, "9(3)V9", "DISPLAY"),
    ("UNITS", 22, "9(4)", "COMP-3"),
    ("CODE", 25, "X(3)", "DISPLAY"),
    ("DELTA", 30, "S9(2)", "COMP-3"),    # last: its sign byte may be 0x0D or 0x0A, like CR and LF
]
TEXT_FIELDS = [f for f in FIELDS if f[3] == "DISPLAY"]


def make_layout(fields, record_length: int) -> FileLayout:
    raw = {"record_length": record_length,
           "fields": [{"source": s, "offset": o, "pic": p, "usage": u} for s, o, p, u in fields]}
    return load_layout("t.json", raw, [s for s, _, _, _ in fields])


BINARY = make_layout(FIELDS, 32)        # a gap (filler) at bytes 28-29
TEXT = make_layout(TEXT_FIELDS, 30)     # gaps where the packed fields were
ASCII_TEXT = "ABCXYZabc019 ,'-&/"
TEXT_CHARS = ASCII_TEXT + "éÑ"


def encode_field(f, value, encoding: str, rnd: random.Random) -> bytes:
    """An independent, one value at a time, encoder with every sign representation."""
    if not f.numeric:
        return value.ljust(f.length).encode(encoding)
    if value is None:
        return " ".encode(encoding) * f.length
    digits = str(abs(value)).zfill(f.digits)
    ebcdic = encoding == "cp037"
    if f.packed:
        if f.signed:
            sign = rnd.choice("BD") if value < 0 or (value == 0 and rnd.random() < 0.3) else rnd.choice("ACEF")
        else:
            sign = "F"
        nibbles = digits + sign
        if len(nibbles) % 2:
            nibbles = "0" + nibbles
        return bytes.fromhex(nibbles)
    body = digits.encode(encoding)
    if not f.signed:
        return body
    last = int(digits[-1])
    negative = value < 0
    if ebcdic:
        zone = rnd.choice([0xD, 0xB]) if negative else rnd.choice([0xC, 0xF, 0xA, 0xE])
        return body[:-1] + bytes([zone << 4 | last])
    if negative:
        return body[:-1] + "}JKLMNOPQR"[last].encode()
    return body[:-1] + rnd.choice([str(last), "{ABCDEFGHI"[last]]).encode()


def expected_text(f, value) -> str:
    if not f.numeric:
        return value.rstrip(" ")
    if value is None:
        return ""
    if not f.signed and not f.scale:
        return str(value).zfill(f.digits)
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10 ** f.scale)
    return f"{sign}{whole}.{fraction:0{f.scale}d}" if f.scale else f"{sign}{whole}"


def number(f):
    top = 10 ** f.digits - 1
    return st.one_of(st.none(), st.integers(-top if f.signed else 0, top))


def record_strategy(layout: FileLayout, chars: str):
    parts = []
    for f in layout.columns:
        if f.name == "NAME":  # never blank, so that no generated record is a blank one
            parts.append(st.text(st.sampled_from("ABZaz09"), min_size=1, max_size=1).flatmap(
                lambda first, f=f: st.text(st.sampled_from(chars), max_size=f.length - 1).map(lambda r: first + r)))
        elif f.numeric:
            parts.append(number(f))
        else:
            parts.append(st.text(st.sampled_from(chars), max_size=f.length))
    return st.tuples(*parts)


def encode_record(layout: FileLayout, values, encoding: str, rnd: random.Random) -> bytes:
    out = bytearray(" ".encode(encoding) * layout.record_length)
    for f, value in zip(layout.columns, values):
        out[f.offset:f.offset + f.length] = encode_field(f, value, encoding, rnd)
    return bytes(out)


SEPARATORS = {"cp037": [b"", b"\x25", b"\x15", b"\x0a", b"\x0d\x25", b"\x0d\x15", b"\x0d\x0a"],
              "latin-1": [b"", b"\n", b"\r\n"], "ascii": [b"", b"\n", b"\r\n"]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), encoding=st.sampled_from(["cp037", "latin-1", "ascii"]), binary=st.booleans(),
       newline_text=st.booleans(), block=st.integers(1, 97), per_chunk=st.integers(1, 7),
       max_bytes=st.integers(1, 300), seed=st.integers(0, 2**32))
def test_every_record_is_read_exactly_once_whatever_the_cut_points(data, encoding, binary, newline_text, block,
                                                                  per_chunk, max_bytes, seed):
    # GIVEN records with text, zoned and packed fields (every sign form, blanks, bytes that look
    # like newlines inside packed fields, and newline and CR characters inside text: EBCDIC's NL
    # and LF, ASCII's LF), in EBCDIC or ASCII, with every kind of record separator, blank records
    # and trailing padding
    layout = BINARY if binary else TEXT
    rnd = random.Random(seed)
    chars = (ASCII_TEXT if encoding == "ascii" else TEXT_CHARS)
    if newline_text:
        chars += "\n\r" + ("" if encoding == "ascii" else "\x85")
    separator = data.draw(st.sampled_from(SEPARATORS[encoding]))
    records = data.draw(st.lists(record_strategy(layout, chars), max_size=25))
    space, blank = " ".encode(encoding), lambda: rnd.choice([" ".encode(encoding), b"\x00"]) * layout.record_length
    lines = []
    for values in records:
        if rnd.random() < 0.1:
            lines.append(blank() + separator)  # a blank record is no record
        # A blank line between records is skipped only where no record can hold a newline byte: with
        # newline bytes in records, records are framed by length alone and a blank line is an error.
        if separator and not binary and not newline_text and rnd.random() < 0.1:
            lines.append(rnd.choice([b"", space * 3, b"\x0d"]) + separator)  # nor is a blank line
        lines.append(encode_record(layout, values, encoding, rnd) + separator)
    file = b"".join(lines)
    if separator and records and rnd.random() < 0.3 and file[-len(separator) - 1] not in (0x0A, 0x0D, 0x15, 0x25):
        # The last record without its newline (unless its last byte is a newline or CR byte: then the
        # record is taken for one cut short before its newline).
        file = file[: -len(separator)]
    elif rnd.random() < 0.5:
        file += rnd.choice([separator * 2, space * rnd.randint(1, 2 * layout.record_length), b"\x00" * 7,
                            blank() + separator])
    assume(file.strip(b"\x00\x0d" + space + separator))  # an empty file is refused: see below
    # WHEN it is planned in blocks of any size and each chunk is read on its own
    form = fmt(encoding, "newline" if separator else "none")
    plan, read_back, malformed = read_all(file, layout, form, block, per_chunk, max_bytes)
    # THEN every record is read once, in order, numbered from 1, with the values written
    assert not malformed
    assert plan.total_records == len(records)
    assert [row for row, _ in read_back] == list(range(1, len(records) + 1))
    expected = [[expected_text(f, v) for f, v in zip(layout.columns, values)] for values in records]
    assert [values for _, values in read_back] == expected
    assert all(c.rows <= per_chunk for c in plan.chunks)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), encoding=st.sampled_from(["cp037", "ascii"]), binary=st.booleans(),
       block=st.integers(1, 97), seed=st.integers(0, 2**32))
def test_a_record_of_the_wrong_length_fails_the_run_naming_its_line(data, encoding, binary, block, seed):
    # GIVEN newline-separated records (text and zoned fields only, or with packed fields), one of them
    # cut short or too long. Records are framed by length, whatever their fields: a text field may
    # hold a newline byte, so a line of another length is never guessed at.
    layout = BINARY if binary else TEXT
    rnd = random.Random(seed)
    separator = data.draw(st.sampled_from([s for s in SEPARATORS[encoding] if s]))
    records = data.draw(st.lists(record_strategy(layout, ASCII_TEXT), min_size=2, max_size=12))
    lines = [encode_record(layout, values, encoding, rnd) for values in records]
    # Not the first: the newline of the first record is taken for the file's, so a first record one
    # byte short before CR LF reads as a record ending in 0x0D before LF, and line 2 is the one named.
    wrong = rnd.randrange(1, len(lines))
    if rnd.random() < 0.5:
        lines[wrong] = lines[wrong][: -rnd.randint(1, 3)]
    else:
        lines[wrong] += "XYZ"[: rnd.randint(1, 3)].encode(encoding)
    file = separator.join(lines) + separator
    # WHEN it is planned THEN the run fails, naming the line
    offset = sum(len(line) + len(separator) for line in lines[:wrong])
    with pytest.raises(InputFileError, match=rf"^line {wrong + 1} \(byte offset {offset}\): expected a record of "
                                             rf"{layout.record_length} bytes"):
        plan_fixed_width(blocks_of(file, block), layout, fmt(encoding, "newline"), 5, 1 << 20)


# ------------------------------------------------------------------ files that cannot be read

def test_an_empty_file_is_refused():
    for separator in ("none", "newline"):
        with pytest.raises(InputFileError, match="^file is empty$"):
            plan_fixed_width([b""], BINARY, fmt("cp037", separator), 5, 100)
        with pytest.raises(InputFileError, match="^file is empty: its 64 bytes are blank records or padding"):
            plan_fixed_width([b"\x40" * 64], BINARY, fmt("cp037", separator), 5, 100)


def test_a_file_whose_size_is_not_a_multiple_of_the_record_length_is_refused():
    rnd = random.Random(1)
    record = encode_record(BINARY, ("ABC", 5, 1, 2, 3, 4, "X", -1), "cp037", rnd)
    with pytest.raises(InputFileError, match=r"^file size 77 bytes is not a multiple of the record length 32 "
                                             r"\(13 bytes left over after the last whole record\)"):
        plan_fixed_width([record * 2 + record[:13]], BINARY, fmt(), 5, 100)
    # a file whose records end with newlines says so
    with pytest.raises(InputFileError, match="set record_separator to newline"):
        plan_fixed_width([(record + b"\x25") * 3], BINARY, fmt(), 5, 100)
    # padding after the last record is no record
    plan = plan_fixed_width([record * 2 + b"\x40\x00\x25"], BINARY, fmt(), 5, 100)
    assert plan.total_records == 2 and plan.chunks[-1].end == 64


def test_a_last_record_cut_short_before_its_newline_is_not_taken_for_a_whole_one():
    rnd = random.Random(4)
    record = encode_record(BINARY, ("ABC", 5, 1, 2, 3, 4, "X", -1), "cp037", rnd)
    for data in (record[:-1] + b"\x25", record + b"\x0d\x25" + record[:-1] + b"\x0d\x25",
                 record + b"\x25" + record[:-1] + b"\x25"):
        with pytest.raises(InputFileError, match=r"^line \d \(byte offset \d+\): expected a record of 32 bytes"):
            plan_fixed_width([data], BINARY, fmt("cp037", "newline"), 5, 100)
    plan = plan_fixed_width([record + b"\x25" + record], BINARY, fmt("cp037", "newline"), 5, 100)
    assert plan.total_records == 2


def test_a_newline_file_without_newlines_says_so():
    rnd = random.Random(2)
    record = encode_record(TEXT, ("ABC", 1, 2, 3, "X"), "cp037", rnd)
    for layout, data in ((TEXT, record * 3), (BINARY, encode_record(BINARY, ("A", 1, 2, 3, 4, 5, "B", 6), "cp037",
                                                                      rnd) * 3)):
        with pytest.raises(InputFileError, match="set record_separator to none"):
            plan_fixed_width([data], layout, fmt("cp037", "newline"), 5, 100)


def test_chunks_follow_the_delimited_planner_s_size_rules():
    rnd = random.Random(3)
    record = encode_record(BINARY, ("ABC", 5, 1, 2, 3, 4, "X", -1), "cp037", rnd)
    plan = plan_fixed_width(blocks_of(record * 10, 7), BINARY, fmt(), 4, 1 << 20)
    assert [(c.start, c.end, c.first_row, c.rows) for c in plan.chunks] == [
        (0, 128, 1, 4), (128, 256, 5, 4), (256, 320, 9, 2)]
    # a chunk ends at the first record reaching max_chunk_bytes
    plan = plan_fixed_width([record * 10], BINARY, fmt(), 100, 70)
    assert [c.rows for c in plan.chunks] == [3, 3, 3, 1]


def test_planning_is_vectorised():
    # 592,000 records of 220 bytes (130 MB) in EBCDIC without separators, then with CR LF, in 8 MB blocks
    layout = load_specs()["disability"].layout
    for separator, form in ((b"", fmt()), (b"\x0d\x25", fmt("cp037", "newline"))):
        block = (b"\xc1" * layout.record_length + separator) * 37_000
        # Python calls made while planning grow with the blocks, never with the records: counted, not
        # timed (the time is in make bench's planning section).
        calls = [0]

        def count(frame, event, arg):
            if event in ("call", "c_call"):
                calls[0] += 1
        sys.setprofile(count)
        try:
            plan = plan_fixed_width(iter([block] * 16), layout, form, 25_000, 16 << 20)
        finally:
            sys.setprofile(None)
        assert plan.total_records == 592_000 and len(plan.chunks) == 24
        assert calls[0] < 50_000, f"{calls[0]} calls to plan 592,000 records"


# ------------------------------------------------------------------ generated files, end to end

def documents(result_text: str) -> dict[int, dict]:
    docs = [json.loads(line) for line in result_text.split("\n") if line]
    return {d["source_row"]: d for d in docs}


def test_a_generated_ebcdic_file_gives_the_documents_of_the_csv_of_the_same_records(tmp_path):
    # GIVEN the disability records of one seed, as a CSV export and as EBCDIC fixed-width records
    # with packed amounts
    spec = load_specs()["disability"]
    records, seed = 3000, 5
    csv_path, fixed_path = tmp_path / "d.csv", tmp_path / "d.dat"
    write_legacy_file("disability", str(csv_path), records, seed=seed)
    with open(fixed_path, "wb") as out:
        invalid = write_fixed_width(out, "disability", records, "cp037", "none", seed=seed)
    csv_invalid = {r.row for r in generate_rows("disability", records, seed=seed).invalid}
    fixed = fixed_path.read_bytes()
    assert len(fixed) == records * spec.layout.record_length
    # WHEN each is planned, read and transformed as the worker does
    csv_data = csv_path.read_bytes()
    csv_plan = plan_delimited(blocks_of(csv_data, 1 << 16), 700, 1 << 24)
    csv_docs, fixed_docs, fixed_errors = {}, {}, set()
    for chunk in csv_plan.chunks:
        part = read_chunk(csv_data[chunk.start:chunk.end], csv_plan.header, chunk.first_row)
        csv_docs.update(documents(transform(part.frame, spec, part.rows).documents))
    fixed_plan = plan_fixed_width(blocks_of(fixed, 1 << 16), spec.layout, fmt(), 700, 1 << 24)
    assert fixed_plan.total_records == records
    for chunk in fixed_plan.chunks:
        part = read_fixed_chunk(fixed[chunk.start:chunk.end], spec.layout, fmt(), chunk.first_row)
        assert not part.malformed
        result = transform(part.frame, spec, part.rows)
        fixed_docs.update(documents(result.documents))
        fixed_errors |= {e.row for e in result.errors}
    # THEN the documents are the same; the only records valid in one and not the other are those whose
    # broken value (a name past its max_length, an id one character too long) the layout cuts to size
    assert fixed_errors == {r.row for r in invalid}
    assert {r.row for r in invalid} <= csv_invalid
    assert {row: fixed_docs[row] for row in csv_docs} == csv_docs
    assert set(fixed_docs) - set(csv_docs) == csv_invalid - {r.row for r in invalid}
    assert len(csv_docs) > 0.9 * records


@pytest.mark.parametrize("record_type, encoding, separator", [
    ("disability", "cp037", "crlf"), ("disability", "latin-1", "lf"), ("claim", "cp037", "nl"),
    ("claim", "ascii", "none"),
])
def test_generated_files_hold_exactly_the_invalid_records_they_say(tmp_path, record_type, encoding, separator):
    spec = load_specs()[record_type]
    out = io.BytesIO()
    invalid = write_fixed_width(out, record_type, 2000, encoding, separator, invalid_share=0.1, seed=9)
    data = out.getvalue()
    form = fmt(encoding, "none" if separator == "none" else "newline")
    plan, _, malformed = read_all(data, spec.layout, form, per_chunk=600)
    assert plan.total_records == 2000 and not malformed
    rejected = set()
    for chunk in plan.chunks:
        part = read_fixed_chunk(data[chunk.start:chunk.end], spec.layout, form, chunk.first_row)
        rejected |= {e.row for e in transform(part.frame, spec, part.rows).errors}
    assert rejected == {r.row for r in invalid}
    assert 120 < len(invalid) <= 200


def test_generated_files_are_deterministic(tmp_path):
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    assert write_fixed_width_file("claim", str(a), 500, seed=3) == write_fixed_width_file("claim", str(b), 500, seed=3)
    assert a.read_bytes() == b.read_bytes()
    assert os.path.getsize(a) == 500 * load_specs()["claim"].layout.record_length
