"""The service's HTTP API, one method per operation, answers as the API's JSON documents.

Errors become two exceptions: `ApiError` (the service answered 4xx or 5xx: its status and `detail`) and
`Unreachable` (no answer: refused, timed out, not HTTP). Neither message ever holds the API key: requests'
own exception texts name the URL, never the headers, and the key is only ever put in a header.
"""
from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import quote

import requests
import requests.auth

from migrate_cli import __version__
from migrate_cli.settings import Settings

API = "/api/v1/migrations"
# Connect fast (a refused or wrong URL should say so at once); read patiently (a deployed stage's cold start).
TIMEOUT = (10.0, 90.0)


class ApiError(Exception):
    """The service refused or failed a request: `status` is the HTTP code, `detail` what it said."""

    def __init__(self, status: int, detail: str, method: str, path: str):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.method, self.path = status, detail, method, path


class Unreachable(Exception):
    """No HTTP answer came from the service's URL."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot reach the service at {url}: {reason}")
        self.url, self.reason = url, reason


def _detail(response: requests.Response) -> str:
    """The answer's explanation: the service's `detail`, API Gateway's `message`/`Message`, else its text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else (response.reason or "no explanation given")
    if isinstance(body, dict):
        for name in ("detail", "message", "Message"):
            if body.get(name):
                value = body[name]
                return value if isinstance(value, str) else str(value)
    return str(body)[:300]


def _reason(err: requests.RequestException) -> str:
    if isinstance(err, requests.ConnectTimeout):
        return "the connection timed out"
    if isinstance(err, requests.ReadTimeout):
        return "no answer in time"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS failed (certificate or protocol)"
    if isinstance(err, requests.ConnectionError):
        text = str(err)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "the host name does not resolve"
        return "the connection failed"
    return type(err).__name__


def _id(run_id: str) -> str:
    """A run id as one path segment: `../keys` stays a (not found) run id, never another route."""
    quoted = quote(run_id, safe="")
    return quoted.replace(".", "%2E") if set(quoted) == {"."} else quoted  # no dot segment to be resolved away


class BearerKey(requests.auth.AuthBase):
    """The API key as `Authorization: Bearer ...`. As the session's auth it wins over a user:password in the
    URL and over ~/.netrc, which requests would otherwise put in that header instead; requests drops it
    when a redirect leads to another host."""

    def __init__(self, key: str):
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "BearerKey(<hidden>)"


class MigrationApi:
    def __init__(self, settings: Settings, session: requests.Session | None = None):
        self.settings = settings
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"migrate-cli/{__version__}"
        if settings.key:
            self.session.auth = BearerKey(settings.key)

    # ------------------------------------------------------------------ plumbing
    def call(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
             headers: dict | None = None) -> dict:
        url = self.settings.url + path
        try:
            response = self.session.request(method, url, params={k: v for k, v in (params or {}).items()
                                                                 if v is not None},
                                            json=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as err:
            raise Unreachable(self.settings.shown_url, _reason(err)) from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response), method, path)
        try:
            answer = response.json()
        except ValueError:
            raise Unreachable(self.settings.shown_url, f"the answer to {method} {path} "
                                                       f"(HTTP {response.status_code}) is not JSON; "
                                                       f"is this the service's URL?") from None
        return answer

    # ---------------------------------------------------------------- operations
    def trigger(self, body: dict, idempotency_key: str | None = None) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call("POST", f"{API}/trigger", body=body, headers=headers)

    def post_path(self, path: str, body: dict) -> dict:
        """A POST to a path the service named (a preview's `promote.path`), kept under this client's URL."""
        if not path.startswith("/"):
            path = "/" + path
        return self.call("POST", path, body=body)

    def status(self, run_id: str, details: bool = False) -> dict:
        return self.call("GET", f"{API}/status/{_id(run_id)}", params={"include_details": str(details).lower()})

    def recent(self, limit: int | None = None, status: str | None = None, record_type: str | None = None,
               since: str | None = None, until: str | None = None, cursor: str | None = None) -> dict:
        return self.call("GET", API, params={"limit": limit, "status": status, "record_type": record_type,
                                             "since": since, "until": until, "cursor": cursor})

    def running(self) -> dict:
        return self.call("GET", f"{API}/running")

    def cancel(self, run_id: str) -> dict:
        return self.call("POST", f"{API}/cancel/{_id(run_id)}")

    def retry(self, run_id: str, body: dict | None = None) -> dict:
        return self.call("POST", f"{API}/retry/{_id(run_id)}", body=body or None)

    def errors_page(self, run_id: str, offset: int, limit: int, rule: str | None = None) -> dict:
        return self.call("GET", f"{API}/{_id(run_id)}/errors",
                         params={"offset": offset, "limit": limit, "rule": rule})

    def error_pages(self, run_id: str, page_size: int = 1000, rule: str | None = None) -> Iterator[dict]:
        """Every page of the run's error report, following `next_offset` until it is null."""
        offset: int | None = 0
        while offset is not None:
            page = self.errors_page(run_id, offset, page_size, rule)
            yield page
            following = page.get("next_offset")
            # A server that answered an empty page with a next_offset would loop forever: stop there.
            offset = following if following is not None and page.get("errors") and following > offset else None

    def preview(self, body: dict, records: int | None = None) -> dict:
        return self.call("POST", f"{API}/preview", params={"records": records}, body=body)

    def record_types(self) -> dict:
        return self.call("GET", "/api/v1/record-types")

    def reconciliation(self, run_id: str) -> dict:
        return self.call("GET", f"{API}/{_id(run_id)}/reconciliation")

    def audit(self, run_id: str) -> dict:
        return self.call("GET", f"{API}/{_id(run_id)}/audit")

    def rebuild_reconciliation(self, run_id: str) -> dict:
        return self.call("POST", f"{API}/{_id(run_id)}/reconciliation")
