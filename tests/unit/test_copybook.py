"""COBOL copybooks to record layouts: every expected offset below is worked out by hand from the
IBM Enterprise COBOL rules (the comments show the sums), never taken from the parser; every clause
that is not supported is refused naming the copybook, the line and the clause."""
from __future__ import annotations

import pytest

from chalicelib.errors import CopybookError, SpecError
from chalicelib.inputs.fixed.copybook import Copybook, format_layout, layout_rows, parse_copybook
from chalicelib.inputs.fixed.layout import DependingOn, RecordLayout


def identified(text: str, ident: str) -> str:
    """The source with `ident` in columns 73-80 of every line, as a library system writes it."""
    lines = text.splitlines()
    assert all(len(line) <= 72 for line in lines)
    return "\n".join(line.ljust(72) + ident for line in lines)


def cards(*code: str) -> str:
    """Code lines from column 8, sequence numbers 000100, 000200... in columns 1-6."""
    assert all(len(line) <= 65 for line in code)    # columns 73-80 would be cut off
    return "\n".join(f"{(i + 1) * 100:06d} {line}" for i, line in enumerate(code))


def layout(text: str) -> RecordLayout:
    records = parse_copybook(text, "test.cpy").records
    assert len(records) == 1
    return next(iter(records.values()))


def shape(record: RecordLayout) -> list[tuple]:
    return [(f.name, f.offset, f.length, f.usage) for f in record.fields]


def refused(text: str) -> str:
    with pytest.raises(CopybookError) as caught:
        parse_copybook(text, "claims.cpy")
    return str(caught.value)


# ------------------------------------------------------------------ reference format, groups, FILLER

POLICY = """\
000100*----------------------------------------------------------------*
000200* POLICY MASTER RECORD                                           *
000300*----------------------------------------------------------------*
000400 01  POLICY-RECORD.

000600     05  POLICY-KEY.
000700         10  POLICY-NUMBER       PIC X(10).
000800         10  POLICY-VERSION      PIC 9(3).
000900/    NEW PAGE IN THE LISTING: A COMMENT TOO
001000     05  HOLDER-NAME             PIC X(30).
001100     05  PREMIUM                 PIC S9(7)V99 COMP-3.
001200     05  START-DATE              PIC 9(8).
001300     05  FILLER                  PIC X(5).
001400     05  AGENT-CODE              PIC X(6).
"""
POLICY_SHAPE = [
    ("POLICY-NUMBER", 0, 10, "DISPLAY"),
    ("POLICY-VERSION", 10, 3, "DISPLAY"),     # 0 + 10
    ("HOLDER-NAME", 13, 30, "DISPLAY"),       # 10 + 3
    ("PREMIUM", 43, 5, "COMP-3"),             # 13 + 30; 9 digits: 9 // 2 + 1 = 5 bytes
    ("START-DATE", 48, 8, "DISPLAY"),         # 43 + 5
    ("AGENT-CODE", 61, 6, "DISPLAY"),         # 48 + 8 + FILLER 5
]


def test_groups_and_filler_in_fixed_reference_format():
    # GIVEN a copybook with sequence numbers, comment lines (* and /) and a blank line
    # WHEN it is parsed
    copybook = parse_copybook(POLICY, "policy.cpy")
    # THEN one record, the groups' and the FILLER's bytes counted, no field for either
    assert isinstance(copybook, Copybook) and copybook.name == "policy.cpy"
    record = copybook.records["POLICY-RECORD"]
    assert record.name == "POLICY-RECORD"
    assert shape(record) == POLICY_SHAPE
    assert record.length == 67                 # 61 + 6
    assert record.depending_on is None and record.conditions == {}
    premium = record.field("PREMIUM")
    assert (premium.pic, premium.category, premium.signed, premium.digits, premium.scale) == \
        ("S9(7)V99", "numeric", True, 9, 2)


def test_identification_area_and_lower_case_change_nothing():
    # GIVEN the same copybook in lower case, with text in columns 73-80 that would not parse as code
    source = identified(POLICY.lower(), "PIC X9.")
    # THEN the same layout, names upper-cased
    assert shape(layout(source)) == POLICY_SHAPE


def test_short_lines_and_a_clause_spanning_lines():
    source = "\n".join([
        "       01 REC.",
        "           05 CODE-A",
        "                 PICTURE IS X(4)",
        "                 VALUE SPACES.",
        "           05 AMOUNT USAGE IS COMPUTATIONAL-3 PIC S9(5).",
        "           05 COUNTER PIC 9(3) VALUE ZERO USAGE BINARY.",
        "",
    ])
    assert shape(layout(source)) == [
        ("CODE-A", 0, 4, "DISPLAY"),
        ("AMOUNT", 4, 3, "COMP-3"),     # 5 digits: 5 // 2 + 1 = 3
        ("COUNTER", 7, 2, "COMP"),      # 3 digits binary: a halfword
    ]


def test_an_elementary_level_01_record():
    record = layout("       01  CARD-IMAGE PIC X(80).")
    assert shape(record) == [("CARD-IMAGE", 0, 80, "DISPLAY")] and record.length == 80


