"""The legacy file generator: deterministic, awkward-but-valid CSV, invalid records as promised."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from chalicelib.records import load_specs, transform
from datagen import legacy_files
from datagen.legacy_files import generate_rows, main, write_legacy_csv, write_legacy_file

RECORD_TYPES = ["disability", "absence", "group_policy", "employee", "claim"]


def written(record_type: str, records: int, **kwargs) -> tuple[str, list]:
    out = io.StringIO(newline="")
    invalid = write_legacy_csv(out, record_type, records, **kwargs)
    return out.getvalue(), invalid


def read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=object, na_filter=False, keep_default_na=False)


def errors_of(frame: pd.DataFrame, spec) -> list[tuple[int, str, str]]:
    result = transform(frame, spec, np.arange(1, len(frame) + 1))
    return sorted((e.row, e.field, e.rule) for e in result.errors)


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_generation_is_deterministic(record_type):
    # GIVEN the same arguments twice, and another seed
    # WHEN a file is written each time
    first, first_invalid = written(record_type, 500, seed=11)
    again, again_invalid = written(record_type, 500, seed=11)
    other, _ = written(record_type, 500, seed=12)
    # THEN the same arguments give the same bytes and the same invalid records; another seed differs
    assert first == again and first_invalid == again_invalid
    assert first != other


def test_write_legacy_file_writes_the_stream_and_counts_the_invalid(tmp_path):
    # GIVEN a path
    path = tmp_path / "claims.csv"
    # WHEN a file of 1,000 claims, 10% invalid, is written
    count = write_legacy_file("claim", str(path), 1000, invalid_share=0.1, seed=3)
    # THEN it holds what the stream writer writes, and the count is the invalid share
    text, invalid = written("claim", 1000, invalid_share=0.1, seed=3)
    assert path.read_bytes() == text.encode("utf-8")
    assert count == len(invalid) == 100


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_quoted_commas_quotes_and_newlines_survive_a_pandas_round_trip(record_type):
    # GIVEN generated records
    generated = generate_rows(record_type, 2000, seed=5)
    values = [v for row in generated.rows for v in row]
    # (some hold a comma, a double quote, a line break)
    assert any("," in v for v in values)
    assert any('"' in v for v in values)
    assert any("\n" in v for v in values)
    # WHEN they are written as CSV and read back with pandas
    text, _ = written(record_type, 2000, seed=5)
    frame = read(text)
    # THEN every value comes back unchanged, and the file has more lines than records
    assert list(frame.columns) == generated.header
    assert [tuple(r) for r in frame.to_numpy().tolist()] == generated.rows
    assert text.count("\n") > len(generated.rows) + 1
    assert '""' in text  # quotes inside a quoted field are doubled


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_without_invalid_share_every_record_is_valid(record_type):
    # GIVEN a file generated with no invalid share
    text, invalid = written(record_type, 3000, invalid_share=0.0, seed=9)
    # WHEN it is transformed
    errors = errors_of(read(text), load_specs()[record_type])
    # THEN no record breaks a rule
    assert invalid == [] and errors == []


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_each_invalid_record_breaks_exactly_the_rule_reported(record_type, monkeypatch):
    # GIVEN small blocks, so that records are generated in many blocks
    monkeypatch.setattr(legacy_files, "BLOCK_RECORDS", 97)
    # WHEN 1,000 records, a fifth of them invalid, are generated and transformed
    generated = generate_rows(record_type, 1000, invalid_share=0.2, seed=21)
    frame = pd.DataFrame(generated.rows, columns=generated.header, dtype=object)
    # THEN transform reports exactly the invalid records, one rule each, in distinct rows
    rows = [bad.row for bad in generated.invalid]
    assert len(rows) == 200 and rows == sorted(set(rows)) and 1 <= rows[0] and rows[-1] <= 1000
    assert errors_of(frame, load_specs()[record_type]) == sorted(generated.invalid)
    # AND the valid records' keys are still unique across blocks
    valid = frame.drop(index=[row - 1 for row in rows])
    assert valid[generated.header[0]].is_unique


def test_a_new_record_type_is_generated_from_its_spec_alone(tmp_path):
    # GIVEN a spec the generator has never heard of
    spec = {
        "record_type": "vehicle",
        "endpoint": "vehicles",
        "fields": [
            {"source": "VIN", "target": "vehicle.vin", "type": "string", "required": True,
             "pattern": "[A-HJ-NPR-Z0-9]{17}"},
            {"source": "POLICY_NO", "target": "policy.number", "type": "string", "required": True,
             "pattern": "AUTO\\d{7}"},
            {"source": "OWNER_LAST_NAME", "target": "owner.last_name", "type": "string", "max_length": 40, "pii": True},
            {"source": "OWNER_SSN", "target": "owner.ssn", "type": "ssn", "pii": True},
            {"source": "OWNER_DOB", "target": "owner.date_of_birth", "type": "date", "format": "YYYY-MM-DD",
             "not_in_future": True},
            {"source": "PURCHASE_DT", "target": "vehicle.purchased", "type": "date", "format": "MM/DD/YYYY",
             "required": True, "not_in_future": True},
            {"source": "SOLD_DT", "target": "vehicle.sold", "type": "date", "format": "MMDDYYYY"},
            {"source": "PRICE", "target": "vehicle.price", "type": "decimal", "min": 500, "max": 250000},
            {"source": "SEATS", "target": "vehicle.seats", "type": "integer", "min": 1, "max": 9},
            {"source": "COLOR", "target": "vehicle.color", "type": "code", "codes": {"R": "red", "B": "blue"}},
            {"source": "GARAGE_STATE", "target": "vehicle.state", "type": "code",
             "codes": {"NY": "NY", "NJ": "NJ", "CT": "CT"}},
        ],
        "rules": [{"type": "date_order", "first": "PURCHASE_DT", "then": "SOLD_DT"},
                  {"type": "date_order", "first": "OWNER_DOB", "then": "PURCHASE_DT"}],
    }
    (tmp_path / "vehicle.json").write_text(json.dumps(spec))
    specs = load_specs(str(tmp_path))
    # WHEN records are generated for it and transformed
    generated = generate_rows("vehicle", 2000, invalid_share=0.1, seed=1, specs=specs)
    frame = pd.DataFrame(generated.rows, columns=generated.header, dtype=object)
    # THEN the valid ones pass and the invalid ones break what the generator says
    assert len(generated.invalid) == 200
    assert errors_of(frame, specs["vehicle"]) == sorted(generated.invalid)
    assert set(frame["GARAGE_STATE"]) <= {"NY", "NJ", "CT", "", "ny", "nj", "ct", "NYX", "NJX", "CTX", "??",
                                          "UNK", "*", "0"}


def test_unknown_record_type_is_refused():
    # GIVEN a record type with no spec
    # WHEN a file is asked for
    # THEN the error lists the known types
    with pytest.raises(ValueError, match="unknown record type 'payroll' .*disability"):
        generate_rows("payroll", 10)


def test_command_line_writes_the_file_and_lists_the_invalid(tmp_path, capsys):
    # GIVEN the command line of the generator
    path = tmp_path / "absence.csv"
    # WHEN it is run with an invalid share and a seed
    code = main(["absence", str(path), "200", "--invalid-share", "0.1", "--seed", "4", "--list-invalid"])
    # THEN it writes the file and prints the invalid records as CSV
    assert code == 0
    text, invalid = written("absence", 200, invalid_share=0.1, seed=4)
    assert path.read_text(encoding="utf-8") == text
    printed = capsys.readouterr()
    assert printed.out.splitlines() == ["row,field,rule"] + [f"{r},{f},{rule}" for r, f, rule in invalid]
    assert "wrote 200 absence records" in printed.err and "(20 deliberately invalid)" in printed.err


def test_the_spec_notations_are_written_as_the_spec_says(tmp_path):
    # GIVEN a spec with two-digit-year and julian dates, none values, a default, implied decimals and signs
    spec = {
        "record_type": "ledger",
        "endpoint": "ledger",
        "fields": [
            {"source": "ENTRY_NO", "target": "entry", "type": "string", "required": True, "pattern": "LG\\d{7}"},
            {"source": "POSTED_DT", "target": "posted", "type": "date", "format": "MMDDYY", "century_pivot": 40,
             "required": True, "not_in_future": True},
            {"source": "SETTLED_DT", "target": "settled", "type": "date", "format": "CCYYDDD",
             "none_values": ["0000000"]},
            {"source": "AMOUNT", "target": "amount", "type": "decimal", "required": True, "implied_decimals": 2,
             "sign": "trailing", "min": -50000, "max": 50000},
            {"source": "FEE", "target": "fee", "type": "decimal", "sign": "cr_db", "min": -100, "max": 100},
            {"source": "UNITS", "target": "units", "type": "integer", "sign": "trailing", "min": 1, "max": 99},
            {"source": "KIND", "target": "kind", "type": "code", "codes": {"D": "debit", "C": "credit"},
             "default": "D"},
        ],
        "rules": [{"type": "date_order", "first": "POSTED_DT", "then": "SETTLED_DT"}],
    }
    (tmp_path / "ledger.json").write_text(json.dumps(spec))
    specs = load_specs(str(tmp_path))
    # WHEN records are generated for it
    generated = generate_rows("ledger", 3000, invalid_share=0.1, seed=2, specs=specs)
    frame = pd.DataFrame(generated.rows, columns=generated.header, dtype=object)
    valid = frame.drop(index=[bad.row - 1 for bad in generated.invalid])
    # THEN valid values are in the spec's notations: six-digit dates, seven-digit julian dates or the
    # none value, zero-padded cents with a sign after them, CR after a negative fee, blank kinds
    assert valid["POSTED_DT"].str.fullmatch(r"\d{6}").all()
    assert valid["SETTLED_DT"].str.fullmatch(r"\d{7}").all() and (valid["SETTLED_DT"] == "0000000").any()
    assert valid["AMOUNT"].str.fullmatch(r"\d{7}[+-]").all() and valid["AMOUNT"].str.endswith("-").any()
    assert valid["FEE"].str.fullmatch(r"(\d+\.\d\d(CR)?)?").all() and valid["FEE"].str.endswith("CR").any()
    assert valid["UNITS"].str.fullmatch(r"\d{1,2}\+|").all()
    assert (valid["KIND"] == "").any()
    # AND transform reports exactly the records the generator broke, one rule each
    assert len(generated.invalid) == 300
    assert errors_of(frame, specs["ledger"]) == sorted(generated.invalid)


def test_two_digit_years_stay_in_their_century_window(tmp_path):
    # GIVEN dates of birth with a two-digit year whose window (1960-2059) is narrower than the
    # generator's range for them, and a date that must follow them
    spec = {"record_type": "people", "endpoint": "people", "fields": [
        {"source": "PERSON_ID", "target": "id", "type": "string", "required": True, "pattern": "P\\d{6}"},
        {"source": "DOB", "target": "born", "type": "date", "format": "MMDDYY", "century_pivot": 60,
         "required": True, "not_in_future": True},
        {"source": "JOIN_DT", "target": "joined", "type": "date", "format": "MMDDYY", "century_pivot": 60}],
        "rules": [{"type": "date_order", "first": "DOB", "then": "JOIN_DT"}]}
    (tmp_path / "people.json").write_text(json.dumps(spec))
    specs = load_specs(str(tmp_path))
    # WHEN records are generated and transformed
    generated = generate_rows("people", 3000, invalid_share=0.1, seed=3, specs=specs)
    frame = pd.DataFrame(generated.rows, columns=generated.header, dtype=object)
    # THEN the valid ones read back as valid (no 1955 birth written 55 and read as 2055), and the
    # invalid ones break what the generator says
    assert errors_of(frame, specs["people"]) == sorted(generated.invalid)
