"""COBOL PICTURE clauses: what a PIC string, with its USAGE and SIGN, says about a field's bytes.

The copybook parser (`copybook.py`) hands every elementary item's PIC, USAGE
and SIGN options to `parse_picture` and gets back a `Picture`: the category
the decoder needs, the digits and scale of a number, whether it has a sign,
and how many bytes the field takes. The rules are IBM Enterprise COBOL's
(Language Reference, PICTURE and USAGE clauses) with the default compiler
options: the decimal point is ".", the currency sign "$", and numbers have at
most 31 digits (18 in binary).

A PIC the decoder could not read exactly is refused rather than approximated:
national (N), DBCS (G), UTF-8 (U) and boolean (1) pictures, external floating
point (E), and V or P in an edited picture. Alphanumeric-edited pictures
(X or A with B, 0 or /) are plain text in the file, so they are read as
alphanumeric.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DIGITS = 31          # DISPLAY and COMP-3, as Enterprise COBOL allows with ARITH(EXTEND)
MAX_BINARY_DIGITS = 18   # COMP, COMP-4, BINARY, COMP-5: at most a doubleword

_USAGE_WORDS = {
    "DISPLAY": "DISPLAY",
    "COMP": "COMP", "COMPUTATIONAL": "COMP", "COMP-4": "COMP", "COMPUTATIONAL-4": "COMP", "BINARY": "COMP",
    "COMP-3": "COMP-3", "COMPUTATIONAL-3": "COMP-3", "PACKED-DECIMAL": "COMP-3",
    "COMP-5": "COMP-5", "COMPUTATIONAL-5": "COMP-5",
    "COMP-1": "COMP-1", "COMPUTATIONAL-1": "COMP-1",
    "COMP-2": "COMP-2", "COMPUTATIONAL-2": "COMP-2",
}
_FLOAT_LENGTH = {"COMP-1": 4, "COMP-2": 8}

_UNSUPPORTED = {
    "N": "national data (PIC N) is not supported",
    "G": "DBCS data (PIC G) is not supported",
    "U": "UTF-8 data (PIC U) is not supported",
    "1": "boolean data (PIC 1) is not supported",
    "E": "external floating point (E) is not supported",
}
_TEXT = set("XA")
_TEXT_INSERTION = set("9B0/")        # what may stand with X or A (alphanumeric-edited)
_NUMERIC = set("9SVP")
_INSERTION = set(",.B0/")            # simple and special insertion: never a digit position
_EDITED = {"9", "Z", "*", "+", "-", "CR", "DB", "$"} | _INSERTION
_SIGNS = ("+", "-", "CR", "DB")


@dataclass(frozen=True)
class Picture:
    """One elementary item's PICTURE and USAGE, understood; see `FieldLayout` for what each means."""

    pic: str             # normalised: upper case, spaces removed, e.g. "S9(7)V99"
    category: str        # "alphanumeric" | "numeric" | "edited" | "float"
    signed: bool
    digits: int
    scale: int
    length: int          # storage bytes for the given usage and sign options
    edit_mask: str = ""  # edited pictures only: one symbol per byte, "ZZ,ZZ9.99CR"


class PictureError(ValueError):
    """A PIC that is not valid, or not supported, with its USAGE and SIGN; the message says why."""


def normalise_usage(word: str) -> str | None:
    """The usage a USAGE word means, as `layout.USAGES` spells it; None if it is not one of those."""
    return _USAGE_WORDS.get(word.strip().upper())


def parse_picture(pic: str | None, usage: str = "DISPLAY", sign_leading: bool = False,
                  sign_separate: bool = False) -> Picture:
    """Understand one PIC under its USAGE and SIGN options, or raise PictureError saying what is wrong."""
    text = "".join((pic or "").split()).upper()
    normal = normalise_usage(usage)
    if normal is None:
        raise PictureError(f"USAGE {usage} is not supported")
    if normal in _FLOAT_LENGTH:
        if text:
            raise PictureError(f"PIC {text}: a USAGE {normal} item takes no PIC clause")
        if sign_leading or sign_separate:
            raise PictureError(f"the SIGN clause does not apply to USAGE {normal}")
        # Floating point always carries its own sign bit.
        return Picture("", "float", True, 0, 0, _FLOAT_LENGTH[normal])
    if not text:
        raise PictureError(f"USAGE {normal} needs a PIC clause (only COMP-1 and COMP-2 have none)")

    symbols = _expand(text)
    kinds = set(symbols)
    for symbol in symbols:
        if symbol in _UNSUPPORTED:
            raise PictureError(f"PIC {text}: {_UNSUPPORTED[symbol]}")
        if symbol not in _TEXT | _NUMERIC | _EDITED:
            raise PictureError(f"PIC {text}: {symbol!r} is not a PICTURE symbol")

    if kinds & _TEXT:
        picture = _alphanumeric(text, symbols)
    elif kinds <= _NUMERIC:
        picture = _numeric(text, symbols, normal, sign_separate)
    else:
        picture = _edited(text, symbols)
    if picture.category != "numeric" and normal != "DISPLAY":
        raise PictureError(f"PIC {text}: USAGE {normal} needs a numeric PIC (9, S, V, P)")
    if (sign_leading or sign_separate) and not (picture.category == "numeric" and picture.signed
                                                 and normal == "DISPLAY"):
        raise PictureError(f"PIC {text}: the SIGN clause needs a signed (S) numeric DISPLAY item")
    return picture


