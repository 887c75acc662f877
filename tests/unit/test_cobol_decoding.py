"""Conformance of `decode_field` with the COBOL storage rules, usage by usage.

Three kinds of proof:
- a table of cases whose bytes are written literally and whose expected text
  was worked out by hand from the rules (zoned, packed, binary, IBM floating
  point, numeric-edited, text; EBCDIC cp037 and ASCII; zero, negative zero,
  the largest digit counts, spaces, low-values, bad nibbles, zones and signs).
  Nothing here computes an expected value with the code under test;
- property tests: an encoder written here from the rules, independently of the
  decoder, turns random numbers into bytes, and the decoder must give the same
  number back exactly (Decimal equality; for floating point, text that encodes
  back to the same bytes and is the shortest that does);
- a vectorisation check: decoding 100 times more records runs exactly the same
  Python lines of the decoder (no loop over records), for DISPLAY, COMP-3,
  COMP and COMP-5. No wall-clock times are asserted.
"""
from __future__ import annotations

import re
import sys
from decimal import Context, Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.inputs.fixed import decoding
from chalicelib.inputs.fixed.codepages import EBCDIC_CODE_PAGES, codec_for
from chalicelib.distinct import MIN_VALUES
from chalicelib.inputs.fixed.decoding import _ROW_HASH, Decoded, decode_field, decimal_text
from chalicelib.inputs.fixed.layout import FieldLayout

INVALID = object()  # the expected "value" of bytes that are no value of the field


# ------------------------------------------------------------------ field shorthands

def text(length: int) -> FieldLayout:
    return FieldLayout("F", 0, length, pic=f"X({length})")


def zoned(digits: int, scale: int = 0, signed: bool = False, leading: bool = False,
          separate: bool = False) -> FieldLayout:
    """A DISPLAY number of `digits` digit positions (P positions are in `scale` only)."""
    return FieldLayout("F", 0, digits + (1 if separate else 0), usage="DISPLAY", category="numeric",
                       signed=signed, digits=digits, scale=scale, sign_leading=leading, sign_separate=separate)


def packed(digits: int, scale: int = 0, signed: bool = True) -> FieldLayout:
    return FieldLayout("F", 0, digits // 2 + 1, usage="COMP-3", category="numeric", signed=signed,
                       digits=digits, scale=scale)


def binary(length: int, digits: int, scale: int = 0, signed: bool = True, usage: str = "COMP") -> FieldLayout:
    return FieldLayout("F", 0, length, usage=usage, category="numeric", signed=signed, digits=digits,
                       scale=scale)


def hfp(length: int) -> FieldLayout:
    return FieldLayout("F", 0, length, usage="COMP-1" if length == 4 else "COMP-2", category="float")


def edited(mask: str, digits: int, scale: int = 0) -> FieldLayout:
    return FieldLayout("F", 0, len(mask) - mask.count("V"), pic=mask, category="edited", digits=digits,
                       scale=scale, signed=any(s in mask for s in ("+", "-", "CR", "DB")), edit_mask=mask)


def cells_of(rows: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), len(rows[0]))


def decode(rows: list[bytes], field: FieldLayout, encoding: str) -> Decoded:
    return decode_field(cells_of(rows), field, codec_for(encoding))


def outcome(decoded: Decoded, i: int):
    if decoded.invalid is not None and decoded.invalid[i]:
        assert decoded.values[i] == "", "an invalid row's value is empty"
        return INVALID
    return decoded.values[i]


# ------------------------------------------------------------------ the table
# (id, encoding, field, bytes, expected). EBCDIC bytes are hex (F0-F9 digits, C/D zones,
# 40 space, 4E '+', 60 '-', 4B '.', 6B ','); ASCII bytes are literals.

E, A = "cp037", "ascii"
H = bytes.fromhex

