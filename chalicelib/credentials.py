"""Credentials for the target system: one pydantic model per type, and their keeping out of the run table.

Each credentials type is one class that owns its fields, their validation and
the headers a target call carries (`headers()`); `Authentication` is the
discriminated union on `type` that a trigger or retry request takes. The
secret values are `SecretStr`: they never appear in a repr, a log or an error
message, and leave the object only through `headers()` and `to_secret()`.

A request's credentials live in AWS Secrets Manager for the life of the run,
as the JSON object `to_secret()` gives (`from_secret()` reads it back); the run
item holds only the secret's name. The stage's default credentials are a
secret of the same form. Nothing here logs or returns a secret's value.

A URL that credentials have the service call (`outbound_urls()`: the OAuth2
token URL) is the user's choice, so it is held to the stage's outbound policy
(chalicelib.outbound): by the API at trigger and retry (`check_outbound`), and
again by the worker right before it fetches a token, which follows no redirect.

This module is imported with the request models by the API: it imports neither
requests nor boto3 (botocore only once a vault call is made).
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Annotated, Any, Callable, ClassVar, Literal, Union, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator, \
    model_validator
from pydantic_core import PydanticCustomError

from chalicelib.errors import InvalidRequest

if TYPE_CHECKING:
    import requests

    from chalicelib.outbound import OutboundPolicy
    from chalicelib.run import Run

DEFAULT_API_KEY_HEADER = "X-API-Key"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9-]+$"
HTTP_URL_PATTERN = r"^https?://"
OAUTH_REFRESH_MARGIN_SECONDS = 60
TOKEN_TIMEOUT_SECONDS = 30

NonEmpty = Annotated[str, Field(min_length=1)]
Secret = Annotated[SecretStr, Field(min_length=1)]


def _header_safe(value: SecretStr) -> SecretStr:
    """A value sent as it is in a header: printable ASCII only, so no CR or LF can add a header of its own."""
    if not all(" " <= c <= "~" for c in value.get_secret_value()):
        raise PydanticCustomError("header_value", "must hold printable ASCII characters only: it is sent in a header")
    return value


# A secret that goes into a header unencoded (a bearer token, an API key); basic and OAuth2 client
# credentials are base64-encoded on the wire and may hold any character.
HeaderSecret = Annotated[Secret, AfterValidator(_header_safe)]


# ------------------------------------------------------------------ the types

class Credentials(BaseModel):
    """What every credentials type has: a `type`, the headers it sends and its stored form."""

    # strict: every value is a JSON string; secrets hidden from errors as from reprs
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

    type: str
    refreshable: ClassVar[bool] = False  # a 401 may mean the credentials need fetching again (OAuth2)

    @abstractmethod
    def headers(self, session: requests.Session | None = None, *, clock: Callable[[], float] = time.time,
                outbound: OutboundPolicy | None = None) -> dict[str, str]:
        """The headers a call to the target carries. `session` makes the calls some types need first, to
        URLs that `outbound` (the stage's policy) allows; without a policy they are not checked."""

    def outbound_urls(self) -> dict[str, str]:
        """The URLs these credentials have the service call, by field: held to the stage's outbound policy."""
        return {}

    def invalidate(self) -> None:
        """Forget what was fetched for these credentials (after a 401); nothing for most types."""

    def to_secret(self) -> dict[str, str]:
        """The JSON object kept in Secrets Manager: the request's fields, secrets in clear, defaults filled in."""
        return {name: value.get_secret_value() if isinstance(value, SecretStr) else value
                for name, value in self if value is not None}

    @classmethod
    def from_secret(cls, stored: dict[str, Any]) -> "Credentials":
        """Credentials from their stored JSON object (a run's own, or the stage's defaults). Keys no type
        knows are ignored, as they always were; a missing or wrong value is a ValueError naming the field,
        never quoting a value."""
        if not isinstance(stored, dict):
            raise ValueError("the stored credentials are not a JSON object")
        kind = CREDENTIAL_TYPES.get(stored["type"]) if isinstance(stored.get("type"), str) else None
        if kind is None:
            raise ValueError(f"unsupported credentials type (supported: {', '.join(CREDENTIAL_TYPES)})")
        try:
            return kind.model_validate({k: v for k, v in stored.items() if k in kind.model_fields})
        except ValidationError as err:
            first = err.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"the stored {kind.kind()} credentials are not valid: {where}: "
                             f"{credentials_wording(first)}") from None

    @classmethod
    def kind(cls) -> str:
        """The class's `type` value."""
        return get_args(cls.model_fields["type"].annotation)[0]

    @model_validator(mode="before")
    @classmethod
    def _its_own_type(cls, data: Any) -> Any:
        """`BearerToken(token=...)` needs no `type`; a request (validated through `Authentication`) does."""
        if isinstance(data, dict) and "type" not in data and cls is not Credentials:
            return {"type": cls.kind(), **data}
        return data


