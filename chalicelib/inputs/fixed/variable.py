"""Variable-length mainframe records (RECFM=V and VB): find them in a byte stream, block by block.

A binary transfer of a variable-length data set (FTP BINARY with RDW, IND$FILE)
keeps the descriptor words z/OS stores with the records:

- RECFM=V: every record is preceded by a 4-byte Record Descriptor Word (RDW):
  bytes 0-1 the record's length in bytes, the RDW's own 4 included, big-endian;
  bytes 2-3 zero. A record's data is the bytes after its RDW.
- RECFM=VB: the records come in blocks, each preceded by a 4-byte Block
  Descriptor Word (BDW): bytes 0-1 the block's length, the BDW included, bytes
  2-3 zero; the RDW-prefixed records of a block fill it exactly. In the large
  form (z/OS large block interface) the high bit of byte 0 is set and the
  other 31 bits of the word are the block's length.

Some transfers differ from z/OS, hence the options of `VariableFraming` (those
of cobrix, `rdw_adjustment` and `is_rdw_big_endian`):

- `rdw_adjust` is added to every RDW length. If the RDWs give the length of
  the data alone (without the RDW's 4 bytes), set it to 4.
- `bdw_adjust` does the same for BDW lengths.
- `big_endian=False` reads every length field little-endian: an RDW or a
  standard BDW is then length-low, length-high, 0, 0; a large-form BDW is a
  4-byte little-endian word whose top bit (in byte 3) is set.

The rules a descriptor must follow, whatever the options:

- RDW: bytes 2-3 zero (else it is no RDW: a spanned-record segment, or data);
  its length, adjusted, from 4 (an empty record) to 32760. Four zero bytes
  never start a record, not even with rdw_adjust=4: they are padding, or an
  error if anything but padding follows.
- BDW: standard form, bytes 2-3 zero and a length from 4 to 32760; large
  form, a length from 4 to `MAX_LARGE_BLOCK`. A block only ends at a record
  end: a record running past its block's end is an error.

A run of 0x00 / 0x40 bytes (low-values, EBCDIC spaces) where the next RDW (V)
or BDW (VB) should start, up to the end of the file, is padding and ignored.
Padding is only recognised where the bytes cannot be a whole record or block
(a descriptor is invalid, or the file ends first), so a chunk scanned on its
own finds exactly what the planner found in it. (Padding mixing 0x00 and 0x40
can look like an RDW, "00 40 00 00"; a V file would then read it as records.)

Where a chunk may end: after any record for V; for VB only at a block's end,
so a worker's range always starts with a BDW.

The scan is sequential by nature (each length gives the next start): a tight
Python loop over the RDWs with a precompiled `struct` unpacker; the lengths
and ends are then computed with numpy from the RDW offsets. Error messages
give the record number and byte offset (and the block's, for VB), never the
bytes of a record.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from chalicelib.errors import InputFileError

RDW_SIZE = BDW_SIZE = 4
MAX_RECORD = 32760           # the longest variable-length record, its RDW included (no spanning)
MAX_BLOCK = 32760            # the longest standard-form block, its BDW included
MAX_LARGE_BLOCK = 1 << 24    # large-form blocks: z/OS tapes go to 256 KiB; this bounds what is carried over

_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_B = np.empty(0, dtype=bool)
_BAD, _SHORT, _DONE = 0, 1, 2


@dataclass(frozen=True)
class VariableFraming:
    blocked: bool = False      # VB: the records are grouped in blocks, each with a BDW
    rdw_adjust: int = 0        # added to every RDW length (4 when it counts the data only)
    big_endian: bool = True    # length fields big-endian (z/OS); False reads them little-endian
    bdw_adjust: int = 0        # added to every BDW length

    def __post_init__(self) -> None:
        for name in ("rdw_adjust", "bdw_adjust"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_RECORD:
                raise ValueError(f"{name} must be a whole number of bytes, not {value!r}")


@dataclass
class VariableFound:
    starts: np.ndarray    # int64: absolute offset of each record's data (just after its RDW)
    lengths: np.ndarray   # int64: the length of each record's data
    ends: np.ndarray      # int64: absolute offset just past each record
    cut_ok: np.ndarray    # bool: whether a chunk may end just after each record (V: always; VB: at a block's end)
    pos: int              # absolute offset where the scan stopped; the bytes from there need more bytes


def _only_padding(buf, start: int) -> bool:
    """Whether buf[start:] holds only 0x00 and 0x40 bytes (low-values, EBCDIC spaces)."""
    tail = np.frombuffer(buf, dtype=np.uint8)[start:]
    return not np.any(tail & 0xBF)


class VariableScanner:
    """Finds variable-length records in a buffer. The planner feeds it the file a block at a
    time (the unfinished tail carried over); a worker gives it one chunk with `first_record`
    set to the chunk's first record number. Both call `scan`, so they find the same records.
    The scanner counts records and blocks across calls, for its messages."""

    def __init__(self, framing: VariableFraming, first_record: int = 1):
        self.framing = framing
        order = ">" if framing.big_endian else "<"
        self._halves = struct.Struct(order + "HH").unpack_from   # (length, bytes 2-3)
        self._word = struct.Struct(order + "I").unpack_from      # a large-form BDW
        adjust = framing.rdw_adjust
        # The RDW length fields that give a record of 4 to MAX_RECORD bytes; 0 never does.
        self._rdw_low, self._rdw_high = max(1, RDW_SIZE - adjust), MAX_RECORD - adjust
        self.next_record = first_record   # the number of the next record found
        self.next_block = 1               # VB: the number of the next block, counted from the first scan's start
        # Set by a scan that stopped (final=False) at an invalid descriptor followed only by padding:
        # its absolute offset. It is padding if the file ends with padding, else an error.
        self.padding_at: int | None = None

    # ------------------------------------------------------------------ the scan

    def scan(self, buf: bytes | bytearray | memoryview | np.ndarray, base: int, final: bool) -> VariableFound:
        """Every whole record in `buf`, the file's bytes from absolute offset `base`, which
        must be a record boundary (V) or a block boundary (VB).

        The scan stops before a record (V) or block (VB) that `buf` does not hold in full:
        `pos` says where, and the caller passes those bytes again with more after them. With
        `final=True` nothing follows: bytes left over that are not padding raise
        InputFileError naming the record number and byte offset."""
        if isinstance(buf, np.ndarray):
            buf = memoryview(np.ascontiguousarray(buf, dtype=np.uint8)).cast("B")
        elif isinstance(buf, memoryview) and (buf.format != "B" or buf.ndim != 1):
            buf = buf.cast("B")
        rdws: list[int] = []
        self.padding_at = None
        if self.framing.blocked:
            p, block_last = self._scan_blocks(buf, base, final, rdws)
        else:
            p, block_last = self._scan_records(buf, base, final, rdws), None
        if not rdws:
            return VariableFound(_EMPTY_I, _EMPTY_I, _EMPTY_I, _EMPTY_B, base + p)
        offsets = np.array(rdws, dtype=np.int64)
        arr = np.frombuffer(buf, dtype=np.uint8)
        first, second = arr[offsets].astype(np.int64), arr[offsets + 1].astype(np.int64)
        if not self.framing.big_endian:
            first, second = second, first
        totals = first * 256 + second + self.framing.rdw_adjust
        if block_last is None:
            cut_ok = np.ones(len(offsets), dtype=bool)
        else:
            cut_ok = np.zeros(len(offsets), dtype=bool)
            cut_ok[block_last] = True
        self.next_record += len(offsets)
        offsets += base
        return VariableFound(offsets + RDW_SIZE, totals - RDW_SIZE, offsets + totals, cut_ok, base + p)

    def _walk(self, buf, p: int, stop: int, out: list[int]) -> tuple[int, int]:
        """Records from p up to stop, their RDW offsets appended to `out`: (where the walk
        stopped, _DONE at `stop`, _SHORT if the next record does not end by `stop` or
        _BAD if the next RDW is invalid). The hot loop: one unpack and two tests a record."""
        unpack, add = self._halves, out.append
        low, high, adjust = self._rdw_low, self._rdw_high, self.framing.rdw_adjust
        last = stop - RDW_SIZE
        while p <= last:
            length, zero = unpack(buf, p)
            if zero or not low <= length <= high:
                return p, _BAD
            end = p + length + adjust
            if end > stop:
                return p, _SHORT
            add(p)
            p = end
        return p, (_DONE if p == stop else _SHORT)

    def _scan_records(self, buf, base: int, final: bool, rdws: list[int]) -> int:
        """RECFM=V: records end to end. Returns where the scan stopped."""
        n = len(buf)
        p, status = self._walk(buf, 0, n, rdws)
        if status == _DONE:
            return p
        if status == _BAD:
            if _only_padding(buf, p):  # padding at the end of the file, or an error once more bytes come
                if final:
                    return n
                self.padding_at = base + p
                return p
            raise InputFileError(self._rdw_problem(buf, p, base, self.next_record + len(rdws)))
        if not final:
            return p
        if _only_padding(buf, p):
            return n
        raise InputFileError(self._truncated(buf, p, base, n, self.next_record + len(rdws)))

    def _scan_blocks(self, buf, base: int, final: bool, rdws: list[int]) -> tuple[int, list[int]]:
        """RECFM=VB: only whole blocks. Returns where the scan stopped and the index in
        `rdws` of every block's last record."""
        n, p = len(buf), 0
        halves, word, adjust = self._halves, self._word, self.framing.bdw_adjust
        large_byte = 0 if self.framing.big_endian else 3
        block_last: list[int] = []
        blocks = 0
        while p + BDW_SIZE <= n:
            if buf[p + large_byte] & 0x80:
                size = (word(buf, p)[0] & 0x7FFFFFFF) + adjust
                valid = BDW_SIZE <= size <= MAX_LARGE_BLOCK
            else:
                length, zero = halves(buf, p)
                size = length + adjust
                valid = not zero and length and BDW_SIZE <= size <= MAX_BLOCK
            if not valid:
                if _only_padding(buf, p):
                    self.next_block += blocks
                    if final:
                        return n, block_last
                    self.padding_at = base + p
                    return p, block_last
                raise InputFileError(self._bdw_problem(buf, p, base, self.next_block + blocks,
                                                       self.next_record + len(rdws)))
            end = p + size
            if end > n:
                break
            before = len(rdws)
            q, status = self._walk(buf, p + BDW_SIZE, end, rdws)
            if status != _DONE:
                if _only_padding(buf, p):  # a descriptor-like run of padding bytes: as above
                    del rdws[before:]
                    self.next_block += blocks
                    if final:
                        return n, block_last
                    self.padding_at = base + p
                    return p, block_last
                number = self.next_record + len(rdws)
                block = (f"block {self.next_block + blocks} (byte offset {base + p}, ending at byte offset "
                         f"{base + end})")
                if status == _BAD:
                    raise InputFileError(f"{self._rdw_problem(buf, q, base, number)}; in {block}")
                raise InputFileError(self._past_block(buf, q, base, end, number, block))
            if len(rdws) > before:
                block_last.append(len(rdws) - 1)
            blocks += 1
            p = end
        self.next_block += blocks
        if p == n or not final:
            return p, block_last
        if _only_padding(buf, p):
            return n, block_last
        number, block = self.next_record + len(rdws), self.next_block
        if p + BDW_SIZE > n:
            raise InputFileError(f"block {block} (byte offset {base + p}, before record {number}): the file ends "
                                 f"{n - p} byte{'s' if n - p > 1 else ''} into its 4-byte BDW")
        raise InputFileError(f"block {block} (byte offset {base + p}, before record {number}): the file ends "
                             f"inside the block, {size} bytes by its BDW, {n - p} left")

    # ------------------------------------------------------------------ messages (never the bytes)

    def _rdw_problem(self, buf, p: int, base: int, number: int) -> str:
        length, zero = self._halves(buf, p)
        where = f"record {number} (byte offset {base + p})"
        if zero:
            spanned = "" if buf[p + 3] or buf[p + 2] > 3 else (
                "; it may be a segment descriptor of a spanned record (RECFM=VS or VBS), which is not supported")
            return (f"{where}: not an RDW: bytes 2-3 of a record descriptor word must be zero{spanned}; the file is "
                    f"not variable-length with RDWs here, or a length before it is wrong")
        if not length:
            return f"{where}: not an RDW: its length is zero (four zero bytes: padding, not a record)"
        total = length + self.framing.rdw_adjust
        swapped = (length & 0xFF) << 8 | length >> 8
        hint = ""
        if self._rdw_low <= swapped <= self._rdw_high:
            other = "little" if self.framing.big_endian else "big"
            hint = f"; if the lengths are {other}-endian, set big_endian to {str(not self.framing.big_endian).lower()}"
        if total < RDW_SIZE:
            if 0 <= total and not self.framing.rdw_adjust:
                hint = "; if the lengths do not count the RDW itself, set rdw_adjust to 4"
            return f"{where}: RDW length {total} is below 4, the RDW's own length{hint}"
        return f"{where}: RDW length {total} is above {MAX_RECORD}, the longest variable-length record{hint}"

    def _truncated(self, buf, p: int, base: int, n: int, number: int) -> str:
        where = f"record {number} (byte offset {base + p})"
        if p + RDW_SIZE > n:
            return (f"{where}: the file ends {n - p} byte{'s' if n - p > 1 else ''} into the record's 4-byte RDW; "
                    f"the last record is incomplete")
        total = self._halves(buf, p)[0] + self.framing.rdw_adjust
        return f"{where}: the file ends inside the record, {total} bytes by its RDW, {n - p} left"

    def _past_block(self, buf, q: int, base: int, end: int, number: int, block: str) -> str:
        where = f"record {number} (byte offset {base + q})"
        if q + RDW_SIZE > end:
            return (f"{where}: {block} has {end - q} byte{'s' if end - q > 1 else ''} left after the record "
                    f"before, too few for an RDW; the records of a block must fill it exactly")
        total = self._halves(buf, q)[0] + self.framing.rdw_adjust
        return (f"{where}: the record, {total} bytes by its RDW, runs past the end of its {block}; the records "
                f"of a block must fill it exactly")

    def _bdw_problem(self, buf, p: int, base: int, block: int, number: int) -> str:
        where = f"block {block} (byte offset {base + p}, before record {number})"
        if buf[p + (0 if self.framing.big_endian else 3)] & 0x80:
            size = (self._word(buf, p)[0] & 0x7FFFFFFF) + self.framing.bdw_adjust
            if size < BDW_SIZE:
                return f"{where}: large-form BDW length {size} is below 4, the BDW's own length"
            return (f"{where}: large-form BDW length {size} is above {MAX_LARGE_BLOCK}, the longest block read; "
                    f"the file is not RECFM=VB here, or a length before it is wrong")
        length, zero = self._halves(buf, p)
        if zero:
            return (f"{where}: not a BDW: bytes 2-3 of a block descriptor word must be zero; the file is not "
                    f"RECFM=VB here (for RECFM=V, set blocked to false), or a length before it is wrong")
        if not length:
            return f"{where}: not a BDW: its length is zero (four zero bytes: padding, not a block)"
        size = length + self.framing.bdw_adjust
        if size < BDW_SIZE:
            return f"{where}: BDW length {size} is below 4, the BDW's own length"
        return f"{where}: BDW length {size} is above {MAX_BLOCK}, the longest block"


