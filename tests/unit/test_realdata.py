"""Our mainframe decoding against public test files and the values their own projects expect.

The files are read from shared/realdata beside the repository (see its README.md for where each
comes from and its licence); nothing of them is copied here, and every test
skips when its folder is absent. The copybooks in tests/data/copybooks were
written by hand for these tests, from the public layout tables, the bytes and
the expected outputs; each says so at its top.

- cobrix test6: 100 records of every numeric usage, against cobrix's JSON Lines;
- cobrix test19: display numbers holding spaces and letters;
- cobrix test9: text holding control bytes, against cobrix's extended
  control-character table and its trimmed output;
- aws-mdu CLIENT: a header, then client records of two kinds that redefine one
  another, against that project's ASCII extract, read through the planner and
  the reader with a discriminator.

Every value is compared (numbers as Decimal, text exactly or after the trimming
the expected file applies). Where the expected output is not what the COBOL
rules give, or a field is beyond what we support, the field is named in an
exception table below with the reason, and the test checks that exact
difference instead of skipping the field.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import struct
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from chalicelib.inputs.fixed.codepages import codec_for
from chalicelib.inputs.fixed.copybook import parse_copybook
from chalicelib.inputs.fixed.decoding import decode_field
from chalicelib.inputs.fixed.file_layout import load_file_layout
from chalicelib.inputs.fixed.layout import FieldLayout, RecordLayout
from chalicelib.inputs.fixed.pictures import PictureError, parse_picture
from chalicelib.inputs.fixed.reader import plan_fixed_width, read_fixed_chunk
from chalicelib.models import InputFormat

REALDATA = Path(os.environ.get("REALDATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "realdata"))
COPYBOOKS = Path(__file__).resolve().parents[1] / "data" / "copybooks"
CP037 = codec_for("cp037")
FMT = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none", recfm="F")


# ------------------------------------------------------------------ helpers

def folder(*parts: str) -> Path:
    """A data set's folder; the test skips when it is not there."""
    path = REALDATA.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"{path} is not here: the public test files are not installed")
    return path


def copybook(name: str) -> RecordLayout | dict[str, RecordLayout]:
    records = parse_copybook((COPYBOOKS / name).read_text(encoding="utf-8"), name).records
    return next(iter(records.values())) if len(records) == 1 else records


def records_of(data: bytes, length: int) -> np.ndarray:
    """The file as a (records, length) array of bytes; every byte belongs to a record."""
    assert len(data) % length == 0, f"{len(data)} bytes are not whole records of {length}"
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, length)


def cells(records: np.ndarray, field: FieldLayout) -> np.ndarray:
    return records[:, field.offset:field.offset + field.length]


def decoded_values(records: np.ndarray, field: FieldLayout) -> list[str | None]:
    """decode_field's text per record, None where it says the bytes are no value of the field."""
    result = decode_field(cells(records, field), field, CP037)
    invalid = result.invalid if result.invalid is not None else np.zeros(len(records), dtype=bool)
    return [None if bad else value for value, bad in zip(result.values.tolist(), invalid.tolist())]


def json_lines(path: Path) -> list[dict]:
    """One JSON object a line. Lines end with LF only: str.splitlines would also cut at U+0085,
    U+001C-U+001E and U+2028, which the expected text values hold."""
    return [json.loads(line, parse_float=Decimal, parse_int=Decimal)
            for line in path.read_bytes().decode("utf-8").split("\n") if line.strip()]


def layout_table(path: Path) -> list[tuple[str, int, int]]:
    """cobrix's layout table: (name, 0-based offset, length) of each field below the record level."""
    rows = []
    for line in path.read_bytes().decode("utf-8").split("\n"):
        match = re.fullmatch(r"\s*(\d+)\s+(\S+)\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s*", line)
        if match and int(match[1]) > 1:
            rows.append((match[2], int(match[3]) - 1, int(match[5])))
    return rows


def same_number(ours: str | None, expected) -> bool:
    return ours not in (None, "") and Decimal(ours) == Decimal(expected)


OVERPUNCH = {**{c: (d, 1) for d, c in enumerate("{ABCDEFGHI")}, **{c: (d, -1) for d, c in enumerate("}JKLMNOPQR")}}


