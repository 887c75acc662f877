"""access.py on its own: keys and their hashes, what the authorizer answers, who a request's caller is.

The key table is moto's in-memory DynamoDB, made from infra/template.json's definition of it.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from chalicelib.access import (OPEN_CALLER, Access, Caller, KeyRequest, KeyStore, RateLimiter, Role,
                               parse_key_request)
from chalicelib.errors import InvalidRequest, NotAllowed, NotAuthenticated, TooManyRequests

TEMPLATE = json.loads((Path(__file__).parents[2] / "infra" / "template.json").read_text())
TABLE = "records-migration-access-unit"
ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef/api/GET/api/v1/migrations"


@pytest.fixture
def dynamodb(monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        table = TEMPLATE["Resources"]["AccessTable"]["Properties"]
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", KeySchema=table["KeySchema"],
                            AttributeDefinitions=table["AttributeDefinitions"],
                            GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"])
        yield client


def request(headers: dict | None = None, context: dict | None = None):
    return SimpleNamespace(headers=headers or {}, context=context or {})


def test_roles_are_ordered_and_a_lower_one_is_refused_naming_the_role_needed():
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    viewer = Caller("key:1", "acme", Role.VIEWER)
    viewer.require(Role.VIEWER)
    with pytest.raises(NotAllowed, match="operator role"):
        viewer.require(Role.OPERATOR)


def test_a_key_is_shown_once_and_kept_as_a_salted_hash(dynamodb):
    keys = KeyStore(dynamodb, TABLE)
    stored, key = keys.issue(KeyRequest(tenant="acme", role="operator"), created_by="test")
    assert key.startswith(f"rmk_{stored.key_id}_")
    again, other = keys.issue(KeyRequest(tenant="acme", role="operator"), created_by="test")
    assert key != other and stored.salt != again.salt
    item = json.dumps(dynamodb.scan(TableName=TABLE)["Items"])
    assert key.split("_", 2)[2] not in item
    assert keys.verify(f"Bearer {key}") == stored
    assert keys.verify(key) == stored
    assert "digest" not in stored.public() and "salt" not in stored.public()


@pytest.mark.parametrize("token", ["", "Bearer ", "rmk_", "rmk_zzzzzzzzzzzzzzzz_" + "a" * 43, "x" * 10_000])
def test_tokens_that_are_not_keys_verify_to_nothing(dynamodb, token):
    assert KeyStore(dynamodb, TABLE).verify(token) is None


def test_expired_and_revoked_keys_verify_to_nothing(dynamodb):
    keys = KeyStore(dynamodb, TABLE)
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    _, expired = keys.issue(KeyRequest(tenant="acme", role="viewer", expires_at=past), created_by="t")
    stored, revoked = keys.issue(KeyRequest(tenant="acme", role="viewer"), created_by="t")
    assert keys.verify(expired) is None
    first = keys.revoke(stored.key_id, revoked_by="key:admin")
    assert keys.verify(revoked) is None
    assert keys.revoke(stored.key_id, revoked_by="key:later").revoked_at == first.revoked_at  # the first one stays
    assert keys.revoke(stored.key_id, revoked_by="x", tenant="globex") is None  # another tenant's: not found


def test_the_authorizer_allows_a_good_key_with_its_tenant_and_role_and_denies_anything_else(dynamodb):
    keys = KeyStore(dynamodb, TABLE)
    stored, key = keys.issue(KeyRequest(tenant="acme", role="viewer"), created_by="t")
    access = Access("keys", keys, RateLimiter(dynamodb, TABLE, 10))
    allowed = access.gateway_answer(f"Bearer {key}", ARN)
    assert allowed["principalId"] == f"key:{stored.key_id}"
    assert allowed["context"] == {"tenant": "acme", "role": "viewer", "key_id": stored.key_id}
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    denied = access.gateway_answer("Bearer rmk_nope", ARN)
    assert denied["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [ARN]}]
    assert denied["context"] == {}


def test_an_open_stage_admits_everyone_as_the_default_tenants_admin_without_counting(dynamodb):
    access = Access("off", KeyStore(dynamodb, TABLE), RateLimiter(dynamodb, TABLE, 0))
    assert access.admit(request(), Role.ADMIN) == OPEN_CALLER
    assert dynamodb.scan(TableName=TABLE)["Count"] == 0


def test_a_keyed_stage_refuses_a_request_the_authorizer_did_not_pass(dynamodb):
    access = Access("keys", KeyStore(dynamodb, TABLE), RateLimiter(dynamodb, TABLE, 10))
    with pytest.raises(NotAuthenticated):
        access.admit(request(), Role.VIEWER)
    granted = {"authorizer": {"tenant": "acme", "role": "operator", "key_id": "0123456789abcdef"}}
    assert access.admit(request(context=granted), Role.OPERATOR) == Caller(
        "key:0123456789abcdef", "acme", Role.OPERATOR, rate_key="0123456789abcdef")


def test_iam_callers_are_mapped_by_arn_and_others_refused(dynamodb):
    callers = json.dumps({"arn:aws:iam::1:role/etl": {"tenant": "acme", "role": "operator"}})
    access = Access("iam", KeyStore(dynamodb, TABLE), RateLimiter(dynamodb, TABLE, 10), callers)
    caller = access.admit(request(context={"identity": {"userArn": "arn:aws:iam::1:role/etl"}}), Role.OPERATOR)
    assert (caller.tenant, caller.role, caller.principal) == ("acme", Role.OPERATOR, "arn:aws:iam::1:role/etl")
    with pytest.raises(NotAllowed):
        access.admit(request(context={"identity": {"userArn": "arn:aws:iam::1:role/other"}}), Role.VIEWER)
    with pytest.raises(ValueError, match="IAM_CALLERS"):
        Access("iam", None, None, json.dumps({"arn:x": {"tenant": "Acme Corp", "role": "operator"}}))


@pytest.mark.parametrize("origin, host, allowed", [
    ("https://attacker.example", "api.example.com", False),
    ("null", "api.example.com", False),
    ("https://api.example.com", "api.example.com", True),
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
    ("https://console.example.com", "api.example.com", True),  # the stage's CORS origin
])
def test_state_changes_from_a_page_of_another_origin_are_refused(dynamodb, origin, host, allowed):
    access = Access("off", KeyStore(dynamodb, TABLE), RateLimiter(dynamodb, TABLE, 10),
                    cors_allow_origin="https://console.example.com")
    sent = request(headers={"origin": origin, "host": host})
    if allowed:
        access.admit(sent, Role.OPERATOR, changes_state=True)
    else:
        with pytest.raises(NotAllowed, match="origin"):
            access.admit(sent, Role.OPERATOR, changes_state=True)
    access.admit(sent, Role.VIEWER)  # reading is not a state change: the browser's CORS keeps the answer from the page


def test_the_rate_limit_counts_per_key_per_minute_and_says_when_to_come_back(dynamodb):
    now = [1_800_000_030.0]  # 30 s into a minute
    limiter = RateLimiter(dynamodb, TABLE, 2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    limiter.take("b")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    assert refused.value.headers == {"Retry-After": "31"}
    now[0] += 30  # the next minute
    limiter.take("a")


@pytest.mark.parametrize("body, field", [
    ([], "body"), ({"role": "boss"}, "role"), ({"role": "viewer", "tenant": "A"}, "tenant"),
    ({"role": "viewer", "expires_at": "2027-01-01T00:00:00"}, "expires_at"),  # no time zone
    ({"role": "viewer", "description": "x" * 201}, "description"), ({"role": ["viewer"]}, "role"),
])
def test_a_key_request_is_checked_field_by_field(body, field):
    with pytest.raises(InvalidRequest) as refused:
        parse_key_request(body)
    assert str(refused.value.detail).startswith(field) or field == "body"
