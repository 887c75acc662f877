"""Read one chunk's bytes into a DataFrame of source strings.

The fast path is pandas' C parser with every column as text (no type guessing,
no NA detection: validation decides what a blank means). pandas pads a short
record and may drop a long one's extra fields without a word, so the fields of
every record are first counted (vectorised, quote-aware); a chunk with a record
of the wrong width takes the slow path, which parses it with the csv module and
reports those records one by one instead of failing the chunk.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class ChunkFrame:
    frame: pd.DataFrame          # the well-formed records
    rows: np.ndarray             # their record numbers in the source file
    malformed: list[tuple[int, str]]  # (record number, what is wrong)
    malformed_rule: str = "field_count"  # the rule such records break, in the error report


def read_chunk(data: bytes, header: list[str], first_row: int, encoding: str = "utf-8",
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
