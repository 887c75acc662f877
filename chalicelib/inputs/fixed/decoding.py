"""One field's bytes, a column of records at a time, to the text a CSV export of the same data would hold.

The reader cuts a chunk of fixed-width records into a 2-D array of bytes per
field (one row per record) and calls `decode_field`. The result is text, so the
records then go through the same mapping and validation as a delimited file's:
"SMITH", "123.45", "-7", "20230115", "" for a blank field. Every COBOL usage is
read exactly; no value ever goes through binary floating point:

- text (PIC X, A): each byte is its code page's character; low-values read as
  spaces and trailing spaces go. Control characters (EBCDIC NL 0x15 is U+0085,
  LF 0x25 is U+000A, HT, CR, ...) stay in the value as characters: the writer
  escapes them, and a field never becomes two lines.
- zoned decimal (DISPLAY 9, S9): one digit a byte, the sign overpunched in the
  zone of the last byte (or the first, SIGN LEADING), or a separate '+'/'-'
  byte (SIGN ... SEPARATE). Leading spaces stand for zeros.
- packed decimal (COMP-3): two digits a byte, the last nibble the sign.
- binary (COMP, COMP-4, BINARY, COMP-5): big-endian integers, two's complement
  when the PIC is signed.
- IBM hexadecimal floating point (COMP-1, COMP-2), written as the shortest
  decimal that reads back as the same value.
- numeric-edited pictures (ZZ,ZZ9.99CR, $$$9.99, ***9.99, +ZZ9, ...): the
  digits and the sign read back from the printed characters.

A number is written as plain decimal text: an optional "-", the whole digits
without leading zeros ("0" before the point), and exactly `scale` digits after
the point when scale > 0 ("123.45", "-0.05", "0.00", "7"); a negative scale
(PIC 99PPP) writes the zeros out ("12000"); zero never has a minus. The one
exception is an unsigned zoned whole number (PIC 9(n), no V or P): it keeps its
digits as written, leading zeros included ("00012", a date "20230115"), which
record specs rely on for dates and codes.

Blank fields read as "": all spaces or all low-values (0x00) in text, zoned
and edited fields; in a packed field, all low-values, all spaces (0x40 or the
file's space) or a mix of them, which can never be a packed value (its sign
nibble would be 0): cobrix reads such fields as null too. Binary and floating
fields have no blank: all 0x00 is zero and any bytes are a value.

Bytes that are no value of the field (a bad digit, nibble, zone or sign, a
character an edited picture cannot hold, a byte with no character in the
encoding) mark the row in `Decoded.invalid`; its value is "". Messages about
them are the caller's, and must not quote the bytes (personal data).

Speed: text, zoned, packed and binary fields are decoded with whole-column
numpy operations, never a Python loop over records (each function below says
how); a chunk of 100k records costs a few array passes per field. A column whose values repeat
is decoded once per distinct value (found by hashing each row's bytes, checked byte for byte). Edited
fields loop in Python over the picture's symbols (a dozen), not the records.
Floating point loops over the distinct values: COMP-1/COMP-2 are rare in
business records, and exact shortest-decimal conversion is integer arithmetic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from chalicelib.distinct import MIN_VALUES, SAMPLE, may_repeat, repeats
from chalicelib.inputs.fixed.codepages import Codec
from chalicelib.inputs.fixed.layout import FieldLayout

SPACE, ZERO_CHAR, MINUS, POINT = ord(" "), ord("0"), ord("-"), ord(".")
# Floating point is written in plain decimal for 1e-6 <= |x| < 1e21 and in scientific notation
# ("1.5e-7", "4.722367e+21") outside: the rule of JavaScript's Number#toString, so the text is
# what a JSON writer would print for the same number. Plain text then stays short (at most 21
# digits before the point, 5 zeros after it) and both forms are valid JSON numbers.
PLAIN_MIN_EXPONENT, PLAIN_MAX_EXPONENT = -6, 20
# Bytes of a packed field that can only be blank: low-values and spaces (EBCDIC and ASCII).
# All have a low nibble of 0, which is never a sign, so calling them blank never hides a value.
_PACKED_BLANK = np.zeros(256, dtype=bool)
_PACKED_BLANK[[0x00, 0x40, 0x20]] = True


@dataclass
class Decoded:
    """One field's values, one per record."""

    values: np.ndarray            # object array of str: the value as text ("" when blank or invalid)
    invalid: np.ndarray | None    # bool per row: the bytes are no value of this field; None when all are fine


