"""Delimiter, header and encoding options; the error report endpoint; dry runs."""
from __future__ import annotations

import json
import os

import pytest

from tests.functional.test_migration_api import HEADER, SMALL, read_jsonl, record, write


def write_bytes(harness, path: str, data: bytes) -> str:
    full = os.path.join(harness.data_root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    return path


@pytest.mark.parametrize("delimiter, sep", [("|", "|"), ("tab", "\t"), ("\t", "\t"), (";", ";")])
def test_other_delimiters(harness, delimiter, sep):
    # GIVEN a pipe/tab/semicolon export whose employer field holds the delimiter, quoted
    rows = [record(n, employer=f'"Acme{sep} Inc"').replace(",", sep) for n in range(1, 6)]
    path = write(harness, SMALL, HEADER.replace(",", sep) + "\n" + "\n".join(rows) + "\n")
    # WHEN it is migrated with that delimiter
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file",
                                input_format={"delimiter": delimiter})
    # THEN every record is read with the right fields
    assert status["status"] == "completed" and status["progress"]["success_count"] == 5
    assert {d["employer"]["name"] for d in read_jsonl(harness.output_dir(status["run_id"]))} == {f"Acme{sep} Inc"}


def test_file_without_a_header_row_takes_the_spec_column_order(harness):
    path = write(harness, SMALL, "\n".join(record(n) for n in range(1, 4)) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file",
                                input_format={"header": False})
    assert status["progress"]["total_records"] == 3 and status["progress"]["success_count"] == 3
    assert read_jsonl(harness.output_dir(status["run_id"]))[0]["claim_number"] == "DC00000001"


@pytest.mark.parametrize("encoding, name", [("latin-1", "Müller"), ("windows-1252", "Dvořák"[:3] + "’s")])
def test_single_byte_encodings(harness, encoding, name):
    codec = {"latin-1": "latin-1", "windows-1252": "cp1252"}[encoding]
    data = (HEADER + "\n" + record(1).replace("Smith", name) + "\n").encode(codec)
    path = write_bytes(harness, SMALL, data)
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file",
                                input_format={"encoding": encoding})
    assert status["status"] == "completed", status["error_message"]
    assert read_jsonl(harness.output_dir(status["run_id"]))[0]["claimant"]["last_name"] == name


def test_latin1_file_read_as_utf8_fails_naming_the_encoding(harness):
    path = write_bytes(harness, SMALL, (HEADER + "\n" + record(1).replace("Smith", "Müller") + "\n").encode("latin-1"))
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    assert status["status"] == "failed"
    assert "not valid utf-8" in status["error_message"] and "line 2" in status["error_message"]


def test_error_report_is_served_in_pages_and_summarised_by_rule(harness):
    # GIVEN 250 records over three chunks, 7 of them invalid in different ways
    rows = [record(n) for n in range(1, 251)]
    for n in (5, 50, 120, 230):
        rows[n - 1] = record(n, ssn="000-12-3456")
    for n in (60, 180):
        rows[n - 1] = record(n).replace(",F,", ",X,")
    rows[199] = record(200).replace("19800101", "")  # DOB is required
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file",
                                max_error_rate=0.5)
    # THEN the run's message counts the rules, without values
    assert status["error_message"] == ("7 of 250 records were rejected (by rule: ssn_format 4, allowed_values 2, "
                                       "required 1); see the error report")
    assert status["details"]["errors_by_rule"] == {"ssn_format": 4, "allowed_values": 2, "required": 1}
    # AND the report comes in pages, in row order
    run_id = status["run_id"]
    first = harness.get(f"/api/v1/migrations/{run_id}/errors?limit=3").json_body
    assert [e["row"] for e in first["errors"]] == [5, 50, 60]
    assert first["error_rows"] == 7 and first["records_rejected"] == 7 and first["next_offset"] == 3
    rest = harness.get(f"/api/v1/migrations/{run_id}/errors?offset=3&limit=10").json_body
    assert [e["row"] for e in rest["errors"]] == [120, 180, 200, 230]
    assert rest["next_offset"] is None
    assert rest["errors"][0] == {"row": 120, "field": "SSN", "rule": "ssn_format",
                                 "message": "SSN is not a valid social security number", "value": "***"}
    assert "000-12-3456" not in json.dumps(first) + json.dumps(rest) + json.dumps(status)


