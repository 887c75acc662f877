"""Fixed-width mainframe records: copybook-like layouts, EBCDIC, zoned and packed decimals.

A record type that can come as fixed-width records has a "fixed_width" section
in its spec (docs/fixed-width.md): the record length and, for every source
field, its offset, length, COBOL PICture and usage (DISPLAY or COMP-3). The
rest of the service only uses three entry points:

- `load_layout`: check the section when the spec is loaded; any mistake raises
  `SpecError` naming the file and the field.
- `plan_fixed_width`: scan the file once and cut it into chunks on record
  boundaries, like the delimited planner (same chunk-size rules, same
  `Plan`); the header is the layout's field names in the spec's order.
- `read_fixed_chunk`: one chunk's bytes to a frame of text values, exactly as
  the delimited reader would give them, so `records.transform` validates
  them unchanged.

How records are found:

- record_separator "none": records are record_length bytes end to end.
- record_separator "newline": each record is followed by LF or CR LF. In an
  EBCDIC file the newline may be NL (0x15, what z/OS UNIX text files use),
  LF (0x25, what EBCDIC code page converters write for "\\n") or an ASCII LF
  (0x0A, which some transfer tools append to binary records); each may follow
  a CR (0x0D). Any byte may appear inside a record (a text field with control
  bytes, a binary or packed field, a FILLER), so records are found by
  position: record_length bytes, then the newline the first record used,
  checked where it must be. A record of another length cannot be told apart
  from data, so it fails the run, naming its line and byte offset; nothing is
  guessed.

In both modes a record holding only spaces and NULs (low-values), and a line
holding only those and CRs, is not a record, as a blank line is not one in a
delimited file: it is not counted, numbered or read. Padding at the end of the
file (spaces, NULs, newlines, an end-of-file SUB) is ignored. The planner and
the reader find records with the same code, so their counts agree whatever
the cut points.

Everything is vectorised with numpy: the scan works on whole blocks, and a
chunk's fields are decoded a column at a time (a 256-entry table turns each
byte of a text field into its character, viewed in place as a numpy string;
zoned and packed digits are nibble arithmetic), never a record at a time.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from chalicelib.errors import InputFileError, SpecError
from chalicelib.inputs.chunks import ChunkFrame, Cutter, Plan

if TYPE_CHECKING:
    from chalicelib.models import InputFormat

LAYOUT_KEYS = {"record_length", "fields", "description"}
FIELD_KEYS = {"source", "offset", "length", "pic", "usage", "description"}
USAGES = {"DISPLAY": "DISPLAY", "COMP-3": "COMP-3", "COMPUTATIONAL-3": "COMP-3", "PACKED-DECIMAL": "COMP-3"}
MAX_DIGITS = 18  # what an int64 holds exactly; COBOL's usual limit too
CR = 0x0D
UTF8_BOM = b"\xef\xbb\xbf"

_TEXT_PIC = re.compile(r"(?:[XA](?:\(\d+\))?)+")
_NUMBER_PIC = re.compile(r"(S?)((?:9(?:\(\d+\))?)*)(?:V((?:9(?:\(\d+\))?)+))?")
_REPEAT = re.compile(r"[XA9](?:\((\d+)\))?")


# ------------------------------------------------------------------ the layout

@dataclass(frozen=True)
class FieldLayout:
    source: str
    offset: int             # 0-based, in bytes
    length: int             # in bytes
    pic: str                # as written in the spec, normalised to upper case
    usage: str = "DISPLAY"  # or "COMP-3"
    numeric: bool = False
    signed: bool = False
    digits: int = 0         # integer and fraction digits of a numeric PIC
    scale: int = 0          # digits after the implied decimal point (V)

    @property
    def packed(self) -> bool:
        return self.usage == "COMP-3"


@dataclass(frozen=True)
class Layout:
    record_length: int
    fields: tuple[FieldLayout, ...]  # in the spec's source order

    @property
    def names(self) -> list[str]:
        return [f.source for f in self.fields]

    @property
    def binary(self) -> bool:
        """Whether a record may hold any byte (packed fields), newline bytes included."""
        return any(f.packed for f in self.fields)


def load_layout(spec_file_name: str, raw: dict, source_fields: list[str]) -> Layout:
    """Check a spec's "fixed_width" section; raise SpecError naming the file and the field."""
    where = f"{spec_file_name}: fixed_width"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be an object with 'record_length' and 'fields'")
    unknown = sorted(set(raw) - LAYOUT_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(LAYOUT_KEYS))})")
    record_length = raw.get("record_length")
    if not _is_int(record_length) or record_length < 1:
        raise SpecError(f"{where}: 'record_length' must be a whole number of bytes, at least 1")
    fields = raw.get("fields")
    if not isinstance(fields, list) or not fields:
        raise SpecError(f"{where}: 'fields' must be a non-empty list")
    loaded = [_load_field(where, i, f, record_length) for i, f in enumerate(fields)]

    seen: set[str] = set()
    for f in loaded:
        if f.source in seen:
            raise SpecError(f"{where}: field {f.source!r} appears twice")
        seen.add(f.source)
        if f.source not in source_fields:
            raise SpecError(f"{where}: field {f.source!r} is not one of the spec's source fields")
    by_offset = sorted(loaded, key=lambda f: f.offset)
    for a, b in zip(by_offset, by_offset[1:]):
        if b.offset < a.offset + a.length:
            raise SpecError(f"{where}: fields {a.source!r} (bytes {a.offset}-{a.offset + a.length - 1}) and "
                            f"{b.source!r} (bytes {b.offset}-{b.offset + b.length - 1}) overlap")
    missing = [s for s in source_fields if s not in seen]
    if missing:
        raise SpecError(f"{where}: source field{'s' if len(missing) > 1 else ''} missing from the layout: "
                        f"{', '.join(missing)}")
    order = {s: i for i, s in enumerate(source_fields)}
    return Layout(record_length, tuple(sorted(loaded, key=lambda f: order[f.source])))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_field(where: str, index: int, raw: Any, record_length: int) -> FieldLayout:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: fields[{index}] must be an object")
    source = raw.get("source")
    here = f"{where}: field {source if isinstance(source, str) and source else index!r}"
    unknown = sorted(set(raw) - FIELD_KEYS)
    if unknown:
        raise SpecError(f"{here}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(FIELD_KEYS))})")
    if not isinstance(source, str) or not source:
        raise SpecError(f"{here}: needs a 'source'")
    offset = raw.get("offset")
    if not _is_int(offset) or offset < 0:
        raise SpecError(f"{here}: 'offset' must be a whole number of bytes from the record's start (0-based)")
    pic = raw.get("pic")
    if not isinstance(pic, str) or not pic.strip():
        raise SpecError(f"{here}: needs a 'pic' such as X(10), 9(8), S9(7)V99")
    pic = "".join(pic.split()).upper()
    usage_raw = raw.get("usage", "DISPLAY")
    usage = USAGES.get(usage_raw.upper()) if isinstance(usage_raw, str) else None
    if usage is None:
        raise SpecError(f"{here}: usage {usage_raw!r} is not supported (supported: DISPLAY, COMP-3)")
    numeric, signed, digits, scale = _parse_pic(here, pic)
    if usage == "COMP-3" and not numeric:
        raise SpecError(f"{here}: COMP-3 needs a numeric PIC (9, S9, V9), not {pic}")
    size = digits // 2 + 1 if usage == "COMP-3" else digits if numeric else _count(pic)
    length = raw.get("length", size)
    if not _is_int(length) or length < 1:
        raise SpecError(f"{here}: 'length' must be a whole number of bytes, at least 1")
    if length != size:
        raise SpecError(f"{here}: PIC {pic}{' COMP-3' if usage == 'COMP-3' else ''} takes {size} "
                        f"byte{'s' if size > 1 else ''}, not length {length}")
    if offset + length > record_length:
        raise SpecError(f"{here}: bytes {offset}-{offset + length - 1} run past the record length "
                        f"{record_length}")
    return FieldLayout(source, offset, length, pic, usage, numeric, signed, digits, scale)


