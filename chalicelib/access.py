"""Who is calling and what they may do: API keys, roles, tenants and rate limits (docs/security.md).

A stage runs in one of three modes (Settings.auth). `off`: anyone may do
anything, as the admin of the `default` tenant (the local stack's default, so
the README's examples work as written). `keys`: every API route goes through a
Chalice authorizer that checks an API key (`Authorization: Bearer rmk_...`) and
hands the key's tenant and role to the view. `iam`: API Gateway checks a SigV4
signature and the stage maps each caller's ARN to a tenant and role.

A key is `rmk_<key id>_<secret>`. The table keeps the key's id, a random salt
and SHA-256 of salt and secret, never the key itself, which is shown once, when
it is issued. SHA-256 rather than a slow password hash because the secret is
256 random bits, not something a person chose: there is nothing to guess, and
every request pays for the check.

Roles are ordered: a viewer reads (status, lists, errors, audit trails,
layouts); an operator also starts, cancels and retries runs; an admin also
issues and revokes keys. A caller sees only its own tenant's runs.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import (InvalidRequest, KeyNotFound, NotAllowed, NotAuthenticated, ServiceError,
                               TooManyRequests)

KEY_PREFIX = "rmk_"
KEY_PATTERN = re.compile(r"rmk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
KEY_ID_PATTERN = r"^[0-9a-f]{16}$"
# A tenant's name goes into storage paths (tenants/<tenant>/, incoming/<tenant>/) and index keys.
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
DEFAULT_TENANT = "default"
TENANT_INDEX = "tenant-keys"
RATE_WINDOW_SECONDS = 60


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def named(cls, label: str) -> "Role":
        return cls[label.upper()]


ROLE_LABELS = tuple(role.label for role in Role)


@dataclass(frozen=True)
class Caller:
    """Who made a request: what the audit trail names, the tenant whose runs it may see, its role."""

    principal: str  # "key:<key id>", an IAM ARN, or "anonymous" on an open stage
    tenant: str
    role: Role
    rate_key: str | None = None  # what its rate is counted by; None: not limited (an open stage)

    def require(self, role: Role) -> None:
        if self.role < role:
            raise NotAllowed(f"this needs the {role.label} role; this key has the {self.role.label} role")


OPEN_CALLER = Caller("anonymous", DEFAULT_TENANT, Role.ADMIN)


class KeyRequest(BaseModel):
    """POST /api/v1/keys: a new API key for a tenant."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tenant: str | None = Field(None, pattern=TENANT_PATTERN,
                               description="The tenant whose runs the key sees (lowercase letters, digits and "
                                           "'-'). Through the API, an admin issues keys for its own tenant only, "
                                           "which is also the default.")
    role: str = Field(pattern="^(viewer|operator|admin)$", description="viewer, operator or admin.")
    expires_at: AwareDatetime | None = Field(None, strict=False,
                                             description="When the key stops working (ISO 8601 with a time zone); "
                                                         "none: it works until revoked.")
    description: str = Field("", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$",
                             description="Who or what the key is for, as the key list shows it.")


@dataclass(frozen=True)
class StoredKey:
    """An API key as the table keeps it: everything but the key."""

    key_id: str
    tenant: str
    role: Role
    created_at: str
    created_by: str
    salt: str
    digest: str
    description: str = ""
    valid_until: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, _digest(self.salt, secret))

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.valid_until is None or _parse(self.valid_until) > now)

    def public(self) -> dict:
        """What the API and the admin command show of a key: never its salt or digest."""
        return {"key_id": self.key_id, "tenant": self.tenant, "role": self.role.label,
                "created_at": self.created_at, "created_by": self.created_by, "description": self.description,
                "expires_at": self.valid_until, "revoked_at": self.revoked_at, "revoked_by": self.revoked_by}