CASES = [
    # --- zoned, unsigned
    ("z-unsigned-leading-zeros", E, zoned(5), H("F0F0F0F1F2"), "00012"),
    ("z-unsigned-date", E, zoned(8), H("F2F0F2F3F0F1F1F5"), "20230115"),
    ("z-unsigned-leading-spaces", E, zoned(5), H("4040F1F2F3"), "123"),
    ("z-unsigned-all-zero", E, zoned(3), H("F0F0F0"), "000"),
    ("z-unsigned-scaled", E, zoned(5, 2), H("F0F1F2F3F4"), "12.34"),
    ("z-unsigned-scaled-zero", E, zoned(5, 2), H("F0F0F0F0F0"), "0.00"),
    ("z-unsigned-c-zone-last", E, zoned(3), H("F1F2C3"), "123"),
    ("z-unsigned-d-zone-last", E, zoned(3), H("F1F2D3"), INVALID),
    ("z-unsigned-a-zone-last", E, zoned(3), H("F1F2A3"), INVALID),
    ("z-unsigned-bad-zone-middle", E, zoned(3), H("F1C2F3"), INVALID),
    ("z-unsigned-bad-low-nibble", E, zoned(3), H("F1F2FA"), INVALID),
    ("z-unsigned-embedded-space", E, zoned(4), H("F140F2F3"), INVALID),
    ("z-unsigned-trailing-space", E, zoned(4), H("F1F2F340"), INVALID),
    ("z-all-spaces", E, zoned(5), H("4040404040"), ""),
    ("z-all-low-values", E, zoned(5), H("0000000000"), ""),
    ("z-spaces-and-low-values", E, zoned(3), H("400040"), ""),
    ("z-V99", E, zoned(2, 2), H("F4F5"), "0.45"),
    ("z-99PPP", E, zoned(2, -3), H("F1F2"), "12000"),
    ("z-99PPP-zero", E, zoned(2, -3), H("F0F0"), "0"),
    ("z-VPP99", E, zoned(2, 4), H("F1F2"), "0.0012"),
    # --- zoned, signed, trailing overpunch
    ("z-s-positive-c", E, zoned(5, 2, True), H("F1F2F3F4C5"), "123.45"),
    ("z-s-negative-d", E, zoned(5, 2, True), H("F1F2F3F4D5"), "-123.45"),
    ("z-s-negative-small", E, zoned(5, 2, True), H("F0F0F0F0D5"), "-0.05"),
    ("z-s-negative-zero", E, zoned(5, 2, True), H("F0F0F0F0D0"), "0.00"),
    ("z-s-zero", E, zoned(5, 0, True), H("F0F0F0F0C0"), "0"),
    ("z-s-negative-zero-whole", E, zoned(5, 0, True), H("F0F0F0F0D0"), "0"),
    ("z-s-f-zone-positive", E, zoned(5, 0, True), H("F0F0F1F2F3"), "123"),
    ("z-s-a-zone-positive", E, zoned(5, 0, True), H("F0F0F1F2A3"), "123"),
    ("z-s-e-zone-positive", E, zoned(5, 0, True), H("F0F0F1F2E3"), "123"),
    ("z-s-b-zone-negative", E, zoned(5, 0, True), H("F0F0F1F2B3"), "-123"),
    ("z-s-leading-spaces", E, zoned(5, 0, True), H("4040F1F2D3"), "-123"),
    ("z-s-bad-zone-middle", E, zoned(5, 0, True), H("F1F2C1F2C3"), INVALID),
    ("z-s-space-in-sign-byte", E, zoned(3, 0, True), H("F1F240"), INVALID),
    ("z-s-zone-7", E, zoned(3, 0, True), H("F1F273"), INVALID),
    ("z-s-sign-nibble-digit-a", E, zoned(3, 0, True), H("F1F2CA"), INVALID),
    ("z-s-S9V99-negative-zero", E, zoned(3, 2, True), H("F0F0D0"), "0.00"),
    ("z-s-SVPP99-negative", E, zoned(2, 4, True), H("F1D2"), "-0.0012"),
    ("z-s-S99PPP-negative", E, zoned(2, -3, True), H("F1D2"), "-12000"),
    ("z-s-31-digits-negative", E, zoned(31, 0, True),
     H("F1F2F3F4F5F6F7F8F9F0" "F1F2F3F4F5F6F7F8F9F0" "F1F2F3F4F5F6F7F8F9F0" "D1"),
     "-1234567890123456789012345678901"),
    ("z-s-31-digits-max-scaled", E, zoned(31, 2, True), H("F9" * 30 + "C9"),
     "99999999999999999999999999999.99"),
    # --- zoned, SIGN LEADING (overpunch in the first byte)
    ("z-lead-negative", E, zoned(5, 0, True, leading=True), H("D1F2F3F4F5"), "-12345"),
    ("z-lead-positive", E, zoned(5, 0, True, leading=True), H("C1F2F3F4F5"), "12345"),
    ("z-lead-scaled", E, zoned(4, 2, True, leading=True), H("D0F0F0F7"), "-0.07"),
    ("z-lead-plain-last-overpunch-bad", E, zoned(3, 0, True, leading=True), H("F1F2D3"), INVALID),
    ("z-lead-space-sign-byte", E, zoned(3, 0, True, leading=True), H("40F1F2"), INVALID),
    # --- zoned, SIGN SEPARATE
    ("z-sep-trailing-plus", E, zoned(3, 0, True, separate=True), H("F1F2F34E"), "123"),
    ("z-sep-trailing-minus", E, zoned(3, 0, True, separate=True), H("F1F2F360"), "-123"),
    ("z-sep-leading-minus", E, zoned(3, 0, True, leading=True, separate=True), H("60F1F2F3"), "-123"),
    ("z-sep-leading-plus-scaled", E, zoned(2, 1, True, leading=True, separate=True), H("4EF0F5"), "0.5"),
    ("z-sep-minus-zero", E, zoned(3, 2, True, separate=True), H("F0F0F060"), "0.00"),
    ("z-sep-space-sign", E, zoned(3, 0, True, separate=True), H("F1F2F340"), INVALID),
    ("z-sep-overpunched-digit", E, zoned(3, 0, True, separate=True), H("F1F2C360"), INVALID),
    ("z-sep-ascii-minus-in-ebcdic", E, zoned(3, 0, True, separate=True), H("F1F2F32D"), INVALID),
    ("z-sep-blank", E, zoned(3, 0, True, separate=True), H("40404040"), ""),
    # --- zoned, ASCII
    ("za-plain", A, zoned(5), b"00012", "00012"),
    ("za-unsigned-spaces", A, zoned(5), b"  123", "123"),
    ("za-unsigned-c-overpunch", A, zoned(3), b"12C", "123"),
    ("za-unsigned-negative-overpunch", A, zoned(3), b"12L", INVALID),
    ("za-s-plain-digit-sign", A, zoned(5, 2, True), b"12345", "123.45"),
    ("za-s-brace-positive", A, zoned(5, 2, True), b"1234{", "123.40"),
    ("za-s-brace-negative", A, zoned(5, 2, True), b"1234}", "-123.40"),
    ("za-s-A", A, zoned(5, 2, True), b"1234A", "123.41"),
    ("za-s-I", A, zoned(5, 2, True), b"1234I", "123.49"),
    ("za-s-J", A, zoned(5, 2, True), b"1234J", "-123.41"),
    ("za-s-R", A, zoned(5, 2, True), b"1234R", "-123.49"),
    ("za-s-microfocus-p", A, zoned(5, 2, True), b"1234p", "-123.40"),
    ("za-s-microfocus-y", A, zoned(5, 2, True), b"1234y", "-123.49"),
    ("za-s-negative-zero", A, zoned(3, 0, True), b"00}", "0"),
    ("za-s-spaces-overpunch", A, zoned(5, 0, True), b"  12J", "-121"),
    ("za-s-lead", A, zoned(5, 0, True, leading=True), b"J2345", "-12345"),
    ("za-sep-leading-plus", A, zoned(3, 0, True, leading=True, separate=True), b"+123", "123"),
    ("za-sep-leading-minus", A, zoned(3, 0, True, leading=True, separate=True), b"-123", "-123"),
    ("za-sep-trailing-minus", A, zoned(3, 0, True, separate=True), b"123-", "-123"),
    ("za-sep-space", A, zoned(3, 0, True, separate=True), b"123 ", INVALID),
    ("za-bad-letter", A, zoned(5, 0, True), b"12X45", INVALID),
    ("za-overpunch-not-last", A, zoned(5, 0, True), b"1J345", INVALID),
    ("za-ebcdic-digits", A, zoned(3), H("F1F2F3"), INVALID),
    ("za-spaces", A, zoned(4, 2, True), b"    ", ""),
    ("za-low-values", A, zoned(4, 2, True), b"\0\0\0\0", ""),
    # --- packed (COMP-3)
    ("p-positive", E, packed(5, 2), H("12345C"), "123.45"),
    ("p-negative-d", E, packed(5, 2), H("12345D"), "-123.45"),
    ("p-negative-b", E, packed(5, 2), H("12345B"), "-123.45"),
    ("p-positive-a", E, packed(5, 2), H("12345A"), "123.45"),
    ("p-positive-e", E, packed(5, 2), H("12345E"), "123.45"),
    ("p-positive-f", E, packed(5, 2), H("12345F"), "123.45"),
    ("p-negative-zero", E, packed(5, 0), H("00000D"), "0"),
    ("p-negative-zero-scaled", E, packed(5, 2), H("00000D"), "0.00"),
    ("p-small-negative", E, packed(7, 2), H("0000005D"), "-0.05"),
    ("p-even-digits", E, packed(4), H("01234C"), "1234"),
    ("p-even-digits-first-nibble", E, packed(4), H("11234C"), INVALID),
    ("p-S9(7)V99", E, packed(9, 2), H("000000123D"), "-1.23"),
    ("p-unsigned-f", E, packed(5, 0, False), H("12345F"), "12345"),
    ("p-unsigned-c", E, packed(5, 0, False), H("12345C"), "12345"),
    ("p-unsigned-d", E, packed(5, 0, False), H("12345D"), INVALID),
    ("p-unsigned-scaled", E, packed(3, 1, False), H("123F"), "12.3"),
    ("p-digit-nibble-a", E, packed(5), H("1234AC"), INVALID),
    ("p-digit-nibble-f", E, packed(5), H("F2345C"), INVALID),
    ("p-sign-nibble-digit", E, packed(5), H("123450"), INVALID),
    ("p-sign-nibble-9", E, packed(5), H("123459"), INVALID),
    ("p-low-values", E, packed(5), H("000000"), ""),
    ("p-ebcdic-spaces", E, packed(5), H("404040"), ""),
    ("p-ascii-spaces", A, packed(5), b"   ", ""),
    ("p-31-digits-negative", E, packed(31), H("1234567890123456789012345678901D"),
     "-1234567890123456789012345678901"),
    ("p-31-digits-max", E, packed(31), H("9" * 31 + "C"), "9" * 31),
    ("p-31-digits-scaled", E, packed(31, 31), H("0" * 30 + "1D"), "-0." + "0" * 30 + "1"),
    ("p-S99PPP", E, packed(2, -3), H("012C"), "12000"),
    ("p-VPP9", E, packed(1, 3), H("7D"), "-0.007"),
    ("p-ascii-file", A, packed(5, 2), H("12345D"), "-123.45"),
    # --- binary (COMP, COMP-4, BINARY, COMP-5)
    ("b-half-one", E, binary(2, 4), H("0001"), "1"),
    ("b-half-minus-one", E, binary(2, 4), H("FFFF"), "-1"),
    ("b-half-min", E, binary(2, 4), H("8000"), "-32768"),
    ("b-half-max", E, binary(2, 4), H("7FFF"), "32767"),
    ("b-half-unsigned-max", E, binary(2, 4, signed=False), H("FFFF"), "65535"),
    ("b-half-above-pic", E, binary(2, 4), H("2710"), "10000"),
    ("b-half-spaces-are-a-value", E, binary(2, 4), H("4040"), "16448"),
    ("b-half-low-values-zero", E, binary(2, 4), H("0000"), "0"),
    ("b-half-scaled-zero", E, binary(2, 4, 2), H("0000"), "0.00"),
    ("b-full-minus-one", E, binary(4, 9), H("FFFFFFFF"), "-1"),
    ("b-full-min", E, binary(4, 9), H("80000000"), "-2147483648"),
    ("b-full-unsigned-max", E, binary(4, 9, signed=False), H("FFFFFFFF"), "4294967295"),
    ("b-full-scaled-negative", E, binary(4, 7, 2), H("FFFFFF85"), "-1.23"),
    ("b-full-scaled-small", E, binary(4, 7, 2), H("FFFFFFFB"), "-0.05"),
    ("b-double-max", E, binary(8, 18), H("7FFFFFFFFFFFFFFF"), "9223372036854775807"),
    ("b-double-min", E, binary(8, 18), H("8000000000000000"), "-9223372036854775808"),
    ("b-double-18-nines", E, binary(8, 18), H("0DE0B6B3A763FFFF"), "999999999999999999"),
    ("b-double-18-nines-negative", E, binary(8, 18), H("F21F494C589C0001"), "-999999999999999999"),
    ("b-double-unsigned-max", E, binary(8, 18, signed=False), H("FFFFFFFFFFFFFFFF"), "18446744073709551615"),
    ("b-double-unsigned-scaled", E, binary(8, 18, 2, signed=False), H("FFFFFFFFFFFFFFFF"),
     "184467440737095516.15"),
    ("b-99PPP", E, binary(2, 2, -3), H("000C"), "12000"),
    ("b-comp5-min", E, binary(2, 4, usage="COMP-5"), H("8000"), "-32768"),
    ("b-comp5-unsigned-above-pic", E, binary(2, 4, signed=False, usage="COMP-5"), H("FFFF"), "65535"),
    ("b-comp5-double", E, binary(8, 18, usage="COMP-5"), H("FFFFFFFFFFFFFF9C"), "-100"),
    # --- IBM hexadecimal floating point (COMP-1, COMP-2)
    ("f1-one", E, hfp(4), H("41100000"), "1"),
    ("f1-minus-one", E, hfp(4), H("C1100000"), "-1"),
    ("f1-zero", E, hfp(4), H("00000000"), "0"),
    ("f1-negative-zero", E, hfp(4), H("80000000"), "0"),
    ("f1-zero-fraction-any-exponent", E, hfp(4), H("7F000000"), "0"),
    ("f1-hundred", E, hfp(4), H("42640000"), "100"),
    ("f1-one-and-a-half", E, hfp(4), H("41180000"), "1.5"),
    ("f1-half", E, hfp(4), H("40800000"), "0.5"),
    ("f1-unnormalised-one", E, hfp(4), H("42010000"), "1"),
    ("f1-tenth", E, hfp(4), H("4019999A"), "0.1"),
    ("f1-1/256", E, hfp(4), H("3F100000"), "0.00390625"),
    ("f1-2**64-plain", E, hfp(4), H("51100000"), "18446750000000000000"),
    ("f1-16**18-scientific", E, hfp(4), H("53100000"), "4.722367e+21"),
    ("f1-16**-6-scientific", E, hfp(4), H("3B100000"), "5.960465e-8"),
    ("f1-16**-5-scientific", E, hfp(4), H("3C100000"), "9.536743e-7"),
    ("f1-16**-4-plain", E, hfp(4), H("3D100000"), "0.00001525879"),
    ("f1-low-values", E, hfp(4), H("00000000"), "0"),
    ("f2-one", E, hfp(8), H("4110000000000000"), "1"),
    ("f2-tenth", E, hfp(8), H("401999999999999A"), "0.1"),
    ("f2-minus-1234.5", E, hfp(8), H("C34D280000000000"), "-1234.5"),
    # --- numeric-edited (DISPLAY): characters
    ("e-commas", A, edited("ZZ,ZZ9.99", 7, 2), b" 1,234.50", "1234.50"),
    ("e-suppressed-comma", A, edited("ZZ,ZZ9.99", 7, 2), b"    12.05", "12.05"),
    ("e-zero", A, edited("ZZ,ZZ9.99", 7, 2), b"     0.00", "0.00"),
    ("e-blank-when-zero", A, edited("ZZ,ZZ9.99", 7, 2), b"         ", ""),
    ("e-cr-negative", A, edited("ZZ,ZZ9.99CR", 7, 2), b"    12.05CR", "-12.05"),
    ("e-cr-positive", A, edited("ZZ,ZZ9.99CR", 7, 2), b"    12.05  ", "12.05"),
    ("e-db-negative", A, edited("ZZZ9.99DB", 6, 2), b"  12.05DB", "-12.05"),
    ("e-cr-garbage", A, edited("ZZ9.99CR", 5, 2), b" 12.05XX", INVALID),
    ("e-fixed-leading-minus", A, edited("-ZZ9.99", 5, 2), b"- 12.05", "-12.05"),
    ("e-fixed-leading-minus-positive", A, edited("-ZZ9.99", 5, 2), b"  12.05", "12.05"),
    ("e-fixed-plus", A, edited("+ZZ9", 3), b"+ 12", "12"),
    ("e-fixed-plus-negative", A, edited("+ZZ9", 3), b"- 12", "-12"),
    ("e-fixed-plus-missing", A, edited("+ZZ9", 3), b"  12", INVALID),
    ("e-trailing-minus", A, edited("ZZ9-", 3), b" 12-", "-12"),
    ("e-trailing-minus-zero", A, edited("ZZ9-", 3), b"  0-", "0"),
    ("e-floating-dollar", A, edited("$$,$$9.99", 4 + 2, 2), b"   $12.05", "12.05"),
    ("e-floating-dollar-full", A, edited("$$,$$9.99", 4 + 2, 2), b"$1,234.50", "1234.50"),
    ("e-floating-dollar-missing", A, edited("$$,$$9.99", 4 + 2, 2), b"    12.05", INVALID),
    ("e-floating-dollar-twice", A, edited("$$,$$9.99", 4 + 2, 2), b"  $$12.05", INVALID),
    ("e-fixed-dollar", A, edited("$ZZ9.99", 5, 2), b"$ 12.05", "12.05"),
    ("e-check-protect", A, edited("***,**9.99", 8, 2), b"*****12.05", "12.05"),
    ("e-check-protect-zero", A, edited("***,**9.99", 8, 2), b"******0.00", "0.00"),
    ("e-check-protect-all-stars", A, edited("***.**", 5, 2), b"***.**", "0.00"),
    ("e-check-protect-star-after-digit", A, edited("***.**", 5, 2), b"*1*.**", INVALID),
    ("e-floating-minus", A, edited("----9.99", 6, 2), b"  -12.05", "-12.05"),
    ("e-floating-minus-positive", A, edited("----9.99", 6, 2), b"   12.05", "12.05"),
    ("e-floating-plus", A, edited("++++9", 4), b"  +12", "12"),
    ("e-floating-plus-negative", A, edited("++++9", 4), b"  -12", "-12"),
    ("e-floating-plus-full", A, edited("++++9", 4), b"+1234", "1234"),
    ("e-slashes", A, edited("99/99/99", 6), b"12/31/99", "123199"),
    ("e-blank-insertion", A, edited("99B99", 4), b"12 34", "1234"),
    ("e-zero-insertion", A, edited("99099", 4), b"12034", "1234"),
    ("e-zero-insertion-wrong", A, edited("99099", 4), b"12134", INVALID),
    ("e-space-after-digit", A, edited("ZZ9.99", 5, 2), b"1 2.05", INVALID),
    ("e-comma-for-point", A, edited("ZZ9.99", 5, 2), b" 12,05", INVALID),
    ("e-letter", A, edited("ZZ9.99", 5, 2), b" 1A.05", INVALID),
    ("e-fraction-only", A, edited("ZZZ.ZZ", 5, 2), b"   .05", "0.05"),
    ("e-space-after-point", A, edited("ZZZ.ZZ", 5, 2), b"   . 5", INVALID),
    ("e-low-values", A, edited("ZZ9.99", 5, 2), b"\0\0\0\0\0\0", ""),
    ("e-ebcdic", E, edited("ZZ,ZZ9.99CR", 7, 2), H("40F16BF2F3F44BF5F0C3D9"), "-1234.50"),
    ("e-ebcdic-floating-dollar", E, edited("$$$9.99", 5, 2), H("40405BF74BF0F5"), "7.05"),
    # --- text
    ("t-trailing-spaces", E, text(5), H("C1C2C34040"), "ABC"),
    ("t-leading-spaces-kept", E, text(3), H("4040C1"), "  A"),
    ("t-low-values-are-spaces", E, text(4), H("C100C140"), "A A"),
    ("t-nl-is-u0085", E, text(3), H("C115C2"), "A\u0085B"),
    ("t-lf", E, text(3), H("C125C2"), "A\nB"),
    ("t-ht", E, text(3), H("C105C2"), "A\tB"),
    ("t-cr", E, text(3), H("C10DC2"), "A\rB"),
    ("t-control-kept-at-end", E, text(3), H("C11540"), "A\u0085"),
    ("t-all-low-values", E, text(4), H("00000000"), ""),
    ("t-all-spaces", E, text(4), H("40404040"), ""),
    ("t-lower-and-punctuation", E, text(6), H("8182836B4B7D"), "abc,.'"),
    ("t-ascii", A, text(6), b"SMITH ", "SMITH"),
    ("t-ascii-high-byte", A, text(4), b"AB\x80C", INVALID),
    ("t-latin1", "latin-1", text(4), b"\xc4RZ ", "\u00c4RZ"),
    ("t-utf8", "utf-8", text(5), b"\xc3\x84RZ ", "\u00c4RZ"),
    ("t-utf8-invalid", "utf-8", text(3), b"A\xffB", INVALID),
]