def decode_field(cells: np.ndarray, field: FieldLayout, codec: Codec) -> Decoded:
    """Decode one field of many records: `cells` is uint8 (records, field.length), a record a row.

    A value is a function of its field's bytes alone, so a column whose values repeat (states, codes,
    names, dates) is decoded once per distinct row of bytes, and every row shares its row's str (the
    mapping's own factorize then hashes each distinct value once)."""
    if cells.ndim != 2:
        raise ValueError("cells must be a 2-D array: one row of bytes per record")
    distinct = _distinct_rows(cells) if len(cells) >= MIN_VALUES and cells.shape[1] else None
    if distinct is not None:
        codes, first = distinct
        decoded = _decode_rows(cells[first], field, codec)
        return Decoded(decoded.values[codes], None if decoded.invalid is None else decoded.invalid[codes])
    return _decode_rows(cells, field, codec)


def _decode_rows(cells: np.ndarray, field: FieldLayout, codec: Codec) -> Decoded:
    if field.category == "alphanumeric":
        return decode_text(cells, codec)
    if field.category == "float" or field.usage in ("COMP-1", "COMP-2"):
        return _hfp(cells)
    if field.category == "edited":
        return _edited(cells, field, codec)
    if field.usage == "DISPLAY":
        return _zoned(cells, field, codec)
    if field.usage == "COMP-3":
        return _packed(cells, field)
    if field.usage in ("COMP", "COMP-5"):
        return _binary(cells, field)
    raise ValueError(f"field {field.name}: usage {field.usage!r} is not one this decodes")


def _result(count: int, valid: np.ndarray, blank: np.ndarray | None, text: np.ndarray) -> Decoded:
    """Values for all rows from the text of the valid ones; blank rows read "" and are not invalid."""
    if valid.all():
        return Decoded(text, None)
    out = np.full(count, "", dtype=object)
    out[valid] = text
    invalid = ~valid if blank is None else ~valid & ~blank
    return Decoded(out, invalid if invalid.any() else None)