# ------------------------------------------------------------------ planning

def scan_blocks(blocks: Iterable[bytes], framing: VariableFraming
                ) -> Iterator[tuple[bytes, int, VariableFound]]:
    """Scan a whole file given in blocks of any size: for each scan, (the buffer, the absolute
    offset of its first byte, what was found in it), the unfinished tail of one block carried
    into the next. The planner cuts chunks from these; scanning a chunk [start, end) on its own
    with final=True finds exactly its records. Raises InputFileError for a malformed file."""
    scanner = VariableScanner(framing)
    # When the scan stops at an invalid descriptor followed only by padding, the padding blocks
    # that follow are skipped, until the file ends (padding, accepted) or a byte that is not
    # padding comes (the descriptor's error). Only the run's first MAX_BLOCK bytes are kept:
    # enough for the error, since a block or record made of padding bytes is never longer.
    carry, base = b"", 0
    padding_from: int | None = None
    for block in blocks:
        if not block:
            continue
        if padding_from is not None:
            if _only_padding(block, 0):
                if len(carry) < MAX_BLOCK:
                    carry += block[:MAX_BLOCK - len(carry)]
                continue
            scanner.scan(carry + b"\x01", padding_from, final=True)  # raises the descriptor's error
            raise AssertionError("an invalid descriptor scanned without error")  # pragma: no cover
        data = carry + block if carry else block
        found = scanner.scan(data, base, final=False)
        yield data, base, found
        carry = data[found.pos - base:]
        base = found.pos
        if scanner.padding_at is not None:
            padding_from, carry = base, bytes(carry[:MAX_BLOCK])
    if padding_from is None:
        yield carry, base, scanner.scan(carry, base, final=True)
