"""Delimited text files: cut one into chunks on record boundaries (DESIGN 3), read a chunk.

A quoted field may hold delimiters, doubled quotes and newlines, so a newline
ends a record only when an even number of quote characters precede it. The scan
is vectorised with numpy, one block at a time: the positions of newlines and
quotes come from `flatnonzero`, and the quote parity at each newline from a
`searchsorted` into the quote positions. A plan is a list of byte ranges with
their first record number and record count; workers read only their range.

Blank lines are not records (pandas skips them too), so the counts here are the
counts the workers will read.

Reading a chunk: the fast path is pandas' C parser with every column as text
(no type guessing, no NA detection: validation decides what a blank means).
pandas pads a short record and may drop a long one's extra fields without a
word, so the fields of every record are first counted (vectorised,
quote-aware); a chunk with a record of the wrong width takes the slow path,
which parses it with the csv module and reports those records one by one
instead of failing the chunk.
"""
from __future__ import annotations

import codecs
import csv
import io
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from chalicelib.errors import InputFileError
from chalicelib.inputs.chunks import ChunkFrame, Cutter, Plan

NEWLINE, QUOTE, CR = 10, 34, 13
UTF8_BOM = b"\xef\xbb\xbf"
# Bytes scanned at a time, however large the reads: the scan makes several numpy passes over a block
# (newlines, quotes, their positions, the decoding check), and over a megabyte they stay in the core's
# cache, where over 8 MB they went to memory, which every core shares. One planner scans about a fifth
# faster so, and two on one machine no longer slow each other down (docs/planning.md has the figures).
SCAN_STEP = 1024 * 1024


