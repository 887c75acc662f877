"""Record specs: the shipped specs load, broken specs fail loudly, and each record
type's committed sample file maps to the documents and errors its generator promised.

The samples in data/input/ were written by datagen with the arguments below (see
data/input/README.md); the generator is run again here, in memory, to learn which
records it broke on purpose and how.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chalicelib.errors import SpecError
from chalicelib.inputs.delimited import header_problems
from chalicelib.records import MASK, load_spec, load_specs, transform
from chalicelib.records.dates import DATE_FORMATS
from chalicelib.records.schema import spec_json_schema
from chalicelib.records.spec_models import DATE_FORMAT_NAMES, TWO_DIGIT_YEAR_FORMATS
from datagen.legacy_files import generate_rows

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "input"
RECORD_TYPES = ["disability", "absence", "group_policy", "employee", "claim"]
SAMPLE_RECORDS, SAMPLE_INVALID_SHARE, SAMPLE_SEED = 300, 0.05, 7
SNAKE_PATH = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def specs():
    return load_specs()


def read_sample(record_type: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLES / f"sample_{record_type}_data.csv", dtype=object, na_filter=False,
                       keep_default_na=False)


@pytest.fixture(scope="module")
def samples(specs):
    """Per record type: the sample frame, what transform made of it, and what the generator says it broke."""
    out = {}
    for record_type in RECORD_TYPES:
        frame = read_sample(record_type)
        result = transform(frame, specs[record_type], np.arange(1, len(frame) + 1))
        generated = generate_rows(record_type, SAMPLE_RECORDS, SAMPLE_INVALID_SHARE, SAMPLE_SEED)
        out[record_type] = (frame, result, generated)
    return out


def target_shape(spec) -> dict:
    """The nested key structure a document of this spec has (leaves are None)."""
    shape: dict = {"record_type": None, "source_row": None}
    for f in spec.fields:
        node = shape
        *parents, leaf = f.target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = None
    return shape


def shape_of(document: dict) -> dict:
    return {k: shape_of(v) if isinstance(v, dict) else None for k, v in document.items()}


# ------------------------------------------------------------------ shipped specs

def test_every_shipped_spec_loads(specs):
    # GIVEN the spec files shipped in chalicelib/specs
    spec_files = sorted((ROOT / "chalicelib" / "specs").glob("*.json"))
    # WHEN each is loaded on its own
    loaded = {path.stem: load_spec(str(path)) for path in spec_files}
    # THEN there is one per record type, named after it, with 10 to 18 columns and an endpoint
    assert sorted(loaded) == sorted(RECORD_TYPES) == sorted(specs)
    for name, spec in loaded.items():
        assert spec.record_type == name
        assert spec.endpoint and spec.title and spec.description
        assert 10 <= len(spec.fields) <= 18, name
        assert any(f.required for f in spec.fields), name


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_spec_targets_are_nested_snake_case_and_sources_upper_case(specs, record_type):
    # GIVEN a shipped spec
    spec = specs[record_type]
    # WHEN its columns and targets are listed
    sources, targets = spec.source_columns, spec.target_fields
    # THEN sources are legacy upper-case names, targets dotted snake_case paths, some of them nested
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", s) for s in sources), sources
    assert all(SNAKE_PATH.fullmatch(t) for t in targets), targets
    assert any("." in t for t in targets)


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_personal_data_is_flagged_pii(specs, record_type):
    # GIVEN a shipped spec
    spec = specs[record_type]
    # WHEN its social security numbers, names and dates of birth are picked out
    personal = [f for f in spec.fields
                if f.type == "ssn" or f.source.endswith(("LAST_NAME", "FIRST_NAME", "DOB")) or "DIAG" in f.source]
    # THEN every one of them is flagged pii (a group policy describes an employer: it has none)
    assert bool(personal) == (record_type != "group_policy")
    assert [f.source for f in personal if not f.pii] == []


# ------------------------------------------------------------------ broken specs

VALID_SPEC = {
    "record_type": "vehicle",
    "endpoint": "vehicles",
    "fields": [
        {"source": "POLICY_NO", "target": "policy.number", "type": "string", "required": True, "pattern": "POL\\d{6}"},
        {"source": "START_DT", "target": "policy.start", "type": "date", "format": "YYYYMMDD"},
        {"source": "END_DT", "target": "policy.end", "type": "date", "format": "YYYYMMDD"},
        {"source": "COLOR", "target": "vehicle.color", "type": "code", "codes": {"R": "red", "B": "blue"}},
        {"source": "PRICE", "target": "vehicle.price", "type": "decimal", "min": 0},
    ],
    "rules": [{"type": "date_order", "first": "START_DT", "then": "END_DT"}],
}


def broken(change) -> dict:
    spec = json.loads(json.dumps(VALID_SPEC))
    change(spec)
    return spec


def field(spec: dict, source: str) -> dict:
    return next(f for f in spec["fields"] if f["source"] == source)


BROKEN_SPECS = {
    "unknown type": (lambda s: field(s, "PRICE").update(type="money"), ["'PRICE'", "unknown type 'money'"]),
    "bad regex": (lambda s: field(s, "POLICY_NO").update(pattern="POL([0-9]{6}"),
                  ["'POLICY_NO'", "not a valid regular expression"]),
    "code without codes": (lambda s: field(s, "COLOR").pop("codes"), ["'COLOR'", "non-empty 'codes' table"]),
    "empty code table": (lambda s: field(s, "COLOR").update(codes={}), ["'COLOR'", "non-empty 'codes' table"]),
    "rule on a non-date field": (lambda s: s["rules"][0].update(then="PRICE"),
                                 ["rules[0]", "'then' must name a date field", "'PRICE'"]),
    "rule on a missing field": (lambda s: s["rules"][0].update(first="BEGIN_DT"), ["rules[0]", "'BEGIN_DT'"]),
    "duplicated target": (lambda s: field(s, "COLOR").update(target="vehicle.price"),
                          ["target field 'vehicle.price' appears twice"]),
    "duplicated source": (lambda s: field(s, "COLOR").update(source="PRICE"), ["source field 'PRICE' appears twice"]),
    "value with children": (lambda s: field(s, "COLOR").update(target="vehicle.price.currency"),
                            ["'vehicle.price.currency'", "sits under the value 'vehicle.price'"]),
    "unknown key": (lambda s: field(s, "PRICE").update(minimum=0), ["'PRICE'", "unknown key 'minimum'"]),
    "date without format": (lambda s: field(s, "START_DT").pop("format"), ["'START_DT'", "date format must be"]),
    "min on a string": (lambda s: field(s, "POLICY_NO").update(min=1),
                        ["'POLICY_NO'", "'min' applies to decimal and integer fields only, not to a string field"]),
    "missing endpoint": (lambda s: s.pop("endpoint"), ["missing 'endpoint'"]),
    # keys in the wrong place, or of the wrong kind
    "unknown top-level key": (lambda s: s.update(field=[]), ["unknown top-level key 'field'"]),
    "record type with spaces": (lambda s: s.update(record_type="Vehicle Policy"), ["'record_type' must be"]),
    "no fields": (lambda s: s.update(fields=[]), ["'fields' must be a non-empty list"]),
    "pattern on a date": (lambda s: field(s, "START_DT").update(pattern="\\d{8}"),
                          ["'START_DT'", "'pattern' applies to string fields only, not to a date field"]),
    "max_length on a code": (lambda s: field(s, "COLOR").update(max_length=1),
                             ["'COLOR'", "'max_length' applies to string fields only, not to a code field"]),
    "max_length not a whole number": (lambda s: field(s, "POLICY_NO").update(max_length="9"),
                                      ["'POLICY_NO'", "'max_length' must be a whole number"]),
    "format on a string": (lambda s: field(s, "POLICY_NO").update(format="YYYYMMDD"),
                           ["'POLICY_NO'", "'format' applies to date fields only"]),
    "code value not a string": (lambda s: field(s, "COLOR").update(codes={"R": "red", "B": 2}),
                                ["'COLOR'", "code 'B' maps to 2, which is not a string"]),
    "code table with a blank code": (lambda s: field(s, "COLOR").update(codes={"R": "red", "": "none"}),
                                     ["'COLOR'", "a blank code cannot be in 'codes'"]),
    "min not a number": (lambda s: field(s, "PRICE").update(min="0"), ["'PRICE'", "'min' must be a number, not '0'"]),
    "max a boolean": (lambda s: field(s, "PRICE").update(max=True), ["'PRICE'", "'max' must be a number"]),
    "min above max": (lambda s: field(s, "PRICE").update(min=10, max=5), ["'PRICE'", "'min' (10) is above 'max' (5)"]),
    "required not a boolean": (lambda s: field(s, "PRICE").update(required="yes"),
                               ["'PRICE'", "'required' must be true or false"]),
    # input formats
    "unknown date format": (lambda s: field(s, "START_DT").update(format="DD.MM.YYYY"),
                            ["'START_DT'", "date format must be one of", "MMDDYY", "CCYYDDD"]),
    "two-digit year without century_pivot": (lambda s: field(s, "START_DT").update(format="MMDDYY"),
                                             ["'START_DT'", "two-digit year", "'century_pivot'"]),
    "century_pivot on a four-digit year": (lambda s: field(s, "START_DT").update(century_pivot=50),
                                           ["'START_DT'", "'century_pivot' applies to formats with a two-digit year"]),
    "century_pivot on a number": (lambda s: field(s, "PRICE").update(century_pivot=50),
                                  ["'PRICE'", "'century_pivot' applies to date fields only, not to a decimal field"]),
    "century_pivot out of range": (lambda s: field(s, "START_DT").update(format="MMDDYY", century_pivot=150),
                                   ["'START_DT'", "'century_pivot' must be a whole number from 0 to 100"]),
    "implied_decimals on an integer": (lambda s: field(s, "PRICE").update(type="integer", implied_decimals=2),
                                       ["'PRICE'", "'implied_decimals' applies to decimal fields only, "
                                                   "not to an integer field"]),
    "implied_decimals as text": (lambda s: field(s, "PRICE").update(implied_decimals="2"),
                                 ["'PRICE'", "'implied_decimals' must be a whole number from 1 to 9"]),
    "implied_decimals zero": (lambda s: field(s, "PRICE").update(implied_decimals=0),
                              ["'PRICE'", "'implied_decimals' must be a whole number from 1 to 9"]),
    "unknown sign": (lambda s: field(s, "PRICE").update(sign="suffix"),
                     ["'PRICE'", "'sign' must be one of leading, trailing, cr_db"]),
    "sign on a date": (lambda s: field(s, "START_DT").update(sign="trailing"),
                       ["'START_DT'", "'sign' applies to decimal and integer fields only"]),
    "none_values not a list": (lambda s: field(s, "START_DT").update(none_values="00000000"),
                               ["'START_DT'", "'none_values' must be a non-empty list of non-blank strings"]),
    "none_values with a blank": (lambda s: field(s, "START_DT").update(none_values=["00000000", ""]),
                                 ["'START_DT'", "'none_values' must be a non-empty list"]),
    "none value that is a code": (lambda s: field(s, "COLOR").update(none_values=["R"]),
                                  ["'COLOR'", "'R' is both a code and a none value"]),
    # defaults
    "default on an ssn": (lambda s: s["fields"].append({"source": "SSN", "target": "owner.ssn", "type": "ssn",
                                                        "default": "123456789"}),
                          ["'SSN'", "'default' applies to string, date, decimal, integer and code fields only, "
                                    "not to an ssn field"]),
    "default not in the code table": (lambda s: field(s, "COLOR").update(default="G"),
                                      ["'COLOR'", "default 'G' breaks the field's own rule 'allowed_values'",
                                       "COLOR must be one of R, B"]),
    "default date in another format": (lambda s: field(s, "END_DT").update(default="9999-12-31"),
                                       ["'END_DT'", "default '9999-12-31' breaks the field's own rule 'date_format'"]),
    "default below min": (lambda s: field(s, "PRICE").update(default="-1"),
                          ["'PRICE'", "default '-1' breaks the field's own rule 'min'"]),
    "default not matching the pattern": (lambda s: field(s, "POLICY_NO").update(required=False, default="NONE"),
                                         ["'POLICY_NO'", "default 'NONE' breaks the field's own rule 'pattern'"]),
    "default as a JSON number": (lambda s: field(s, "PRICE").update(default=0),
                                 ["'PRICE'", "'default' must be a non-blank string"]),
    "default on a required field": (lambda s: field(s, "POLICY_NO").update(default="POL000000"),
                                    ["'POLICY_NO'", "a required field cannot have a 'default'"]),
    "default that is a none value": (lambda s: field(s, "END_DT").update(none_values=["99991231"],
                                                                         default="99991231"),
                                     ["'END_DT'", "default '99991231' is one of its own none values"]),
    "default in the future": (lambda s: field(s, "END_DT").update(not_in_future=True, default="99991231"),
                              ["'END_DT'", "default '99991231' breaks the field's own rule 'not_in_future'"]),
    # rules
    "rule with an unknown key": (lambda s: s["rules"][0].update(after="START_DT"), ["rules[0]", "unknown key 'after'"]),
    "rule on one field": (lambda s: s["rules"][0].update(then="START_DT"),
                          ["rules[0]", "'first' and 'then' are the same field 'START_DT'"]),
}


def test_the_valid_base_spec_loads(tmp_path):
    # GIVEN the spec the broken ones are made from
    path = tmp_path / "vehicle.json"
    path.write_text(json.dumps(VALID_SPEC))
    # WHEN it is loaded
    spec = load_spec(str(path))
    # THEN it is accepted
    assert spec.record_type == "vehicle" and len(spec.fields) == 5


@pytest.mark.parametrize("case", sorted(BROKEN_SPECS))
def test_a_broken_spec_fails_naming_its_file_and_field(tmp_path, case):
    # GIVEN a spec file with one mistake
    change, expected = BROKEN_SPECS[case]
    path = tmp_path / "broken_vehicle.json"
    path.write_text(json.dumps(broken(change)))
    # WHEN it is loaded
    with pytest.raises(SpecError) as raised:
        load_spec(str(path))
    # THEN the error names the file and what is wrong where
    message = str(raised.value)
    assert message.startswith("broken_vehicle.json: ")
    for fragment in expected:
        assert fragment in message


def test_a_file_that_is_not_json_fails_naming_it(tmp_path):
    # GIVEN a spec file cut short
    (tmp_path / "cut.json").write_text('{"record_type": "cut", "fields": [')
    # WHEN the directory is loaded
    with pytest.raises(SpecError, match=r"^cut\.json: cannot be read as JSON"):
        load_specs(str(tmp_path))


def test_loading_a_directory_stops_at_the_broken_spec(tmp_path):
    # GIVEN a directory with a good spec and a broken one
    (tmp_path / "good.json").write_text(json.dumps(VALID_SPEC))
    (tmp_path / "bad.json").write_text(json.dumps(broken(lambda s: field(s, "COLOR").pop("codes"))))
    # WHEN the directory is loaded
    with pytest.raises(SpecError) as raised:
        load_specs(str(tmp_path))
    # THEN the broken file is named
    assert str(raised.value).startswith("bad.json: field 'COLOR'")


def test_a_record_type_defined_twice_fails(tmp_path):
    # GIVEN two files defining the same record type
    (tmp_path / "a.json").write_text(json.dumps(VALID_SPEC))
    (tmp_path / "b.json").write_text(json.dumps(VALID_SPEC))
    # WHEN the directory is loaded
    with pytest.raises(SpecError, match=r"^b\.json: record type 'vehicle' is defined twice"):
        load_specs(str(tmp_path))


# ------------------------------------------------------------------ loading without the transform engine

NUMPY_OR_PANDAS_AFTER = """
import sys
from chalicelib.records.schema import load_specs
specs = load_specs({directory!r}, check_values=False)
assert specs, "no spec loaded"
print(",".join(sorted(m for m in ("numpy", "pandas") if m in sys.modules)))
"""


def numpy_or_pandas_after_loading(directory: Path) -> str:
    """Which of numpy and pandas a fresh interpreter holds after loading the specs without checking values."""
    done = subprocess.run([sys.executable, "-c", NUMPY_OR_PANDAS_AFTER.format(directory=str(directory))],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_shipped_specs_load_without_numpy_or_pandas():
    # GIVEN the shipped specs, two of them with a fixed-width layout
    # WHEN a fresh interpreter loads them without checking values (as the API can at a cold start)
    # THEN it has imported neither numpy nor pandas
    assert numpy_or_pandas_after_loading(ROOT / "chalicelib" / "specs") == ""


def test_the_shipped_specs_load_the_same_with_and_without_checking_values():
    # GIVEN the shipped specs, loaded with their defaults checked against the fields' rules and without
    checked, unchecked = load_specs(check_values=True), load_specs(check_values=False)
    # THEN both load, and to the same record types
    assert sorted(checked) == sorted(unchecked) == sorted(RECORD_TYPES)
    for record_type, spec in checked.items():
        other = unchecked[record_type]
        assert (spec.fields, spec.rules, spec.describe()) == (other.fields, other.rules, other.describe())
    # AND the check had defaults to check
    assert any(f.default is not None for spec in checked.values() for f in spec.fields)


def test_a_default_the_field_rejects_is_found_only_when_values_are_checked(tmp_path):
    # GIVEN a spec whose code field defaults to a code not in its table
    path = tmp_path / "vehicle.json"
    path.write_text(json.dumps(broken(lambda s: field(s, "COLOR").update(default="G"))))
    # WHEN it is loaded without and with checking values
    # THEN only the check finds the default
    assert load_spec(str(path), check_values=False).fields[3].default == "G"
    with pytest.raises(SpecError, match=r"^vehicle\.json: field 'COLOR': default 'G' breaks"):
        load_spec(str(path))
    with pytest.raises(SpecError, match=r"^vehicle\.json: field 'COLOR': default 'G' breaks"):
        load_specs(str(tmp_path), check_values=True)


def test_the_package_s_mapping_names_are_the_engine_s_whoever_imports_first():
    # GIVEN a fresh interpreter that imports the mapping module before the package's names
    code = ("import datagen.legacy_files, chalicelib.records.mapping as engine\n"
            "from chalicelib.records import MASK, RecordError, Transformed, transform\n"
            "assert transform is engine.transform and callable(transform), transform\n"
            "assert (MASK, RecordError, Transformed) == (engine.MASK, engine.RecordError, engine.Transformed)\n")
    # WHEN it runs THEN the package gives the engine's own names
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert transform.__module__ == "chalicelib.records.mapping" and callable(transform)


def test_the_date_formats_of_the_models_are_those_the_engine_reads():
    # numpy-free copies in spec_models, so that loading a spec does not import numpy
    assert DATE_FORMAT_NAMES == tuple(DATE_FORMATS)
    assert TWO_DIGIT_YEAR_FORMATS == tuple(name for name, fmt in DATE_FORMATS.items() if fmt.two_digit_year)


# ------------------------------------------------------------------ the JSON Schema of a spec

# The mistakes that need more than one key, or the transform engine, to see: the loader finds them
# (BROKEN_SPECS), the JSON Schema cannot.
ACROSS_KEYS = {
    "bad regex", "rule on a non-date field", "rule on a missing field", "rule on one field", "duplicated target",
    "duplicated source", "value with children", "two-digit year without century_pivot",
    "century_pivot on a four-digit year", "min above max", "none value that is a code",
    "default not in the code table", "default date in another format", "default below min",
    "default not matching the pattern", "default on a required field", "default that is a none value",
    "default in the future",
}


@pytest.fixture(scope="module")
def spec_validator():
    jsonschema = pytest.importorskip("jsonschema")  # in the dev dependencies (through moto[server])
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_specs_are_valid_against_the_json_schema(spec_validator):
    # GIVEN the JSON Schema of a spec, itself a valid 2020-12 schema
    # WHEN each shipped spec file is validated against it
    # THEN each is valid, as is the base spec of the broken ones
    for path in sorted((ROOT / "chalicelib" / "specs").glob("*.json")):
        assert list(spec_validator.iter_errors(json.loads(path.read_text()))) == [], path.name
    assert spec_validator.is_valid(VALID_SPEC)


def test_the_json_schema_refuses_what_the_models_refuse_key_by_key(spec_validator):
    # GIVEN every broken spec
    # WHEN each is validated against the JSON Schema
    accepted = {case for case, (change, _) in BROKEN_SPECS.items() if spec_validator.is_valid(broken(change))}
    # THEN it refuses each mistake of a single key (a key a type does not take, a string for a number, ...),
    # and leaves to the loader only those that need more
    assert accepted == ACROSS_KEYS


def test_the_json_schema_describes_each_field_type():
    # GIVEN the JSON Schema of a spec
    schema = spec_json_schema()
    # THEN a field is one of six types, told apart by `type`, each with only its own keys
    items = schema["properties"]["fields"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert sorted(items["discriminator"]["mapping"]) == sorted(["string", "ssn", "date", "decimal", "integer",
                                                                "code"])
    definitions = schema["$defs"]
    assert "pattern" in definitions["StringField"]["properties"]
    assert "pattern" not in definitions["DateField"]["properties"]
    assert definitions["DateField"]["properties"]["format"]["enum"] == list(DATE_FORMATS)
    assert all(d["additionalProperties"] is False for d in definitions.values())
    assert schema["additionalProperties"] is False


# ------------------------------------------------------------------ the samples

@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_sample_file_is_what_the_generator_writes(samples, record_type):
    # GIVEN the committed sample and the generator run with the arguments in data/input/README.md
    frame, _, generated = samples[record_type]
    # WHEN their records are compared
    on_disk = [tuple(row) for row in frame.to_numpy().tolist()]
    # THEN they are the same, quoted commas, quotes and line breaks included
    assert list(frame.columns) == generated.header
    assert len(frame) == SAMPLE_RECORDS
    assert on_disk == generated.rows
    assert len(generated.invalid) == round(SAMPLE_RECORDS * SAMPLE_INVALID_SHARE)


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_sample_errors_are_exactly_the_deliberately_invalid_records(samples, record_type):
    # GIVEN a sample file and the records its generator broke on purpose, one rule each
    _, result, generated = samples[record_type]
    expected = sorted((bad.row, bad.field, bad.rule) for bad in generated.invalid)
    # WHEN it is transformed
    reported = sorted((e.row, e.field, e.rule) for e in result.errors)
    # THEN every broken record, and nothing else, is reported: its row, field and rule
    assert reported == expected
    assert result.error_rows == len(expected)
    assert len({rule for _, _, rule in expected}) >= 5  # the sample shows several kinds of mistake
    for error in result.errors:
        assert error.message and error.field in error.message


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_sample_valid_records_become_nested_json_documents(specs, samples, record_type):
    # GIVEN a sample file and its record type's spec
    spec = specs[record_type]
    frame, result, generated = samples[record_type]
    invalid_rows = {bad.row for bad in generated.invalid}
    # WHEN its documents are parsed (numbers as exact decimals)
    documents = [json.loads(line, parse_float=Decimal) for line in result.document_lines()]
    # THEN there is one per valid record, in file order, each of the spec's nested shape
    valid_rows = [row for row in range(1, len(frame) + 1) if row not in invalid_rows]
    assert result.document_count == len(documents) == len(valid_rows)
    assert [d["source_row"] for d in documents] == valid_rows == result.document_rows.tolist()
    shape = target_shape(spec)
    for document in documents:
        assert document["record_type"] == record_type
        assert shape_of(document) == shape
    # AND values are converted: codes to their targets, dates to ISO, numbers to numbers, SSNs to
    # digits; blanks and none values become null, or the field's default
    by_row = {d["source_row"]: d for d in documents}
    for f in spec.fields:
        for row, document in by_row.items():
            value = document
            for part in f.target.split("."):
                value = value[part]
            raw = frame.at[row - 1, f.source]
            if raw == "" or raw in f.none_values:
                if f.default is None:
                    assert value is None
                    continue
                raw = f.default
            if f.type == "code":
                assert value == f.codes[raw]
            elif f.type == "date":
                assert ISO_DATE.fullmatch(value) and date.fromisoformat(value) == reference_date(raw, f)
            elif f.type in ("decimal", "integer"):
                assert isinstance(value, (int, Decimal)) and value == reference_number(raw, f)
            elif f.type == "ssn":
                assert value == raw.replace("-", "") and len(value) == 9
            else:
                assert value == raw
    # AND the samples show the spec's notations: none values, defaults, implied decimals
    for f in spec.fields:
        if f.none_values:
            assert frame[f.source].isin(f.none_values).any(), f.source
        if f.default is not None:
            assert (frame[f.source] == "").any(), f.source


def reference_date(raw: str, f) -> date:
    """A date read with the standard library, independently of the engine."""
    if f.format == "MMDDYY":
        yy = int(raw[4:])
        return date(yy + (2000 if yy < f.century_pivot else 1900), int(raw[:2]), int(raw[2:4]))
    strptime = {"YYYYMMDD": "%Y%m%d", "MMDDYYYY": "%m%d%Y", "YYYY-MM-DD": "%Y-%m-%d", "MM/DD/YYYY": "%m/%d/%Y",
                "CCYYDDD": "%Y%j"}[f.format]
    return datetime.strptime(raw, strptime).date()


def reference_number(raw: str, f) -> Decimal:
    """A number read with the standard library, independently of the engine."""
    negative = False
    if f.sign == "trailing" and raw[-1:] in ("+", "-"):
        raw, negative = raw[:-1], raw[-1] == "-"
    elif f.sign == "cr_db" and raw[-2:] in ("CR", "DB"):
        raw, negative = raw[:-2], raw[-2:] == "CR"
    number = Decimal(raw)
    if f.implied_decimals:
        number = number.scaleb(-f.implied_decimals)
    return -number if negative else number


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_sample_errors_mask_personal_data(specs, samples, record_type):
    # GIVEN a sample file's errors
    spec = specs[record_type]
    frame, result, _ = samples[record_type]
    pii = {f.source for f in spec.fields if f.pii}
    # WHEN the values they carry are read
    # THEN a pii field's value is masked, and any other field's value is the raw value with whatever looks
    # like an SSN in it masked (nine digits: "cl300000156" shows as "cl***")
    assert any(e.field in pii for e in result.errors) == bool(pii)
    for error in result.errors:
        raw = frame.at[error.row - 1, error.field]
        if error.field in pii:
            assert error.value == MASK
        else:
            assert error.value == re.sub(r"(?<!\d)\d{3}[- ]?\d{2}[- ]?\d{4}(?!\d)", "***", raw)
            assert not re.search(r"(?<!\d)\d{9}(?!\d)|(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)", error.value)
    # AND no personal value from an invalid record leaks into the errors
    leaked = {frame.at[e.row - 1, source] for e in result.errors for source in pii} - {""}
    assert not leaked & {e.value for e in result.errors}


# ------------------------------------------------------------------ header check

@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_header_of_the_sample_matches_its_spec(specs, record_type):
    # GIVEN a sample file's header
    header = list(read_sample(record_type).columns)
    # WHEN it is checked against its record type, and against another one
    # THEN it matches its own and not the other
    assert header_problems(record_type, specs[record_type].source_columns, header) is None
    other = "claim" if record_type != "claim" else "disability"
    assert header_problems(other, specs[other].source_columns, header).startswith(f"header does not match record type {other!r}")


def test_header_problems_name_missing_unexpected_and_duplicated_columns(specs):
    # GIVEN a disability header missing SSN, with a stray column and STATE twice
    spec = specs["disability"]
    header = [c for c in spec.source_columns if c != "SSN"] + ["FILLER", "STATE"]
    # WHEN it is checked
    problem = header_problems(spec.record_type, spec.source_columns, header)
    # THEN each problem is described, the stray column by its position only
    assert problem == ("header does not match record type 'disability': the first row has 17 columns, the record "
                       "type 16; missing columns: SSN; column at position 16 is not the record type's; STATE "
                       "appears at positions 15, 17")


def test_a_headerless_file_s_first_record_is_never_quoted(specs):
    # GIVEN a disability file without its header row: its first row is a record of personal data
    spec = specs["disability"]
    first = ["DC10000001", "POL100007", "123-45-6789", "RIVERA", "ANA", "19930108", "F", "STD", "F32.9",
             "20240101", "20240108", "", "850.25", "OPEN", "ACME CORP", "TX"]
    # WHEN it is checked as a header
    problem = header_problems(spec.record_type, spec.source_columns, first)
    # THEN the message names what the record type expects, and no value of the row
    assert not [value for value in first if len(value) > 2 and re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])",
                                                                          problem)]
    assert problem.endswith("; if the file has no header row, set input_format.header to false")
    assert "columns at positions 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 6 more are not the record type's" in problem


# ------------------------------------------------------------------ input formats

def one_field_spec(tmp_path, **field_keys):
    """A spec of one field named X (plus the keys given), loaded as the service loads it."""
    spec = {"record_type": "probe", "endpoint": "probes",
            "fields": [{"source": "X", "target": "x", **field_keys}]}
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(spec))
    return load_spec(str(path))


def outcomes(spec, values: list[str], today: date = date(2025, 6, 30)) -> list:
    """What each value becomes: its JSON value in the document, or the rules it broke."""
    frame = pd.DataFrame({"X": pd.Series(values, dtype=object)})
    result = transform(frame, spec, np.arange(1, len(values) + 1), today=today)
    documents = {d["source_row"]: d["x"] for d in map(json.loads, result.document_lines())}
    broken: dict[int, list[str]] = {}
    for error in result.errors:
        broken.setdefault(error.row, []).append(error.rule)
    return [documents[row] if row in documents else broken[row] for row in range(1, len(values) + 1)]


DATE_CASES = {
    # format: [(value in the file, ISO date or the rule it breaks)]
    "YYYYMMDD": [("20240315", "2024-03-15"), ("20240229", "2024-02-29"), ("20230229", "date_format"),
                 ("2024031", "date_format"), ("202403150", "date_format"), ("2024-03-15", "date_format"),
                 ("00000000", "date_format"), ("99999999", "date_format"), (" 2024031", "date_format"),
                 ("2024\uff10315", "date_format")],
    "MMDDYYYY": [("03152024", "2024-03-15"), ("13012024", "date_format"), ("0315202", "date_format")],
    "YYYY-MM-DD": [("2024-03-15", "2024-03-15"), ("2024-3-5", "2024-03-05"), ("2024-03-5", "2024-03-05"),
                   ("2024/03/15", "date_format"), ("24-03-15", "date_format"), ("2024-03-15 ", "date_format")],
    "MM/DD/YYYY": [("03/15/2024", "2024-03-15"), ("3/5/2024", "2024-03-05"), ("12/31/1999", "1999-12-31"),
                   ("03/15/24", "date_format"), ("3-5-2024", "date_format"), ("02/30/2024", "date_format"),
                   ("003/15/2024", "date_format")],
    "CCYYDDD": [("2024001", "2024-01-01"), ("2024060", "2024-02-29"), ("2023060", "2023-03-01"),
                ("2024366", "2024-12-31"), ("2023365", "2023-12-31"), ("2023366", "date_format"),
                ("2024000", "date_format"), ("2024367", "date_format"), ("1999032", "1999-02-01"),
                ("20240315", "date_format"), ("202400", "date_format"), ("0000001", "date_format")],
}


@pytest.mark.parametrize("fmt", sorted(DATE_CASES))
def test_dates_are_read_in_the_field_format(tmp_path, fmt):
    # GIVEN a date field in this format
    spec = one_field_spec(tmp_path, type="date", format=fmt)
    values, expected = zip(*DATE_CASES[fmt])
    # WHEN values are transformed
    # THEN real dates in the format become ISO dates, anything else is a date_format error
    assert outcomes(spec, list(values)) == [[e] if e == "date_format" else e for e in expected]


def test_two_digit_years_fall_in_the_century_window(tmp_path):
    # GIVEN an MMDDYY date whose window is 1950-2049
    spec = one_field_spec(tmp_path, type="date", format="MMDDYY", century_pivot=50)
    # WHEN dates on both sides of the pivot are transformed
    result = outcomes(spec, ["031524", "123149", "010150", "123199", "010100", "022900", "022924", "022923",
                             "13152", "0315240", "03/15/24", "131524"])
    # THEN years below the pivot are 20YY, the others 19YY, and impossible dates are errors
    assert result == ["2024-03-15", "2049-12-31", "1950-01-01", "1999-12-31", "2000-01-01", "2000-02-29",
                      "2024-02-29", ["date_format"], ["date_format"], ["date_format"], ["date_format"],
                      ["date_format"]]
    # AND the pivot's extremes put every year in one century
    assert outcomes(one_field_spec(tmp_path, type="date", format="MMDDYY", century_pivot=0), ["010100"]) == \
        ["1900-01-01"]
    assert outcomes(one_field_spec(tmp_path, type="date", format="MMDDYY", century_pivot=100), ["123199"]) == \
        ["2099-12-31"]


def test_none_values_are_blank_before_any_check(tmp_path):
    # GIVEN an optional date where the legacy system writes 00000000 or 99991231 for "no date"
    spec = one_field_spec(tmp_path, type="date", format="YYYYMMDD", not_in_future=True,
                          none_values=["00000000", "99991231"])
    # WHEN such values are transformed, with a real date and a placeholder not listed
    result = outcomes(spec, ["00000000", "99991231", "", "20240315", "99999999"])
    # THEN the listed ones are null (99991231 is not "in the future": it is none), others are checked
    assert result == [None, None, None, "2024-03-15", ["date_format"]]


def test_a_none_value_in_a_required_field_is_missing(tmp_path):
    # GIVEN a required julian date whose none value is 0000000
    spec = one_field_spec(tmp_path, type="date", format="CCYYDDD", required=True, none_values=["0000000"])
    frame = pd.DataFrame({"X": ["0000000", "2024075"]}, dtype=object)
    # WHEN it is transformed
    result = transform(frame, spec, np.array([1, 2]))
    # THEN the none value breaks `required` (not date_format), its value reported as it was in the file
    assert [e.to_dict() for e in result.errors] == [
        {"row": 1, "field": "X", "rule": "required", "message": "X is required", "value": "0000000"}]
    assert json.loads(result.documents)["x"] == "2024-03-15"


def test_none_values_of_numbers_and_codes(tmp_path):
    # GIVEN an amount where 9999999 means unknown, and a code where ? does
    amount = one_field_spec(tmp_path, type="decimal", implied_decimals=2, max=100, none_values=["9999999"])
    code = one_field_spec(tmp_path, type="code", codes={"Y": "yes", "N": "no"}, none_values=["?"])
    # WHEN such values are transformed
    # THEN they are null, not a max or allowed_values error
    assert outcomes(amount, ["9999999", "0001250", "0012345"]) == [None, 12.5, ["max"]]
    assert outcomes(code, ["?", "Y", "X"]) == [None, "yes", ["allowed_values"]]


def test_a_default_replaces_blank_and_none_values_and_is_read_like_a_file_value(tmp_path):
    # GIVEN fields with defaults written as the file writes values
    code = one_field_spec(tmp_path, type="code", codes={"M": "monthly", "Q": "quarterly"}, default="M",
                          none_values=["*"])
    day = one_field_spec(tmp_path, type="date", format="MMDDYY", century_pivot=50, default="123149")
    cents = one_field_spec(tmp_path, type="decimal", implied_decimals=2, sign="trailing", default="0000000+")
    text = one_field_spec(tmp_path, type="string", pattern="[A-Z]{2}", default="NA")
    # WHEN blanks (and a none value) are transformed
    # THEN they take the default's converted value; other values are converted and checked as usual
    assert outcomes(code, ["", "*", "Q", "q"]) == ["monthly", "monthly", "quarterly", ["allowed_values"]]
    assert outcomes(day, ["", "010150"]) == ["2049-12-31", "1950-01-01"]
    assert outcomes(cents, ["", "0001250-"]) == [0.0, -12.5]
    assert outcomes(text, ["", "NY", "N"]) == ["NA", "NY", ["pattern"]]


NUMBER_CASES = [
    # (field keys, value in the file, JSON text in the document or the rule it breaks)
    ({"implied_decimals": 2}, "0012345", "123.45"),
    ({"implied_decimals": 2}, "12345", "123.45"),
    ({"implied_decimals": 2}, "5", "0.05"),
    ({"implied_decimals": 2}, "0000000", "0.00"),
    ({"implied_decimals": 2}, "-0012345", "-123.45"),
    ({"implied_decimals": 2}, "+0012345", "123.45"),
    ({"implied_decimals": 2}, "-0000000", "0.00"),
    ({"implied_decimals": 3}, "0012345", "12.345"),
    ({"implied_decimals": 2}, "123.45", "number_format"),
    ({"implied_decimals": 2}, "1e3", "number_format"),
    ({"implied_decimals": 2}, "12 345", "number_format"),
    ({"implied_decimals": 2}, "00123O5", "number_format"),
    ({"implied_decimals": 2}, "0012345-", "number_format"),
    ({"implied_decimals": 2}, "-", "number_format"),
    ({"implied_decimals": 2, "sign": "trailing"}, "0012345-", "-123.45"),
    ({"implied_decimals": 2, "sign": "trailing"}, "0012345+", "123.45"),
    ({"implied_decimals": 2, "sign": "trailing"}, "0012345", "123.45"),
    ({"implied_decimals": 2, "sign": "trailing"}, "-0012345", "number_format"),
    ({"implied_decimals": 2, "sign": "trailing"}, "0012345+-", "number_format"),
    ({"sign": "trailing"}, "44379.00-", "-44379.00"),
    ({"sign": "trailing"}, "44379.00+", "44379.00"),
    ({"sign": "trailing"}, "-44379.00", "number_format"),
    ({"sign": "cr_db"}, "125.50CR", "-125.50"),
    ({"sign": "cr_db"}, "125.50DB", "125.50"),
    ({"sign": "cr_db"}, "125.50", "125.50"),
    ({"sign": "cr_db"}, "125.50cr", "number_format"),
    ({"sign": "cr_db"}, "-125.50", "number_format"),
    ({"implied_decimals": 2, "sign": "cr_db"}, "0012550CR", "-125.50"),
    ({}, "44379.00-", "number_format"),
    ({}, "+5", "5"),
    ({}, "1e3", "1000"),
    ({}, "1250.50", "1250.50"),
    ({}, " 5", "number_format"),
    ({}, "5 ", "number_format"),
    ({}, "1,250.50", "number_format"),
    ({}, "\u0661\u0662", "number_format"),
    ({"implied_decimals": 2, "min": 0}, "-0000001", "min"),
    ({"implied_decimals": 2, "max": 100}, "0010001", "max"),
    ({"implied_decimals": 2, "max": 100}, "0010000", "100.00"),
]


@pytest.mark.parametrize("keys, value, expected", NUMBER_CASES)
def test_numbers_with_implied_decimals_and_signs(tmp_path, keys, value, expected):
    # GIVEN a decimal field written as the keys say
    spec = one_field_spec(tmp_path, type="decimal", **keys)
    frame = pd.DataFrame({"X": [value]}, dtype=object)
    # WHEN the value is transformed
    result = transform(frame, spec, np.array([1]))
    # THEN it becomes exactly this JSON number, or breaks this rule
    if result.errors:
        assert [e.rule for e in result.errors] == [expected]
    else:
        assert result.documents == f'{{"record_type":"probe","x":{expected},"source_row":1}}\n'


def test_integers_take_a_trailing_sign(tmp_path):
    spec = one_field_spec(tmp_path, type="integer", sign="trailing", min=-10)
    assert outcomes(spec, ["5-", "5+", "5", "-5", "5.5-", "11-"]) == [-5, 5, 5, ["number_format"],
                                                                      ["number_format"], ["min"]]


def test_digits_are_ascii_digits(tmp_path):
    # GIVEN an SSN and a pattern with \d, and values in other scripts' digits
    ssn = one_field_spec(tmp_path, type="ssn")
    code = one_field_spec(tmp_path, type="string", pattern="\\d{3}")
    # WHEN they are transformed
    # THEN only 0-9 are digits
    assert outcomes(ssn, ["123456789", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"]) == \
        ["123456789", ["ssn_format"]]
    assert outcomes(code, ["123", "\u0661\u0662\u0663"]) == ["123", ["pattern"]]


def test_repeated_values_give_what_distinct_values_give(tmp_path):
    # GIVEN a spec using every input notation, and a column long and repetitive enough to be
    # encoded once per distinct value
    spec_path = tmp_path / "mixed.json"
    spec_path.write_text(json.dumps({"record_type": "mixed", "endpoint": "mixed", "fields": [
        {"source": "D", "target": "d", "type": "date", "format": "MMDDYY", "century_pivot": 50,
         "none_values": ["000000"], "not_in_future": True},
        {"source": "J", "target": "j", "type": "date", "format": "CCYYDDD", "default": "2024001"},
        {"source": "A", "target": "a", "type": "decimal", "implied_decimals": 2, "sign": "trailing", "min": 0},
        {"source": "C", "target": "c", "type": "code", "codes": {"M": "m", "Q": "q"}, "default": "M"}],
        "rules": [{"type": "date_order", "first": "J", "then": "D"}]}))
    spec = load_spec(str(spec_path))
    pools = {"D": ["031524", "000000", "", "123149", "133124", "010124"],
             "J": ["2024001", "", "2024366", "2023366", "2024075"],
             "A": ["0012345+", "0012345-", "", "12.34", "0000000+", "9"],
             "C": ["M", "Q", "", "X"]}
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({k: rng.choice(np.array(v, dtype=object), 5000) for k, v in pools.items()}, dtype=object)
    rows = np.arange(1, 5001)
    # WHEN it is transformed whole, and in slices too small for that
    whole = transform(frame, spec, rows, today=date(2025, 6, 30))
    parts = [transform(frame.iloc[i:i + 50].reset_index(drop=True), spec, rows[i:i + 50], today=date(2025, 6, 30))
             for i in range(0, 5000, 50)]
    # THEN the documents and errors are the same
    assert whole.documents == "".join(p.documents for p in parts)
    assert whole.errors == [e for p in parts for e in p.errors]
    assert {e.rule for e in whole.errors} == {"date_format", "not_in_future", "number_format", "min",
                                              "allowed_values", "date_order"}