def test_several_01_records_each_start_at_offset_0():
    copybook = parse_copybook(cards(
        "01  HEADER-REC.",
        "    05  REC-TYPE     PIC X.",
        "    05  RUN-DATE     PIC 9(8).",
        "01  DETAIL-REC.",
        "    05  REC-TYPE     PIC X.",
        "    05  CLAIM-NO     PIC X(12).",
        "01  TRAILER-REC REDEFINES DETAIL-REC.",
        "    05  FILLER       PIC X.",
        "    05  REC-COUNT    PIC 9(9).",
    ))
    assert list(copybook.records) == ["HEADER-REC", "DETAIL-REC", "TRAILER-REC"]
    header, detail, trailer = copybook.records.values()
    assert shape(header) == [("REC-TYPE", 0, 1, "DISPLAY"), ("RUN-DATE", 1, 8, "DISPLAY")]
    assert header.length == 9
    # REC-TYPE again in another record: no collision, records are separate
    assert shape(detail) == [("REC-TYPE", 0, 1, "DISPLAY"), ("CLAIM-NO", 1, 12, "DISPLAY")]
    assert detail.length == 13
    assert shape(trailer) == [("REC-COUNT", 1, 9, "DISPLAY")] and trailer.length == 10


# ------------------------------------------------------------------ OCCURS

def test_nested_occurs_are_written_out_with_subscripts():
    record = layout(cards(
        "01  INVOICE.",
        "    05  INVOICE-NO        PIC X(6).",
        "    05  LINE-ITEM OCCURS 2 TIMES INDEXED BY LINE-IX.",
        "        10  ITEM-QTY      PIC 9(3).",
        "        10  ITEM-CODE     OCCURS 3 PIC X(2).",
        "    05  TOTAL             PIC S9(5) COMP-3.",
    ))
    # LINE-ITEM: 3 + 3 * 2 = 9 bytes an occurrence, from 6
    assert shape(record) == [
        ("INVOICE-NO", 0, 6, "DISPLAY"),
        ("ITEM-QTY(1)", 6, 3, "DISPLAY"),
        ("ITEM-CODE(1,1)", 9, 2, "DISPLAY"),
        ("ITEM-CODE(1,2)", 11, 2, "DISPLAY"),
        ("ITEM-CODE(1,3)", 13, 2, "DISPLAY"),
        ("ITEM-QTY(2)", 15, 3, "DISPLAY"),        # 6 + 9
        ("ITEM-CODE(2,1)", 18, 2, "DISPLAY"),
        ("ITEM-CODE(2,2)", 20, 2, "DISPLAY"),
        ("ITEM-CODE(2,3)", 22, 2, "DISPLAY"),
        ("TOTAL", 24, 3, "COMP-3"),               # 6 + 2 * 9
    ]
    assert record.length == 27


def test_occurs_with_keys_and_an_elementary_table():
    record = layout(cards(
        "01  RATE-TABLE.",
        "    05  RATES PIC S9(3)V99 COMP-3 OCCURS 3 TIMES",
        "            ASCENDING KEY IS RATE-KEY DESCENDING RATE-ALT",
        "            INDEXED BY RATE-IX RATE-IX2.",
        "    05  RATE-END         PIC X.",
    ))
    assert shape(record) == [("RATES(1)", 0, 3, "COMP-3"), ("RATES(2)", 3, 3, "COMP-3"),
                             ("RATES(3)", 6, 3, "COMP-3"), ("RATE-END", 9, 1, "DISPLAY")]


def test_occurs_depending_on_at_the_end_of_the_record():
    record = layout(cards(
        "01  CLAIM-RECORD.",
        "    05  CLAIM-NO         PIC X(8).",
        "    05  PAYMENT-COUNT    PIC S9(3) COMP-3.",
        "    05  PAYMENTS OCCURS 0 TO 4 TIMES",
        "            DEPENDING ON PAYMENT-COUNT INDEXED BY PAY-IX.",
        "        10  PAY-DATE     PIC 9(8).",
        "        10  PAY-AMOUNT   PIC S9(7)V99 COMP-3.",
        "            88  NO-AMOUNT VALUE ZERO.",
    ))
    # PAYMENTS from 8 + 2 = 10, 8 + 5 = 13 bytes an occurrence
    assert [(f.name, f.offset, f.length, f.present_if) for f in record.fields] == [
        ("CLAIM-NO", 0, 8, None),
        ("PAYMENT-COUNT", 8, 2, None),
        ("PAY-DATE(1)", 10, 8, ("PAYMENT-COUNT", 1)),
        ("PAY-AMOUNT(1)", 18, 5, ("PAYMENT-COUNT", 1)),
        ("PAY-DATE(2)", 23, 8, ("PAYMENT-COUNT", 2)),
        ("PAY-AMOUNT(2)", 31, 5, ("PAYMENT-COUNT", 2)),
        ("PAY-DATE(3)", 36, 8, ("PAYMENT-COUNT", 3)),
        ("PAY-AMOUNT(3)", 44, 5, ("PAYMENT-COUNT", 3)),
        ("PAY-DATE(4)", 49, 8, ("PAYMENT-COUNT", 4)),
        ("PAY-AMOUNT(4)", 57, 5, ("PAYMENT-COUNT", 4)),
    ]
    assert record.depending_on == DependingOn("PAYMENT-COUNT", 0, 4, 10, 13)
    assert record.length == 62 and record.min_length == 10     # 10 + 4 * 13; 10 + 0 * 13
    assert record.conditions["PAY-AMOUNT(4)"] == {"NO-AMOUNT": ("0",)}