class BearerToken(Credentials):
    """A token sent as `Authorization: Bearer <token>`."""

    type: Literal["bearer_token"] = Field(description="The credentials type.")
    token: HeaderSecret = Field(description="The token, printable ASCII. Never shown in answers or logs.")

    def headers(self, session=None, *, clock=time.time, outbound=None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}


class ApiKey(Credentials):
    """A key sent in a header of its own."""

    type: Literal["api_key"] = Field(description="The credentials type.")
    header: str = Field(DEFAULT_API_KEY_HEADER, min_length=1, pattern=HEADER_NAME_PATTERN,
                        description="The name of the header that carries the key (letters, digits and dashes).")
    key: HeaderSecret = Field(description="The key, printable ASCII. Never shown in answers or logs.")

    @field_validator("header", mode="before")
    @classmethod
    def _null_is_the_default(cls, value):
        return DEFAULT_API_KEY_HEADER if value is None else value

    def headers(self, session=None, *, clock=time.time, outbound=None) -> dict[str, str]:
        return {self.header: self.key.get_secret_value()}


class Basic(Credentials):
    """A user name and password sent as HTTP Basic authentication."""

    type: Literal["basic"] = Field(description="The credentials type.")
    username: NonEmpty = Field(description="The user name.")
    password: Secret = Field(description="The password. Never shown in answers or logs.")

    def headers(self, session=None, *, clock=time.time, outbound=None) -> dict[str, str]:
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


_token_cache: dict[tuple, tuple[str, float]] = {}
_token_lock = threading.Lock()


