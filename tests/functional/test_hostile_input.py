"""Hostile or careless input, on every endpoint and field: a clear 4xx that changes nothing.

Each case sends one bad request to the app (chalice.test.Client, moto) and checks that the answer is a
4xx of the form {"detail": "..."} naming what was refused, that it quotes the caller's input only cut
short (errors.cut), and that the request left no trace: the runs table, every queue, Secrets Manager,
the data bucket and the files under the data root are as they were before it.

The cases share one emulated stack for the module (its set-up is the slow part of a functional test):
a case that passes changes nothing, so they cannot disturb one another, and a case that fails is seen
by its own before/after comparison. What input at every bound does to the endpoints every caller
shares (/running, the list, the reaper) is checked in test_bad_input.py, where runs may be made.
"""
from __future__ import annotations

import json
import os
import shutil

import boto3
import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib.api import MAX_BODY_BYTES, MAX_BODY_DEPTH, chalice_refusals_as_details
from chalicelib.credentials import CREDENTIAL_TYPES
from local_stack.environment import PROJECT_DIR
from tests.functional.conftest import STAGE, Harness, functional_stage
from tests.functional.test_migration_api import HEADER, record, write

API = "/api/v1/migrations"
TRIGGER = API + "/trigger"
SAMPLE = "data/input/sample_disability_data.csv"
GOOD = {"file_path": SAMPLE, "record_type": "disability", "output_mode": "file"}
UNKNOWN_RUN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
JSON_HEADERS = {"Content-Type": "application/json"}
ECHO = 61  # the most characters of the caller's input a detail quotes: 60 and an ellipsis