def test_occurs_depending_on_with_a_nested_table_and_a_qualified_counter():
    record = layout(cards(
        "01  BATCH.",
        "    05  HEADER.",
        "        10  ITEM-COUNT   PIC 9(2).",
        "    05  ITEMS OCCURS 1 TO 2 DEPENDING ON ITEM-COUNT OF HEADER.",
        "        10  ITEM-ID      PIC X(3).",
        "        10  ITEM-FLAGS   PIC X OCCURS 2.",
    ))
    assert [(f.name, f.offset, f.present_if) for f in record.fields] == [
        ("ITEM-COUNT", 0, None),
        ("ITEM-ID(1)", 2, ("ITEM-COUNT", 1)),
        ("ITEM-FLAGS(1,1)", 5, ("ITEM-COUNT", 1)),
        ("ITEM-FLAGS(1,2)", 6, ("ITEM-COUNT", 1)),
        ("ITEM-ID(2)", 7, ("ITEM-COUNT", 2)),          # 2 + 3 + 2
        ("ITEM-FLAGS(2,1)", 10, ("ITEM-COUNT", 2)),
        ("ITEM-FLAGS(2,2)", 11, ("ITEM-COUNT", 2)),
    ]
    assert record.depending_on == DependingOn("ITEM-COUNT", 1, 2, 2, 5)
    assert record.length == 12 and record.min_length == 7


# ------------------------------------------------------------------ REDEFINES

def test_redefines_of_groups_and_elementary_items_overlap():
    record = layout(cards(
        "01  PAYMENT-RECORD.",
        "    05  PAY-TYPE           PIC X.",
        "    05  PAY-DETAIL         PIC X(20).",
        "    05  CARD-DETAIL REDEFINES PAY-DETAIL.",
        "        10  CARD-NUMBER    PIC 9(16).",
        "        10  CARD-EXPIRY    PIC 9(4).",
        "    05  BANK-DETAIL REDEFINES PAY-DETAIL.",
        "        10  BANK-SORT      PIC 9(6).",
        "        10  BANK-ACCOUNT   PIC 9(8).",
        "    05  PAY-AMOUNT         PIC S9(9)V99 COMP-3.",
        "    05  PAY-AMOUNT-X REDEFINES PAY-AMOUNT PIC X(6).",
        "    05  PAY-END            PIC X.",
    ))
    assert shape(record) == [
        ("PAY-TYPE", 0, 1, "DISPLAY"),
        ("PAY-DETAIL", 1, 20, "DISPLAY"),
        ("CARD-NUMBER", 1, 16, "DISPLAY"),       # at PAY-DETAIL's offset
        ("CARD-EXPIRY", 17, 4, "DISPLAY"),
        ("BANK-SORT", 1, 6, "DISPLAY"),          # again at PAY-DETAIL's offset, smaller: allowed
        ("BANK-ACCOUNT", 7, 8, "DISPLAY"),
        ("PAY-AMOUNT", 21, 6, "COMP-3"),         # 1 + 20; 11 digits: 11 // 2 + 1 = 6
        ("PAY-AMOUNT-X", 21, 6, "DISPLAY"),
        ("PAY-END", 27, 1, "DISPLAY"),
    ]
    assert record.length == 28


def test_a_larger_level_01_redefinition_makes_its_own_length():
    copybook = parse_copybook(cards(
        "01  SHORT-FORM.",
        "    05  SHORT-TEXT PIC X(4).",
        "01  LONG-FORM REDEFINES SHORT-FORM.",
        "    05  LONG-TEXT PIC X(9).",
    ))
    assert [r.length for r in copybook.records.values()] == [4, 9]


# ------------------------------------------------------------------ USAGE and SIGN

def test_usage_at_group_level_and_every_usage_spelling():
    record = layout(cards(
        "01  TOTALS-RECORD.",
        "    05  PACKED-TOTALS USAGE IS COMPUTATIONAL-3.",
        "        10  TOTAL-PAID     PIC S9(9)V99.",
        "        10  TOTAL-COUNT    PIC S9(5).",
        "        10  TOTAL-TEXT     PIC 9(4) USAGE DISPLAY.",
        "    05  BINARY-COUNTS BINARY.",
        "        10  SMALL-COUNT    PIC S9(4).",
        "        10  MID-COUNT      PIC S9(9).",
        "        10  BIG-COUNT      PIC S9(18).",
        "    05  NATIVE-COUNT       PIC 9(5) COMP-5.",
        "    05  RATE               COMP-1.",
        "    05  FACTOR             USAGE COMP-2.",
        "    05  PACKED-PLAIN       PIC 9(4) PACKED-DECIMAL.",
        "    05  OLD-BINARY         PIC 9(4) COMPUTATIONAL-4.",
        "    05  PLAIN-COMP         PIC 9(4) COMP.",
    ))
    assert shape(record) == [
        ("TOTAL-PAID", 0, 6, "COMP-3"),      # 11 digits: 6 bytes
        ("TOTAL-COUNT", 6, 3, "COMP-3"),     # 5 digits: 3 bytes
        ("TOTAL-TEXT", 9, 4, "DISPLAY"),     # says otherwise
        ("SMALL-COUNT", 13, 2, "COMP"),
        ("MID-COUNT", 15, 4, "COMP"),
        ("BIG-COUNT", 19, 8, "COMP"),
        ("NATIVE-COUNT", 27, 4, "COMP-5"),
        ("RATE", 31, 4, "COMP-1"),
        ("FACTOR", 35, 8, "COMP-2"),
        ("PACKED-PLAIN", 43, 3, "COMP-3"),
        ("OLD-BINARY", 46, 2, "COMP"),
        ("PLAIN-COMP", 48, 2, "COMP"),
    ]
    assert record.length == 50
    assert record.field("RATE").category == "float" and record.field("RATE").pic == ""