def _count(part: str) -> int:
    return sum(int(n) if n else 1 for n in _REPEAT.findall(part))


def _parse_pic(here: str, pic: str) -> tuple[bool, bool, int, int]:
    """(numeric, signed, digits, scale) of a PIC; SpecError if it is not one this reads."""
    if _TEXT_PIC.fullmatch(pic):
        if "(0)" in pic:
            raise SpecError(f"{here}: PIC {pic} has a repeat count of 0")
        return False, False, 0, 0
    number = _NUMBER_PIC.fullmatch(pic)
    if not number or "(0)" in pic or not (number.group(2) or number.group(3)):
        raise SpecError(f"{here}: unknown PIC {pic!r} (supported: X(n), A(n), 9(n), S9(n), with V9(n) for "
                        f"implied decimals, e.g. S9(7)V99)")
    whole, fraction = _count(number.group(2)), _count(number.group(3) or "")
    if whole + fraction > MAX_DIGITS:
        raise SpecError(f"{here}: PIC {pic} has {whole + fraction} digits; at most {MAX_DIGITS} are supported")
    return True, bool(number.group(1)), whole + fraction, fraction


# ------------------------------------------------------------------ encodings

@dataclass(frozen=True)
class _Codec:
    """Byte tables for one encoding: a byte's character, and its meaning in zoned decimals."""

    name: str
    ebcdic: bool
    space: int
    text: np.ndarray         # uint32[256]: the character of each byte in a text field (NUL reads as space)
    text_ok: np.ndarray      # bool[256]: bytes that are a character on their own in this encoding
    all_ok: bool
    latin: bytes | None      # bytes.translate table to the Latin-1 byte of each character, when all have one
    utf8: bool               # multi-byte: bytes above 0x7F are decoded value by value
    terminators: np.ndarray  # bool[256]: bytes that end a line
    blank: np.ndarray        # bool[256]: space and NUL
    padding: np.ndarray      # bool[256]: what may trail the last record (blank, newlines, SUB)
    zero: int                # the byte of the digit 0: digits are zero to zero + 9
    digit: np.ndarray        # int8[256]: the digit of an unsigned zoned byte, else -1
    sign_digit: np.ndarray   # int8[256]: the digit of the sign byte of a signed zoned field, else -1
    sign: np.ndarray         # int8[256]: +1 or -1 for that byte, 0 if it is none