class OAuth2ClientCredentials(Credentials):
    """OAuth2 client credentials: an access token fetched from the token URL, sent as a bearer token."""

    # Access tokens are cached per process (so the chunks a worker handles share one token) and fetched
    # again a minute before they expire, or at once after a 401 (`invalidate()`).

    type: Literal["oauth2_client_credentials"] = Field(description="The credentials type.")
    token_url: str = Field(pattern=HTTP_URL_PATTERN, json_schema_extra={"format": "uri"},
                           description="The token endpoint, an http(s) URL.")
    client_id: NonEmpty = Field(description="The client id, sent with the secret as HTTP Basic authentication "
                                            "to the token URL.")
    client_secret: Secret = Field(description="The client secret. Never shown in answers or logs.")
    scope: NonEmpty | None = Field(None, description="The scope asked for, if the token URL needs one.")

    refreshable: ClassVar[bool] = True

    def headers(self, session: requests.Session | None = None, *, clock: Callable[[], float] = time.time,
                outbound: OutboundPolicy | None = None) -> dict[str, str]:
        if session is None:
            raise ValueError("OAuth2 client credentials need a session to fetch their access token")
        return {"Authorization": f"Bearer {self._access_token(session, clock, outbound)}"}

    def outbound_urls(self) -> dict[str, str]:
        return {"token_url": self.token_url}

    def invalidate(self) -> None:
        with _token_lock:
            _token_cache.pop(self._cache_key(), None)

    def _cache_key(self) -> tuple:
        secret = hashlib.sha256(self.client_secret.get_secret_value().encode()).hexdigest()
        return (self.token_url, self.client_id, self.scope, secret)

    def _access_token(self, session: requests.Session, clock: Callable[[], float],
                      outbound: OutboundPolicy | None) -> str:
        key = self._cache_key()
        with _token_lock:
            cached = _token_cache.get(key)
            if cached and cached[1] - OAUTH_REFRESH_MARGIN_SECONDS > clock():
                return cached[0]
            token, expires_in = self._fetch_token(session, outbound)
            _token_cache[key] = (token, clock() + expires_in)
            return token

    def _fetch_token(self, session: requests.Session, outbound: OutboundPolicy | None) -> tuple[str, float]:
        if outbound is not None:
            # Checked at every fetch, not only at trigger: the host may resolve elsewhere by now.
            try:
                outbound.check(self.token_url, "authentication.token_url")
            except InvalidRequest as refused:
                raise TokenRefused(str(refused.detail)) from None
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        import requests  # workers only: the API never fetches a token
        try:
            # No redirect is followed: the policy checked this URL, not wherever an answer points next.
            response = session.post(self.token_url, data=form, timeout=TOKEN_TIMEOUT_SECONDS,
                                    auth=(self.client_id, self.client_secret.get_secret_value()),
                                    allow_redirects=False)
        except requests.RequestException as err:
            raise TokenUnavailable(f"the token URL did not answer ({type(err).__name__})") from None
        if 300 <= response.status_code < 400:
            raise TokenUnavailable(f"the token URL answered {response.status_code}, a redirect, which is not followed")
        if response.status_code != 200:
            raise TokenUnavailable(f"the token URL answered {response.status_code}")
        try:
            body = response.json()
            return body["access_token"], float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TokenUnavailable("the token URL's answer holds no access_token") from None


class TokenUnavailable(Exception):
    """No OAuth2 access token could be had; the chunk fails and is retried."""


class TokenRefused(TokenUnavailable):
    """The token URL is one the stage does not call: no call was made, and a retry would be refused too."""


def check_outbound(authentication: Credentials | None, policy: OutboundPolicy,
                   field_prefix: str = "authentication") -> None:
    """Refuse (InvalidRequest, a 422 naming the field) credentials that would have the service call a URL
    the stage does not allow. The API calls it at trigger and retry; the worker checks again when it calls."""
    if authentication is None:
        return
    for name, url in authentication.outbound_urls().items():
        policy.check(url, f"{field_prefix}.{name}")


CREDENTIAL_CLASSES = (BearerToken, ApiKey, Basic, OAuth2ClientCredentials)
CREDENTIAL_TYPES: dict[str, type[Credentials]] = {cls.kind(): cls for cls in CREDENTIAL_CLASSES}


def _known_type(value: Any) -> Any:
    """Refuse an unknown or missing `type` before the union does: pydantic's own message would quote it."""
    if isinstance(value, dict) and not (isinstance(value.get("type"), str) and value["type"] in CREDENTIAL_TYPES):
        raise PydanticCustomError("request", "{why}", {"why": f"must be one of {', '.join(CREDENTIAL_TYPES)}",
                                                       "at": "type"})
    return value


# The credentials a request may carry, chosen by `type`.
Authentication = Annotated[Union[BearerToken, ApiKey, Basic, OAuth2ClientCredentials], Field(discriminator="type"),
                           BeforeValidator(_known_type)]


def credentials_wording(error: dict) -> str:
    """Why a credentials field was refused, from a pydantic error of it: never the value."""
    field = error["loc"][-1] if error["loc"] else None
    if error["type"] == "header_value":
        return error["msg"]
    if error["type"] == "string_pattern_mismatch":
        if field == "header":
            return "must be an HTTP header name"
        if field == "token_url":
            return "must be an http(s) URL"
    return "must be a non-empty string"


