"""No secret and no person's data leaks out of the service: a search of everything it produces.

What it proves. Secrets sent in requests (a bearer token, an API key, a Basic password, OAuth2 client
secrets, the service's own API key as the caller) are found in none of the API's answers and headers,
the tables' items, the queues' messages, the files under the data root, the S3 bucket or the log lines:
only in Secrets Manager, and there only while their run lives. Personal values (SSNs, written with and
without dashes and in free-text columns, names, dates of birth) are found only in the delivered
documents (the file-mode part files and what the target received), never in error reports, the run
lists, error messages, the tables, the queues or the logs. A 4xx never echoes a secret of its request.

How. One scenario drives the service the way its users do, through the API of a stage with API keys
(loaded as tests/functional/test_access.py loads it) and through the very handlers Lambda calls,
over every path that writes something: api-mode runs with each credentials type, a file-mode run, a
run with record errors, runs that fail at planning (no header row; a wrong header), a validate_only
run, cancels, a run whose chunk fails (a wrong OAuth2 secret) and reaches the DLQ, then its retry with
the right one, an upload, error-report pages, status, lists, audit trails, the key list, previews
(whose documents are masked), and bad requests that carry secrets. Every answer, every message that
passes, every log line (the service's JSON lines, the root logger at DEBUG, stdout and stderr, the
exceptions a handler lets out) is kept as it goes; at the end every item of every table, every
message left on every queue, every file written under the data root and every object in the bucket
is added. Each seeded value is then searched for in all of it, and each hit is reported with where
it was found. The search is shown to work: the personal values are found in the delivered documents, the secrets in the vault.
"""
from __future__ import annotations

import base64
import csv
import importlib.util
import io
import json
import logging
import os
import traceback
import uuid
from dataclasses import dataclass, field

import boto3
import pytest
import requests
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.access import KeyRequest, KeyStore
from local_stack.environment import PROJECT_DIR
from tests.functional.conftest import TOKEN
from tests.functional.test_migration_api import HEADER

API = "/api/v1/migrations"
ACCESS_TABLE = "records-migration-access-test"
ENDPOINT = "disability-claims"
BASIC_USER = "migration"
OAUTH_CLIENT = "migration-client"
# Libraries' DEBUG output is their wire trace: botocore prints every call's parameters and answers,
# Secrets Manager's included, so the secrets are there as they are in the vault. Those lines are
# searched for personal values only; every other log line is searched for everything.
LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "moto", "s3transfer", "werkzeug", "requests", "chardet")


# --------------------------------------------------------------------------- seeded values
@dataclass(frozen=True)
class Person:
    last: str
    first: str
    dob: str   # YYYYMMDD, as the legacy file has it
    ssn: str   # 3-2-4 with dashes

    def needles(self, who: str) -> dict[str, str]:
        digits = self.ssn.replace("-", "")
        return {f"{who} SSN {self.ssn}": self.ssn, f"{who} SSN {digits}": digits,
                f"{who} SSN {digits[:3]} {digits[3:5]} {digits[5:]}": f"{digits[:3]} {digits[3:5]} {digits[5:]}",
                f"{who} last name": self.last, f"{who} first name": self.first,
                f"{who} date of birth {self.dob}": self.dob,
                f"{who} date of birth {self.dob[:4]}-{self.dob[4:6]}-{self.dob[6:]}":
                    f"{self.dob[:4]}-{self.dob[4:6]}-{self.dob[6:]}"}


