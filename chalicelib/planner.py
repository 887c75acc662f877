"""Cut a delimited file into chunks on record boundaries (DESIGN 3).

A quoted field may hold delimiters, doubled quotes and newlines, so a newline
ends a record only when an even number of quote characters precede it. The scan
is vectorised with numpy, one block at a time: the positions of newlines and
quotes come from `flatnonzero`, and the quote parity at each newline from a
`searchsorted` into the quote positions. A plan is a list of byte ranges with
their first record number and record count; workers read only their range.

Blank lines are not records (pandas skips them too), so the counts here are the
counts the workers will read.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from chalicelib.errors import InputFileError

NEWLINE, QUOTE, CR = 10, 34, 13
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ChunkRange:
    start: int
    end: int
    first_row: int
    rows: int


@dataclass
class Plan:
    header: list[str]
    chunks: list[ChunkRange] = field(default_factory=list)

    @property
    def total_records(self) -> int:
        return sum(c.rows for c in self.chunks)


class _Cutter:
    """Accumulates record ends and closes a chunk every `records` records or `max_bytes` bytes."""

    def __init__(self, start: int, records: int, max_bytes: int):
        self.records, self.max_bytes = records, max_bytes
        self.chunk_start, self.rows_in_chunk, self.next_row = start, 0, 1
        self.last_end = start  # offset just past the last record seen
        self.chunks: list[ChunkRange] = []

    def add(self, ends: np.ndarray) -> None:
        """`ends` are offsets just past each record's newline, ascending."""
        i, n = 0, len(ends)
        while i < n:
            need = self.records - self.rows_in_chunk
            # The byte limit: the first record end at or past chunk_start + max_bytes.
            by_bytes = int(np.searchsorted(ends[i:], self.chunk_start + self.max_bytes, side="left"))
            take = min(need, by_bytes + 1)
            if i + take > n:
                self.rows_in_chunk += n - i
                self.last_end = int(ends[-1])
                return
            i += take
            self.rows_in_chunk += take
            self.last_end = int(ends[i - 1])
            self.close()

    def close(self) -> None:
        if self.rows_in_chunk:
            self.chunks.append(ChunkRange(self.chunk_start, self.last_end, self.next_row, self.rows_in_chunk))
            self.next_row += self.rows_in_chunk
        self.chunk_start, self.rows_in_chunk = self.last_end, 0


def plan_delimited(blocks: Iterable[bytes], records_per_chunk: int, max_chunk_bytes: int,
                   encoding: str = "utf-8", delimiter: str = ",", has_header: bool = True) -> Plan:
    """Scan the whole file once and return its header (empty without one) and chunk ranges.

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
    cutter: _Cutter | None = None
    lines_before = 0

    for block in _first_at_least(blocks, len(UTF8_BOM)):
        if not block:
            continue
        if offset == 0:
            if block.startswith(UTF8_BOM) and encoding == "utf-8":
                header_start = prev_end = len(UTF8_BOM)
            if not has_header:
                header_end = header_start
                cutter = _Cutter(header_start, records_per_chunk, max_chunk_bytes)
        try:
            decoder.decode(block)
        except UnicodeDecodeError as err:
            line = lines_before + block[: err.start].count(b"\n") + 1
            raise InputFileError(
                f"file is not valid {encoding}: undecodable byte 0x{block[err.start]:02X} at byte "
                f"offset {offset + err.start} (line {line}); fix the export or name its encoding") from None
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
                cutter = _Cutter(header_end, records_per_chunk, max_chunk_bytes)
        if cutter is not None and len(ends):
            cutter.add(ends)
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
        cutter = _Cutter(header_end, records_per_chunk, max_chunk_bytes)
    elif last_content > prev_end:
        # The last record has no newline after it.
        cutter.add(np.array([offset], dtype=np.int64))
    cutter.close()
    header = parse_header(bytes(head[header_start:header_end]), encoding, delimiter) if has_header else []
    return Plan(header=header, chunks=cutter.chunks)


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