def test_the_table_is_large_and_ids_unique():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id, encoding, field, data, expected", CASES, ids=[c[0] for c in CASES])
def test_conformance(case_id, encoding, field, data, expected):
    assert len(data) == field.length, "the case's bytes must fill the field"
    assert outcome(decode([data], field, encoding), 0) == expected


def _groups() -> dict:
    groups: dict = {}
    for case_id, encoding, field, data, expected in CASES:
        groups.setdefault((encoding, field), []).append((data, expected))
    return {key: rows for key, rows in groups.items() if len(rows) > 1}


@pytest.mark.parametrize("key", list(_groups()), ids=lambda key: f"{key[0]}-{key[1].usage}-{key[1].pic}"
                         f"{key[1].digits}.{key[1].scale}{'s' if key[1].signed else ''}")
def test_conformance_many_rows_at_once(key):
    """The cases of one field decoded together, each row twice and in reverse too: valid, blank and
    invalid rows side by side must not affect one another."""
    encoding, field = key
    rows = _groups()[key]
    rows = rows + rows[::-1]
    decoded = decode([data for data, _ in rows], field, encoding)
    assert [outcome(decoded, i) for i in range(len(rows))] == [expected for _, expected in rows]


def test_no_rows():
    for field in (text(3), zoned(3), zoned(3, 2, True), packed(5), binary(2, 4), binary(8, 18, signed=False),
                  hfp(4), hfp(8), edited("ZZ9", 3)):
        decoded = decode_field(np.empty((0, field.length), dtype=np.uint8), field, codec_for("cp037"))
        assert len(decoded.values) == 0


