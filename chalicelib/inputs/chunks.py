"""What planning and reading give, whatever the input format: chunk ranges, a plan, a chunk's records.

A plan is a list of chunk messages, byte ranges cut on record boundaries
(DESIGN 3), each with its first record number and record count, ready for the
work queue; a worker reads only its range
and turns it into a `ChunkFrame`. The `Cutter` is the one place that decides
where a chunk ends, for every format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from chalicelib.messages import ChunkMessage


@dataclass
class Plan:
    header: list[str]
    chunks: list[ChunkMessage] = field(default_factory=list)

    @property
    def total_records(self) -> int:
        return sum(c.rows for c in self.chunks)


class Cutter:
    """Accumulates record ends and closes a chunk every `records` records or `max_bytes` bytes."""

    def __init__(self, start: int, records: int, max_bytes: int, run_id: str = ""):
        self.records, self.max_bytes, self.run_id = records, max_bytes, run_id
        self.chunk_start, self.rows_in_chunk, self.next_row = start, 0, 1
        self.last_end = start  # offset just past the last record seen
        self.following: int | None = None  # add_counted: the record number after last_end
        self.chunks: list[ChunkMessage] = []

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

    def add_counted(self, ends: np.ndarray, counts: np.ndarray, after: np.ndarray) -> None:
        """The general case: `ends` are the offsets where a chunk may end (after a record, or after a
        block of records), `counts` the records of the run each adds (0 for a header, trailer or
        skipped record), `after` the file's record number that follows each. A chunk's first_row is
        then the number of the first record in its range, whether the run takes that record or not."""
        total = np.cumsum(counts, dtype=np.int64)
        i, n = 0, len(ends)
        while i < n:
            before = int(total[i - 1]) if i else 0
            by_count = int(np.searchsorted(total, before + self.records - self.rows_in_chunk, side="left"))
            by_bytes = max(i, int(np.searchsorted(ends, self.chunk_start + self.max_bytes, side="left")))
            j = min(by_count, by_bytes)
            if j >= n:
                self.rows_in_chunk += int(total[-1]) - before
                self.last_end, self.following = int(ends[-1]), int(after[-1])
                return
            self.rows_in_chunk += int(total[j]) - before
            self.last_end, self.following = int(ends[j]), int(after[j])
            self.close()
            i = j + 1

    @property
    def framed(self) -> int:
        """Records of the run framed so far: those of closed chunks and of the one being filled."""
        return sum(c.rows for c in self.chunks) + self.rows_in_chunk

    def close(self) -> None:
        if self.rows_in_chunk:
            self.chunks.append(ChunkMessage(self.run_id, len(self.chunks) + 1, self.chunk_start, self.last_end,
                                            self.next_row, self.rows_in_chunk))
            self.next_row += self.rows_in_chunk
        if self.following is not None:
            self.next_row = self.following
        self.chunk_start, self.rows_in_chunk = self.last_end, 0


@dataclass
class ChunkFrame:
    frame: pd.DataFrame          # the well-formed records
    rows: np.ndarray             # their record numbers in the source file
    malformed: list[tuple[int, str]]  # (record number, what is wrong)
    malformed_rule: str = "field_count"  # the rule such records break, in the error report
