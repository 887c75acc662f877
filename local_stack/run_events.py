"""The run-end events the local stack publishes, made visible at the sandbox target's GET /events.

In AWS the service puts one event on the account's default EventBridge bus for each run that ends
(chalicelib.notifications), for whoever subscribes to it. Locally the bus is the emulator's (moto),
and this module subscribes as a user of the service would: an EventBridge rule on the default bus
matching `source: records-migration`, `detail-type: Migration run ended`, whose target is an SQS queue
that a thread drains into the sandbox target's list of events. What GET /events shows is therefore
what EventBridge routed, not what the code meant to send. The functional tests subscribe the same way
to moto's in-process bus.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable

import boto3

from chalicelib.notifications import EVENT_BUS, EVENT_DETAIL_TYPE, EVENT_SOURCE

log = logging.getLogger("local_stack.run_events")


def subscribe(stage: str) -> str:
    """Route the run-end events of the default bus to a queue of their own; the queue's URL."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName=f"records-migration-run-events-{stage}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"records-migration-run-ended-{stage}"
    rule_arn = events.put_rule(Name=rule, EventBusName=EVENT_BUS, EventPattern=json.dumps(
        {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]}))["RuleArn"]
    # What AWS needs for a rule to send to a queue (the emulator does not check it).
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    events.put_targets(Rule=rule, EventBusName=EVENT_BUS, Targets=[{"Id": "run-events-queue", "Arn": arn}])
    return url


def received(queue_url: str, wait_seconds: int = 0) -> list[dict]:
    """The events waiting in the queue, as EventBridge delivered them (envelope and `detail`); they are taken."""
    sqs = boto3.client("sqs")
    taken = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=wait_seconds).get("Messages", [])
        if not messages:
            return taken
        for message in messages:
            taken.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        wait_seconds = 0


def start_drain(queue_url: str, sink: Callable[[dict], None], stop: threading.Event) -> threading.Thread:
    """Hand every event that reaches the queue to `sink`, until stopped."""
    def drain() -> None:
        while not stop.is_set():
            try:
                for event in received(queue_url, wait_seconds=1):
                    sink(event)
            except Exception:  # the emulator is stopping, or briefly busy
                if stop.is_set():
                    return
                log.warning("run events: the queue did not answer; trying again")
                time.sleep(0.5)
    thread = threading.Thread(target=drain, name="run-events", daemon=True)
    thread.start()
    return thread