def overpunched_decimal(text: str) -> Decimal:
    """A number written with its point and its last digit overpunched with the sign ("305.0L")."""
    digit, sign = OVERPUNCH[text[-1]]
    return sign * Decimal(text[:-1] + str(digit))


def check_placement(record: RecordLayout, table: list[tuple[str, int, int]], to_copybook, not_placed: set[str],
                    length: int) -> None:
    """Each named field of the table is where the copybook puts it; the fields we cannot describe
    (`not_placed`) are FILLER there: no copybook field overlaps them; the fields tile the record."""
    assert record.length == length
    end = 0
    for name, offset, size in sorted(table, key=lambda row: row[1]):
        assert offset == end, f"{name}: the table leaves a gap or an overlap at {end}"
        end = offset + size
    assert end == length
    named = {name for name, _, _ in table if name != "FILLER"}
    ours = {f.name: f for f in record.fields}
    for name, offset, size in table:
        if name == "FILLER":
            continue
        if name in not_placed:
            assert to_copybook(name) not in ours
            assert not [f.name for f in record.fields if f.offset < offset + size and offset < f.offset + f.length]
            continue
        field = ours[to_copybook(name)]
        assert (field.offset, field.length) == (offset, size), name
    assert {to_copybook(n) for n in named - not_placed} == set(ours)


def write_spec_dir(tmp_path: Path, name: str) -> str:
    """A spec directory holding one of our copybooks, as a deployed spec has it beside it."""
    shutil.copy(COPYBOOKS / name, tmp_path / name)
    return str(tmp_path)


def read_through_planner(data: bytes, layout, block: int, per_chunk: int):
    """Plan the file in blocks of `block` bytes, read every chunk on its own: rows, frame rows, malformed."""
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    plan = plan_fixed_width(blocks, layout, FMT, per_chunk, 1 << 24)
    assert plan.header == list(layout.names)
    assert len(plan.chunks) > 1, "the test wants several chunks"
    assert plan.chunks[0].start == 0
    for before, after in zip(plan.chunks, plan.chunks[1:]):
        assert after.start == before.end, "chunks must follow one another: no record lost between them"
    rows, values, malformed = [], [], []
    for chunk in plan.chunks:
        part = read_fixed_chunk(data[chunk.start:chunk.end], layout, FMT, chunk.first_row)
        assert len(part.frame) + len(part.malformed) == chunk.rows
        rows += part.rows.tolist()
        values += part.frame.values.tolist()
        malformed += part.malformed
    assert len(rows) + len(malformed) == plan.total_records
    return plan, rows, values, malformed


# ------------------------------------------------------------------ cobrix test6: every usage

TEST6 = ("cobrix", "test6")
TEST6_BOOK = "cobrix_test6.cpy"


def name6(name: str) -> str:
    """cobrix's field name to ours: '-' for '_'; ID is a COBOL reserved word."""
    return "TEST6-ID" if name == "ID" else name.replace("_", "-")


