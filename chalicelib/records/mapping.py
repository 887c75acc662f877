"""The hot path: a DataFrame of source strings in, JSON documents and per-record errors out.

Every rule is evaluated a column at a time (numpy and pandas vectorised code,
or C-level string functions in a comprehension), never a record at a time in
Python; the documents are assembled from per-field JSON fragments. Every rule
is a function of the value alone (none values, defaults, signs and implied
decimals included), so a column whose values repeat is encoded once per
distinct value, and a column may be split: the values of the usual shape
checked by their characters' positions (chalicelib.records.shapes: a fixed-
length pattern, an SSN, a JSON number), the few others one by one.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chalicelib.distinct import SAMPLE, may_repeat, repeats
from chalicelib.personal import MASK, mask_ssn_like
from chalicelib.records.dates import NAT, date_fragments, parse_dates
from chalicelib.records.shapes import FixedShape, PlainNumbers, fixed_shape, grid_of, lengths_of, plain_numbers

if TYPE_CHECKING:
    from chalicelib.records.schema import FieldSpec, RecordSpec

SIGN_WORDS = {"leading": "", "trailing": " (sign after the digits)", "cr_db": " (CR or DB after the digits)"}
SSN_PATTERN = re.compile(r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}", re.ASCII)
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?", re.ASCII)
_TEXT = np.dtypes.StringDType()


@dataclass(frozen=True)
class RecordError:
    """One row of a run's error report: a rule a record broke. Every row is made through this type."""

    row: int
    field: str | None
    rule: str
    message: str
    value: str | None

    @classmethod
    def of_record(cls, row: int, rule: str, message: str) -> "RecordError":
        """An error of a whole record (it could not be read, the target refused it, its chunk failed)."""
        return cls(row, None, rule, message, None)

    def to_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "rule": self.rule,
                "message": self.message, "value": self.value}

    def to_json(self) -> str:
        """json.dumps(self.to_dict(), separators=(",", ":")), written directly: an error report may hold
        a row for every record of a chunk, and the general encoder costs several times more a row."""
        if type(self.row) is not int or not all(v is None or type(v) is str
                                                for v in (self.field, self.rule, self.message, self.value)):
            return json.dumps(self.to_dict(), separators=(",", ":"))
        return (f'{{"row":{self.row},"field":{_json_text(self.field)},"rule":{_json_text(self.rule)},'
                f'"message":{_json_text(self.message)},"value":{_json_text(self.value)}}}')


def _json_text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)  # as json.dumps: ensure_ascii


@dataclass
class Transformed:
    documents: str              # JSON Lines: one document per valid record, in file order
    document_count: int
    document_rows: np.ndarray   # the source row number of each document
    errors: list[RecordError]   # every rule each invalid record broke
    error_rows: int             # records rejected (a record may break several rules)
    valid: np.ndarray | None = None  # per record of the chunk: whether it made a document
    # each field's JSON text in the documents, of the valid records in order: what the reconciliation
    # report totals on the delivered side (chalicelib.records.totals), without parsing the documents again
    fragments: dict[str, np.ndarray] = field(default_factory=dict)
    # per number field, of every record of the chunk: the values written as JSON numbers, read exactly, so
    # that the report's source totals need not read them again (chalicelib.records.totals.source_amounts)
    numbers: dict[str, PlainNumbers] = field(default_factory=dict)
    # per field whose values repeat: pd.factorize of its source values (the report counts codes by them)
    factorized: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def document_lines(self) -> list[str]:
        """Each document's JSON text. Documents end with "\n", which JSON escapes inside strings; a field may
        hold U+0085, U+2028 or a form feed unescaped, so the text is split at "\n" only, never at every
        line boundary Python knows (DESIGN 13)."""
        return self.documents.split("\n")[:-1] if self.documents else []


