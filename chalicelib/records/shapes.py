"""Text checked a column at a time by the shape of its characters, with no regular expression run per value.

Most values a spec checks have a fixed shape: a claim number "DC" and eight digits, a state two capitals,
an SSN nine digits, an amount "-123.45". Running `re.fullmatch` or `pd.to_numeric` once per value costs a
few hundred nanoseconds a value, most of the mapping's time. Here a column becomes a (values x width) grid
of code points (numpy's fixed-width unicode, viewed as integers), and the shape is checked one character
position at a time, for every value at once:

- `FixedShape` is a pattern that matches values of one length only, each position a set of ASCII
  characters ("DC\\d{8}", "[A-Z]{2}", "\\d{2}-\\d{7}"); `fixed_shape` makes one from a compiled pattern, or
  says None when the pattern is not of that kind (an optional group, a repeat of varying count), and the
  caller then runs the pattern itself.
- `plain_numbers` finds the values written as JSON numbers of at most 15 digits ("-0.5", "1234", never
  "+5", "1.", "1e3", " 5", "٣"), and reads them exactly: their digits as integers and the count of decimals.

Both say exactly what the regular expression would, for every value (lengths come from numpy's variable-
width strings, which keep a trailing NUL that fixed-width unicode would drop).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre
from re import _parser as sre_parser

import numpy as np

_TEXT = np.dtypes.StringDType()
ASCII = 128
ZERO, NINE, MINUS, POINT = ord("0"), ord("9"), ord("-"), ord(".")
MAX_PLAIN_DIGITS = 15  # at most this many digits: exact in int64, and the float of digits / 10**places is the
# correctly rounded value of the decimal (both exact in binary, one IEEE division), as a correct parser reads it
MAX_PLAIN_WIDTH = 24


def lengths_of(values: np.ndarray) -> np.ndarray:
    """Each value's length in characters (an object array of str)."""
    return np.strings.str_len(values.astype(_TEXT))


def grid_of(values: np.ndarray, width: int) -> np.ndarray:
    """The first `width` characters of each value as a (values x width) array of code points, 0 past the end."""
    count = len(values)
    if not width:
        return np.zeros((count, 0), dtype=np.uint32)
    return values.astype(f"<U{width}").view(np.uint32).reshape(count, width)