@lru_cache(maxsize=None)
def _codec(encoding: str) -> _Codec:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputFileError(f"unknown encoding {encoding!r}") from None
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
    space = " ".encode(name)[0]
    text[0] = ord(" ")  # low-values in a text field read as spaces
    ebcdic = "0".encode(name) == b"\xf0"
    terminators = np.zeros(256, dtype=bool)
    terminators[[0x15, 0x25, 0x0A] if ebcdic else [0x0A]] = True
    blank = np.zeros(256, dtype=bool)
    blank[[space, 0]] = True
    padding = blank | terminators
    padding[[CR, 0x3F if ebcdic else 0x1A]] = True
    digit = np.full(256, -1, dtype=np.int8)
    sign_digit = np.full(256, -1, dtype=np.int8)
    sign = np.zeros(256, dtype=np.int8)
    zero = 0xF0 if ebcdic else 0x30
    digit[zero:zero + 10] = np.arange(10)
    if ebcdic:
        # The sign is the zone of the last byte: C, F, A, E positive; D, B negative.
        for zone, value in ((0xC, 1), (0xF, 1), (0xA, 1), (0xE, 1), (0xD, -1), (0xB, -1)):
            sign_digit[zone * 16: zone * 16 + 10] = np.arange(10)
            sign[zone * 16: zone * 16 + 10] = value
    else:
        # ASCII overpunch: a plain digit or { A-I is positive, } J-R negative.
        sign_digit[0x30:0x3A], sign[0x30:0x3A] = np.arange(10), 1
        for chars, value in (("{ABCDEFGHI", 1), ("}JKLMNOPQR", -1)):
            positions = [ord(c) for c in chars]
            sign_digit[positions], sign[positions] = np.arange(10), value
    latin = bytes(text.astype(np.uint8).tolist()) if (text <= 0xFF).all() else None
    return _Codec(name, ebcdic, space, text, text_ok, bool(text_ok.all()), latin, utf8, terminators, blank,
                  padding, zero, digit, sign_digit, sign)