def test_errors_of_an_unknown_run_is_404_and_bad_paging_422(harness):
    assert harness.get("/api/v1/migrations/1b4e28ba-2fa1-11d2-883f-0016d3cca427/errors").status_code == 404
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    assert harness.get(f"/api/v1/migrations/{run_id}/errors?limit=0").status_code == 422
    assert harness.get(f"/api/v1/migrations/{run_id}/errors?offset=-1").status_code == 422
    empty = harness.get(f"/api/v1/migrations/{run_id}/errors").json_body
    assert empty["errors"] == [] and empty["error_rows"] == 0


@pytest.mark.parametrize("output_mode", ["file", "api"])
def test_validate_only_reports_errors_and_delivers_nothing(harness, output_mode):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n" + record(2, ssn="1") + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode=output_mode,
                                validate_only=True, max_error_rate=0.5)
    assert status["status"] == "completed"
    assert status["progress"]["success_count"] == 1 and status["progress"]["error_count"] == 1
    assert status["details"]["validate_only"] is True
    folder = harness.output_dir(status["run_id"])
    assert not [n for n in os.listdir(folder) if n.endswith(".jsonl")]  # no output part
    assert os.listdir(os.path.join(folder, "errors")) == ["part-000001.jsonl"]
    assert harness.target.state.snapshot()["records"] == 0


@pytest.mark.parametrize("change, detail", [
    ({"input_format": {"delimiter": "#"}}, "input_format.delimiter"),
    ({"input_format": {"encoding": "utf-16"}}, "input_format.encoding"),
    ({"input_format": {"encoding": "cp037"}}, "EBCDIC is supported for fixed-width files only"),
    ({"input_format": {"type": "xml"}}, "input_format.type"),
    ({"input_format": {"header": "yes"}}, "input_format.header"),
    ({"input_format": {"quote": "'"}}, "input_format.quote: unknown field"),
    ({"input_format": {"type": "fixed_width"}, "record_type": "absence"}, "has no fixed-width layout"),
    ({"input_format": {"encoding": "cp1141"}}, "EBCDIC is supported for fixed-width files only"),
    ({"input_format": {"type": "fixed_width", "encoding": "cp9999"}}, "input_format.encoding"),
    ({"input_format": {"type": "fixed_width", "recfm": "U"}}, "input_format.recfm: must be F, FB, V or VB"),
    ({"input_format": {"recfm": "V"}}, "input_format.recfm: must be F, FB, V or VB, for fixed-width files only"),
    ({"input_format": {"type": "fixed_width", "recfm": "VB", "record_separator": "newline"}},
     "variable-length records (V, VB) have none"),
    ({"validate_only": "yes"}, "validate_only"),
])
def test_bad_format_options_are_422(harness, change, detail):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    response = harness.post("/api/v1/migrations/trigger", {"file_path": path, "record_type": "disability",
                                                            "output_mode": "file", **change})
    assert response.status_code == 422
    assert detail in response.json_body["detail"]


