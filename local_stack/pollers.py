"""Event sources, emulated: receive from the local queues, call the Lambda handlers.

Each poller builds the event Lambda's SQS integration builds (batch size 1,
DESIGN 8) and calls the handler function app.py registered, the same object
Lambda calls. A handler that returns deletes the message; one that raises
leaves it to come back, and after maxReceiveCount receives the queue's redrive
policy moves it to the dead-letter queue, as in AWS. Locally a failed message
comes back after a few seconds instead of the queue's full visibility timeout.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import traceback
import uuid
from dataclasses import dataclass

import boto3
from botocore.config import Config

RETRY_AFTER_SECONDS = int(os.environ.get("LOCAL_RETRY_SECONDS", "3"))
DUPLICATE_MARK = "fault-duplicate"
log = logging.getLogger("local_stack.pollers")


class PoisonedMessage(Exception):
    """Raised in place of the handler for messages matching FAULT_POISON."""


@dataclass(frozen=True)
class Faults:
    """Faults of the event source itself, for the fault-injection tests (off by default).

    FAULT_DUPLICATE_DELIVERY=1 puts a copy of every message back on its queue,
    as SQS's at-least-once delivery may; FAULT_POISON=<regex> makes the handler
    raise for every message whose body matches, as a chunk that always fails.
    """

    duplicate: bool = False
    poison: re.Pattern | None = None

    @classmethod
    def from_environ(cls) -> "Faults":
        poison = os.environ.get("FAULT_POISON")
        return cls(os.environ.get("FAULT_DUPLICATE_DELIVERY") == "1", re.compile(poison) if poison else None)


class LambdaContext:
    """The parts of Lambda's context object handlers may read."""

    def __init__(self, function_name: str, timeout_seconds: int = 900):
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 3008
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(message: dict, queue_arn: str, region: str) -> dict:
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"], "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}), "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
    }]}


def poll(queue_name: str, handler_name: str, stop: threading.Event | None = None,
         wait_seconds: int = 1) -> None:
    """Receive one message at a time and hand it to `app.<handler_name>` until stopped."""
    import app  # the Chalice app, imported where the handler runs

    handler = getattr(app, handler_name)
    # The faults stand for a worker's troubles: the DLQ and upload handlers keep working.
    faults = Faults.from_environ() if handler_name == "process_work" else Faults()
    sqs = boto3.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 10}))
    region = sqs.meta.region_name
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while not (stop and stop.is_set()):
        try:
            response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_seconds,
                                           AttributeNames=["All"], MessageAttributeNames=["All"])
        except Exception:  # the emulator is stopping, or briefly busy
            if stop and stop.is_set():
                return
            time.sleep(0.5)
            continue
        for message in response.get("Messages", []):
            if faults.duplicate and DUPLICATE_MARK not in message.get("MessageAttributes", {}):
                sqs.send_message(QueueUrl=url, MessageBody=message["Body"], MessageAttributes={
                    DUPLICATE_MARK: {"DataType": "String", "StringValue": message["MessageId"]}})
            try:
                if faults.poison and faults.poison.search(message["Body"]):
                    raise PoisonedMessage("FAULT_POISON matched this message")
                handler(sqs_event(message, arn, region), LambdaContext(handler_name))
            except Exception:
                # As in Lambda: the message stays, and comes back. Only the
                # traceback's frames are shown, never the message body.
                log.error("%s failed; the message will be retried:\n%s", handler_name,
                          "".join(traceback.format_exc(limit=-3)))
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=RETRY_AFTER_SECONDS)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _worker_process(env: dict[str, str], queue_name: str, handler_name: str, metrics=None) -> None:
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    if metrics is not None:  # the metric documents this worker prints go to the stack too (local_stack/metrics.py)
        import sys

        from local_stack.metrics import EmfTee
        sys.stdout = EmfTee(sys.stdout, metrics.send)
    from local_stack.__main__ import quiet_logging
    quiet_logging()
    poll(queue_name, handler_name)


class WorkerPool:
    """Workers in their own processes, like concurrent Lambda instances: pandas work uses every core.

    A worker that dies (killed, out of memory) is replaced, as Lambda starts a
    new instance; the message it held comes back after the visibility timeout.
    """

    def __init__(self, count: int, env: dict[str, str], queue_name: str, handler_name: str = "process_work",
                 metrics_sink=None):
        self._args = (env, queue_name, handler_name)
        self._context = multiprocessing.get_context("spawn")
        self._metrics_sink = metrics_sink  # takes each EMF document a worker prints
        self.processes = [self._start(i) for i in range(count)]

    def _start(self, index: int) -> multiprocessing.Process:
        # A pipe per worker, not one queue for all: a worker killed mid-send breaks its own pipe only.
        receiver, sender = self._context.Pipe(duplex=False) if self._metrics_sink else (None, None)
        process = self._context.Process(target=_worker_process, args=(*self._args, sender),
                                        name=f"worker-{index + 1}", daemon=True)
        process.start()
        if receiver is not None:
            sender.close()  # the worker holds its end: when it ends, the reader sees the pipe close
            threading.Thread(target=self._read_metrics, args=(receiver,), name=f"{process.name}-metrics",
                             daemon=True).start()
        return process

    def _read_metrics(self, receiver) -> None:
        with receiver:
            while True:
                try:
                    document = receiver.recv()
                except Exception:  # the worker ended, or died half-way through a document
                    return
                self._metrics_sink(document)

    def replace_dead(self) -> int:
        replaced = 0
        for i, process in enumerate(self.processes):
            if not process.is_alive():
                log.warning("worker %s (pid %s) died with exit code %s; starting another", process.name,
                            process.pid, process.exitcode)
                self.processes[i] = self._start(i)
                replaced += 1
        return replaced

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(timeout=5)


def start_poller_thread(queue_name: str, handler_name: str, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=poll, args=(queue_name, handler_name, stop), name=handler_name, daemon=True)
    thread.start()
    return thread


def scheduled_event(rule_name: str) -> dict:
    """The event EventBridge sends a scheduled Lambda."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule_name}"], "detail": {}}


def start_schedule_thread(handler_name: str, every_seconds: float, stop: threading.Event) -> threading.Thread:
    """Call a scheduled handler every `every_seconds`, as its EventBridge rule would."""
    def tick() -> None:
        import app
        handler = getattr(app, handler_name)
        while not stop.wait(every_seconds):
            try:
                handler(scheduled_event(handler_name), LambdaContext(handler_name))
            except Exception:
                log.error("%s failed:\n%s", handler_name, "".join(traceback.format_exc(limit=-3)))
    thread = threading.Thread(target=tick, name=handler_name, daemon=True)
    thread.start()
    return thread