# ------------------------------------------------------------------ finding records

@dataclass
class _Found:
    starts: np.ndarray   # offset of each record (or wrong-length line), blank ones left out
    lengths: np.ndarray  # its length without the newline: record_length for a record
    ends: np.ndarray     # offset just past it and its newline
    pos: int             # where the scan stopped: the rest needs more bytes


_EMPTY = np.empty(0, dtype=np.int64)


class _Scanner:
    """Finds records in a buffer. The planner feeds it the file a block at a time (the
    unfinished tail carried over); the reader gives it one chunk. Both call `scan`, so
    they find the same records."""

    def __init__(self, layout: Layout, codec: _Codec, separator: str):
        if separator not in ("none", "newline"):
            raise InputFileError(f"record_separator must be newline or none, not {separator!r}")
        self.length = layout.record_length
        self.codec = codec
        self.separator = separator
        self.style = 0            # 1 for LF, 2 for CR LF, set by the first record
        self.lines = 0            # lines (records, blank lines) passed, for messages
        self.newlines_seen = False
        self.first_looks_newline: bool | None = None

    def scan(self, arr: np.ndarray, pos: int, final: bool, base: int = 0) -> _Found:
        if self.separator == "none":
            return self._scan_none(arr, pos, final, base)
        return self._scan_by_position(arr, pos, final, base)

    # -- no separator: record after record
    def _scan_none(self, arr: np.ndarray, pos: int, final: bool, base: int) -> _Found:
        n, size = len(arr), self.length
        if self.first_looks_newline is None and n > pos + size + 1:  # the first record, for a hint
            self.first_looks_newline = bool(self.codec.terminators[arr[pos + size]] or (
                arr[pos + size] == CR and self.codec.terminators[arr[pos + size + 1]]))
        count = (n - pos) // size
        starts = pos + np.arange(count, dtype=np.int64) * size
        pos += count * size
        if final and pos < n and not self.codec.padding[arr[pos:]].all():
            total = base + n
            raise InputFileError(
                f"file size {total} bytes is not a multiple of the record length {size} "
                f"({total % size} bytes left over after the last whole record); a record is cut short, "
                f"or the layout's record_length is wrong" + self._newline_hint())
        return self._records(arr, starts, pos)

    def _newline_hint(self) -> str:
        if self.first_looks_newline:
            return "; its records seem to end with newlines: set record_separator to newline"
        return ""

    # -- newlines: records by position, the newline checked where it must be
    def _scan_by_position(self, arr: np.ndarray, pos: int, final: bool, base: int) -> _Found:
        n, size, codec = len(arr), self.length, self.codec
        terminators = codec.terminators
        runs: list[np.ndarray] = []
        bare_last = False  # whether the last record found has no newline after it
        while pos < n:
            if not self.style:
                if pos + size < n and terminators[arr[pos + size]]:
                    self.style = 1
                elif pos + size + 1 < n and arr[pos + size] == CR and terminators[arr[pos + size + 1]]:
                    self.style = 2
            if self.style:
                stride = size + self.style
                count = (n - pos) // stride
                if count:
                    stop = pos + count * stride
                    ok = terminators[arr[pos + stride - 1:stop:stride]]
                    if self.style == 2:
                        ok &= arr[pos + size:stop:stride] == CR
                    bad = np.flatnonzero(~ok)
                    good = int(bad[0]) if len(bad) else count
                    if good:
                        runs.append(pos + np.arange(good, dtype=np.int64) * stride)
                        pos += good * stride
                        self.lines += good
                        self.newlines_seen = True
                        continue
            # No record with its newline at pos: the end of the file, a blank line, or an error.
            rest = arr[pos:]
            if not final and len(rest) < size + 2:
                break  # too few bytes to decide yet
            if final:
                if codec.padding[rest].all():
                    pos = n
                    break
                # The last record without its newline, then padding; padding with a newline in it
                # would mean a blank line came first, and then the record is the one after it.
                # So would a blank line followed by a whole record: the blank line is taken first.
                if len(rest) >= size and codec.padding[rest[size:]].all() \
                        and not terminators[rest[size:]].any() and not self._cut_short(rest) \
                        and not self._blank_line_then_record(rest):
                    runs.append(np.array([pos], dtype=np.int64))  # the last record, without its newline
                    pos, bare_last = n, True
                    break
            found = np.flatnonzero(terminators[rest[: size + 2]])
            if len(found) and codec.padding[rest[:int(found[0])]].all():
                pos += int(found[0]) + 1  # a blank line
                self.lines += 1
                self.newlines_seen = True
                continue
            if not final and not len(found) and codec.padding[rest].all():
                break  # padding so far: decide at the end of the file
            raise InputFileError(self._misplaced(base + pos))
        starts = np.concatenate(runs) if runs else _EMPTY
        return self._records(arr, starts, pos, bare_last)

    def _blank_line_then_record(self, rest: np.ndarray) -> bool:
        """Whether the file's last bytes read as a blank line (padding, then a newline) and a whole record."""
        found = np.flatnonzero(self.codec.terminators[rest[: self.length]])
        return bool(len(found)) and bool(self.codec.padding[rest[:int(found[0])]].all()) \
            and len(rest) - int(found[0]) - 1 >= self.length

    def _cut_short(self, rest: np.ndarray) -> bool:
        """Whether the file's last bytes are a record cut short and its newline rather than a
        whole record without one: a newline (LF, or CR LF) ends where the record should."""
        size, terminators = self.length, self.codec.terminators
        one = bool(terminators[rest[size - 1]])
        two = bool((size >= 2 and rest[size - 2] == CR and terminators[rest[size - 1]]) or
                   (len(rest) > size and rest[size - 1] == CR and terminators[rest[size]]))
        return one or two

    def _misplaced(self, offset: int) -> str:
        newline = {1: "a newline", 2: "CR LF"}.get(self.style, "a newline")
        message = (f"line {self.lines + 1} (byte offset {offset}): expected a record of {self.length} bytes "
                   f"followed by {newline}; records are framed by their length (a text or binary field may "
                   f"hold newline bytes), so a record of another length cannot be told apart from its data "
                   f"and the file cannot be read past it")
        if not self.newlines_seen:
            message += "; if the file has no newlines between records, set record_separator to none"
        return message

    def _records(self, arr: np.ndarray, starts: np.ndarray, pos: int, bare_last: bool = False) -> _Found:
        """Records of record_length bytes, each followed by the newline of the file's style,
        but the last one if `bare_last`; the blank ones left out."""
        ends = starts + self.length + (self.style if self.separator == "newline" else 0)
        if bare_last:
            ends[-1] = starts[-1] + self.length  # a chunk ends with the record, not the padding after it
        keep = ~_blank_records(arr, starts, self.length, self.codec.blank)
        starts, ends = starts[keep], ends[keep]
        return _Found(starts, np.full(len(starts), self.length, dtype=np.int64), ends, pos)


