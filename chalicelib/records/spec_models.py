"""A record spec as pydantic v2 models: what a spec file may say, checked declaratively.

The models are the one description of the spec format: loading a spec
validates it with them (chalicelib.records.schema), and their JSON Schema
(`spec_json_schema`) is what the API's OpenAPI description is generated from.
A field is one of six models, chosen by its `type`, so a key that does not
apply to a type (`pattern` on a date) is refused by the model itself. Types are
strict: true and false are JSON booleans, numbers are JSON numbers, never text.

Nothing here imports numpy or pandas: the API reads the specs at start
without them. Checking a field's `default` against the field's own rules needs
the transform engine and is done by the loader (`check_values`).
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, WithJsonSchema, field_validator, \
    model_validator
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError

# The date formats chalicelib.records.dates reads, and those with a two-digit year. Written out here
# because dates.py imports numpy; tests/unit/test_record_types.py checks the two agree.
DATE_FORMAT_NAMES = ("YYYYMMDD", "MMDDYYYY", "YYYY-MM-DD", "MM/DD/YYYY", "MMDDYY", "CCYYDDD")
TWO_DIGIT_YEAR_FORMATS = ("MMDDYY",)
SIGNS = ("leading", "trailing", "cr_db")
RULE_TYPES = ("date_order",)
RECORD_TYPE_PATTERN = r"^[a-z][a-z0-9_]*$"

STRICT = ConfigDict(extra="forbid", strict=True)

NonEmpty = Annotated[str, Field(min_length=1)]
Number = Annotated[Union[int, FiniteFloat], WithJsonSchema({"type": "number"})]  # an int stays an int


def refuse(why: str) -> PydanticCustomError:
    """A spec mistake worded for the analyst; the loader puts the file and field in front of it."""
    return PydanticCustomError("spec", "{why}", {"why": why})


def plain_number(x: float) -> str:
    """A bound as the analyst wrote it: 10000000, not 1e+07 (as chalicelib.records.mapping writes it)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# Optional keys default to None, meaning "not given"; an explicit JSON null is refused (strict types),
# and `_SpecJsonSchema` leaves that None out of the JSON Schema.

class _Field(BaseModel):
    """The keys every field takes."""

    model_config = STRICT

    type: str  # one of FIELD_TYPES: each type's model narrows it to its own name
    source: NonEmpty = Field(description="The column name in the file's header, exactly as written.")
    target: NonEmpty = Field(description="Where the value goes in the document: a dotted path such as "
                                         "`claimant.last_name` makes nested objects.")
    required: bool = Field(False, description="A blank value (or one of `none_values`) is an error.")
    pii: bool = Field(False, description="Personal data: its values never appear in error reports.")
    description: str = Field("", description="Free text for people; ignored by the service.")
    none_values: list[NonEmpty] = Field(None, min_length=1, description="Values that mean none in this "
                                        "column, as a blank does.")


class _WithDefault(_Field):
    default: NonEmpty = Field(None, description="The value used when the file's value is blank (or a none "
                              "value), written as the file writes values. Not with `required`.")

    @model_validator(mode="after")
    def _default_is_possible(self):
        if self.default is not None:
            if self.required:
                raise refuse("a required field cannot have a 'default' (a blank value would never be "
                             "missing): drop one of them")
            if self.default in (self.none_values or ()):
                raise refuse(f"default {self.default!r} is one of its own none values")
        return self