# Delivered: their values belong in the delivered documents, and only there.
DELIVERED = {
    "P1": Person("Wexelbrandt", "Ysolde", "19610317", "518-27-4963"),
    "P2": Person("Quorrindale", "Thibaudine", "19740829", "623-81-5074"),
    "P3": Person("Ashgroveley", "Merewynne", "19850211", "407-56-3182"),
}
# SSN-looking values in a free-text column of delivered records: delivered as written.
FREE_TEXT_SSNS = {"P2": ("731 46 2958", "Payroll note 731 46 2958"), "P3": ("241759368", "Acme ref 241759368")}
# Never delivered (rejected, not read, dry run, cancelled): their values belong nowhere.
NEVER = {
    "E1 invalid SSN": Person("Brackenthorpe", "Aldith", "19580704", "987-65-4321"),
    "E2 invalid SSN without dashes": Person("Cullingworth", "Benedicta", "19600109", "666-12-3456"),
    "E3 missing last name": Person("Dunsmorrow", "Odalric", "19690101", "529-64-1837"),
    "E4 invalid date of birth": Person("Fenwyckham", "Gerlinde", "19619931", "534-72-9186"),
    "E5 SSN in STATE": Person("Garrowby", "Hildelith", "19570612", "538-41-7260"),
    "E6 SSN in a long last name": Person("Ravensholt", "Iseult", "19660405", "547-18-2093"),
    "E7 malformed record": Person("Grimsworth", "Jocosa", "19720818", "561-28-3947"),
    "H1 headerless first record": Person("Ulverstane", "Corisande", "19520923", "573-19-2864"),
    "W1 under a wrong header": Person("Pellingrave", "Eudora", "19680130", "584-27-3951"),
    "V1 validate_only": Person("Skelbrooke", "Aurelin", "19630506", "592-36-4718"),
    "C1 cancelled": Person("Thornwaite", "Isembard", "19710214", "603-45-8127"),
}
STRAY_SSNS = {"E5 SSN in STATE": "538417260", "E6 SSN in a long last name": "547 18 2093",
              "E8 SSN in a long employer name": "556-14-8302"}


def claim(n: int, person: Person, **columns: str) -> list[str]:
    values = {"CLAIM_NO": f"DC{n:08d}", "POLICY_NO": f"POL{n:06d}", "SSN": person.ssn, "LAST_NAME": person.last,
              "FIRST_NAME": person.first, "DOB": person.dob, "GENDER": "F", "DISABILITY_TYPE": "STD",
              "DIAGNOSIS_CODE": "M54.5", "DATE_OF_DISABILITY": "20230105", "BENEFIT_START_DATE": "20230110",
              "BENEFIT_END_DATE": "20230301", "WEEKLY_BENEFIT_AMT": "512.25", "CLAIM_STATUS": "OPEN",
              "EMPLOYER_NAME": "Acme Corp", "STATE": "NY", **columns}
    return [values[name] for name in HEADER.split(",")]


def csv_text(rows: list[list[str]], header: str | None = HEADER) -> str:
    out = io.StringIO()
    if header is not None:
        out.write(header + "\n")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def people_rows() -> list[list[str]]:
    p1, p2, p3 = DELIVERED.values()
    return [claim(1, p1), claim(2, p2, EMPLOYER_NAME=FREE_TEXT_SSNS["P2"][1]),
            claim(3, p3, EMPLOYER_NAME=FREE_TEXT_SSNS["P3"][1])]


def rows_with_errors() -> list[list[str]]:
    e = NEVER
    long_employer = "Holloway Logistics " + "x" * 90 + " " + STRAY_SSNS["E8 SSN in a long employer name"]
    return [
        claim(11, DELIVERED["P1"]),
        claim(12, e["E1 invalid SSN"]),
        claim(13, e["E2 invalid SSN without dashes"], SSN=e["E2 invalid SSN without dashes"].ssn.replace("-", "")),
        claim(14, e["E3 missing last name"], LAST_NAME=""),
        claim(15, e["E4 invalid date of birth"]),
        claim(16, e["E5 SSN in STATE"], STATE=STRAY_SSNS["E5 SSN in STATE"]),
        claim(17, e["E6 SSN in a long last name"], LAST_NAME=" ".join(
            (e["E6 SSN in a long last name"].last, STRAY_SSNS["E6 SSN in a long last name"], "y" * 50))),
        claim(18, e["E7 malformed record"])[:-1],  # 15 fields of 16
        claim(19, DELIVERED["P2"], EMPLOYER_NAME=long_employer, CLAIM_STATUS="REOPENED"),
    ]


def secret(label: str) -> str:
    return f"SeCrEt-{label}-{uuid.uuid4()}"


# --------------------------------------------------------------------------- what was seen
@dataclass
class Seen:
    where: str
    text: str
    allows: frozenset = frozenset()  # labels of needles that belong here


