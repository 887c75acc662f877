"""Credentials for the target system, kept out of the run table.

A request's credentials live in AWS Secrets Manager for the life of the run;
the run item holds only the secret's name. The stage's default credentials are
a secret too. Nothing here logs or returns a secret's value.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from typing import TYPE_CHECKING, Callable

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    import requests

    from chalicelib.run import Run


class CredentialVault:
    def __init__(self, client, run_prefix: str, default_secret: str):
        self._sm = client
        self._prefix = run_prefix
        self._default = default_secret

    def store_for_run(self, run_id: str, credentials: dict) -> str:
        name = f"{self._prefix}{run_id}"
        self._sm.create_secret(Name=name, SecretString=json.dumps(credentials),
                               Tags=[{"Key": "records-migration:run", "Value": run_id}])
        return name

    def for_run(self, reference: str | None) -> dict | None:
        """The run's own credentials, else the stage's defaults, else None."""
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
            store.forget_credentials(run.run_id)

    def forget(self, reference: str) -> None:
        try:
            self._sm.delete_secret(SecretId=reference, ForceDeleteWithoutRecovery=True)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


# ------------------------------------------------------------------ on the wire

OAUTH_REFRESH_MARGIN_SECONDS = 60
_token_cache: dict[tuple, tuple[str, float]] = {}
_token_lock = threading.Lock()


class Authenticator:
    """The headers a target call carries for the run's credentials.

    OAuth2 client-credentials access tokens are fetched from the token URL,
    cached per process (so the chunks a worker handles share one token) and
    fetched again a minute before they expire, or at once after a 401.
    """

    def __init__(self, credentials: dict | None, session: requests.Session,
                 clock: Callable[[], float] = time.time):
        self._credentials = credentials or {}
        self._session = session
        self._clock = clock

    @property
    def refreshable(self) -> bool:
        return self._credentials.get("type") == "oauth2_client_credentials"

    def headers(self) -> dict[str, str]:
        kind = self._credentials.get("type")
        if kind is None:
            return {}
        if kind == "bearer_token":
            return {"Authorization": f"Bearer {self._credentials['token']}"}
        if kind == "api_key":
            return {self._credentials.get("header", "X-API-Key"): self._credentials["key"]}
        if kind == "basic":
            pair = f"{self._credentials['username']}:{self._credentials['password']}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if kind == "oauth2_client_credentials":
            return {"Authorization": f"Bearer {self._access_token()}"}
        raise ValueError(f"unsupported credentials type: {kind!r}")

    def invalidate(self) -> None:
        with _token_lock:
            _token_cache.pop(self._cache_key(), None)

    def _cache_key(self) -> tuple:
        c = self._credentials
        secret = hashlib.sha256(c.get("client_secret", "").encode()).hexdigest()
        return (c.get("token_url"), c.get("client_id"), c.get("scope"), secret)

    def _access_token(self) -> str:
        key = self._cache_key()
        with _token_lock:
            cached = _token_cache.get(key)
            if cached and cached[1] - OAUTH_REFRESH_MARGIN_SECONDS > self._clock():
                return cached[0]
            token, expires_in = self._fetch_token()
            _token_cache[key] = (token, self._clock() + expires_in)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        c = self._credentials
        form = {"grant_type": "client_credentials"}
        if c.get("scope"):
            form["scope"] = c["scope"]
        import requests  # workers only: the API never fetches a token
        try:
            response = self._session.post(c["token_url"], data=form, auth=(c["client_id"], c["client_secret"]),
                                          timeout=30)
        except requests.RequestException as err:
            raise TokenUnavailable(f"the token URL did not answer ({type(err).__name__})") from None
        if response.status_code != 200:
            raise TokenUnavailable(f"the token URL answered {response.status_code}")
        try:
            body = response.json()
            return body["access_token"], float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TokenUnavailable("the token URL's answer holds no access_token") from None


class TokenUnavailable(Exception):
    """No OAuth2 access token could be had; the chunk fails and is retried."""
