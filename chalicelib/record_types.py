"""Record types as declarative specs: mapping and validation of legacy records.

Each record type is one JSON file in `chalicelib/specs/` (format in
docs/record-specs.md). A spec is checked when loaded; a broken one fails at
start with its file and field named.

`transform` is the hot path: a DataFrame of source strings in, JSON documents
and per-record errors out. Every rule is evaluated a column at a time (numpy
and pandas vectorised code, or C-level string functions in a comprehension),
never a record at a time in Python; the documents are assembled from per-field
JSON fragments with one `%` format per record.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import pandas as pd

SPEC_DIR = os.path.join(os.path.dirname(__file__), "specs")
FIELD_TYPES = ("string", "ssn", "date", "decimal", "integer", "code")
DATE_FORMATS = {
    "YYYYMMDD": "%Y%m%d",
    "MMDDYYYY": "%m%d%Y",
    "YYYY-MM-DD": "%Y-%m-%d",
    "MM/DD/YYYY": "%m/%d/%Y",
}
# Formats of digits only have one width: strptime would read "2023071" as 2023-07-01.
DATE_WIDTHS = {"YYYYMMDD": 8, "MMDDYYYY": 8}
FIELD_KEYS = {"source", "target", "type", "required", "pii", "pattern", "max_length",
              "min", "max", "codes", "format", "not_in_future", "description"}
RULE_TYPES = ("date_order",)
SSN_PATTERN = re.compile(r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}")
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
MASK = "***"
DISTINCT_SAMPLE = 1000  # values looked at to guess whether a column repeats


class SpecError(ValueError):
    """A spec file is not valid; the message names the file and the field."""


@dataclass(frozen=True)
class FieldSpec:
    source: str
    target: str
    type: str
    required: bool = False
    pii: bool = False
    pattern: str | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    codes: dict[str, str] | None = None
    format: str | None = None
    not_in_future: bool = False
    description: str = ""


@dataclass(frozen=True)
class CrossFieldRule:
    type: str
    first: str
    then: str
    message: str


@dataclass(frozen=True)
class RecordSpec:
    record_type: str
    title: str
    description: str
    endpoint: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[CrossFieldRule, ...] = ()
    layout: Any = None  # the fixed-width record layout (chalicelib.fixed_width.Layout), if the type has one

    @property
    def source_columns(self) -> list[str]:
        return [f.source for f in self.fields]

    @property
    def target_fields(self) -> list[str]:
        return [f.target for f in self.fields]

    def describe(self) -> dict:
        return {
            "record_type": self.record_type, "title": self.title, "description": self.description,
            "source_columns": self.source_columns, "target_fields": self.target_fields,
            "required_columns": [f.source for f in self.fields if f.required],
            "input_formats": ["delimited"] + (["fixed_width"] if self.layout is not None else []),
        }


@dataclass(frozen=True)
class RecordError:
    row: int
    field: str
    rule: str
    message: str
    value: str | None

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


# ---------------------------------------------------------------- loading specs

def load_spec(path: str) -> RecordSpec:
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SpecError(f"{name}: cannot be read as JSON: {err}") from None
    for key in ("record_type", "endpoint", "fields"):
        if key not in raw:
            raise SpecError(f"{name}: missing '{key}'")
    fields = tuple(_load_field(name, i, f) for i, f in enumerate(raw["fields"]))
    sources = [f.source for f in fields]
    targets = [f.target for f in fields]
    for label, names in (("source", sources), ("target", targets)):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"{name}: {label} field {duplicates[0]!r} appears twice")
    _check_target_tree(name, targets)
    by_source = {f.source: f for f in fields}
    rules = []
    for i, rule in enumerate(raw.get("rules", [])):
        where = f"{name}: rules[{i}]"
        if rule.get("type") not in RULE_TYPES:
            raise SpecError(f"{where}: unknown rule type {rule.get('type')!r} (known: {', '.join(RULE_TYPES)})")
        for key in ("first", "then"):
            ref = rule.get(key)
            if ref not in by_source or by_source[ref].type != "date":
                raise SpecError(f"{where}: '{key}' must name a date field, not {ref!r}")
        rules.append(CrossFieldRule(rule["type"], rule["first"], rule["then"],
                                    rule.get("message", f"{rule['then']} is before {rule['first']}")))
    layout = None
    if "fixed_width" in raw:
        from chalicelib.fixed_width import load_layout
        layout = load_layout(name, raw["fixed_width"], sources)
    return RecordSpec(raw["record_type"], raw.get("title", raw["record_type"]), raw.get("description", ""),
                      raw["endpoint"], fields, tuple(rules), layout)


def _load_field(name: str, index: int, raw: dict[str, Any]) -> FieldSpec:
    where = f"{name}: field {raw.get('source', index)!r}"
    unknown = sorted(set(raw) - FIELD_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}")
    if not raw.get("source") or not raw.get("target"):
        raise SpecError(f"{where}: needs 'source' and 'target'")
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise SpecError(f"{where}: unknown type {kind!r} (known: {', '.join(FIELD_TYPES)})")
    if kind == "date" and raw.get("format") not in DATE_FORMATS:
        raise SpecError(f"{where}: date format must be one of {', '.join(DATE_FORMATS)}")
    if kind == "code" and not (isinstance(raw.get("codes"), dict) and raw["codes"]):
        raise SpecError(f"{where}: a code field needs a non-empty 'codes' table")
    if raw.get("pattern") is not None:
        try:
            re.compile(raw["pattern"])
        except re.error as err:
            raise SpecError(f"{where}: pattern is not a valid regular expression: {err}") from None
    for key in ("min", "max"):
        if raw.get(key) is not None and kind not in ("decimal", "integer"):
            raise SpecError(f"{where}: '{key}' applies to numbers only")
    return FieldSpec(**raw)


def _check_target_tree(name: str, targets: list[str]) -> None:
    leaves = set(targets)
    for target in targets:
        parts = target.split(".")
        if any(not p for p in parts):
            raise SpecError(f"{name}: target {target!r} is not a dotted path")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in leaves:
                raise SpecError(f"{name}: target {target!r} sits under the value {'.'.join(parts[:i])!r}")


def load_specs(directory: str = SPEC_DIR) -> dict[str, RecordSpec]:
    specs: dict[str, RecordSpec] = {}
    for filename in sorted(os.listdir(directory)):
        if filename.endswith(".json"):
            spec = load_spec(os.path.join(directory, filename))
            if spec.record_type in specs:
                raise SpecError(f"{filename}: record type {spec.record_type!r} is defined twice")
            specs[spec.record_type] = spec
    return specs


# ------------------------------------------------------------------- header

def header_problems(spec: RecordSpec, header: list[str]) -> str | None:
    """Say what is wrong with a file's header for this record type, or None."""
    missing = [c for c in spec.source_columns if c not in header]
    unexpected = [c for c in header if c not in spec.source_columns]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected columns: {', '.join(unexpected)}")
    if duplicated:
        problems.append(f"duplicated columns: {', '.join(duplicated)}")
    if not problems:
        return None
    return f"header does not match record type {spec.record_type!r}: " + "; ".join(problems)