class KeyStore:
    """API keys in the access table (pk=KEY#<key id>, sk=KEY)."""

    def __init__(self, client, table_name: str):
        self._db = client
        self._table = table_name

    def issue(self, request: KeyRequest, created_by: str) -> tuple[StoredKey, str]:
        """A new key, and the key itself: the only time anyone sees it."""
        if request.tenant is None:
            raise ValueError("a key is issued for a named tenant")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        stored = StoredKey(key_id=key_id, tenant=request.tenant, role=Role.named(request.role),
                           created_at=_iso(_now()), created_by=created_by, salt=salt, digest=_digest(salt, secret),
                           description=request.description,
                           valid_until=_iso(request.expires_at) if request.expires_at else None)
        item = {"pk": f"KEY#{key_id}", "sk": "KEY", "key_tenant": stored.tenant, "key_id": key_id,
                "role": stored.role.label, "created_at": stored.created_at, "created_by": created_by,
                "salt": salt, "digest": stored.digest, "description": stored.description}
        if stored.valid_until:
            item["valid_until"] = stored.valid_until
        self._db.put_item(TableName=self._table, Item={k: {"S": v} for k, v in item.items()},
                          ConditionExpression="attribute_not_exists(pk)")
        return stored, f"{KEY_PREFIX}{key_id}_{secret}"

    def get(self, key_id: str) -> StoredKey | None:
        item = self._db.get_item(TableName=self._table, Key=_key_of(key_id), ConsistentRead=True).get("Item")
        return _stored(item) if item else None

    def verify(self, token: str) -> StoredKey | None:
        """The key a bearer token names, if the token is that key and the key is usable now."""
        match = KEY_PATTERN.fullmatch(token.removeprefix("Bearer ").strip()) if token else None
        if not match:
            return None
        stored = self.get(match.group(1))
        if stored is None or not stored.matches(match.group(2)) or not stored.usable(_now()):
            return None
        return stored

    def list(self, tenant: str | None = None) -> list[StoredKey]:
        """A tenant's keys, newest first (every tenant's with None: the admin command)."""
        if tenant is None:
            pages = self._db.get_paginator("scan").paginate(
                TableName=self._table, FilterExpression="sk = :key", ExpressionAttributeValues={":key": {"S": "KEY"}})
        else:
            pages = self._db.get_paginator("query").paginate(
                TableName=self._table, IndexName=TENANT_INDEX, KeyConditionExpression="key_tenant = :t",
                ExpressionAttributeValues={":t": {"S": tenant}}, ScanIndexForward=False)
        keys = [_stored(item) for page in pages for item in page.get("Items", [])]
        return sorted(keys, key=lambda k: k.created_at, reverse=True)

    def revoke(self, key_id: str, revoked_by: str, tenant: str | None = None) -> StoredKey | None:
        """Revoke a key (of `tenant`, unless None); None if there is no such key. Revoking twice keeps the
        first revocation."""
        stored = self.get(key_id)
        if stored is None or (tenant is not None and stored.tenant != tenant):
            return None
        if stored.revoked_at is None:
            from botocore.exceptions import ClientError
            at = _iso(_now())
            try:
                self._db.update_item(
                    TableName=self._table, Key=_key_of(key_id),
                    UpdateExpression="SET revoked_at = :at, revoked_by = :by",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                    ExpressionAttributeValues={":at": {"S": at}, ":by": {"S": revoked_by}})
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            stored = self.get(key_id)
        return stored


class RateLimiter:
    """At most `per_minute` requests per key in each clock minute, counted in the access table
    (pk=RATE#<key>, sk=<minute>), so every API function shares the count. Window items expire
    through the table's TTL."""

    def __init__(self, client, table_name: str, per_minute: int, clock=time.time):
        self._db = client
        self._table = table_name
        self._per_minute = per_minute
        self._clock = clock

    def take(self, rate_key: str) -> None:
        from botocore.exceptions import ClientError
        now = self._clock()
        window = int(now // RATE_WINDOW_SECONDS)
        try:
            self._db.update_item(
                TableName=self._table, Key={"pk": {"S": f"RATE#{rate_key}"}, "sk": {"S": str(window)}},
                UpdateExpression="ADD requests :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(requests) OR requests < :limit",
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(self._per_minute)},
                                           ":expires": {"N": str((window + 2) * RATE_WINDOW_SECONDS)}})
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            retry_after = int((window + 1) * RATE_WINDOW_SECONDS - now) + 1
            raise TooManyRequests(f"this key made {self._per_minute} requests this minute, its limit; "
                                  f"try again in {retry_after} s", retry_after) from None


