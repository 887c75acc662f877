"""Finding records in a file's bytes: fixed-length records, with or without a newline after each.

The planner feeds a scanner the file a block at a time (the unfinished tail
carried over); a worker gives one its chunk. Both call `scan`, so they find the
same records whatever the cut points. Variable-length records (RECFM=V/VB)
have their own scanner in variable.py.

- record_separator "none": records are record_length bytes end to end.
- record_separator "newline": each record is followed by LF or CR LF. In an
  EBCDIC file the newline may be NL (0x15, what z/OS UNIX text files use),
  LF (0x25, what EBCDIC code page converters write for "\\n") or an ASCII LF
  (0x0A, which some transfer tools append to binary records); each may follow
  a CR (0x0D). Any byte may appear inside a record (a text field with control
  bytes, a binary or packed field, a FILLER), so records are found by
  position: record_length bytes, then the newline the first record used,
  checked where it must be (DESIGN 13). A record of another length cannot be
  told apart from data, so it fails the run, naming its line and byte offset;
  nothing is guessed.

In both modes a record holding only spaces and NULs (low-values), and a line
holding only those and CRs, is not a record, as a blank line is not one in a
delimited file: it is not counted, numbered or read. Padding at the end of the
file (spaces, NULs, newlines, an end-of-file SUB) is ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chalicelib.errors import InputFileError
from chalicelib.inputs.fixed.codepages import CR, Codec


@dataclass
class Found:
    starts: np.ndarray   # offset of each record (or wrong-length line), blank ones left out
    lengths: np.ndarray  # its length without the newline: record_length for a record
    ends: np.ndarray     # offset just past it and its newline
    pos: int             # where the scan stopped: the rest needs more bytes


_EMPTY = np.empty(0, dtype=np.int64)


class FixedScanner:
    """Finds records in a buffer. The planner feeds it the file a block at a time (the
    unfinished tail carried over); the reader gives it one chunk. Both call `scan`, so
    they find the same records."""

    def __init__(self, record_length: int, codec: Codec, separator: str):
        if separator not in ("none", "newline"):
            raise InputFileError(f"record_separator must be newline or none, not {separator!r}")
        self.length = record_length
        self.codec = codec
        self.separator = separator
        self.style = 0            # 1 for LF, 2 for CR LF, set by the first record
        self.lines = 0            # lines (records, blank lines) passed, for messages
        self.newlines_seen = False
        self.first_looks_newline: bool | None = None

    def scan(self, arr: np.ndarray, pos: int, final: bool, base: int = 0) -> Found:
        if self.separator == "none":
            return self._scan_none(arr, pos, final, base)
        return self._scan_by_position(arr, pos, final, base)

    # -- no separator: record after record
    def _scan_none(self, arr: np.ndarray, pos: int, final: bool, base: int) -> Found:
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
    def _scan_by_position(self, arr: np.ndarray, pos: int, final: bool, base: int) -> Found:
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

    def _records(self, arr: np.ndarray, starts: np.ndarray, pos: int, bare_last: bool = False) -> Found:
        """Records of record_length bytes, each followed by the newline of the file's style,
        but the last one if `bare_last`; the blank ones left out."""
        ends = starts + self.length + (self.style if self.separator == "newline" else 0)
        if bare_last:
            ends[-1] = starts[-1] + self.length  # a chunk ends with the record, not the padding after it
        keep = ~blank_records(arr, starts, self.length, self.codec.blank)
        starts, ends = starts[keep], ends[keep]
        return Found(starts, np.full(len(starts), self.length, dtype=np.int64), ends, pos)


def blank_records(arr: np.ndarray, starts: np.ndarray, size: int, blank: np.ndarray) -> np.ndarray:
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
