"""The list of runs: its query parameters, checked at the edge, and its cursor.

`GET /api/v1/migrations` pages through the tenant's partition of the recent-runs index (newest first, sorted
by created_at): `since` and `until` bound created_at in the key condition, `status` and `record_type` filter.
A page goes on from a cursor: the position (created_at, run_id) of the last run the previous page gave, with
the tenant it was made for and a digest of the filters it was made with, as base64url JSON. A cursor is read
strictly: anything but the shape this module writes, a cursor of another tenant, or one made for other
filters or outside the `since`/`until` window is a 400, before any table is read. It only ever names a
position in the caller's own partition, so an edited one can at worst start the page somewhere else in the
caller's own runs.

A bad filter value is a 422 like every other bad query parameter (chalicelib.api); a `record_type` that is a
well-formed name but no known type lists none (runs of a type the stage no longer has are still listed by it).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from chalicelib.api import query_int
from chalicelib.errors import InvalidCursor, InvalidRequest, cut

LIST_LIMIT = (20, 1, 200)  # default, lowest, highest
STATUSES = ("pending", "running", "completed", "completed_with_rejections", "failed", "cancelled")
MAX_CURSOR = 400           # characters: a cursor this module writes is about 200
MAX_COUNTED = 10_000       # runs counted by status per request at most (`counts_complete` says if there were more)
MAX_READ_PER_PAGE = 2_000  # runs a page reads at most while filtering; `next_cursor` goes on from there
RECORD_TYPE_FILTER = re.compile(r"[a-z][a-z0-9_]{0,63}")
RUN_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")   # created_at as runs keep it
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]+")
CURSOR_KEYS = {"v", "t", "at", "id", "f"}


@dataclass(frozen=True)
class ListQuery:
    limit: int = LIST_LIMIT[0]
    status: str | None = None
    record_type: str | None = None
    since: str | None = None   # created_at bounds, inclusive, as runs keep timestamps
    until: str | None = None
    after: tuple[str, str] | None = None  # (created_at, run_id) of the last run of the previous page

    @property
    def filters(self) -> str:
        """A digest of the filters: a cursor goes on only with the filters it was made with."""
        text = json.dumps([self.status, self.record_type, self.since, self.until])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_list_query(params: dict | None, tenant: str) -> ListQuery:
    """The list's query parameters (422 for a bad value, 400 for a bad cursor)."""
    params = params or {}
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status: must be one of {', '.join(STATUSES)}")
    record_type = params.get("record_type")
    if record_type is not None and not RECORD_TYPE_FILTER.fullmatch(record_type):
        raise InvalidRequest("record_type: must be a record type's name (lowercase letters, digits and _)")
    since, until = _bound(params, "since", end=False), _bound(params, "until", end=True)
    if since and until and since > until:
        raise InvalidRequest("since: must not be later than until")
    query = ListQuery(limit=query_int(params, "limit", *LIST_LIMIT), status=status, record_type=record_type,
                      since=since, until=until)
    cursor = params.get("cursor")
    if cursor is None:
        return query
    after = decode_cursor(cursor, tenant, query)
    return ListQuery(query.limit, status, record_type, since, until, after)


def encode_cursor(position: tuple[str, str], tenant: str, query: ListQuery) -> str:
    document = {"v": 1, "t": tenant, "at": position[0], "id": position[1], "f": query.filters}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, tenant: str, query: ListQuery) -> tuple[str, str]:
    """The position a cursor names, if it is one this module wrote for this tenant and these filters."""
    if not (0 < len(cursor) <= MAX_CURSOR and CURSOR_TEXT.fullmatch(cursor)):
        raise InvalidCursor("cursor: not a cursor this API gave (use `next_cursor` of the previous page as it is)")
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor: not a cursor this API gave (use `next_cursor` of the previous page as it "
                            "is)") from None
    if not (isinstance(document, dict) and set(document) == CURSOR_KEYS and document["v"] == 1
            and all(isinstance(document[k], str) for k in ("t", "at", "id", "f"))
            and RUN_TIMESTAMP.fullmatch(document["at"]) and RUN_ID.fullmatch(document["id"])):
        raise InvalidCursor("cursor: not a cursor this API gave (use `next_cursor` of the previous page as it is)")
    if document["t"] != tenant:
        raise InvalidCursor("cursor: was given to another tenant's caller; start without one")
    if document["f"] != query.filters:
        raise InvalidCursor("cursor: was given for other filters; send the same status, record_type, since and "
                            "until, or start without one")
    at = document["at"]
    if (query.since and at < query.since) or (query.until and at > query.until):
        raise InvalidCursor("cursor: lies outside since/until; start without one")
    return at, document["id"]


def _bound(params: dict, name: str, end: bool) -> str | None:
    """`since`/`until` as a run's created_at is written (UTC, milliseconds). A date alone is its whole day:
    `since` from its first millisecond, `until` to its last. A date and time without an offset is UTC."""
    value = params.get(name)
    if value is None:
        return None
    why = f"{name}: must be a date (2025-01-15) or an ISO 8601 date and time (2025-01-15T10:30:00Z)"
    if len(value) > 40:
        raise InvalidRequest(why)
    try:
        if DATE_ONLY.fullmatch(value):
            day = date.fromisoformat(value)
            at = datetime.combine(day, datetime.min.time(), timezone.utc)
            if end:
                at += timedelta(days=1) - timedelta(milliseconds=1)
        elif "T" in value or " " in value:
            at = datetime.fromisoformat(value.replace("z", "Z"))
            at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
        else:
            raise ValueError(value)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{why}; got {cut(value)!r}") from None
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