def _blank_records(arr: np.ndarray, starts: np.ndarray, size: int, blank: np.ndarray) -> np.ndarray:
    """Which records of `size` bytes hold only spaces and NULs. Only those whose first
    and last bytes are blank are looked at in full."""
    out = np.zeros(len(starts), dtype=bool)
    if not len(starts):
        return out
    candidates = np.flatnonzero(blank[arr[starts]] & blank[arr[starts + size - 1]])
    if len(candidates):
        rows = sliding_window_view(arr, size)[starts[candidates]]
        out[candidates] = blank[rows].all(axis=1)
    return out


# ------------------------------------------------------------------ planning

def plan_fixed_width(blocks: Iterable[bytes], layout: Layout, fmt: "InputFormat", records_per_chunk: int,
                     max_chunk_bytes: int) -> Plan:
    """Scan the whole file once; return the layout's field names and the chunk ranges."""
    codec = _codec(fmt.encoding)
    size = layout.record_length
    scanner = _Scanner(layout, codec, fmt.record_separator)
    longest_line = max(1 << 20, 64 * size)
    cutter: Cutter | None = None
    carry = b""
    base = 0      # absolute offset of the carried bytes
    for block in blocks:
        if not block:
            continue
        data = carry + block if carry else block
        start = 0
        if cutter is None:
            if codec.utf8 and len(data) < len(UTF8_BOM) and UTF8_BOM.startswith(data):
                carry = data  # maybe a byte-order mark: wait for more bytes
                continue
            start = len(UTF8_BOM) if codec.utf8 and data.startswith(UTF8_BOM) else 0
            cutter = Cutter(start, records_per_chunk, max_chunk_bytes)
        found = scanner.scan(np.frombuffer(data, dtype=np.uint8), start, final=False, base=base)
        if len(found.ends):
            cutter.add(found.ends + base)
        carry = data[found.pos:]
        base += found.pos
        if len(carry) > longest_line:
            raise InputFileError(f"no newline in the {len(carry)} bytes from byte offset {base}, where records "
                                 f"of {size} bytes should each end with one; if the file has no newlines "
                                 f"between records, set record_separator to none")
    if cutter is None:  # nothing, or fewer bytes than a byte-order mark
        if not carry:
            raise InputFileError("file is empty")
        cutter = Cutter(0, records_per_chunk, max_chunk_bytes)
    found = scanner.scan(np.frombuffer(carry, dtype=np.uint8), 0, final=True, base=base)
    if fmt.record_separator == "newline" and not scanner.newlines_seen and len(found.lengths) \
            and found.lengths[0] >= 2 * size:  # room for two records or more: no wrong-length line
        raise InputFileError(f"no newline in the file, whose records of {size} bytes should each end with one; "
                             f"if the file has no newlines between records, set record_separator to none")
    if len(found.ends):
        cutter.add(found.ends + base)
    cutter.close()
    if not cutter.chunks:
        total = base + len(carry)
        raise InputFileError("file is empty" if total <= cutter.chunk_start else
                             f"file is empty: its {total} bytes are blank records or padding")
    return Plan(header=layout.names, chunks=cutter.chunks)


