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
import signal
import threading
import time
import traceback
import uuid

import boto3
from botocore.config import Config

RETRY_AFTER_SECONDS = int(os.environ.get("LOCAL_RETRY_SECONDS", "3"))
log = logging.getLogger("local_stack.pollers")


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
            try:
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


def _worker_process(env: dict[str, str], queue_name: str, handler_name: str) -> None:
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    from local_stack.__main__ import quiet_logging
    quiet_logging()
    poll(queue_name, handler_name)


def start_worker_processes(count: int, env: dict[str, str], queue_name: str,
                           handler_name: str = "process_work") -> list[multiprocessing.Process]:
    """Workers in their own processes, like concurrent Lambda instances: pandas work uses every core."""
    context = multiprocessing.get_context("spawn")
    processes = []
    for i in range(count):
        p = context.Process(target=_worker_process, args=(env, queue_name, handler_name),
                            name=f"worker-{i + 1}", daemon=True)
        p.start()
        processes.append(p)
    return processes


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