@dataclass
class _Column:
    """One field's JSON fragments and the rules its values broke."""

    fragments: np.ndarray
    failures: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (rule, message, mask)
    parsed: Any = None
    plain: PlainNumbers | None = None  # a number field's values written as JSON numbers, read exactly
    factorized: tuple[np.ndarray, np.ndarray] | None = None  # pd.factorize of the values, when it was taken
    distinct_fragments: np.ndarray | None = None  # then the fragments of the distinct values

    def expand(self, codes: np.ndarray) -> "_Column":
        """The column for values[codes], from the column of the distinct values."""
        plain = self.plain
        if plain is not None:
            plain = PlainNumbers(plain.plain[codes], plain.scaled[codes], plain.places[codes])
        return _Column(self.fragments[codes], [(rule, message, mask[codes]) for rule, message, mask in self.failures],
                       None if self.parsed is None else self.parsed[codes], plain)


def transform(frame: pd.DataFrame, spec: RecordSpec, rows: np.ndarray, today: date | None = None) -> Transformed:
    """Map and validate one chunk's records; `rows` are their record numbers in the file."""
    count = len(frame)
    today = today or date.today()
    # The reader gives text only (no NA detection), so no NA pass is needed here.
    raw = {f.source: frame[f.source].to_numpy(dtype=object) for f in spec.fields}
    columns = {f.source: _encode_column(f, raw[f.source], today) for f in spec.fields}
    for rule in spec.rules:
        first, then = columns[rule.first].parsed, columns[rule.then].parsed
        columns[rule.then].failures.append((rule.type, rule.message, np.asarray(then < first)))

    invalid = np.zeros(count, dtype=bool)
    errors: list[RecordError] = []
    for f in spec.fields:
        for rule, message, mask in columns[f.source].failures:
            if not mask.any():
                continue
            invalid |= mask
            values = raw[f.source]
            errors.extend(RecordError(int(rows[i]), f.source, rule, message,
                                      MASK if f.pii else mask_ssn_like(str(values[i])))
                          for i in np.flatnonzero(mask).tolist())
    errors.sort(key=lambda e: e.row)

    keep = ~invalid
    kept_rows = rows[keep]
    template, order = _document_pieces(spec)
    # Interleave the constant pieces of the document with each field's
    # fragments in one list, a document every `width` places, filled a piece
    # at a time by extended-slice assignment, and join it in one call: about
    # twice as fast as formatting a template once per record, and again as
    # fast as going through a (records x pieces) object array.
    # A column encoded once per distinct value takes the constant piece before it into those few
    # fragments: one piece a document instead of two, to place and to join.
    kept_count = len(kept_rows)
    repeating = [columns[source].factorized is not None for source in order]
    width = sum(1 if once else 2 for once in repeating) + 1
    pieces: list = [None] * (kept_count * width)
    fragments = {}
    slot = 0
    for j, source in enumerate(order):
        column = columns[source]
        fragments[source] = column.fragments[keep]
        if repeating[j]:
            # (an unknown code has no fragment; its record is rejected, never kept)
            prefixed = np.array([None if text is None else template[j] + text
                                 for text in column.distinct_fragments.tolist()], dtype=object)
            pieces[slot::width] = prefixed[column.factorized[0][keep]].tolist()
            slot += 1
        else:
            pieces[slot::width] = [template[j]] * kept_count
            pieces[slot + 1::width] = fragments[source].tolist()
            slot += 2
    before, after = template[-2], template[-1]
    pieces[slot::width] = [f"{before}{row}{after}" for row in kept_rows.tolist()]
    documents = "".join(pieces)
    numbers = {source: column.plain for source, column in columns.items() if column.plain is not None}
    factorized = {source: column.factorized for source, column in columns.items() if column.factorized is not None}
    return Transformed(documents, len(kept_rows), kept_rows, errors, int(invalid.sum()), keep, fragments, numbers,
                       factorized)


def _encode_column(f: FieldSpec, values: np.ndarray, today: date) -> _Column:
    """Encode a column; when its values repeat (states, codes, dates, policy
    numbers) encode each distinct value once and expand. Every rule is a
    function of the value alone, so the outcome is the same either way."""
    if may_repeat(len(values), len(set(values[:SAMPLE].tolist()))):
        codes, distinct = pd.factorize(values)
        if repeats(len(values), len(distinct)):
            once = encode_column(f, np.asarray(distinct, dtype=object), today)
            column = once.expand(codes)
            column.factorized, column.distinct_fragments = (codes, distinct), once.fragments
            return column
    return encode_column(f, values, today)


