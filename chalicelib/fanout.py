"""Planning a big delimited file with several workers at once (chalicelib.inputs.ranges says how it is exact).

The flow on the work queue:

1. The plan message's worker finds the file at least `plan_fanout_bytes` long and, instead of scanning it,
   checks its start (its header) and sends one range message per `plan_range_bytes` of the file, and one
   more for the file's SHA-256.
2. Each range's worker scans its bytes for both quote states and writes the result, a few KB of chunk
   pointers, into the run's output folder (`plan-parts/range-000001.json`); the digest's worker writes the
   file's SHA-256 and size (`plan-parts/sha256.json`). A range then counts itself in the run item's set
   of planned parts: a set, so a range redelivered after it was counted adds nothing.
3. The worker whose range completes the set reads the ranges back, stitches them into the plan, and goes on
   as the single planner would: plan.json, record_plan, the chunk messages. If two workers both see the set
   complete (a redelivered last range), both stitch the same plan and send the same chunks: chunks count
   once (DESIGN 4).
4. The plan does not wait for the digest, which cannot be split (one SHA-256 is one sequential pass): its
   message is sent last, its worker hashes the file while the chunks are processed and sets input_sha256
   on the run. Whichever comes second, the stitch or the digest, finds the other's result: the stitch reads
   `sha256.json` if it is written, the digest sets the run's field whatever the run's state. A run that ended
   before its digest came has its reconciliation report built again (its `input_identified` check fails
   until then).

Only delimited files fan out. Fixed-length records could (a range's records are found by arithmetic) but
a layout's header and trailer checks add up the whole file, and a variable-length file's descriptor chains
can only be followed from its start: both stay with one planner (docs/planning.md).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.errors import InputFileError
from chalicelib.inputs.ranges import RangeScan, hash_file, range_edges, scan_range, stitch
from chalicelib.messages import RangeMessage
from chalicelib.observability import log

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.inputs.chunks import Plan
    from chalicelib.models import InputFormat
    from chalicelib.run import Run
    from chalicelib.runs import RunStore
    from chalicelib.storage import StoredFile

PARTS_FOLDER = "plan-parts"
DIGEST_NAME = "sha256.json"
RANGE_READERS = 4   # blocks of a range read at once: an S3 stream is slower than the scan (ranges.read_ahead)
DIGEST_READERS = 8  # and of the digest: SHA-256 goes at about 1 GB/s


def fan_out_parts(run: Run, fmt: InputFormat, size: int, settings: Settings,
                  version: str | None = None) -> list[RangeMessage] | None:
    """The messages that plan the file (at `version`) in parts, or None when one planner plans it (small, or
    not delimited)."""
    if fmt.type != "delimited" or size < settings.plan_fanout_bytes:
        return None
    edges = range_edges(size, settings.plan_range_bytes)
    parts = [RangeMessage(run.run_id, i, a, b, len(edges), size, version=version) for i, (a, b) in enumerate(edges)]
    # The digest last: the plan does not wait for it, so the ranges go first.
    return parts + [RangeMessage(run.run_id, len(edges), 0, size, len(edges), size, digest=True, version=version)]


@dataclass
class PartPlanner:
    """Runs one part of a fanned-out plan; stitches the plan when its part is the last one counted."""

    store: RunStore
    settings: Settings

    def run_part(self, message: RangeMessage, run: Run, source: StoredFile, folder: StoredFile
                 ) -> tuple[Plan, str | None, int] | None:
        """A range: (the plan, the file's SHA-256 if its digest is done already, its size) if this range
        completed the plan, else None. Raises InputFileError for a file that changed since the plan fanned
        out, or that is malformed."""
        parts = folder.child(PARTS_FOLDER)
        if source.size() != message.size:
            raise InputFileError(f"the file changed while it was planned: {message.size} bytes when planning "
                                 f"began, {source.size()} now")
        fmt = run.input_format
        started = time.monotonic()
        part = parts.child(f"{message.part}.json")
        # A redelivered range (a failure after its part was written, the reaper's re-sent plan) finds its
        # part written whole (a part is written in one put, or renamed into place) for this run's file,
        # whose size was checked above: it is counted again, not scanned again.
        scanned = not part.exists()
        if scanned:
            document = scan_range(source.read_range, message.size, message.index, message.start, message.end,
                                  self.settings.chunk_records, self.settings.chunk_bytes, fmt.encoding,
                                  fmt.header, readers=_readers(source, RANGE_READERS)).to_dict()
            # Written before it is counted: a failure between the two brings the message back to count it.
            part.write_bytes(json.dumps(document, separators=(",", ":")).encode())
        counted = self.store.note_plan_part(message.run_id, message.part)
        log("plan range scanned" if scanned else "plan range found scanned already", range=message.index,
            ranges=message.ranges, counted=len(counted or ()), seconds=round(time.monotonic() - started, 3))
        if counted is None or len(counted) < message.ranges:
            return None  # other ranges are still being scanned (or the run ended, or is planned already)
        scans = [RangeScan.from_dict(json.loads(parts.child(f"range-{i:06d}.json").read_bytes()))
                 for i in range(message.ranges)]
        plan = stitch(scans, source.read_range, message.size, fmt.encoding, fmt.delimiter, fmt.header,
                      message.run_id)
        digest = parts.child(DIGEST_NAME)
        sha256 = json.loads(digest.read_bytes())["sha256"] if digest.exists() else None
        return plan, sha256, message.size

    def digest(self, message: RangeMessage, source: StoredFile, folder: StoredFile) -> str:
        """The file's SHA-256, kept beside the parts (for a stitch still to come) and on the run."""
        if source.size() != message.size:
            raise InputFileError(f"the file changed while it was planned: {message.size} bytes when planning "
                                 f"began, {source.size()} now")
        sha256 = hash_file(source.read_range, message.size, readers=_readers(source, DIGEST_READERS))
        folder.child(PARTS_FOLDER).child(DIGEST_NAME).write_bytes(
            json.dumps({"sha256": sha256, "size": message.size}).encode())
        self.store.note_input_sha256(message.run_id, sha256)
        return sha256


def _readers(source: StoredFile, readers: int) -> int:
    """Blocks read ahead for a file in S3; a local file (the local stack) is read faster than it is scanned."""
    return readers if source.uri.startswith("s3://") else 1
