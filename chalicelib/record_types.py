"""Record types as declarative specs: mapping and validation of legacy records.

Each record type is one JSON file in `chalicelib/specs/` (format in
docs/record-specs.md). A spec is checked when loaded; a broken one fails at
start with its file and field named.

`transform` is the hot path: a DataFrame of source strings in, JSON documents
and per-record errors out. Every rule is evaluated a column at a time (numpy
and pandas vectorised code, or C-level string functions in a comprehension),
never a record at a time in Python; the documents are assembled from per-field
JSON fragments. Every rule is a function of the value alone (none values,
defaults, signs and implied decimals included), so a column whose values
repeat is encoded once per distinct value.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import pandas as pd

from chalicelib.errors import SpecError

SPEC_DIR = os.path.join(os.path.dirname(__file__), "specs")
FIELD_TYPES = ("string", "ssn", "date", "decimal", "integer", "code")


@dataclass(frozen=True)
class DateFormat:
    """How a date is written: its width, where each part sits, its separators.

    Parts are Y (four-digit year), y (two-digit year, placed by the field's
    century_pivot), M (month), D (day of the month), J (day of the year).
    A format with `short` also takes a one-digit month and day ("3/5/2024"):
    such values are rewritten to the full width (`full`) before parsing.
    """

    width: int
    parts: tuple[tuple[str, int, int], ...]          # (part, first character, characters)
    separators: tuple[tuple[int, str], ...] = ()     # (position, character)
    short: re.Pattern | None = None
    full: str = ""

    @property
    def two_digit_year(self) -> bool:
        return any(part == "y" for part, _, _ in self.parts)


DATE_FORMATS = {
    "YYYYMMDD": DateFormat(8, (("Y", 0, 4), ("M", 4, 2), ("D", 6, 2))),
    "MMDDYYYY": DateFormat(8, (("M", 0, 2), ("D", 2, 2), ("Y", 4, 4))),
    "YYYY-MM-DD": DateFormat(10, (("Y", 0, 4), ("M", 5, 2), ("D", 8, 2)), ((4, "-"), (7, "-")),
                             re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII), "{0}-{1:0>2}-{2:0>2}"),
    "MM/DD/YYYY": DateFormat(10, (("M", 0, 2), ("D", 3, 2), ("Y", 6, 4)), ((2, "/"), (5, "/")),
                             re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII), "{0:0>2}/{1:0>2}/{2}"),
    "MMDDYY": DateFormat(6, (("M", 0, 2), ("D", 2, 2), ("y", 4, 2))),
    "CCYYDDD": DateFormat(7, (("Y", 0, 4), ("J", 4, 3))),
}
SIGNS = ("leading", "trailing", "cr_db")
SIGN_WORDS = {"leading": "", "trailing": " (sign after the digits)", "cr_db": " (CR or DB after the digits)"}
TOP_LEVEL_KEYS = ("record_type", "title", "description", "endpoint", "fields", "rules", "fixed_width")
FIELD_KEYS = {"source", "target", "type", "required", "pii", "description", "none_values", "pattern", "max_length",
              "min", "max", "implied_decimals", "sign", "codes", "format", "century_pivot", "not_in_future",
              "default"}
# The keys that only some types take, and those types.
TYPE_KEYS = {
    "pattern": ("string",), "max_length": ("string",),
    "min": ("decimal", "integer"), "max": ("decimal", "integer"), "sign": ("decimal", "integer"),
    "implied_decimals": ("decimal",),
    "codes": ("code",),
    "format": ("date",), "century_pivot": ("date",), "not_in_future": ("date",),
    "default": ("string", "date", "decimal", "integer", "code"),
}
RULE_TYPES = ("date_order",)
RULE_KEYS = {"type", "first", "then", "message", "description"}
RECORD_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*")
SSN_PATTERN = re.compile(r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}", re.ASCII)
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?", re.ASCII)
MASK = "***"
DISTINCT_SAMPLE = 1000  # values looked at to guess whether a column repeats
_TEXT = np.dtypes.StringDType()
_NAT = np.datetime64("NaT", "D")


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
    none_values: tuple[str, ...] = ()      # values that mean none, as blank does
    default: str | None = None             # the value used when the source is blank (or a none value)
    implied_decimals: int | None = None    # "0012345" with 2 is 123.45
    sign: str = "leading"                  # where a number's sign is written (SIGNS)
    century_pivot: int | None = None       # two-digit years below it are 20YY, the others 19YY


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

    def document_lines(self) -> list[str]:
        """Each document's JSON text. Documents end with "\n", which JSON escapes inside strings; a field may
        hold U+0085, U+2028 or a form feed unescaped, so the text is split at "\n" only, never with
        `str.splitlines()` (DESIGN 13)."""
        return self.documents.split("\n")[:-1] if self.documents else []


# ---------------------------------------------------------------- loading specs

def load_spec(path: str) -> RecordSpec:
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SpecError(f"{name}: cannot be read as JSON: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{name}: a spec is a JSON object")
    unknown = [key for key in raw if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise SpecError(f"{name}: unknown top-level key {unknown[0]!r} (known: {', '.join(TOP_LEVEL_KEYS)})")
    for key in ("record_type", "endpoint", "fields"):
        if key not in raw:
            raise SpecError(f"{name}: missing '{key}'")
    if not isinstance(raw["record_type"], str) or not RECORD_TYPE_NAME.fullmatch(raw["record_type"]):
        raise SpecError(f"{name}: 'record_type' must be lower-case letters, digits and underscores, "
                        f"not {raw['record_type']!r}")
    for key in ("endpoint", "title", "description"):
        if key in raw and not (isinstance(raw[key], str) and (raw[key] or key == "description")):
            raise SpecError(f"{name}: {key!r} must be a non-empty string")
    if not isinstance(raw["fields"], list) or not raw["fields"]:
        raise SpecError(f"{name}: 'fields' must be a non-empty list")
    fields = tuple(_load_field(name, i, f) for i, f in enumerate(raw["fields"]))
    sources = [f.source for f in fields]
    targets = [f.target for f in fields]
    for label, names in (("source", sources), ("target", targets)):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"{name}: {label} field {duplicates[0]!r} appears twice")
    _check_target_tree(name, targets)
    by_source = {f.source: f for f in fields}
    if not isinstance(raw.get("rules", []), list):
        raise SpecError(f"{name}: 'rules' must be a list")
    rules = []
    for i, rule in enumerate(raw.get("rules", [])):
        where = f"{name}: rules[{i}]"
        if not isinstance(rule, dict):
            raise SpecError(f"{where}: a rule is a JSON object")
        unknown = sorted(set(rule) - RULE_KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown key {unknown[0]!r}")
        if rule.get("type") not in RULE_TYPES:
            raise SpecError(f"{where}: unknown rule type {rule.get('type')!r} (known: {', '.join(RULE_TYPES)})")
        for key in ("first", "then"):
            ref = rule.get(key)
            if not isinstance(ref, str) or ref not in by_source or by_source[ref].type != "date":
                raise SpecError(f"{where}: '{key}' must name a date field, not {ref!r}")
        if rule["first"] == rule["then"]:
            raise SpecError(f"{where}: 'first' and 'then' are the same field {rule['first']!r}")
        for key in ("message", "description"):
            if key in rule and not isinstance(rule[key], str):
                raise SpecError(f"{where}: {key!r} must be a string")
        rules.append(CrossFieldRule(rule["type"], rule["first"], rule["then"],
                                    rule.get("message", f"{rule['then']} is before {rule['first']}")))
    layout = None
    if "fixed_width" in raw:
        from chalicelib.fixed_width import load_layout
        layout = load_layout(name, raw["fixed_width"], sources)
        by_field = {f.source: f for f in fields}
        for placed in layout.fields:
            spec_field = by_field[placed.source]
            # A numeric PIC already gives the reader its sign and decimal point.
            if placed.numeric and (spec_field.implied_decimals or spec_field.sign != "leading"):
                raise SpecError(f"{name}: field {placed.source!r}: 'implied_decimals' and 'sign' describe text "
                                f"amounts; its fixed-width PIC {placed.pic} already says where they are")
    return RecordSpec(raw["record_type"], raw.get("title", raw["record_type"]), raw.get("description", ""),
                      raw["endpoint"], fields, tuple(rules), layout)


def _load_field(name: str, index: int, raw: Any) -> FieldSpec:
    if not isinstance(raw, dict):
        raise SpecError(f"{name}: fields[{index}] is not a JSON object")
    where = f"{name}: field {raw.get('source', index)!r}"
    unknown = sorted(set(raw) - FIELD_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}")
    for key in ("source", "target"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SpecError(f"{where}: needs 'source' and 'target', non-empty strings")
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise SpecError(f"{where}: unknown type {kind!r} (known: {', '.join(FIELD_TYPES)})")
    for key, kinds in TYPE_KEYS.items():
        if key in raw and kind not in kinds:
            raise SpecError(f"{where}: {key!r} applies to {_either(kinds)} fields only, not to {_a(kind)} field")
    for key in ("required", "pii", "not_in_future"):
        if key in raw and not isinstance(raw[key], bool):
            raise SpecError(f"{where}: {key!r} must be true or false, not {raw[key]!r}")
    if not isinstance(raw.get("description", ""), str):
        raise SpecError(f"{where}: 'description' must be a string")
    values = dict(raw)

    if kind == "date":
        fmt = DATE_FORMATS.get(raw.get("format")) if isinstance(raw.get("format"), str) else None
        if fmt is None:
            raise SpecError(f"{where}: date format must be one of {', '.join(DATE_FORMATS)}")
        if fmt.two_digit_year and "century_pivot" not in raw:
            raise SpecError(f"{where}: format {raw['format']} has a two-digit year: say which century with "
                            f"'century_pivot' (0 to 100: years below it are 20YY, the others 19YY)")
        if not fmt.two_digit_year and "century_pivot" in raw:
            raise SpecError(f"{where}: 'century_pivot' applies to formats with a two-digit year only, "
                            f"not to {raw['format']}")
        if "century_pivot" in raw and not _whole(raw["century_pivot"], 0, 100):
            raise SpecError(f"{where}: 'century_pivot' must be a whole number from 0 to 100, "
                            f"not {raw['century_pivot']!r}")
    if kind == "code":
        codes = raw.get("codes")
        if not (isinstance(codes, dict) and codes):
            raise SpecError(f"{where}: a code field needs a non-empty 'codes' table")
        for code, target in codes.items():
            if code == "":
                raise SpecError(f"{where}: a blank code cannot be in 'codes' (a blank value is none)")
            if not isinstance(target, str):
                raise SpecError(f"{where}: code {code!r} maps to {target!r}, which is not a string")
    if "pattern" in raw:
        if not isinstance(raw["pattern"], str):
            raise SpecError(f"{where}: 'pattern' must be a string")
        try:
            re.compile(raw["pattern"], re.ASCII)
        except re.error as err:
            raise SpecError(f"{where}: pattern is not a valid regular expression: {err}") from None
    if "max_length" in raw and not _whole(raw["max_length"], 1, None):
        raise SpecError(f"{where}: 'max_length' must be a whole number of at least 1, not {raw['max_length']!r}")
    for key in ("min", "max"):
        value = raw.get(key)
        if key in raw and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise SpecError(f"{where}: {key!r} must be a number, not {value!r}")
    if raw.get("min") is not None and raw.get("max") is not None and raw["min"] > raw["max"]:
        raise SpecError(f"{where}: 'min' ({_plain(raw['min'])}) is above 'max' ({_plain(raw['max'])})")
    if "implied_decimals" in raw and not _whole(raw["implied_decimals"], 1, 9):
        raise SpecError(f"{where}: 'implied_decimals' must be a whole number from 1 to 9, "
                        f"not {raw['implied_decimals']!r}")
    if "sign" in raw and raw["sign"] not in SIGNS:
        raise SpecError(f"{where}: 'sign' must be one of {', '.join(SIGNS)}, not {raw['sign']!r}")
    if "none_values" in raw:
        none = raw["none_values"]
        if not (isinstance(none, list) and none and all(isinstance(v, str) and v for v in none)):
            raise SpecError(f"{where}: 'none_values' must be a non-empty list of non-blank strings "
                            f"(a blank value always means none)")
        if kind == "code" and set(none) & set(raw["codes"]):
            raise SpecError(f"{where}: {sorted(set(none) & set(raw['codes']))[0]!r} is both a code and a none value")
        values["none_values"] = tuple(none)
    spec = FieldSpec(**values)
    if "default" in raw:
        _check_default(where, spec)
    return spec


def _check_default(where: str, f: FieldSpec) -> None:
    """A default must be a value the field itself accepts, written as in the file."""
    if not isinstance(f.default, str) or not f.default:
        raise SpecError(f"{where}: 'default' must be a non-blank string, written as the file writes the value, "
                        f"not {f.default!r}")
    if f.required:
        raise SpecError(f"{where}: a required field cannot have a 'default' (a blank value would never be "
                        f"missing): drop one of them")
    if f.default in f.none_values:
        raise SpecError(f"{where}: default {f.default!r} is one of its own none values")
    column = _encode(replace(f, default=None), np.array([f.default], dtype=object), date.today())
    for rule, message, mask in column.failures:
        if mask[0]:
            raise SpecError(f"{where}: default {f.default!r} breaks the field's own rule {rule!r}: {message}")


def _whole(value: Any, low: int, high: int | None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _a(kind: str) -> str:
    return ("an " if kind in ("integer", "ssn") else "a ") + kind


def _either(kinds: tuple[str, ...]) -> str:
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]


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
            parsed[blank] = _NAT  # a none value may look like a date ("99991231"): it is none all the same
        column.failures.append(("date_format", f"{f.source} is not a date in format {f.format}",
                                present & np.isnat(parsed)))
        if f.not_in_future:
            column.failures.append(("not_in_future", f"{f.source} is in the future",
                                    parsed > np.datetime64(today, "D")))
        column.fragments = _date_fragments(parsed)
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


def parse_dates(values: np.ndarray, format_name: str, century_pivot: int | None = None) -> np.ndarray:
    """Dates written in one of DATE_FORMATS, as datetime64[D]; NaT where a value is not such a date.

    Vectorised: the values become a (records x width) grid of character codes,
    digits and separators are checked by position, and year, month and day (or
    day of the year) are checked against the calendar with numpy date arithmetic.
    """
    fmt = DATE_FORMATS[format_name]
    count = len(values)
    texts = values.tolist()
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=count)
    if fmt.short is not None:
        for i in np.flatnonzero((lengths > 0) & (lengths < fmt.width)).tolist():  # "3/5/2024": rare
            match = fmt.short.fullmatch(texts[i])
            if match:
                texts[i] = fmt.full.format(*match.groups())
                lengths[i] = fmt.width
    # Longer values are cut to the width here, and refused by their length below.
    grid = np.array(texts, dtype=f"<U{fmt.width}").view(np.uint32).reshape(count, fmt.width).astype(np.int64) - 48
    ok = lengths == fmt.width
    for position, character in fmt.separators:
        ok &= grid[:, position] == ord(character) - 48
    digits = [i for _, first, size in fmt.parts for i in range(first, first + size)]
    ok &= ((grid[:, digits] >= 0) & (grid[:, digits] <= 9)).all(axis=1)
    number = {part: grid[:, first:first + size] @ (10 ** np.arange(size - 1, -1, -1, dtype=np.int64))
              for part, first, size in fmt.parts}
    if "y" in number:
        year = number["y"] + np.where(number["y"] < century_pivot, 2000, 1900)
    else:
        year = number["Y"]
    ok &= year >= 1
    year = np.where(ok, year, 1970)
    if "J" in number:  # day of the year
        start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        end = (year - 1969).astype("datetime64[Y]").astype("datetime64[D]")
        day = number["J"]
    else:
        month = number["M"]
        ok &= (month >= 1) & (month <= 12)
        months = (year - 1970) * 12 + np.where(ok, month, 1) - 1
        start = months.astype("datetime64[M]").astype("datetime64[D]")
        end = (months + 1).astype("datetime64[M]").astype("datetime64[D]")
        day = number["D"]
    ok &= (day >= 1) & (day <= (end - start).astype(np.int64))
    dates = start + np.where(ok, day - 1, 0).astype("timedelta64[D]")
    dates[~ok] = _NAT
    return dates


def _date_fragments(dates: np.ndarray) -> np.ndarray:
    """Each date as a JSON string, "2024-03-15" (quotes included), written digit by digit into a grid
    of characters: three times as fast as datetime_as_string and adding the quotes. A date that
    is not one (NaT) gets a placeholder: its record is rejected or its value is null."""
    days = np.where(np.isnat(dates), np.datetime64(0, "D"), dates)
    years, months = days.astype("datetime64[Y]"), days.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    grid = np.empty((len(dates), 12), dtype=np.uint32)
    grid[:, 0] = grid[:, 11] = ord('"')
    grid[:, 5] = grid[:, 8] = ord("-")
    for column, (number, place) in enumerate(((year, 1000), (year, 100), (year, 10), (year, 1), (None, 0),
                                              (month, 10), (month, 1), (None, 0), (day, 10), (day, 1)), start=1):
        if number is not None:
            grid[:, column] = 48 + (number // place) % 10
    return grid.view("<U12").ravel().astype(object)


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
            column.failures.append(("min", f"{f.source} must be at least {_plain(f.min)}", numbers < f.min))
        if f.max is not None:
            column.failures.append(("max", f"{f.source} must be at most {_plain(f.max)}", numbers > f.max))
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


def _plain(x: float) -> str:
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
