"""EBCDIC code pages and the byte tables of `codec_for`.

The expected characters are written by hand from IBM's code page charts (the
national characters each code page puts where cp037 has # @ $ [ ] { } and the
like; the euro sign of cp1140-cp1149), never produced by the codec under test.
Zoned and packed decimals must read the same in every code page: their digits
and signs are nibbles, not characters.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chalicelib.errors import InputFileError
from chalicelib.inputs.fixed.codepages import EBCDIC_CODE_PAGES, codec_for
from chalicelib.inputs.fixed.decoding import decode_field
from chalicelib.inputs.fixed.layout import FieldLayout

# byte -> character, by code page (hand-written from the IBM charts)
NATIONAL = {
    "cp037": {0x4A: "¢", 0x4F: "|", 0x5A: "!", 0x5B: "$", 0x5F: "¬", 0x7B: "#", 0x7C: "@", 0xBA: "[",
              0xBB: "]", 0xC0: "{", 0xD0: "}", 0xE0: "\\", 0x9F: "¤"},
    "cp273": {0x4A: "Ä", 0x5A: "Ü", 0x6A: "ö", 0x7C: "§", 0xA1: "ß", 0xC0: "ä", 0xD0: "ü", 0xE0: "Ö",
              0x5B: "$", 0x9F: "¤"},
    "cp277": {0x4A: "#", 0x5A: "¤", 0x5B: "Å", 0x6A: "ø", 0x7B: "Æ", 0x7C: "Ø", 0xC0: "æ", 0xD0: "å",
              0x67: "$"},
    "cp278": {0x4A: "§", 0x5A: "¤", 0x5B: "Å", 0x6A: "ö", 0x7B: "Ä", 0x7C: "Ö", 0xC0: "ä", 0xD0: "å",
              0xE0: "É", 0x79: "é", 0x67: "$"},
    "cp280": {0x4A: "°", 0x5A: "é", 0x6A: "ò", 0x7B: "£", 0x7C: "§", 0xC0: "à", 0xD0: "è", 0xE0: "ç",
              0xA1: "ì", 0x79: "ù", 0x5B: "$"},
    "cp284": {0x4A: "[", 0x5A: "]", 0x6A: "ñ", 0x7B: "Ñ", 0x7C: "@", 0x4F: "|", 0x5B: "$"},
    "cp285": {0x4A: "$", 0x5B: "£", 0x7B: "#", 0x7C: "@", 0xA1: "¯", 0x5A: "!"},
    "cp297": {0x4A: "°", 0x5A: "§", 0x6A: "ù", 0x7B: "£", 0x7C: "à", 0xC0: "é", 0xD0: "è", 0xE0: "ç",
              0xA1: "¨", 0x5B: "$"},
    "cp500": {0x4A: "[", 0x5A: "]", 0x4F: "!", 0x5F: "^", 0xB0: "¢", 0xBA: "¬", 0x5B: "$", 0x9F: "¤"},
    # the euro sign replaces the currency sign ¤: at 0x9F, or at 0x5A in 1142 and 1143
    "cp1140": {0x9F: "€", 0x4A: "¢", 0x5B: "$"},
    "cp1141": {0x9F: "€", 0x4A: "Ä", 0xA1: "ß", 0x7C: "§", 0x5B: "$"},
    "cp1142": {0x5A: "€", 0x7B: "Æ", 0x5B: "Å", 0x4A: "#"},
    "cp1143": {0x5A: "€", 0x7C: "Ö", 0x5B: "Å", 0x4A: "§"},
    "cp1144": {0x9F: "€", 0x7B: "£", 0xC0: "à", 0x4A: "°", 0x5B: "$"},
    "cp1145": {0x9F: "€", 0x7B: "Ñ", 0x6A: "ñ", 0x4A: "[", 0x5B: "$"},
    "cp1146": {0x9F: "€", 0x5B: "£", 0x4A: "$"},
    "cp1147": {0x9F: "€", 0xE0: "ç", 0x7B: "£", 0x4A: "°", 0x5B: "$"},
    "cp1148": {0x9F: "€", 0x4A: "[", 0x5A: "]", 0x5B: "$"},
    "cp1149": {0x9F: "€", 0x4A: "Þ", 0x5A: "Æ", 0x7C: "Ð", 0xC0: "þ", 0xD0: "æ", 0xA1: "ö", 0x5B: "$"},
}

# The same in every CECP code page: digits, letters, space, the signs and punctuation COBOL edits with.
INVARIANT = {0x40: " ", 0x4B: ".", 0x4C: "<", 0x4D: "(", 0x4E: "+", 0x50: "&", 0x5C: "*", 0x5D: ")",
             0x5E: ";", 0x60: "-", 0x61: "/", 0x6B: ",", 0x6C: "%", 0x6D: "_", 0x6E: ">", 0x6F: "?",
             0x7A: ":", 0x7D: "'", 0x7E: "=", 0x7F: '"'}
INVARIANT.update({0xF0 + i: str(i) for i in range(10)})
INVARIANT.update({0xC1 + i: c for i, c in enumerate("ABCDEFGHI")})
INVARIANT.update({0xD1 + i: c for i, c in enumerate("JKLMNOPQR")})
INVARIANT.update({0xE2 + i: c for i, c in enumerate("STUVWXYZ")})
INVARIANT.update({0x81 + i: c for i, c in enumerate("abcdefghi")})
INVARIANT.update({0x91 + i: c for i, c in enumerate("jklmnopqr")})
INVARIANT.update({0xA2 + i: c for i, c in enumerate("stuvwxyz")})

# Control characters, IBM's mapping: HT, CR, NL (U+0085), LF, BS, ESC, BEL, EOT, SUB, EO (U+009F).
CONTROLS = {0x05: "\t", 0x0D: "\r", 0x15: "\u0085", 0x25: "\n", 0x16: "\x08", 0x27: "\x1b", 0x2F: "\x07",
            0x37: "\x04", 0x3F: "\x1a", 0xFF: "\x9f", 0x0B: "\x0b", 0x0C: "\x0c"}


def test_the_code_pages_listed():
    assert EBCDIC_CODE_PAGES == ("cp037", "cp273", "cp277", "cp278", "cp280", "cp284", "cp285", "cp297",
                                 "cp500", "cp1140", "cp1141", "cp1142", "cp1143", "cp1144", "cp1145",
                                 "cp1146", "cp1147", "cp1148", "cp1149")
    assert set(NATIONAL) == set(EBCDIC_CODE_PAGES)


def characters(name: str, positions) -> dict[int, str]:
    codec = codec_for(name)
    return {b: chr(codec.text[b]) for b in positions}


@pytest.mark.parametrize("name", EBCDIC_CODE_PAGES)
def test_national_characters(name):
    assert characters(name, NATIONAL[name]) == NATIONAL[name]


@pytest.mark.parametrize("name", EBCDIC_CODE_PAGES)
def test_invariant_characters_and_controls(name):
    codec = codec_for(name)
    assert codec.ebcdic and codec.name == name
    assert characters(name, INVARIANT) == INVARIANT
    assert characters(name, CONTROLS) == CONTROLS
    assert chr(codec.text[0x00]) == " "  # low-values read as space in text
    assert codec.all_ok  # every byte is a character
    # every byte but NUL (read as space) has a character of its own: 0x15 and 0x25 stay apart
    assert len(set(codec.text[1:].tolist())) == 255


@pytest.mark.parametrize("name", EBCDIC_CODE_PAGES)
def test_symbol_bytes(name):
    codec = codec_for(name)
    assert (codec.space, codec.zero, codec.plus, codec.minus, codec.point) == (0x40, 0xF0, 0x4E, 0x60, 0x4B)
    # the other characters of edited pictures, by the byte each code page gives them
    assert [chr(codec.text[b]) for b in (0x6B, 0x5C, 0x61, 0xC3, 0xD9, 0xC4, 0xC2)] == list(",*/CRDB")
    dollar = {"cp277": 0x67, "cp278": 0x67, "cp1142": 0x67, "cp1143": 0x67, "cp285": 0x4A, "cp1146": 0x4A}
    assert chr(codec.text[dollar.get(name, 0x5B)]) == "$"


def test_ascii_symbol_bytes():
    codec = codec_for("ascii")
    assert not codec.ebcdic
    assert (codec.space, codec.zero, codec.plus, codec.minus, codec.point) == (0x20, 0x30, 0x2B, 0x2D, 0x2E)
    assert [chr(codec.text[b]) for b in (0x2C, 0x24, 0x2A, 0x2F)] == list(",$*/")
    assert not codec.text_ok[0x80] and codec.text_ok[0x7F]


@pytest.mark.parametrize("name", EBCDIC_CODE_PAGES)
def test_text_decodes_in_its_code_page(name):
    # "AB" + the code page's 0x4A and 0x5B characters + "12", two spaces: hand-written per page
    row = bytes.fromhex("C1C24A5BF1F24040")
    field = FieldLayout("F", 0, 8, pic="X(8)")
    decoded = decode_field(np.frombuffer(row, dtype=np.uint8).reshape(1, 8), field, codec_for(name))
    assert decoded.invalid is None
    assert decoded.values[0] == "AB" + NATIONAL[name][0x4A] + NATIONAL[name][0x5B] + "12"


# (field, bytes, text): the same in every EBCDIC code page
NUMBERS = [
    (FieldLayout("F", 0, 5, category="numeric", signed=True, digits=5, scale=2), "F1F2F3F4D5", "-123.45"),
    (FieldLayout("F", 0, 5, category="numeric", signed=True, digits=5, scale=2), "F1F2F3F4C5", "123.45"),
    (FieldLayout("F", 0, 5, category="numeric", signed=True, digits=5, scale=2, sign_leading=True),
     "D0F0F0F0F5", "-0.05"),
    (FieldLayout("F", 0, 4, category="numeric", signed=True, digits=3, sign_separate=True), "F1F2F360", "-123"),
    (FieldLayout("F", 0, 8, category="numeric", digits=8), "F2F0F2F3F0F1F1F5", "20230115"),
    (FieldLayout("F", 0, 3, category="numeric", signed=True, digits=3), "C1C2C3", None),
    (FieldLayout("F", 0, 3, usage="COMP-3", category="numeric", signed=True, digits=5, scale=2),
     "12345D", "-123.45"),
    (FieldLayout("F", 0, 3, usage="COMP-3", category="numeric", signed=True, digits=5, scale=2),
     "404040", ""),
    (FieldLayout("F", 0, 2, usage="COMP", category="numeric", signed=True, digits=4), "FF85", "-123"),
    (FieldLayout("F", 0, 11, category="edited", digits=7, scale=2, signed=True, edit_mask="ZZ,ZZ9.99CR"),
     "40F16BF2F3F44BF5F0C3D9", "-1234.50"),
]


@pytest.mark.parametrize("name", EBCDIC_CODE_PAGES)
def test_numbers_read_the_same_in_every_code_page(name):
    codec = codec_for(name)
    for field, data, expected in NUMBERS:
        row = bytes.fromhex(data)
        decoded = decode_field(np.frombuffer(row, dtype=np.uint8).reshape(1, len(row)), field, codec)
        if expected is None:
            assert decoded.invalid is not None and decoded.invalid[0], (name, data)
        else:
            assert decoded.invalid is None and decoded.values[0] == expected, (name, data)


@pytest.mark.parametrize("spelling, name", [("cp037", "cp037"), ("CP037", "cp037"), ("ebcdic", "cp037"),
                                            ("IBM037", "cp037"), ("ibm-285", "cp285"), ("IBM01141", "cp1141"),
                                            ("CCSID 273", "cp273"), ("cp1149", "cp1149"), ("latin-1", "iso8859-1"),
                                            ("utf-8", "utf-8"), ("ascii", "ascii")])
def test_names(spelling, name):
    assert codec_for(spelling).name == name


@pytest.mark.parametrize("spelling", ["cp99999", "klingon", "utf-16"])
def test_unknown_or_unusable_encodings(spelling):
    with pytest.raises(InputFileError, match="encoding"):
        codec_for(spelling)


def test_unknown_encoding_message():
    with pytest.raises(InputFileError, match=r"^unknown encoding 'klingon'"):
        codec_for("klingon")


def test_ascii_overpunch_tables():
    codec = codec_for("ascii")
    # { A-I positive 0-9, } J-R negative 0-9, Micro Focus p-y negative 0-9, plain digits positive
    for chars, sign in (("{ABCDEFGHI", 1), ("}JKLMNOPQR", -1), ("pqrstuvwxy", -1), ("0123456789", 1)):
        assert [int(codec.sign_digit[ord(c)]) for c in chars] == list(range(10))
        assert [int(codec.sign[ord(c)]) for c in chars] == [sign] * 10
    # an unsigned field may end with a C-zone character, never a negative one
    assert [int(codec.unsigned_digit[ord(c)]) for c in "{ABCDEFGHI0123456789"] == list(range(10)) * 2
    assert all(codec.unsigned_digit[ord(c)] == -1 for c in "}JKLMNOPQRpqrstuvwxy")


def test_ebcdic_zone_tables():
    codec = codec_for("cp037")
    for zone, sign in ((0xC, 1), (0xA, 1), (0xE, 1), (0xF, 1), (0xD, -1), (0xB, -1)):
        assert [int(codec.sign_digit[zone * 16 + d]) for d in range(10)] == list(range(10))
        assert {int(codec.sign[zone * 16 + d]) for d in range(10)} == {sign}
        assert codec.sign_digit[zone * 16 + 0xA] == -1  # a low nibble above 9 is no digit
    assert [int(codec.unsigned_digit[b]) for b in range(256) if codec.unsigned_digit[b] >= 0] == \
        list(range(10)) * 2  # C0-C9 and F0-F9
    assert codec.digit[0xC1] == -1 and codec.digit[0xF9] == 9


def test_the_ebcdic_package_is_imported_only_when_needed():
    """ASCII and the standard library's code pages do not load it; cp285 does."""
    script = ("import sys; from chalicelib.inputs.fixed.codepages import codec_for; "
              "codec_for('cp037'); codec_for('ascii'); codec_for('cp500'); before = 'ebcdic' in sys.modules; "
              "codec_for('cp285'); print(before, 'ebcdic' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