# ---------------------------------------------------------------- transform

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
            errors.extend(RecordError(int(rows[i]), f.source, rule, message, MASK if f.pii else str(values[i]))
                          for i in np.flatnonzero(mask).tolist())
    errors.sort(key=lambda e: e.row)

    keep = ~invalid
    kept_rows = rows[keep]
    template, order = _document_pieces(spec)
    # Interleave the constant pieces of the document with each field's
    # fragments in a (records x pieces) grid and join it in one call: about
    # twice as fast as formatting a template once per record.
    grid = np.empty((len(kept_rows), 2 * len(order) + 2), dtype=object)
    for j, source in enumerate(order):
        grid[:, 2 * j] = template[j]
        grid[:, 2 * j + 1] = columns[source].fragments[keep]
    grid[:, -2] = template[-2]
    grid[:, -1] = [str(r) + template[-1] for r in kept_rows.tolist()]
    documents = "".join(grid.ravel().tolist())
    return Transformed(documents, len(kept_rows), kept_rows, errors, int(invalid.sum()))


def _encode_column(f: FieldSpec, values: np.ndarray, today: date) -> _Column:
    """Encode a column; when its values repeat (states, codes, dates, policy
    numbers) encode each distinct value once and expand. Every rule is a
    function of the value alone, so the outcome is the same either way."""
    if len(values) >= 2 * DISTINCT_SAMPLE and len(set(values[:DISTINCT_SAMPLE].tolist())) < 0.9 * DISTINCT_SAMPLE:
        codes, distinct = pd.factorize(values)
        if 2 * len(distinct) < len(values):
            return _encode(f, np.asarray(distinct, dtype=object), today).expand(codes)
    return _encode(f, values, today)