def encode_column(f: FieldSpec, values: np.ndarray, today: date) -> _Column:
    blank = values == ""
    if f.none_values:
        none = frozenset(f.none_values)
        blank |= np.fromiter(map(none.__contains__, values.tolist()), dtype=bool, count=len(values))
    if f.default is not None and blank.any():
        values = values.copy()
        values[blank] = f.default  # a value the field accepts (checked when the spec was loaded)
        blank = np.zeros(len(values), dtype=bool)
    any_blank = bool(blank.any())
    column = _Column(np.empty(0, dtype=object))
    if f.required and any_blank:
        column.failures.append(("required", f"{f.source} is required", blank))
    present = ~blank
    if f.type == "string":
        column.fragments = _strings(values)
        lengths = lengths_of(values) if f.pattern or f.max_length else None
        if f.pattern:
            ok = _fullmatch(re.compile(f.pattern, re.ASCII), values, lengths)
            column.failures.append(("pattern", f"{f.source} does not have the expected format", present & ~ok))
        if f.max_length:
            column.failures.append(("max_length", f"{f.source} is longer than {f.max_length} characters",
                                    present & (lengths > f.max_length)))
    elif f.type == "ssn":
        ok, column.fragments = _ssns(values)
        column.failures.append(("ssn_format", f"{f.source} is not a valid social security number", present & ~ok))
    elif f.type == "date":
        parsed = parse_dates(values, f.format, f.century_pivot)
        if any_blank:
            parsed[blank] = NAT  # a none value may look like a date ("99991231"): it is none all the same
        column.failures.append(("date_format", f"{f.source} is not a date in format {f.format}",
                                present & np.isnat(parsed)))
        if f.not_in_future:
            column.failures.append(("not_in_future", f"{f.source} is in the future",
                                    parsed > np.datetime64(today, "D")))
        column.fragments = date_fragments(parsed)
        column.parsed = parsed
    elif f.type in ("decimal", "integer"):
        _number(f, values, present, column)
    elif f.type == "code":
        encoded = {code: encode_basestring(target) for code, target in f.codes.items()}
        mapped = np.array(list(map(encoded.get, values.tolist())), dtype=object)
        unknown = present & np.equal(mapped, None)
        column.failures.append(("allowed_values", f"{f.source} must be one of {', '.join(f.codes)}", unknown))
        column.fragments = mapped
    if any_blank:
        column.fragments[blank] = "null"
    return column


def _strings(values: np.ndarray) -> np.ndarray:
    return np.array(list(map(encode_basestring, values.tolist())), dtype=object)