def _expand(text: str) -> list[str]:
    """The PIC one symbol per position, repeat counts written out: "S9(3)V99" -> S 9 9 9 V 9 9."""
    symbols: list[str] = []
    i = 0
    while i < len(text):
        if text[i] in "()":
            what = "a repeat count must follow a symbol" if text[i] == "(" else "unbalanced parentheses"
            raise PictureError(f"PIC {text}: {what}")
        symbol = text[i:i + 2] if text.startswith(("CR", "DB"), i) else text[i]
        i += len(symbol)
        if not text.startswith("(", i):
            symbols.append(symbol)
            continue
        close = text.find(")", i)
        if close < 0:
            raise PictureError(f"PIC {text}: unbalanced parentheses")
        count = text[i + 1:close]
        if not (count.isascii() and count.isdigit()):
            raise PictureError(f"PIC {text}: the repeat count ({count}) is not a number")
        if int(count) == 0:
            raise PictureError(f"PIC {text}: a repeat count of (0)")
        if len(symbol) == 2:
            raise PictureError(f"PIC {text}: {symbol} cannot be repeated")
        symbols += [symbol] * int(count)
        i = close + 1
    return symbols


def _alphanumeric(text: str, symbols: list[str]) -> Picture:
    wrong = sorted(set(symbols) - _TEXT - _TEXT_INSERTION)
    if wrong:
        raise PictureError(f"PIC {text}: {' '.join(wrong)} cannot appear with X or A")
    return Picture(text, "alphanumeric", False, 0, 0, len(symbols))


def _numeric(text: str, symbols: list[str], usage: str, sign_separate: bool) -> Picture:
    signed = symbols[0] == "S"
    body = "".join(symbols[1:] if signed else symbols)
    if "S" in body:
        raise PictureError(f"PIC {text}: S may appear once, as the first symbol")
    if body.count("V") > 1:
        raise PictureError(f"PIC {text}: V may appear only once")
    digits = body.count("9")
    if digits == 0:
        raise PictureError(f"PIC {text}: no digit positions (9)")
    if "P" not in body:
        scale = len(body.partition("V")[2])
    # P stands for a digit position that is not stored: the implied point lies
    # beyond the P's, so leading P's add to the scale and trailing ones multiply.
    elif match := re.fullmatch(r"V?(P+)(9+)", body):
        scale = len(match[1]) + len(match[2])
    elif match := re.fullmatch(r"(9+)(P+)V?", body):
        scale = -len(match[2])
    else:
        raise PictureError(f"PIC {text}: P may appear only at the left or right end of the digits, "
                           "next to the implied point")
    limit = MAX_BINARY_DIGITS if usage in ("COMP", "COMP-5") else MAX_DIGITS
    if digits > limit:
        where = f" for USAGE {usage}" if limit < MAX_DIGITS else ""
        raise PictureError(f"PIC {text}: at most {limit} digits{where}")
    if usage == "COMP-3":
        length = digits // 2 + 1      # two digits a byte, the sign in the last half byte
    elif usage in ("COMP", "COMP-5"):
        length = 2 if digits <= 4 else 4 if digits <= 9 else 8
    else:
        length = digits + (1 if sign_separate else 0)
    return Picture(text, "numeric", signed, digits, scale, length)


def _edited(text: str, symbols: list[str]) -> Picture:
    for symbol, why in (("S", "use +, -, CR or DB for the sign"), ("V", "not supported: write the point"),
                        ("P", "not supported")):
        if symbol in symbols:
            raise PictureError(f"PIC {text}: {symbol} in a numeric-edited PIC: {why}")
    last = len(symbols) - 1
    if symbols.count(".") > 1:
        raise PictureError(f"PIC {text}: more than one decimal point")
    if len({s for s in symbols if s in _SIGNS}) > 1:
        raise PictureError(f"PIC {text}: more than one kind of sign symbol")
    for symbol in ("CR", "DB"):
        if symbol in symbols and symbols.index(symbol) != last:
            raise PictureError(f"PIC {text}: {symbol} must be the last symbol")
    if "Z" in symbols and "*" in symbols:
        raise PictureError(f"PIC {text}: Z and * cannot both appear")

    # A floating insertion string is two or more of the same + - or $, maybe with
    # , . B 0 / among them; the first stands for the sign or currency sign, every
    # further one for a digit position. A single + - or $ is a fixed insertion.
    floating = ""
    for symbol in ("+", "-", "$"):
        at = [i for i, s in enumerate(symbols) if s == symbol]
        if len(at) == 1 and symbol != "$" and at[0] not in (0, last):
            raise PictureError(f"PIC {text}: a single {symbol} must be the first or last symbol")
        if len(at) >= 2:
            if floating:
                raise PictureError(f"PIC {text}: two floating insertion strings ({floating} and {symbol})")
            if any(s != symbol and s not in _INSERTION for s in symbols[at[0]:at[-1]]):
                raise PictureError(f"PIC {text}: the floating {symbol} symbols must be one string")
            floating, first_float = symbol, at[0]
    if floating and ("Z" in symbols or "*" in symbols):
        raise PictureError(f"PIC {text}: floating insertion ({floating}) cannot be mixed with Z or *")

    positions = [i for i, s in enumerate(symbols) if s in ("9", "Z", "*") or (s == floating and i != first_float)]
    if not positions:
        raise PictureError(f"PIC {text}: no digit positions (9, Z, * or a floating string)")
    if "9" in symbols:
        nine = symbols.index("9")
        if any(symbols[i] != "9" for i in positions if i > nine):
            raise PictureError(f"PIC {text}: Z, * or a floating symbol after a 9")
    if len(positions) > MAX_DIGITS:
        raise PictureError(f"PIC {text}: at most {MAX_DIGITS} digits")
    point = symbols.index(".") if "." in symbols else len(symbols)
    mask = "".join(symbols)
    return Picture(text, "edited", any(s in _SIGNS for s in symbols), len(positions),
                   sum(1 for i in positions if i > point), len(mask), mask)