def _encode(f: FieldSpec, values: np.ndarray, today: date) -> _Column:
    blank = values == ""
    any_blank = bool(blank.any())
    column = _Column(np.empty(0, dtype=object))
    if f.required and any_blank:
        column.failures.append(("required", f"{f.source} is required", blank))
    present = ~blank
    if f.type == "string":
        column.fragments = _strings(values)
        if f.pattern:
            ok = _fullmatch(re.compile(f.pattern), values)
            column.failures.append(("pattern", f"{f.source} does not have the expected format", present & ~ok))
        if f.max_length:
            lengths = np.fromiter(map(len, values.tolist()), dtype=np.int64, count=len(values))
            column.failures.append(("max_length", f"{f.source} is longer than {f.max_length} characters",
                                    lengths > f.max_length))
    elif f.type == "ssn":
        digits = np.array([v.replace("-", "").replace(" ", "") for v in values.tolist()], dtype=object)
        ok = _fullmatch(SSN_PATTERN, digits)
        column.failures.append(("ssn_format", f"{f.source} is not a valid social security number", present & ~ok))
        column.fragments = _strings(digits)
    elif f.type == "date":
        parsed = pd.to_datetime(values, format=DATE_FORMATS[f.format], errors="coerce")
        if f.format in DATE_WIDTHS:
            widths = np.fromiter(map(len, values.tolist()), dtype=np.int64, count=len(values))
            parsed = parsed.where(widths == DATE_WIDTHS[f.format])
        missing = np.asarray(parsed.isna())
        column.failures.append(("date_format", f"{f.source} is not a date in format {f.format}", present & missing))
        if f.not_in_future:
            column.failures.append(("not_in_future", f"{f.source} is in the future",
                                    np.asarray(parsed > pd.Timestamp(today))))
        text = np.datetime_as_string(np.asarray(parsed).astype("datetime64[D]"), unit="D")
        column.fragments = np.strings.add(np.strings.add('"', text), '"').astype(object)
        column.parsed = np.asarray(parsed)
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
    numbers = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
    bad = present & ~np.isfinite(numbers)  # "inf" is no JSON number
    kind = "a number" if f.type == "decimal" else "a whole number"
    if f.type == "integer":
        bad |= present & ~np.isnan(numbers) & (numbers != np.floor(numbers))
    column.failures.append(("number_format", f"{f.source} is not {kind}", bad))
    with np.errstate(invalid="ignore"):
        if f.min is not None:
            column.failures.append(("min", f"{f.source} must be at least {f.min:g}", numbers < f.min))
        if f.max is not None:
            column.failures.append(("max", f"{f.source} must be at most {f.max:g}", numbers > f.max))
    # Values already written as JSON numbers pass through unchanged (exact
    # decimals, no float round trip); others ("+5", "1.", "1e3") are rewritten.
    column.fragments = values.copy()
    rewrite = present & ~bad & ~_fullmatch(JSON_NUMBER, values)
    if rewrite.any():
        column.fragments[rewrite] = [_number_text(x, f.type) for x in numbers[rewrite].tolist()]


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