def _ssns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each value is a valid SSN once its dashes and spaces go, and its digits as JSON text.

    The two ways nearly every SSN is written, "123456789" and "123-45-6789", are read a character position
    at a time, and the area, group and serial (not 000, 666 or 9xx; not 00; not 0000) checked by their
    digits' values: what SSN_PATTERN says of them, with no pattern run per value. Other values (spaces,
    other dashes, blanks, rejects) go through SSN_PATTERN one by one."""
    count = len(values)
    lengths = lengths_of(values)
    grid = grid_of(values, 11)
    dashed = (lengths == 11) & (grid[:, 3] == ord("-")) & (grid[:, 6] == ord("-"))
    digits = np.where(dashed[:, None], grid[:, _DASHED_DIGITS], grid[:, :9])
    shaped = ((lengths == 9) | dashed) & _NINE_DIGITS.matches_grid(digits)
    d = digits.astype(np.int64) - ord("0")
    area, group, serial = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2], d[:, 3] * 10 + d[:, 4], d[:, 5:] @ _SERIAL
    ok = shaped & (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)
    fragments = np.empty(count, dtype=object)
    quoted = np.full((int(shaped.sum()), 11), ord('"'), dtype=np.uint32)
    quoted[:, 1:10] = digits[shaped]
    fragments[shaped] = quoted.view("<U11").ravel()
    others = np.flatnonzero(~shaped)
    if len(others):
        stripped = [v.replace("-", "").replace(" ", "") for v in values[others].tolist()]
        ok[others] = np.fromiter(map(bool, map(SSN_PATTERN.fullmatch, stripped)), dtype=bool, count=len(others))
        fragments[others] = list(map(encode_basestring, stripped))
    return ok, fragments


_NINE_DIGITS = fixed_shape(re.compile(r"\d{9}", re.ASCII))
_DASHED_DIGITS = [0, 1, 2, 4, 5, 7, 8, 9, 10]
_SERIAL = 10 ** np.arange(3, -1, -1, dtype=np.int64)


def _number(f: FieldSpec, values: np.ndarray, present: np.ndarray, column: _Column) -> None:
    if f.implied_decimals is None and f.sign == "leading" and len(values):
        # Values written as JSON numbers (nearly all) are read exactly a column at a time; only the others
        # ("+5", "1.", "1e3", " 5", "N/A") go the general way below. A value's outcome depends on it alone.
        plain = plain_numbers(values)
        if not plain.plain.all():
            others = np.flatnonzero(~plain.plain)
            rest = _Column(np.empty(0, dtype=object))
            _general_number(f, values[others], present[others], rest)
        numbers = plain.floats()
        numbers[~present] = np.nan  # a none value written as a number is none all the same
        bad = np.zeros(len(values), dtype=bool)
        if f.type == "integer":
            with np.errstate(invalid="ignore"):
                bad |= numbers != np.floor(numbers)
            bad &= present & plain.plain
            numbers[bad] = np.nan
        column.fragments = values.copy()
        if not plain.plain.all():
            bad[others] = rest.failures[0][2]  # number_format; the bounds are taken of every value below
            column.fragments[others] = rest.fragments
            numbers[others] = rest.parsed
        _number_failures(f, numbers, bad, column)
        column.plain = plain
        return
    _general_number(f, values, present, column)


def _general_number(f: FieldSpec, values: np.ndarray, present: np.ndarray, column: _Column) -> None:
    exact = None  # where the text is known to be a JSON number already
    if f.implied_decimals is not None:
        values, numbers, bad = _implied_decimals(f, values)
        exact = ~bad
    else:
        malformed = None
        if f.sign != "leading":
            values, malformed = _leading_sign(f, values)
        numbers = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
        bad = ~np.isfinite(numbers)  # "inf" is no JSON number
        if malformed is not None:
            bad |= malformed
    bad &= present
    if f.type == "integer":
        bad |= present & ~np.isnan(numbers) & (numbers != np.floor(numbers))
    # Values already written as JSON numbers pass through unchanged (exact
    # decimals, no float round trip); others ("+5", "1.", "1e3") are rewritten.
    rewrite = present & ~bad & ~(exact if exact is not None else _fullmatch(JSON_NUMBER, values))
    if rewrite.any():
        # Nothing is trimmed: pandas would read " 5" as 5, the spec says it is not a number.
        at = np.flatnonzero(rewrite)
        spaced = np.array([v != v.strip() for v in values[at].tolist()], dtype=bool)
        bad[at[spaced]] = True
        rewrite[at[spaced]] = False
    numbers[bad | ~present] = np.nan
    column.fragments = values.copy()
    if rewrite.any():
        column.fragments[rewrite] = [_number_text(x, f.type) for x in numbers[rewrite].tolist()]
    _number_failures(f, numbers, bad, column)


def _number_failures(f: FieldSpec, numbers: np.ndarray, bad: np.ndarray, column: _Column) -> None:
    """The number rules of a column of numbers (NaN where blank or not a number)."""
    if f.implied_decimals is not None:
        kind = f"a number of digits with {f.implied_decimals} implied decimals"
    else:
        kind = "a number" if f.type == "decimal" else "a whole number"
    column.failures.append(("number_format", f"{f.source} is not {kind}{SIGN_WORDS[f.sign]}", bad))
    with np.errstate(invalid="ignore"):
        if f.min is not None:
            column.failures.append(("min", f"{f.source} must be at least {plain_number(f.min)}", numbers < f.min))
        if f.max is not None:
            column.failures.append(("max", f"{f.source} must be at most {plain_number(f.max)}", numbers > f.max))
    column.parsed = numbers


def _split_sign(f: FieldSpec, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A number's digits without the sign, where the field says the sign is written; whether
    it is negative; and whether it is malformed (a sign in the wrong place, or twice)."""
    text = np.array(values.tolist(), dtype=_TEXT)
    if f.sign == "leading":
        negative, positive = np.strings.startswith(text, "-"), np.strings.startswith(text, "+")
        body = np.where(negative | positive, np.strings.slice(text, 1, None), text)
    else:
        minus, plus, size = ("-", "+", 1) if f.sign == "trailing" else ("CR", "DB", 2)
        negative, positive = np.strings.endswith(text, minus), np.strings.endswith(text, plus)
        body = np.where(negative | positive, np.strings.slice(text, 0, -size), text)
    malformed = np.strings.startswith(body, "-") | np.strings.startswith(body, "+") | (body == "")
    return body, negative, malformed


