"""The reaper: no run stays pending or running forever (DESIGN 6).

Scheduled every few minutes, it looks at the active runs:
- one that is not planned yet and has not moved for `replan_after_seconds`
  has probably lost its plan message: the plan is sent again (a few times at
  most; planning twice is harmless);
- one that has not moved for `stalled_after_seconds` is failed, with a message
  saying so.

And at the ends not announced: a run that ended ANNOUNCE_AFTER_SECONDS ago and is still in the active-runs
index's ANNOUNCING partition lost its announcement (the function that ended it died first): its credentials
are released and its end announced now (event, webhook, reconciliation report: each safe to repeat).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from chalicelib.credentials import CredentialVault
from chalicelib.models import RunStatus
from chalicelib.notifications import RunEndNotices
from chalicelib.observability import RUNS_FINISHED, log, record
from chalicelib.run import Run
from chalicelib.runs import RunStore, parse_iso
from chalicelib.work_queue import WorkQueue

MAX_REPLANS = 3
# An end is announced within seconds of it (a few tries at EventBridge, two SQS messages); one still not
# announced after this long never will be by the function that ended the run.
ANNOUNCE_AFTER_SECONDS = 300


@dataclass
class Reaper:
    store: RunStore
    vault: CredentialVault
    queue: WorkQueue
    stalled_after_seconds: int
    replan_after_seconds: int
    notices: RunEndNotices | None = None  # told of each run the reaper ends (chalicelib.notifications)

    def reap(self, now: datetime | None = None) -> dict[str, list[str]]:
        now = now or datetime.now(timezone.utc)
        acted: dict[str, list[str]] = {"failed": [], "replanned": [], "announced": []}
        for run in self.store.list_active():
            last = parse_iso(run.updated_at or run.created_at)
            idle = (now - last).total_seconds()
            if idle > self.stalled_after_seconds:
                if self._fail(run, idle):
                    acted["failed"].append(run.run_id)
            elif not run.planned and idle > self.replan_after_seconds and run.replan_count < MAX_REPLANS:
                if self.store.note_replan(run.run_id, run.replan_count):
                    self.queue.send_plan(run.run_id)
                    log("plan sent again", logging.WARNING, run_id=run.run_id, idle_seconds=int(idle))
                    acted["replanned"].append(run.run_id)
        if self.notices is not None:
            for run in self.store.list_unannounced():
                ended = (now - parse_iso(run.completed_at or run.updated_at or run.created_at)).total_seconds()
                if ended > ANNOUNCE_AFTER_SECONDS:
                    log("run end announced by the reaper", logging.WARNING, run_id=run.run_id,
                        ended_seconds_ago=int(ended))
                    self.vault.release(run, self.store)
                    self.notices.run_ended(run)
                    acted["announced"].append(run.run_id)
        return acted

    def _fail(self, run: Run, idle: float) -> bool:
        message = (f"the run stopped moving: no progress for {int(idle // 60)} minutes while "
                   f"{run.status.value} (step {run.current_step.value}); "
                   f"{run.chunks_done} of {run.chunks_total} chunks were counted")
        ended = self.store.fail(run.run_id, message, run)
        if not ended:
            return False
        record(RUNS_FINISHED, 1, Status=RunStatus.FAILED.value)
        log("stalled run failed", logging.WARNING, run_id=run.run_id, idle_seconds=int(idle))
        self.vault.release(run, self.store)
        if self.notices is not None:
            self.notices.run_ended(ended)
        return True
