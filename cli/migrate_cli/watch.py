"""Follow a run until it ends: a live progress bar (rich) fed by the status answer, or JSON lines.

The bar shows the live fields of the status answer (`live_percentage`, `live_records`, `records_per_second`,
`eta_seconds`, `error_count`); from a service that does not answer them yet it falls back to the per-chunk
counters, and measures the rate itself between two polls.
"""
from __future__ import annotations

import time
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from migrate_cli.client import ApiError, MigrationApi, Unreachable
from migrate_cli.render import FINAL, live, number, rate, seconds

# A deployed stage may drop a request now and then (a cold start, a throttle): so many in a row end the wait.
UNANSWERED_POLLS = 5


class WaitTimeout(Exception):
    """What was waited for did not come within --timeout (the service goes on; the client only stopped waiting)."""


class Gauge:
    """The rate and ETA to show: the service's, else measured here between polls."""

    def __init__(self) -> None:
        self.previous: tuple[float, int] | None = None
        self.measured: float | None = None

    def read(self, doc: dict) -> dict:
        progress = doc.get("progress") or {}
        records, percentage = live(progress)
        total = progress.get("total_records") or 0
        now = time.monotonic()
        if self.previous and now > self.previous[0] and records > self.previous[1]:
            self.measured = (records - self.previous[1]) / (now - self.previous[0])
        if not self.previous or records != self.previous[1]:
            self.previous = (now, records)
        speed = progress.get("records_per_second")
        if speed is None:
            speed = self.measured
        eta = progress.get("eta_seconds")
        ended = doc.get("status") in FINAL
        if eta is None and not ended and speed and total:
            eta = max(total - records, 0) / speed
        return {"state": f"{doc.get('status', '?')}: {progress.get('current_step') or '-'}",
                "percentage": 100.0 if ended and doc.get("status") == "completed" else percentage,
                "records": f"{number(records)}/{number(total)} records", "rate": rate(speed),
                "errors": f"errors {number(progress.get('error_count') or 0)}",
                "eta": f"ETA {seconds(None if ended else eta)}", "planned": bool(total)}


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.fields[state]}", markup=False), BarColumn(),
                    TextColumn("{task.percentage:>6.2f}%"), TextColumn("{task.fields[records]}", markup=False),
                    TextColumn("{task.fields[rate]}", markup=False), TextColumn("{task.fields[errors]}", markup=False),
                    TextColumn("{task.fields[eta]}", markup=False), console=console, transient=False,
                    auto_refresh=False)


def wait_for_end(api: MigrationApi, run_id: str, *, poll: float = 1.0, timeout: float | None = None,
                 console: Console | None = None, on_status: Callable[[dict], None] | None = None) -> dict:
    """Poll the run's status until it ends and answer its final status (with details).

    `console`: where the bar is drawn (None: no bar). `on_status`: called with each status answer that
    differs from the one before (for JSON lines).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    gauge = Gauge()
    bar = progress_bar(console) if console is not None else None
    task = None
    last: dict | None = None
    unanswered = 0
    if bar is not None:
        bar.start()
    try:
        while True:
            try:
                doc = api.status(run_id)
                unanswered = 0
            except (Unreachable, ApiError) as err:
                # A 4xx (the run is gone, the key was revoked) will not get better; a blip may.
                if isinstance(err, ApiError) and err.status < 500 or unanswered + 1 >= UNANSWERED_POLLS:
                    raise
                unanswered += 1
                time.sleep(poll)
                continue
            if on_status is not None and doc != last:
                on_status(doc)
            last = doc
            shown = gauge.read(doc)
            if bar is not None:
                fields = {k: v for k, v in shown.items() if k not in ("percentage", "planned")}
                if task is None:
                    task = bar.add_task("run", total=100 if shown["planned"] else None, **fields)
                bar.update(task, total=100 if shown["planned"] or doc["status"] in FINAL else None,
                           completed=shown["percentage"], **fields)
                bar.refresh()
            if doc.get("status") in FINAL:
                return api.status(run_id, details=True)
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"run {run_id} had not ended after {timeout:g}s (it goes on)")
            time.sleep(poll)
    finally:
        if bar is not None:
            bar.stop()


def wait_for_report(api: MigrationApi, run_id: str, *, poll: float = 1.0, timeout: float | None = None) -> dict:
    """Poll an ended run's status until its reconciliation report is written (answer the report) or flagged as
    failed again (the report's route then answers the 409 saying why, raised as the ApiError it is)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if api.status(run_id).get("reconciliation") is not None:
            return api.reconciliation(run_id)
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"run {run_id}'s reconciliation report was not written after {timeout:g}s "
                              f"(it is still being built)")
        time.sleep(poll)