def test_invalid_is_none_when_every_row_is_fine():
    decoded = decode([H("12345C"), H("000000")], packed(5, 2), "cp037")
    assert decoded.invalid is None and list(decoded.values) == ["123.45", ""]


def test_binary_longer_than_eight_bytes():
    # COMP-5 of 16 bytes (e.g. PIC S9(38) under ARITH(EXTEND) on some compilers): Python integers
    decoded = decode([H("FF" * 16), H("7F" + "FF" * 15)], binary(16, 38), "cp037")
    assert list(decoded.values) == ["-1", "170141183460469231731687303715884105727"]


def test_decimal_text_directly():
    digits = np.array([[0, 0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 0, 5], [0, 0, 0, 0, 0, 0, 0]], dtype=np.uint8)
    negative = np.array([False, True, True])
    assert list(decimal_text(digits, negative, 2)) == ["123.45", "-0.05", "0.00"]
    assert list(decimal_text(digits, negative, 0)) == ["12345", "-5", "0"]
    assert list(decimal_text(digits, negative, -2)) == ["1234500", "-500", "0"]
    assert list(decimal_text(digits, negative, 9)) == ["0.000012345", "-0.000000005", "0.000000000"]
    assert list(decimal_text(digits, None, 0, keep_zeros=True)) == ["0012345", "0000005", "0000000"]


