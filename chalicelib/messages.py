"""What crosses the work queue: a plan message per run, a range message per part of a big file's plan, a
chunk message per slice of its file, a notify message per ended run that names a webhook, and a reconcile
message per run end.

One definition each, used by the planner that makes chunk messages, the queue
that sends them, the worker that takes them, the run store that keeps a failed
chunk's message for a retry, and the retry that sends it again.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PlanMessage:
    """Asks a worker to scan a run's file and cut it into chunks."""

    run_id: str
    kind: str = "plan"

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class ChunkMessage:
    """Points at one slice of a run's file: a pointer, never the rows (DESIGN 2)."""

    run_id: str
    chunk: int
    start: int
    end: int
    first_row: int
    rows: int
    kind: str = "chunk"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


    def pointer(self) -> dict:
        """The message's fields, as a failed chunk's marker keeps them."""
        return {k: v for k, v in asdict(self).items() if k != "kind"}


@dataclass(frozen=True)
class RangeMessage:
    """Asks a worker for one part of a big file's plan (chalicelib.inputs.ranges): the scan of the byte range
    [start, end), or, with `digest`, the whole file's SHA-256. A plan fanned out has `ranges` range parts and
    one digest part; the worker that counts the last range stitches the plan (the digest is not waited for:
    chalicelib.fanout). `size` is the file's size when the plan fanned out: a part that finds another size
    fails the run (the file changed under the planners). `version` is the file's version the run pinned
    (chalicelib.storage), which every part reads."""

    run_id: str
    index: int
    start: int
    end: int
    ranges: int
    size: int
    digest: bool = False
    kind: str = "range"
    version: str | None = None

    @property
    def part(self) -> str:
        """The part's name, counted once in the run's set of planned parts."""
        return "sha256" if self.digest else f"range-{self.index:06d}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class NotifyMessage:
    """Asks a worker to call a run's webhook with the document of its end (chalicelib.webhooks).

    It carries the document itself (ids, counts, times: no record, no credential), so the call says what
    was published on EventBridge even if the run was retried since; the key is named, never carried.
    """

    run_id: str
    webhook_url: str
    secret_ref: str   # the vault's name for the key the call is signed with
    event: dict
    kind: str = "notify"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class PublishMessage:
    """Asks a worker to put a run-end event on EventBridge, which refused it where the run ended
    (chalicelib.notifications): the same document, so its `event_id` lets a listener drop a repeat."""

    run_id: str
    event: dict
    kind: str = "publish"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class ReconcileMessage:
    """Asks a worker to build (or build again) an ended run's reconciliation report (chalicelib.reconciliation)."""

    run_id: str
    kind: str = "reconcile"

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def parse_message(body: str) -> (PlanMessage | ChunkMessage | RangeMessage | NotifyMessage | PublishMessage
                                 | ReconcileMessage):
    data = json.loads(body)
    kind = data.pop("kind", None)
    if kind == "plan":
        return PlanMessage(**data)
    if kind == "chunk":
        return ChunkMessage(**data)
    if kind == "range":
        return RangeMessage(**data)
    if kind == "notify":
        return NotifyMessage(**data)
    if kind == "publish":
        return PublishMessage(**data)
    if kind == "reconcile":
        return ReconcileMessage(**data)
    raise ValueError(f"unknown work message kind: {kind!r}")
