"""The service's health: do the runs table and the work queue answer?

Each check is a read that changes nothing, of an action the API's policy already grants: a GetItem of a key no
item can have (not DescribeTable), and GetQueueUrl of the work queue (which SQS answers only for a queue that
exists and that the caller may use). The answer says ok or failing per component and
nothing else: it is open to callers without a key (a load balancer, an uptime probe), so why a check failed
goes to the log, by the exception's type only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from chalicelib.observability import log

OK = "ok"
FAILING = "failing"
PROBE_KEY = {"pk": {"S": "HEALTH#probe"}, "sk": {"S": "HEALTH#probe"}}  # no run or marker is keyed so


@dataclass
class Health:
    dynamodb: object
    runs_table_name: str
    sqs: object
    work_queue_name: str

    def checks(self) -> dict[str, Callable[[], None]]:
        return {"runs_table": self._runs_table, "work_queue": self._work_queue}

    def report(self) -> tuple[bool, dict]:
        """(healthy, the answer): {"status": "ok" | "failing", "checks": {component: "ok" | "failing"}}."""
        results = {}
        for name, check in self.checks().items():
            try:
                check()
                results[name] = OK
            except Exception:
                log("health check failed", logging.WARNING, exc_info=True, check=name)
                results[name] = FAILING
        healthy = all(result == OK for result in results.values())
        return healthy, {"status": OK if healthy else FAILING, "checks": results}

    def _runs_table(self) -> None:
        self.dynamodb.get_item(TableName=self.runs_table_name, Key=PROBE_KEY, ProjectionExpression="pk")

    def _work_queue(self) -> None:
        self.sqs.get_queue_url(QueueName=self.work_queue_name)
