"""Record specs: the shipped specs load, broken specs fail loudly, and each record
type's committed sample file maps to the documents and errors its generator promised.

The samples in data/input/ were written by datagen with the arguments below (see
data/input/README.md); the generator is run again here, in memory, to learn which
records it broke on purpose and how.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chalicelib.record_types import MASK, SpecError, header_problems, load_spec, load_specs, transform
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
    "min on a string": (lambda s: field(s, "POLICY_NO").update(min=1), ["'POLICY_NO'", "'min' applies to numbers"]),
    "missing endpoint": (lambda s: s.pop("endpoint"), ["missing 'endpoint'"]),
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
    # WHEN its documents are parsed
    documents = [json.loads(line) for line in result.documents.splitlines()]
    # THEN there is one per valid record, in file order, each of the spec's nested shape
    valid_rows = [row for row in range(1, len(frame) + 1) if row not in invalid_rows]
    assert result.document_count == len(documents) == len(valid_rows)
    assert [d["source_row"] for d in documents] == valid_rows == result.document_rows.tolist()
    shape = target_shape(spec)
    for document in documents:
        assert document["record_type"] == record_type
        assert shape_of(document) == shape
    # AND values are converted: codes to their targets, dates to ISO, numbers to numbers, SSNs to digits
    by_row = {d["source_row"]: d for d in documents}
    for f in spec.fields:
        for row, document in by_row.items():
            value = document
            for part in f.target.split("."):
                value = value[part]
            raw = frame.at[row - 1, f.source]
            if raw == "":
                assert value is None
            elif f.type == "code":
                assert value == f.codes[raw]
            elif f.type == "date":
                assert ISO_DATE.fullmatch(value)
            elif f.type in ("decimal", "integer"):
                assert isinstance(value, (int, float)) and value == float(raw)
            elif f.type == "ssn":
                assert value == raw.replace("-", "") and len(value) == 9
            else:
                assert value == raw


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_sample_errors_mask_personal_data(specs, samples, record_type):
    # GIVEN a sample file's errors
    spec = specs[record_type]
    frame, result, _ = samples[record_type]
    pii = {f.source for f in spec.fields if f.pii}
    # WHEN the values they carry are read
    # THEN a pii field's value is masked and any other field's value is the raw value
    assert any(e.field in pii for e in result.errors) == bool(pii)
    for error in result.errors:
        raw = frame.at[error.row - 1, error.field]
        if error.field in pii:
            assert error.value == MASK
        else:
            assert error.value == raw
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
    assert header_problems(specs[record_type], header) is None
    other = "claim" if record_type != "claim" else "disability"
    assert header_problems(specs[other], header).startswith(f"header does not match record type {other!r}")


def test_header_problems_name_missing_unexpected_and_duplicated_columns(specs):
    # GIVEN a disability header missing SSN, with a stray column and STATE twice
    spec = specs["disability"]
    header = [c for c in spec.source_columns if c != "SSN"] + ["FILLER", "STATE"]
    # WHEN it is checked
    problem = header_problems(spec, header)
    # THEN each problem is named
    assert problem == ("header does not match record type 'disability': missing columns: SSN; "
                       "unexpected columns: FILLER; duplicated columns: STATE")
