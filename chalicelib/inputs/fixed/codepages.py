"""Byte tables for the encodings a fixed-width file may come in: EBCDIC code pages and ASCII ones.

Everything that reads fixed-width records looks bytes up in these tables
instead of decoding them one at a time: a text field becomes characters by
indexing a 256-entry table with the whole column of bytes, and a zoned decimal
becomes digits and signs the same way. `codec_for` builds the tables once per
encoding and caches them.

The EBCDIC code pages are the IBM "Country Extended Code Pages" (CECP) and
their euro variants (cp1140-cp1149). They differ only in where they put a
few national characters; digits, letters, space, the signs, the point and the
control characters sit at the same bytes in all of them, so zoned and packed
decimals read the same whatever the code page.

Python has cp037, cp273, cp500 and cp1140; the `ebcdic` package (a runtime
requirement) adds the others. It registers its codecs when imported, which is
done here only when the standard library does not know the encoding asked
for: a file in ASCII or cp037, the common cases, never pays for loading the
package's ~35 codec modules on a Lambda cold start.
"""
from __future__ import annotations

import codecs
import importlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from chalicelib.errors import InputFileError

# The EBCDIC code pages supported and tested, as codec names. Others that Python or
# the `ebcdic` package know (cp1047, cp871, ...) are accepted by `codec_for` too.
EBCDIC_CODE_PAGES: tuple[str, ...] = (
    "cp037",   # USA, Canada, Netherlands, Portugal, Brazil, Australia
    "cp273",   # Germany, Austria
    "cp277",   # Denmark, Norway
    "cp278",   # Finland, Sweden
    "cp280",   # Italy
    "cp284",   # Spain, Latin America
    "cp285",   # United Kingdom
    "cp297",   # France
    "cp500",   # International (Belgium, Switzerland)
    "cp1140", "cp1141", "cp1142", "cp1143", "cp1144",  # the same with the euro sign:
    "cp1145", "cp1146", "cp1147", "cp1148", "cp1149",  # 037 273 277 278 280 284 285 297 500 871
)

CR = 0x0D
# Names people write for a code page that codecs.lookup does not take: IBM-285, IBM01141, CCSID 37.
_ALIAS = re.compile(r"(?:ibm|cp|ccsid)[-_ ]?0*(\d{2,5})")
# The reference for EBCDIC control characters (bytes 0x00-0x3F and 0xFF, the same in every
# CECP code page): IBM's mapping, which the standard library's cp037 follows.
_EBCDIC_CONTROLS = list(range(0x40)) + [0xFF]


@dataclass(frozen=True)
class Codec:
    """Byte tables for one encoding: a byte's character, and its meaning in zoned decimals and edited numbers."""

    name: str                  # the codec's name as codecs.lookup gives it ("cp037", "utf-8")
    ebcdic: bool
    space: int
    text: np.ndarray           # uint32[256]: the character of each byte in a text field (NUL reads as space)
    text_ok: np.ndarray        # bool[256]: bytes that are a character on their own in this encoding
    all_ok: bool
    latin: bytes | None        # bytes.translate table to the Latin-1 byte of each character, when all have one
    utf8: bool                 # multi-byte: bytes above 0x7F are decoded value by value
    terminators: np.ndarray    # bool[256]: bytes that end a line
    blank: np.ndarray          # bool[256]: space and NUL
    padding: np.ndarray        # bool[256]: what may trail the last record (blank, newlines, SUB)
    zero: int                  # the byte of the digit 0: digits are zero to zero + 9
    digit: np.ndarray          # int8[256]: the digit of a plain digit byte, else -1
    sign_digit: np.ndarray     # int8[256]: the digit of the byte carrying a signed zoned field's sign, else -1
    sign: np.ndarray           # int8[256]: +1 or -1 for that byte, 0 if it is none
    unsigned_digit: np.ndarray  # int8[256]: the digit of the last byte of an unsigned zoned field, else -1
    plus: int                  # the bytes of a SIGN SEPARATE field's sign and an edited number's point
    minus: int
    point: int


def _lookup(encoding: str) -> str:
    """The codec name of `encoding`; the `ebcdic` package is imported only when it is needed."""
    wanted = encoding.strip().lower()
    if wanted == "ebcdic":  # what the API takes as a name for cp037
        wanted = "cp037"
    names = [wanted]
    alias = _ALIAS.fullmatch(wanted)
    if alias:
        names.append(f"cp{int(alias.group(1)):03d}")
    name = _find(names)
    if name is None:
        try:
            # imported for its side effect: it registers cp277, cp278, cp280, cp284, cp285, cp297,
            # cp1141-cp1149 (and more) with the codecs module
            importlib.import_module("ebcdic")
        except ImportError:  # pragma: no cover - it is in requirements.txt
            raise InputFileError(f"unknown encoding {encoding!r} (the ebcdic package, which adds most EBCDIC "
                                 f"code pages, is not installed)") from None
        name = _find(names)
    if name is None:
        raise InputFileError(f"unknown encoding {encoding!r}")
    return name