@dataclass(frozen=True)
class FixedShape:
    """A pattern that matches values of `len(positions)` characters, each in its position's set."""

    positions: tuple[np.ndarray, ...]  # per position, a bool table over code points 0..127 (and 128: any other)

    def matches(self, values: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Whether each value (object or StringDType array) has the shape."""
        lengths = lengths_of(values) if lengths is None else lengths
        return (lengths == len(self.positions)) & self.matches_grid(grid_of(values, len(self.positions)))

    def matches_grid(self, grid: np.ndarray) -> np.ndarray:
        """Whether each row of code points (values x len(positions)) has the shape: a table lookup a
        position, for every row at once."""
        ok = np.ones(len(grid), dtype=bool)
        for position, table in enumerate(self.positions):
            ok &= table[np.minimum(grid[:, position], ASCII)]
        return ok


def fixed_shape(pattern: re.Pattern) -> FixedShape | None:
    """The fixed shape of a pattern compiled with re.ASCII, or None when it has none."""
    if not pattern.flags & re.ASCII or pattern.flags & (re.IGNORECASE | re.LOCALE):
        return None
    try:
        items = list(sre_parser.parse(pattern.pattern, pattern.flags))
    except re.error:
        return None
    positions: list[np.ndarray] = []
    for op, arg in items:
        count = 1
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            low, high, inner = arg
            if low != high or len(inner) != 1:
                return None
            count, (op, arg) = low, list(inner)[0]
        table = _character_set(op, arg)
        if table is None:
            return None
        positions += [table] * count
    return FixedShape(tuple(positions)) if positions else None


def _character_set(op, arg) -> np.ndarray | None:
    table = np.zeros(ASCII + 1, dtype=bool)
    if op is sre.LITERAL:
        if arg >= ASCII:
            return None
        table[arg] = True
        return table
    if op is not sre.IN:
        return None
    for kind, value in arg:
        if kind is sre.LITERAL and value < ASCII:
            table[value] = True
        elif kind is sre.RANGE and value[1] < ASCII:
            table[value[0]:value[1] + 1] = True
        elif kind is sre.CATEGORY and value is sre.CATEGORY_DIGIT:
            table[ZERO:NINE + 1] = True  # re.ASCII: \d is 0-9 only
        else:
            return None  # a negated set, \w, \s, a character beyond ASCII: the pattern decides
    return table


@dataclass
class PlainNumbers:
    """Which values are JSON numbers of at most MAX_PLAIN_DIGITS digits, and their exact value."""

    plain: np.ndarray     # bool per value
    scaled: np.ndarray    # int64: the digits without the point, signed (0 where not plain)
    places: np.ndarray    # int64: digits after the point (0 where not plain)

    def floats(self) -> np.ndarray:
        """The values as floats, correctly rounded (NaN where not plain)."""
        numbers = self.scaled / 10.0 ** self.places
        numbers[~self.plain] = np.nan
        return numbers


def plain_numbers(values: np.ndarray, lengths: np.ndarray | None = None) -> PlainNumbers:
    """JSON numbers, -?(0|[1-9]\\d*)(\\.\\d+)?, read exactly; other values are left for the caller.

    Each character is classed by a table (digit, point, minus, other, past the end); the digits are read
    into an integer a character position at a time, for every value at once, and the places counted
    from the point."""
    count = len(values)
    lengths = lengths_of(values) if lengths is None else lengths
    short = (lengths > 0) & (lengths <= MAX_PLAIN_WIDTH)
    width = int(lengths[short].max()) if short.any() else 0
    if not width:
        return PlainNumbers(np.zeros(count, dtype=bool), np.zeros(count, dtype=np.int64),
                            np.zeros(count, dtype=np.int64))
    grid = grid_of(values, width)
    kinds = np.take(_NUMBER_CHARACTERS, grid, mode="clip")
    digit, point = kinds == _DIGIT, kinds == _POINT
    digits, points = np.count_nonzero(digit, axis=1), np.count_nonzero(point, axis=1)
    negative = kinds[:, 0] == _MINUS
    # Every character inside the value is a digit, a point or the first one's minus; none past its end
    # (a NUL inside a value is no number, and fixed-width unicode cannot show it: counted as past the end).
    ok = short & (np.count_nonzero(kinds == _END, axis=1) == width - lengths)
    ok &= digits + points + negative == lengths
    ok &= (points <= 1) & (digits >= 1) & (digits <= MAX_PLAIN_DIGITS)
    at_point = np.where(points == 1, np.argmax(point, axis=1), lengths)
    first = negative.view(np.int8).astype(np.int64)
    places = np.where(points == 1, lengths - at_point - 1, 0)
    whole = at_point - first
    ok &= (whole >= 1) & ((points == 0) | (places >= 1))
    ok &= (whole == 1) | (grid[np.arange(count), np.minimum(first, width - 1)] != ZERO)  # "0.5" and "10", never "05"
    # The digits without the point, read left to right a character position at a time (Horner's rule):
    # a value's point, minus and end are no digits and leave its number as it is.
    scaled = np.zeros(count, dtype=np.int64)
    for position in range(width):
        at = digit[:, position]
        scaled = np.where(at, scaled * 10 + (grid[:, position].astype(np.int64) - ZERO), scaled)
    scaled = np.where(ok, np.where(negative, -scaled, scaled), 0)
    return PlainNumbers(ok, scaled, np.where(ok, places, 0))


_END, _DIGIT, _POINT, _MINUS, _OTHER = range(5)
_NUMBER_CHARACTERS = np.full(ASCII + 1, _OTHER, dtype=np.uint8)  # by code point; 128 stands for any beyond
_NUMBER_CHARACTERS[0] = _END
_NUMBER_CHARACTERS[ZERO:NINE + 1] = _DIGIT
_NUMBER_CHARACTERS[POINT] = _POINT
_NUMBER_CHARACTERS[MINUS] = _MINUS