def plan_delimited(blocks: Iterable[bytes], records_per_chunk: int, max_chunk_bytes: int,
                   encoding: str = "utf-8", delimiter: str = ",", has_header: bool = True,
                   run_id: str = "", stop_after: int | None = None, range_bytes: int | None = None) -> Plan:
    """Scan the whole file once and return its header (empty without one) and chunk ranges.

    With `range_bytes`, a chunk also ends at the first record end at or after every multiple of it:
    the grid on which a big file's plan fans out (chalicelib.inputs.ranges), so that a plan is the
    same whether one planner scans the file or several scan a range each.

    With `stop_after` (a preview's first records, chalicelib.preview), the scan stops at the first
    block in which more records than that are framed: no block after it is read, and the checks of the
    file's end are not made; the plan's last chunk is then the partial one those records began.

    The quote and newline bytes are the same in every encoding this reads
    (UTF-8 and the single-byte Latin ones), so the scan works on bytes.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0            # absolute offset of the current block
    quote_parity = 0      # quotes seen so far, mod 2
    prev_end = 0          # offset just past the previous record or blank line
    prev_byte = NEWLINE   # the byte before the current block
    last_content = 0      # offset just past the last non-blank byte
    header_start, header_end = 0, None
    head = bytearray()    # the file's first bytes, until the header's record ends
    cutter: Cutter | None = None
    lines_before = 0
    next_edge = range_bytes or 0  # the next grid point a chunk must end after (range_bytes)

    for block in scan_steps(_first_at_least(blocks, len(UTF8_BOM))):
        if not block:
            continue
        if offset == 0:
            if block.startswith(UTF8_BOM) and encoding == "utf-8":
                header_start = prev_end = len(UTF8_BOM)
            if not has_header:
                header_end = header_start
                cutter = Cutter(header_start, records_per_chunk, max_chunk_bytes, run_id)
        pending = decoder.getstate()[0]  # the bytes of a character begun in the block before
        try:
            check_decoding(decoder, block, encoding)
        except UnicodeDecodeError as err:
            at = err.start - len(pending)  # where the bad byte is, from the block's start (< 0: the block before)
            line = lines_before + block[: max(at, 0)].count(b"\n") + 1
            raise InputFileError(
                f"file is not valid {encoding}: undecodable byte 0x{(pending + block)[err.start]:02X} at byte "
                f"offset {offset + at} (line {line}); fix the export or name its encoding") from None
        arr = np.frombuffer(block, dtype=np.uint8)
        newlines = np.flatnonzero(arr == NEWLINE)
        lines_before += len(newlines)
        quotes = np.flatnonzero(arr == QUOTE)
        if len(quotes) or quote_parity:
            parity = (np.searchsorted(quotes, newlines) + quote_parity) & 1
            newlines = newlines[parity == 0]
            quote_parity = (quote_parity + len(quotes)) & 1
        ends = newlines + (offset + 1)
        if len(ends):
            # A blank line is a newline right after the previous one (or after "\r").
            previous = np.empty_like(ends)
            previous[0] = prev_end
            previous[1:] = ends[:-1]
            gap = ends - previous
            before = np.where(newlines >= 1, arr[np.maximum(newlines - 1, 0)], prev_byte)
            blank = (gap == 1) | ((gap == 2) & (before == CR))
            prev_end = int(ends[-1])
            ends = ends[~blank]
        if header_end is None:
            head += block
            if len(ends):
                header_end = int(ends[0])
                ends = ends[1:]
                cutter = Cutter(header_end, records_per_chunk, max_chunk_bytes, run_id)
        if cutter is not None and len(ends):
            if range_bytes:
                next_edge = _add_on_grid(cutter, ends, range_bytes, next_edge)
            else:
                cutter.add(ends)
            if stop_after is not None and cutter.framed > stop_after:
                cutter.close()
                return Plan(header=parse_header(bytes(head[header_start:header_end]), encoding, delimiter)
                            if has_header else [], chunks=cutter.chunks)
        stripped = block.rstrip()
        if stripped:
            last_content = offset + len(stripped)
        prev_byte = block[-1]
        offset += len(block)

    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputFileError(f"file is not valid {encoding}: it ends in the middle of a character") from None
    if quote_parity:
        raise InputFileError("file ends inside a quoted field: a closing quote is missing")
    if last_content <= header_start:
        raise InputFileError("file is empty")
    if header_end is None:
        # One line and no newline: a header without records.
        header_end = last_content
        cutter = Cutter(header_end, records_per_chunk, max_chunk_bytes, run_id)
    elif last_content > prev_end:
        # The last record has no newline after it.
        cutter.add(np.array([offset], dtype=np.int64))
    cutter.close()
    header = parse_header(bytes(head[header_start:header_end]), encoding, delimiter) if has_header else []
    return Plan(header=header, chunks=cutter.chunks)


def check_decoding(decoder, block: bytes, encoding: str, final: bool = False) -> None:
    """`decoder.decode(block, final)` for its errors only; faster for UTF-8 that is mostly ASCII.

    Every byte of a multi-byte UTF-8 character is 0x80 or above, and an ASCII byte is a character on its
    own, so a block is valid UTF-8 if and only if each run of bytes >= 0x80 is: only those runs are
    decoded, apart. A block that ends inside such a run (its character may go on in the next block), one
    after a block that did, or one mostly not ASCII, is decoded whole; so is one found invalid, so that the
    error says where."""
    if encoding == "utf-8" and block and not decoder.getstate()[0]:
        if block.isascii():
            return
        arr = np.frombuffer(block, dtype=np.uint8)
        high = np.flatnonzero(arr >= 0x80)
        if high[-1] != len(block) - 1 and len(high) * 8 < len(block):
            try:
                np.insert(arr[high], np.flatnonzero(np.diff(high) > 1) + 1, NEWLINE).tobytes().decode("utf-8")
                return
            except UnicodeDecodeError:
                pass
    decoder.decode(block, final)


def _add_on_grid(cutter: Cutter, ends: np.ndarray, range_bytes: int, next_edge: int) -> int:
    """Add record ends, closing a chunk at the first one at or after each grid point; the next grid point."""
    while len(ends):
        while next_edge <= cutter.last_end:
            next_edge += range_bytes  # passed already: the record ending there closed a chunk, or started them
        k = int(np.searchsorted(ends, next_edge, side="left"))
        if k >= len(ends):
            cutter.add(ends)
            break
        cutter.add(ends[:k + 1])
        cutter.close()
        ends = ends[k + 1:]
    return next_edge


def scan_steps(blocks: Iterable[bytes], step: int = SCAN_STEP) -> Iterator[bytes]:
    """The same bytes in blocks of at most `step` (SCAN_STEP: why)."""
    for block in blocks:
        if len(block) <= step:
            yield block
        else:
            for at in range(0, len(block), step):
                yield block[at:at + step]


def _first_at_least(blocks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes, with a first block long enough to hold a byte-order mark."""
    iterator = iter(blocks)
    first = b""
    for block in iterator:
        first += block
        if len(first) >= size:
            break
    yield first
    yield from iterator


