"""The work queue: plan, range, chunk, notify, publish and reconcile messages on SQS."""
from __future__ import annotations

from typing import Callable, Sequence

from chalicelib.messages import (ChunkMessage, NotifyMessage, PlanMessage, PublishMessage, RangeMessage,
                                 ReconcileMessage)

SQS_BATCH_LIMIT = 10  # SendMessageBatch takes at most ten entries


class WorkQueue:
    def __init__(self, client, queue_url_factory: Callable[[], str]):
        self._sqs = client
        self._url_factory = queue_url_factory
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self._url_factory()
        return self._url

    def send_plan(self, run_id: str) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=PlanMessage(run_id).to_json())

    def send_notify(self, message: NotifyMessage) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=message.to_json())

    def send_publish(self, message: PublishMessage) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=message.to_json())

    def send_reconcile(self, run_id: str) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=ReconcileMessage(run_id).to_json())

    def send_chunks(self, chunks: Sequence[ChunkMessage]) -> None:
        self._send_batches([(str(c.chunk), c.to_json()) for c in chunks])

    def send_ranges(self, parts: Sequence[RangeMessage]) -> None:
        """A big file's plan, fanned out: its range scans and its digest (chalicelib.inputs.ranges)."""
        self._send_batches([(p.part.replace("-", ""), p.to_json()) for p in parts])

    def _send_batches(self, messages: Sequence[tuple[str, str]]) -> None:
        for i in range(0, len(messages), SQS_BATCH_LIMIT):
            entries = [{"Id": key, "MessageBody": body} for key, body in messages[i:i + SQS_BATCH_LIMIT]]
            response = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                # Resend the entries SQS refused; an exception here makes the
                # plan message come back, and chunks sent twice count once.
                retry = [e for e in entries if e["Id"] in {f["Id"] for f in failed}]
                again = self._sqs.send_message_batch(QueueUrl=self.url, Entries=retry)
                if again.get("Failed"):
                    raise RuntimeError(f"SQS refused {len(again['Failed'])} work messages")
