"""Trial runs: POST /api/v1/migrations/preview maps a file's first records as a run would, and leaves nothing.

The API is called on a stage with API keys (loaded as tests/functional/test_access.py loads it), so that
roles and tenants are the real ones; the runs it is compared with are run by the very handlers Lambda
calls. One emulated stack serves the module: a preview changes nothing, and each test that runs a
migration names its own files. What a preview answers is held against what a full file-mode run of the
same file writes for the same records (its part files and its error report), masked as a preview masks.
"""
from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil

import boto3
import pytest
from chalice.test import Client

from chalicelib import answers, bootstrap, preview
from chalicelib.access import KeyRequest, KeyStore
from chalicelib.models import InputFormat
from chalicelib.personal import MASK
from chalicelib.records import load_specs
from chalicelib.storage import LocalFile
from local_stack.environment import PROJECT_DIR
from tests.functional.conftest import Harness, functional_stage
from tests.functional.test_hostile_input import traces
from tests.functional.test_migration_api import HEADER, read_jsonl, record
from tests.unit.test_record_kinds import KINDS, POLICY_COPYBOOK, POLICY_FIELDS, fixed, policy_file, spec_with

API = "/api/v1/migrations"
PREVIEW = API + "/preview"
ACCESS_TABLE = "records-migration-access-test"
SPECS = load_specs()
# Record 1 of record(): what a run sends, and what a preview shows of it.
FIRST_DOCUMENT = {
    "record_type": "disability", "claim_number": "DC00000001", "policy_number": "POL000001",
    "claimant": {"ssn": MASK, "last_name": MASK, "first_name": MASK, "date_of_birth": MASK, "gender": "female"},
    "disability": {"type": "short_term", "diagnosis_code": MASK, "date_of_disability": "2023-01-05"},
    "benefit": {"start_date": "2023-01-10", "end_date": "2023-03-01", "weekly_amount": 512.25},
    "status": "open", "employer": {"name": "Acme Corp", "state": "NY"}, "source_row": 1}