def _leading_sign(f: FieldSpec, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A number with its sign after it ("12.50-", "12.50CR") written with a leading minus."""
    body, negative, malformed = _split_sign(f, values)
    return np.where(negative, np.strings.add("-", body), body).astype(object), malformed


def _implied_decimals(f: FieldSpec, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits with implied decimals ("0012345-" with 2) as JSON number text ("-123.45"), their
    value, and where they are not digits and a sign where the field says."""
    body, negative, bad = _split_sign(f, values)
    bad |= np.strings.lstrip(body, "0123456789") != ""  # only the digits 0-9 (isdigit takes "²", "٣")
    places = f.implied_decimals
    digits = np.strings.lstrip(body, "0")
    negative &= digits != ""  # no minus zero
    padded = np.strings.zfill(np.where(bad, "0", digits), places + 1)
    text = np.strings.add(np.strings.add(np.strings.slice(padded, 0, -places), "."),
                          np.strings.slice(padded, -places, None))
    numbers = padded.astype(np.float64) / 10 ** places
    numbers[negative] *= -1
    numbers[bad] = np.nan
    return np.where(negative, np.strings.add("-", text), text).astype(object), numbers, bad


def plain_number(x: float) -> str:
    """A spec's bound as an analyst wrote it: 10000000, not 1e+07."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _number_text(x: float, kind: str) -> str:
    return str(int(x)) if kind == "integer" or x.is_integer() else repr(x)


def _fullmatch(pattern: re.Pattern, values: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Whether each value matches the pattern: by its shape, a column at a time, when the pattern has a
    fixed one (chalicelib.records.shapes), else one value at a time."""
    shape = _shape(pattern)
    if shape is not None:
        return shape.matches(values, lengths)
    return np.fromiter(map(bool, map(pattern.fullmatch, values.tolist())), dtype=bool, count=len(values))


@lru_cache(maxsize=256)
def _shape(pattern: re.Pattern) -> FixedShape | None:
    return fixed_shape(pattern)


def _document_pieces(spec: RecordSpec) -> tuple[list[str], list[str]]:
    """The constant text between a document's values, and the source fields in
    the order their values appear. Fields nest under their dotted target path."""
    tree: dict = {}
    for f in spec.fields:
        node = tree
        *parents, leaf = f.target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = f.source
    pieces, order = ['{"record_type":' + encode_basestring(spec.record_type) + ","], []

    def render(node: dict) -> None:
        for i, (key, value) in enumerate(node.items()):
            if i:
                pieces[-1] += ","
            if isinstance(value, dict):
                pieces[-1] += encode_basestring(key) + ":{"
                render(value)
                pieces[-1] += "}"
            else:
                pieces[-1] += encode_basestring(key) + ":"
                order.append(value)
                pieces.append("")

    render(tree)
    pieces[-1] += ',"source_row":'
    pieces.append("}\n")
    return pieces, order