# ------------------------------------------------------------------------------ one stack for the module

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The functional harness (tests/functional/conftest.py), set up once for this module, with a run
    that has finished (for retry) and a link out of the data root (for output_dir)."""
    data_root = tmp_path_factory.mktemp("hostile") / "root"
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), data_root / "data" / "input")
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, data_root / "data" / "link-out")
    with pytest.MonkeyPatch.context() as monkeypatch, functional_stage(data_root, monkeypatch) as harness:
        # made once: a boto3 client takes longer to make than the calls a snapshot makes with it
        harness.clients = {name: boto3.client(name) for name in ("sqs", "dynamodb", "secretsmanager", "s3")}
        write(harness, "data/input/small.csv", HEADER + "\n" + record(1) + "\n")
        harness.finished_run = harness.run_to_end(**{**GOOD, "file_path": "data/input/small.csv"})["run_id"]
        for message in harness.receive("uploads"):  # S3's test event, sent when the emulator set up
            harness.sqs.delete_message(QueueUrl=harness.queue_urls["uploads"],
                                       ReceiptHandle=message["ReceiptHandle"])
        yield harness


def traces(stack: Harness) -> dict:
    """Everything a request could have left behind."""
    sqs, dynamodb, secretsmanager, s3 = (stack.clients[name] for name in ("sqs", "dynamodb", "secretsmanager", "s3"))
    queues = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        bodies = []
        if any(count != "0" for count in counts.values()):
            # Peeked, not taken: visible again at once (queues here are empty unless a request leaked).
            bodies = sorted(m["Body"] for m in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages", []))
        queues[url] = (counts, bodies)
    items = [item for page in dynamodb.get_paginator("scan").paginate(
        TableName=os.environ["RUNS_TABLE_NAME"], ConsistentRead=True) for item in page["Items"]]
    secrets = [s["Name"] for page in secretsmanager.get_paginator("list_secrets").paginate(
        IncludePlannedDeletion=True) for s in page["SecretList"]]
    objects = {bucket["Name"]: [(o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket["Name"]).get(
        "Contents", [])] for bucket in s3.list_buckets()["Buckets"]}
    files = []
    for folder, _, names in os.walk(stack.data_root):
        for name in names:
            status = os.lstat(os.path.join(folder, name))
            files.append((os.path.relpath(os.path.join(folder, name), stack.data_root), status.st_size,
                          status.st_mtime_ns))
    return {"runs": sorted(json.dumps(item, sort_keys=True) for item in items), "queues": queues,
            "secrets": sorted(secrets), "objects": objects, "files": sorted(files)}


def refused(stack: Harness, method: str, path: str, body: bytes = b"", headers: dict | None = None,
            status: int | tuple = (400, 422)):
    """Send one request; it must be refused with `status` and {"detail": ...}, and leave no trace."""
    before = traces(stack)
    response = stack.client.http.request(method, path, body=body, headers=headers or {})
    after = traces(stack)
    expected = status if isinstance(status, tuple) else (status,)
    assert response.status_code in expected, (response.status_code, response.body[:300])
    assert isinstance(response.json_body, dict) and set(response.json_body) == {"detail"}, response.body[:300]
    assert after == before, "the refused request left a trace"
    detail = response.json_body["detail"]
    # what the caller sent comes back cut short and printable, whatever its size or bytes
    assert isinstance(detail, str) and len(detail) < 300 and detail.isprintable(), detail
    return detail


def as_json(body) -> bytes:
    return json.dumps(body).encode()


def trigger_refused(stack: Harness, body, headers: dict | None = None, status: int | tuple = 422) -> str:
    raw = body if isinstance(body, bytes) else as_json(body)
    return refused(stack, "POST", TRIGGER, raw, {**JSON_HEADERS, **(headers or {})}, status)


# ------------------------------------------------------------------------------ the body as a whole

@pytest.mark.parametrize("raw, status, detail", [
    (b"{not json", 400, "request body is not valid JSON: JSONDecodeError at position 1"),
    (b"", 400, "request body is empty"),
    (b"   ", 400, "request body is not valid JSON"),
    (b'{"file_path": "x"', 400, "request body is not valid JSON"),
    (b"\xff\xfe{}", 400, "request body is not UTF-8: undecodable byte at position 0"),
    ('{"file_path": "x"}'.encode("utf-16"), 400, "request body is not UTF-8"),
    (b"\xef\xbb\xbf" + as_json(GOOD), 400, "request body is not valid JSON"),  # a byte-order mark
    (b"[1, 2]", 422, "body: must be a JSON object"),
    (b'"text"', 422, "body: must be a JSON object"),
    (b"3", 422, "body: must be a JSON object"),
    (b"null", 422, "body: must be a JSON object"),
    (b"true", 422, "body: must be a JSON object"),
    # nested past reason: Python's json would recurse once per level (a RecursionError, or worse)
    (b"[" * 100_000, 400, f"request body is nested more than {MAX_BODY_DEPTH} levels deep"),
    (b'{"a":' * 50_000, 400, f"request body is nested more than {MAX_BODY_DEPTH} levels deep"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested more than"),
    (as_json({**GOOD, "metadata": {"a": json.loads("[" * 12 + "]" * 12)}}), 400, "nested more than"),
    # a bracket inside a string nests nothing
    (as_json({**GOOD, "output_mode": "[[[[[[[[[[[[[[[[", "metadata": {"k": "{{{{{{{{{{{{{{{{{{{{"}}), 422,
     "output_mode: must be one of api, file"),
    # which of two values would count is unclear: another parser may read the other one
    (b'{"file_path": "data/input/x.csv", "file_path": "../../etc/passwd", "record_type": "disability"}', 400,
     "request body gives the key 'file_path' twice in one object"),
    (b'{"metadata": {"a": 1, "a": 2}}', 400, "gives the key 'a' twice"),
    # numbers Python reads but nothing can keep
    (as_json(GOOD)[:-1] + b', "max_error_rate": NaN}', 422, "max_error_rate: must be a number from 0 to 1"),
    (as_json(GOOD)[:-1] + b', "max_error_rate": -Infinity}', 422, "max_error_rate: must be a number from 0 to 1"),
    (as_json(GOOD)[:-1] + b', "max_error_rate": 1e999}', 422, "max_error_rate: must be a number from 0 to 1"),
    (as_json({**GOOD, "batch_size": 10 ** 100}), 422, "batch_size: must be between 1 and 1000"),
    (as_json(GOOD)[:-1] + b', "batch_size": ' + b"9" * 5000 + b"}", 400,
     "request body holds a number of more than 4300 digits"),
])
def test_a_body_that_cannot_be_read_is_a_4xx_naming_why(stack, raw, status, detail):
    assert detail in trigger_refused(stack, raw, status=status)


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 10 * 1024 * 1024])
def test_a_body_over_the_limit_is_a_413(stack, size):
    head, tail = b'{"metadata": {"pad": "', b'"}}'
    raw = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(raw) == size
    detail = trigger_refused(stack, raw, status=413)
    assert detail == "request body is larger than 256 KiB (262144 bytes)"


def test_a_body_at_the_limit_is_read(stack):
    raw = as_json({**GOOD, "output_mode": "ftp"})
    raw = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + b"}"  # whitespace between tokens is JSON
    assert len(raw) == MAX_BODY_BYTES
    # read, then refused for its field, not for its size
    assert trigger_refused(stack, raw) == "output_mode: must be one of api, file"


# ------------------------------------------------------------------------------ Content-Type

@pytest.mark.parametrize("headers", [
    {},  # Chalice takes a missing Content-Type for JSON: the body is still refused
    {"Content-Type": "*/*"},
    {"Content-Type": "text/plain, application/json"},
    {"Content-Type": "application/json; charset=utf-16"},
])
def test_a_body_not_sent_as_json_is_a_415(stack, headers):
    detail = refused(stack, "POST", TRIGGER, as_json(GOOD), headers, status=415)
    assert detail.startswith("Content-Type: ")


@pytest.mark.parametrize("content_type", ["Application/JSON; charset=UTF-8", "application/json;charset=utf8"])
def test_json_is_json_whatever_its_case_and_charset(stack, content_type):
    detail = refused(stack, "POST", TRIGGER, as_json({**GOOD, "output_mode": "ftp"}), {"Content-Type": content_type})
    assert detail == "output_mode: must be one of api, file"


NOT_JSON = ["text/plain", "application/x-www-form-urlencoded", "application/json-patch+json",
            "application/octet-stream"]


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_trigger_takes_json_only(stack, content_type):
    before = traces(stack)
    response = stack.client.http.post(TRIGGER, body=as_json(GOOD), headers={"Content-Type": content_type})
    # Chalice refuses these itself, before any view runs
    assert response.status_code == 415
    assert traces(stack) == before


@pytest.mark.parametrize("path", [f"{API}/retry/{UNKNOWN_RUN}", f"{API}/cancel/{UNKNOWN_RUN}"])
@pytest.mark.parametrize("content_type", NOT_JSON)
def test_cancel_and_retry_take_a_body_as_json_only(stack, path, content_type):
    detail = refused(stack, "POST", path, b"{}", {"Content-Type": content_type}, status=415)
    assert detail == "Content-Type: a request body must be sent as application/json"


@pytest.mark.parametrize("path", [f"{API}/retry/{UNKNOWN_RUN}", f"{API}/cancel/{UNKNOWN_RUN}"])
@pytest.mark.parametrize("content_type", [None, *NOT_JSON])
def test_cancel_and_retry_without_a_body_take_any_content_type(stack, path, content_type):
    # as clients send them: curl -X POST none, aiohttp application/octet-stream, curl -d '' a form type
    headers = {"Content-Type": content_type} if content_type else {}
    assert refused(stack, "POST", path, b"", headers, status=404) == f"Migration run not found: {UNKNOWN_RUN}"


def test_chalice_s_own_415_is_a_detail_too(stack):
    response = stack.client.http.post(TRIGGER, body=b"x", headers={"Content-Type": "text/plain" + "x" * 5000})
    assert response.json_body == {"detail": "Content-Type: a request body must be sent as application/json"}


def test_the_middleware_puts_chalice_s_refusals_in_the_api_s_words():
    # GIVEN an app with the middleware and a JSON-only route
    demo = Chalice(app_name="demo")
    demo.register_middleware(chalice_refusals_as_details, "http")

    @demo.route("/things", methods=["POST"], content_types=["application/json"])
    def things():
        return {"ok": True}

    with Client(demo) as client:
        # WHEN a body comes as something else, with a long header
        refused_answer = client.http.post("/things", body=b"x", headers={"Content-Type": "text/" + "x" * 5000})
        accepted = client.http.post("/things", body=b"{}", headers=JSON_HEADERS)
    # THEN the 415 is a detail that does not quote the header, and other answers pass untouched
    assert refused_answer.status_code == 415
    assert refused_answer.json_body == {"detail": "Content-Type: a request body must be sent as application/json"}
    assert accepted.status_code == 200 and accepted.json_body == {"ok": True}


# ------------------------------------------------------------------------------ every field, wrong types

def wrong_types(field_path: str, *good: object) -> list:
    """(field path, a value of another JSON type) for each JSON type the field does not take."""
    values = ["text", 5, 1.5, True, [], {}, ["text"], {"a": 1}]
    return [pytest.param(field_path, v, id=f"{field_path}={json.dumps(v)}") for v in values
            if not any(type(v) is type(g) for g in good)]


REQUEST_FIELDS = (
    wrong_types("file_path", "")
    + wrong_types("record_type", "")
    + wrong_types("output_mode", "")
    + wrong_types("output_dir", "")
    + wrong_types("batch_size", 1)
    + wrong_types("authentication", {})
    + wrong_types("metadata", {})
    + wrong_types("max_error_rate", 1.5, 1)
    + wrong_types("input_format", {})
    + wrong_types("validate_only", True)
    + wrong_types("input_format.type", "")
    + wrong_types("input_format.delimiter", "")
    + wrong_types("input_format.header", True)
    + wrong_types("input_format.encoding", "")
    + wrong_types("input_format.record_separator", "")
    + wrong_types("input_format.recfm", "")
)


def with_value(field_path: str, value) -> dict:
    body = json.loads(json.dumps(GOOD))
    if field_path.startswith("input_format."):
        fixed = {"type": "fixed_width", "encoding": "cp037"}  # where recfm applies
        body["input_format"] = {**fixed, field_path.split(".", 1)[1]: value}
    else:
        body[field_path] = value
    return body


@pytest.mark.parametrize("field_path, value", REQUEST_FIELDS)
def test_a_value_of_the_wrong_type_is_refused_not_defaulted(stack, field_path, value):
    detail = trigger_refused(stack, with_value(field_path, value))
    assert detail.startswith(f"{field_path}: ") or detail.startswith(f"{field_path}."), detail


def credentials_cases() -> list:
    cases = []
    for kind, model in CREDENTIAL_TYPES.items():
        fields = [name for name in model.model_fields if name != "type"]
        for field in fields:
            for value in (5, True, [], {}, None, ""):
                if value is None and not model.model_fields[field].is_required():
                    continue  # null is the default of an optional credentials field
                cases.append(pytest.param(kind, field, value, id=f"{kind}.{field}={json.dumps(value)}"))
    return cases


def good_credentials(kind: str) -> dict:
    return {"bearer_token": {"type": "bearer_token", "token": "t"},
            "api_key": {"type": "api_key", "key": "k"},
            "basic": {"type": "basic", "username": "u", "password": "p"},
            "oauth2_client_credentials": {"type": "oauth2_client_credentials", "token_url": "https://auth.example/t",
                                          "client_id": "c", "client_secret": "s"}}[kind]


@pytest.mark.parametrize("kind, field, value", credentials_cases())
def test_every_credentials_field_of_every_type_refuses_a_wrong_value(stack, kind, field, value):
    authentication = {**good_credentials(kind), field: value}
    detail = trigger_refused(stack, {**GOOD, "output_mode": "api", "authentication": authentication})
    assert detail.startswith(f"authentication.{field}: "), detail


@pytest.mark.parametrize("authentication, detail", [
    ({"token": "t"}, "authentication.type: must be one of"),
    ({"type": 5, "token": "t"}, "authentication.type: must be one of"),
    ({"type": "BEARER_TOKEN", "token": "t"}, "authentication.type: must be one of"),
    ({"type": "bearer_token", "token": "t", "TOKEN": "u"}, "authentication.TOKEN: unknown field for bearer_token"),
    ({"type": "bearer_token", "token": "t" * 9000}, "authentication.token: must be at most 8192 characters"),
    ({"type": "bearer_token"}, "authentication.token: "),
])
def test_credentials_of_no_known_shape_are_refused(stack, authentication, detail):
    assert trigger_refused(stack, {**GOOD, "output_mode": "api", "authentication": authentication}).startswith(detail)


@pytest.mark.parametrize("body, detail", [
    ({**GOOD, "Record_Type": "claim"}, "Record_Type: unknown field (allowed: "),
    ({**GOOD, "file_path ": "x"}, "file_path : unknown field"),
    ({**GOOD, "input_format": {"type": "delimited", "quote": "'"}}, "input_format.quote: unknown field"),
    ({**GOOD, "x" * 10_000: 1}, "x" * 60 + "…: unknown field"),
    ({**GOOD, "metadata": {"k" * 100: 1}}, "metadata: key '" + "k" * 16 + "…' is longer than 64 characters"),
    ({**GOOD, "metadata": {"a": "\ud800"}}, "metadata: the value at a holds a lone surrogate"),
    ({**GOOD, "metadata": {"\udfff": "x"}}, "metadata: a key holds a lone surrogate"),
    ({**GOOD, "metadata": {"pad": "x" * 5000}}, "metadata: must be at most 4096 bytes as JSON"),
    ({**GOOD, "record_type": "\ud800"}, "record_type: holds a lone surrogate"),
    ({**GOOD, "record_type": "r" * 65}, "record_type: must be at most 64 characters"),
    ({**GOOD, "record_type": "disability\x00"}, "record_type: unknown record type 'disability\ufffd'"),
    ({**GOOD, "input_format": {"encoding": "x" * 1000}}, "input_format.encoding: must be one of"),
    ({**GOOD, "output_mode": "API"}, "output_mode: must be one of api, file"),
])
def test_unknown_fields_and_values_nothing_can_keep_are_refused(stack, body, detail):
    assert trigger_refused(stack, body).startswith(detail)


# ------------------------------------------------------------------------------ paths

TRAVERSALS = [
    "../x.csv", "data/../../x.csv", "data/input/../../../etc/passwd", "/etc/passwd", "~/x.csv", "C:/x.csv",
    "C:\\x.csv", "data\\..\\..\\x.csv", "s3://other-bucket/x.csv", "s3://other-bucket/", "S3://other-bucket/x.csv",
    f"s3://records-migration-data-{STAGE}-123456789012/../x.csv", "file:///etc/passwd", "https://example.com/x.csv",
    "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fetc%2fpasswd", "%252e%252e/x.csv", "data/input/%00.csv",
    "..%c0%af..%c0%afetc", "data/input/x.csv\x00.txt", "data/\x00", "data/input/\r\nx.csv", ".", "./", "",
    "d/" + "x" * 2000,
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_a_file_path_out_of_the_data_root_is_refused(stack, path):
    detail = trigger_refused(stack, {**GOOD, "file_path": path})
    assert detail.startswith("file_path: ") and len(detail) < 200


@pytest.mark.parametrize("path", TRAVERSALS + ["incoming/claim", "./incoming", "data/link-out",
                                               "data/link-out/deeper"])
def test_an_output_dir_out_of_the_data_root_is_refused(stack, path):
    detail = trigger_refused(stack, {**GOOD, "output_dir": path})
    assert detail.startswith("output_dir: ")


def test_a_file_path_not_found_is_quoted_cut_short(stack):
    path = "data/input/" + "n" * 200 + ".csv"
    detail = trigger_refused(stack, {**GOOD, "file_path": path})
    assert detail == "file_path: file not found: " + path[:60] + "…"


def test_another_bucket_is_quoted_cut_short(stack):
    detail = trigger_refused(stack, {**GOOD, "file_path": "s3://" + "b" * 300 + "/x.csv"})
    assert detail == "file_path: bucket '" + "b" * 60 + "…' is not this stage's data bucket"


# ------------------------------------------------------------------------------ headers

@pytest.mark.parametrize("key", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "tab\there", "", "k" * 256,
                                 "ключ", "a\x7fb", "\u2028"])
def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(stack, key):
    detail = trigger_refused(stack, GOOD, headers={"Idempotency-Key": key})
    assert detail == "Idempotency-Key: must be 1 to 255 printable ASCII characters (no line breaks)"


# ------------------------------------------------------------------------------ ids in paths

ODD_IDS = [UNKNOWN_RUN, "not-a-run-id", UNKNOWN_RUN.upper(), "{" + UNKNOWN_RUN + "}", "x" * 5000, "..", "%2e%2e",
           "..%2F..%2Fetc%2Fpasswd", "%00", "a%0d%0aX-Injected:%201", "' OR '1'='1", "☃", "%F0%9F%92%A9" * 30,
           "__proto__"]


@pytest.mark.parametrize("run_id", ODD_IDS)
@pytest.mark.parametrize("method, template", [
    ("GET", API + "/status/{}"), ("GET", API + "/status/{}?include_details=true"), ("POST", API + "/cancel/{}"),
    ("POST", API + "/retry/{}"), ("GET", API + "/{}/errors"), ("GET", API + "/{}/errors?offset=5&limit=10"),
])
def test_an_unknown_or_malformed_run_id_is_a_404_quoting_it_cut_short(stack, run_id, method, template):
    detail = refused(stack, method, template.format(run_id), status=404)
    assert detail.startswith("Migration run not found: ")
    assert len(detail) <= len("Migration run not found: ") + ECHO


@pytest.mark.parametrize("record_type", ["nosuch", "DISABILITY", "disability%00", "..", "%2e%2e", "__class__",
                                         "constructor", "x" * 5000, "☃", "a%0d%0ab"])
def test_an_unknown_record_type_s_layout_is_a_404_quoting_it_cut_short(stack, record_type):
    detail = refused(stack, "GET", f"/api/v1/record-types/{record_type}/layout", status=404)
    assert detail.startswith("No record type: ") and len(detail) <= len("No record type: ") + ECHO


def test_a_record_type_without_a_layout_is_a_404(stack):
    types = stack.get("/api/v1/record-types").json_body["record_types"]
    delimited_only = next(t["record_type"] for t in types if t["input_formats"] == ["delimited"])
    detail = refused(stack, "GET", f"/api/v1/record-types/{delimited_only}/layout", status=404)
    assert detail == f"No fixed-width layout for record type: {delimited_only}"


# ------------------------------------------------------------------------------ query parameters

@pytest.mark.parametrize("path, detail", [
    *[(f"{API}?limit={value}", "limit: must be ") for value in
      ["0", "201", "-1", "abc", "1.5", "1e3", "1_0", "%2B5", "%205", "%D9%A1%D9%A2", "%EF%BC%91", "9" * 50, "",
       "0x10", "1%00"]],
    *[(f"{API}/{UNKNOWN_RUN}/errors?{query}", detail) for query, detail in [
        ("offset=-1", "offset: must be between 0 and 1000000000"), ("offset=1000000001", "offset: must be between"),
        ("offset=x", "offset: must be an integer"), ("limit=0", "limit: must be between 1 and 1000"),
        ("limit=1001", "limit: must be between 1 and 1000"), ("limit=%E2%85%A0", "limit: must be an integer")]],
    *[(f"{API}/status/{UNKNOWN_RUN}?include_details={value}", "include_details: must be true or false")
      for value in ["yes", "2", "", "true%00", "t" * 1000]],
])
def test_a_query_parameter_of_the_wrong_type_or_out_of_range_is_a_422(stack, path, detail):
    assert refused(stack, "GET", path, status=422).startswith(detail)


# ------------------------------------------------------------------------------ cancel and retry

@pytest.mark.parametrize("body, headers, status, detail", [
    (as_json({"reason": "because"}), JSON_HEADERS, 422,
     "request body: cancel takes no body; send the request without one"),
    (b"null", JSON_HEADERS, 422, "request body: cancel takes no body"),
    (b"[]", JSON_HEADERS, 422, "request body: cancel takes no body"),
    (b"x", JSON_HEADERS, 400, "request body is not valid JSON"),
    (b"{}", {}, 415, "Content-Type: a request body must be sent as application/json"),
    (b"[" * 100_000, JSON_HEADERS, 400, "request body is nested more than"),
])
def test_cancel_takes_no_body(stack, body, headers, status, detail):
    for run_id in (stack.finished_run, UNKNOWN_RUN):
        assert refused(stack, "POST", f"{API}/cancel/{run_id}", body, headers, status=status).startswith(detail)


def test_cancel_takes_an_empty_json_object_for_no_body(stack):
    # what many clients send with every POST: it asks for nothing
    detail = refused(stack, "POST", f"{API}/cancel/{UNKNOWN_RUN}", b"{}", JSON_HEADERS, status=404)
    assert detail == f"Migration run not found: {UNKNOWN_RUN}"


@pytest.mark.parametrize("raw, headers, status, detail", [
    (as_json({"authentication": None}), {}, 415, "Content-Type: a request body must be sent as application/json"),
    (b"{not json", JSON_HEADERS, 400, "request body is not valid JSON"),
    (b"[" * 100_000, JSON_HEADERS, 400, "request body is nested more than"),
    (b'{"authentication": {"type": "bearer_token", "token": "' + b"t" * MAX_BODY_BYTES + b'"}}', JSON_HEADERS, 413,
     "request body is larger than 256 KiB"),
    (b'{"authentication": null, "authentication": {}}', JSON_HEADERS, 400, "gives the key 'authentication' twice"),
    (as_json([1]), JSON_HEADERS, 422, "body: only 'authentication' and 'notify' may be given to a retry"),
    (as_json("x"), JSON_HEADERS, 422, "body: only 'authentication' and 'notify' may be given to a retry"),
    (as_json({"batch_size": 5}), JSON_HEADERS, 422, "body: only 'authentication' and 'notify' may be given to a retry"),
    (as_json({"authentication": "token"}), JSON_HEADERS, 422, "authentication: must be an object"),
    (as_json({"authentication": 5}), JSON_HEADERS, 422, "authentication: must be an object"),
    (as_json({"authentication": []}), JSON_HEADERS, 422, "authentication: must be an object"),
    (as_json({"authentication": {"type": "kerberos"}}), JSON_HEADERS, 422, "authentication.type: must be one of"),
    (as_json({"authentication": {"type": "bearer_token"}}), JSON_HEADERS, 422, "authentication.token: "),
    (as_json({"authentication": {"type": "bearer_token", "token": 5}}), JSON_HEADERS, 422, "authentication.token: "),
    (as_json({"authentication": {"type": "bearer_token", "token": "a\r\nb"}}), JSON_HEADERS, 422,
     "authentication.token: must hold printable ASCII characters only"),
    (as_json({"authentication": {"type": "basic", "username": "u", "password": "p" * 9000}}), JSON_HEADERS, 422,
     "authentication.password: must be at most 8192 characters"),
])
def test_a_retry_body_is_checked_like_a_trigger_s(stack, raw, headers, status, detail):
    assert detail in refused(stack, "POST", f"{API}/retry/{stack.finished_run}", raw, headers, status)


def test_a_retry_without_a_body_reaches_the_run(stack):
    # a finished run with no failed chunks: a 409 that says so, and nothing changes
    detail = refused(stack, "POST", f"{API}/retry/{stack.finished_run}", status=409)
    assert detail.endswith("has no failed chunks to retry")


# ------------------------------------------------------------------------------ preview

@pytest.mark.parametrize("query, raw, headers, status, detail", [
    ("", b"{not json", JSON_HEADERS, 400, "request body is not valid JSON"),
    ("", b"[" * 100_000, JSON_HEADERS, 400, "request body is nested more than"),
    ("", b'{"file_path": "' + b"a" * MAX_BODY_BYTES + b'"}', JSON_HEADERS, 413, "request body is larger than 256 KiB"),
    ("", as_json(GOOD), {"Content-Type": "text/plain"}, 415, "Content-Type: a request body must be sent as"),
    ("", as_json({**GOOD, "file_path": "/etc/passwd"}), JSON_HEADERS, 422, "file_path: must be relative"),
    ("", as_json({**GOOD, "file_path": "data/input/" + "x" * 500 + ".csv"}), JSON_HEADERS, 422,
     "file_path: file not found: data/input/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"),
    ("", as_json({**GOOD, "record_type": "r" * 70}), JSON_HEADERS, 422, "record_type: must be at most 64 characters"),
    ("", as_json({**GOOD, "output_mode": "api", "authentication": {"type": "basic", "username": "u"}}), JSON_HEADERS,
     422, "authentication.password: "),
    ("?records=0", as_json(GOOD), JSON_HEADERS, 422, "records: must be between 1 and 5000"),
    ("?records=%D9%A1", as_json(GOOD), JSON_HEADERS, 422, "records: must be an integer"),
])
def test_a_preview_body_is_refused_as_a_trigger_s(stack, query, raw, headers, status, detail):
    assert detail in refused(stack, "POST", f"{API}/preview{query}", raw, headers, status)