# ------------------------------------------------------------------ reading

def read_fixed_chunk(data: bytes, layout: Layout, fmt: "InputFormat", first_row: int) -> ChunkFrame:
    """One chunk's records as text columns in the spec's order; wrong-length lines and
    records with undecodable text are reported by number instead."""
    codec = _codec(fmt.encoding)
    arr = np.frombuffer(data, dtype=np.uint8)
    found = _Scanner(layout, codec, fmt.record_separator).scan(arr, 0, final=True)
    size = layout.record_length
    rows = np.arange(first_row, first_row + len(found.starts), dtype=np.int64)
    good = found.lengths == size
    malformed = [(row, f"expected {size} bytes, found {length}")
                 for row, length in zip(rows[~good].tolist(), found.lengths[~good].tolist())]
    starts = found.starts[good]
    records = sliding_window_view(arr, size)[starts] if len(starts) else np.empty((0, size), dtype=np.uint8)
    # The characters of text fields: the whole chunk translated to Latin-1 in one pass.
    chars = None
    if codec.latin is not None and len(starts):
        chars = sliding_window_view(np.frombuffer(data.translate(codec.latin), dtype=np.uint8), size)[starts]
    rows = rows[good]
    columns: dict[str, np.ndarray] = {}
    undecodable = np.zeros(len(records), dtype=bool)
    why: dict[int, str] = {}
    for f in layout.fields:
        cells = records[:, f.offset:f.offset + f.length]
        text = None if chars is None else chars[:, f.offset:f.offset + f.length]
        if f.numeric:
            columns[f.source] = _number(cells, f, codec, text)
        else:
            values, bad = _text(cells, codec, text)
            columns[f.source] = values
            if bad is not None and bad.any():
                for i in np.flatnonzero(bad & ~undecodable).tolist():
                    why[i] = f"{f.source} is not valid {codec.name} text"
                undecodable |= bad
    if undecodable.any():
        malformed += [(int(rows[i]), message) for i, message in why.items()]
        malformed.sort()
        keep = ~undecodable
        rows = rows[keep]
        columns = {name: values[keep] for name, values in columns.items()}
    frame = pd.DataFrame({name: columns[name] for name in layout.names}, dtype=object)
    return ChunkFrame(frame, rows, malformed, malformed_rule="record_layout")