# ------------------------------------------------------------------ property tests: independent encoders

ASCII_POSITIVE, ASCII_NEGATIVE, MICRO_FOCUS_NEGATIVE = "{ABCDEFGHI", "}JKLMNOPQR", "pqrstuvwxy"


def encode_zoned(value: int, digits: int, signed: bool, leading: bool, separate: bool, ebcdic: bool,
                 draw) -> bytes:
    """The bytes of a zoned decimal, by the rules: one byte per digit, zone F (EBCDIC) or 3 (ASCII);
    the sign overpunched on the last (or first) digit or in a byte of its own."""
    text = str(abs(value)).rjust(digits, "0")
    assert len(text) == digits
    plain = [(0xF0 if ebcdic else 0x30) + int(d) for d in text]
    negative = value < 0 or (signed and value == 0 and draw(st.booleans()))  # zero may carry a minus
    if not signed:
        if draw(st.booleans()):  # a C zone on the last byte of an unsigned field: same value
            d = int(text[-1])
            plain[-1] = 0xC0 + d if ebcdic else ord(ASCII_POSITIVE[d])
        return bytes(plain)
    if separate:
        sign = (0x60 if negative else 0x4E) if ebcdic else ord("-" if negative else "+")
        return bytes([sign] + plain) if leading else bytes(plain + [sign])
    at = 0 if leading else digits - 1
    d = int(text[at])
    if ebcdic:
        zone = draw(st.sampled_from([0xD, 0xB] if negative else [0xC, 0xA, 0xE, 0xF]))
        plain[at] = zone * 16 + d
    else:
        choices = [MICRO_FOCUS_NEGATIVE[d], ASCII_NEGATIVE[d]] if negative else [ASCII_POSITIVE[d], text[at]]
        plain[at] = ord(draw(st.sampled_from(choices)))
    return bytes(plain)


