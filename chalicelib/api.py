"""HTTP plumbing for app.py: JSON bodies in, the error hierarchy out as `{"detail": ...}`."""
from __future__ import annotations

import functools
import json
import logging

from chalice import Response

from chalicelib.errors import InvalidRequest, MalformedRequest, ServiceError
from chalicelib.observability import log


def json_body(raw: bytes | None):
    if not raw:
        raise MalformedRequest("request body is empty: send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedRequest(f"request body is not valid JSON: {err.__class__.__name__} "
                               f"at position {getattr(err, 'pos', '?')}") from None


def query_int(params: dict | None, name: str, default: int, low: int, high: int) -> int:
    value = (params or {}).get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"{name}: must be an integer") from None
    if not low <= number <= high:
        raise InvalidRequest(f"{name}: must be between {low} and {high}")
    return number


def query_bool(params: dict | None, name: str) -> bool:
    value = (params or {}).get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name}: must be true or false")
    return value in ("true", "1")


def answers_json(view):
    """Turn the service's errors into their HTTP answers; anything else is a 500 without details."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ServiceError as err:
            return Response(body={"detail": err.detail}, status_code=err.status_code)
        except Exception:
            log("request failed", logging.ERROR, exc_info=True, view=view.__name__)
            return Response(body={"detail": "Internal server error"}, status_code=500)
    return wrapper
