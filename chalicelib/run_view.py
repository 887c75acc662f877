"""What the run page shows of one run beyond its status: its chunks, its throughput, its error report by rule.

Both views are built from the chunk markers (runs.py): one per counted chunk, with its counts and
`counted_at`, written in the transaction that added those counts to the run. So a chunk's state and
the throughput line agree with the run's exact counters. A chunk being delivered has no marker yet:
its records delivered so far are in the run's `chunk_live` map (progress per delivery call), which
is kept apart from the exact counters and only ever shown as "in progress".
"""
from __future__ import annotations

import json
import re
from typing import Callable, Iterable

from chalicelib.errors import InvalidRequest
from chalicelib.run import Run

DEFAULT_CHUNKS_PAGE = 2000   # a page of the grid: a run of 50 million records in 25,000-record chunks
MAX_CHUNKS_PAGE = 10000
THROUGHPUT_POINTS = 240      # the line is thinned to at most this many points, whatever the run's size
RULE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # a rule's name as the specs and the report give it


def chunks_answer(run: Run, markers: list[dict], offset: int, limit: int) -> dict:
    """The run's chunks `offset + 1` to `offset + limit` (chunk numbers start at 1) and its throughput line.

    A chunk is done or failed once its marker is written, in progress while `chunk_live` has an entry for
    it (its current attempt delivered some records), pending otherwise. `counts` covers every chunk, so a
    page of a huge run still says how many are in each state.
    """
    counted = {int(m["chunk"]): m for m in markers}
    # An entry may outlive its chunk's marker for a moment (it is removed after the count): the marker wins.
    live = {int(k): int(v) for k, v in (getattr(run, "chunk_live", None) or {}).items()
            if str(k).isdigit() and int(k) not in counted}
    total = max(run.chunks_total, max(counted, default=0))
    counts = {"done": 0, "failed": 0, "in_progress": 0, "pending": 0}
    for marker in counted.values():
        counts["failed" if marker.get("outcome") == "failed" else "done"] += 1
    counts["in_progress"] = sum(1 for chunk in live if chunk <= total)
    counts["pending"] = max(0, total - counts["done"] - counts["failed"] - counts["in_progress"])
    chunks = [_chunk(number, counted.get(number), live.get(number))
              for number in range(offset + 1, min(total, offset + limit) + 1)]
    following = offset + len(chunks)
    return {
        "run_id": run.run_id, "status": run.status.value, "chunks_total": total, "counts": counts,
        "offset": offset, "limit": limit, "chunks": chunks,
        "next_offset": following if following < total else None,
        "throughput": throughput(markers),
    }


def _chunk(number: int, marker: dict | None, live: int | None) -> dict:
    if marker is not None:
        return {"chunk": number, "state": "failed" if marker.get("outcome") == "failed" else "done",
                "success_count": int(marker.get("success_count", 0)), "error_count": int(marker.get("error_count", 0)),
                "live_records": None, "counted_at": marker.get("counted_at")}
    return {"chunk": number, "state": "pending" if live is None else "in_progress", "success_count": 0,
            "error_count": 0, "live_records": live, "counted_at": None}


def throughput(markers: Iterable[dict]) -> list[dict]:
    """Records counted so far, over time: one point per counted chunk, in the order they were counted,
    thinned to THROUGHPUT_POINTS (the last point, the total, is always kept)."""
    points: list[dict] = []
    running = 0
    for marker in sorted((m for m in markers if m.get("counted_at")), key=lambda m: m["counted_at"]):
        running += int(marker.get("success_count", 0)) + int(marker.get("error_count", 0))
        points.append({"at": marker["counted_at"], "records": running})
    if len(points) <= THROUGHPUT_POINTS:
        return points
    step = len(points) / (THROUGHPUT_POINTS - 1)
    kept = [points[int(i * step)] for i in range(THROUGHPUT_POINTS - 1)]
    return kept + [points[-1]]


def check_rule(rule: str | None) -> str | None:
    if rule is None:
        return None
    if not RULE_NAME.fullmatch(rule):
        raise InvalidRequest("rule: must be a rule's name (a letter, then up to 63 letters, digits or _), "
                             "as the report's by_rule gives it")
    return rule


def errors_page(run: Run, markers: list[dict], read_part: Callable[[int], bytes], offset: int, limit: int,
                rule: str | None = None) -> dict:
    """A page of the run's error report, in file order; with `rule`, of that rule's rows only.

    The markers say how many rows each part holds, so an unfiltered page reads only the parts it needs.
    They do not say how many of a rule, so a filtered page reads the parts from the first until it has
    its rows (offset counts the rule's rows). `read_part(chunk)` gives a part's bytes (JSON Lines).
    """
    with_rows = [m for m in markers if m.get("error_rows")]
    total = sum(int(m["error_rows"]) for m in with_rows)
    rows: list[dict] = []
    position = 0  # rows (of the rule, when filtered) before the current part
    for marker in with_rows:
        if len(rows) >= limit:
            break
        count = int(marker["error_rows"])
        if rule is None and position + count <= offset:
            position += count  # a part wholly before the page: not read
            continue
        lines = read_part(int(marker["chunk"])).split(b"\n")[:-1]  # JSON Lines: "\n" only
        if rule is not None:
            # Only lines that name the rule are parsed; a value cannot hold it unescaped next to "rule".
            found = [row for row in map(json.loads, (line for line in lines if rule.encode() in line))
                     if row.get("rule") == rule]
        else:
            found = None
        part = found if found is not None else lines
        start = max(0, offset - position)
        taken = part[start:start + limit - len(rows)]
        rows.extend(taken if found is not None else (json.loads(line) for line in taken))
        position += count if rule is None else len(part)
    by_rule = run.rules_broken
    matching = total if rule is None else max(by_rule.get(rule, 0), offset + len(rows))
    following = offset + len(rows)
    return {
        "run_id": run.run_id, "status": run.status.value,
        "records_rejected": run.error_count, "error_rows": total,
        "by_rule": by_rule, "rule": rule, "matching_rows": matching,
        "offset": offset, "limit": limit, "errors": rows,
        "next_offset": following if following < matching else None,
    }
