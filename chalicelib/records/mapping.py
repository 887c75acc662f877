"""The hot path: a DataFrame of source strings in, JSON documents and per-record errors out.

Every rule is evaluated a column at a time (numpy and pandas vectorised code,
or C-level string functions in a comprehension), never a record at a time in
Python; the documents are assembled from per-field JSON fragments. Every rule
is a function of the value alone (none values, defaults, signs and implied
decimals included), so a column whose values repeat is encoded once per
distinct value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chalicelib.personal import MASK, mask_ssn_like
from chalicelib.records.dates import NAT, date_fragments, parse_dates

if TYPE_CHECKING:
    from chalicelib.records.schema import FieldSpec, RecordSpec

SIGN_WORDS = {"leading": "", "trailing": " (sign after the digits)", "cr_db": " (CR or DB after the digits)"}
SSN_PATTERN = re.compile(r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}", re.ASCII)
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?", re.ASCII)
DISTINCT_SAMPLE = 1000  # values looked at to guess whether a column repeats
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

    def expand(self, codes: np.ndarray) -> "_Column":
        """The column for values[codes], from the column of the distinct values."""
        return _Column(self.fragments[codes], [(rule, message, mask[codes]) for rule, message, mask in self.failures],
                       None if self.parsed is None else self.parsed[codes])


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
    # fragments in a (records x pieces) grid and join it in one call: about
    # twice as fast as formatting a template once per record.
    grid = np.empty((len(kept_rows), 2 * len(order) + 2), dtype=object)
    fragments = {}
    for j, source in enumerate(order):
        grid[:, 2 * j] = template[j]
        grid[:, 2 * j + 1] = fragments[source] = columns[source].fragments[keep]
    grid[:, -2] = template[-2]
    grid[:, -1] = [str(r) + template[-1] for r in kept_rows.tolist()]
    documents = "".join(grid.ravel().tolist())
    return Transformed(documents, len(kept_rows), kept_rows, errors, int(invalid.sum()), keep, fragments)


def _encode_column(f: FieldSpec, values: np.ndarray, today: date) -> _Column:
    """Encode a column; when its values repeat (states, codes, dates, policy
    numbers) encode each distinct value once and expand. Every rule is a
    function of the value alone, so the outcome is the same either way."""
    if len(values) >= 2 * DISTINCT_SAMPLE and len(set(values[:DISTINCT_SAMPLE].tolist())) < 0.9 * DISTINCT_SAMPLE:
        codes, distinct = pd.factorize(values)
        if 2 * len(distinct) < len(values):
            return encode_column(f, np.asarray(distinct, dtype=object), today).expand(codes)
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
        if f.pattern:
            ok = _fullmatch(re.compile(f.pattern, re.ASCII), values)
            column.failures.append(("pattern", f"{f.source} does not have the expected format", present & ~ok))
        if f.max_length:
            lengths = np.fromiter(map(len, values.tolist()), dtype=np.int64, count=len(values))
            column.failures.append(("max_length", f"{f.source} is longer than {f.max_length} characters",
                                    present & (lengths > f.max_length)))
    elif f.type == "ssn":
        digits = np.array([v.replace("-", "").replace(" ", "") for v in values.tolist()], dtype=object)
        ok = _fullmatch(SSN_PATTERN, digits)
        column.failures.append(("ssn_format", f"{f.source} is not a valid social security number", present & ~ok))
        column.fragments = _strings(digits)
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


def _number(f: FieldSpec, values: np.ndarray, present: np.ndarray, column: _Column) -> None:
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
    column.fragments = values.copy()
    if rewrite.any():
        column.fragments[rewrite] = [_number_text(x, f.type) for x in numbers[rewrite].tolist()]


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


def _fullmatch(pattern: re.Pattern, values: np.ndarray) -> np.ndarray:
    return np.fromiter(map(bool, map(pattern.fullmatch, values.tolist())), dtype=bool, count=len(values))


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