def encode_packed(value: int, digits: int, signed: bool, draw) -> bytes:
    """Two digits a byte, the sign in the last nibble; an even digit count starts with a 0 nibble."""
    text = str(abs(value)).rjust(digits, "0")
    if digits % 2 == 0:
        text = "0" + text
    if signed:
        negative = value < 0 or (value == 0 and draw(st.booleans()))
        sign = draw(st.sampled_from("DB" if negative else "CAEF"))
    else:
        sign = draw(st.sampled_from("FC"))
    return bytes.fromhex(text + sign)


EXACT = Context(prec=100)  # Decimal's default 28 digits would round the 31-digit values


def expected_decimal(value: int, scale: int) -> Decimal:
    return Decimal(value).scaleb(-scale, context=EXACT)


def check_number_text(text: str, value: int, scale: int) -> None:
    """Exactly the value, and in the output form: no leading zeros, no minus zero, `scale` decimals."""
    assert Decimal(text) == expected_decimal(value, scale)
    fraction = f"\\.[0-9]{{{scale}}}" if scale > 0 else ""
    assert re.fullmatch(f"-?(0|[1-9][0-9]*){fraction}", text), text
    if Decimal(text) == 0:
        assert not text.startswith("-")


CODE_PAGES = st.sampled_from(("cp037", "ascii", "latin-1") + EBCDIC_CODE_PAGES)


@st.composite
def zoned_cases(draw):
    digits = draw(st.integers(1, 31))
    scale = draw(st.integers(-3, digits + 3))
    signed = draw(st.booleans())
    leading = signed and draw(st.booleans())
    separate = signed and draw(st.booleans())
    magnitude = draw(st.integers(0, 10 ** digits - 1))
    value = -magnitude if signed and draw(st.booleans()) else magnitude
    encoding = draw(CODE_PAGES)
    data = encode_zoned(value, digits, signed, leading, separate, codec_for(encoding).ebcdic, draw)
    # leading zeros may be spaces, but not the byte carrying a leading overpunch, nor all of them
    spaces = 0
    if not (leading and not separate) and digits > 1:
        zeros = len(str(magnitude).rjust(digits, "0")) - len(str(magnitude).lstrip("0") or "0")
        spaces = draw(st.integers(0, min(zeros, digits - 1)))
    if spaces:
        start = 1 if leading and separate else 0
        space = codec_for(encoding).space
        data = data[:start] + bytes([space]) * spaces + data[start + spaces:]
    return zoned(digits, scale, signed, leading, separate), value, encoding, data, spaces


@settings(max_examples=400, deadline=None)
@given(zoned_cases())
def test_zoned_round_trip(case):
    field, value, encoding, data, spaces = case
    decoded = decode([data], field, encoding)
    assert decoded.invalid is None, data.hex()
    out = decoded.values[0]
    if not field.signed and field.scale == 0:  # digits as written; leading spaces dropped
        assert out == str(value).rjust(field.digits, "0")[spaces:]
    else:
        check_number_text(out, value, field.scale)


@st.composite
def packed_cases(draw):
    digits = draw(st.integers(1, 31))
    scale = draw(st.integers(-3, digits + 3))
    signed = draw(st.booleans())
    magnitude = draw(st.integers(0, 10 ** digits - 1))
    value = -magnitude if signed and draw(st.booleans()) else magnitude
    return packed(digits, scale, signed), value, encode_packed(value, digits, signed, draw)


@settings(max_examples=400, deadline=None)
@given(packed_cases(), CODE_PAGES)
def test_packed_round_trip(case, encoding):
    field, value, data = case
    decoded = decode([data], field, encoding)
    assert decoded.invalid is None, data.hex()
    check_packed_text(decoded.values[0], value, field)


@st.composite
def binary_cases(draw):
    length = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8]))
    signed = draw(st.booleans())
    bits = 8 * length
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    value = draw(st.integers(low, high) | st.sampled_from([low, high, 0, -1 if signed else 1]))
    scale = draw(st.integers(-3, 22))
    usage = draw(st.sampled_from(["COMP", "COMP-5"]))
    return binary(length, 18, scale, signed, usage), value, value.to_bytes(length, "big", signed=signed)


@settings(max_examples=400, deadline=None)
@given(binary_cases())
def test_binary_round_trip(case):
    field, value, data = case
    decoded = decode([data], field, "cp037")
    assert decoded.invalid is None
    check_number_text(decoded.values[0], value, field.scale)


@settings(max_examples=100, deadline=None)
@given(st.lists(packed_cases(), min_size=1, max_size=30), st.data())
def test_packed_many_rows_of_one_field(cases, data):
    """Random rows of one field in one array, some blank, some invalid: each row reads as alone."""
    field = cases[0][0]
    rows, expected = [], []
    for _, value, _ in cases:
        magnitude = abs(value) % 10 ** field.digits
        value = -magnitude if value < 0 and field.signed else magnitude
        kind = data.draw(st.sampled_from(["value", "value", "value", "blank", "bad"]))
        if kind == "blank":
            rows.append(bytes([data.draw(st.sampled_from([0x00, 0x40]))]) * field.length)
            expected.append("")
        elif kind == "bad":
            good = encode_packed(value, field.digits, field.signed, data.draw)
            rows.append(bytes([0xA0 | (good[0] & 0x0F)]) + good[1:])  # first nibble A: no digit
            expected.append(INVALID)
        else:
            rows.append(encode_packed(value, field.digits, field.signed, data.draw))
            expected.append(value)
    decoded = decode(rows, field, "cp037")
    for i, want in enumerate(expected):
        got = outcome(decoded, i)
        if isinstance(want, int):
            check_packed_text(got, want, field)
        else:
            assert got == want


