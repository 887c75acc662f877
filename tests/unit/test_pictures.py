"""PIC clauses: digits, scale and storage length per usage as the IBM Language Reference gives them,
worked out by hand, and every PIC the decoder could not read exactly refused with a plain reason."""
from __future__ import annotations

import pytest

from chalicelib.inputs.fixed.pictures import Picture, PictureError, normalise_usage, parse_picture

# (pic, usage, category, signed, digits, scale, length)
NUMERIC = [
    ("9", "DISPLAY", "numeric", False, 1, 0, 1),
    ("9(5)", "DISPLAY", "numeric", False, 5, 0, 5),
    ("S9(7)V99", "DISPLAY", "numeric", True, 9, 2, 9),
    ("s9(7)v99", "DISPLAY", "numeric", True, 9, 2, 9),
    ("S9(7) V99", "DISPLAY", "numeric", True, 9, 2, 9),
    ("V99", "DISPLAY", "numeric", False, 2, 2, 2),
    ("9(3)V", "DISPLAY", "numeric", False, 3, 0, 3),
    ("99PPP", "DISPLAY", "numeric", False, 2, -3, 2),     # 12 is 12000
    ("99PPPV", "DISPLAY", "numeric", False, 2, -3, 2),
    ("PPP99", "DISPLAY", "numeric", False, 2, 5, 2),      # 12 is 0.00012
    ("VPPP99", "DISPLAY", "numeric", False, 2, 5, 2),
    ("SP(2)9(3)", "DISPLAY", "numeric", True, 3, 5, 3),
    ("9(31)", "DISPLAY", "numeric", False, 31, 0, 31),
    # COMP-3: digits // 2 + 1 bytes, whatever the sign
    ("S9(7)V99", "COMP-3", "numeric", True, 9, 2, 5),
    ("9(4)", "COMP-3", "numeric", False, 4, 0, 3),
    ("S9(5)", "COMPUTATIONAL-3", "numeric", True, 5, 0, 3),
    ("9", "PACKED-DECIMAL", "numeric", False, 1, 0, 1),
    ("S9(31)", "COMP-3", "numeric", True, 31, 0, 16),
    ("99PPP", "COMP-3", "numeric", False, 2, -3, 2),
    # binary: 1-4 digits a halfword, 5-9 a fullword, 10-18 a doubleword
    ("S9(4)", "COMP", "numeric", True, 4, 0, 2),
    ("9", "BINARY", "numeric", False, 1, 0, 2),
    ("S9(5)", "COMP-4", "numeric", True, 5, 0, 4),
    ("S9(7)V99", "COMPUTATIONAL", "numeric", True, 9, 2, 4),
    ("9(10)", "COMP", "numeric", False, 10, 0, 8),
    ("S9(18)", "COMPUTATIONAL-4", "numeric", True, 18, 0, 8),
    ("9(4)", "COMP-5", "numeric", False, 4, 0, 2),
    ("S9(9)", "COMPUTATIONAL-5", "numeric", True, 9, 0, 4),
    # text
    ("X", "DISPLAY", "alphanumeric", False, 0, 0, 1),
    ("X(10)", "DISPLAY", "alphanumeric", False, 0, 0, 10),
    ("A(3)X(2)", "DISPLAY", "alphanumeric", False, 0, 0, 5),
    ("XXBXX", "DISPLAY", "alphanumeric", False, 0, 0, 5),    # alphanumeric-edited: text in the file
    ("X(2)/X(2)", "DISPLAY", "alphanumeric", False, 0, 0, 5),
]


@pytest.mark.parametrize("pic, usage, category, signed, digits, scale, length", NUMERIC)
def test_numeric_and_text_pictures(pic, usage, category, signed, digits, scale, length):
    picture = parse_picture(pic, usage)
    assert (picture.category, picture.signed, picture.digits, picture.scale, picture.length) == \
        (category, signed, digits, scale, length)
    assert picture.pic == pic.upper().replace(" ", "")
    assert picture.edit_mask == ""


# (pic, signed, digits, scale, edit_mask)
EDITED = [
    ("ZZZ,ZZ9.99CR", True, 8, 2, "ZZZ,ZZ9.99CR"),
    ("ZZ,ZZ9.99DB", True, 7, 2, "ZZ,ZZ9.99DB"),
    ("$**,**9.99", False, 7, 2, "$**,**9.99"),           # a fixed $, then * suppression
    ("+ZZ9", True, 3, 0, "+ZZ9"),                        # a fixed sign
    ("ZZ9-", True, 3, 0, "ZZ9-"),
    ("---9.99", True, 5, 2, "---9.99"),                  # floating minus: the first is the sign
    ("$$$,$$9.99", False, 7, 2, "$$$,$$9.99"),           # floating dollar: four $ digit positions
    ("+(4)9", True, 4, 0, "++++9"),
    ("99/99/99", False, 6, 0, "99/99/99"),
    ("999B999", False, 6, 0, "999B999"),
    ("9990", False, 3, 0, "9990"),
    ("Z(5)9.99-", True, 8, 2, "ZZZZZ9.99-"),
    ("*(6).99", False, 8, 2, "******.99"),
    ("9.99", False, 3, 2, "9.99"),
    ("Z(3)", False, 3, 0, "ZZZ"),
]


@pytest.mark.parametrize("pic, signed, digits, scale, mask", EDITED)
def test_edited_pictures(pic, signed, digits, scale, mask):
    picture = parse_picture(pic)
    assert picture == Picture(pic, "edited", signed, digits, scale, len(mask), mask)