def _blank_bytes(cells: np.ndarray, codec: _Codec) -> np.ndarray:
    return (cells == codec.space) | (cells == 0)


def _characters(cells: np.ndarray, codec: _Codec, latin: np.ndarray | None) -> np.ndarray:
    """Code points of the bytes, (count, width) uint32, to be viewed in place as numpy strings."""
    return latin.astype(np.uint32) if latin is not None else codec.text[cells]


def _text(cells: np.ndarray, codec: _Codec, latin: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoded text without trailing spaces, and which values hold bytes the encoding has no character
    for. `latin` is the same bytes translated to Latin-1, when the encoding allows it."""
    count, width = cells.shape
    while width and _blank_bytes(cells[:, width - 1], codec).all():
        width -= 1  # the columns every value leaves blank go first
    cells = cells[:, :width]
    if not width:
        return np.full(count, "", dtype=object), None
    chars = _characters(cells, codec, None if latin is None else latin[:, :width])
    values = np.strings.rstrip(chars.view(f"U{width}").reshape(count), " ").astype(object)
    if codec.all_ok:
        return values, None
    bad = ~codec.text_ok[cells].all(axis=1)
    if codec.utf8 and bad.any():
        for i in np.flatnonzero(bad).tolist():
            try:
                values[i] = bytes(cells[i]).decode("utf-8").replace("\x00", " ").rstrip(" ")
                bad[i] = False
            except UnicodeDecodeError:
                pass
    return values, bad


def _number(cells: np.ndarray, f: FieldLayout, codec: _Codec, latin: np.ndarray | None = None) -> np.ndarray:
    """Zoned or packed decimals as the text a delimited export would hold: "123.45", "-7",
    "20230115"; "" when blank; a marker transform rejects when the bytes are no number."""
    count, width = cells.shape
    if f.packed:
        # Two digits a byte; the last nibble is the sign.
        nibbles = np.empty((count, 2 * width), dtype=np.uint8)
        nibbles[:, 0::2] = cells >> 4
        nibbles[:, 1::2] = cells & 0x0F
        digits, sign = nibbles[:, :-1], nibbles[:, -1]
        valid = (digits <= 9).all(axis=1) & (sign >= 0xA)
        excess = digits.shape[1] - f.digits  # an even number of digits leaves a first nibble, which must be 0
        if excess:
            valid &= (digits[:, :excess] == 0).all(axis=1)
            digits = digits[:, excess:]
        negative = (sign == 0xB) | (sign == 0xD)
    else:
        zero = codec.zero
        body = cells[:, :-1] if f.signed else cells
        valid = ((body >= zero) & (body <= zero + 9)).all(axis=1)
        if f.signed:  # the last byte holds a digit and the sign
            last_digit, negative = codec.sign_digit[cells[:, -1]], codec.sign[cells[:, -1]] < 0
            valid &= last_digit >= 0
        else:
            negative = np.zeros(count, dtype=bool)
        digits = None
        spaced = np.flatnonzero(~valid & (cells[:, 0] == codec.space))
        if len(spaced):  # leading spaces stand for zeros
            leading = np.logical_and.accumulate(cells[spaced] == codec.space, axis=1)
            leading[:, -1] = False
            ok = (((body[spaced] >= zero) & (body[spaced] <= zero + 9)) | leading[:, :body.shape[1]]).all(axis=1)
            valid[spaced] = ok & ((last_digit[spaced] >= 0) if f.signed else True)
        if f.signed or f.scale:
            digits = np.where(body >= zero, body - zero, 0).astype(np.uint8)
            if f.signed:
                digits = np.concatenate([digits, np.maximum(last_digit, 0).astype(np.uint8)[:, None]], axis=1)
    blank = np.zeros(count, dtype=bool)
    if not valid.all():
        blank[~valid] = _blank_bytes(cells[~valid], codec).all(axis=1)
    out = np.full(count, "", dtype=object)
    everything = bool(valid.all())
    if everything or valid.any():
        where = slice(None) if everything else valid
        if not (f.signed or f.scale or f.packed):
            # An unsigned whole number (a date, a code): its digits as written, leading zeros kept.
            chars = _characters(cells[where], codec, None if latin is None else latin[where])
            text = chars.view(f"U{width}").reshape(-1)
            if (cells[where, 0] == codec.space).any():
                text = np.strings.lstrip(text, " ")
            out[where] = text.astype(object)
        else:
            out[where] = _decimal_text(digits[where], negative[where], f.scale, strip=f.signed or bool(f.scale))
    invalid = ~valid & ~blank
    if invalid.any():
        kind = "packed" if f.packed else "zoned"
        out[invalid] = [f"<invalid {kind} decimal X'{bytes(row).hex().upper()}'>" for row in cells[invalid]]
    return out


def _decimal_text(digits: np.ndarray, negative: np.ndarray, scale: int, strip: bool) -> np.ndarray:
    """Digits (one row a value) as decimal text, the last `scale` of them after the point:
    [0,0,1,2,3,4,5], 2 -> "123.45". Written into a grid of characters and viewed as
    strings in place; with `strip`, leading zeros go and a minus sign comes."""
    count, places = digits.shape
    whole = places - scale
    if strip and whole == 0:  # PIC V99: "0.45"
        digits = np.concatenate([np.zeros((count, 1), dtype=digits.dtype), digits], axis=1)
        places, whole = places + 1, 1
    width = 1 + places + (1 if scale else 0)
    grid = np.full((count, width), ord(" "), dtype=np.uint32)   # column 0 holds the sign
    grid[:, 1:1 + whole] = digits[:, :whole] + ord("0")
    if scale:
        grid[:, 1 + whole] = ord(".")
        grid[:, 2 + whole:] = digits[:, whole:] + ord("0")
    if not strip:
        return grid[:, 1:].copy().view(f"U{width - 1}").reshape(count).astype(object)
    leading = np.zeros((count, whole), dtype=bool)
    if whole > 1:  # zeros before the first significant digit (the units digit always stays)
        leading[:, :-1] = np.logical_and.accumulate(digits[:, :whole - 1] == 0, axis=1)
        grid[:, 1:1 + whole][leading] = ord(" ")
    minus = np.flatnonzero(negative & digits.any(axis=1))  # no minus zero
    if len(minus):
        grid[minus, leading[minus].sum(axis=1)] = ord("-")
    return np.strings.lstrip(grid.view(f"U{width}").reshape(count), " ").astype(object)