# ------------------------------------------------------------------ on the wire

class Authenticator:
    """The headers a target call carries: a run's credentials (or none) with the worker's session.

    Takes the credentials as a model or as their stored JSON object. `outbound` is the stage's policy
    for the URLs the credentials name (the worker always gives it); without one they are not checked,
    for tests and tools that talk to a server of their own.
    """

    def __init__(self, credentials: Credentials | dict | None, session: requests.Session,
                 clock: Callable[[], float] = time.time, outbound: OutboundPolicy | None = None):
        if isinstance(credentials, dict):
            credentials = Credentials.from_secret(credentials) if credentials else None
        self.credentials = credentials
        self._session = session
        self._clock = clock
        self._outbound = outbound

    @property
    def refreshable(self) -> bool:
        return self.credentials is not None and self.credentials.refreshable

    def headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        return self.credentials.headers(self._session, clock=self._clock, outbound=self._outbound)

    def invalidate(self) -> None:
        if self.credentials is not None:
            self.credentials.invalidate()


# ------------------------------------------------------------------ in the vault

class CredentialVault:
    """Secrets Manager, holding credentials as the JSON object `Credentials.to_secret()` gives."""

    def __init__(self, client, run_prefix: str, default_secret: str):
        self._sm = client
        self._prefix = run_prefix
        self._default = default_secret

    def store_for_run(self, run_id: str, credentials: dict) -> str:
        """Keep a run's credentials (`Credentials.to_secret()`); the secret's name."""
        name = f"{self._prefix}{run_id}"
        self._sm.create_secret(Name=name, SecretString=json.dumps(credentials),
                               Tags=[{"Key": "records-migration:run", "Value": run_id}])
        return name

    def webhook_secret_name(self, run_id: str, retry_count: int = 0) -> str:
        """The name of the key a run's webhook calls are signed with: one per trigger or retry that named
        `notify`, under the run secrets' prefix (so the functions' access to run secrets covers it)."""
        return f"{self._prefix}{run_id}/webhook" + (f"-retry-{retry_count}" if retry_count else "")

    def store_webhook_secret(self, name: str, run_id: str, secret: str) -> str:
        """Keep a webhook's signing key under `name`. One kept there already (the same upload's notification
        handled twice at once) stays as it is: the first to store it is the one the run was made with."""
        from botocore.exceptions import ClientError
        try:
            self._sm.create_secret(Name=name, SecretString=json.dumps({"webhook_secret": secret}),
                                   Tags=[{"Key": "records-migration:run", "Value": run_id}])
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceExistsException":
                raise
        return name

    def webhook_secret(self, reference: str) -> str | None:
        """A webhook's signing key, or None if it is not (or no longer) kept."""
        from botocore.exceptions import ClientError
        try:
            return json.loads(self._sm.get_secret_value(SecretId=reference)["SecretString"])["webhook_secret"]
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            return None

    def for_run(self, reference: str | None) -> dict | None:
        """The run's own credentials, else the stage's defaults, else None (`Credentials.from_secret` reads them)."""
        from botocore.exceptions import ClientError
        for name in (reference, self._default):
            if not name:
                continue
            try:
                return json.loads(self._sm.get_secret_value(SecretId=name)["SecretString"])
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                if name == reference:
                    raise LookupError("the run's credentials are gone (the run has ended)") from None
        return None

    def release(self, run: "Run", store) -> None:
        """Delete an ended run's own credentials, and the run's pointer to them."""
        if run.credentials_ref:
            self.forget(run.credentials_ref)
            store.forget_credentials(run.run_id, run.credentials_ref)

    def forget(self, reference: str) -> None:
        from botocore.exceptions import ClientError
        try:
            self._sm.delete_secret(SecretId=reference, ForceDeleteWithoutRecovery=True)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
