"""Progress that moves, and how long a run will take.

Live progress: a chunk's exact counts reach its run once, when the chunk is counted (DESIGN 4). While a chunk
is being delivered, its worker notes the records its delivery calls have handled so far in the run's
`chunk_live` map (one entry per chunk, overwritten, never added to, and removed in the transaction that
counts the chunk). The status answer adds those notes to the exact counters as `live_records`, so a slow
chunk moves the bar without the counters ever being other than exact. A note is written at most once a
second per chunk (`LiveNotes`): progress costs one small write a second per chunk being delivered.

Estimates: a trigger's `estimated_duration` comes from the measured throughput (input bytes a second) of the
tenant's recent completed runs of the same record type and mode, as a range a person reads ("5-10 minutes")
and the central number of seconds for programs.
"""
from __future__ import annotations

import math
import statistics
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from chalicelib.models import RunStatus

if TYPE_CHECKING:
    from chalicelib.run import Run

LIVE_NOTE_SECONDS = 1.0   # at most one live-progress write a second per chunk being delivered
BYTES_PER_RECORD = 130    # for runs measured before their input's size was kept: the sample exports' average
# Without history: rates a little under what `make bench` measures on two local workers, so that a first
# run is more likely to end early than late.
DEFAULT_BYTES_PER_SECOND = {"api": 1_000_000, "file": 5_000_000, "validate-only": 8_000_000}
ESTIMATE_SAMPLES = 10     # recent completed runs an estimate is made from


# ------------------------------------------------------------------ live progress

def live_view(run: "Run", now: datetime | None = None) -> dict:
    """The progress fields beside the exact counters: live records and share, records a second, ETA.

    While a run is running, its rate is its live records over the seconds since it started; once it has ended,
    its records processed over its duration (its final rate). The ETA is null once it has ended, or while the
    rate is unknown (nothing delivered yet) or the run is not yet planned (its total unknown).
    """
    total, processed = run.total_records, run.processed_records
    running = run.status == RunStatus.RUNNING
    live = processed
    if running:
        live += sum(max(0, int(n)) for n in run.chunk_live.values())
        if total:  # a late note of a chunk delivered twice never shows more than the file holds
            live = min(live, max(total, processed))
    rate = None
    if running and run.started_at:
        elapsed = (_now(now) - _parse(run.started_at)).total_seconds()
        rate = live / elapsed if elapsed > 0 and live else None
    elif not run.active and run.duration:
        rate = processed / run.duration if processed else None
    eta = (max(0, total - live) / rate) if running and rate and total else None
    return {
        "live_records": live,
        "live_percentage": round(100.0 * live / total, 2) if total else
        (100.0 if run.status == RunStatus.COMPLETED else 0.0),
        "records_per_second": round(rate, 1) if rate is not None else None,
        "eta_seconds": round(eta, 1) if eta is not None else None,
    }


def outcome_name(run: "Run") -> str | None:
    """How the run ended, for people and filters: null while pending or running."""
    if run.active:
        return None
    if run.status == RunStatus.COMPLETED and run.error_count:
        return "completed_with_rejections"
    return run.status.value


class LiveNotes:
    """A delivery's progress callback that writes a chunk's live records at most every `interval` seconds.

    Delivery calls it from its threads as calls answer. One note is written at a time; a call that finds
    another note being written, or comes within the interval, is skipped: the next one carries a larger
    count, and counting the chunk replaces every note anyway. A note that cannot be written (the run was
    cancelled, or its item predates live progress) stops the notes of this attempt; a note is never worth
    failing a chunk for, so an error writing one is logged by `on_error` and the notes stop.
    """

    def __init__(self, write: Callable[[int], bool], interval: float = LIVE_NOTE_SECONDS,
                 clock: Callable[[], float] = time.monotonic, on_error: Callable[[Exception], None] | None = None):
        self._write = write
        self._interval = interval
        self._clock = clock
        self._on_error = on_error
        self._lock = threading.Lock()
        self._last_at: float | None = None
        self._last_records = 0
        self.stopped = False
        self.written = 0

    def __call__(self, records: int) -> None:
        if self.stopped or not self._lock.acquire(blocking=False):
            return
        try:
            now = self._clock()
            if records <= self._last_records or (self._last_at is not None and now - self._last_at < self._interval):
                return
            self._last_at, self._last_records = now, records
            try:
                if self._write(records):
                    self.written += 1
                else:
                    self.stopped = True
            except Exception as err:  # noqa: BLE001 - progress is best effort; the chunk goes on
                self.stopped = True
                if self._on_error:
                    self._on_error(err)
        finally:
            self._lock.release()