def test_floating_point_has_no_picture():
    assert parse_picture(None, "COMP-1") == Picture("", "float", True, 0, 0, 4)
    assert parse_picture("", "COMPUTATIONAL-2") == Picture("", "float", True, 0, 0, 8)


def test_sign_separate_adds_a_byte_and_sign_leading_does_not():
    assert parse_picture("S9(5)", sign_leading=True).length == 5
    assert parse_picture("S9(5)", sign_separate=True).length == 6
    assert parse_picture("S9(3)V99", sign_leading=True, sign_separate=True).length == 6


@pytest.mark.parametrize("word, usage", [
    ("COMP", "COMP"), ("COMP-4", "COMP"), ("BINARY", "COMP"), ("COMPUTATIONAL", "COMP"),
    ("COMPUTATIONAL-4", "COMP"), ("comp-3", "COMP-3"), ("COMPUTATIONAL-3", "COMP-3"),
    ("PACKED-DECIMAL", "COMP-3"), ("COMP-5", "COMP-5"), ("COMPUTATIONAL-5", "COMP-5"),
    ("COMP-1", "COMP-1"), ("COMPUTATIONAL-1", "COMP-1"), ("COMP-2", "COMP-2"),
    ("COMPUTATIONAL-2", "COMP-2"), ("DISPLAY", "DISPLAY"),
    ("POINTER", None), ("INDEX", None), ("NATIONAL", None), ("COMP-6", None), ("", None),
])
def test_normalise_usage(word, usage):
    assert normalise_usage(word) == usage


@pytest.mark.parametrize("pic, usage, options, message", [
    ("9(40)", "DISPLAY", {}, "PIC 9(40): at most 31 digits"),
    ("S9(32)", "COMP-3", {}, "PIC S9(32): at most 31 digits"),
    ("S9(19)", "COMP", {}, "PIC S9(19): at most 18 digits for USAGE COMP"),
    ("9(19)", "COMP-5", {}, "at most 18 digits for USAGE COMP-5"),
    ("X(0)", "DISPLAY", {}, "PIC X(0): a repeat count of (0)"),
    ("X(3", "DISPLAY", {}, "PIC X(3: unbalanced parentheses"),
    ("X3)", "DISPLAY", {}, "unbalanced parentheses"),
    ("(3)X", "DISPLAY", {}, "a repeat count must follow a symbol"),
    ("9(A)", "DISPLAY", {}, "the repeat count (A) is not a number"),
    ("N(10)", "DISPLAY", {}, "national data (PIC N) is not supported"),
    ("G(10)", "DISPLAY", {}, "DBCS data (PIC G) is not supported"),
    ("U(10)", "DISPLAY", {}, "UTF-8 data (PIC U) is not supported"),
    ("+9.9E+99", "DISPLAY", {}, "external floating point (E) is not supported"),
    ("9Q", "DISPLAY", {}, "'Q' is not a PICTURE symbol"),
    ("9S9", "DISPLAY", {}, "S may appear once, as the first symbol"),
    ("9V9V9", "DISPLAY", {}, "V may appear only once"),
    ("9P9", "DISPLAY", {}, "P may appear only at the left or right end"),
    ("99VPP", "DISPLAY", {}, "P may appear only at the left or right end"),
    ("PP", "DISPLAY", {}, "no digit positions"),
    ("XZ9", "DISPLAY", {}, "Z cannot appear with X or A"),
    ("X(5)", "COMP-3", {}, "PIC X(5): USAGE COMP-3 needs a numeric PIC"),
    ("ZZ9.99", "COMP-3", {}, "USAGE COMP-3 needs a numeric PIC"),
    ("9", "COMP-1", {}, "PIC 9: a USAGE COMP-1 item takes no PIC clause"),
    (None, "DISPLAY", {}, "USAGE DISPLAY needs a PIC clause"),
    ("9", "POINTER", {}, "USAGE POINTER is not supported"),
    ("9(3)", "DISPLAY", {"sign_leading": True}, "the SIGN clause needs a signed (S) numeric DISPLAY item"),
    ("S9(3)", "COMP-3", {"sign_separate": True}, "the SIGN clause needs a signed"),
    ("X(3)", "DISPLAY", {"sign_separate": True}, "the SIGN clause needs a signed"),
    (None, "COMP-2", {"sign_leading": True}, "the SIGN clause does not apply to USAGE COMP-2"),
    ("SZZ9", "DISPLAY", {}, "S in a numeric-edited PIC"),
    ("ZZZV99", "DISPLAY", {}, "V in a numeric-edited PIC"),
    ("ZZ9.9.9", "DISPLAY", {}, "more than one decimal point"),
    ("+ZZ9CR", "DISPLAY", {}, "more than one kind of sign symbol"),
    ("ZZ9CR9", "DISPLAY", {}, "CR must be the last symbol"),
    ("CR(2)", "DISPLAY", {}, "CR cannot be repeated"),
    ("**Z9", "DISPLAY", {}, "Z and * cannot both appear"),
    ("9-99", "DISPLAY", {}, "a single - must be the first or last symbol"),
    ("--9-", "DISPLAY", {}, "the floating - symbols must be one string"),
    ("$$--9", "DISPLAY", {}, "two floating insertion strings"),
    ("$$ZZ9", "DISPLAY", {}, "floating insertion ($) cannot be mixed with Z or *"),
    ("9ZZ", "DISPLAY", {}, "Z, * or a floating symbol after a 9"),
    ("BB00", "DISPLAY", {}, "no digit positions"),
])
def test_refused_pictures(pic, usage, options, message):
    with pytest.raises(PictureError) as caught:
        parse_picture(pic, usage, **options)
    assert message in str(caught.value)