# Fields our copybook cannot declare: each is FILLER there. The PIC and usage are what the bytes and
# cobrix's values say the field is; `parse_picture` refuses them. Given the layout by hand, the
# decoder reads them as cobrix does (checked below), so only the limit stands in the way.
TEST6_BEYOND_LIMITS = {
    # name: (PIC, usage, why)
    "NUM_STR_INT14": ("9(37)", "DISPLAY", "37 digits: we support at most 31 (Enterprise COBOL, ARITH(EXTEND))"),
    "NUM_STR_SINT14": ("S9(37)", "DISPLAY", "37 digits: we support at most 31"),
    "NUM_BCD_INT14": ("9(37)", "COMP-3", "37 digits: we support at most 31"),
    "NUM_BCD_SINT14": ("S9(37)", "COMP-3", "37 digits: we support at most 31"),
    "NUM_BIN_INT12": ("9(19)", "COMP", "binary of 9 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_BIN_INT13": ("9(20)", "COMP", "binary of 9 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_BIN_INT14": ("9(37)", "COMP", "binary of 16 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_SBIN_SINT12": ("S9(19)", "COMP", "binary of 9 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_SBIN_SINT13": ("S9(20)", "COMP", "binary of 9 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_SBIN_SINT14": ("S9(37)", "COMP", "binary of 16 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_BIN_DEC09": ("9(17)V99", "COMP", "binary of 9 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_BIN_DEC10": ("9(18)V9(10)", "COMP", "binary of 12 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_SBIN_DEC09": ("S9(17)V99", "COMP", "binary of 9 bytes: COBOL binary is at most 8 bytes, 18 digits"),
    "NUM_SBIN_DEC10": ("S9(18)V9(10)", "COMP", "binary of 12 bytes: COBOL binary is at most 8 bytes, 18 digits"),
}

# Fields where cobrix's value is not what the COBOL rules (and so we) give. Each is checked below.
TEST6_EXCEPTIONS = {
    "NUM_STR_EDEC03": "a written point and an overpunched last digit ('305.0L' for -305.03): cobrix's explicit "
                      "decimal point in a signed DISPLAY number, which no COBOL PICTURE is (S cannot appear in a "
                      "numeric-edited picture). Declared PIC X(6): we give the text as written; cobrix's number "
                      "is that text with the overpunch read",
    "NUM_STR_EDEC04": "as NUM_STR_EDEC03 (PIC X(9))",
    "NUM_STR_EDEC05": "as NUM_STR_EDEC03 (PIC X(10))",
    "NUM_STR_EDEC06": "as NUM_STR_EDEC03 (PIC X(11))",
    "FLOAT_01": "the file holds an IEEE 754 binary32 number, which cobrix is told to read; COMP-1 on z/OS is IBM "
                "hexadecimal floating point, the only format we read, so our value differs",
    "DOUBLE_01": "as FLOAT_01: IEEE 754 binary64 in the file; COMP-2 is IBM hexadecimal floating point",
    "COMMON_UPC5DISP": "PIC VPPP9(5), unsigned (no S), but 58 records end with a negative zone (D): cobrix reads "
                       "them as negative numbers; an unsigned DISPLAY field ends with zone F (C accepted), so we "
                       "mark those records invalid. The others agree",
    "COMMON_UPI5DISP": "as COMMON_UPC5DISP, PIC 9(5)PPP",
}


@pytest.fixture(scope="module")
def cobrix6():
    base = folder(*TEST6)
    data = (base / "INTEGR.TYPES.NOV28.DATA.dat").read_bytes()
    record = copybook(TEST6_BOOK)
    records = records_of(data, record.length)
    expected = {int(row["ID"]): row for row in json_lines(base / "test6.txt")}
    table = layout_table(base / "test6_layout.txt")
    return data, record, records, expected, table


def check_test6_values(values: dict[str, list[str | None]], ids: list[int], expected: dict[int, dict],
                       records: np.ndarray, record: RecordLayout) -> int:
    """Compare our values (None: marked invalid) with cobrix's, record by record; the exceptions as the
    table says. The number of values compared."""
    compared = 0
    for name, ours in values.items():
        for row, (value, record_id) in enumerate(zip(ours, ids)):
            want = expected[record_id][name]
            if name.startswith("NUM_STR_EDEC"):
                assert value is not None and value == value.strip(), (name, record_id)
                assert overpunched_decimal(value) == want, (name, record_id, value, want)
            elif name in ("FLOAT_01", "DOUBLE_01"):
                field = record.field(name6(name))
                raw = bytes(records[row, field.offset:field.offset + field.length])
                if name == "FLOAT_01":
                    assert np.float32(struct.unpack(">f", raw)[0]) == np.float32(str(want)), (record_id, want)
                else:
                    assert struct.unpack(">d", raw)[0] == float(want), (record_id, want)
                assert value and Decimal(value) != want, "IBM hexadecimal reading the IEEE bytes differs"
            elif name in ("COMMON_UPC5DISP", "COMMON_UPI5DISP"):
                field = record.field(name6(name))
                negative_zone = records[row, field.offset + field.length - 1] >> 4 == 0xD
                if negative_zone:
                    assert value is None and want < 0, (name, record_id)
                    signed = dataclasses.replace(field, signed=True)   # what cobrix does: read the sign
                    assert Decimal(decoded_values(records[row:row + 1], signed)[0]) == want
                else:
                    assert same_number(value, want), (name, record_id, value, want)
            elif isinstance(want, Decimal):
                assert same_number(value, want), (name, record_id, value, want)
            else:
                assert value == want, (name, record_id, value, want)
            compared += 1
    return compared


def test_cobrix6_fields_are_where_cobrix_s_layout_table_puts_them(cobrix6):
    _, record, records, expected, table = cobrix6
    # GIVEN our copybook and cobrix's table of offsets
    # THEN every field but those beyond our limits (FILLER in the copybook) is at cobrix's offset and length
    check_placement(record, table, name6, set(TEST6_BEYOND_LIMITS), 1493)
    # AND the exception tables name fields of the table, each once
    names = {name for name, _, _ in table}
    assert set(TEST6_BEYOND_LIMITS) <= names and set(TEST6_EXCEPTIONS) <= names
    assert not set(TEST6_BEYOND_LIMITS) & set(TEST6_EXCEPTIONS)
    # AND the file is 100 whole records, each with its expected output, ordered by ID
    assert len(records) == len(expected) == 100
    assert sorted(expected) == list(range(1, 101))


def test_cobrix6_every_value_matches_cobrix_s_output(cobrix6):
    _, record, records, expected, table = cobrix6
    # GIVEN every record of the file
    # WHEN each field is decoded, a whole column at a time
    values = {name: decoded_values(records, record.field(name6(name)))
              for name, _, _ in table if name not in TEST6_BEYOND_LIMITS}
    ids = [int(v) for v in values["ID"]]
    assert ids == list(range(1, 101))
    # THEN each value is cobrix's (the exceptions differing exactly as their table says)
    compared = check_test6_values(values, ids, expected, records, record)
    assert compared == 100 * (len(table) - len(TEST6_BEYOND_LIMITS)) == 100 * 181
    # AND exactly the 58 negative-zone records of the two unsigned DISPLAY fields are invalid
    for name in ("COMMON_UPC5DISP", "COMMON_UPI5DISP"):
        assert sum(v is None for v in values[name]) == 58
    for name, ours in values.items():
        if name not in ("COMMON_UPC5DISP", "COMMON_UPI5DISP"):
            assert None not in ours, name


@pytest.mark.parametrize("name", sorted(TEST6_BEYOND_LIMITS))
def test_cobrix6_fields_beyond_our_limits_are_refused_by_the_parser_and_read_right_by_the_decoder(cobrix6, name):
    _, record, records, expected, table = cobrix6
    pic, usage, why = TEST6_BEYOND_LIMITS[name]
    offset, length = next((o, n) for field, o, n in table if field == name)
    # GIVEN the PIC the bytes and cobrix's values say the field is
    # THEN the parser refuses it, naming the limit
    with pytest.raises(PictureError, match="at most"):
        parse_picture(pic, usage)
    # AND given that layout by hand, the decoder reads every record as cobrix does
    digits = sum(int(n or 1) for n in re.findall(r"9(?:\((\d+)\))?", pic))
    scale = sum(int(n or 1) for n in re.findall(r"9(?:\((\d+)\))?", pic.partition("V")[2]))
    field = FieldLayout(name, offset, length, pic, usage, "numeric", pic.startswith("S"), digits, scale)
    values = decoded_values(records, field)
    ids = [int(v) for v in decoded_values(records, record.field("TEST6-ID"))]
    for value, record_id in zip(values, ids):
        assert same_number(value, expected[record_id][name]), (name, record_id, value)


def test_cobrix6_through_the_planner_and_the_reader(cobrix6, tmp_path):
    data, record, records, expected, table = cobrix6
    # GIVEN a spec whose source fields are cobrix's names, laid out by our copybook beside the spec
    sources = [name for name, _, _ in table if name not in TEST6_BEYOND_LIMITS]
    layout = load_file_layout("test6", {"copybook": TEST6_BOOK, "record": "COBRIX-TEST6", "fields": {"ID": "TEST6-ID"}},
                              sources, write_spec_dir(tmp_path, TEST6_BOOK))
    assert layout.record_length == 1493 and layout.discriminator is None
    # WHEN the file is planned in blocks that cut records anywhere, and read chunk by chunk
    plan, rows, frame, malformed = read_through_planner(data, layout, block=4000, per_chunk=7)
    # THEN every record is read once, numbered as the file holds it, none reported
    assert rows == list(range(1, 101)) and not malformed and plan.total_records == 100
    assert plan.chunks[-1].end == len(data)
    # AND its values are cobrix's, the exceptions as their table says (invalid numbers are shown, not dropped)
    columns = {name: [None if str(row[i]).startswith("<invalid") else row[i] for row in frame]
               for i, name in enumerate(sources)}
    ids = [int(v) for v in columns["ID"]]
    assert check_test6_values(columns, ids, expected, records, record) == 100 * 181


# ------------------------------------------------------------------ cobrix test19: display numbers with spaces, letters

TEST19_BOOK = "cobrix_test19.cpy"


def name19(name: str) -> str:
    return name.replace("_", "-")


# What cobrix gives where the COBOL rules give something else. A missing key in cobrix's output is
# null; we agree when our value is "" (blank: all spaces) or invalid (letters in a number).
TEST19_EXCEPTIONS = {
    ("WS_AMOUNT_FRACTION", 5): "all spaces: cobrix gives 0.00 (yet null for the blank WS_AMOUNT_NUMERIC of the same "
                               "record); a blank zoned field is no number, we give \"\" (blank, not invalid)",
    ("WS_AMOUNT_FRACTION2", None): "'789.09' left-justified, trailing spaces: PIC Z(7)9.99 right-justifies, so a "
                                   "COBOL program never writes this; we mark it invalid, cobrix trims the text and "
                                   "reads it as a number (every record)",
}


def test_cobrix19_values_match_cobrix_s_output_spaces_and_letters_included():
    base = folder("cobrix", "test19")
    record = copybook(TEST19_BOOK)
    # GIVEN the seven 80-byte records and cobrix's table of offsets
    records = records_of((base / "data.dat").read_bytes(), 80)
    expected = json_lines(base / "test19.txt")
    assert len(records) == len(expected) == 7
    assert [int(row["Record_Id"]) for row in expected] == list(range(7))
    check_placement(record, layout_table(base / "test19_layout.txt"), name19, set(), 80)
    # WHEN every field of every record is decoded
    decoded = {f.name: decode_field(cells(records, f), f, CP037) for f in record.fields}
    compared = 0
    for f in record.fields:
        name = f.name.replace("-", "_")
        result = decoded[f.name]
        invalid = result.invalid if result.invalid is not None else np.zeros(7, dtype=bool)
        for row in range(7):
            want = expected[row].get(name)
            value, bad = result.values[row], bool(invalid[row])
            text = bytes(records[row, f.offset:f.offset + f.length]).decode("cp037")
            if name == "WS_AMOUNT_FRACTION2":
                # THEN (exception) the left-justified amount is invalid; cobrix's number is its trimmed text
                assert bad and text != text.rstrip() and Decimal(text.strip()) == want, row
            elif (name, row) == ("WS_AMOUNT_FRACTION", 5):
                # THEN (exception) blank for us, 0.00 for cobrix
                assert text.strip() == "" and value == "" and not bad and want == 0
            elif want is None:
                # THEN cobrix's null is our blank (all spaces) or invalid (letters), nothing else
                assert value == ""
                assert bad == (text.strip() != ""), (name, row, text)
            elif f.numeric:
                assert not bad and same_number(value, want), (name, row, value, want)
            else:
                assert not bad and value == want, (name, row, value, want)
            compared += 1
    assert compared == 7 * 7
    # AND the spaces and the letters were there to be caught: two blank and two invalid numbers
    date, amount = decoded["WS-DATE-NUM"], decoded["WS-AMOUNT-NUMERIC"]
    assert date.values[5] == amount.values[5] == "" and not date.invalid[5] and not amount.invalid[5]
    assert date.invalid[6] and amount.invalid[6]
    assert decoded["WS-DATE-NUM"].values[0] == "20191115"    # an unsigned whole number keeps its digits


# ------------------------------------------------------------------ cobrix test9: text holding control bytes

TEST9_BOOK = "cobrix_test9.cpy"
TEST9_TEXT = ["CURRENCY", "SIGNATURE", "COMPANY_NAME_NP", "COMPANY_ID"]


def name9(name: str) -> str:
    return "TXN-CURRENCY" if name == "CURRENCY" else name.replace("_", "-")


# Where cobrix's extended control-character table maps a byte otherwise than code page 037 does (IBM's
# table, which Python's cp037 codec follows, and so do we: control characters stay what the code page
# says). Only bytes that occur in the first 60 records' text are listed; the test checks the list is
# exactly the bytes that differ there.
C1_AS_SPACE = ("cobrix's extended table gives a space; cp037 gives the C1 control character U+0080-U+009F "
               "(0xFF: U+009F), which we keep")
TEST9_CONTROL_EXCEPTIONS = {
    **{byte: (" ", C1_AS_SPACE) for byte in (0x04, 0x06, 0x08, 0x09, 0x0A, 0x14, 0x17, 0x1A, 0x1B, 0x20, 0x21,
                                              0x22, 0x23, 0x24, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x30, 0x31, 0x33,
                                              0x34, 0x35, 0x36, 0x38, 0x39, 0x3A, 0x3B, 0x3E, 0xFF)},
    0x0D: ("\n", "cobrix gives LF for 0x0D; cp037's 0x0D is CR (U+000D)"),
    0x25: ("\r", "cobrix gives CR for 0x25; cp037's 0x25 is LF (U+000A)"),
}
# Not a difference of tables but our rule, in both files: low-values (0x00, U+0000 in cobrix's extended
# output) read as spaces, and trailing spaces go. cobrix's trimmed output also drops leading spaces,
# which we keep.


@pytest.fixture(scope="module")
def cobrix9():
    base = folder("cobrix", "test9")
    record = copybook(TEST9_BOOK)
    data = (base / "TRAN.APR14.NPT.DATA.dat").read_bytes()
    records = records_of(data, record.length)
    return data, record, records, json_lines(base / "test9_cp037_ext.txt"), json_lines(base / "test9_cp037.txt")


def test_cobrix9_fields_tile_the_record_and_every_record_decodes(cobrix9):
    _, record, records, extended, trimmed = cobrix9
    # GIVEN our copybook for 45-byte records (no layout table: the offsets come from the bytes)
    end = 0
    for f in record.fields:
        assert f.offset == end
        end += f.length
    assert end == record.length == 45
    # THEN the file is 1000 whole records, every field of every one a value
    assert len(records) == 1000 and len(extended) == len(trimmed) == 60
    for f in record.fields:
        assert None not in decoded_values(records, f), f.name


def test_cobrix9_text_with_control_bytes_matches_cobrix_s_extended_table_where_it_keeps_the_code_page(cobrix9):
    _, record, records, extended, trimmed = cobrix9
    first = records[:60]
    differing: dict[int, set[str]] = {}
    compared = 0
    for name in TEST9_TEXT:
        field = record.field(name9(name))
        ours = decoded_values(first, field)
        for row in range(60):
            raw = bytes(first[row, field.offset:field.offset + field.length])
            theirs = extended[row][name]
            assert len(theirs) == len(raw), "the extended output is untrimmed: a character per byte"
            # What we should give: cobrix's character, but the code page's where the table says
            # cobrix differs, a space for low-values, trailing spaces gone.
            want = []
            for byte, char in zip(raw, theirs):
                code_page = bytes([byte]).decode("cp037")
                if char != code_page:
                    differing.setdefault(byte, set()).add(char)
                if byte in TEST9_CONTROL_EXCEPTIONS:
                    assert char == TEST9_CONTROL_EXCEPTIONS[byte][0], (name, row, hex(byte))
                    want.append(code_page)
                elif byte == 0x00:
                    assert char == "\x00"
                    want.append(" ")
                else:
                    want.append(char)
            assert ours[row] == "".join(want).rstrip(" "), (name, row)
            compared += 1
    # THEN the exception table is exactly the bytes on which cobrix's table and cp037 differ
    assert set(differing) == set(TEST9_CONTROL_EXCEPTIONS)
    assert all(chars == {TEST9_CONTROL_EXCEPTIONS[b][0]} for b, chars in differing.items())
    # AND the numbers agree too, in both outputs
    for name in ("WEALTH_QFY", "AMOUNT"):
        ours = decoded_values(first, record.field(name9(name)))
        for row in range(60):
            assert same_number(ours[row], extended[row][name]) and same_number(ours[row], trimmed[row][name])
            compared += 1
    assert compared == 60 * 6


def test_cobrix9_text_without_control_bytes_matches_cobrix_s_trimmed_output(cobrix9):
    _, record, records, extended, trimmed = cobrix9
    # GIVEN cobrix's trimmed output (control bytes as spaces, both ends trimmed)
    first = records[:60]
    compared = with_controls = 0
    for name in TEST9_TEXT:
        field = record.field(name9(name))
        ours = decoded_values(first, field)
        for row in range(60):
            raw = bytes(first[row, field.offset:field.offset + field.length])
            if any(0x01 <= b <= 0x3F or b == 0xFF for b in raw):
                with_controls += 1   # compared with the extended table above
                continue
            # THEN a value with no control byte is cobrix's, once our kept leading spaces go
            assert ours[row].lstrip(" ") == trimmed[row][name], (name, row)
            compared += 1
    assert compared + with_controls == 60 * 4
    assert (compared, with_controls) == (182, 58)


def test_cobrix9_through_the_planner_and_the_reader(cobrix9, tmp_path):
    data, record, records, extended, trimmed = cobrix9
    # GIVEN a spec of the six fields, laid out by our copybook; records end to end, control bytes
    # (newlines among them: 0x15, 0x25) inside the text
    sources = ["CURRENCY", "SIGNATURE", "COMPANY_NAME_NP", "COMPANY_ID", "WEALTH_QFY", "AMOUNT"]
    layout = load_file_layout("test9", {"copybook": TEST9_BOOK, "fields": {"CURRENCY": "TXN-CURRENCY"}},
                              sources, write_spec_dir(tmp_path, TEST9_BOOK))
    assert {0x15, 0x25} <= set(records[:, 11:26].ravel().tolist())
    # WHEN it is planned in blocks that cut records anywhere and read chunk by chunk
    plan, rows, frame, malformed = read_through_planner(data, layout, block=1000, per_chunk=64)
    # THEN every record is read once, in order, with the values decode_field gives
    assert rows == list(range(1, 1001)) and not malformed and plan.chunks[-1].end == len(data)
    for i, name in enumerate(sources):
        assert [row[i] for row in frame] == decoded_values(records, record.field(name9(name))), name


# ------------------------------------------------------------------ aws-mdu CLIENT: a multi-record file

AWS_BOOK = "aws_mdu_client.cpy"
# The discriminator's text per kind: the halfword binary record type, as a number.
KIND_TEXT = {0: "0", 1: "1", 2: "2"}
KIND_RECORD = {0: "CLIENT-HEADER", 1: "CLIENT-DETAIL", 2: "CLIENT-ADDRESS"}
# The fields of each kind, in the order of the ASCII extract's columns.
KIND_FIELDS = {
    0: ["CLIENT-ID", "CLIENT-RECORD-TYPE", "CLIENT-RECORD-COUNT"],
    1: ["CLIENT-ID", "CLIENT-RECORD-TYPE", "CLIENT-NAME", "CLIENT-BIRTH-DATE", "CLIENT-EDUCATION", "CLIENT-INCOME"],
    2: ["CLIENT-ID", "CLIENT-RECORD-TYPE", "CLIENT-ADDR-NUMBER", "CLIENT-ADDR-STREET"],
}


@pytest.fixture(scope="module")
def aws():
    base = folder("aws-mdu")
    data = (base / "CLIENT.EBCDIC.txt").read_bytes()
    books = copybook(AWS_BOOK)
    lines = (base / "CLIENT.ASCII.txt").read_text(encoding="ascii").splitlines()
    extract = []
    for line in lines:
        assert line.endswith("|")
        extract.append(line[:-1].split("|"))
    return data, books, records_of(data, 500), extract


def same_as_extract(field: FieldLayout, ours: str | None, theirs: str) -> bool:
    """The extract writes numbers with their leading zeros ("0010000.00") and text stripped."""
    return same_number(ours, theirs) if field.numeric else ours == theirs


def test_aws_mdu_every_record_matches_the_ascii_extract(aws):
    data, books, records, extract = aws
    # GIVEN three record layouts that redefine one another, all 500 bytes, the type at the same place
    assert list(books) == list(KIND_RECORD.values())
    assert {r.length for r in books.values()} == {500}
    assert {r.field("CLIENT-RECORD-TYPE").offset for r in books.values()} == {4}
    # AND the file: 221 whole records, one extract line each
    assert len(records) == len(extract) == 221
    # WHEN the record type of every record is decoded
    types = [int(t) for t in decoded_values(records, books["CLIENT-HEADER"].field("CLIENT-RECORD-TYPE"))]
    # THEN it is the extract's, a header then type 1 and type 2 in turn
    assert types == [int(line[1]) for line in extract]
    assert Counter(types) == {0: 1, 1: 110, 2: 110} and types[:5] == [0, 1, 2, 1, 2]
    # AND each kind's records, decoded with its own layout, hold the extract's values
    compared = 0
    for kind, names in KIND_FIELDS.items():
        rows = [i for i, t in enumerate(types) if t == kind]
        record = books[KIND_RECORD[kind]]
        for column, name in enumerate(names):
            field = record.field(name)
            ours = decoded_values(records[rows], field)
            for i, value in zip(rows, ours):
                assert len(extract[i]) == len(names), i
                assert same_as_extract(field, value, extract[i][column]), (i + 1, name, value, extract[i][column])
                compared += 1
    assert compared == 1 * 3 + 110 * 6 + 110 * 4
    # AND the header states the number of client records
    assert int(decoded_values(records[:1], books["CLIENT-HEADER"].field("CLIENT-RECORD-COUNT"))[0]) == 220


@pytest.mark.parametrize("data_kind", [1, 2])
def test_aws_mdu_through_the_planner_and_the_reader_with_a_discriminator(aws, tmp_path, data_kind):
    data, books, records, extract = aws
    # GIVEN a spec that maps one kind of client record, and skips the header and the other kind
    other = 3 - data_kind
    kinds = {KIND_TEXT[0]: {"record": "CLIENT-HEADER", "role": "skip"},
             KIND_TEXT[data_kind]: {"record": KIND_RECORD[data_kind], "role": "data"},
             KIND_TEXT[other]: {"record": KIND_RECORD[other], "role": "skip"}}
    names = KIND_FIELDS[data_kind]
    sources = [name.replace("-", "_") for name in names]
    spec_dir = write_spec_dir(tmp_path, AWS_BOOK)
    layout = load_file_layout("clients", {"copybook": AWS_BOOK,
                                          "discriminator": {"field": "CLIENT-RECORD-TYPE", "kinds": kinds}},
                              sources, spec_dir)
    assert layout.data.name == KIND_RECORD[data_kind] and layout.record_length == 500
    # WHEN the file is planned in blocks that cut records anywhere, and read chunk by chunk
    plan, rows, frame, malformed = read_through_planner(data, layout, block=1234, per_chunk=16)
    # THEN exactly the records of that kind are read, each once, numbered as the file holds them
    # (the header is record 1; type 1 records are 2, 4, ... 220; type 2 records 3, 5, ... 221)
    assert rows == list(range(1 + data_kind, 222, 2)) and not malformed
    assert plan.total_records == 110
    # AND their values are the extract's
    record = books[KIND_RECORD[data_kind]]
    for row, values in zip(rows, frame):
        line = extract[row - 1]
        assert int(line[1]) == data_kind
        for column, name in enumerate(names):
            assert same_as_extract(record.field(name), values[column], line[column]), (row, name)


def test_aws_mdu_a_kind_the_spec_does_not_name_is_reported_by_its_record_number(aws, tmp_path):
    data, books, records, extract = aws
    # GIVEN a spec that names the two client kinds but not the header
    kinds = {KIND_TEXT[1]: {"record": "CLIENT-DETAIL", "role": "data"},
             KIND_TEXT[2]: {"record": "CLIENT-ADDRESS", "role": "skip"}}
    layout = load_file_layout("clients", {"copybook": AWS_BOOK,
                                          "discriminator": {"field": "CLIENT-RECORD-TYPE", "kinds": kinds}},
                              ["CLIENT_ID", "CLIENT_NAME"], write_spec_dir(tmp_path, AWS_BOOK))
    # WHEN the file is read
    plan, rows, frame, malformed = read_through_planner(data, layout, block=1 << 16, per_chunk=16)
    # THEN the header is reported as record 1, and the type 1 records are read as before
    assert [number for number, _ in malformed] == [1]
    assert rows == list(range(2, 222, 2))
    assert [row[1] for row in frame] == [line[2] for line in extract[1::2]]