# ------------------------------------------------------------------ estimates

def bytes_per_second(measure: dict) -> float | None:
    """A finished run's throughput: its input's bytes over its duration (records x BYTES_PER_RECORD for a run
    that did not keep its size)."""
    duration = measure.get("duration") or 0
    size = measure.get("input_bytes") or (measure.get("total_records") or 0) * BYTES_PER_RECORD
    return size / duration if duration > 0 and size > 0 else None


def estimate(size_bytes: int, measures: list[dict], record_type: str, mode: str) -> dict:
    """`estimated_duration` (a range), `estimated_duration_seconds` (its centre) and `estimate_basis`, for a
    file of `size_bytes` given recent finished runs of the same kind (`mode`: api, file or validate-only)."""
    rates = sorted(r for r in map(bytes_per_second, measures) if r)
    if rates:
        central = size_bytes / statistics.median(rates)
        spread = (0.7, 1.5) if len(rates) == 1 else (0.8, 1.25)  # one run says less than several
        low, high = size_bytes / rates[-1] * spread[0], size_bytes / rates[0] * spread[1]
        runs = "run" if len(rates) == 1 else "runs"
        basis = f"{len(rates)} recent {record_type} {runs} in {mode} mode"
    else:
        central = size_bytes / DEFAULT_BYTES_PER_SECOND.get(mode, DEFAULT_BYTES_PER_SECOND["api"])
        low, high = central * 0.5, central * 2
        basis = f"no recent {record_type} runs in {mode} mode: default rate"
    central = max(1.0, central)
    return {"estimated_duration": duration_range(min(low, central), max(high, central)),
            "estimated_duration_seconds": round(central, 1), "estimate_basis": basis}


def duration_range(low: float, high: float) -> str:
    """A range of seconds as a person says it: "under a minute", "5-10 minutes", "1-2 hours",
    "45 minutes to 2 hours"."""
    if high < 60:
        return "under a minute"
    if low < 60:
        return f"under {_amount(high, up=True)}"
    name, size = _unit(high)
    if low < size:  # the low end in a smaller unit: "45 minutes to 2 hours"
        return f"{_amount(low, up=False)} to {_amount(high, up=True)}"
    step = 5 if name == "minute" and high / size > 10 else 1
    low_number, high_number = math.floor(low / size / step) * step, math.ceil(high / size / step) * step
    if low_number == high_number:
        return f"about {_amount(high, up=True)}"
    return f"{low_number}-{high_number} {name}s"


def _unit(seconds: float) -> tuple[str, int]:
    """The unit a duration is said in: minutes up to 90 minutes, hours up to 48 hours, then days."""
    if seconds < 90 * 60:
        return "minute", 60
    if seconds < 48 * 3600:
        return "hour", 3600
    return "day", 86400


def _amount(seconds: float, up: bool) -> str:
    """Seconds (at least a minute) in their unit, rounded down or up, to fives above ten minutes."""
    name, size = _unit(seconds)
    step = 5 if name == "minute" and seconds / size > 10 else 1
    number = max(1, (math.ceil if up else math.floor)(seconds / size / step) * step)
    return f"{number} {name}{'s' if number != 1 else ''}"


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)