@dataclass
class Evidence:
    seen: list[Seen] = field(default_factory=list)

    def add(self, where: str, text, allows=frozenset()) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self.seen.append(Seen(where, text if isinstance(text, str) else json.dumps(text, default=str),
                              frozenset(allows)))

    def hits(self, needles: dict[str, str]) -> list[str]:
        """'<needle> found in <where>: …context…' for each needle in each place it does not belong."""
        found = []
        for label, value in needles.items():
            for seen in self.seen:
                if label in seen.allows:
                    continue
                at = seen.text.find(value)
                if at >= 0:
                    context = seen.text[max(0, at - 60):at + len(value) + 60].replace("\n", "\\n")
                    found.append(f"{label} found in {seen.where}: …{context}…")
        return found

    def found_in(self, value: str, prefix: str) -> bool:
        return any(value in s.text for s in self.seen if s.where.startswith(prefix))


class Api:
    """The API of a stage with keys, called with the caller's key; every answer is kept."""

    def __init__(self, client: Client, key: str, evidence: Evidence):
        self.client = client
        self.key = key
        self.evidence = evidence

    def call(self, method: str, path: str, body=None, raw: bytes | None = None, headers: dict | None = None,
             key: str | None = None, allows=frozenset()):
        sent = {"Authorization": f"Bearer {key or self.key}", **(headers or {})}
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        if payload and "Content-Type" not in sent:
            sent["Content-Type"] = "application/json"
        response = getattr(self.client.http, method.lower())(path, headers=sent, body=payload)
        where = f"answer to {method} {path} ({response.status_code})"
        self.evidence.add(where + " body", response.body, allows)
        self.evidence.add(where + " headers", dict(response.headers), allows)
        return response

    def ok(self, method: str, path: str, body=None, status: int = 200, **kwargs) -> dict:
        response = self.call(method, path, body, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.body)
        return response.json_body

    def trigger(self, **body) -> str:
        return self.ok("POST", API + "/trigger", {"record_type": "disability", **body})["run_id"]


class Workers:
    """The handlers Lambda calls, fed from the queues; each message and each escaped exception is kept.

    A chunk whose handler raises is moved to the DLQ at once, as SQS does after maxReceiveCount
    failures, and the DLQ handler gets it."""

    def __init__(self, harness, evidence: Evidence):
        self.harness = harness
        self.evidence = evidence

    def run(self) -> None:
        sqs, urls = self.harness.sqs, self.harness.queue_urls
        for _ in range(50):
            moved = 0
            for queue, handler in (("uploads", "handle_upload"), ("work", "process_work"),
                                   ("dlq", "handle_dead_chunk")):
                for message in self.harness.receive(queue):
                    self.evidence.add(f"queue {queue} message {message['MessageId']} (as handled)",
                                      {"Body": message["Body"], "Attributes": message.get("Attributes")})
                    try:
                        self.harness.invoke(message, handler, queue)
                    except Exception as err:  # Lambda logs it, SQS delivers again, then the DLQ takes it
                        self.evidence.add(f"log: {handler} raised (as the Lambda runtime logs it)",
                                          "".join(traceback.format_exception(err)))
                        if queue != "work":
                            raise
                        sqs.send_message(QueueUrl=urls["dlq"], MessageBody=message["Body"])
                    sqs.delete_message(QueueUrl=urls[queue], ReceiptHandle=message["ReceiptHandle"])
                    moved += 1
            if not moved:
                return
        raise AssertionError("the queues did not drain")


class ServiceLines(logging.Handler):
    """The service's log lines exactly as it writes them (its logger does not propagate to the root)."""

    def __init__(self, formatter: logging.Formatter | None):
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter or logging.Formatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


