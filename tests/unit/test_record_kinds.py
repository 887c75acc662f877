"""Files of several record kinds, control records, and variable-length records, read end to end.

Each file is written here byte by byte (EBCDIC code points and packed nibbles
spelt out in hex), and each expected value is written out by hand, then the
file is planned in blocks of every size and read chunk by chunk as workers do.
"""
from __future__ import annotations

import json

import pytest

from chalicelib.errors import InputFileError, SpecError
from chalicelib.inputs.fixed.reader import plan_fixed_width, read_fixed_chunk
from chalicelib.models import InputFormat
from chalicelib.records import load_spec

H = bytes.fromhex
SP = "40"  # an EBCDIC space

POLICY_COPYBOOK = """\
      * Policy extract: a header, policy records, a trailer with control totals.
       01  HEADER-REC.
           05  REC-TYPE            PIC X.
           05  RUN-DATE            PIC 9(8).
           05  FILLER              PIC X(11).
       01  POLICY-REC.
           05  REC-TYPE            PIC X.
           05  POLICY-NO           PIC X(6).
           05  PREMIUM             PIC S9(5)V99 COMP-3.
           05  HOLDER              PIC X(9).
       01  TRAILER-REC.
           05  REC-TYPE            PIC X.
           05  REC-COUNT           PIC 9(5).
           05  PREMIUM-TOTAL       PIC S9(9)V99 COMP-3.
           05  FILLER              PIC X(8).
"""

POLICY_FIELDS = [
    {"source": "POLICY_NO", "target": "policy_number", "type": "string", "required": True},
    {"source": "PREMIUM", "target": "premium", "type": "decimal"},
    {"source": "HOLDER", "target": "holder", "type": "string"},
]

KINDS = {
    "H": {"record": "HEADER-REC", "role": "control"},
    "P": {"record": "POLICY-REC", "role": "data"},
    "X": {"record": "POLICY-REC", "role": "skip"},
    "T": {"record": "TRAILER-REC", "role": "control", "count": "REC-COUNT", "sums": {"PREMIUM": "PREMIUM-TOTAL"}},
}