@pytest.mark.parametrize("encoding, separator", [("cp037", "none"), ("latin-1", "newline")])
def test_fixed_width_mainframe_file_migrates_like_its_csv(harness, encoding, separator):
    # GIVEN the same 300 disability records as an EBCDIC (or Latin-1) fixed-width file and as CSV
    from datagen.fixed_width import write_fixed_width_file
    from datagen.legacy_files import write_legacy_file
    fixed = os.path.join(harness.data_root, "data", "input", "disability.dat")
    write_fixed_width_file("disability", fixed, 300, encoding=encoding, separator=separator, seed=5)
    write_legacy_file("disability", os.path.join(harness.data_root, "data", "input", "disability.csv"), 300, seed=5)
    # WHEN both are migrated
    from_fixed = harness.run_to_end(file_path="data/input/disability.dat", record_type="disability",
                                    output_mode="file", max_error_rate=0.5,
                                    input_format={"type": "fixed_width", "encoding": encoding,
                                                  "record_separator": separator})
    from_csv = harness.run_to_end(file_path="data/input/disability.csv", record_type="disability",
                                  output_mode="file", max_error_rate=0.5)
    # THEN the fixed-width run completes with exact counters and writes the documents the CSV gives
    assert from_fixed["status"] == "completed", from_fixed["error_message"]
    progress = from_fixed["progress"]
    assert progress["total_records"] == progress["processed_records"] == 300
    fixed_docs = {d["source_row"]: d for d in read_jsonl(harness.output_dir(from_fixed["run_id"]))}
    csv_docs = {d["source_row"]: d for d in read_jsonl(harness.output_dir(from_csv["run_id"]))}
    assert len(fixed_docs) == progress["success_count"] > 250
    assert all(fixed_docs[row] == csv_docs[row] for row in fixed_docs if row in csv_docs)


def test_the_layout_the_service_understood_is_served(harness):
    # GIVEN claim, whose layout comes from its copybook
    response = harness.get("/api/v1/record-types/claim/layout")
    # THEN each source field is shown with the copybook field, position, length, PIC, usage and sign
    assert response.status_code == 200
    body = response.json_body
    assert (body["record_type"], body["record"], body["record_length"]) == ("claim", "CLAIM-RECORD", 240)
    amount = next(f for f in body["fields"] if f["source"] == "CLAIMED_AMT")
    assert amount == {"source": "CLAIMED_AMT", "name": "CLAIMED-AMT", "offset": 139, "position": 140, "length": 9,
                      "pic": "S9(7)V99", "usage": "DISPLAY", "sign": "trailing", "depends": ""}
    # AND a record type without a layout, or none at all, is a 404 that says which
    assert harness.get("/api/v1/record-types/employee/layout").status_code == 404
    missing = harness.get("/api/v1/record-types/nosuch/layout")
    assert missing.status_code == 404 and missing.json_body["detail"] == "No record type: nosuch"


def test_variable_blocked_records_migrate_like_the_same_fixed_records(harness):
    # GIVEN 300 claim records as a fixed-block EBCDIC file, and the same records as RECFM=VB: each
    # record behind its RDW (length 244, then 0000), ten records a block behind a BDW (length 2444)
    from datagen.fixed_width import write_fixed_width_file
    folder = os.path.join(harness.data_root, "data", "input")
    write_fixed_width_file("claim", os.path.join(folder, "claims.fb"), 300, encoding="cp037", separator="none",
                           seed=3)
    with open(os.path.join(folder, "claims.fb"), "rb") as f:
        records = [f.read(240) for _ in range(300)]
    rdw, bdw = bytes.fromhex("00F40000"), bytes.fromhex("098C0000")
    with open(os.path.join(folder, "claims.vb"), "wb") as f:
        for block in range(0, 300, 10):
            f.write(bdw + b"".join(rdw + record for record in records[block:block + 10]))
    # WHEN both are migrated to files
    runs = {name: harness.run_to_end(file_path=f"data/input/claims.{name}", record_type="claim", output_mode="file",
                                     max_error_rate=0.5,
                                     input_format={"type": "fixed_width", "encoding": "cp037",
                                                   "recfm": name.upper(), "record_separator": "none"})
            for name in ("fb", "vb")}
    # THEN both complete with the same counts and write the same documents
    for status in runs.values():
        assert status["status"] == "completed", status["error_message"]
        assert status["progress"]["total_records"] == 300
    timing = ("records_per_second", "eta_seconds")  # measured, so they differ between any two runs
    exact = [{k: v for k, v in status["progress"].items() if k not in timing} for status in runs.values()]
    assert exact[0] == exact[1]
    docs = {name: sorted(read_jsonl(harness.output_dir(s["run_id"])), key=lambda d: d["source_row"])
            for name, s in runs.items()}
    assert docs["fb"] == docs["vb"] and len(docs["fb"]) == runs["fb"]["progress"]["success_count"] > 250
