"""Deterministic fixed-width mainframe exports, from the same records as the CSV exports.

The records are those `datagen.legacy_files` makes for the same record type,
count, invalid share and seed, value for value; only the notation changes.
Each field is written as the record type's fixed-width layout says (its
"fixed_width" section, docs/fixed-width.md): text left-justified and padded
with spaces, PIC 9 display numbers as zoned decimal (an overpunched sign in
the last byte when the PIC is signed), COMP-3 numbers packed two digits a
byte with the sign in the last nibble, COMP numbers as big-endian binary,
blank values as spaces (zero in a binary field), gaps between fields as spaces; in EBCDIC (cp037) or an ASCII-compatible single-byte
encoding, with or without newlines between records.

A value that the layout cannot hold is written as a mainframe would hold it:
text longer than its field is cut (as a COBOL MOVE cuts it), a number that is
no number ("N/A", "1,234.00") is written as invalid bytes (high-values in a
packed field, the text itself in a zoned one) that the reader reports and
`transform` rejects. Valid values always fit the shipped layouts; a layout too
narrow for them makes the generator fail loudly. A deliberately invalid record
whose broken value was cut into a valid one is valid in the fixed-width file,
so the list of invalid records returned is the one of the file written.

Line breaks inside text values are written as they are, whatever separates the
records: the reader frames records by their length, so they stay in their record.

Everything is vectorised a block of records at a time (50,000, the CSV
generator's block): a million records take about as long as their CSV.
"""
from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

import numpy as np

from chalicelib.inputs.fixed.codepages import codec_for
from chalicelib.inputs.fixed.decoding import decode_field
from chalicelib.inputs.fixed.file_layout import FileLayout
from chalicelib.inputs.fixed.layout import FieldLayout
from chalicelib.inputs.fixed.reader import read_fixed_chunk
from chalicelib.models import InputFormat
from chalicelib.records import RecordSpec, load_specs, transform
from datagen.legacy_files import InvalidRecord, _blocks, _spec

SEPARATORS = {"none": "", "lf": "\n", "newline": "\n", "crlf": "\r\n", "nl": "\x85"}
HIGH_VALUES = 0xFF


def separator_bytes(separator: str, encoding: str) -> bytes:
    """The bytes that end each record: "lf" and "newline" are the encoding's LF (0x25 in
    EBCDIC), "crlf" adds its CR, "nl" is EBCDIC's NL (0x15, as z/OS UNIX text files end lines)."""
    if separator not in SEPARATORS:
        raise ValueError(f"separator must be one of {', '.join(SEPARATORS)}, not {separator!r}")
    if separator == "nl" and not codec_for(encoding).ebcdic:
        raise ValueError("separator 'nl' (0x15) is for EBCDIC files")
    return SEPARATORS[separator].encode(encoding)