def parse_header(data: bytes, encoding: str = "utf-8", delimiter: str = ",") -> list[str]:
    text = data.decode(encoding).rstrip("\r\n")
    row = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return [name.strip() for name in row]


def header_problems(record_type: str, columns: list[str], header: list[str]) -> str | None:
    """Say what is wrong with a file's header for a record type whose source columns are `columns`, or None.

    Only the names the record type expects are ever quoted: the row found may be a record (a file
    exported without its header row), so its other values are described by their positions, never
    shown (personal data must not reach a run's error message)."""
    missing = [c for c in columns if c not in header]
    unexpected = [i for i, c in enumerate(header, start=1) if c not in columns]
    duplicated = {c: [i for i, h in enumerate(header, start=1) if h == c] for c in columns if header.count(c) > 1}
    problems = []
    if len(header) != len(columns):
        problems.append(f"the first row has {len(header)} columns, the record type {len(columns)}")
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unexpected:
        problems.append(f"column{'s' if len(unexpected) > 1 else ''} at position{'s' if len(unexpected) > 1 else ''} "
                        f"{_positions(unexpected)} {'are' if len(unexpected) > 1 else 'is'} not the record type's")
    for name, positions in duplicated.items():
        problems.append(f"{name} appears at positions {_positions(positions)}")
    if not problems:
        return None
    hint = "; if the file has no header row, set input_format.header to false" if len(unexpected) == len(header) \
        else ""
    return f"header does not match record type {record_type!r}: " + "; ".join(problems) + hint


def _positions(positions: list[int]) -> str:
    shown = ", ".join(map(str, positions[:10]))
    return shown + (f" and {len(positions) - 10} more" if len(positions) > 10 else "")


def read_delimited_chunk(data: bytes, header: list[str], first_row: int, encoding: str = "utf-8",
               delimiter: str = ",") -> ChunkFrame:
    if not _all_records_have(len(header), data, delimiter):
        return _read_slowly(data, header, first_row, encoding, delimiter)
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None, names=header, dtype=object, na_filter=False,
                            keep_default_na=False, encoding=encoding, sep=delimiter, engine="c",
                            skip_blank_lines=True, quoting=csv.QUOTE_MINIMAL,
                            low_memory=False)  # one pass: a chunk is bounded anyway
    except pd.errors.ParserError:
        return _read_slowly(data, header, first_row, encoding, delimiter)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in header})
    return ChunkFrame(frame, np.arange(first_row, first_row + len(frame)), [])


def _all_records_have(width: int, data: bytes, delimiter: str) -> bool:
    """True when every non-blank record holds exactly `width` fields.

    Separators are counted per record, then those inside quoted fields are
    taken off, counted per quoted field: lookups proportional to records and
    quotes, never one per separator.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    if not len(arr):
        return True
    quotes = np.flatnonzero(arr == 34)
    if len(quotes) % 2:
        return False  # unbalanced quotes: let the careful parser say where
    newlines = np.flatnonzero(arr == 10)
    newlines = newlines[(np.searchsorted(quotes, newlines) & 1) == 0]
    ends = newlines if arr[-1] == 10 else np.append(newlines, len(arr))
    starts = np.concatenate(([0], newlines + 1))[: len(ends)]
    separators = np.flatnonzero(arr == ord(delimiter))
    fields = np.searchsorted(separators, ends) - np.searchsorted(separators, starts) + 1
    if len(quotes):
        opens, closes = quotes[0::2], quotes[1::2]
        quoted = np.searchsorted(separators, closes) - np.searchsorted(separators, opens)
        fields -= np.bincount(np.searchsorted(ends, opens), weights=quoted, minlength=len(ends)).astype(np.int64)
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (arr[np.minimum(starts, len(arr) - 1)] == 13))
    return bool(np.all(fields[~blank] == width))


def _read_slowly(data: bytes, header: list[str], first_row: int, encoding: str,
                 delimiter: str) -> ChunkFrame:
    text = data.decode(encoding)
    good: list[list[str]] = []
    rows: list[int] = []
    malformed: list[tuple[int, str]] = []
    row = first_row
    for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        if not record:
            continue  # a blank line is not a record
        if len(record) == len(header):
            good.append(record)
            rows.append(row)
        else:
            malformed.append((row, f"expected {len(header)} fields, found {len(record)}"))
        row += 1
    frame = pd.DataFrame(good, columns=header, dtype=object)
    return ChunkFrame(frame, np.array(rows, dtype=np.int64), malformed)