# --------------------------------------------------------------------------- the stage with keys
@pytest.fixture
def keyed_client(harness, monkeypatch):
    monkeypatch.setenv("AUTH", "keys")
    monkeypatch.setenv("ACCESS_TABLE_NAME", ACCESS_TABLE)
    monkeypatch.setenv("UPLOAD_OUTPUT_MODE", "api")
    bootstrap.reset()
    spec = importlib.util.spec_from_file_location("app_with_keys_for_leaks", os.path.join(PROJECT_DIR, "app.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with Client(module.app, stage_name="functional") as client:
        yield client
    bootstrap.reset()


@pytest.fixture
def service_lines():
    # Asked for before capsys: a logger this makes writes to the session's stdout, not to a capsys
    # stream that closes when the test ends.
    from chalicelib import observability
    logger = observability.logger()
    handler = ServiceLines(logger.handlers[0].formatter if logger.handlers else None)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def write(harness, path: str, text: str) -> str:
    full = os.path.join(harness.data_root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    return path


def vault_names() -> set[str]:
    return {s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]}


def flatten(value, path: str = ""):
    """(attribute path, text) of every leaf of a DynamoDB item in its wire form."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"):
            yield path, json.dumps(next(iter(value.values())), default=str)
            return
        for key, inner in value.items():
            yield from flatten(inner, f"{path}.{key}" if path and key not in ("M", "L") else (path or key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from flatten(inner, f"{path}[{i}]")
    else:
        yield path, str(value)


# --------------------------------------------------------------------------- the scenario
def test_no_secret_and_no_personal_value_leaks_anywhere(harness, keyed_client, service_lines, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    evidence = Evidence()
    target_url = os.environ["TARGET_API_URL"]
    requests.put(f"{target_url}/faults", json={"keep_records": True}, timeout=5).raise_for_status()

    def target_accepts(value: str) -> None:
        harness.target.state.token = value  # the sandbox takes one secret, in every credentials form

    # GIVEN an admin key of the service (issued as the admin command does) and secrets of every kind
    _, service_key = KeyStore(boto3.client("dynamodb"), ACCESS_TABLE).issue(
        KeyRequest(tenant="default", role="admin", description="leak search"), created_by="test")
    api = Api(keyed_client, service_key, evidence)
    workers = Workers(harness, evidence)
    credentials = {
        "bearer": {"type": "bearer_token", "token": secret("bearer")},
        "api_key": {"type": "api_key", "header": "X-API-Key", "key": secret("apikey")},
        "basic": {"type": "basic", "username": BASIC_USER, "password": secret("basic")},
        "oauth2": {"type": "oauth2_client_credentials", "token_url": f"{target_url}/oauth/token",
                   "client_id": OAUTH_CLIENT, "client_secret": secret("oauth"), "scope": "records:write"},
    }
    secrets_of = {"bearer": "token", "api_key": "key", "basic": "password", "oauth2": "client_secret"}
    more = {name: secret(name) for name in ("oauth-wrong", "oauth-retry", "validate", "cancel", "pending",
                                            "headerless", "wrong-header", "preview")}
    # AND input files holding people, SSNs (also in free-text columns), names and dates of birth
    inputs = set()

    def input_file(name: str, text: str) -> str:
        inputs.add(write(harness, f"data/input/{name}", text))
        return f"data/input/{name}"

    people = input_file("leak_people.csv", csv_text(people_rows()))
    with_errors = input_file("leak_errors.csv", csv_text(rows_with_errors()))
    headerless = input_file("leak_headerless.csv", csv_text(
        [claim(21, NEVER["H1 headerless first record"]), claim(22, NEVER["H1 headerless first record"])], None))
    w1 = NEVER["W1 under a wrong header"]
    wrong_header = input_file("leak_wrong_header.csv", csv_text(
        [claim(31, w1)], HEADER.replace("SSN", "SOC_SEC_NO").replace("LAST_NAME", w1.last)))
    validate_file = input_file("leak_validate.csv", csv_text([claim(41, NEVER["V1 validate_only"])]))
    cancel_file = input_file("leak_cancel.csv", csv_text([claim(51, NEVER["C1 cancelled"])]))
    before = {os.path.relpath(os.path.join(d, f), harness.data_root)
              for d, _, files in os.walk(harness.data_root) for f in files}

    # WHEN api-mode runs deliver with each credentials type
    runs: dict[str, str] = {}
    for kind, auth in credentials.items():
        target_accepts(auth[secrets_of[kind]])
        runs[kind] = api.trigger(file_path=people, output_mode="api", batch_size=2, authentication=auth)
        name = f"{os.environ['RUN_SECRETS_PREFIX']}{runs[kind]}"
        kept = boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
        assert auth[secrets_of[kind]] in kept, f"the {kind} run's secret is not in the vault: the search would miss"
        workers.run()
        status = api.ok("GET", f"{API}/status/{runs[kind]}?include_details=true")
        assert (status["status"], status["progress"]["success_count"]) == ("completed", 3), status
        assert name not in vault_names(), f"the {kind} run ended, its secret is still in Secrets Manager"
    # AND a file-mode run writes its part files
    runs["file"] = api.trigger(file_path=people, output_mode="file")
    # AND a run with record errors writes an error report
    runs["errors"] = api.trigger(file_path=with_errors, output_mode="file")
    # AND runs fail at planning: a file without its header row, and a wrong header (both with credentials)
    runs["headerless"] = api.trigger(file_path=headerless, output_mode="api",
                                     authentication={"type": "bearer_token", "token": more["headerless"]})
    runs["wrong_header"] = api.trigger(file_path=wrong_header, output_mode="api",
                                       authentication={"type": "basic", "username": BASIC_USER,
                                                       "password": more["wrong-header"]})
    # AND a dry run
    runs["validate_only"] = api.trigger(file_path=validate_file, output_mode="api", validate_only=True,
                                        authentication={"type": "bearer_token", "token": more["validate"]})
    workers.run()
    # AND a run cancelled once planned, before its chunk was processed
    runs["cancelled"] = api.trigger(file_path=cancel_file, output_mode="api",
                                    authentication={"type": "api_key", "key": more["cancel"]})
    plan = harness.receive()
    for message in plan:
        evidence.add(f"queue work message {message['MessageId']} (as handled)", message["Body"])
        harness.deliver(message)
    api.ok("POST", f"{API}/cancel/{runs['cancelled']}")
    workers.run()
    # AND a run whose chunk fails on every attempt (the token URL refuses a wrong client secret), then retried
    target_accepts(more["oauth-retry"])
    oauth = dict(credentials["oauth2"])
    runs["retried"] = api.trigger(file_path=people, output_mode="api",
                                  authentication={**oauth, "client_secret": more["oauth-wrong"]})
    workers.run()
    failed = api.ok("GET", f"{API}/status/{runs['retried']}?include_details=true")
    assert failed["status"] == "failed" and failed["details"]["chunks"]["failed"] == 1, failed
    retried = api.ok("POST", f"{API}/retry/{runs['retried']}",
                     {"authentication": {**oauth, "client_secret": more["oauth-retry"]}})
    assert retried["retried_chunks"] == 1
    workers.run()
    # AND an upload to the bucket starts a run delivered with the stage's own credentials
    target_accepts(TOKEN)
    bucket = os.environ["DATA_BUCKET"]
    upload_key = "incoming/disability/leak-people.csv"
    boto3.client("s3").put_object(Bucket=bucket, Key=upload_key, Body=csv_text(people_rows()).encode())
    workers.run()
    # AND a run cancelled while pending: its plan message stays on the queue
    runs["pending"] = api.trigger(file_path=people, output_mode="api",
                                  authentication={"type": "bearer_token", "token": more["pending"]})
    api.ok("POST", f"{API}/cancel/{runs['pending']}")

    # AND bad requests carry secrets next to their mistakes
    bad = {label: secret(f"bad-{label}") for label in (
        "batch-size", "extra-field", "newline", "list", "header-name", "empty-user", "ftp-url", "metadata-url",
        "unknown-type", "string-auth", "unknown-key", "record-type", "not-json", "repeated", "content-type",
        "too-long", "missing-file", "retry", "cancel-body", "idempotency")}
    base = {"file_path": people, "record_type": "disability", "output_mode": "api"}
    bearer = lambda value: {"type": "bearer_token", "token": value}  # noqa: E731
    refused = [
        ("POST", API + "/trigger", {**base, "authentication": bearer(bad["batch-size"]), "batch_size": 0}),
        ("POST", API + "/trigger", {**base, "authentication": {**bearer(bad["extra-field"]), "extra": "x"}}),
        ("POST", API + "/trigger", {**base, "authentication": bearer(bad["newline"] + "\r\nX-Evil: 1")}),
        ("POST", API + "/trigger", {**base, "authentication": {"type": "bearer_token", "token": [bad["list"]]}}),
        ("POST", API + "/trigger", {**base, "authentication": {"type": "api_key", "header": "X Bad Header",
                                                               "key": bad["header-name"]}}),
        ("POST", API + "/trigger", {**base, "authentication": {"type": "basic", "username": "",
                                                               "password": bad["empty-user"]}}),
        ("POST", API + "/trigger", {**base, "authentication": {**oauth, "token_url": "ftp://target/token",
                                                               "client_secret": bad["ftp-url"]}}),
        ("POST", API + "/trigger", {**base, "authentication": {
            **oauth, "token_url": "http://169.254.169.254/latest/token", "client_secret": bad["metadata-url"]}}),
        ("POST", API + "/trigger", {**base, "authentication": {"type": "bearer", "token": bad["unknown-type"]}}),
        ("POST", API + "/trigger", {**base, "authentication": bad["string-auth"]}),
        ("POST", API + "/trigger", {**base, "authentication": bearer(bad["unknown-key"]), "priority": "high"}),
        ("POST", API + "/trigger", {**base, "authentication": bearer(bad["record-type"]), "record_type": "pension"}),
        ("POST", API + "/trigger", {**base, "authentication": bearer(bad["too-long"] + "x" * 9000)}),
        ("POST", API + "/trigger", {**base, "authentication": bearer(bad["missing-file"]),
                                    "file_path": "data/input/no-such-file.csv"}),
        ("POST", f"{API}/retry/{runs['retried']}", {"authentication": {**bearer(bad["retry"]), "x": 1}}),
        ("POST", "/api/v1/keys", {"role": "viewer", "description": f"for {service_key}\r\n"}),
    ]
    for method, path, body in refused:
        answer = api.call(method, path, body)
        assert answer.status_code == 422, (path, body, answer.status_code, answer.body)
    raw_refusals = [
        (b'{"file_path": "x", "authentication": {"type": "bearer_token", "token": "' + bad["not-json"].encode(),
         {}, 400),
        (json.dumps(base)[:-1].encode() + b', "authentication": {"type": "bearer_token", "token": "'
         + bad["repeated"].encode() + b'", "token": "' + bad["repeated"].encode() + b'2"}}', {}, 400),
        (json.dumps({**base, "authentication": bearer(bad["content-type"])}).encode(),
         {"Content-Type": "text/plain"}, 415),
        (json.dumps(base).encode(), {"Idempotency-Key": bad["idempotency"] * 8}, 422),
    ]
    for raw, headers, status in raw_refusals:
        answer = api.call("POST", API + "/trigger", raw=raw, headers=headers)
        assert answer.status_code == status, (raw[:80], answer.status_code, answer.body)
    answer = api.call("POST", f"{API}/cancel/{runs['cancelled']}",
                      raw=json.dumps({"token": bad["cancel-body"]}).encode())
    assert answer.status_code == 422, answer.body
    forged = service_key[:-4] + ("AAAA" if not service_key.endswith("AAAA") else "BBBB")
    assert api.call("GET", API, key=forged).status_code == 403
    assert api.call("GET", API, key=service_key + "x").status_code in (401, 403)
    # AND an admin issues a key through the API: the one answer where that key belongs
    issued = api.call("POST", "/api/v1/keys", {"role": "viewer", "description": "auditors"},
                      allows={"issued key", "issued key's secret"})
    assert issued.status_code == 201 and issued.headers.get("Cache-Control") == "no-store", issued.body
    issued_key = issued.json_body["key"]

    # AND everything users read is read: status, audit and every error-report page of every run, lists, keys
    all_runs = api.ok("GET", f"{API}?limit=200")["migrations"]
    assert len(all_runs) == len(runs) + 1, [r["file_path"] for r in all_runs]  # + the upload's run
    for run in all_runs:
        api.ok("GET", f"{API}/status/{run['run_id']}?include_details=true")
        api.ok("GET", f"{API}/{run['run_id']}/audit")
        offset = 0
        while offset is not None:
            offset = api.ok("GET", f"{API}/{run['run_id']}/errors?offset={offset}&limit=2")["next_offset"]
    api.ok("GET", f"{API}/running")
    api.ok("GET", "/api/v1/keys")
    api.ok("GET", "/api/v1/record-types")
    api.call("GET", "/")
    # AND previews show the people's records and the rejected ones, masked, and fail on a wrong header
    for previewed, status in ((people, 200), (with_errors, 200), (wrong_header, 422)):
        assert api.call("POST", API + "/preview?records=20", {
            "file_path": previewed, "record_type": "disability", "output_mode": "api",
            "authentication": {"type": "bearer_token", "token": more["preview"]}}).status_code == status

    # THEN the runs ended as expected, and every run's own secret left the vault when it ended
    statuses = {name: api.ok("GET", f"{API}/status/{run_id}")["status"] for name, run_id in runs.items()}
    assert statuses == {"bearer": "completed", "api_key": "completed", "basic": "completed",
                        "oauth2": "completed", "file": "completed", "errors": "failed", "headerless": "failed",
                        "wrong_header": "failed", "validate_only": "completed", "cancelled": "cancelled",
                        "retried": "completed", "pending": "cancelled"}, statuses
    assert vault_names() == {os.environ["TARGET_CREDENTIALS_SECRET"]}, \
        f"secrets left in Secrets Manager after every run ended: {sorted(vault_names())}"
    errors_page = api.ok("GET", f"{API}/{runs['errors']}/errors?limit=100")
    assert {e["rule"] for e in errors_page["errors"]} >= {"ssn_format", "required", "date_format", "pattern",
                                                         "max_length"}, errors_page

    # --------------------------------------------------------------- what is searched for
    secrets = {f"{kind} secret": auth[secrets_of[kind]] for kind, auth in credentials.items()}
    secrets |= {f"{name} secret": value for name, value in more.items()}
    secrets |= {f"bad request's {name} secret": value for name, value in bad.items()}
    secrets["basic secret, base64 as on the wire"] = base64.b64encode(
        f"{BASIC_USER}:{credentials['basic']['password']}".encode()).decode()
    secrets |= {"service key": service_key, "service key's secret": service_key.split("_", 2)[2],
                "issued key": issued_key, "issued key's secret": issued_key.split("_", 2)[2],
                "stage's default target token": TOKEN}
    secrets |= {f"target's OAuth access token {i}": token
                for i, token in enumerate(harness.target.state.access_tokens)}
    personal = {label: value for who, person in DELIVERED.items() for label, value in person.needles(who).items()}
    personal |= {f"{who} SSN in free text {ssn}": ssn for who, (ssn, _) in FREE_TEXT_SSNS.items()}
    never = {label: value for who, person in NEVER.items() for label, value in person.needles(who).items()}
    never |= {f"{who} stray SSN {value}": value for who, value in STRAY_SSNS.items()}
    never |= {f"{who} stray SSN without separators": value.replace("-", "").replace(" ", "")
              for who, value in STRAY_SSNS.items()}

    # --------------------------------------------------------------- collect everything else
    collect_stores(harness, evidence, inputs | before, bucket, upload_key, runs, delivered=set(personal))
    kept = requests.get(f"{target_url}/records/{ENDPOINT}", timeout=5).json()["records"]
    evidence.add("delivered: records the target received", kept, allows=personal)
    for line in service_lines.lines:
        evidence.add(f"log: service line {line[:60]}", line)
    for record in caplog.records:
        failure = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        text = f"{record.getMessage()} {getattr(record, 'fields', '')} {failure}"
        if record.name.split(".")[0] in LIBRARY_LOGGERS and record.levelno < logging.INFO:
            # a library's wire trace: the vault's own traffic (botocore prints Secrets Manager's
            # parameters and answers) is where secrets belong; personal values still do not
            evidence.add(f"log: {record.name} {record.levelname} (library wire trace)", text, allows=secrets)
        else:
            evidence.add(f"log: {record.name} {record.levelname} (root logger)", text)
    out = capsys.readouterr()
    evidence.add("log: stdout", out.out)
    evidence.add("log: stderr", out.err)

    # --------------------------------------------------------------- search
    # The search finds what is there: the people's values in the delivered documents, the issued key
    # in the one answer that shows it (the runs' secrets were found in the vault above).
    as_delivered = {value: f"{who}'s {what}" for who, p in DELIVERED.items() for what, value in (
        ("SSN as nine digits", p.ssn.replace("-", "")), ("last name", p.last), ("first name", p.first),
        ("date of birth", f"{p.dob[:4]}-{p.dob[4:6]}-{p.dob[6:]}"))}
    as_delivered |= {ssn: f"{who}'s SSN in free text" for who, (ssn, _) in FREE_TEXT_SSNS.items()}
    for value, what in as_delivered.items():
        assert evidence.found_in(value, "delivered: records the target"), f"{what} not in what the target got"
        assert evidence.found_in(value, "delivered: file part"), f"{what} not in the file-mode run's parts"
    assert evidence.found_in(issued_key, "answer to POST /api/v1/keys (201)")
    assert len(evidence.seen) > 500, f"only {len(evidence.seen)} things were collected: the search saw too little"

    leaks = {"secrets": evidence.hits(secrets),
             "delivered people's values outside the delivered documents": evidence.hits(personal),
             "values of records never delivered": evidence.hits(never)}
    assert not any(leaks.values()), "leaks found:\n" + "\n".join(
        f"{kind} ({len(hits)}):\n  " + "\n  ".join(hits[:25]) for kind, hits in leaks.items() if hits)


def collect_stores(harness, evidence: Evidence, inputs: set[str], bucket: str, upload_key: str,
                   runs: dict[str, str], delivered: set[str]) -> None:
    """Every table item, every message left on a queue, every file written, every bucket object."""
    db = boto3.client("dynamodb")
    for table in db.list_tables()["TableNames"]:
        for page in db.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                name = f"{item.get('pk', {}).get('S', '?')}/{item.get('sk', {}).get('S', '?')}"
                for path, text in flatten(item):
                    evidence.add(f"table {table} item {name} field {path}", text)
    for queue, url in harness.queue_urls.items():
        seen_ids = set()
        while True:
            got = harness.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                              AttributeNames=["All"], MessageAttributeNames=["All"])
            fresh = [m for m in got.get("Messages", []) if m["MessageId"] not in seen_ids]
            if not fresh:
                break
            for message in fresh:
                seen_ids.add(message["MessageId"])
                evidence.add(f"queue {queue} message {message['MessageId']} (left on the queue)", message)
    assert any(w.where.startswith("queue work") and "left on the queue" in w.where for w in evidence.seen), \
        "the pending run's plan message should still be on the work queue"
    delivered_parts = []
    for folder, _, files in os.walk(harness.data_root):
        for name in files:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, harness.data_root)
            if relative in inputs:
                continue
            parts = relative.split(os.sep)
            is_part = len(parts) >= 2 and parts[-2] in runs.values() and name.startswith("part-") \
                and name.endswith(".jsonl")
            with open(full, "rb") as f:
                content = f.read()
            if is_part:
                delivered_parts.append(relative)
                evidence.add(f"delivered: file part {relative}", content, allows=delivered)
            else:
                evidence.add(f"file {relative}", content)
    assert delivered_parts, "the file-mode run wrote no part file"
    s3 = boto3.client("s3")
    for listed in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=listed["Name"]):
            for obj in page.get("Contents", []):
                if (listed["Name"], obj["Key"]) == (bucket, upload_key):
                    continue
                body = s3.get_object(Bucket=listed["Name"], Key=obj["Key"])["Body"].read()
                evidence.add(f"bucket {listed['Name']} object {obj['Key']}", body)


def test_a_refused_content_type_does_not_echo_what_it_holds(harness, keyed_client):
    # GIVEN a client that mixed up its headers: its token went into Content-Type
    _, service_key = KeyStore(boto3.client("dynamodb"), ACCESS_TABLE).issue(
        KeyRequest(tenant="default", role="operator"), created_by="test")
    token = secret("content-type")
    # WHEN it triggers a run
    answer = keyed_client.http.post(API + "/trigger", body=b"{}", headers={
        "Authorization": f"Bearer {service_key}", "Content-Type": f"Bearer {token}"})
    # THEN the 415 says what is wrong without quoting the header
    assert answer.status_code == 415
    assert token not in answer.body.decode(), f"the 415 echoes the Content-Type header: {answer.body!r}"
