"""Record types as declarative specs: what a record type's fields are, and checking a spec when loaded.

Each record type is one JSON file in `chalicelib/specs/` (format in
docs/record-specs.md). A spec is checked when loaded, by the pydantic models
of chalicelib.records.spec_models; a broken one fails at start with its file
and field named. A spec may describe its fixed-width layout by hand or name a
COBOL copybook beside it (chalicelib.inputs.fixed).

The frozen dataclasses below are what the rest of the service reads (the
transform's hot path reads FieldSpec attributes). Loading needs neither numpy
nor pandas unless a field's `default` is checked against the field's own rules
(`check_values`, the default), which runs the transform engine on it.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import SpecError
from chalicelib.inputs.fixed.file_layout import load_file_layout
from chalicelib.records.spec_models import (FIELD_KEYS, FIELD_TYPES, RECORD_TYPE_PATTERN, RULE_KEYS, RULE_TYPES,
                                            SIGNS, TOP_LEVEL_KEYS, TYPE_KEYS, RecordSpecModel, spec_json_schema,
                                            spec_problem)

__all__ = ["ControlTotal", "CrossFieldRule", "FieldSpec", "RecordSpec", "SPEC_DIR", "load_spec", "load_specs", "spec_json_schema",
           # what a spec may say, from the models
           "FIELD_KEYS", "FIELD_TYPES", "RECORD_TYPE_NAME", "RULE_KEYS", "RULE_TYPES", "SIGNS", "TOP_LEVEL_KEYS",
           "TYPE_KEYS"]

SPEC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "specs")
RECORD_TYPE_NAME = re.compile(RECORD_TYPE_PATTERN.strip("^$"))


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
class ControlTotal:
    name: str
    kind: str    # "sum" or "count_by" (spec_models.CONTROL_KINDS)
    field: str   # the source of the field


@dataclass(frozen=True)
class RecordSpec:
    record_type: str
    title: str
    description: str
    endpoint: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[CrossFieldRule, ...] = ()
    layout: Any = None  # the fixed-width record layout (chalicelib.inputs.fixed), if the type has one
    control_totals: tuple[ControlTotal, ...] = ()  # of the reconciliation report (chalicelib.reconciliation)

    def field(self, source: str) -> FieldSpec:
        return next(f for f in self.fields if f.source == source)

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

def load_spec(path: str, check_values: bool = True) -> RecordSpec:
    """Load and check one spec file; raise SpecError naming the file and the field.

    With `check_values` (the default) each field's `default` is run through the field's own rules, which
    imports the transform engine (numpy, pandas); without it nothing does.
    """
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SpecError(f"{name}: cannot be read as JSON: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{name}: a spec is a JSON object")
    try:
        model = RecordSpecModel.model_validate(raw)
    except ValidationError as err:
        raise SpecError(spec_problem(name, raw, err)) from None
    fields = tuple(_field_spec(f) for f in model.fields)
    if check_values:
        for f in fields:
            if f.default is not None:
                _check_default(f"{name}: field {f.source!r}", f)
    rules = tuple(CrossFieldRule(r.type, r.first, r.then, r.message if r.message is not None
                                 else f"{r.then} is before {r.first}") for r in model.rules)
    layout = None
    if model.fixed_width is not None:
        sources = [f.source for f in fields]
        layout = load_file_layout(name, raw["fixed_width"], sources, os.path.dirname(path))
        by_field = {f.source: f for f in fields}
        for source, placed in zip(layout.names, layout.columns):
            spec_field = by_field[source]
            # A numeric PIC already gives the reader its sign and decimal point.
            if placed.numeric and (spec_field.implied_decimals or spec_field.sign != "leading"):
                raise SpecError(f"{name}: field {source!r}: 'implied_decimals' and 'sign' describe text "
                                f"amounts; its fixed-width PIC {placed.pic} already says where they are")
    controls = tuple(ControlTotal(c.name, c.kind, c.field) for c in model.control_totals)
    return RecordSpec(model.record_type, model.title if model.title is not None else model.record_type,
                      model.description, model.endpoint, fields, rules, layout, controls)


def _field_spec(model: Any) -> FieldSpec:
    """The dataclass of a validated field model: the keys it was given, FieldSpec's defaults for the others."""
    values = {key: value for key, value in model if value is not None}
    values["none_values"] = tuple(values.get("none_values", ()))
    return FieldSpec(**values)


def _check_default(where: str, f: FieldSpec) -> None:
    """A default must be a value the field itself accepts, written as in the file (the models have checked
    it is a non-blank string, not on a required field and not a none value)."""
    import numpy as np  # here, not at the top: the API loads specs without numpy and pandas

    from chalicelib.records.mapping import encode_column

    column = encode_column(replace(f, default=None), np.array([f.default], dtype=object), date.today())
    for rule, message, mask in column.failures:
        if mask[0]:
            raise SpecError(f"{where}: default {f.default!r} breaks the field's own rule {rule!r}: {message}")


def load_specs(directory: str = SPEC_DIR, check_values: bool = True) -> dict[str, RecordSpec]:
    specs: dict[str, RecordSpec] = {}
    for filename in sorted(os.listdir(directory)):
        if filename.endswith(".json"):
            spec = load_spec(os.path.join(directory, filename), check_values)
            if spec.record_type in specs:
                raise SpecError(f"{filename}: record type {spec.record_type!r} is defined twice")
            specs[spec.record_type] = spec
    return specs
