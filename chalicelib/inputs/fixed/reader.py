"""Plan and read files of mainframe records: fixed-length (F, FB) or variable-length (V, VB).

Two entry points, used by chalicelib.inputs.files:

- `plan_fixed_width` scans the whole file once and cuts it into chunks on
  record boundaries (a VB file on block boundaries), with the same size rules
  as the delimited planner. It also checks what control records (a header or
  a trailer) state about the file: the count of data records and the sums of
  their fields; a file whose figures differ fails with both.
- `read_fixed_chunk` turns one chunk's bytes into text columns in the spec's
  order, exactly as the delimited reader would give them, so
  `records.mapping` validates them unchanged. Records that cannot be read
  (a kind the layout does not know, bytes that are no value of their field, a
  variable-length record of the wrong length) are reported by number instead.

Records are numbered as the file holds them, counting every record (header,
trailer and skipped ones included, blank ones not), so a record number points
at the same record an operator would find with a mainframe browser. The
counters count only the run's records: data records and records of an
unknown kind.

Decoding is vectorised (chalicelib.inputs.fixed.decoding): a field of every
record of a chunk is one 2-D array of bytes, never a record at a time.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from chalicelib.errors import InputFileError
from chalicelib.inputs.chunks import ChunkFrame, Cutter, Plan
from chalicelib.inputs.fixed.codepages import Codec, codec_for
from chalicelib.inputs.fixed.decoding import decode_field
from chalicelib.inputs.fixed.file_layout import FileLayout, RecordKind
from chalicelib.inputs.fixed.framing import FixedScanner
from chalicelib.inputs.fixed.layout import FieldLayout, RecordLayout
from chalicelib.inputs.fixed.variable import VariableFraming, VariableScanner, scan_blocks

if TYPE_CHECKING:
    from chalicelib.models import InputFormat

UTF8_BOM = b"\xef\xbb\xbf"


# ------------------------------------------------------------------ planning

def plan_fixed_width(blocks: Iterable[bytes], layout: FileLayout, fmt: "InputFormat", records_per_chunk: int,
                     max_chunk_bytes: int, framing: VariableFraming | None = None, run_id: str = "",
                     stop_after: int | None = None) -> Plan:
    """Scan the whole file once; return the spec's field names and the chunk ranges. `framing`
    says how V and VB descriptor words are written, when not as IBM writes them.

    With `stop_after` (a preview's first records, chalicelib.preview), the scan stops once more of the
    run's records than that are framed: the rest of the file is not read, so neither its end nor what a
    trailer states is checked; the plan's last chunk is then the partial one those records began."""
    codec = codec_for(fmt.encoding)
    controls = _Controls(layout)
    # Every record counts and a chunk may end after any: the delimited planner's fast path.
    plain = layout.discriminator is None and fmt.recfm != "VB"
    size = [0]            # bytes read so far

    def counted() -> Iterator[bytes]:
        for block in blocks:
            size[0] += len(block)
            yield block

    if fmt.recfm in ("V", "VB"):
        scans = _variable_records(counted(), framing or VariableFraming(blocked=fmt.recfm == "VB"))
    else:
        scans = _fixed_records(counted(), layout, codec, fmt)
    cutter: Cutter | None = None
    number = 0            # records seen so far
    for arr, start, starts, lengths, ends, cut_ok in scans:
        if cutter is None:
            cutter = Cutter(start, records_per_chunk, max_chunk_bytes, run_id)
        if not len(starts):
            continue
        counted_records = controls.see(arr, starts, lengths, number, codec)
        if plain:
            cutter.add(ends)
        else:
            # A chunk may end after any record (a VB file: after a block's last record); each place
            # says how many of the run's records come before it since the last one.
            places = np.flatnonzero(cut_ok) if cut_ok is not None else np.arange(len(ends))
            total = np.cumsum(counted_records, dtype=np.int64)[places]
            cutter.add_counted(ends[places], np.diff(total, prepend=0), number + places + 2)
        number += len(starts)
        if stop_after is not None and cutter.framed > stop_after:
            cutter.close()
            return Plan(header=list(layout.names), chunks=cutter.chunks)
    if not number:
        start = cutter.chunk_start if cutter else 0
        raise InputFileError("file is empty" if size[0] <= start else
                             f"file is empty: its {size[0]} bytes are blank records or padding")
    cutter.close()
    controls.check()
    return Plan(header=list(layout.names), chunks=cutter.chunks)


# Each scan of a buffer gives (the buffer, where the file's records start, the data starts of the
# records found in it (offsets in the buffer), their lengths, their absolute ends, and where a
# chunk may end: None when after any record).
Scan = tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


def _fixed_records(blocks: Iterable[bytes], layout: FileLayout, codec: Codec, fmt: "InputFormat"
                   ) -> Iterator[Scan]:
    scanner = FixedScanner(layout.record_length, codec, fmt.record_separator)
    longest = max(1 << 20, 64 * layout.record_length)
    carry, base, start, records = b"", 0, None, 0
    for block, final in _with_last(blocks):
        data = carry + block if carry else block
        at = 0
        if start is None:
            if not final and codec.utf8 and len(data) < len(UTF8_BOM) and UTF8_BOM.startswith(data):
                carry = data  # maybe a byte-order mark: wait for more bytes
                continue
            start = at = len(UTF8_BOM) if codec.utf8 and data.startswith(UTF8_BOM) else 0
        arr = np.frombuffer(data, dtype=np.uint8)
        found = scanner.scan(arr, at, final=final, base=base)
        records += len(found.starts)
        yield arr, start, found.starts, found.lengths, found.ends + base, None
        carry = data[found.pos:]
        base += found.pos
        if len(carry) > longest:
            raise InputFileError(f"no newline in the {len(carry)} bytes from byte offset {base}, where records "
                                 f"of {layout.record_length} bytes should each end with one; if the file has no "
                                 f"newlines between records, set record_separator to none")
    if fmt.record_separator == "newline" and not scanner.newlines_seen and records >= 2:
        raise InputFileError(f"no newline in the file, whose records of {layout.record_length} bytes should each "
                             f"end with one; if the file has no newlines between records, set record_separator "
                             f"to none")


def _variable_records(blocks: Iterable[bytes], framing: VariableFraming) -> Iterator[Scan]:
    for data, base, found in scan_blocks(blocks, framing):
        yield np.frombuffer(data, dtype=np.uint8), 0, found.starts - base, found.lengths, found.ends, found.cut_ok


def _with_last(blocks: Iterable[bytes]):
    """Each non-empty block with whether it is the last one (an empty block after all when none)."""
    previous = None
    for block in blocks:
        if not block:
            continue
        if previous is not None:
            yield previous, False
        previous = block
    yield (previous if previous is not None else b""), True


class _Controls:
    """Which records the run takes, and what control records state about the others."""

    def __init__(self, layout: FileLayout):
        self.layout = layout
        self.data_records = 0
        self.sums = {d.name: Decimal(0) for kind in (layout.kinds or {}).values() for d, _ in kind.sums}
        self.stated: list[tuple[int, RecordKind, dict]] = []  # (record number, kind, decoded fields)

    def see(self, arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray, number: int, codec: Codec
            ) -> np.ndarray:
        """Whether each record counts for the run; notes data records and control figures."""
        layout = self.layout
        if layout.discriminator is None:
            self.data_records += len(starts)
            if self.sums:
                self._add_sums(arr, starts, layout.data, codec)
            return np.ones(len(starts), dtype=bool)
        kinds = kinds_of(arr, starts, lengths, layout, codec)
        counted = np.ones(len(starts), dtype=bool)
        for value, kind in layout.kinds.items():
            mask = kinds == value
            if not mask.any():
                continue
            if kind.role == "data":
                self.data_records += int(mask.sum())
                if self.sums:
                    self._add_sums(arr, starts[mask], kind.layout, codec)
            else:
                counted[mask] = False
                if kind.role == "control" and (kind.count or kind.sums):
                    for i in np.flatnonzero(mask).tolist():
                        fields = [kind.count] if kind.count else []
                        fields += [c for _, c in kind.sums]
                        values = {f.name: _one(arr, int(starts[i]), f, codec) for f in fields}
                        self.stated.append((number + i + 1, kind, values))
        return counted

    def _add_sums(self, arr: np.ndarray, starts: np.ndarray, record: RecordLayout, codec: Codec) -> None:
        for name in self.sums:
            field = record.field(name)
            values = decode_field(_cells(arr, starts, field), field, codec).values
            self.sums[name] += sum((Decimal(v) for v in values.tolist() if v), Decimal(0))

    def check(self) -> None:
        for number, kind, values in self.stated:
            if kind.count is not None:
                stated = Decimal(values[kind.count.name] or "NaN")
                if stated != self.data_records:
                    raise InputFileError(f"control record {number} ({kind.layout.name}) states "
                                         f"{'no number of' if stated.is_nan() else stated} data records in "
                                         f"{kind.count.name}; the file holds {self.data_records}")
            for data_field, control_field in kind.sums:
                stated = Decimal(values[control_field.name] or "NaN")
                total = self.sums[data_field.name]
                if stated != total:
                    raise InputFileError(f"control record {number} ({kind.layout.name}) states a total of "
                                         f"{'nothing' if stated.is_nan() else stated} in {control_field.name}; "
                                         f"the data records' {data_field.name} add up to {total}")


def _one(arr: np.ndarray, start: int, field: FieldLayout, codec: Codec) -> str:
    cells = arr[start + field.offset:start + field.offset + field.length][None, :]
    decoded = decode_field(cells, field, codec)
    return "" if decoded.invalid is not None else str(decoded.values[0])


def _cells(arr: np.ndarray, starts: np.ndarray, field: FieldLayout) -> np.ndarray:
    """The field's bytes in every record, one row each, viewed in place (a copy only for records
    that end before the field, whose missing bytes read as spaces)."""
    if not len(starts):
        return np.empty((0, field.length), dtype=np.uint8)
    first, count = int(starts[0]) + field.offset, len(starts)
    step = int(starts[1] - starts[0]) if count > 1 else 1
    if step > 0 and first + (count - 1) * step + field.length <= len(arr) and \
            (count < 3 or bool((np.diff(starts) == step).all())):
        # Records one after another at one length (the usual F and FB file): a strided view, no copy.
        return as_strided(arr[first:], shape=(count, field.length), strides=(step * arr.strides[0], arr.strides[0]),
                          writeable=False)
    end = int(starts.max()) + field.offset + field.length
    if end > len(arr):
        arr = np.concatenate([arr, np.full(end - len(arr), 0x40, dtype=np.uint8)])
    return sliding_window_view(arr, field.length)[starts + field.offset]


def kinds_of(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray, layout: FileLayout, codec: Codec
             ) -> np.ndarray:
    """The discriminator's value in each record, as text without trailing blanks ("" when unreadable)."""
    field = layout.discriminator
    decoded = decode_field(_cells(arr, starts, field), field, codec)
    values = decoded.values.astype(object)
    short = lengths < field.offset + field.length
    if decoded.invalid is not None:
        values[decoded.invalid] = ""
    values[short] = ""
    return values


# ------------------------------------------------------------------ reading

def read_fixed_chunk(data: bytes, layout: FileLayout, fmt: "InputFormat", first_row: int) -> ChunkFrame:
    """One chunk's records as text columns in the spec's order; records that cannot be read are
    reported by number instead."""
    codec = codec_for(fmt.encoding)
    variable = fmt.recfm in ("V", "VB")
    arr = np.frombuffer(data, dtype=np.uint8)
    if variable:
        found = VariableScanner(VariableFraming(blocked=fmt.recfm == "VB"), first_row).scan(arr, 0, True)
        # A record shorter than its layout reads spaces past its end (and is reported below):
        # one pad for the chunk, so that every field's bytes can be viewed in place.
        arr = np.concatenate([arr, np.full(layout.record_length, codec.space, dtype=np.uint8)])
    else:
        found = FixedScanner(layout.record_length, codec, fmt.record_separator).scan(arr, 0, True)
    starts, lengths = found.starts, found.lengths
    rows = np.arange(first_row, first_row + len(starts), dtype=np.int64)
    malformed: list[tuple[int, str]] = []
    if layout.discriminator is not None:
        kinds = kinds_of(arr, starts, lengths, layout, codec)
        for row in rows[~np.isin(kinds, list(layout.kinds))].tolist():
            malformed.append((row, f"record kind not in the layout ({layout.discriminator.name} holds a value "
                                   f"no kind names)"))
        take = kinds == next(k.value for k in layout.kinds.values() if k.role == "data")
        starts, lengths, rows = starts[take], lengths[take], rows[take]
    good, counts = _whole_records(arr, starts, lengths, rows, layout.data, codec, variable, malformed)
    columns: dict[str, np.ndarray] = {}
    why: dict[int, str] = {}
    for name, field in zip(layout.names, layout.columns):
        cells = _cells(arr, starts, field)
        decoded = decode_field(cells, field, codec)
        values = decoded.values
        absent = None
        if field.present_if is not None and counts is not None:
            absent = counts < field.present_if[1]  # an occurrence past the counter is not in the record
            values = values.copy()
            values[absent] = ""
        if decoded.invalid is not None:
            bad = decoded.invalid & good if absent is None else decoded.invalid & good & ~absent
            if field.numeric:
                # Bytes that are no number: a value the spec's number rules reject, naming the field
                # and the bytes (masked like any value of a personal field).
                values = values.copy()
                values[bad] = [f"<invalid {_kind_words(field)} X'{bytes(row).hex().upper()}'>"
                               for row in cells[bad]]
            else:
                for i in np.flatnonzero(bad).tolist():
                    why.setdefault(i, f"{name} is not valid {codec.name} text")
        columns[name] = values
    malformed += [(int(rows[i]), message) for i, message in why.items()]
    if why:
        good[list(why)] = False
    if not good.all():
        rows = rows[good]
        columns = {name: values[good] for name, values in columns.items()}
    malformed.sort()
    frame = pd.DataFrame({name: columns[name] for name in layout.names}, dtype=object)
    return ChunkFrame(frame, rows, malformed, malformed_rule="record_layout")


def _whole_records(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray, rows: np.ndarray,
                   record: RecordLayout, codec: Codec, variable: bool, malformed: list[tuple[int, str]]
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Which records hold what their layout says (an OCCURS DEPENDING ON counter in range, a
    variable-length record as long as its layout needs), reporting the others; and each record's
    count of occurrences, when the layout has such a table."""
    good = np.ones(len(starts), dtype=bool)
    counts = None
    odo = record.depending_on
    expected = np.full(len(starts), record.length, dtype=np.int64)
    if odo is not None:
        counter = record.field(odo.counter)
        decoded = decode_field(_cells(arr, starts, counter), counter, codec)
        counts = np.array([int(v) if v else -1 for v in decoded.values.tolist()], dtype=np.int64)
        good = (counts >= odo.minimum) & (counts <= odo.maximum)
        if decoded.invalid is not None:
            good &= ~decoded.invalid
        for i in np.flatnonzero(~good).tolist():
            malformed.append((int(rows[i]), f"{odo.counter} is not a count from {odo.minimum} to {odo.maximum}"))
        expected = odo.offset + np.clip(counts, 0, odo.maximum) * odo.element_length
    if variable:
        # With a table, the record's length must be what its counter says; without, at least the layout's.
        wrong = good & ((lengths != expected) if odo is not None else (lengths < expected))
        for i in np.flatnonzero(wrong).tolist():
            malformed.append((int(rows[i]), f"record of {int(lengths[i])} bytes; the layout needs "
                                            f"{int(expected[i])}"))
        good &= ~wrong
    return good, counts


def _kind_words(field: FieldLayout) -> str:
    return {"DISPLAY": "edited number" if field.category == "edited" else "zoned decimal",
            "COMP-3": "packed decimal", "COMP": "binary number", "COMP-5": "binary number",
            "COMP-1": "floating-point number", "COMP-2": "floating-point number"}[field.usage]