def _blank_rows(cells: np.ndarray, valid: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Which rows hold only bytes `table` calls blank; only the rows not `valid` are looked at."""
    blank = np.zeros(len(cells), dtype=bool)
    others = ~valid
    if others.any():
        blank[others] = table[cells[others]].all(axis=1)
    return blank


# ------------------------------------------------------------------ text

def decode_text(cells: np.ndarray, codec: Codec) -> Decoded:
    """Text without trailing spaces. Vectorised: a 256-entry table turns the bytes into code points,
    viewed in place as one numpy string per row; only UTF-8 values with bytes above 0x7F are decoded
    one by one."""
    count, width = cells.shape
    while width and codec.blank[cells[:, width - 1]].all():
        width -= 1  # the columns every value leaves blank go first
    cells = cells[:, :width]
    if not width:
        return Decoded(np.full(count, "", dtype=object), None)
    chars = codec.text[cells]
    # Trailing spaces go by writing NULs over them, which fixed-width unicode does not hold: one pass over
    # the grid rather than a string function per value. (A NUL the code page gives goes with them, as
    # numpy drops trailing NULs anyway.)
    kept = (chars != SPACE) & (chars != 0)
    ends = width - np.argmax(kept[:, ::-1], axis=1)
    ends[~kept.any(axis=1)] = 0
    chars *= np.arange(width) < ends[:, None]
    values = chars.view(f"U{width}").reshape(count).astype(object)
    if codec.all_ok:
        return Decoded(values, None)
    bad = ~codec.text_ok[cells].all(axis=1)
    if codec.utf8 and bad.any():
        for i in np.flatnonzero(bad).tolist():
            try:
                values[i] = bytes(cells[i]).decode("utf-8").replace("\x00", " ").rstrip(" ")
                bad[i] = False
            except UnicodeDecodeError:
                pass
    if not bad.any():
        return Decoded(values, None)
    values[bad] = ""
    return Decoded(values, bad)


_ROW_HASH = np.uint64(0x9E3779B97F4A7C15)  # an odd multiplier: the rows' 8-byte words are mixed by it


def _distinct_rows(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's code and the first row of each code, when the rows repeat (chalicelib.distinct); else None.

    The rows' bytes are read as 8-byte words and mixed into one 64-bit key per row, which pandas'
    hash table factorizes; two rows of one key are then checked byte for byte to be equal, so a
    collision of keys can only cost the shortcut (None), never a wrong value."""
    count = len(cells)
    if not may_repeat(count, len(np.unique(_row_keys(cells[:SAMPLE])[1]))):
        return None  # the values hardly repeat (claim numbers, SSNs, amounts): not worth a hash table
    padded, mixed = _row_keys(cells)
    codes, uniques = pd.factorize(mixed)
    if not repeats(count, len(uniques)):
        return None
    # pd.factorize numbers keys in the order they first appear: a row is a code's first where the
    # running maximum of the codes grows.
    grows = np.empty(count, dtype=bool)
    grows[0] = True
    np.greater(codes[1:], np.maximum.accumulate(codes)[:-1], out=grows[1:])
    first = np.flatnonzero(grows)
    if not np.array_equal(padded, padded[first][codes]):
        return None
    return codes, first


def _row_keys(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows padded to whole 8-byte words, and each row's words mixed into one 64-bit key."""
    count, width = cells.shape
    words = -(-width // 8)
    padded = np.zeros((count, words * 8), dtype=np.uint8)
    padded[:, :width] = cells
    key = padded.view(np.uint64)
    mixed = key[:, 0].copy()
    with np.errstate(over="ignore"):
        for i in range(1, words):
            mixed = mixed * _ROW_HASH + key[:, i]
    return padded, mixed


# ------------------------------------------------------------------ decimal text

def decimal_text(digits: np.ndarray, negative: np.ndarray | None, scale: int, keep_zeros: bool = False
                 ) -> np.ndarray:
    """Digits (uint8, one row a value, most significant first) as decimal text, the last `scale` of
    them after the point: [0,0,1,2,3,4,5], scale 2 -> "123.45"; scale -3 appends three zeros. Leading
    zeros go (but the units digit), a minus comes when `negative` and the value is not zero. With
    `keep_zeros` (scale 0 only) the digits are written as they are, leading zeros kept, no sign.

    Vectorised: the characters are written into a (values, width) grid of code points, which is
    viewed in place as one numpy string per row."""
    count = digits.shape[0]
    digits = digits.astype(np.uint8, copy=False)
    if scale < 0:  # P positions at the right: the zeros they stand for
        digits = np.concatenate([digits, np.zeros((count, -scale), dtype=np.uint8)], axis=1)
        scale = 0
    places = digits.shape[1]
    if keep_zeros and not scale:
        grid = np.ascontiguousarray(digits, dtype=np.uint32) + ZERO_CHAR
        return grid.view(f"U{places}").reshape(count).astype(object)
    if places <= scale:  # PIC V99 or VPP99: a units zero and the zeros the P positions stand for
        digits = np.concatenate([np.zeros((count, scale + 1 - places), dtype=np.uint8), digits], axis=1)
        places = scale + 1
    whole = places - scale
    width = 1 + places + (1 if scale else 0)
    grid = np.empty((count, width), dtype=np.uint32)   # column 0 holds the sign
    grid[:, 0] = SPACE
    grid[:, 1:1 + whole] = digits[:, :whole] + ZERO_CHAR
    if scale:
        grid[:, 1 + whole] = POINT
        grid[:, 2 + whole:] = digits[:, whole:] + ZERO_CHAR
    leading = None
    if whole > 1:  # zeros before the first significant digit (the units digit always stays)
        leading = np.zeros((count, whole), dtype=bool)
        leading[:, :-1] = np.logical_and.accumulate(digits[:, :whole - 1] == 0, axis=1)
        grid[:, 1:1 + whole][leading] = SPACE
    if negative is not None:
        minus = np.flatnonzero(negative & digits.any(axis=1))  # no minus zero
        if len(minus):
            grid[minus, 0 if leading is None else leading[minus].sum(axis=1)] = MINUS
    return np.strings.lstrip(grid.view(f"U{width}").reshape(count), " ").astype(object)


def _uint_digits(magnitude: np.ndarray, places: int = 20) -> np.ndarray:
    """uint64 values below 10 ** places to their decimal digits (uint8, most significant first):
    `places` vectorised divisions by 10, whatever the number of values."""
    magnitude = magnitude.astype(np.uint64, copy=True)
    digits = np.empty((len(magnitude), places), dtype=np.uint8)
    ten = np.uint64(10)
    for column in range(places - 1, -1, -1):
        digits[:, column] = magnitude % ten
        magnitude //= ten
    return digits


# ------------------------------------------------------------------ zoned decimal (DISPLAY)

def _zoned(cells: np.ndarray, field: FieldLayout, codec: Codec) -> Decoded:
    """Zoned decimal. Vectorised: 256-entry tables give each byte's digit (-1 for none) and the sign
    byte's sign, for the whole (records, bytes) array at once; a cumulative AND along the rows finds
    leading spaces; the digits go to `decimal_text`."""
    count, width = cells.shape
    separate = field.signed and field.sign_separate
    if separate:
        sign_byte = cells[:, 0] if field.sign_leading else cells[:, -1]
        body = cells[:, 1:] if field.sign_leading else cells[:, :-1]
    else:
        body = cells
    n = body.shape[1]
    if n == 0:
        raise ValueError(f"field {field.name}: a zoned decimal needs at least one digit byte")
    values = codec.digit[body]                  # int8, -1 where the byte is not a plain digit
    negative = None
    valid = None
    if separate:  # '+' or '-' in a byte of its own; anything else (a space too) is no sign
        negative = sign_byte == codec.minus
        valid = negative | (sign_byte == codec.plus)
    elif field.signed:  # the sign is the zone of the first (SIGN LEADING) or last digit byte
        at = 0 if field.sign_leading else n - 1
        values[:, at] = codec.sign_digit[body[:, at]]
        negative = codec.sign[body[:, at]] < 0
    else:  # unsigned: zone F, or C (positive); never a negative zone
        values[:, -1] = codec.unsigned_digit[body[:, -1]]
    # Leading spaces stand for zeros: a run from the first digit byte, never all of them (that
    # is a blank field), and never the byte that carries a leading overpunched sign.
    lead = None
    if (body[:, 0] == codec.space).any() and n > 1:
        spaces = body == codec.space
        spaces[:, -1] = False
        if field.signed and not separate and field.sign_leading:
            spaces[:, 0] = False
        lead = np.logical_and.accumulate(spaces, axis=1)
        values[lead] = 0
    ok = (values >= 0).all(axis=1)
    valid = ok if valid is None else valid & ok
    blank = None if valid.all() else _blank_rows(cells, valid, codec.blank)
    digits = values[valid].view(np.uint8)  # valid rows hold 0-9 only
    if not field.signed and field.scale == 0:
        # An unsigned whole number (a date, a code): its digits as written, leading zeros kept,
        # leading spaces dropped.
        grid = digits.astype(np.uint32) + ZERO_CHAR
        if lead is not None:
            grid[lead[valid]] = SPACE
        text = grid.view(f"U{n}").reshape(-1)
        if lead is not None:
            text = np.strings.lstrip(text, " ")
        return _result(count, valid, blank, text.astype(object))
    return _result(count, valid, blank, decimal_text(digits, None if negative is None else negative[valid],
                                                     field.scale))


# ------------------------------------------------------------------ packed decimal (COMP-3)

def _packed(cells: np.ndarray, field: FieldLayout) -> Decoded:
    """Packed decimal. Vectorised: the (records, bytes) array is split into a (records, 2 * bytes)
    array of nibbles with two shifts; digit and sign checks are comparisons on whole columns."""
    count, width = cells.shape
    nibbles = np.empty((count, 2 * width), dtype=np.uint8)
    nibbles[:, 0::2] = cells >> 4
    nibbles[:, 1::2] = cells & 0x0F
    digits, sign = nibbles[:, :-1], nibbles[:, -1]
    valid = (digits <= 9).all(axis=1)
    excess = digits.shape[1] - field.digits if field.digits else 0
    if excess > 0:  # an even digit count leaves a first nibble, which must be 0
        valid &= (digits[:, :excess] == 0).all(axis=1)
        digits = digits[:, excess:]
    if field.signed:  # C, A, E, F positive; D, B negative (C and D are what IBM writes)
        valid &= sign >= 0xA
        negative = (sign == 0xB) | (sign == 0xD)
    else:  # unsigned: F as IBM writes it; C (a MOVE from a signed field may leave it) reads the same
        valid &= (sign == 0xF) | (sign == 0xC)
        negative = None
    blank = None if valid.all() else _blank_rows(cells, valid, _PACKED_BLANK)
    # An unsigned whole number keeps its digits as written, as in a zoned field: a date or a code
    # packed as PIC 9(8) COMP-3 reads "01152023", not "1152023".
    text = decimal_text(digits[valid], None if negative is None else negative[valid], field.scale,
                        keep_zeros=not field.signed and field.scale == 0)
    return _result(count, valid, blank, text)


# ------------------------------------------------------------------ binary (COMP, COMP-4, BINARY, COMP-5)

def _binary(cells: np.ndarray, field: FieldLayout) -> Decoded:
    """Big-endian binary integers, two's complement when signed, times 10 ** -scale.

    The bytes are decoded as they are, whatever the PIC's digit count: COMP under TRUNC(STD) holds
    at most the PIC's digits, but TRUNC(BIN) and COMP-5 use the whole binary range, and a value
    above the PIC (PIC S9(4) COMP holding 10000) is still the number the bytes spell; rejecting it
    would lose data the program could read.

    Vectorised up to 8 bytes: each row is sign-extended to 8 bytes, the array viewed in place as
    big-endian int64 (or uint64 when unsigned: an 8-byte unsigned value may pass 2**63), and the
    magnitudes split into digits by `_uint_digits`. Longer fields (COMP-5 of more than 18 digits,
    which few compilers allow) are converted a value at a time with Python integers."""
    count, width = cells.shape
    signed = field.signed
    if width > 8:
        numbers = [int.from_bytes(bytes(row), "big", signed=signed) for row in cells]
        text = [_scaled_int_text(v, field.scale) for v in numbers]
        return Decoded(np.array(text, dtype=object) if count else np.empty(0, dtype=object), None)
    padded = np.zeros((count, 8), dtype=np.uint8)
    if signed and width < 8:
        padded[:, :8 - width] = np.where(cells[:, :1] >= 0x80, 0xFF, 0).astype(np.uint8)
    padded[:, 8 - width:] = cells
    if signed:
        value = padded.view(">i8").reshape(count)
        negative = value < 0
        magnitude = value.astype(np.int64).view(np.uint64)
        # two's complement magnitude, in uint64 so that -2**63 comes out right
        magnitude = np.where(negative, ~magnitude + np.uint64(1), magnitude)
    else:
        magnitude = padded.view(">u8").reshape(count).astype(np.uint64)
        negative = None
    places = len(str(1 << (8 * width)))  # enough for any value of `width` bytes: 5 for 2, 10 for 4
    text = decimal_text(_uint_digits(magnitude, places), negative, field.scale)
    return Decoded(text, None)


def _scaled_int_text(value: int, scale: int) -> str:
    """One integer times 10 ** -scale as decimal text (the rare binary fields over 8 bytes)."""
    digits = np.frombuffer(str(abs(value)).encode("ascii"), dtype=np.uint8) - ZERO_CHAR
    return str(decimal_text(digits[None, :], np.array([value < 0]), scale)[0])


# ------------------------------------------------------------------ IBM hexadecimal floating point

def _hfp(cells: np.ndarray) -> Decoded:
    """COMP-1 (4 bytes) and COMP-2 (8 bytes). Vectorised only as far as finding the distinct
    values (one numpy view and np.unique); each distinct value is then converted with exact
    integer arithmetic in Python. Any bit pattern is a value, so nothing is invalid or blank."""
    count, width = cells.shape
    if width not in (4, 8):
        raise ValueError(f"an IBM floating point field is 4 (COMP-1) or 8 (COMP-2) bytes, not {width}")
    words = np.ascontiguousarray(cells).view(f">u{width}").reshape(count).astype(np.uint64)
    distinct, where = np.unique(words, return_inverse=True)
    texts = np.array([hfp_text(int(w), width) for w in distinct.tolist()] or [""], dtype=object)
    return Decoded(texts[where.reshape(count)] if count else np.empty(0, dtype=object), None)


def hfp_text(word: int, size: int) -> str:
    """One IBM hexadecimal floating point number (its bytes as a big-endian integer; size 4 or 8)
    as the shortest decimal text that converts back to the same value.

    The value is (-1)**sign * fraction * 16 ** (exponent - 64), the fraction 24 (COMP-1) or 56
    (COMP-2) bits read as 0.xxxxxx in hexadecimal. "Converts back" is round to nearest, ties to an
    even fraction, into a normalised number of the same size (with the exponent unbounded, so an
    unnormalised input whose normalised form would underflow still gets its exact value's
    shortest text). Of the shortest texts, the one nearest the value. Zero, of either sign, is "0".

    The digits come from the free-format algorithm of Steele & White and Burger & Dybvig, in exact
    integer arithmetic: the value and the bounds of the interval that rounds to it are scaled to
    integers, and digits are generated until the digits so far, or the next number up at the same
    length, fall inside the interval. A digit costs a few big-integer operations (no Fraction), so
    a value takes some microseconds."""
    bits = 8 * size - 8                      # fraction bits: 24 or 56
    negative = bool(word >> (8 * size - 1))
    exponent = ((word >> bits) & 0x7F) - 64
    fraction = word & ((1 << bits) - 1)
    if fraction == 0:
        return "0"
    # Normalise: the first hexadecimal digit of the fraction non-zero (a value may be written
    # unnormalised; its value is the same).
    while fraction < 1 << (bits - 4):
        fraction <<= 4
        exponent -= 1
    # value = fraction * 2 ** (4 * exponent - bits); one step of the fraction is 2 ** (4 * exponent - bits).
    # In units of 1/32 step: value 32 * fraction; numbers up to half a step above round to it, and
    # half a step below, but 1/32 step below the smallest normalised fraction (the next number down
    # has an exponent one less, so steps 16 times smaller). Half-way rounds to an even fraction.
    unit = 4 * exponent - bits - 5           # value = (32 * fraction) * 2 ** unit
    high_margin = 16
    low_margin = 1 if fraction == 1 << (bits - 4) else 16
    closed = fraction % 2 == 0
    r, s = 32 * fraction, 1
    if unit >= 0:
        r, high_margin, low_margin = r << unit, high_margin << unit, low_margin << unit
    else:
        s <<= -unit
    # The decimal exponent k: the smallest with the interval's top below 10 ** k (at or below
    # when the top is outside the interval).
    top = r + high_margin
    k = int((top.bit_length() - s.bit_length()) * 0.30102999566398120)
    while _at_most_power(top, s, k, closed):
        k -= 1
    while not _at_most_power(top, s, k + 1, closed):
        k += 1
    k += 1
    if k >= 0:
        s *= 10 ** k
    else:
        scale = 10 ** -k
        r, high_margin, low_margin = r * scale, high_margin * scale, low_margin * scale
    digits = []
    while True:
        digit, r = divmod(r * 10, s)
        high_margin *= 10
        low_margin *= 10
        low_done = r <= low_margin if closed else r < low_margin          # the digits so far are inside
        high_done = r + high_margin >= s if closed else r + high_margin > s  # one more in the last digit is
        if low_done and (not high_done or 2 * r < s or (2 * r == s and digit % 2 == 0)):
            digits.append(digit)
            break
        if high_done:
            digits.append(digit + 1)
            break
        digits.append(digit)
    mantissa = 0
    for digit in digits:  # arithmetic, not text: a last digit rounded up to 10 carries
        mantissa = mantissa * 10 + digit
    return _float_text(negative, mantissa, k - len(digits))


def _at_most_power(top: int, s: int, k: int, closed: bool) -> bool:
    """Whether top / s < 10 ** k (<= when the top bound is not in the interval)."""
    left, right = (top, s * 10 ** k) if k >= 0 else (top * 10 ** -k, s)
    return left < right if closed else left <= right


def _float_text(negative: bool, mantissa: int, exponent: int) -> str:
    """mantissa * 10 ** exponent as text: plain decimal when the first digit's exponent is in
    [PLAIN_MIN_EXPONENT, PLAIN_MAX_EXPONENT], scientific notation otherwise."""
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    digits = str(mantissa)
    first = exponent + len(digits) - 1     # the exponent of the first significant digit
    sign = "-" if negative else ""
    if PLAIN_MIN_EXPONENT <= first <= PLAIN_MAX_EXPONENT:
        if exponent >= 0:
            return sign + digits + "0" * exponent
        point = len(digits) + exponent
        if point > 0:
            return f"{sign}{digits[:point]}.{digits[point:]}"
        return f"{sign}0.{'0' * -point}{digits}"
    tail = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if first >= 0 else '-'}{abs(first)}"


# ------------------------------------------------------------------ numeric-edited pictures

# What each symbol of an edit mask is, for the column decoder below.
_DIGIT9, _ZDIGIT, _STAR, _INSERT, _POINT, _FIXED_SIGN, _CURRENCY, _FLOAT_LEAD, _FLOAT_DIGIT, _CR, _SKIP = range(11)
_REPEAT = re.compile(r"(.)\((\d+)\)")


@lru_cache(maxsize=256)
def _edit_plan(mask: str) -> tuple[tuple[int, str], ...]:
    """The mask as (kind, symbol) per byte. A floating string (two or more of '+', '-' or '$')
    has a first symbol that only holds the sign or currency sign, and digit positions after it."""
    mask = _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), mask.upper())
    mask = mask.replace("V", "").replace("P", "")  # no bytes: the point and scaling are in `scale`
    floating = [s for s in "+-$" if mask.count(s) >= 2]
    plan: list[tuple[int, str]] = []
    seen_float = False
    i = 0
    while i < len(mask):
        s = mask[i]
        if mask.startswith(("CR", "DB"), i) and i + 2 == len(mask):
            plan += [(_CR, mask[i:i + 2]), (_SKIP, "")]
            i += 2
            continue
        if s in floating:
            plan.append((_FLOAT_DIGIT if seen_float else _FLOAT_LEAD, s))
            seen_float = True
        elif s == "9":
            plan.append((_DIGIT9, s))
        elif s == "Z":
            plan.append((_ZDIGIT, s))
        elif s == "*":
            plan.append((_STAR, s))
        elif s == ".":
            plan.append((_POINT, s))
        elif s in ",0/":
            plan.append((_INSERT, s))
        elif s == "B":
            plan.append((_INSERT, " "))
        elif s in "+-":
            plan.append((_FIXED_SIGN, s))
        elif s == "$":
            plan.append((_CURRENCY, s))
        else:
            raise ValueError(f"edit mask {mask!r}: symbol {s!r} is not one of a numeric-edited picture")
        i += 1
    return tuple(plan)


