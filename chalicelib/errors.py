"""The service's error hierarchy; app.py turns each into one HTTP answer.

A detail that quotes what the caller sent (a path, a record type, a run id, a field name) quotes it
through `cut`: a short prefix, never the whole of an input that may be a megabyte long or hold
control characters.
"""
from __future__ import annotations

ECHO_LIMIT = 60  # characters of the caller's own input that a detail may quote


def cut(text: object, limit: int = ECHO_LIMIT) -> str:
    """The caller's input as a detail quotes it: at most `limit` characters, then "…" if there was more.

    A detail is read in terminals, logs and dashboards as well as by the caller, so a character that is
    not printable (a control character, a line break, a bidirectional override, a lone surrogate that no
    UTF-8 encoder takes) is shown as U+FFFD.
    """
    text = str(text)
    shown = "".join(c if c.isprintable() else "\ufffd" for c in text[:limit])
    return shown + "…" if len(text) > limit else shown


class ServiceError(Exception):
    """Base of every error the API reports to its caller."""

    status_code = 500
    headers: dict[str, str] = {}  # sent with the answer (Retry-After, WWW-Authenticate)

    def __init__(self, detail: str | list | dict):
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.detail = detail


class InvalidRequest(ServiceError):
    """The request body or query is not acceptable; nothing was changed."""

    status_code = 422


class MalformedRequest(ServiceError):
    """The body is not JSON at all."""

    status_code = 400


class InvalidCursor(ServiceError):
    """A list's `cursor` that the API did not give, or gave another tenant or other filters (chalicelib.listing)."""

    status_code = 400


class PayloadTooLarge(ServiceError):
    """The body is longer than the API reads (api.MAX_BODY_BYTES)."""

    status_code = 413


class UnsupportedMediaType(ServiceError):
    """A body came without `Content-Type: application/json`."""

    status_code = 415


class RunNotFound(ServiceError):
    status_code = 404

    def __init__(self, run_id: str):
        super().__init__(f"Migration run not found: {cut(run_id)}")


class RecordTypeNotFound(ServiceError):
    status_code = 404

    def __init__(self, record_type: str, what: str = "record type"):
        super().__init__(f"No {what}: {cut(record_type)}")


class KeyNotFound(ServiceError):
    status_code = 404

    def __init__(self, key_id: str):
        super().__init__(f"No API key in this tenant: {cut(key_id)}")


class RunConflict(ServiceError):
    """The run is in a state that does not allow the action (e.g. cancel a finished run)."""

    status_code = 409


class NotAuthenticated(ServiceError):
    """No usable credentials came with the request."""

    status_code = 401
    headers = {"WWW-Authenticate": 'Bearer realm="records-migration"'}


class NotAllowed(ServiceError):
    """The caller is known but its role does not allow the action, or the request came from a page
    of another origin."""

    status_code = 403


class TooManyRequests(ServiceError):
    """A key's rate or a tenant's active runs are at their limit; Retry-After says when to try again."""

    status_code = 429

    def __init__(self, detail: str, retry_after_seconds: int):
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, retry_after_seconds))}


class InputFileError(Exception):
    """The legacy file cannot be processed; the run fails with this message.

    Messages must say what is wrong without quoting record contents, which may
    hold personal data.
    """


class SpecError(ValueError):
    """A record spec (or the layout or copybook it names) is not valid; the message names the file
    and the field, and for a copybook the line."""


class CopybookError(SpecError):
    """A COBOL copybook cannot be read: a clause that is not supported, or one that is wrong.
    The message names the copybook and the line, and never guesses what was meant."""