class StringField(_WithDefault):
    """Text, as written in the file."""

    type: Literal["string"]
    pattern: str = Field(None, description="A regular expression (Python syntax, ASCII \\d and \\w) the "
                         "whole value must match.")
    max_length: int = Field(None, ge=1, description="The most characters the value may have.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern, re.ASCII)
        except re.error as err:
            raise refuse(f"pattern is not a valid regular expression: {err}") from None
        return pattern


class SsnField(_Field):
    """A social security number: nine digits, dashes and spaces ignored."""

    type: Literal["ssn"]


class DateField(_WithDefault):
    """A date in the field's format, written to the document as an ISO date."""

    type: Literal["date"]
    format: Literal[DATE_FORMAT_NAMES] = Field(description="How the date is written in the file.")
    century_pivot: int = Field(None, ge=0, le=100, description="Two-digit years below it are 20YY, the "
                               "others 19YY. Required with a two-digit-year format, refused with the others.")
    not_in_future: bool = Field(False, description="A date after today is an error.")

    @model_validator(mode="after")
    def _century(self):
        if self.format in TWO_DIGIT_YEAR_FORMATS and self.century_pivot is None:
            raise refuse(f"format {self.format} has a two-digit year: say which century with 'century_pivot' "
                         f"(0 to 100: years below it are 20YY, the others 19YY)")
        if self.format not in TWO_DIGIT_YEAR_FORMATS and self.century_pivot is not None:
            raise refuse(f"'century_pivot' applies to formats with a two-digit year only, not to {self.format}")
        return self


class _NumberField(_WithDefault):
    min: Number = Field(None, description="The smallest value allowed, inclusive.")
    max: Number = Field(None, description="The largest value allowed, inclusive.")
    sign: Literal[SIGNS] = Field("leading", description="Where the file writes a number's sign: "
                                 "`-12.50`, `12.50-` or `12.50CR`.")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise refuse(f"'min' ({plain_number(self.min)}) is above 'max' ({plain_number(self.max)})")
        return self


class DecimalField(_NumberField):
    """A number, written to the document as a JSON number."""

    type: Literal["decimal"]
    implied_decimals: int = Field(None, ge=1, le=9, description="The number is written without a decimal "
                                  "point and its last N digits are decimals.")


class IntegerField(_NumberField):
    """A whole number."""

    type: Literal["integer"]


class CodeField(_WithDefault):
    """A legacy code, written to the document as the value its code table gives."""

    type: Literal["code"]
    codes: dict[NonEmpty, str] = Field(min_length=1, description="The code table: legacy code -> target value.")

    @model_validator(mode="after")
    def _none_is_not_a_code(self):
        both = set(self.none_values or ()) & set(self.codes)
        if both:
            raise refuse(f"{sorted(both)[0]!r} is both a code and a none value")
        return self


FIELD_MODELS: dict[str, type[_Field]] = {"string": StringField, "ssn": SsnField, "date": DateField,
                                         "decimal": DecimalField, "integer": IntegerField, "code": CodeField}
FIELD_TYPES = tuple(FIELD_MODELS)
SpecField = Annotated[Union[StringField, SsnField, DateField, DecimalField, IntegerField, CodeField],
                      Field(discriminator="type")]


class DateOrderRule(BaseModel):
    """Where both dates are given, `then` may not be before `first`."""

    model_config = STRICT

    type: Literal[RULE_TYPES]
    first: str = Field(description="The source of a date field.")
    then: str = Field(description="The source of a date field that may not be before `first`.")
    message: str = Field(None, description="The error message; by default '<then> is before <first>'.")
    description: str = Field("", description="Free text for people; ignored by the service.")


CONTROL_KINDS = ("sum", "count_by")
OTHER_CODE, NO_CODE = "(other)", "(none)"  # count_by keys of a value not in the code table, and of none


class ControlTotalModel(BaseModel):
    """A control total of the run's reconciliation report (docs/reconciliation.md): the sum of an amount field,
    or the count of records per code of a code field, taken of the source, delivered, rejected and not
    processed records."""

    model_config = STRICT

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="How the report names the total.")
    kind: Literal[CONTROL_KINDS] = Field(description="`sum`: the exact sum of a decimal or integer field; "
                                         "`count_by`: records per code value of a code field.")
    field: NonEmpty = Field(description="The source of the field it is taken of; never a personal (`pii`) field.")
    description: str = Field("", description="Free text for people; ignored by the service.")


