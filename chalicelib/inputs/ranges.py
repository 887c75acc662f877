"""Planning a delimited file by byte ranges, each scanned on its own, then stitched: the plan's fan-out.

The file is cut into ranges on a fixed grid, `range_bytes` apart (a run's setting). Range i
holds the record ends e with a_i <= e < a_(i+1) (the last range: up to the file's end). The
plan always cuts a chunk at b_i, the first record end at or after a_i, whether one planner
scans the whole file (`plan_delimited(range_bytes=...)`) or several scan a range each: so a
range's chunks depend on its own bytes only, and the stitched plan is the single planner's,
chunk for chunk (tests/unit/test_plan_ranges.py holds the proof, over random files whose
quoted newlines fall on range edges).

A range cannot know whether it starts inside a quoted field: that depends on every quote
before it. So it is scanned for both states (the classic speculative scan): the newlines,
quotes and blank lines are found once, and two cutters run, one per state. Stitching walks
the ranges in order, each picking the state the previous one ended in (entry parity XOR the
parity of its quotes): only a few numbers and chunk pointers cross from range to stitcher.

A record that spans a range edge belongs to the range it ends in... except b_i itself, which
closes the previous range's last (open) chunk: the stitcher closes it there, one record more.

The file's SHA-256 cannot be split over ranges (a tree of range hashes is another digest), so
a fanned-out plan takes it in one more part, a sequential read of the whole file beside the
range scans (`hash_file`); see docs/planning.md.
"""
from __future__ import annotations

import codecs
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from chalicelib.errors import InputFileError
from chalicelib.inputs.chunks import Cutter, Plan
from chalicelib.inputs.delimited import CR, NEWLINE, QUOTE, SCAN_STEP, UTF8_BOM, check_decoding, parse_header
from chalicelib.messages import ChunkMessage

READ_BLOCK = 8 * 1024 * 1024   # bytes one read asks for (a ranged GET from S3)
LOOKBACK = 3          # bytes before a range read with it: the blank-line test looks two bytes back
WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.rstrip() strips: trailing blanks are no content


@dataclass
class StateScan:
    """What a range holds if it starts with the given quote parity."""

    first_end: int | None = None          # b_i: the first record end in the range (range 0: where records start)
    chunks: list[list[int]] = field(default_factory=list)   # closed chunks: [start, end, rows]
    open: list[int] = field(default_factory=lambda: [0, 0, 0])  # the chunk left open: [start, last end, rows]
    last_any_end: int | None = None       # the last newline end, blank lines included (the file's end test)

    def to_dict(self) -> dict:
        return {"first_end": self.first_end, "chunks": self.chunks, "open": self.open,
                "last_any_end": self.last_any_end}


@dataclass
class RangeScan:
    """A range's partial result: small (chunk pointers, a few offsets), whatever the range's size."""

    index: int
    start: int
    end: int
    flip: int                              # quotes in [start, end), mod 2
    states: list[StateScan | None]         # by entry parity; range 0 has only parity 0
    last_content: int | None = None        # just past the range's last byte that is not whitespace
    newlines: int = 0                      # every LF byte in [start, end): line numbers in messages
    decode_error: list | None = None       # [absolute offset, byte, LFs in the range before it]
    ends_mid_character: bool = False

    def to_dict(self) -> dict:
        return {"index": self.index, "start": self.start, "end": self.end, "flip": self.flip,
                "states": [s.to_dict() if s else None for s in self.states], "last_content": self.last_content,
                "newlines": self.newlines, "decode_error": self.decode_error,
                "ends_mid_character": self.ends_mid_character}

    @classmethod
    def from_dict(cls, data: dict) -> "RangeScan":
        states = [StateScan(**s) if s else None for s in data.pop("states")]
        return cls(states=states, **data)