def test_sign_clauses_at_field_and_group_level():
    record = layout(cards(
        "01  SIGNED-RECORD.",
        "    05  PLAIN-SIGNED   PIC S9(5).",
        "    05  LEAD-SEP   PIC S9(5) SIGN IS LEADING SEPARATE CHARACTER.",
        "    05  TRAIL-SEP      SIGN TRAILING SEPARATE PIC S9(3)V9.",
        "    05  LEAD-OVER      PIC S9(3) LEADING.",
        "    05  GROUP-SIGNED   SIGN LEADING SEPARATE.",
        "        10  IN-GROUP     PIC S9(4).",
        "        10  UNSIGNED-IN  PIC 9(4).",
        "        10  PACKED-IN    PIC S9(4) COMP-3.",
        "        10  OWN-SIGN     PIC S9(2) SIGN TRAILING.",
    ))
    assert [(f.name, f.offset, f.length, f.sign_leading, f.sign_separate) for f in record.fields] == [
        ("PLAIN-SIGNED", 0, 5, False, False),
        ("LEAD-SEP", 5, 6, True, True),          # 5 digits and the sign byte
        ("TRAIL-SEP", 11, 5, False, True),
        ("LEAD-OVER", 16, 3, True, False),
        ("IN-GROUP", 19, 5, True, True),         # the group's SIGN
        ("UNSIGNED-IN", 24, 4, False, False),    # no S: the group's SIGN does not reach it
        ("PACKED-IN", 28, 3, False, False),      # not DISPLAY: nor here
        ("OWN-SIGN", 31, 2, False, False),       # its own SIGN wins
    ]
    assert record.length == 33
    assert [row["sign"] for row in layout_rows(record)] == [
        "trailing", "leading separate", "trailing separate", "leading", "leading separate", "", "", "trailing"]


# ------------------------------------------------------------------ SYNC

def test_sync_inserts_slack_bytes_before_binary_items():
    record = layout(cards(
        "01  SYNC-RECORD.",
        "    05  REC-TYPE       PIC X.",
        "    05  HALF           PIC S9(4) COMP SYNC.",
        "    05  FLAG           PIC X.",
        "    05  FULL           PIC S9(9) BINARY SYNCHRONIZED LEFT.",
        "    05  CODE-A         PIC X(3).",
        "    05  DOUBLE         PIC S9(18) COMP-5 SYNC RIGHT.",
        "    05  NOT-SYNCED     PIC S9(4) COMP.",
        "    05  PACKED-SYNC    PIC S9(5) COMP-3 SYNC.",
        "    05  FLOAT-SHORT    COMP-1 SYNC.",
        "    05  FLOAT-LONG     COMP-2 SYNC.",
        "    05  TAIL-GROUP.",
        "        10  TAIL-CODE  PIC X.",
        "        10  TAIL-NUM   PIC S9(9) COMP SYNC.",
        "    05  TEXT-SYNC      PIC X(3) SYNC.",
    ))
    assert shape(record) == [
        ("REC-TYPE", 0, 1, "DISPLAY"),
        ("HALF", 2, 2, "COMP"),          # 1 slack byte: halfword boundary
        ("FLAG", 4, 1, "DISPLAY"),
        ("FULL", 8, 4, "COMP"),          # 5 -> 8: 3 slack bytes, fullword
        ("CODE-A", 12, 3, "DISPLAY"),
        ("DOUBLE", 16, 8, "COMP-5"),     # 15 -> 16: doubleword
        ("NOT-SYNCED", 24, 2, "COMP"),
        ("PACKED-SYNC", 26, 3, "COMP-3"),   # SYNC changes nothing for COMP-3
        ("FLOAT-SHORT", 32, 4, "COMP-1"),   # 29 -> 32: fullword
        ("FLOAT-LONG", 40, 8, "COMP-2"),    # 36 -> 40: doubleword
        ("TAIL-CODE", 48, 1, "DISPLAY"),
        ("TAIL-NUM", 52, 4, "COMP"),        # 49 -> 52, the slack inside TAIL-GROUP
        ("TEXT-SYNC", 56, 3, "DISPLAY"),    # SYNC changes nothing for DISPLAY
    ]
    assert record.length == 59


