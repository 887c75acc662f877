"""HTTP plumbing for app.py: what a caller sends, checked at the edge; the error hierarchy out as
`{"detail": ...}`.

Every part of a request the service reads is bounded here, before anything reads it further
(docs/api.md, "Limits"): a body is at most MAX_BODY_BYTES of UTF-8 JSON sent as `application/json`,
objects and lists nested at most MAX_BODY_DEPTH deep, no key twice in one object; a header is
printable ASCII of a bounded length; a query number is plain ASCII digits within its range. Each
refusal is a 4xx naming what it refuses, raised before the service touches a table, a queue, a
secret or a file. Details quote the caller's input only through `errors.cut`.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import sys
from decimal import Decimal
from itertools import accumulate
from typing import Any

from chalice import Response

from chalicelib.errors import InvalidRequest, MalformedRequest, PayloadTooLarge, ServiceError, \
    UnsupportedMediaType, cut
from chalicelib.observability import log

MAX_BODY_BYTES = 256 * 1024
# Objects and lists inside one another, the body itself counting as one: room for metadata's own five
# levels (models.MAX_METADATA_DEPTH) under the body, so that deeper metadata is refused naming it.
MAX_BODY_DEPTH = 10
MAX_IDEMPOTENCY_KEY = 255
JSON_MEDIA_TYPE = "application/json"

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}
_CHARSET = re.compile(r"""charset\s*=\s*"?([^";\s]*)""", re.IGNORECASE)
# int() would also take "1_000", " 5", "+5" and other scripts' digits ("١٢"): a query number is ASCII.
_QUERY_INTEGER = re.compile(r"-?[0-9]{1,12}")


def json_body(request, optional: bool = False) -> Any:
    """The JSON a request's body holds, or a 4xx saying why not.

    `optional`: a request without a body (and then without a Content-Type) is None, as a retry may be.
    Chalice lets a body without a Content-Type through to a route that takes only JSON (it takes the
    missing header for `application/json`): it is refused here, as is one sent as anything else.
    """
    raw = request.raw_body
    if not raw:
        if optional:
            return None
        raise MalformedRequest("request body is empty: send a JSON object")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES // 1024} KiB ({MAX_BODY_BYTES} bytes)")
    _sent_as_json(request.headers.get("content-type"))
    return json_document(raw)


def json_document(raw: bytes | str, what: str = "request body") -> Any:
    """The JSON `raw` holds, read as a body is (UTF-8, bounded depth, no key twice), or a MalformedRequest
    whose detail starts with `what` (an upload's manifest is read the same way: chalicelib.manifests)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as err:
        raise MalformedRequest(f"{what} is not UTF-8: undecodable byte at position {err.start}") from None
    if _nested_deeper_than(text, MAX_BODY_DEPTH):
        raise MalformedRequest(f"{what} is nested more than {MAX_BODY_DEPTH} levels deep "
                               f"(objects and lists inside one another)")
    try:
        return json.loads(text, object_pairs_hook=_one_value_per_key)
    except _RepeatedKey as err:
        raise MalformedRequest(f"{what} gives the key {cut(err.key)!r} twice in one object: "
                               f"which value is meant is unclear") from None
    except json.JSONDecodeError as err:
        raise MalformedRequest(f"{what} is not valid JSON: JSONDecodeError at position {err.pos}") from None
    except ValueError:  # the only other: an integer past Python's limit on digits it converts
        raise MalformedRequest(f"{what} holds a number of more than {sys.get_int_max_str_digits()} "
                               f"digits") from None
    except RecursionError:  # not past the depth check; kept so that no parser limit is ever a 500
        raise MalformedRequest(f"{what} is nested too deep to read") from None


def no_body(request, route: str) -> None:
    """Refuse a body sent to a route that takes none: whatever it asked for would be silently ignored.

    An empty JSON object asks for nothing, and many clients send one with every POST: it passes, once it
    has passed every check a JSON body does.
    """
    if request.raw_body and json_body(request) != {}:
        raise InvalidRequest(f"request body: {route} takes no body; send the request without one")


def ascii_header(request, name: str, max_length: int) -> str | None:
    """A header's value, None when it was not sent, or a 422 unless it is 1 to `max_length` printable
    ASCII characters (no CR or LF that would make a header of its own wherever it is passed on)."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not (1 <= len(value) <= max_length and all(" " <= c <= "~" for c in value)):
        raise InvalidRequest(f"{name}: must be 1 to {max_length} printable ASCII characters (no line breaks)")
    return value


def idempotency_key(request) -> str | None:
    return ascii_header(request, "Idempotency-Key", MAX_IDEMPOTENCY_KEY)


def query_int(params: dict | None, name: str, default: int, low: int, high: int) -> int:
    value = (params or {}).get(name)
    if value is None:
        return default
    if not _QUERY_INTEGER.fullmatch(value):
        raise InvalidRequest(f"{name}: must be an integer")
    number = int(value)
    if not low <= number <= high:
        raise InvalidRequest(f"{name}: must be between {low} and {high}")
    return number


def query_bool(params: dict | None, name: str) -> bool:
    value = (params or {}).get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name}: must be true or false")
    return value in ("true", "1")


def _sent_as_json(content_type: str | None) -> None:
    media_type, _, parameters = (content_type or "").partition(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Content-Type: a request body must be sent as {JSON_MEDIA_TYPE}")
    charset = _CHARSET.search(parameters)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Content-Type: a JSON body must be UTF-8 (charset=utf-8, or no charset)")


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether objects and lists nest past `limit`, found without parsing.

    Python's json parser recurses in C, once per level: 100000 levels are a RecursionError, and in a
    thread with a small stack a few thousand crash the process. So the parser never sees a body nested
    past the limit. Strings are taken out first (a bracket in a string nests nothing); an unbalanced
    body is left to the parser, which says where it breaks.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0) > limit


class _RepeatedKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _one_value_per_key(pairs: list[tuple[str, Any]]) -> dict:
    """An object whose key appears twice is refused: parsers differ on which value wins, and a check made
    on one value must not let the other through."""
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise _RepeatedKey(key)
        obj[key] = value
    return obj


def exact_json(body: Any) -> Response:
    """An answer whose Decimals are written as the numbers they are. Chalice's own encoder turns a Decimal into a
    float, which would round a mainframe amount of more than 15 digits (DESIGN 13)."""
    return Response(body=_exact_json_text(body), headers={"Content-Type": "application/json"})


def _exact_json_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))  # 1197.33, 1E+3: JSON numbers as read
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_exact_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_exact_json_text(v) for v in value) + "]"
    return json.dumps(value)


def answers_json(view):
    """Turn the service's errors into their HTTP answers; anything else is a 500 without details."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ServiceError as err:
            return Response(body={"detail": err.detail}, status_code=err.status_code, headers=dict(err.headers))
        except Exception:
            log("request failed", logging.ERROR, exc_info=True, view=view.__name__)
            return Response(body={"detail": "Internal server error"}, status_code=500)
    return wrapper


def chalice_refusals_as_details(request, get_response):
    """Chalice's own refusals in the API's `{"detail": ...}` form; HTTP middleware
    (`app.register_middleware(chalice_refusals_as_details, "http")`).

    Chalice refuses a Content-Type that a route does not take before any view runs, answering
    `{"Code": "UnsupportedMediaType", "Message": "Unsupported media type: <the header as sent>"}`:
    a shape no client of this API reads, quoting a header of any length.
    """
    response = get_response(request)
    body = response.body
    if 400 <= response.status_code < 500 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        if body["Code"] == "UnsupportedMediaType":
            response.body = {"detail": f"Content-Type: a request body must be sent as {JSON_MEDIA_TYPE}"}
        else:
            response.body = {"detail": cut(body["Message"])}
    return response