def range_edges(size: int, range_bytes: int) -> list[tuple[int, int]]:
    """The grid's ranges over a file of `size` bytes: [(a_i, a_(i+1))], the last one ending at the file's end."""
    count = max(1, -(-size // range_bytes))
    return [(i * range_bytes, min(size, (i + 1) * range_bytes)) for i in range(count)]


def scan_range(read: Callable[[int, int], bytes], size: int, index: int, start: int, end: int,
               records_per_chunk: int, max_chunk_bytes: int, encoding: str = "utf-8",
               has_header: bool = True, readers: int = 1, block_size: int = SCAN_STEP,
               read_bytes: int = READ_BLOCK) -> RangeScan:
    """Scan one range [start, end) of a file of `size` bytes, read through `read(start, end)` about
    `read_bytes` at a time, `readers` reads at once (read_ahead: for S3), and scanned `block_size` bytes
    at a time (SCAN_STEP: why the two differ)."""
    last = end >= size
    first_range = start == 0
    # Where records start (past a byte-order mark): a newline there ends a blank line, in whatever range.
    records_from = len(UTF8_BOM) if encoding == "utf-8" and read(0, min(size, len(UTF8_BOM))) == UTF8_BOM else 0
    parities = (0,) if first_range else (0, 1)
    states: list[StateScan | None] = [StateScan(), StateScan()] if not first_range else [StateScan(), None]
    cutters: list[Cutter | None] = [None, None]
    if first_range and not has_header:
        states[0].first_end = records_from
        cutters[0] = Cutter(records_from, records_per_chunk, max_chunk_bytes)
    scan = RangeScan(index, start, end, 0, states)
    # The characters that start in the range are checked here: the range whose characters reach the
    # file's end checks how it ends.
    decode_from = _character_start(read, start, size, encoding)
    decode_to = _character_start(read, end, size, encoding) if not last else size
    decoder = codecs.getincrementaldecoder(encoding)()
    # Newlines p with start - 1 <= p < end - 1 end records of this range (p = size - 1 too, for the last).
    low, high = start - 1, (size if last else end - 1)
    flips = 0
    # Blocks of `block_size` bytes from LOOKBACK before the range, each read with the two bytes before it.
    spans = [(pos, min(end, pos + block_size)) for pos in range(max(0, start - LOOKBACK), end, block_size)]
    for (pos, stop), block in zip(spans, _span_bytes(read, spans, readers, read_bytes)):
        base = max(0, pos - 2)
        arr = np.frombuffer(block, dtype=np.uint8)
        newlines = np.flatnonzero(arr == NEWLINE)
        scan.newlines += int(np.count_nonzero(newlines >= max(pos, start) - base))
        newlines = newlines[(newlines >= max(pos, low) - base) & (newlines < high - base)]
        quotes = np.flatnonzero(arr == QUOTE)
        quotes = quotes[quotes >= max(pos, start) - base]
        before = np.searchsorted(quotes, newlines) + flips   # quotes in [start, p), not yet mod 2
        blank = _blank(arr, newlines, base, records_from)
        for parity in parities:
            true = ((before + parity) & 1) == 0
            ends = newlines[true] + (base + 1)
            if not len(ends):
                continue
            state = states[parity]
            state.last_any_end = int(ends[-1])
            ends = ends[~blank[true]]
            if not len(ends):
                continue
            if cutters[parity] is None:
                state.first_end = int(ends[0])
                cutters[parity] = Cutter(int(ends[0]), records_per_chunk, max_chunk_bytes)
                ends = ends[1:]
            if len(ends):
                cutters[parity].add(ends)
        flips = (flips + len(quotes)) & 1
        text_from, text_to = max(decode_from, pos), min(stop, decode_to)
        if scan.decode_error is None and text_from < decode_to:
            text = block[text_from - base:text_to - base] if text_from < text_to else b""
            if stop == end and decode_to > max(end, text_from):
                text += read(max(end, text_from), decode_to)  # the range's last character, whole
            _check_decoding(decoder, text, text_from, encoding, stop == end, decode_to >= size, read, scan)
        stripped = block[pos - base:].rstrip(WHITESPACE)
        if stripped:
            scan.last_content = pos + len(stripped)
    scan.flip = flips
    for parity in parities:
        cutter = cutters[parity]
        if cutter is not None:
            states[parity].chunks = [[c.start, c.end, c.rows] for c in cutter.chunks]
            states[parity].open = [cutter.chunk_start, cutter.last_end, cutter.rows_in_chunk]
    return scan


def _span_bytes(read: Callable[[int, int], bytes], spans: list[tuple[int, int]], readers: int,
                read_bytes: int) -> Iterator[bytes]:
    """Each span's bytes with the two before it, from reads of about `read_bytes` (whole spans each)."""
    per_read = max(1, read_bytes // max(1, spans[0][1] - spans[0][0])) if spans else 1
    groups = [spans[i:i + per_read] for i in range(0, len(spans), per_read)]
    reads = read_ahead(read, [(max(0, group[0][0] - 2), group[-1][1]) for group in groups], readers)
    for group, data in zip(groups, reads):
        origin = max(0, group[0][0] - 2)
        for pos, stop in group:
            yield data[max(0, pos - 2) - origin:stop - origin]


def _blank(arr: np.ndarray, newlines: np.ndarray, base: int, records_from: int) -> np.ndarray:
    """Which newlines (true ones: the test holds for those only) end a blank line: one right after the
    previous newline (or after it and a CR), or at the file's start. The byte before a true newline
    that is itself a newline is a true one too: no quote lies between them."""
    at = newlines + base
    one = np.where(newlines >= 1, arr[np.maximum(newlines - 1, 0)], 0)
    two = np.where(newlines >= 2, arr[np.maximum(newlines - 2, 0)], 0)
    return (at == records_from) | (one == NEWLINE) | ((one == CR) & ((at - 1 == records_from) | (two == NEWLINE)))


def _character_start(read: Callable[[int, int], bytes], offset: int, size: int, encoding: str) -> int:
    """Where the character at or after `offset` starts: UTF-8 continuation bytes belong to the range before."""
    if encoding != "utf-8" or offset == 0 or offset >= size:
        return min(offset, size)
    tail = read(offset, min(size, offset + 3))
    skip = 0
    while skip < len(tail) and 0x80 <= tail[skip] <= 0xBF:
        skip += 1
    return offset + skip


def _check_decoding(decoder, text: bytes, at: int, encoding: str, last_block: bool, file_end: bool, read,
                    scan: RangeScan) -> None:
    """Check the range's next bytes (from absolute offset `at`), keeping the first error in the range. The
    range's last character must be whole; at the file's end, one cut short has a message of its own."""
    pending = len(decoder.getstate()[0])  # bytes of a character begun in the block before
    try:
        check_decoding(decoder, text, encoding, final=last_block and not file_end)
        if last_block and file_end:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                scan.ends_mid_character = True
    except UnicodeDecodeError as err:
        offset = at + err.start - pending
        lines = read(scan.start, offset).count(b"\n") if offset > scan.start else 0
        scan.decode_error = [offset, read(offset, offset + 1)[0], lines]


def stitch(scans: list[RangeScan], read: Callable[[int, int], bytes], size: int, encoding: str = "utf-8",
           delimiter: str = ",", has_header: bool = True, run_id: str = "") -> Plan:
    """The plan of the whole file from its ranges' scans, in order: the single planner's plan, exactly.
    Raises the InputFileError the single planner would (the first range's, in file order)."""
    scans = sorted(scans, key=lambda s: s.index)
    lines = 0
    for scan in scans:
        if scan.decode_error:
            at, byte, before = scan.decode_error
            raise InputFileError(
                f"file is not valid {encoding}: undecodable byte 0x{byte:02X} at byte offset {at} "
                f"(line {lines + before + 1}); fix the export or name its encoding")
        lines += scan.newlines
    if any(scan.ends_mid_character for scan in scans):
        raise InputFileError(f"file is not valid {encoding}: it ends in the middle of a character")
    records_from = len(UTF8_BOM) if encoding == "utf-8" and read(0, min(size, 3)) == UTF8_BOM else 0
    chunks: list[ChunkMessage] = []
    pending: list[int] | None = None      # the open chunk: [start, last end, rows]
    header_end: int | None = None if has_header else records_from
    last_any_end, parity, next_row = records_from, 0, 1
    last_content: int | None = None

    def close(chunk_end: int, rows: int) -> None:
        nonlocal next_row
        if rows:
            chunks.append(ChunkMessage(run_id, len(chunks) + 1, pending[0], chunk_end, next_row, rows))
            next_row += rows

    for scan in scans:
        state = scan.states[parity]
        if scan.last_content is not None:
            last_content = scan.last_content
        if state.last_any_end is not None:
            last_any_end = state.last_any_end
        if state.first_end is not None:
            if pending is not None:
                close(state.first_end, pending[2] + 1)
            elif header_end is None:
                header_end = state.first_end
            for start, end, rows in state.chunks:
                chunks.append(ChunkMessage(run_id, len(chunks) + 1, start, end, next_row, rows))
                next_row += rows
            pending = list(state.open)
        parity ^= scan.flip
    if parity:
        raise InputFileError("file ends inside a quoted field: a closing quote is missing")
    if last_content is None or last_content <= records_from:
        raise InputFileError("file is empty")
    if header_end is None:
        header_end = last_content   # one line and no newline: a header without records
    elif last_content > last_any_end:
        close(size, pending[2] + 1)   # the last record has no newline after it
    elif pending is not None:
        close(pending[1], pending[2])
    header = parse_header(read(records_from, header_end), encoding, delimiter) if has_header else []
    return Plan(header=header, chunks=chunks)


def read_ahead(read: Callable[[int, int], bytes], spans: list[tuple[int, int]], readers: int) -> Iterator[bytes]:
    """The bytes of each span, in order, `readers` of them read at once in threads: one S3 stream gives about
    100 MB/s, less than a scan or a hash uses, and ranged GETs, hashlib and numpy all release the GIL. At most
    `readers` spans are held."""
    if readers <= 1:
        for start, end in spans:
            yield read(start, end)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending = iter(spans)
    with ThreadPoolExecutor(max_workers=readers) as pool:
        ahead: deque = deque(pool.submit(read, a, b) for a, b in itertools.islice(pending, readers))
        while ahead:
            data = ahead.popleft().result()
            following = next(pending, None)
            if following is not None:
                ahead.append(pool.submit(read, *following))
            yield data


def hash_file(read: Callable[[int, int], bytes], size: int, block: int = READ_BLOCK, readers: int = 8) -> str:
    """The file's SHA-256: the part of a fanned-out plan that cannot be split; its blocks read ahead."""
    digest = hashlib.sha256()
    for data in read_ahead(read, [(pos, min(size, pos + block)) for pos in range(0, size, block)], readers):
        digest.update(data)
    return digest.hexdigest()


def plan_by_ranges(read: Callable[[int, int], bytes], size: int, range_bytes: int, records_per_chunk: int,
                   max_chunk_bytes: int, encoding: str = "utf-8", delimiter: str = ",", has_header: bool = True,
                   run_id: str = "") -> Plan:
    """Every range scanned in turn, then stitched: what the fan-out does, in one process (tests, bench)."""
    scans = [scan_range(read, size, i, a, b, records_per_chunk, max_chunk_bytes, encoding, has_header)
             for i, (a, b) in enumerate(range_edges(size, range_bytes))]
    return stitch(scans, read, size, encoding, delimiter, has_header, run_id)


__all__ = ["RangeScan", "StateScan", "hash_file", "plan_by_ranges", "range_edges", "scan_range", "stitch"]
