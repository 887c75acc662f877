"""Through the local stack in api mode, every character a field holds reaches the target as the file held it.

The files are written here byte by byte; the expected values are literal
strings written from the format's rules (CSV quoting; the cp037 code page for
EBCDIC), never produced by a writer of ours.
"""
from __future__ import annotations

import os

import pytest
import requests

from tests.functional.test_exact_text import TRICKY_NAMES, claims_file

pytestmark = pytest.mark.e2e


@pytest.fixture
def keeping_target(local_stack):
    """The sandbox target keeps what it takes for the test, and forgets that setting afterwards."""
    assert requests.put(f"{local_stack.target_url}/faults", json={"keep_records": True}, timeout=60).ok
    yield local_stack
    requests.put(f"{local_stack.target_url}/faults", json={}, timeout=60)


def kept(stack, run_id: str) -> list[dict]:
    return requests.get(f"{stack.target_url}/records/claims", params={"run": run_id}, timeout=60).json()["records"]


def test_csv_text_of_every_character_class_arrives_unaltered(keeping_target):
    stack = keeping_target
    # GIVEN a UTF-8 claims file whose provider names hold line and paragraph separators, NEL, control
    # bytes, astral characters, quotes, CR LF and LF inside quotes
    names = claims_file(os.path.join(stack.data_root, "data", "input", "tricky-e2e.csv"))
    # WHEN it is migrated to the target's API in batches of 3
    run = stack.trigger(file_path="data/input/tricky-e2e.csv", record_type="claim", output_mode="api",
                        batch_size=3, authentication={"type": "bearer_token", "token": "your-api-token"})
    status = stack.wait_until_finished(run["run_id"])
    # THEN the target holds each record once, with exactly the names the file held
    assert status["status"] == "completed", status
    stored = kept(stack, run["run_id"])
    assert [r["provider"]["name"] for r in stored] == names == TRICKY_NAMES
    assert [r["source_row"] for r in stored] == list(range(1, len(names) + 1))


# PROVIDER-NAME (50 bytes at offset 161 of claim.cpy's 240-byte record) with EBCDIC control bytes in
# it, and what cp037 says each is: 15 NL is U+0085, 25 LF is U+000A, 05 HT is U+0009, 0D CR, 0B VT,
# 0C FF, 1E IRS, 71 is É, 9F is ¤.
EBCDIC_NAMES = [
    ("C1C3D4C5" "15" "C3D3C9D5C9C3", "ACME\u0085CLINIC"),
    ("C5C1E2E3" "25" "E6C9D5C7", "EAST\nWING"),
    ("E3C1C2" "05" "C8C5D9C5" "0D", "TAB\tHERE\r"),
    ("E5E3" "0B" "C6C6" "0C" "D9E2" "1E" "C5D5C4", "VT\x0bFF\x0cRS\x1eEND"),
    ("71" "D7C9D5C5" "40" "9F", "ÉPINE ¤"),
]


def ebcdic_claim(row: int, provider: str) -> bytes:
    """One claim record of claim.cpy, its text in cp037 hex, the provider name's bytes given."""
    def text(value: str, size: int) -> str:
        return value.encode("cp037").hex() + "40" * (size - len(value))
    record = (text(f"CL{row:09d}", 12) + text(f"POL{row:06d}", 10) + text("088141380", 11) + text("RIVERA", 35)
              + text("ANA", 25) + text("01/08/1993", 10) + text("SP", 2) + text("DENTAL", 6)
              + text("06/01/2021", 10) + text("07/09/2021", 10) + text("", 8)
              + "F0F0F0F1F1F9F7F3C3"      # CLAIMED-AMT S9(7)V99: +0001197.33
              + "F0F0F0F0F8F6F9F3C3"      # PAID-AMT: +0000869.33
              + text("CLSD", 4) + provider + "40" * (50 - len(provider) // 2) + text("", 10) + "40" * 19)
    data = bytes.fromhex(record)
    assert len(data) == 240
    return data


def test_ebcdic_control_bytes_in_text_arrive_as_their_characters(keeping_target):
    stack = keeping_target
    # GIVEN an EBCDIC claims file, each record followed by NL (0x15), whose provider names hold NL, LF,
    # HT, CR and other control bytes: records are framed by length, never split at those bytes
    data = b"".join(ebcdic_claim(row, name) + b"\x15" for row, (name, _) in enumerate(EBCDIC_NAMES, start=1))
    with open(os.path.join(stack.data_root, "data", "input", "tricky-e2e.dat"), "wb") as f:
        f.write(data)
    # WHEN it is migrated to the target's API
    run = stack.trigger(file_path="data/input/tricky-e2e.dat", record_type="claim", output_mode="api",
                        batch_size=2, authentication={"type": "bearer_token", "token": "your-api-token"},
                        input_format={"type": "fixed_width", "encoding": "cp037", "record_separator": "newline"})
    status = stack.wait_until_finished(run["run_id"])
    # THEN every record arrived once, each name the characters cp037 gives its bytes
    assert status["status"] == "completed", status
    assert status["progress"]["success_count"] == len(EBCDIC_NAMES)
    stored = kept(stack, run["run_id"])
    assert [r["provider"]["name"] for r in stored] == [expected for _, expected in EBCDIC_NAMES]
    assert [r["amounts"]["claimed"] for r in stored] == [1197.33] * len(EBCDIC_NAMES)