class RecordSpecModel(BaseModel):
    """A record type: the columns of its legacy files and where each value goes in the document."""

    model_config = ConfigDict(**STRICT, title="RecordSpec")

    record_type: str = Field(pattern=RECORD_TYPE_PATTERN, description="The name clients use; the file is "
                             "named after it.")
    title: NonEmpty = Field(None, description="A human name; defaults to `record_type`.")
    description: str = Field("", description="What the file holds and where it comes from.")
    endpoint: NonEmpty = Field(description="Documents are POSTed to <TARGET_API_URL>/records/<endpoint>.")
    fields: list[SpecField] = Field(min_length=1, description="One entry per column of the legacy file.")
    rules: list[DateOrderRule] = Field([], description="Checks that involve two fields.")
    fixed_width: dict[str, Any] = Field(None, description="The fixed-width record layout "
                                        "(docs/fixed-width.md), checked when the spec is loaded.")
    control_totals: list[ControlTotalModel] = Field([], description="Control totals of the run's reconciliation "
                                                    "report (docs/reconciliation.md).")

    @model_validator(mode="after")
    def _across_fields(self):
        sources = [f.source for f in self.fields]
        targets = [f.target for f in self.fields]
        for label, names in (("source", sources), ("target", targets)):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise refuse(f"{label} field {duplicates[0]!r} appears twice")
        leaves = set(targets)
        for target in targets:
            parts = target.split(".")
            if any(not p for p in parts):
                raise refuse(f"target {target!r} is not a dotted path")
            for i in range(1, len(parts)):
                if ".".join(parts[:i]) in leaves:
                    raise refuse(f"target {target!r} sits under the value {'.'.join(parts[:i])!r}")
        by_source = {f.source: f for f in self.fields}
        for i, rule in enumerate(self.rules):
            for key in ("first", "then"):
                ref = getattr(rule, key)
                if ref not in by_source or by_source[ref].type != "date":
                    raise refuse(f"rules[{i}]: '{key}' must name a date field, not {ref!r}")
            if rule.first == rule.then:
                raise refuse(f"rules[{i}]: 'first' and 'then' are the same field {rule.first!r}")
        names = [c.name for c in self.control_totals]
        for i, control in enumerate(self.control_totals):
            where = f"control_totals[{i}]"
            if names.count(control.name) > 1:
                raise refuse(f"{where}: name {control.name!r} appears twice")
            spec_field = by_source.get(control.field)
            if spec_field is None:
                raise refuse(f"{where}: 'field' must name a field of the spec, not {control.field!r}")
            if spec_field.pii:
                # The report holds no personal value, nor a sum of one (a run of one record would show it).
                raise refuse(f"{where}: field {control.field!r} is personal data ('pii'): no control total of it")
            if control.kind == "sum" and spec_field.type not in ("decimal", "integer"):
                raise refuse(f"{where}: a sum needs a decimal or integer field; {control.field!r} is "
                             f"{_a(spec_field.type)} field")
            if control.kind == "count_by":
                if spec_field.type != "code":
                    raise refuse(f"{where}: count_by needs a code field; {control.field!r} is "
                                 f"{_a(spec_field.type)} field")
                targets = list(spec_field.codes.values())
                if len(set(targets)) < len(targets):
                    # The delivered side is counted from the documents: each target value must name one code.
                    raise refuse(f"{where}: field {control.field!r} maps two codes to one value; its delivered "
                                 f"records could not be counted by code")
                if {OTHER_CODE, NO_CODE} & set(spec_field.codes):
                    raise refuse(f"{where}: {OTHER_CODE!r} and {NO_CODE!r} are the report's own keys, not codes")
        return self


# ---------------------------------------------------------------- the keys, from the models

TOP_LEVEL_KEYS = tuple(RecordSpecModel.model_fields)
FIELD_KEYS = {key for model in FIELD_MODELS.values() for key in model.model_fields}
TYPE_KEYS = {key: tuple(t for t, model in FIELD_MODELS.items() if key in model.model_fields)
             for key in sorted(FIELD_KEYS - set(_Field.model_fields))}
RULE_KEYS = set(DateOrderRule.model_fields)


# ---------------------------------------------------------------- JSON Schema

