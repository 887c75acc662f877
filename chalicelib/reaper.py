"""The reaper: ends runs that have stopped moving (DESIGN 6).

A run whose item has not changed for longer than the stage's limit is failed
with a message saying so, so that no run stays pending or running forever.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from chalicelib.credentials import CredentialVault
from chalicelib.observability import log
from chalicelib.runs import RunStore


@dataclass
class Reaper:
    store: RunStore
    vault: CredentialVault
    stalled_after_seconds: int

    def reap(self, now: datetime | None = None) -> list[str]:
        now = now or datetime.now(timezone.utc)
        reaped = []
        for run in self.store.list_active():
            last = datetime.fromisoformat(run.get("updated_at", run["created_at"]).replace("Z", "+00:00"))
            idle = (now - last).total_seconds()
            if idle <= self.stalled_after_seconds:
                continue
            message = (f"the run stopped moving: no progress for {int(idle // 60)} minutes while "
                       f"{run['status']} (step {run.get('current_step')}); "
                       f"{run.get('chunks_done', 0)} of {run.get('chunks_total', 0)} chunks were counted")
            if self.store.fail(run["run_id"], message):
                log("stalled run failed", logging.WARNING, run_id=run["run_id"], idle_seconds=int(idle))
                if run.get("credentials_ref"):
                    self.vault.forget(run["credentials_ref"])
                    self.store.forget_credentials(run["run_id"])
                reaped.append(run["run_id"])
        return reaped