class _Encoder:
    """Turns columns of text values into fixed-width records of one layout and encoding."""

    def __init__(self, layout: FileLayout, encoding: str, separator: bytes, spec: RecordSpec | None = None):
        codec = codec_for(encoding)
        if codec.utf8:
            raise ValueError("fixed-width files are written in a single-byte encoding (cp037, latin-1, ascii...)")
        self.layout, self.codec, self.separator = layout, codec, separator
        self.question = "?".encode(codec.name)[0]
        self.to_byte = np.full(256, self.question, dtype=np.uint8)
        for point in range(256):
            try:
                encoded = chr(point).encode(codec.name)
            except UnicodeEncodeError:
                continue
            if len(encoded) == 1:
                self.to_byte[point] = encoded[0]
        self.digit = np.array([codec.digit.tolist().index(d) for d in range(10)], dtype=np.uint8)
        if codec.ebcdic:
            self.positive, self.negative = self.digit - 0x30, self.digit - 0x20  # zones C and D
        else:
            self.positive = np.frombuffer(b"{ABCDEFGHI", dtype=np.uint8)
            self.negative = np.frombuffer(b"}JKLMNOPQR", dtype=np.uint8)
        self.none_values = {f.source: frozenset(getattr(f, "none_values", ()) or ()) for f in spec.fields} \
            if spec is not None else {}

    def encode(self, columns: dict[str, np.ndarray]
               ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Records (count x (record_length + separator) bytes) and, for each field, which values
        did not fit it (text cut, numbers written as invalid bytes) and which were written
        otherwise (characters the encoding lacks as '?', digits zero-filled to the field)."""
        count = len(next(iter(columns.values()))) if columns else 0
        size = self.layout.record_length
        out = np.full((count, size + len(self.separator)), self.codec.space, dtype=np.uint8)
        if self.separator:
            out[:, size:] = np.frombuffer(self.separator, dtype=np.uint8)
        cut: dict[str, np.ndarray] = {}
        altered: dict[str, np.ndarray] = {}
        for source, f in zip(self.layout.names, self.layout.columns):
            values = np.asarray(columns[source], dtype=object)
            if f.numeric:
                none = self.none_values.get(source)
                if none:
                    values = np.where(np.isin(values, list(none)), "", values)
                cells, cut[source], altered[source] = self._number(values, f)
            else:
                cells, cut[source], altered[source] = self._text(values, f.length)
            out[:, f.offset:f.offset + f.length] = cells
        return out, cut, altered

    def _text(self, values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        text = np.array(values.tolist() or [""], dtype=str)[: len(values)]
        cut = np.strings.str_len(text) > width
        text = np.strings.ljust(np.strings.slice(text, 0, width), width).astype(f"U{width}")
        points = text.view(np.uint32).reshape(len(values), width)
        cells = self.to_byte[np.minimum(points, 255)]
        unknown = (points > 255) | ((cells == self.question) & (points != ord("?")))
        return cells, cut, unknown.any(axis=1)

    def _number(self, values: np.ndarray, f: FieldLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = len(values)
        text = np.array(values.tolist() or [""], dtype=str)[:count]
        blank = text == ""
        negative = np.strings.startswith(text, "-")
        body = np.where(negative | np.strings.startswith(text, "+"), np.strings.slice(text, 1, None), text)
        whole, dot, fraction = np.strings.partition(body, ".")
        fits = (np.strings.isdecimal(whole) & (np.strings.str_len(whole) > 0)
                & ((dot == "") | (np.strings.isdecimal(fraction) & (np.strings.str_len(fraction) > 0)))
                & (np.strings.str_len(fraction) <= f.scale)
                & (np.strings.str_len(np.strings.lstrip(whole, "0")) <= f.digits - f.scale)
                & (f.signed | ~negative) & ~blank)
        if f.scale:
            fraction = np.strings.ljust(fraction, f.scale, "0")
        digits_text = np.where(fits, np.strings.add(np.strings.lstrip(whole, "0"), fraction), "0")
        digits_text = np.where(digits_text == "", "0", digits_text)
        magnitude = digits_text.astype(np.int64)
        binary = f.usage in ("COMP", "COMP-5")
        if f.packed:
            cells = self._packed(magnitude, negative & fits, f)
        elif binary:
            cells = self._binary(magnitude, negative & fits, f)
        else:
            cells = self._zoned(magnitude, negative & fits, f)
        cells[blank] = 0 if binary else self.codec.space  # a binary field has no blank: it reads 0
        wrong = ~fits & ~blank
        if wrong.any():
            if binary:
                cells[wrong] = 0  # a value no binary field holds: written as 0, read back to see
            elif f.packed:
                cells[wrong] = HIGH_VALUES
            else:
                cells[wrong] = self._text(values[wrong], f.length)[0]
                decoded = decode_field(cells[wrong], f, self.codec)
                still_valid = np.ones(int(wrong.sum()), dtype=bool) if decoded.invalid is None else ~decoded.invalid
                rows = np.flatnonzero(wrong)[still_valid]
                cells[rows, -1] = self.question  # a number after all, or blank: make it plainly invalid
        # Digits written as they are (a date, a code) but fewer than the field: zero-filled.
        refilled = fits & (np.strings.str_len(whole) != f.digits) if not (f.signed or f.scale) else \
            np.zeros(count, dtype=bool)
        if binary:  # leading zeros do not survive a binary field, nor does a blank
            refilled = (fits & (np.strings.str_len(whole) != np.strings.str_len(np.strings.lstrip(whole, "0")))) \
                | blank
        return cells, wrong, refilled

    def _digits(self, magnitude: np.ndarray, places: int) -> np.ndarray:
        out = np.empty((len(magnitude), places), dtype=np.int64)
        rest = magnitude.copy()
        for column in range(places - 1, -1, -1):
            out[:, column] = rest % 10
            rest //= 10
        return out

    def _zoned(self, magnitude: np.ndarray, negative: np.ndarray, f: FieldLayout) -> np.ndarray:
        digits = self._digits(magnitude, f.length)
        cells = self.digit[digits]
        if f.signed:
            last = digits[:, -1]
            cells[:, -1] = np.where(negative, self.negative[last], self.positive[last])
        return cells

    def _binary(self, magnitude: np.ndarray, negative: np.ndarray, f: FieldLayout) -> np.ndarray:
        """Big-endian two's complement (signed) or unsigned integers of the field's 2, 4 or 8 bytes."""
        value = np.where(negative, -magnitude, magnitude)
        kind = {2: "i2", 4: "i4", 8: "i8"}[f.length] if f.signed else {2: "u2", 4: "u4", 8: "u8"}[f.length]
        return value.astype(">" + kind).view(np.uint8).reshape(len(value), f.length).copy()

    def _packed(self, magnitude: np.ndarray, negative: np.ndarray, f: FieldLayout) -> np.ndarray:
        nibbles = np.empty((len(magnitude), 2 * f.length), dtype=np.int64)
        nibbles[:, :-1] = self._digits(magnitude, 2 * f.length - 1)
        nibbles[:, -1] = np.where(negative, 0xD, 0xC) if f.signed else 0xF
        return (nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).astype(np.uint8)


def write_fixed_width(out: BinaryIO, record_type: str, records: int, encoding: str = "cp037",
                      separator: str = "none", invalid_share: float = 0.05, seed: int = 7,
                      specs: dict[str, RecordSpec] | None = None) -> list[InvalidRecord]:
    """Write `records` records to an open binary stream; return the invalid ones, as in the file."""
    spec = _spec(record_type, specs)
    if spec.layout is None:
        raise ValueError(f"record type {record_type!r} has no fixed-width layout")
    encoder = _Encoder(spec.layout, encoding, separator_bytes(separator, encoding), spec)
    fmt = InputFormat(type="fixed_width", header=False, encoding=codec_for(encoding).name,
                      record_separator="newline" if separator != "none" else "none")
    invalid: list[InvalidRecord] = []
    first_row = 1
    for block, broken in _blocks(spec, records, invalid_share, seed):
        rows = list(block)
        columns = {f.source: np.array(values, dtype=object) for f, values in zip(spec.fields, zip(*rows))}
        cells, cut, altered = encoder.encode(columns)
        out.write(cells.tobytes())
        invalid += _invalid_in_file(spec, fmt, cells, first_row, cut, altered, broken)
        first_row += len(rows)
    return invalid


def _invalid_in_file(spec: RecordSpec, fmt: InputFormat, cells: np.ndarray, first_row: int,
                     cut: dict[str, np.ndarray], altered: dict[str, np.ndarray],
                     broken: list[InvalidRecord]) -> list[InvalidRecord]:
    """The block's deliberately invalid records that are still invalid as written. A valid
    value that does not fit its field is a layout too narrow for the data: fail loudly."""
    broken_rows = {record.row for record in broken}
    for source, mask in cut.items():
        for i in np.flatnonzero(mask).tolist():
            if first_row + i not in broken_rows:
                raise ValueError(f"datagen: {spec.record_type}.{source} of record {first_row + i} does not fit "
                                 f"its fixed-width field: widen the field in the spec's layout")
    changed = [r for r in broken if cut[r.field][r.row - first_row] or altered[r.field][r.row - first_row]]
    if not changed:
        return list(broken)
    # Read the changed records back as the service would, and keep those it still rejects.
    data = cells[[r.row - first_row for r in changed]].tobytes()
    chunk = read_fixed_chunk(data, spec.layout, fmt, 1)
    result = transform(chunk.frame, spec, chunk.rows)
    now_valid = {changed[row - 1].row for row in result.document_rows.tolist()}
    return [r for r in broken if r.row not in now_valid]


def write_fixed_width_file(record_type: str, path: str, records: int, encoding: str = "cp037",
                           separator: str = "none", invalid_share: float = 0.05, seed: int = 7,
                           specs: dict[str, RecordSpec] | None = None) -> int:
    """Write a fixed-width export of `records` records to `path`; return how many are invalid."""
    with open(path, "wb") as out:
        return len(write_fixed_width(out, record_type, records, encoding, separator, invalid_share, seed, specs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m datagen.fixed_width",
        description="Write a synthetic fixed-width mainframe export (the records of datagen.legacy_files "
                    "with the same arguments) for a record type that has a fixed-width layout.")
    with_layout = sorted(name for name, spec in load_specs().items() if spec.layout is not None)
    parser.add_argument("record_type", help=f"one of: {', '.join(with_layout)}")
    parser.add_argument("path", help="the file to write")
    parser.add_argument("records", type=int, help="number of records")
    parser.add_argument("--encoding", default="cp037",
                        help="cp037 (EBCDIC, the default), or a single-byte ASCII-compatible encoding: "
                             "latin-1, cp1252, ascii (characters it lacks are written as '?')")
    parser.add_argument("--separator", default="none", choices=sorted(SEPARATORS),
                        help="what ends each record: none (the default), lf or newline, crlf, "
                             "nl (EBCDIC NL, 0x15)")
    parser.add_argument("--invalid-share", type=float, default=0.05,
                        help="share of records made invalid on purpose (default 0.05)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--list-invalid", action="store_true",
                        help="print the invalid records as CSV lines: row,field,rule")
    args = parser.parse_args(argv)
    try:
        with open(args.path, "wb") as out:
            invalid = write_fixed_width(out, args.record_type, args.records, args.encoding, args.separator,
                                        args.invalid_share, args.seed)
    except (ValueError, LookupError) as err:
        parser.error(str(err))
    if args.list_invalid:
        print("row,field,rule")
        for record in invalid:
            print(f"{record.row},{record.field},{record.rule}")
    print(f"wrote {args.records} {args.record_type} records to {args.path} ({args.encoding}, separator "
          f"{args.separator}; {len(invalid)} invalid)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