def _edited(cells: np.ndarray, field: FieldLayout, codec: Codec) -> Decoded:
    """A numeric-edited field: read the digits and the sign back from the characters the picture
    printed. The value is the digits read (suppressed positions count as 0) with `scale` digits
    after the point.

    What each position may hold follows the editing rules: '9' a digit; 'Z' and '*' a digit, or
    before the first significant digit a space or '*'; insertion characters (, B 0 /) themselves,
    or the fill character before the first digit; a floating string ($$$, +++, ---) spaces, then
    its symbol once, then digits; '+' '+' or '-'; '-' ' ' or '-'; CR and DB those or two spaces.
    Anything else makes the row invalid.

    Vectorised over records: the loop is over the picture's positions, each a column of code
    points checked against what that position may hold, with per-row state (a digit seen, the
    floating symbol placed, the sign)."""
    count, width = cells.shape
    plan = _edit_plan(field.edit_mask)
    if len(plan) != width:
        raise ValueError(f"field {field.name}: edit mask {field.edit_mask!r} has {len(plan)} positions "
                         f"for {width} bytes")
    chars = codec.text[cells].astype(np.int64)
    if not codec.all_ok:
        chars[~codec.text_ok[cells]] = -1  # no character: fits no position
    fill = ord("*") if any(kind == _STAR for kind, _ in plan) else SPACE
    shown = np.zeros(count, dtype=bool)      # a digit (or the floating symbol) has been printed
    placed = np.zeros(count, dtype=bool)     # the floating symbol has been printed
    negative = np.zeros(count, dtype=bool)
    star_after_point = np.zeros(count, dtype=bool)
    good = np.ones(count, dtype=bool)
    after_point = False
    float_symbol = ""
    columns: list[np.ndarray] = []
    for j, (kind, symbol) in enumerate(plan):
        c = chars[:, j]
        is_digit = (c >= ZERO_CHAR) & (c <= ZERO_CHAR + 9)
        space = c == SPACE
        if kind in (_DIGIT9, _ZDIGIT, _STAR, _FLOAT_DIGIT):
            columns.append(np.where(is_digit, c - ZERO_CHAR, 0).astype(np.uint8))
        if kind == _DIGIT9:
            good &= is_digit
            shown |= True
        elif kind == _ZDIGIT:
            good &= is_digit | (space & ~shown & (not after_point))
            shown |= is_digit
        elif kind == _STAR:
            star = c == ord("*")
            good &= is_digit | (star & ~shown)
            if after_point:  # only "***.**" for zero: then no digit anywhere
                star_after_point |= star
            shown |= is_digit
        elif kind == _INSERT:
            good &= (c == ord(symbol)) | ((c == fill) & ~shown)
        elif kind == _POINT:
            good &= c == POINT
            after_point = True
        elif kind == _FIXED_SIGN:
            minus = c == MINUS
            good &= minus | ((c == ord("+")) if symbol == "+" else space)
            negative |= minus
        elif kind == _CURRENCY:
            good &= c == ord("$")
        elif kind in (_FLOAT_LEAD, _FLOAT_DIGIT):
            float_symbol = symbol
            if symbol == "$":
                mark = c == ord("$")
            elif symbol == "+":
                mark = (c == ord("+")) | (c == MINUS)
            else:
                mark = c == MINUS
            ok = (space & ~shown) | (mark & ~shown)
            if kind == _FLOAT_DIGIT:
                # after the symbol, digits; with '-' and a positive value there is no symbol at all
                ok |= is_digit & (shown | (symbol == "-"))
                shown |= is_digit
            good &= ok
            negative |= mark & (c == MINUS)
            placed |= mark
            shown |= mark
        elif kind == _CR:
            second = chars[:, j + 1]
            letters = (c == ord(symbol[0])) & (second == ord(symbol[1]))
            good &= letters | (space & (second == SPACE))
            negative |= letters
    if not columns:
        raise ValueError(f"field {field.name}: edit mask {field.edit_mask!r} has no digit positions")
    digits = np.stack(columns, axis=1)
    good &= ~(star_after_point & digits.any(axis=1))
    if float_symbol in ("$", "+"):
        good &= placed  # the symbol is printed once, left of the first digit
    blank = None if good.all() else _blank_rows(cells, good, codec.blank)
    return _result(count, good, blank, decimal_text(digits[good], negative[good], field.scale))
