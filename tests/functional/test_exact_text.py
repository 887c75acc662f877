"""Every character a field holds reaches the target exactly as read (DESIGN 13).

The files are written here byte by byte, with CSV quoting and EBCDIC bytes
spelt out by hand, and the expected values are the literal strings below: no
writer of ours is on either side of the comparison.
"""
from __future__ import annotations

import json
import os

import pytest
import requests

# Characters that str.splitlines() would split at, control bytes, an astral
# character, quotes and backslashes, a delimiter and CR LF inside quotes.
TRICKY_NAMES = [
    "NEL\u0085INSIDE",          # EBCDIC's NL (0x15) decodes to U+0085
    "LINE\u2028SEP",            # valid JSON left unescaped by json.dumps(ensure_ascii=False)
    "PARA\u2029SEP",
    "VT\x0bFF\x0cFS\x1cGS\x1dRS\x1eUS\x1f",
    "CTRL\x01\x07\x08\x1b\x7f",
    "ASTRAL \U0001F600 \U00010348",
    'QUOTE "Q" BACK\\SLASH',
    "COMMA, AND\r\nCRLF",
    "LF\nONLY",
    "TAB\tHERE",
    "ACCENT ÉÑÜ ß",
]

HEADER = ("CLM_NO,POLICY_NO,CLMT_SSN,CLMT_LAST_NAME,CLMT_FIRST_NAME,CLMT_DOB,REL_TO_INSURED,CLAIM_TYPE,"
          "INCIDENT_DT,REPORTED_DT,DIAG_CD,CLAIMED_AMT,PAID_AMT,CLAIM_STATUS,PROVIDER_NAME,PROVIDER_NPI")


def csv_field(value: str) -> str:
    """RFC 4180 quoting, written out: always quoted, quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def claims_file(path: str) -> list[str]:
    """One valid claim per tricky name, the name in PROVIDER_NAME; returns the names in file order."""
    lines = [HEADER]
    for i, name in enumerate(TRICKY_NAMES, start=1):
        lines.append(f"CL{i:09d},POL{i:06d},088141380,RIVERA,ANA,01/08/1993,SP,DENTAL,06/01/2021,07/09/2021,,"
                     f"1197.33,869.33,CLSD,{csv_field(name)},")
    with open(path, "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return TRICKY_NAMES


@pytest.mark.parametrize("batch_size", [1, 4])
def test_api_mode_delivers_every_character_class_unaltered(harness, batch_size):
    # GIVEN a claims file whose provider names hold every class of character
    path = os.path.join(harness.data_root, "data", "input", "tricky.csv")
    names = claims_file(path)
    target = f"http://127.0.0.1:{harness.target.server_address[1]}"
    assert requests.put(f"{target}/faults", json={"keep_records": True}, timeout=5).status_code == 200
    # WHEN it is migrated to the target's API
    status = harness.run_to_end(file_path="data/input/tricky.csv", record_type="claim", output_mode="api",
                                batch_size=batch_size)
    # THEN every record arrived once, and each name is exactly what the file held
    assert status["status"] == "completed", status["error_message"]
    assert status["progress"]["success_count"] == len(names)
    stored = requests.get(f"{target}/records/claims", timeout=5).json()["records"]
    assert [r["provider"]["name"] for r in stored] == names
    assert [r["source_row"] for r in stored] == list(range(1, len(names) + 1))
    assert harness.target.state.snapshot()["distinct_records"] == len(names)


def test_file_mode_writes_every_character_class_unaltered(harness):
    # GIVEN the same file
    path = os.path.join(harness.data_root, "data", "input", "tricky.csv")
    names = claims_file(path)
    # WHEN it is migrated to files
    status = harness.run_to_end(file_path="data/input/tricky.csv", record_type="claim", output_mode="file")
    # THEN the part holds one JSON document per line ("\n" only ends a document) with the names as read
    assert status["status"] == "completed", status["error_message"]
    with open(os.path.join(harness.output_dir(status["run_id"]), "part-000001.jsonl"), "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(names)
    assert [json.loads(line)["provider"]["name"] for line in lines[:-1]] == names
