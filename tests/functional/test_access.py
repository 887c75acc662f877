"""Who may do what, on a stage with API keys: the real authorizer, roles, tenants, limits, the audit trail.

The app is loaded a second time with AUTH=keys (app.py attaches the authorizer
at import, as `chalice package` does for a deployed stage), and called through
Chalice's test client, which runs the authorizer as API Gateway would: no
Authorization header is a 401 before the authorizer; a key it refuses is a 403.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from chalice.test import Client

from chalicelib import answers, bootstrap
from chalicelib.access import KeyRequest, KeyStore
from local_stack.environment import PROJECT_DIR
from tests.functional.test_migration_api import HEADER, SMALL, record, write
from tests.functional.test_recovery import upload_event

API = "/api/v1/migrations"
TABLE = "records-migration-access-test"
ROLES = ("viewer", "operator", "admin")


class KeyedApi:
    """The API of a stage with keys, and keys to call it with."""

    def __init__(self, harness, client: Client):
        self.harness = harness
        self.client = client
        self.keys = KeyStore(boto3.client("dynamodb"), TABLE)

    def key(self, role: str, tenant: str = "default", expires_at: datetime | None = None) -> str:
        return self.keys.issue(KeyRequest(tenant=tenant, role=role, expires_at=expires_at), created_by="test")[1]

    def call(self, method: str, path: str, key: str | None = None, body=None, headers: dict | None = None):
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        payload = json.dumps(body).encode() if body is not None else b""
        return getattr(self.client.http, method.lower())(path, headers=sent, body=payload)

    def trigger(self, key: str, **fields):
        body = {"record_type": "disability", "output_mode": "file", **fields}
        return self.call("POST", API + "/trigger", key, body)


@pytest.fixture
def keyed(harness, monkeypatch):
    monkeypatch.setenv("AUTH", "keys")
    monkeypatch.setenv("ACCESS_TABLE_NAME", TABLE)
    bootstrap.reset()
    spec = importlib.util.spec_from_file_location("app_with_keys", os.path.join(PROJECT_DIR, "app.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with Client(module.app, stage_name="functional") as client:
        yield KeyedApi(harness, client)
    bootstrap.reset()


def a_file(harness, name: str = SMALL) -> str:
    return write(harness, name, HEADER + "\n" + record(1) + "\n")


def run_ids(harness) -> set[str]:
    items = boto3.client("dynamodb").scan(TableName=os.environ["RUNS_TABLE_NAME"])["Items"]
    return {item["pk"]["S"][4:] for item in items if item["sk"]["S"] == "RUN"}


# ------------------------------------------------------------------- keys
def test_a_request_without_a_key_is_401_and_changes_nothing(keyed):
    path = a_file(keyed.harness)
    for method, route in (("GET", API), ("GET", API + "/running"), ("GET", "/api/v1/record-types")):
        assert keyed.call(method, route).status_code == 401
    assert keyed.trigger(None, file_path=path).status_code == 401
    assert run_ids(keyed.harness) == set()


@pytest.mark.parametrize("token", [
    "rmk_0123456789abcdef_" + "A" * 43,  # well formed, unknown
    "not-a-key", "Bearer", "", "rmk_" + "x" * 200, "Basic dXNlcjpwYXNz",
])
def test_a_malformed_or_unknown_key_is_refused(keyed, token):
    response = keyed.client.http.get(API, headers={"Authorization": token})
    assert response.status_code in (401, 403)
    assert keyed.trigger(token, file_path=a_file(keyed.harness)).status_code in (401, 403)
    assert run_ids(keyed.harness) == set()


def test_a_key_with_the_right_id_and_a_wrong_secret_is_refused(keyed):
    key = keyed.key("admin")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert keyed.call("GET", API, forged).status_code == 403
    assert keyed.call("GET", API, key).status_code == 200


def test_an_expired_key_is_refused(keyed):
    expired = keyed.key("admin", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    current = keyed.key("admin", expires_at=datetime.now(timezone.utc) + timedelta(days=1))
    assert keyed.call("GET", API, expired).status_code == 403
    assert keyed.call("GET", API, current).status_code == 200


def test_a_revoked_key_stops_at_once(keyed):
    admin, operator = keyed.key("admin"), keyed.key("operator")
    assert keyed.call("GET", API, operator).status_code == 200
    key_id = operator.split("_")[1]
    answer = keyed.call("DELETE", f"/api/v1/keys/{key_id}", admin)
    assert answer.status_code == 200 and answer.json_body["revoked_at"]
    assert keyed.call("GET", API, operator).status_code == 403


def test_keys_are_issued_once_and_kept_only_as_salted_hashes(keyed):
    admin = keyed.key("admin")
    answer = keyed.call("POST", "/api/v1/keys", admin, {"role": "viewer", "description": "nightly report"})
    assert answer.status_code == 201, answer.body
    issued = answer.json_body
    key, key_id = issued["key"], issued["key_id"]
    assert issued["tenant"] == "default" and issued["role"] == "viewer"
    assert keyed.call("GET", API, key).status_code == 200
    listed = keyed.call("GET", "/api/v1/keys", admin).json_body
    assert key_id in {k["key_id"] for k in listed["keys"]}
    assert key not in json.dumps(listed) and "digest" not in json.dumps(listed) and "salt" not in json.dumps(listed)
    secret = key.split("_", 2)[2]
    table = json.dumps(boto3.client("dynamodb").scan(TableName=TABLE)["Items"])
    assert secret not in table and key not in table
    assert hashlib.sha256(secret.encode()).hexdigest() not in table  # salted: not the bare hash


def test_an_admin_issues_keys_for_its_own_tenant_only(keyed):
    admin = keyed.key("admin", tenant="acme")
    assert keyed.call("POST", "/api/v1/keys", admin, {"role": "admin", "tenant": "globex"}).status_code == 403
    mine = keyed.call("POST", "/api/v1/keys", admin, {"role": "viewer"})
    assert mine.status_code == 201 and mine.json_body["tenant"] == "acme"
    other_tenant_key = keyed.key("viewer", tenant="globex").split("_")[1]
    assert keyed.call("DELETE", f"/api/v1/keys/{other_tenant_key}", admin).status_code == 404
    assert other_tenant_key not in json.dumps(keyed.call("GET", "/api/v1/keys", admin).json_body)


@pytest.mark.parametrize("body, field", [
    ({"role": "root"}, "role"), ({"role": "viewer", "tenant": "../x"}, "tenant"), ({}, "role"),
    ({"role": "viewer", "expires_at": "tomorrow"}, "expires_at"), ({"role": "viewer", "extra": 1}, "extra"),
    ({"role": "viewer", "description": "a\r\nb"}, "description"), ({"role": 3}, "role"),
])
def test_a_bad_key_request_names_the_field_and_issues_nothing(keyed, body, field):
    admin = keyed.key("admin")
    answer = keyed.call("POST", "/api/v1/keys", admin, body)
    assert answer.status_code == 422 and answer.json_body["detail"].startswith(field), answer.body
    assert len(keyed.keys.list()) == 1


# ------------------------------------------------------------------ roles
def allowed(keyed, role: str, method: str, route: str, body=None) -> bool:
    status = keyed.call(method, route, keyed.key(role), body).status_code
    assert status != 500
    return status != 403


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_what_it_may_and_nothing_more(keyed, role):
    operator = keyed.key("operator")
    run_id = keyed.trigger(operator, file_path=a_file(keyed.harness)).json_body["run_id"]
    reads = [("GET", API), ("GET", API + "/running"), ("GET", f"{API}/status/{run_id}"),
             ("GET", f"{API}/{run_id}/errors"), ("GET", f"{API}/{run_id}/audit"),
             ("GET", f"{API}/{run_id}/reconciliation"), ("GET", "/api/v1/record-types"),
             ("GET", "/api/v1/record-types/claim/layout"), ("GET", "/api/v1/openapi.json")]
    changes = [("POST", API + "/trigger", {"file_path": a_file(keyed.harness, "data/input/other.csv"),
                                           "record_type": "disability", "output_mode": "file"}),
               ("POST", f"{API}/retry/{run_id}", None), ("POST", f"{API}/{run_id}/reconciliation", None),
               ("POST", f"{API}/cancel/{run_id}", None)]
    keys = [("GET", "/api/v1/keys", None), ("POST", "/api/v1/keys", {"role": "viewer"}),
            ("DELETE", "/api/v1/keys/0123456789abcdef", None)]
    assert all(allowed(keyed, role, m, r) for m, r in reads)
    assert [allowed(keyed, role, m, r, b) for m, r, b in changes] == [role != "viewer"] * 4
    assert [allowed(keyed, role, m, r, b) for m, r, b in keys] == [role == "admin"] * 3


def test_a_viewer_refused_a_trigger_starts_nothing(keyed):
    answer = keyed.trigger(keyed.key("viewer"), file_path=a_file(keyed.harness))
    assert answer.status_code == 403 and "operator" in answer.json_body["detail"]
    assert run_ids(keyed.harness) == set()
    assert keyed.harness.receive() == []


# ---------------------------------------------------------------- tenants
def test_another_tenants_run_is_not_found_anywhere(keyed):
    acme, globex = keyed.key("operator", "acme"), keyed.key("operator", "globex")
    harness = keyed.harness
    path = write(harness, "tenants/acme/in.csv", HEADER + "\n" + record(1) + "\n")
    run_id = keyed.trigger(acme, file_path=path).json_body["run_id"]
    for method, route in (("GET", f"{API}/status/{run_id}"), ("GET", f"{API}/{run_id}/errors"),
                          ("GET", f"{API}/{run_id}/audit"), ("GET", f"{API}/{run_id}/reconciliation"),
                          ("POST", f"{API}/{run_id}/reconciliation"), ("POST", f"{API}/cancel/{run_id}"),
                          ("POST", f"{API}/retry/{run_id}")):
        answer = keyed.call(method, route, globex)
        assert answer.status_code == 404, (route, answer.body)
        assert answer.json_body == {"detail": f"Migration run not found: {run_id}"}
    assert keyed.call("GET", API, globex).json_body["count"] == 0
    assert keyed.call("GET", API + "/running", globex).json_body["count"] == 0
    assert keyed.call("GET", f"{API}/status/{run_id}", acme).json_body["status"] == "pending"
    assert keyed.call("GET", API + "/running", acme).json_body["count"] == 1


def test_a_named_tenant_reads_and_writes_only_under_its_own_folders(keyed):
    acme = keyed.key("operator", "acme")
    harness = keyed.harness
    theirs = write(harness, "tenants/globex/in.csv", HEADER + "\n" + record(1) + "\n")
    shared = a_file(harness)
    mine = write(harness, "tenants/acme/in.csv", HEADER + "\n" + record(1) + "\n")
    for fields in ({"file_path": theirs}, {"file_path": shared}, {"file_path": mine, "output_dir": "data/output"},
                   {"file_path": mine, "output_dir": "tenants/globex/out"}):
        answer = keyed.trigger(acme, **fields)
        assert answer.status_code == 422, answer.body
        assert "tenants/acme/" in answer.json_body["detail"]
    assert run_ids(harness) == set()
    run_id = keyed.trigger(acme, file_path=mine).json_body["run_id"]
    harness.drain()
    assert os.path.isdir(os.path.join(harness.data_root, "tenants", "acme", "output", run_id))


def test_the_same_idempotency_key_in_two_tenants_names_two_runs(keyed):
    acme, globex = keyed.key("operator", "acme"), keyed.key("operator", "globex")
    runs = []
    for key, tenant in ((acme, "acme"), (globex, "globex")):
        path = write(keyed.harness, f"tenants/{tenant}/in.csv", HEADER + "\n" + record(1) + "\n")
        answer = keyed.call("POST", API + "/trigger", key, {"file_path": path, "record_type": "disability",
                                                            "output_mode": "file"},
                            headers={"Idempotency-Key": "nightly"})
        assert answer.status_code == 200, answer.body
        runs.append(answer.json_body["run_id"])
    assert runs[0] != runs[1]


def test_an_upload_under_a_tenants_prefix_is_that_tenants_run(keyed, monkeypatch):
    monkeypatch.setenv("UPLOAD_OUTPUT_MODE", "file")
    bootstrap.reset()
    bucket = os.environ["DATA_BUCKET"]
    key = "incoming/acme/disability/march.csv"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=(HEADER + "\n" + record(1) + "\n").encode())
    keyed.harness.invoke({"Body": upload_event(bucket, key), "MessageId": "m", "ReceiptHandle": "r"},
                         handler="handle_upload", queue="uploads")
    acme_runs = keyed.call("GET", API, keyed.key("viewer", "acme")).json_body["migrations"]
    assert [r["file_path"] for r in acme_runs] == [f"s3://{bucket}/{key}"]
    assert keyed.call("GET", API, keyed.key("viewer")).json_body["count"] == 0
    audit = keyed.call("GET", f"{API}/{acme_runs[0]['run_id']}/audit", keyed.key("viewer", "acme")).json_body
    assert audit["tenant"] == "acme" and audit["audit"][0]["action"] == "started"
    assert audit["audit"][0]["by"] == "upload"


# ------------------------------------------------------------ audit trail
def test_the_audit_trail_names_who_started_cancelled_and_retried(keyed):
    first, second = keyed.key("operator"), keyed.key("operator")
    run_id = keyed.trigger(first, file_path=a_file(keyed.harness)).json_body["run_id"]
    assert keyed.call("POST", f"{API}/cancel/{run_id}", second).status_code == 200
    trail = keyed.call("GET", f"{API}/{run_id}/audit", keyed.key("viewer")).json_body["audit"]
    assert [(e["action"], e["by"]) for e in trail] == [
        ("started", f"key:{first.split('_')[1]}"), ("cancelled", f"key:{second.split('_')[1]}")]
    assert all(e["at"].endswith("Z") for e in trail)
    assert first not in json.dumps(trail) and second not in json.dumps(trail)


# ----------------------------------------------------------------- limits
def test_a_key_over_its_rate_is_answered_429_with_retry_after(keyed, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "3")
    bootstrap.reset()
    busy, other = keyed.key("viewer"), keyed.key("viewer")
    statuses = [keyed.call("GET", API, busy).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    refused = keyed.call("GET", API, busy)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 61
    assert keyed.call("GET", API, other).status_code == 200  # per key: others go on


def test_a_tenant_at_its_active_run_cap_is_answered_429(keyed, monkeypatch):
    monkeypatch.setenv("MAX_ACTIVE_RUNS_PER_TENANT", "1")
    bootstrap.reset()
    operator = keyed.key("operator")
    assert keyed.trigger(operator, file_path=a_file(keyed.harness)).status_code == 200
    refused = keyed.trigger(operator, file_path=a_file(keyed.harness, "data/input/second.csv"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert len(run_ids(keyed.harness)) == 1
    acme = keyed.key("operator", "acme")
    path = write(keyed.harness, "tenants/acme/in.csv", HEADER + "\n" + record(1) + "\n")
    assert keyed.trigger(acme, file_path=path).status_code == 200  # per tenant: others go on


# --------------------------------------------------------------- browsers
@pytest.mark.parametrize("route", ["/trigger", "/cancel/{run}", "/retry/{run}", "/{run}/reconciliation"])
def test_a_page_of_another_origin_cannot_change_runs(keyed, route):
    operator = keyed.key("operator")
    run_id = keyed.trigger(operator, file_path=a_file(keyed.harness)).json_body["run_id"]
    body = {"file_path": a_file(keyed.harness, "data/input/x.csv"), "record_type": "disability",
            "output_mode": "file"} if route == "/trigger" else None
    answer = keyed.call("POST", API + route.format(run=run_id), operator, body,
                        headers={"Origin": "https://attacker.example"})
    assert answer.status_code == 403 and "origin" in answer.json_body["detail"]
    assert run_ids(keyed.harness) == {run_id}
    assert keyed.call("GET", f"{API}/status/{run_id}", operator).json_body["status"] == "pending"


def test_cors_is_closed_unless_the_stage_names_an_origin(keyed):
    answer = keyed.call("GET", API, keyed.key("viewer"), headers={"Origin": "https://attacker.example"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_the_key_and_audit_answers_are_as_the_openapi_description_says(keyed):
    admin = keyed.key("admin")
    issued = keyed.call("POST", "/api/v1/keys", admin, {"role": "operator", "description": "etl"}).json_body
    answers.KeyIssued.model_validate(issued)
    answers.KeyList.model_validate(keyed.call("GET", "/api/v1/keys", admin).json_body)
    run_id = keyed.trigger(issued["key"], file_path=a_file(keyed.harness)).json_body["run_id"]
    keyed.call("POST", f"{API}/cancel/{run_id}", admin)
    answers.AuditAnswer.model_validate(keyed.call("GET", f"{API}/{run_id}/audit", admin).json_body)
    answers.KeyRevoked.model_validate(keyed.call("DELETE", f"/api/v1/keys/{issued['key_id']}", admin).json_body)