def check_packed_text(text: str, value: int, field) -> None:
    """An unsigned whole number keeps its digits as written (a packed date reads "01152023")."""
    if not field.signed and field.scale == 0:
        assert text == str(value).zfill(field.digits)
    else:
        check_number_text(text, value, field.scale)


# ------------------------------------------------------------------ IBM hexadecimal floating point

def hfp_encode(x: Fraction, size: int) -> bytes:
    """The normalised IBM HFP number nearest to x (ties to an even fraction), by the rules:
    x = fraction * 16 ** (exponent - 64), 1/16 <= fraction < 1, the fraction 6 or 14 hex digits."""
    hex_digits = 6 if size == 4 else 14
    sign = 1 if x < 0 else 0
    x = abs(x)
    if x == 0:
        return bytes(size)
    exponent = 0
    while x >= Fraction(16) ** exponent:
        exponent += 1
    while x < Fraction(16) ** (exponent - 1):
        exponent -= 1
    scaled = x * Fraction(16) ** (hex_digits - exponent)      # in [16**(n-1), 16**n)
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    rest = Fraction(rest, scaled.denominator)
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    if whole == 16 ** hex_digits:
        whole, exponent = 16 ** (hex_digits - 1), exponent + 1
    assert 0 <= exponent + 64 <= 127, "out of HFP range"
    word = (sign << (8 * size - 1)) | ((exponent + 64) << (8 * size - 8)) | whole
    return word.to_bytes(size, "big")


def hfp_value(data: bytes) -> Fraction:
    """The exact value of HFP bytes, by the rules (for checking the encoder)."""
    size = len(data)
    word = int.from_bytes(data, "big")
    bits = 8 * size - 8
    value = Fraction(word & ((1 << bits) - 1), 1 << bits) * Fraction(16) ** (((word >> bits) & 0x7F) - 64)
    return -value if word >> (8 * size - 1) else value


def test_hfp_encoder_against_known_bytes():
    assert hfp_encode(Fraction(1), 4) == H("41100000")
    assert hfp_encode(Fraction(-1), 4) == H("C1100000")
    assert hfp_encode(Fraction(1, 10), 4) == H("4019999A")
    assert hfp_encode(Fraction(1, 10), 8) == H("401999999999999A")
    assert hfp_encode(Fraction(100), 4) == H("42640000")
    assert hfp_value(H("C1180000")) == Fraction(-3, 2)


JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[+-][0-9]+)?")


def significant(text: str) -> tuple[int, int]:
    """(significant digits, exponent of the last one) of a decimal text."""
    d = Decimal(text).normalize()
    sign, digits, exponent = d.as_tuple()
    return len(digits), exponent