def spec_with(tmp_path, copybook: str, fixed_width: dict, fields: list[dict], name: str = "policy"):
    (tmp_path / f"{name}.cpy").write_text(copybook)
    spec = {"record_type": name, "endpoint": name, "fields": fields,
            "fixed_width": {"copybook": f"{name}.cpy", **fixed_width}}
    (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    return load_spec(str(tmp_path / f"{name}.json"))


def fixed(recfm: str = "F") -> InputFormat:
    return InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none", recfm=recfm)


def read_all(data: bytes, layout, form: InputFormat, block: int, per_chunk: int):
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    plan = plan_fixed_width(blocks, layout, form, per_chunk, 1 << 20)
    rows, values, malformed = [], [], []
    for chunk in plan.chunks:
        part = read_fixed_chunk(data[chunk.start:chunk.end], layout, form, chunk.first_row)
        assert len(part.frame) + len(part.malformed) == chunk.rows
        rows += part.rows.tolist()
        values += part.frame.values.tolist()
        malformed += part.malformed
    return plan, rows, values, malformed


# Twenty bytes a record, every kind redefining the others. C8 H, D7 P, E7 X, D8 Q, E3 T.
HEADER = "C8" + "F2F0F2F3F0F1F1F5" + SP * 11
POLICY_1 = "D7" + "D7D6D3F0F0F1" + "0012345C" + "E2D4C9E3C8" + SP * 4           # POL001 123.45 SMITH
SKIPPED = "E7" + "D7D6D3F9F9F9" + "0000001C" + "E2D2C9D7D7C5C4" + SP * 2         # POL999, a kind to skip
POLICY_2 = "D7" + "D7D6D3F0F0F2" + "0000050D" + "D1D6D5C5E2" + SP * 4           # POL002 -0.50 JONES
UNKNOWN = "D8" + "D7D6D3F0F0F4" + "0000100C" + "C7D9C5C5D5" + SP * 4            # kind Q: no such kind
POLICY_3 = "D7" + "D7D6D3F0F0F3" + "0100000C" + "C2D9D6E6D5" + SP * 4           # POL003 1000.00 BROWN


def trailer(count: str = "F0F0F0F0F3", total: str = "00000112295C") -> str:
    return "E3" + count + total + SP * 8                                        # 3 records, 1122.95


def policy_file(count: str = "F0F0F0F0F3", total: str = "00000112295C") -> bytes:
    return H(HEADER + POLICY_1 + SKIPPED + POLICY_2 + UNKNOWN + POLICY_3 + trailer(count, total))


def test_a_file_of_several_kinds_maps_only_its_data_records_and_keeps_the_file_s_record_numbers(tmp_path):
    # GIVEN a header, policy records, a kind to skip, a kind the layout does not know, and a trailer
    spec = spec_with(tmp_path, POLICY_COPYBOOK, {"discriminator": {"field": "REC-TYPE", "kinds": KINDS}},
                     POLICY_FIELDS)
    data = policy_file()
    assert len(data) == 7 * 20
    for block in range(1, len(data) + 1):
        for per_chunk in (1, 2, 5):
            # WHEN it is planned in blocks of any size and read chunk by chunk
            plan, rows, values, malformed = read_all(data, spec.layout, fixed(), block, per_chunk)
            # THEN the run counts its three policies and the record of an unknown kind, numbered as the
            # file holds them; the header, the skipped record and the trailer are in no count
            assert plan.total_records == 4
            assert rows == [2, 4, 6]
            assert values == [["POL001", "123.45", "SMITH"], ["POL002", "-0.50", "JONES"],
                              ["POL003", "1000.00", "BROWN"]]
            assert malformed == [(5, "record kind not in the layout (REC-TYPE holds a value no kind names)")]


@pytest.mark.parametrize("count, total, message", [
    ("F0F0F0F0F5", "00000112295C",
     r"^control record 7 \(TRAILER-REC\) states 5 data records in REC-COUNT; the file holds 3$"),
    ("F0F0F0F0F3", "00000112395C",
     r"^control record 7 \(TRAILER-REC\) states a total of 1123\.95 in PREMIUM-TOTAL; the data records' "
     r"PREMIUM add up to 1122\.95$"),
    ("F0F0F0F0F3", "00000112295D",
     r"states a total of -1122\.95 in PREMIUM-TOTAL; the data records' PREMIUM add up to 1122\.95$"),
])
def test_a_trailer_whose_figures_differ_fails_the_run_with_both(tmp_path, count, total, message):
    spec = spec_with(tmp_path, POLICY_COPYBOOK, {"discriminator": {"field": "REC-TYPE", "kinds": KINDS}},
                     POLICY_FIELDS)
    with pytest.raises(InputFileError, match=message):
        plan_fixed_width([policy_file(count, total)], spec.layout, fixed(), 2, 1 << 20)


@pytest.mark.parametrize("kinds, message", [
    ({"P": {"record": "POLICY-REC", "role": "data"}, "Q": {"record": "POLICY-REC", "role": "data"}},
     "exactly one kind must have the role 'data', not 2"),
    ({"P": {"record": "NO-SUCH-REC"}}, "no record 'NO-SUCH-REC'"),
    ({"P": {"record": "POLICY-REC", "role": "header"}}, "role must be one of data, skip, control"),
    ({"P": {"record": "POLICY-REC"}, "T": {"record": "TRAILER-REC", "role": "control", "count": "HOLDER"}},
     "record TRAILER-REC has no numeric field 'HOLDER'"),
    ({"P": {"record": "POLICY-REC", "count": "REC-COUNT"}}, "'count' and 'sums' belong to control records"),
])
def test_a_wrong_discriminator_is_refused_when_the_spec_loads(tmp_path, kinds, message):
    with pytest.raises(SpecError, match=message):
        spec_with(tmp_path, POLICY_COPYBOOK, {"discriminator": {"field": "REC-TYPE", "kinds": kinds}},
                  POLICY_FIELDS)


# ------------------------------------------------------------------ variable-length records

HISTORY_COPYBOOK = """\
       01  CLAIM-HIST.
           05  CLAIM-NO            PIC X(4).
           05  LINE-COUNT          PIC 9(2).
           05  CLAIM-LINES OCCURS 0 TO 5 TIMES DEPENDING ON LINE-COUNT.
               10  LINE-AMT        PIC S9(3)V99 COMP-3.
"""

HISTORY_FIELDS = [
    {"source": "CLAIM_NO", "target": "claim", "type": "string", "required": True},
    {"source": "LINE_COUNT", "target": "lines", "type": "integer"},
    *({"source": f"AMT_{i}", "target": f"amount_{i}", "type": "decimal"} for i in range(1, 4)),
]
HISTORY_MAP = {"fields": {"AMT_1": "LINE-AMT(1)", "AMT_2": "LINE-AMT(2)", "AMT_3": "LINE-AMT(3)"}}

# (RDW, data): C3 C, F0-F9 digits; amounts packed S9(3)V99: 00100C is 1.00, 00250D is -2.50.
HISTORY = [
    ("00100000", "C3F0F0F1" "F0F2" "00100C" "00250D"),                        # C001, 2 lines
    ("000A0000", "C3F0F0F2" "F0F0"),                                          # C002, no line
    ("00190000", "C3F0F0F3" "F0F5" "00001C" "00002C" "00003C" "00004C" "00005C"),  # C003, 5 lines
    ("000A0000", "C3F0F0F4" "F0F7"),                                          # C004: 7 lines, at most 5
    ("000D0000", "C3F0F0F5" "F0F2" "00100C"),                                  # C005: says 2, holds 1
]
EXPECTED_HISTORY = [["C001", "02", "1.00", "-2.50", ""], ["C002", "00", "", "", ""],
                    ["C003", "05", "0.01", "0.02", "0.03"]]
BAD_HISTORY = [(4, "LINE-COUNT is not a count from 0 to 5"), (5, "record of 9 bytes; the layout needs 12")]


def test_variable_length_records_with_occurs_depending_on(tmp_path):
    # GIVEN RECFM=V records, each with its RDW, holding as many claim lines as LINE-COUNT says
    spec = spec_with(tmp_path, HISTORY_COPYBOOK, HISTORY_MAP, HISTORY_FIELDS, "history")
    data = H("".join(rdw + body for rdw, body in HISTORY))
    for block in range(1, len(data) + 1):
        for per_chunk in (1, 2, 10):
            # WHEN it is planned in blocks of any size and read chunk by chunk
            plan, rows, values, malformed = read_all(data, spec.layout, fixed("V"), block, per_chunk)
            # THEN each record reads its own lines only, and a record whose count or length is wrong is
            # reported by number
            assert plan.total_records == 5
            assert rows == [1, 2, 3] and values == EXPECTED_HISTORY and malformed == BAD_HISTORY


def test_blocked_variable_length_records_are_cut_on_block_boundaries(tmp_path):
    # GIVEN RECFM=VB: the same records in two blocks, each with its BDW (length including the BDW)
    spec = spec_with(tmp_path, HISTORY_COPYBOOK, HISTORY_MAP, HISTORY_FIELDS, "history")
    first = "".join(rdw + body for rdw, body in HISTORY[:2])     # 16 + 10 bytes
    second = "".join(rdw + body for rdw, body in HISTORY[2:])    # 25 + 10 + 13 bytes: 52 with the BDW
    data = H("001E0000" + first + "00340000" + second)
    for block in range(1, len(data) + 1):
        plan, rows, values, malformed = read_all(data, spec.layout, fixed("VB"), block, 1)
        # THEN chunks end only where blocks end, and every record is read once
        assert [(c.start, c.end, c.first_row, c.rows) for c in plan.chunks] == [(0, 30, 1, 2), (30, 82, 3, 3)]
        assert rows == [1, 2, 3] and values == EXPECTED_HISTORY and malformed == BAD_HISTORY