def test_sync_inside_occurs_pads_every_occurrence():
    record = layout(cards(
        "01  TABLE-RECORD.",
        "    05  ENTRY-COUNT     PIC X(3).",
        "    05  ENTRIES OCCURS 3 TIMES.",
        "        10  ENTRY-CODE  PIC X.",
        "        10  ENTRY-VALUE PIC S9(9) COMP SYNC.",
        "        10  ENTRY-FLAG  PIC X.",
        "    05  AFTER-TABLE     PIC X.",
    ))
    # The first occurrence from 3: CODE 3, VALUE 4 (a fullword already), FLAG 8, ends at 9:
    # 6 bytes, rounded up to 8 so that VALUE stays on a fullword in every occurrence.
    assert shape(record) == [
        ("ENTRY-COUNT", 0, 3, "DISPLAY"),
        ("ENTRY-CODE(1)", 3, 1, "DISPLAY"), ("ENTRY-VALUE(1)", 4, 4, "COMP"), ("ENTRY-FLAG(1)", 8, 1, "DISPLAY"),
        ("ENTRY-CODE(2)", 11, 1, "DISPLAY"), ("ENTRY-VALUE(2)", 12, 4, "COMP"), ("ENTRY-FLAG(2)", 16, 1, "DISPLAY"),
        ("ENTRY-CODE(3)", 19, 1, "DISPLAY"), ("ENTRY-VALUE(3)", 20, 4, "COMP"), ("ENTRY-FLAG(3)", 24, 1, "DISPLAY"),
        ("AFTER-TABLE", 27, 1, "DISPLAY"),     # 3 + 3 * 8
    ]


def test_sync_on_the_record_applies_to_every_item():
    record = layout(cards(
        "01  ALIGNED-RECORD SYNC.",
        "    05  A-CODE   PIC X.",
        "    05  A-COUNT  PIC S9(4) COMP.",
        "    05  A-TOTAL  PIC S9(9) COMP IS GLOBAL.",
    ))
    assert shape(record) == [("A-CODE", 0, 1, "DISPLAY"), ("A-COUNT", 2, 2, "COMP"), ("A-TOTAL", 4, 4, "COMP")]


# ------------------------------------------------------------------ 88 and 66 levels

def test_condition_names_are_collected():
    record = layout(cards(
        "01  STATUS-RECORD.",
        "    05  POLICY-STATUS     PIC X.",
        "        88  STATUS-ACTIVE     VALUE 'A'.",
        "        88  STATUS-LAPSED     VALUES ARE 'L', 'X'.",
        '        88  STATUS-VALID      VALUE IS "A" \'L\' THRU \'P\'.',
        "    05  RISK-CLASS        PIC 99.",
        "        88  LOW-RISK          VALUE 1 THRU 3.",
        "        88  HIGH-RISK         VALUES 7 THROUGH 9, 99.",
        "    05  NOTE-TEXT         PIC X(5).",
        "        88  NO-NOTE           VALUE SPACES.",
        "        88  ZERO-NOTE         VALUE ZEROS.",
        "        88  QUOTED            VALUE 'IT''S'.",
        "    05  FILLER            PIC X.",
        "        88  IGNORED-FLAG      VALUE 'Y'.",
        "    05  SCORES OCCURS 2 TIMES PIC 9.",
        "        88  TOP-SCORE         VALUE 9 WHEN SET TO FALSE IS 0.",
    ))
    assert record.conditions == {
        "POLICY-STATUS": {"STATUS-ACTIVE": ("A",), "STATUS-LAPSED": ("L", "X"),
                          "STATUS-VALID": ("A", "L THRU P")},
        "RISK-CLASS": {"LOW-RISK": ("1 THRU 3",), "HIGH-RISK": ("7 THRU 9", "99")},
        "NOTE-TEXT": {"NO-NOTE": (" ",), "ZERO-NOTE": ("0",), "QUOTED": ("IT'S",)},
        "SCORES(1)": {"TOP-SCORE": ("9",)},
        "SCORES(2)": {"TOP-SCORE": ("9",)},
    }
    assert shape(record)[-1] == ("SCORES(2)", 10, 1, "DISPLAY")   # 1 + 2 + 5 + 1 + 1


def test_renames_give_one_more_field_over_the_renamed_bytes():
    record = layout(cards(
        "01  ADDRESS-RECORD.",
        "    05  STREET        PIC X(20).",
        "    05  CITY          PIC X(15).",
        "    05  POSTCODE      PIC X(8).",
        "    05  COUNTRY-CODE  PIC X(2).",
        "    05  AMOUNT        PIC S9(5)V99 COMP-3.",
        "    05  PHONE.",
        "        10  AREA-CODE    PIC 9(3).",
        "        10  LOCAL-NUMBER PIC 9(7).",
        "66  CITY-AND-POST RENAMES CITY THRU POSTCODE.",
        "66  WHOLE-ADDRESS RENAMES STREET THROUGH COUNTRY-CODE.",
        "66  RAW-AMOUNT    RENAMES AMOUNT.",
        "66  PHONE-ALIAS   RENAMES PHONE.",
        "66  TAIL          RENAMES AREA-CODE OF PHONE THRU LOCAL-NUMBER.",
    ))
    assert [(f.name, f.offset, f.length, f.pic, f.usage, f.category) for f in record.fields][-5:] == [
        ("CITY-AND-POST", 20, 23, "X(23)", "DISPLAY", "alphanumeric"),   # CITY 20 .. POSTCODE ends 43
        ("WHOLE-ADDRESS", 0, 45, "X(45)", "DISPLAY", "alphanumeric"),
        ("RAW-AMOUNT", 45, 4, "S9(5)V99", "COMP-3", "numeric"),          # one elementary item: as it is
        ("PHONE-ALIAS", 49, 10, "X(10)", "DISPLAY", "alphanumeric"),     # a group: its bytes
        ("TAIL", 49, 10, "X(10)", "DISPLAY", "alphanumeric"),
    ]
    assert record.length == 59


# ------------------------------------------------------------------ continuation lines