class _SpecJsonSchema(GenerateJsonSchema):
    """Optional keys whose default is None (not given) have no default in the schema: null is not a value."""

    def default_schema(self, schema):
        if schema.get("default", ...) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def spec_json_schema() -> dict:
    """The JSON Schema (2020-12) of a spec file, for docs and the API's OpenAPI description.

    It says everything about a single key (types, ranges, which keys each field type takes); the checks
    across keys (min <= max, a two-digit year needs century_pivot, rules naming date fields, duplicate
    sources and targets, defaults the field accepts, the fixed-width layout) are made when a spec loads.
    """
    schema = RecordSpecModel.model_json_schema(schema_generator=_SpecJsonSchema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ---------------------------------------------------------------- errors in the loader's words

_WHOLE = "must be a whole number"
TOP_LEVEL_WORDING = {
    "record_type": "'record_type' must be lower-case letters, digits and underscores, not {value!r}",
    "title": "'title' must be a non-empty string",
    "endpoint": "'endpoint' must be a non-empty string",
    "description": "'description' must be a string",
    "fields": "'fields' must be a non-empty list",
    "rules": "'rules' must be a list",
    "fixed_width": "fixed_width: must be an object with 'copybook', or 'record_length' and 'fields'",
    "control_totals": "'control_totals' must be a list of objects with 'name', 'kind' (sum or count_by) and "
                      "'field'",
}
FIELD_WORDING = {
    "source": "needs 'source' and 'target', non-empty strings",
    "target": "needs 'source' and 'target', non-empty strings",
    "required": "'required' must be true or false, not {value!r}",
    "pii": "'pii' must be true or false, not {value!r}",
    "not_in_future": "'not_in_future' must be true or false, not {value!r}",
    "description": "'description' must be a string",
    "none_values": "'none_values' must be a non-empty list of non-blank strings (a blank value always means none)",
    "default": "'default' must be a non-blank string, written as the file writes the value, not {value!r}",
    "pattern": "'pattern' must be a string",
    "max_length": f"'max_length' {_WHOLE} of at least 1, not {{value!r}}",
    "min": "'min' must be a number, not {value!r}",
    "max": "'max' must be a number, not {value!r}",
    "implied_decimals": f"'implied_decimals' {_WHOLE} from 1 to 9, not {{value!r}}",
    "sign": f"'sign' must be one of {', '.join(SIGNS)}, not {{value!r}}",
    "codes": "a code field needs a non-empty 'codes' table",
    "format": f"date format must be one of {', '.join(DATE_FORMAT_NAMES)}",
    "century_pivot": f"'century_pivot' {_WHOLE} from 0 to 100, not {{value!r}}",
}
RULE_WORDING = {
    "type": f"unknown rule type {{value!r}} (known: {', '.join(RULE_TYPES)})",
    "first": "'first' must name a date field, not {value!r}",
    "then": "'then' must name a date field, not {value!r}",
    "message": "'message' must be a string",
    "description": "'description' must be a string",
}


def spec_problem(name: str, raw: dict, err: ValidationError) -> str:
    """The first problem pydantic found in spec file `name` (parsed as `raw`), worded as the loader words it:
    "<file>: field '<source>': <why>", "<file>: rules[<i>]: <why>" or "<file>: <why>"."""
    errors = err.errors()
    # The problems of one place (the top level, a field, a rule) in file order; in each, an unknown key
    # first: it often explains the others ("sources" for "source" is also a missing "source").
    first = min(range(len(errors)), key=lambda i: (_place(errors[i]["loc"]),
                                                    errors[i]["type"] != "extra_forbidden", i))
    return f"{name}: {_explain(raw, errors[first])}"


def _place(loc: tuple) -> tuple:
    return tuple(loc[:2]) if loc and loc[0] in ("fields", "rules") and len(loc) > 1 else ()


def _explain(raw: dict, error: dict) -> str:
    loc, kind = error["loc"], error["type"]
    value = None if kind == "missing" else error.get("input")
    if _place(loc) == ():
        if kind == "spec":
            return error["msg"]
        key = loc[0] if loc else None
        if kind == "extra_forbidden":
            return f"unknown top-level key {key!r} (known: {', '.join(TOP_LEVEL_KEYS)})"
        if kind == "missing":
            return f"missing {key!r}"
        return _worded(TOP_LEVEL_WORDING, key, value, error)
    section, index = loc[0], loc[1]
    item = raw[section][index]
    if section == "rules":
        where, rest = f"rules[{index}]", loc[2:]
        if not isinstance(item, dict):
            return f"{where}: a rule is a JSON object"
        if kind == "spec" or not rest:
            return f"{where}: {error['msg']}"
        if kind == "extra_forbidden":
            return f"{where}: unknown key {rest[0]!r}"
        return f"{where}: {_worded(RULE_WORDING, rest[0], value, error)}"
    if not isinstance(item, dict):
        return f"fields[{index}] is not a JSON object"
    where = f"field {item.get('source', index)!r}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"{where}: unknown type {item.get('type')!r} (known: {', '.join(FIELD_TYPES)})"
    kind_of_field, key, rest = loc[2], (loc[3] if len(loc) > 3 else None), loc[4:]
    if kind == "spec" or key is None:
        return f"{where}: {error['msg']}"
    if kind == "extra_forbidden":
        if key in TYPE_KEYS:
            kinds = TYPE_KEYS[key]
            either = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
            return f"{where}: {key!r} applies to {either} fields only, not to {_a(kind_of_field)} field"
        return f"{where}: unknown key {key!r}"
    if key == "codes" and rest:
        if rest[-1] == "[key]":
            return f"{where}: a blank code cannot be in 'codes' (a blank value is none)"
        return f"{where}: code {rest[0]!r} maps to {value!r}, which is not a string"
    return f"{where}: {_worded(FIELD_WORDING, key, value, error)}"


def _worded(wording: dict[str, str], key: Any, value: Any, error: dict) -> str:
    if key in wording:
        return wording[key].format(value=value)
    return f"{key!r}: {error['msg']}"  # a check with no wording of its own: pydantic's


def _a(kind: str) -> str:
    return ("an " if kind in ("integer", "ssn") else "a ") + kind