def check_hfp_text(data: bytes, out: str) -> None:
    size = len(data)
    assert JSON_NUMBER.fullmatch(out), out
    assert hfp_encode(Fraction(Decimal(out)), size) == data, (data.hex(), out)
    # the shortest: no decimal with one significant digit fewer encodes to the same bytes
    count, last = significant(out)
    if count > 1:
        step = Fraction(10) ** (last + 1)
        value = abs(Fraction(Decimal(out)))
        below = (value // step) * step
        for candidate in (below, below + step):
            signed = -candidate if out.startswith("-") else candidate
            assert hfp_encode(signed, size) != data, (data.hex(), out, candidate)
    # plain text between 1e-7 and 1e21, scientific outside
    magnitude = abs(Decimal(out))
    assert ("e" in out) == (magnitude < Decimal("1e-6") or magnitude >= Decimal("1e21")), out


@st.composite
def hfp_words(draw):
    size = draw(st.sampled_from([4, 8]))
    hex_digits = 6 if size == 4 else 14
    fraction = draw(st.integers(16 ** (hex_digits - 1), 16 ** hex_digits - 1)
                    | st.sampled_from([16 ** (hex_digits - 1), 16 ** hex_digits - 1]))
    exponent = draw(st.integers(1, 126))
    sign = draw(st.integers(0, 1))
    word = (sign << (8 * size - 1)) | (exponent << (8 * size - 8)) | fraction
    return word.to_bytes(size, "big")


@settings(max_examples=400, deadline=None)
@given(hfp_words())
def test_hfp_any_normalised_value(data):
    decoded = decode([data], hfp(len(data)), "cp037")
    check_hfp_text(data, decoded.values[0])


@st.composite
def decimals_in_hfp_range(draw):
    digits = draw(st.integers(1, 20))
    mantissa = draw(st.integers(-(10 ** digits - 1), 10 ** digits - 1).filter(lambda m: m != 0))
    exponent = draw(st.integers(-70, 50))
    return Decimal(mantissa).scaleb(exponent, context=EXACT)


@settings(max_examples=400, deadline=None)
@given(decimals_in_hfp_range(), st.sampled_from([4, 8]))
def test_hfp_random_decimals(number, size):
    """A decimal stored as the nearest HFP number reads back as text that stores the same."""
    data = hfp_encode(Fraction(number), size)
    decoded = decode([data], hfp(size), "cp037")
    check_hfp_text(data, decoded.values[0])
    # and it is near the decimal stored: within the precision of the format
    relative = abs(Fraction(Decimal(decoded.values[0])) - Fraction(number)) / abs(Fraction(number))
    assert relative <= Fraction(2, 16 ** (5 if size == 4 else 13))


def test_hfp_unnormalised_reads_as_its_value():
    # 0x42 0x010000: 0x010000 / 16**6 * 16**2 = 1.
    # 0x41 0x000800: 0x000800 / 16**6 * 16**1 = 2048 / 16777216 * 16 = 1/512 = 0.001953125, which
    # needs all 7 digits: a step of the normalised fraction there is 16**-8 (about 2.3e-10).
    decoded = decode([H("42010000"), H("41000800")], hfp(4), "cp037")
    assert list(decoded.values) == ["1", "0.001953125"]


def test_hfp_same_value_many_rows():
    decoded = decode([H("41180000"), H("C1180000"), H("41180000"), H("00000000")], hfp(4), "cp037")
    assert list(decoded.values) == ["1.5", "-1.5", "1.5", "0"]


# ------------------------------------------------------------------ vectorisation

def lines_run(call) -> int:
    """How many Python lines of the decoding module `call` runs."""
    count = 0
    target = decoding.__file__

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != target:
            return None
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count


VECTORISED = [
    ("zoned-unsigned", zoned(8), [H("F2F0F2F3F0F1F1F5"), H("4040F1F2F3F4F5F6"), H("4040404040404040"),
                                  H("F1F2C1F4F5F6F7F8")]),
    ("zoned-signed", zoned(7, 2, True), [H("F0F0F1F2F3F4D5"), H("4040F1F2F3F4C5"), H("40404040404040"),
                                         H("F0F0F1C2F3F4D5")]),
    ("zoned-separate", zoned(5, 2, True, leading=True, separate=True),
     [H("60F0F0F1F2F3"), H("4EF0F0F1F2F3"), H("404040404040"), H("40F0F0F1F2F3")]),
    ("packed", packed(9, 2), [H("000000123D"), H("000000123C"), H("0000000000"), H("000000123A"),
                              H("00000012A3")]),
    ("comp", binary(4, 9, 2), [H("FFFFFF85"), H("00000000"), H("7FFFFFFF")]),
    ("comp-5-unsigned", binary(8, 18, 0, False, "COMP-5"), [H("FFFFFFFFFFFFFFFF"), H("0000000000000001")]),
    ("text", text(6), [H("C1C2C3404040"), H("000000000000"), H("C115C2F1F2F3")]),
]


@pytest.mark.parametrize("name, field, pattern", VECTORISED, ids=[v[0] for v in VECTORISED])
def test_decoding_does_not_loop_over_records(name, field, pattern):
    """100k records run the same Python lines of the decoder as a few thousand: the work per record is numpy's.
    (A few thousand, not a few dozen: from MIN_VALUES rows a column is decoded per distinct value,
    a branch of its own.)"""
    codec = codec_for("cp037")
    small = cells_of(pattern * -(-MIN_VALUES // len(pattern)))
    large = cells_of(pattern * -(-100_000 // len(pattern)))
    assert large.shape[0] >= 100_000
    first = decode_field(small, field, codec)
    counts = [lines_run(lambda: decode_field(small, field, codec)),
              lines_run(lambda: decode_field(large, field, codec))]
    assert counts[0] == counts[1], counts
    second = decode_field(large, field, codec)
    assert list(second.values[:len(pattern)]) == list(first.values[:len(pattern)])


REPEATING_TEXT = [
    ("cp037", [H("C1C2C3404040"), H("000000000000"), H("C115C2F1F2F3"), H("C1C2C3404000"), H("4040404040C1"),
               H("C12540C2FF40")]),
    ("utf-8", [b"\xc3\x84RZ  ", b"A\xffB   ", b"\xe2\x80\xa8X  ", b"\xf0\x9f\x98\x80  ", b"      ", b"a\x00\x85b  "]),
]


@pytest.mark.parametrize("encoding, pattern", REPEATING_TEXT, ids=[r[0] for r in REPEATING_TEXT])
def test_repeating_text_reads_as_each_row_alone(encoding, pattern):
    """A column long enough to be decoded per distinct value (bad bytes, control characters, multi-byte
    characters and blanks among them) gives every row what the row alone gives, and the same invalid rows."""
    codec = codec_for(encoding)
    order = np.random.default_rng(7).integers(0, len(pattern), size=3 * MIN_VALUES)
    rows = [pattern[i] for i in order.tolist()]
    whole = decode_field(cells_of(rows), text(6), codec)
    alone = [decode_field(cells_of([row]), text(6), codec) for row in pattern]
    assert whole.values.tolist() == [alone[i].values[0] for i in order.tolist()]
    expected_invalid = [alone[i].invalid is not None and bool(alone[i].invalid[0]) for i in order.tolist()]
    assert (whole.invalid.tolist() if whole.invalid is not None else [False] * len(rows)) == expected_invalid
    if not codec.all_ok:  # every byte is a character in cp037
        assert any(expected_invalid) and not all(expected_invalid)


def test_rows_whose_hash_keys_collide_are_still_read_apart():
    """Wide rows are hashed into one 64-bit key before they are grouped; two different rows of one key must
    still read as themselves (the grouping checks the bytes, and gives up when they differ)."""
    first = np.frombuffer(b"SMITH   JOHN    ", dtype=np.uint64).copy()
    second = first.copy()
    with np.errstate(over="ignore"):
        second[0] += np.uint64(1)
        second[1] -= _ROW_HASH  # first[0] * K + first[1] == second[0] * K + second[1] (mod 2**64)
    a, b = first.tobytes(), second.tobytes()
    assert a != b
    rows = [a, b] * MIN_VALUES
    codec = codec_for("latin-1")
    whole = decode_field(cells_of(rows), text(16), codec)
    assert whole.values[:2].tolist() == [decode_field(cells_of([r]), text(16), codec).values[0] for r in (a, b)]
    assert whole.values.tolist() == whole.values[:2].tolist() * MIN_VALUES


@pytest.mark.parametrize("name, field, pattern", VECTORISED, ids=[v[0] for v in VECTORISED])
def test_a_repeating_column_of_any_usage_reads_as_each_row_alone(name, field, pattern):
    """Numbers too are decoded once per distinct row of bytes: every row still gets what it alone gives,
    bad digits, nibbles and signs included."""
    codec = codec_for("cp037")
    order = np.random.default_rng(11).integers(0, len(pattern), size=3 * MIN_VALUES)
    whole = decode_field(cells_of([pattern[i] for i in order.tolist()]), field, codec)
    alone = [decode_field(cells_of([row]), field, codec) for row in pattern]
    assert whole.values.tolist() == [alone[i].values[0] for i in order.tolist()]
    invalid = [alone[i].invalid is not None and bool(alone[i].invalid[0]) for i in order.tolist()]
    assert (whole.invalid.tolist() if whole.invalid is not None else [False] * len(order)) == invalid