def test_continued_literal_and_continued_word():
    long_value = "        88  MSG-LONG  VALUE 'FIRST PART OF A LONG LITERAL"
    assert len(long_value) == 57            # the literal runs on to column 72: 8 spaces more
    source = "\n".join([
        "000100 01  MESSAGE-RECORD.",
        "000200     05  MSG-CODE        PIC X(60).",
        f"000300 {long_value}",
        "000400-    'AND ITS END'.",
        "000500     05  MSG-AMOUNT      PIC S9(5)V",
        "000600-                             99 COMP-3.",
        "000700     05  MSG-TAIL        PIC X.",
    ])
    record = layout(source)
    assert record.conditions == {"MSG-CODE": {"MSG-LONG": ("FIRST PART OF A LONG LITERAL" + " " * 8 + "AND ITS END",)}}
    assert shape(record) == [("MSG-CODE", 0, 60, "DISPLAY"),
                             ("MSG-AMOUNT", 60, 4, "COMP-3"),    # S9(5)V99: 7 digits, 4 bytes
                             ("MSG-TAIL", 64, 1, "DISPLAY")]
    assert record.field("MSG-AMOUNT").pic == "S9(5)V99"


def test_floating_comments_and_listing_directives_are_ignored():
    record = layout(cards(
        "01  REC.   *> the record",
        "    05  A  PIC X(2).  *> a 'quoted' remark",
        "    EJECT",
        "    05  B  PIC X.",
        "    SKIP2.",
        "    05  C  PIC X.",
    ))
    assert shape(record) == [("A", 0, 2, "DISPLAY"), ("B", 2, 1, "DISPLAY"), ("C", 3, 1, "DISPLAY")]


# ------------------------------------------------------------------ name collisions

def test_later_duplicate_names_are_qualified_by_their_groups():
    record = layout(cards(
        "01  CLAIM.",
        "    05  POLICY-DATES.",
        "        10  START-DATE   PIC 9(8).",
        "        10  END-DATE     PIC 9(8).",
        "    05  CLAIM-DATES.",
        "        10  START-DATE   PIC 9(8).",
        "            88  NO-START VALUE ZEROS.",
        "        10  END-DATE     PIC 9(8).",
        "    05  LINES OCCURS 2 TIMES.",
        "        10  START-DATE   PIC 9(8).",
        "    05  PERIOD-A.",
        "        10  RANGE-DATES.",
        "            15  FROM-DATE PIC 9(8).",
        "    05  PERIOD-B.",
        "        10  RANGE-DATES.",
        "            15  FROM-DATE PIC 9(8).",
        "66  START-DATE RENAMES START-DATE OF CLAIM-DATES.",
    ))
    assert [(f.name, f.offset) for f in record.fields] == [
        ("START-DATE", 0),
        ("END-DATE", 8),
        ("START-DATE OF CLAIM-DATES", 16),
        ("END-DATE OF CLAIM-DATES", 24),
        ("START-DATE OF LINES(1)", 32),
        ("START-DATE OF LINES(2)", 40),
        ("FROM-DATE", 48),
        ("FROM-DATE OF RANGE-DATES OF PERIOD-B", 56),     # RANGE-DATES alone would not tell them apart
        ("START-DATE OF CLAIM", 16),
    ]
    assert record.conditions == {"START-DATE OF CLAIM-DATES": {"NO-START": ("0",)}}


def test_layout_rows_and_table():
    record = layout(cards(
        "01  SMALL.",
        "    05  N-COUNT  PIC 9.",
        "    05  AMOUNT   PIC S9(3) SIGN LEADING SEPARATE.",
        "    05  ITEMS    PIC X(2) OCCURS 1 TO 2 DEPENDING ON N-COUNT.",
    ))
    assert layout_rows(record) == [
        {"name": "N-COUNT", "offset": 0, "position": 1, "length": 1, "pic": "9", "usage": "DISPLAY",
         "sign": "", "depends": ""},
        {"name": "AMOUNT", "offset": 1, "position": 2, "length": 4, "pic": "S9(3)", "usage": "DISPLAY",
         "sign": "leading separate", "depends": ""},
        {"name": "ITEMS(1)", "offset": 5, "position": 6, "length": 2, "pic": "X(2)", "usage": "DISPLAY",
         "sign": "", "depends": "N-COUNT >= 1"},
        {"name": "ITEMS(2)", "offset": 7, "position": 8, "length": 2, "pic": "X(2)", "usage": "DISPLAY",
         "sign": "", "depends": "N-COUNT >= 2"},
    ]
    assert format_layout(record) == "\n".join([
        "SMALL: 9 bytes at most, 7 at least (OCCURS 1 TO 2 DEPENDING ON N-COUNT)",
        "NAME      POSITION  OFFSET  LENGTH  PIC    USAGE    SIGN              DEPENDS",
        "N-COUNT          1       0       1  9      DISPLAY",
        "AMOUNT           2       1       4  S9(3)  DISPLAY  leading separate",
        "ITEMS(1)         6       5       2  X(2)   DISPLAY                    N-COUNT >= 1",
        "ITEMS(2)         8       7       2  X(2)   DISPLAY                    N-COUNT >= 2",
    ])


# ------------------------------------------------------------------ refused