def _find(names: list[str]) -> str | None:
    for name in names:
        try:
            return codecs.lookup(name).name
        except LookupError:
            pass
    return None


@lru_cache(maxsize=None)
def codec_for(encoding: str) -> Codec:
    """The byte tables of `encoding`; InputFileError if Python (with the `ebcdic` package) does not know it."""
    name = _lookup(encoding)
    utf8 = name == "utf-8"
    text = np.arange(256, dtype=np.uint32)
    text_ok = np.ones(256, dtype=bool)
    for b in range(256):
        try:
            char = bytes([b]).decode(name)
        except UnicodeDecodeError:
            text_ok[b] = False
            continue
        if len(char) == 1:
            text[b] = ord(char)
        else:
            text_ok[b] = False
    try:
        spaces = " ".encode(name)
    except UnicodeEncodeError:
        spaces = b""
    if len(spaces) != 1:  # UTF-16, UTF-32, ...: fixed-width records need one byte per ASCII character
        raise InputFileError(f"encoding {encoding!r} is not supported for fixed-width records: "
                             f"a space is not one byte in it")
    space = spaces[0]
    ebcdic = "0".encode(name) == b"\xf0"
    if ebcdic:
        # The `ebcdic` package decodes 0x15 (NL) to "\n" like 0x25 (LF), where IBM and the standard
        # library's cp037 give U+0085; every code page here shares cp037's controls, so take them from it.
        # Two bytes decoding to one character would also make text from 0x15 and 0x25 indistinguishable.
        reference = bytes(_EBCDIC_CONTROLS).decode("cp037")
        text[_EBCDIC_CONTROLS] = [ord(c) for c in reference]
        text_ok[_EBCDIC_CONTROLS] = True
    text[0] = ord(" ")  # low-values in a text field read as spaces
    terminators = np.zeros(256, dtype=bool)
    terminators[[0x15, 0x25, 0x0A] if ebcdic else [0x0A]] = True
    blank = np.zeros(256, dtype=bool)
    blank[[space, 0]] = True
    padding = blank | terminators
    padding[[CR, 0x3F if ebcdic else 0x1A]] = True

    digit = np.full(256, -1, dtype=np.int8)
    sign_digit = np.full(256, -1, dtype=np.int8)
    sign = np.zeros(256, dtype=np.int8)
    unsigned_digit = np.full(256, -1, dtype=np.int8)
    zero = 0xF0 if ebcdic else 0x30
    digit[zero:zero + 10] = np.arange(10)
    if ebcdic:
        # The sign of a zoned number is the zone (high nibble) of the byte that carries it:
        # C (preferred), A, E, F positive; D (preferred), B negative.
        for zone, value in ((0xC, 1), (0xF, 1), (0xA, 1), (0xE, 1), (0xD, -1), (0xB, -1)):
            sign_digit[zone * 16: zone * 16 + 10] = np.arange(10)
            sign[zone * 16: zone * 16 + 10] = value
        # An unsigned field ends with zone F, as IBM COBOL writes it; a C there (what a MOVE from a
        # signed positive field may leave) is the same value. D, B, A, E are not an unsigned value.
        for zone in (0xF, 0xC):
            unsigned_digit[zone * 16: zone * 16 + 10] = np.arange(10)
    else:
        # ASCII: a plain digit; overpunch as an EBCDIC file converted to ASCII text leaves it
        # (zone C -> { A-I positive, zone D -> } J-R negative); Micro Focus's ASCII convention
        # for negative trailing signs, p-y (the digit's byte + 0x40), which nothing else uses.
        sign_digit[0x30:0x3A], sign[0x30:0x3A] = np.arange(10), 1
        for chars, value in (("{ABCDEFGHI", 1), ("}JKLMNOPQR", -1), ("pqrstuvwxy", -1)):
            positions = [ord(c) for c in chars]
            sign_digit[positions], sign[positions] = np.arange(10), value
        unsigned_digit[0x30:0x3A] = np.arange(10)
        unsigned_digit[[ord(c) for c in "{ABCDEFGHI"]] = np.arange(10)  # zone C, as for EBCDIC

    def byte(char: str) -> int:
        try:
            encoded = char.encode(name)
        except UnicodeEncodeError:
            return -1
        return encoded[0] if len(encoded) == 1 else -1

    latin = bytes(text.astype(np.uint8).tolist()) if (text <= 0xFF).all() else None
    return Codec(name, ebcdic, space, text, text_ok, bool(text_ok.all()), latin, utf8, terminators, blank,
                 padding, zero, digit, sign_digit, sign, unsigned_digit,
                 plus=byte("+"), minus=byte("-"), point=byte("."))
