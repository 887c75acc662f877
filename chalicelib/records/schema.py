"""Record types as declarative specs: what a record type's fields are, and checking a spec when loaded.

Each record type is one JSON file in `chalicelib/specs/` (format in
docs/record-specs.md). A spec is checked when loaded; a broken one fails at
start with its file and field named. A spec may describe its fixed-width
layout by hand or name a COBOL copybook beside it (chalicelib.inputs.fixed).
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from chalicelib.errors import SpecError
from chalicelib.inputs.fixed.file_layout import load_file_layout
from chalicelib.records.dates import DATE_FORMATS
from chalicelib.records.transform import encode_column, plain_number

SPEC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "specs")
FIELD_TYPES = ("string", "ssn", "date", "decimal", "integer", "code")

SIGNS = ("leading", "trailing", "cr_db")
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
    layout: Any = None  # the fixed-width record layout (chalicelib.inputs.fixed), if the type has one

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
        layout = load_file_layout(name, raw["fixed_width"], sources, os.path.dirname(path))
        by_field = {f.source: f for f in fields}
        for source, placed in zip(layout.names, layout.columns):
            spec_field = by_field[source]
            # A numeric PIC already gives the reader its sign and decimal point.
            if placed.numeric and (spec_field.implied_decimals or spec_field.sign != "leading"):
                raise SpecError(f"{name}: field {source!r}: 'implied_decimals' and 'sign' describe text "
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
        raise SpecError(f"{where}: 'min' ({plain_number(raw['min'])}) is above 'max' ({plain_number(raw['max'])})")
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
    column = encode_column(replace(f, default=None), np.array([f.default], dtype=object), date.today())
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