@pytest.mark.parametrize("lines, message", [
    (["01 R.", "    05 A PIC X.", "    COPY CLAIMREC."],
     "line 3: COPY statements are not supported: expand COPY and REPLACE first"),
    (["REPLACE ==:P:== BY ==CLM==.", "01 R PIC X."], "line 1: REPLACE statements are not supported"),
    (["01 R.", "    05 A PIC X COPY CLAIMREC."], "line 2: COPY statements are not supported"),
    (["01 R.", "    05 A PIC X.", "    05 P USAGE IS POINTER."], "line 3: USAGE POINTER is not supported"),
    (["01 R.", "    05 P POINTER."], "line 2: USAGE POINTER is not supported"),
    (["01 R.", "    05 I INDEX."], "line 2: USAGE INDEX is not supported"),
    (["01 R.", "    05 F USAGE FUNCTION-POINTER."], "line 2: USAGE FUNCTION-POINTER is not supported"),
    (["01 R.", "    05 F PROCEDURE-POINTER."], "line 2: USAGE PROCEDURE-POINTER is not supported"),
    (["01 R.", "    05 O USAGE OBJECT REFERENCE."], "line 2: USAGE OBJECT REFERENCE is not supported"),
    (["01 R.", "    05 N PIC N(10) USAGE NATIONAL."], "line 2: USAGE NATIONAL is not supported"),
    (["01 R.", "    05 N PIC N(10)."], "line 2: PIC N(10): national data (PIC N) is not supported (N)"),
    (["01 R.", "    05 G PIC G(10)."], "line 2: PIC G(10): DBCS data (PIC G) is not supported"),
    (["01 R.", "    05 D PIC G(4) DISPLAY-1."], "line 2: USAGE DISPLAY-1 is not supported"),
    (["01 R.", "    05 A PIC X.", "    05 AMOUNT PIC 9(40)."], "line 3: PIC 9(40): at most 31 digits (AMOUNT)"),
    (["01 R.", "    05 B PIC S9(19) COMP."], "line 2: PIC S9(19): at most 18 digits for USAGE COMP"),
    (["01 R.", "    05 A PIC X COMP-3."], "line 2: PIC X: USAGE COMP-3 needs a numeric PIC"),
    (["01 R.", "    05 A PIC 9(3) SIGN LEADING."], "line 2: PIC 9(3): the SIGN clause needs a signed"),
    (["01 R.", "    05 A COMP-1 PIC 9."], "line 2: PIC 9: a USAGE COMP-1 item takes no PIC clause"),
    (["01 R.", "    05 G.", "        10 A PIC X.", "    05 B."], "line 4: B has neither a PIC clause nor"),
    (["01 R.", "    05 G PIC X(2).", "        10 A PIC X."],
     "line 3: G (line 2) has a PIC clause, so it cannot have subordinate items"),
    (["01 R.", "    05 G.", "        10 A PIC X.", "      07 B PIC X."],
     "line 4: level 07 does not match the level 10 of the items before it in G"),
    (["01 R.", "    10 A PIC X.", "    05 B PIC X."], "line 3: level 05 does not match the level 10"),
    (["01 R.", "    50 A PIC X."], "line 2: 50 is not a level number"),
    (["01 R.", "    05 A PIC X.", "77 COUNTER PIC 9."], "line 3: level 77 is a standalone working-storage item"),
    (["05 A PIC X."], "line 1: level 05 before any level-01 record"),
    (["88 ON VALUE 'Y'."], "line 1: a level-88 entry must follow the item it describes"),
    (["01 R.", "    05 A PIC X", "    05 B PIC X."],
     "line 3: level number 05 inside an entry: is a period missing before it?"),
    (["01 R.", "    05 A PIC X DATE FORMAT YYXXXX."], "line 2: DATE is not a supported clause"),
    (["01 R.", "    05 A PIC X PIC X."], "line 2: two PIC clauses in one entry"),
    (["01 R.", "    05 A PIC 9 OCCURS UNBOUNDED."], "line 2: OCCURS UNBOUNDED is not supported"),
    (["01 R OCCURS 2.", "    05 A PIC X."], "line 1: OCCURS is not allowed at level 01"),
    (["01 R.", "    05 A PIC X.", "    05 B PIC X.", "    05 C REDEFINES A PIC X."],
     "line 4: REDEFINES A: it must name the item just before C at level 05"),
    (["01 R.", "    05 A PIC X(2).", "    05 B REDEFINES A PIC X(2).", "    05 C REDEFINES B PIC X."],
     "line 4: REDEFINES B, which itself redefines A: name A, the original item"),
    (["01 R.", "    05 A PIC X(2).", "    05 B REDEFINES A PIC X(3)."],
     "line 3: B (3 bytes) is larger than A (2 bytes), which it redefines: only a level-01 item may be"),
    (["01 R.", "    05 A PIC X OCCURS 2.", "    05 B REDEFINES A PIC X(2)."],
     "line 3: REDEFINES A, which has an OCCURS clause"),
    (["01 R.", "    05 A PIC X.", "    05 B PIC X(2).", "    05 C REDEFINES B PIC S9(4) COMP SYNC."],
     "line 4: SYNC C would need slack bytes at the start of C, which redefines B"),
    (["01 R.", "    05 N PIC 9.", "    05 T PIC X OCCURS 1 TO 3 DEPENDING ON N.", "    05 Z PIC X."],
     "line 3: OCCURS DEPENDING ON must be the last item of the record"),
    (["01 R.", "    05 N PIC 9.", "    05 G.", "        10 T PIC X OCCURS 1 TO 3 DEPENDING ON N.",
      "    05 Z PIC X."], "line 4: OCCURS DEPENDING ON must be the last item of the record"),
    (["01 R.", "    05 N PIC 9.", "    05 G OCCURS 2.", "        10 T PIC X OCCURS 1 TO 3 DEPENDING ON N."],
     "line 4: OCCURS DEPENDING ON inside another OCCURS is not supported"),
    (["01 R.", "    05 T PIC X OCCURS 1 TO 3 DEPENDING ON N."], "line 2: N is not defined in R"),
    (["01 R.", "    05 N PIC X.", "    05 T PIC X OCCURS 1 TO 3 DEPENDING ON N."],
     "line 3: DEPENDING ON N: the counter must be an integer numeric field defined earlier"),
    (["01 R.", "    05 N PIC 9V9.", "    05 T PIC X OCCURS 1 TO 3 DEPENDING ON N."],
     "line 3: DEPENDING ON N: the counter must be an integer"),
    (["01 R.", "    05 N PIC 9 OCCURS 2.", "    05 T PIC X OCCURS 1 TO 3 DEPENDING ON N."],
     "line 3: DEPENDING ON N: the counter cannot be in an OCCURS table"),
    (["01 R.", "    05 G1.", "      10 N PIC 9.", "    05 G2.", "      10 N PIC 9.",
      "    05 T PIC X OCCURS 1 TO 3 DEPENDING ON N."], "line 6: N is ambiguous in R: qualify it"),
    (["01 R.", "    05 N PIC 9.", "    05 T PIC X OCCURS 3 DEPENDING ON N."],
     "line 3: OCCURS DEPENDING ON needs the smallest number of occurrences"),
    (["01 R.", "    05 T PIC X OCCURS 1 TO 3."], "line 2: OCCURS 1 TO 3 needs DEPENDING ON"),
    (["01 R.", "    05 T PIC X OCCURS 0."], "line 2: OCCURS 0: not a valid number of occurrences"),
    (["01 R.", "    05 A PIC X.", "        88 HI VALUE HIGH-VALUES."],
     "line 3: 88 VALUE HIGH-VALUES is not supported"),
    (["01 R.", "    05 A PIC X.", "        88 NUL VALUE X'00'."], "line 3: 88 VALUE X'...' literals are not supported"),
    (["01 R.", "    05 A PIC X.", "        88 C PIC X VALUE 'A'."],
     "line 3: a level-88 entry takes a VALUE clause and nothing else"),
    (["01 R.", "    05 A PIC X.", "66 B RENAMES A.", "    05 C PIC X."],
     "line 4: level-66 RENAMES entries must come after every item of the record"),
    (["01 R.", "    05 A PIC X OCCURS 2.", "66 B RENAMES A."],
     "line 3: RENAMES A: a level-01 item, an OCCURS table or an item in one cannot be renamed"),
    (["01 R.", "    05 A PIC X.", "    05 B PIC X.", "66 C RENAMES B THRU A."],
     "line 4: RENAMES B THRU A: A must end after B ends"),
    (["01 R.", "    05 A PIC X.", "66 C RENAMES Q."], "line 3: Q is not defined in R"),
    (["01 R.", "    05 G.", "      10 N PIC 9.", "      10 T PIC X OCCURS 1 TO 3 DEPENDING ON N.",
      "66 C RENAMES G."], "line 5: RENAMES G: the renamed bytes reach the OCCURS DEPENDING ON table"),
    (["01 R.", "    05 A PIC X RENAMES B."], "line 2: RENAMES belongs on a level-66 entry"),
    (["01 R.", "    05 G.", "      10 A PIC X.", "      10 A PIC X."],
     "line 4: A is defined twice in G: no qualification tells the two apart"),
    (["01 R.", "    05 A PIC X.", "01 R.", "    05 B PIC X."], "line 3: two level-01 records named R"),
    (["01 FILLER.", "    05 A PIC X."], "line 1: a level-01 record needs a name"),
    (["01 R.", "    05 A$B PIC X."], "line 2: 'A$B' is not a valid data name"),
    (["01 R.", "    05 A PIC X VALUE 'OPEN."], "line 2: a literal is not closed"),
    (["*> nothing but a comment"], "no level-01 record"),
])
def test_refused_with_the_line_and_the_clause(lines, message):
    text = refused(cards(*lines))
    assert text.startswith("claims.cpy: ")
    assert message in text


def test_refused_source_format_problems():
    assert "claims.cpy: line 2: a tab character" in refused("       01 R.\n       05 A\tPIC X.")
    assert "line 1: column 7 holds 'I', not an indicator" in refused("01 CLAIM-RECORD.\n   05 A PIC X.")
    assert "line 2: debugging lines ('D' in column 7)" in refused("       01 R.\n      D    05 A PIC X.")
    assert "line 1: a continuation line ('-' in column 7) with nothing to continue" in refused("      -    01 R.")
    assert "line 3: the continued literal must resume after a '" in refused(cards(
        "01 R.",
        "    05 A PIC X(80) VALUE 'AN OPEN LITERAL",
    ) + "\n000300-    AND NO QUOTE'.")
    assert "line 2: a literal is not closed (continue it" in refused(cards(
        "01 R.",
        "    05 A PIC X(80) VALUE 'AN OPEN LITERAL",
        "    05 B PIC X.",
    ))


def test_copybook_error_is_a_spec_error():
    assert issubclass(CopybookError, SpecError)
