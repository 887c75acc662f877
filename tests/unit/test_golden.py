"""Golden files: for each record type, a small source file and, written by hand, the exact
documents and error rows the service must make of it.

tests/golden/<record_type>/
    input.csv       a legacy export of 15 to 25 records: every rule of the spec broken at least
                    once, every notation of the type (quoted commas, quotes and line breaks,
                    dashed SSNs, none values, defaults, two-digit years, julian dates, implied
                    decimals, signs...), a record with the wrong number of fields, a blank line
    expected.jsonl  the documents, one line per valid record, as the service writes them
    errors.jsonl    the error rows, as the service writes its error report

The file goes through what a worker does with it: planned into chunks (a few records each,
so that records, quoted line breaks and the bad record fall on chunk edges), each chunk read
and transformed, documents and errors written by the service's own writers. "Not in the
future" is checked against the day the files were written for, TODAY.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest

from chalicelib.delivery import write_error_part, write_part
from chalicelib.inputs.delimited import header_problems, plan_delimited
from chalicelib.models import InputFormat
from chalicelib.records import load_specs
from chalicelib.storage import LocalFile
from chalicelib.worker import map_chunk

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RECORD_TYPES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.csv").is_file())
TODAY = date(2025, 6, 30)


@pytest.fixture(scope="module")
def specs():
    return load_specs()


def json_lines(path: Path) -> list[str]:
    """A JSON Lines file's lines: "\n" ends each, never another line separator a value may hold."""
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def migrate(spec, data: bytes, out: Path, records_per_chunk: int, block: int) -> tuple[bytes, bytes]:
    """What a worker writes for this file in file mode: the document parts and the error parts,
    each concatenated in chunk order."""
    blocks = [data[i:i + block] for i in range(0, len(data), block)]
    plan = plan_delimited(blocks, records_per_chunk, 1 << 20)
    assert header_problems(spec.record_type, spec.source_columns, plan.header) is None
    folder = LocalFile(str(out), "out")
    for number, chunk in enumerate(plan.chunks, start=1):
        mapped = map_chunk(data[chunk.start:chunk.end], plan.header, InputFormat(), spec, chunk.first_row,
                           today=TODAY)
        assert mapped.records == chunk.rows
        write_part(folder, number, mapped.result.documents)
        if mapped.errors:
            write_error_part(folder, number, mapped.errors)
    documents = b"".join(p.read_bytes() for p in sorted(out.glob("part-*.jsonl")))
    errors = b"".join(p.read_bytes() for p in sorted((out / "errors").glob("part-*.jsonl")))
    return documents, errors


@pytest.mark.parametrize("records_per_chunk, block", [(4, 64), (1, 1 << 20), (1000, 7)])
@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_golden_file_gives_exactly_the_expected_documents_and_errors(specs, tmp_path, record_type,
                                                                   records_per_chunk, block):
    # GIVEN a record type's golden source file
    folder = GOLDEN / record_type
    data = (folder / "input.csv").read_bytes()
    # WHEN it is migrated in chunks of a few records (one, four, all), scanned in blocks of any size
    documents, errors = migrate(specs[record_type], data, tmp_path / "out", records_per_chunk, block)
    # THEN the documents and the error rows are byte for byte the ones written by hand
    assert documents.decode("utf-8").split("\n") == (folder / "expected.jsonl").read_bytes().decode("utf-8").split("\n")
    assert errors.decode("utf-8").split("\n") == (folder / "errors.jsonl").read_bytes().decode("utf-8").split("\n")
    assert documents == (folder / "expected.jsonl").read_bytes()
    assert errors == (folder / "errors.jsonl").read_bytes()


def test_every_shipped_record_type_has_golden_files(specs):
    assert set(RECORD_TYPES) >= {"disability", "absence", "group_policy", "employee", "claim"}
    assert set(RECORD_TYPES) <= set(specs)


def rules_of(spec) -> set[str]:
    """Every kind of rule a record of this spec can break."""
    rules = {"field_count"}
    for f in spec.fields:
        rules |= {"required"} if f.required else set()
        rules |= {"pattern"} if f.pattern else set()
        rules |= {"max_length"} if f.max_length else set()
        rules |= {"not_in_future"} if f.not_in_future else set()
        rules |= {"min"} if f.min is not None else set()
        rules |= {"max"} if f.max is not None else set()
        rules |= {{"ssn": "ssn_format", "date": "date_format", "decimal": "number_format",
                   "integer": "number_format", "code": "allowed_values"}.get(f.type, "required")}
    return rules | {rule.type for rule in spec.rules}


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_golden_file_covers_every_rule_and_notation_of_its_type(specs, record_type):
    # GIVEN a record type's golden files and its spec
    spec = specs[record_type]
    folder = GOLDEN / record_type
    errors = [json.loads(line) for line in json_lines(folder / "errors.jsonl")]
    documents = [json.loads(line) for line in json_lines(folder / "expected.jsonl")]
    text = (folder / "input.csv").read_text("utf-8-sig")
    header, *records = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    valid = [dict(zip(header, records[d["source_row"] - 1])) for d in documents]
    # WHEN the rules they break and the values they hold are listed
    broken = {e["rule"] for e in errors}
    rows = {e["row"] for e in errors} | {d["source_row"] for d in documents}
    # THEN every kind of rule is broken at least once, every date rule is broken on its field
    assert rules_of(spec) <= broken
    assert {(r.then, "date_order") for r in spec.rules} <= {(e["field"], e["rule"]) for e in errors}
    # AND the file is small enough to check by hand, with valid records and records of several errors
    assert 15 <= len(rows) <= 25 and rows == set(range(1, len(rows) + 1))
    assert len(documents) >= 5
    assert max(sum(e["row"] == row for e in errors) for row in rows) >= 3
    # AND it holds the awkward notations: quoted commas, doubled quotes, a line break in a field
    assert '",' in text and '""' in text and any(line.count('"') % 2 for line in text.splitlines())
    # AND valid records use each none value and each default of the spec
    for f in spec.fields:
        for value in f.none_values:
            assert any(record[f.source] == value for record in valid), (f.source, value)
        if f.default is not None:
            assert any(record[f.source] == "" for record in valid), f.source