class Access:
    """The stage's rules for callers: the authorizer's answer, and who a request's caller is."""

    def __init__(self, mode: str, keys: KeyStore, limiter: RateLimiter, iam_callers: str = "{}",
                 cors_allow_origin: str = ""):
        self.mode = mode
        self.keys = keys
        self._limiter = limiter
        self._iam_callers = _iam_callers(iam_callers) if mode == "iam" else {}
        self._allowed_origin = cors_allow_origin.rstrip("/")

    def gateway_answer(self, token: str, method_arn: str) -> dict:
        """What the Chalice authorizer answers API Gateway: the key's tenant and role for the view, or a
        refusal (403) that does not say why, so a caller learns nothing about keys it does not hold."""
        from chalice.app import AuthRequest, AuthResponse
        try:
            stored = self.keys.verify(token)
        except ServiceError:
            stored = None
        if stored is None:
            return {"principalId": "refused", "context": {},
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [method_arn]}]}}
        answer = AuthResponse(routes=["*"], principal_id=f"key:{stored.key_id}",
                              context={"tenant": stored.tenant, "role": stored.role.label, "key_id": stored.key_id})
        return answer.to_dict(AuthRequest("TOKEN", token, method_arn))

    def admit(self, request, role: Role, changes_state: bool = False) -> Caller:
        """The request's caller, if it may do what needs `role`; counts the request against its key's rate.

        A state-changing request from a page of another origin is refused whatever it carries: an open
        local stack must not be driven by a site its user happens to visit.
        """
        headers = request.headers or {}
        if changes_state and (origin := headers.get("origin")) is not None and not self._same_origin(origin, headers):
            raise NotAllowed("a page of another origin may not change runs (CORS is closed on this stage)")
        caller = self._caller(request.context or {})
        caller.require(role)
        if caller.rate_key is not None:
            self._limiter.take(caller.rate_key)
        return caller

    def _caller(self, context: dict) -> Caller:
        if self.mode == "off":
            return OPEN_CALLER
        if self.mode == "keys":
            granted = context.get("authorizer") or {}
            if not granted.get("key_id") or granted.get("role") not in ROLE_LABELS:
                # The authorizer lets no request through without these: a route left without it.
                raise NotAuthenticated("an API key is needed: send 'Authorization: Bearer <key>'")
            return Caller(f"key:{granted['key_id']}", granted["tenant"], Role.named(granted["role"]),
                          rate_key=granted["key_id"])
        arn = (context.get("identity") or {}).get("userArn") or ""
        known = self._iam_callers.get(arn)
        if known is None:
            raise NotAllowed("this IAM principal has no role on this stage (IAM_CALLERS)")
        return Caller(arn, known[0], known[1], rate_key=arn)

    def _same_origin(self, origin: str, headers: dict) -> bool:
        origin = origin.rstrip("/")
        if self._allowed_origin and origin == self._allowed_origin:
            return True
        host = headers.get("host", "")
        return bool(host) and origin in (f"http://{host}", f"https://{host}")


class KeyAdmin:
    """The key routes' use cases: an admin issues, lists and revokes its own tenant's keys."""

    def __init__(self, keys: KeyStore):
        self.keys = keys

    def issue(self, body: Any, caller: Caller) -> dict:
        request = parse_key_request(body)
        if request.tenant is None:
            request = request.model_copy(update={"tenant": caller.tenant})
        elif request.tenant != caller.tenant:
            raise NotAllowed("an admin issues keys for its own tenant only (the admin command issues any tenant's)")
        stored, key = self.keys.issue(request, created_by=caller.principal)
        return {**stored.public(), "key": key,
                "message": "Keep the key now: it is shown only this once (the service keeps only a salted hash)"}

    def list(self, caller: Caller) -> dict:
        keys = [k.public() for k in self.keys.list(caller.tenant)]
        return {"keys": keys, "count": len(keys)}

    def revoke(self, key_id: str, caller: Caller) -> dict:
        stored = self.keys.revoke(key_id, caller.principal, tenant=caller.tenant) \
            if re.fullmatch(KEY_ID_PATTERN, key_id) else None
        if stored is None:
            raise KeyNotFound(key_id)
        return {**stored.public(), "revoked": True}


def parse_key_request(body: Any) -> KeyRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        return KeyRequest.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequest(f"{field}: {_wording(first)}") from None


def _wording(error: dict) -> str:
    if error["type"] == "string_pattern_mismatch":
        field = error["loc"][0] if error["loc"] else ""
        return {"tenant": "lowercase letters, digits and '-', at most 40, starting with a letter or digit",
                "role": "one of viewer, operator, admin",
                "description": "must not hold control characters"}.get(field, "not allowed")
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return error["msg"]


def _iam_callers(raw: str) -> dict[str, tuple[str, Role]]:
    """IAM_CALLERS: {"<caller ARN>": {"tenant": "...", "role": "..."}}; a wrong entry stops the stage at start."""
    callers = {}
    for arn, grant in json.loads(raw).items():
        if not re.fullmatch(TENANT_PATTERN, grant["tenant"]) or grant["role"] not in ROLE_LABELS:
            raise ValueError(f"IAM_CALLERS: {arn}: needs a tenant matching {TENANT_PATTERN} and a role of "
                             f"{', '.join(ROLE_LABELS)}")
        callers[arn] = (grant["tenant"], Role.named(grant["role"]))
    return callers


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _key_of(key_id: str) -> dict:
    return {"pk": {"S": f"KEY#{key_id}"}, "sk": {"S": "KEY"}}


def _stored(item: dict) -> StoredKey:
    value = {k: v["S"] for k, v in item.items() if "S" in v}
    return StoredKey(key_id=value["key_id"], tenant=value["key_tenant"], role=Role.named(value["role"]),
                     created_at=value["created_at"], created_by=value["created_by"], salt=value["salt"],
                     digest=value["digest"], description=value.get("description", ""),
                     valid_until=value.get("valid_until"), revoked_at=value.get("revoked_at"),
                     revoked_by=value.get("revoked_by"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
