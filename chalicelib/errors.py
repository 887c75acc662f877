"""The service's error hierarchy; app.py turns each into one HTTP answer."""
from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the API reports to its caller."""

    status_code = 500

    def __init__(self, detail: str | list | dict):
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.detail = detail


class InvalidRequest(ServiceError):
    """The request body or query is not acceptable; nothing was changed."""

    status_code = 422


class MalformedRequest(ServiceError):
    """The body is not JSON at all."""

    status_code = 400


class RunNotFound(ServiceError):
    status_code = 404

    def __init__(self, run_id: str):
        super().__init__(f"Migration run not found: {run_id}")


class RecordTypeNotFound(ServiceError):
    status_code = 404

    def __init__(self, record_type: str, what: str = "record type"):
        super().__init__(f"No {what}: {record_type[:64]}")


class RunConflict(ServiceError):
    """The run is in a state that does not allow the action (e.g. cancel a finished run)."""

    status_code = 409


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