class Previews:
    """The stage's API with keys, its workers, and what a preview is compared with."""

    def __init__(self, harness: Harness, client: Client):
        self.harness = harness
        self.client = client
        self.keys = KeyStore(boto3.client("dynamodb"), ACCESS_TABLE)
        self.operator = self.key("operator")

    def key(self, role: str, tenant: str = "default") -> str:
        return self.keys.issue(KeyRequest(tenant=tenant, role=role), created_by="test")[1]

    def post(self, path: str, body, key: str | None = None, headers: dict | None = None, raw: bytes | None = None):
        sent = {"Authorization": f"Bearer {key or self.operator}", "Content-Type": "application/json",
                **(headers or {})}
        return self.client.http.post(path, body=raw if raw is not None else json.dumps(body).encode(), headers=sent)

    def get(self, path: str) -> dict:
        response = self.client.http.get(path, headers={"Authorization": f"Bearer {self.operator}"})
        assert response.status_code == 200, response.body
        return response.json_body

    def preview(self, body: dict, records: int | str | None = None, **kwargs):
        query = "" if records is None else f"?records={records}"
        return self.post(PREVIEW + query, body, **kwargs)

    def ok(self, body: dict, records: int | None = None, **kwargs) -> dict:
        before = traces(self.harness)
        response = self.preview(body, records, **kwargs)
        assert response.status_code == 200, response.body
        assert traces(self.harness) == before, "the preview left a trace"
        answers.PreviewAnswer.model_validate(response.json_body)  # as the OpenAPI description says
        return response.json_body

    def refused(self, body: dict, records=None, status: int = 422, **kwargs) -> str:
        before = traces(self.harness)
        response = self.preview(body, records, **kwargs)
        assert response.status_code == status, (response.status_code, response.body)
        assert set(response.json_body) == {"detail"}, response.body
        assert traces(self.harness) == before, "the refused preview left a trace"
        return response.json_body["detail"]

    def run(self, body: dict) -> dict:
        """A full run of the same request (file mode), to its end: its status, documents and error rows."""
        response = self.post(API + "/trigger", {**body, "output_mode": "file"})
        assert response.status_code == 200, response.body
        self.harness.drain()
        run_id = response.json_body["run_id"]
        status = self.get(f"{API}/status/{run_id}?include_details=true")
        folder = self.harness.output_dir(run_id)
        errors = [json.loads(line) for part in sorted(glob.glob(os.path.join(folder, "errors", "part-*.jsonl")))
                  for line in open(part, encoding="utf-8")]
        return {"status": status, "documents": read_jsonl(folder), "errors": errors}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("preview") / "root"
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), data_root / "data" / "input")
    with pytest.MonkeyPatch.context() as monkeypatch, functional_stage(data_root, monkeypatch) as harness:
        harness.clients = {name: boto3.client(name) for name in ("sqs", "dynamodb", "secretsmanager", "s3")}
        for message in harness.receive("uploads"):  # S3's test event, sent when the emulator set up
            harness.sqs.delete_message(QueueUrl=harness.queue_urls["uploads"], ReceiptHandle=message["ReceiptHandle"])
        monkeypatch.setenv("AUTH", "keys")
        monkeypatch.setenv("ACCESS_TABLE_NAME", ACCESS_TABLE)
        bootstrap.reset()
        spec = importlib.util.spec_from_file_location("app_with_keys_for_previews",
                                                      os.path.join(PROJECT_DIR, "app.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with Client(module.app, stage_name="functional") as client:
            yield Previews(harness, client)
        bootstrap.reset()


def write(stack: Previews, path: str, data: str | bytes) -> str:
    full = os.path.join(stack.harness.data_root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def csv_file(rows: list[str], header: str = HEADER) -> str:
    return header + "\n" + "".join(row + "\n" for row in rows)


def masked(document: dict, record_type: str = "disability") -> dict:
    return preview.masked_document(document, SPECS[record_type])


def first(run: dict, records_through: int) -> tuple[list[dict], list[dict]]:
    """A run's documents (masked as a preview shows them) and error rows of its records up to a row number."""
    documents = sorted((d for d in run["documents"] if d["source_row"] <= records_through),
                       key=lambda d: d["source_row"])
    return [masked(d, d["record_type"]) for d in documents], [e for e in run["errors"] if e["row"] <= records_through]


# ------------------------------------------------------------------ what a run would send and report

def test_a_csv_preview_is_what_a_run_writes_for_the_file_s_first_records(stack):
    # GIVEN 250 records: record 3 has a bad SSN, record 5 a date of birth that is no date, record 7 a quoted
    # employer name over two lines
    rows = [record(n) for n in range(1, 251)]
    rows[2] = record(3, ssn="12-345")
    rows[4] = record(5).replace("19800101", "19801399")
    rows[6] = record(7, employer='"Acme, ""North""\nDivision"')
    path = write(stack, "data/input/preview_first.csv", csv_file(rows))
    body = {"file_path": path, "record_type": "disability", "output_mode": "api"}
    # WHEN its first 10 records are previewed
    answer = stack.ok(body, records=10)
    # THEN the answer counts them, shows what would be sent (masked) and what would be reported, in file order
    assert {k: answer[k] for k in ("record_type", "file_path", "records_read", "valid", "rejected", "more_records")} \
        == {"record_type": "disability", "file_path": path, "records_read": 10, "valid": 8, "rejected": 2,
            "more_records": True}
    assert answer["documents"][0] == FIRST_DOCUMENT
    assert [d["source_row"] for d in answer["documents"]] == [1, 2, 4, 6, 7, 8, 9, 10]
    assert answer["documents"][4]["employer"] == {"name": 'Acme, "North"\nDivision', "state": "NY"}
    assert answer["errors"] == [
        {"row": 3, "field": "SSN", "rule": "ssn_format", "message": "SSN is not a valid social security number",
         "value": MASK},
        {"row": 5, "field": "DOB", "rule": "date_format", "message": "DOB is not a date in format YYYYMMDD",
         "value": MASK}]
    # AND they are what a full run of the file writes for those records
    run = stack.run(body)
    assert run["status"]["status"] == "completed", run["status"]
    assert (answer["documents"], answer["errors"]) == first(run, 10)


def test_the_default_is_100_records(stack):
    path = write(stack, "data/input/preview_default.csv", csv_file([record(n) for n in range(1, 151)]))
    answer = stack.ok({"file_path": path, "record_type": "disability", "output_mode": "file"})
    assert (answer["records_read"], answer["valid"], answer["more_records"]) == (100, 100, True)
    assert [d["source_row"] for d in answer["documents"]] == list(range(1, 101))


@pytest.mark.parametrize("encoding, separator", [("cp037", "none"), ("latin-1", "newline")])
def test_a_fixed_width_preview_is_what_a_run_writes(stack, encoding, separator):
    # GIVEN 300 disability records in a fixed-width file (some invalid, as generated)
    from datagen.fixed_width import write_fixed_width_file
    name = f"data/input/preview_{encoding}.dat"
    write_fixed_width_file("disability", os.path.join(stack.harness.data_root, name), 300, encoding=encoding,
                           separator=separator, seed=5)
    body = {"file_path": name, "record_type": "disability", "output_mode": "api", "max_error_rate": 0.5,
            "input_format": {"type": "fixed_width", "encoding": encoding, "record_separator": separator}}
    # WHEN its first 120 records are previewed
    answer = stack.ok(body, records=120)
    # THEN they are the documents and error rows a run writes for records 1 to 120
    assert (answer["records_read"], answer["more_records"]) == (120, True)
    assert answer["valid"] + answer["rejected"] == 120 and answer["valid"] > 100
    run = stack.run(body)
    assert run["status"]["status"] == "completed", run["status"]
    assert (answer["documents"], answer["errors"]) == first(run, 120)
    # AND the whole file, asked for, is the whole run
    whole = stack.ok(body, records=5000)
    assert (whole["records_read"], whole["more_records"]) == (300, False)
    assert (whole["documents"], whole["errors"]) == first(run, 300)


def test_a_variable_blocked_preview_stops_at_the_n_th_record_inside_a_block(stack):
    # GIVEN 300 claim records as RECFM=VB, ten records a block, and the same records fixed-block
    from datagen.fixed_width import write_fixed_width_file
    folder = os.path.join(stack.harness.data_root, "data", "input")
    write_fixed_width_file("claim", os.path.join(folder, "preview_claims.fb"), 300, encoding="cp037",
                           separator="none", seed=3)
    with open(os.path.join(folder, "preview_claims.fb"), "rb") as f:
        records = [f.read(240) for _ in range(300)]
    rdw, bdw = bytes.fromhex("00F40000"), bytes.fromhex("098C0000")
    write(stack, "data/input/preview_claims.vb", b"".join(
        bdw + b"".join(rdw + r for r in records[block:block + 10]) for block in range(0, 300, 10)))
    body = {"file_path": "data/input/preview_claims.vb", "record_type": "claim", "output_mode": "file",
            "max_error_rate": 0.5, "input_format": {"type": "fixed_width", "encoding": "cp037", "recfm": "VB"}}
    # WHEN 15 records are previewed (a run's chunk would end with the second block, after record 20)
    answer = stack.ok(body, records=15)
    # THEN the preview shows records 1 to 15, which are what a run of the fixed-block file writes for them
    assert (answer["records_read"], answer["more_records"]) == (15, True)
    rows = sorted([d["source_row"] for d in answer["documents"]] + list({e["row"] for e in answer["errors"]}))
    assert rows == list(range(1, 16))
    run = stack.run({**body, "file_path": "data/input/preview_claims.fb",
                     "input_format": {"type": "fixed_width", "encoding": "cp037", "record_separator": "none"}})
    assert (answer["documents"], answer["errors"]) == first(run, 15)


# ------------------------------------------------------------------ where the first records end

@pytest.mark.parametrize("records, read, more", [(4, 4, True), (5, 5, False), (6, 5, False), (5000, 5, False)])
@pytest.mark.parametrize("last_newline", [True, False])
def test_records_exactly_n_fewer_or_more(stack, records, read, more, last_newline):
    text = csv_file([record(n) for n in range(1, 6)])
    path = write(stack, f"data/input/preview_five_{last_newline}.csv", text if last_newline else text[:-1])
    answer = stack.ok({"file_path": path, "record_type": "disability", "output_mode": "file"}, records=records)
    assert (answer["records_read"], answer["valid"], answer["more_records"]) == (read, read, more)
    assert [d["source_row"] for d in answer["documents"]] == list(range(1, read + 1))


def test_a_header_without_records_previews_none(stack):
    path = write(stack, "data/input/preview_header_only.csv", HEADER + "\n")
    answer = stack.ok({"file_path": path, "record_type": "disability", "output_mode": "file"}, records=3)
    assert {k: answer[k] for k in ("records_read", "valid", "rejected", "more_records", "documents", "errors")} == \
        {"records_read": 0, "valid": 0, "rejected": 0, "more_records": False, "documents": [], "errors": []}


def test_a_quoted_newline_across_the_end_of_the_first_read_is_framed_as_the_planner_frames_it(stack):
    # GIVEN records, then one whose quoted employer name holds a newline at the last byte of the first read,
    # so that the read ends inside the quoted field, then more records
    before_field = record(1, employer="@").index("@")  # where the employer name starts in a record
    text, k = HEADER + "\n", 1
    while len(text) + len(record(k)) + 1 + before_field + 11 < preview.FIRST_READ:
        text += record(k) + "\n"
        k += 1
    inside = preview.FIRST_READ - 1 - (len(text) + before_field + 1)  # characters between the quote and newline
    text += record(k, employer='"' + "N" * inside + "\nSouth" + '"') + "\n"
    assert text.index("\nSouth") == preview.FIRST_READ - 1
    text += "".join(record(m) + "\n" for m in range(k + 1, k + 40))
    path = write(stack, "data/input/preview_straddle.csv", text)
    body = {"file_path": path, "record_type": "disability", "output_mode": "file", "max_error_rate": 0.5}
    run = stack.run(body)
    assert run["status"]["progress"]["total_records"] == k + 39
    for records in (k - 1, k, k + 1):
        # WHEN the records before it, up to it and past it are previewed
        answer = stack.ok(body, records=records)
        # THEN each preview ends where a run's chunk of that many records ends, and maps what the run maps
        assert (answer["records_read"], answer["more_records"]) == (records, True)
        assert (answer["documents"], answer["errors"]) == first(run, records)


def test_only_the_start_of_a_large_file_is_read(tmp_path):
    # GIVEN a CSV file of about 13 MB
    path = tmp_path / "large.csv"
    path.write_text(csv_file([record(n) for n in range(1, 100_001)]))
    source = LocalFile(str(path), "large.csv")
    # WHEN 100 records, then 1000, are previewed
    # THEN the first read, then a few more, are all that is read of it
    small = preview.first_records(source, InputFormat(), SPECS["disability"], 100)
    assert (small.records_read, small.more_records, small.bytes_read) == (100, True, preview.FIRST_READ)
    larger = preview.first_records(source, InputFormat(), SPECS["disability"], 1000)
    assert larger.records_read == 1000 and larger.bytes_read == 3 * preview.FIRST_READ  # 64 KiB, then 128 KiB


def test_records_of_several_kinds_are_counted_as_a_run_counts_them(tmp_path):
    # GIVEN a header, policies, a record of a kind to skip, one of a kind the layout does not know, a trailer
    # whose count is wrong (a run of the whole file fails on it)
    spec = spec_with(tmp_path, POLICY_COPYBOOK, {"discriminator": {"field": "REC-TYPE", "kinds": KINDS}},
                     POLICY_FIELDS)
    (tmp_path / "policies.dat").write_bytes(policy_file(count="F0F0F0F0F9"))
    source = LocalFile(str(tmp_path / "policies.dat"), "policies.dat")
    # WHEN the first two, then three of the run's records are previewed
    two = preview.first_records(source, fixed(), spec, 2)
    three = preview.first_records(source, fixed(), spec, 3)
    # THEN the header and the skipped record are in no count, the unknown kind is rejected as a run rejects it,
    # and the trailer, which only the whole file's scan reaches, is a run's to check
    assert [json.loads(d)["source_row"] for d in two.documents] == [2, 4] and two.errors == []
    assert (two.records_read, two.more_records) == (2, True)
    assert (three.records_read, three.valid, three.rejected, three.more_records) == (3, 2, 1, True)
    assert [(e.row, e.rule) for e in three.errors] == [(5, "record_layout")]


# ------------------------------------------------------------------ nothing left, nothing shown

def test_a_preview_leaves_no_run_message_secret_or_file(stack):
    # GIVEN a request with credentials and a webhook, which a trigger would keep in Secrets Manager
    path = write(stack, "data/input/preview_trace.csv", csv_file([record(n) for n in range(1, 30)]))
    body = {"file_path": path, "record_type": "disability", "output_mode": "api", "batch_size": 5,
            "output_dir": "data/preview-out", "metadata": {"ticket": "MIG-7"},
            "authentication": {"type": "bearer_token", "token": "preview-token-never-kept"},
            "notify": {"webhook_url": os.environ["TARGET_API_URL"] + "/hook", "secret": "a-webhook-key-of-16+"}}
    runs_before = stack.get(API + "?limit=200")["count"]
    # WHEN it is previewed (stack.ok compares the runs table, every queue, the vault, the bucket and the files)
    answer = stack.ok(body, records=10)
    # THEN nothing is left: no run is listed, no output folder was made, and no secret was kept or shown
    assert stack.get(API + "?limit=200")["count"] == runs_before
    assert not os.path.exists(os.path.join(stack.harness.data_root, "data", "preview-out"))
    assert "preview-token-never-kept" not in json.dumps(answer) and "a-webhook-key-of-16+" not in json.dumps(answer)
    assert answer["records_read"] == 10


def test_personal_values_are_masked_in_every_document(stack):
    # GIVEN records of people, with SSN-like text in a free-text column too
    rows = [record(1, ssn="518-27-4963").replace("Smith,Ann,19800101", "Wexelbrandt,Ysolde,19610317"),
            record(2, ssn="623815074", employer="Payroll note 731 46 2958"),
            record(3, employer="Acme ref 241759368").replace("M54.5", "F32.9")]
    path = write(stack, "data/input/preview_people.csv", csv_file(rows))
    response = stack.preview({"file_path": path, "record_type": "disability", "output_mode": "api"})
    assert response.status_code == 200, response.body
    # THEN no personal value is in the answer, and the documents show the mask where they were
    text = response.body.decode()
    for value in ("518-27-4963", "518274963", "623815074", "Wexelbrandt", "Ysolde", "1961-03-17", "19610317",
                  "731 46 2958", "241759368", "F32.9", "M54.5"):
        assert value not in text, value
    documents = response.json_body["documents"]
    assert [d["claimant"]["ssn"] for d in documents] == [MASK] * 3
    assert {d["disability"]["diagnosis_code"] for d in documents} == {MASK}
    assert [d["employer"]["name"] for d in documents] == ["Acme Corp", f"Payroll note {MASK}", f"Acme ref {MASK}"]


# ------------------------------------------------------------------ promotion

def test_a_preview_is_promoted_to_the_full_run_with_the_same_options(stack):
    # GIVEN a preview with credentials
    rows = [record(n) for n in range(1, 41)]
    rows[4] = record(5, ssn="000-00-0000")
    path = write(stack, "data/input/preview_promote.csv", csv_file(rows))
    body = {"file_path": path, "record_type": "disability", "output_mode": "file", "batch_size": 7,
            "metadata": {"ticket": "MIG-9"}, "max_error_rate": 0.2,
            "authentication": {"type": "bearer_token", "token": "sent-again-on-promotion"}}
    answer = stack.ok(body, records=6)
    # THEN its promotion is the trigger with the same options, without the secrets, which it names
    promote = answer["promote"]
    assert promote == {"method": "POST", "path": API + "/trigger",
                       "body": {k: v for k, v in body.items() if k != "authentication"},
                       "omitted": ["authentication"],
                       "note": "authentication was left out (secrets are never shown): send it again with the body"}
    # WHEN it is sent, with the credentials again
    response = stack.post(promote["path"], {**promote["body"], "authentication": body["authentication"]})
    assert response.status_code == 200, response.body
    stack.harness.drain()
    run_id = response.json_body["run_id"]
    # THEN the run has the preview's options and writes, for the previewed records, what the preview showed
    status = stack.get(f"{API}/status/{run_id}?include_details=true")
    assert status["status"] == "completed" and status["metadata"] == {"ticket": "MIG-9"}
    assert status["details"]["batch_size"] == 7
    documents = sorted(read_jsonl(stack.harness.output_dir(run_id)), key=lambda d: d["source_row"])
    assert answer["documents"] == [masked(d) for d in documents if d["source_row"] <= 6]


def test_a_preview_without_secrets_promotes_its_body_as_sent(stack):
    body = {"file_path": "data/input/sample_disability_data.csv", "record_type": "disability",
            "output_mode": "file", "input_format": {"delimiter": ",", "encoding": "UTF8"}}
    promote = stack.ok(body, records=1)["promote"]
    assert (promote["body"], promote["omitted"]) == (body, [])


# ------------------------------------------------------------------ refused, clearly, and nothing changed

@pytest.mark.parametrize("records, detail", [
    ("0", "records: must be between 1 and 5000"), ("5001", "records: must be between 1 and 5000"),
    ("-1", "records: must be between 1 and 5000"), ("abc", "records: must be an integer"),
    ("1.5", "records: must be an integer"), ("", "records: must be an integer"),
    ("%2B5", "records: must be an integer"), ("9" * 40, "records: must be an integer"),
])
def test_a_bad_number_of_records_is_a_422(stack, records, detail):
    body = {"file_path": "data/input/sample_disability_data.csv", "record_type": "disability", "output_mode": "file"}
    assert stack.refused(body, records=records) == detail


def wrong_files() -> list[tuple[str, bytes | str, dict]]:
    return [
        ("wrong_header.csv", csv_file([record(1)], HEADER.replace("SSN", "SOC_SEC_NO")), {}),
        ("latin1.csv", csv_file([record(1, employer="Société Générale")]).encode("latin-1"), {}),
        ("unclosed.csv", csv_file([record(1, employer='"Acme')]), {}),
        ("empty.csv", "", {}),
        ("headerless.csv", "".join(record(n) + "\n" for n in (1, 2)), {}),
        ("short.dat", b"\xf1" * 250, {"record_type": "claim", "input_format": {
            "type": "fixed_width", "encoding": "cp037", "record_separator": "none"}}),
    ]


@pytest.mark.parametrize("name, data, change", wrong_files(), ids=[w[0] for w in wrong_files()])
def test_a_file_a_run_would_fail_on_is_a_422_with_the_run_s_message(stack, name, data, change):
    # GIVEN a file a run fails on
    path = write(stack, f"data/input/preview_{name}", data)
    body = {"file_path": path, "record_type": "disability", "output_mode": "file", **change}
    # WHEN it is previewed
    detail = stack.refused(body, records=10)
    # THEN the 422 says what the run's failure says
    run = stack.run(body)
    assert run["status"]["status"] == "failed"
    assert detail == "file_path: " + run["status"]["error_message"].removeprefix(f"{path}: "), \
        (detail, run["status"]["error_message"])


def test_records_past_what_a_preview_reads_are_a_422_asking_for_fewer(stack):
    # GIVEN a file whose first record opens a quote that never closes, then more than a preview reads
    line = record(2) + "\n"
    data = csv_file([record(1, employer='"Acme')]) + line * (preview.MAX_READ // len(line) + 10)
    path = write(stack, "data/input/preview_too_far.csv", data)
    detail = stack.refused({"file_path": path, "record_type": "disability", "output_mode": "file"}, records=1)
    assert detail == ("file_path: the records asked for do not end within the first 64 MiB of the file (records "
                      "that long, or a quoted field never closed): preview fewer records")


@pytest.mark.parametrize("change, detail", [
    ({"file_path": "data/input/no_such.csv"}, "file_path: file not found: data/input/no_such.csv"),
    ({"file_path": "../etc/passwd"}, "file_path: must not contain '..'"),
    ({"record_type": "pension"}, "record_type: unknown record type 'pension'"),
    ({"output_mode": "ftp"}, "output_mode: must be one of api, file"),
    ({"output_dir": "incoming/x"}, "output_dir: must be outside incoming/"),
    ({"colour": "blue"}, "colour: unknown field"),
    ({"authentication": {"type": "bearer_token"}}, "authentication.token: "),
    ({"authentication": {"type": "kerberos"}}, "authentication.type: must be one of"),
    ({"authentication": {"type": "oauth2_client_credentials", "token_url": "https://elsewhere.example.com/t",
                         "client_id": "c", "client_secret": "s"}}, "authentication.token_url: "),
    ({"input_format": {"type": "fixed_width"}, "record_type": "absence"},
     "input_format.type: record type 'absence' has no fixed-width layout"),
])
def test_a_body_is_checked_as_a_trigger_checks_it(stack, change, detail):
    body = {"file_path": "data/input/sample_disability_data.csv", "record_type": "disability", "output_mode": "file",
            **change}
    assert stack.refused(body).startswith(detail)
    assert stack.post(API + "/trigger", body).json_body["detail"].startswith(detail)


@pytest.mark.parametrize("raw, headers, status, detail", [
    (b"{not json", {}, 400, "request body is not valid JSON"),
    (b"", {}, 400, "request body is empty"),
    (b"[1]", {}, 422, "body: must be a JSON object"),
    (b"[" * 100_000, {}, 400, "request body is nested more than"),
    (b'{"file_path": "a", "file_path": "b"}', {}, 400, "request body gives the key 'file_path' twice"),
    (b"{}", {"Content-Type": "text/plain"}, 415, "Content-Type: a request body must be sent as application/json"),
])
def test_a_body_that_cannot_be_read_is_refused(stack, raw, headers, status, detail):
    before = traces(stack.harness)
    response = stack.post(PREVIEW, None, raw=raw, headers=headers)
    assert response.status_code == status, response.body
    assert response.json_body["detail"].startswith(detail)
    assert traces(stack.harness) == before


def test_a_viewer_a_page_of_another_origin_and_another_tenant_s_files_are_refused(stack):
    write(stack, "tenants/globex/in.csv", csv_file([record(1)]))
    mine = write(stack, "tenants/acme/in.csv", csv_file([record(1), record(2)]))
    body = {"file_path": mine, "record_type": "disability", "output_mode": "file"}
    acme = stack.key("operator", tenant="acme")
    # a viewer may not have the service read a file's records
    assert stack.refused(body, key=stack.key("viewer", tenant="acme"), status=403)
    # nor may a page of another origin, whatever its key
    assert "another origin" in stack.refused(body, key=acme, status=403, headers={"Origin": "https://evil.example"})
    # a tenant previews only its own files, as it triggers only runs of them
    assert stack.refused({**body, "file_path": "tenants/globex/in.csv"}, key=acme) == \
        "file_path: this tenant's files are under tenants/acme/ or incoming/acme/"
    assert stack.refused({**body, "output_dir": "tenants/globex/out"}, key=acme) == \
        "output_dir: this tenant's files are under tenants/acme/"
    assert stack.ok(body, key=acme)["records_read"] == 2
