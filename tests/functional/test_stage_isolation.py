"""Each functional stage starts from the deployed stack, whatever the stage before it left behind.

The stack is deployed into moto once per session and put back from a copy at the start of every stage
(tests/functional/conftest.py, DeployedState). This test writes into every kind of store the app and the
tests use, and makes new resources besides, then checks that the next stage sees exactly what the first
one saw when it started: nothing one test writes can reach another.
"""
from __future__ import annotations

import json
import os

import boto3
import pytest

from tests.functional.conftest import functional_stage


def inventory() -> dict:
    """What moto holds, in every store the functional tests touch."""
    dynamodb, sqs, s3, secrets, events, cloudwatch, sns, cfn = (boto3.client(name) for name in (
        "dynamodb", "sqs", "s3", "secretsmanager", "events", "cloudwatch", "sns", "cloudformation"))
    tables = {name: sorted(json.dumps(item, sort_keys=True) for item in dynamodb.scan(
        TableName=name, ConsistentRead=True)["Items"]) for name in dynamodb.list_tables()["TableNames"]}
    queues = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        bodies = sorted(m["Body"] for m in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", []))
        queues[url] = (counts, bodies)
    buckets = {}
    for bucket in s3.list_buckets()["Buckets"]:
        listed = s3.list_object_versions(Bucket=bucket["Name"])
        buckets[bucket["Name"]] = sorted(
            (v["Key"], v["VersionId"]) for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []))
    secret_values = {}
    for secret in secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]:
        try:
            secret_values[secret["Name"]] = secrets.get_secret_value(SecretId=secret["Name"])["SecretString"]
        except secrets.exceptions.InvalidRequestException:  # deleted, waiting for its recovery window
            secret_values[secret["Name"]] = "deleted"
    return {
        "tables": tables, "queues": queues, "buckets": buckets, "secrets": secret_values,
        "rules": sorted(r["Name"] for r in events.list_rules()["Rules"]),
        "alarms": sorted((a["AlarmName"], a["StateValue"]) for a in cloudwatch.describe_alarms()["MetricAlarms"]),
        "metrics": sorted(json.dumps(m, sort_keys=True) for m in cloudwatch.list_metrics()["Metrics"]),
        "topics": sorted(t["TopicArn"] for t in sns.list_topics()["Topics"]),
        "stacks": sorted((s["StackName"], s["StackStatus"]) for s in cfn.describe_stacks()["Stacks"]),
    }


def write_everywhere() -> None:
    dynamodb, sqs, s3, secrets, events, cloudwatch, sns = (boto3.client(name) for name in (
        "dynamodb", "sqs", "s3", "secretsmanager", "events", "cloudwatch", "sns"))
    for name in dynamodb.list_tables()["TableNames"]:
        keys = dynamodb.describe_table(TableName=name)["Table"]["KeySchema"]
        dynamodb.put_item(TableName=name, Item={key["AttributeName"]: {"S": "left-behind"} for key in keys})
    for url in sqs.list_queues()["QueueUrls"]:
        sqs.send_message(QueueUrl=url, MessageBody="left behind")
    sqs.create_queue(QueueName="left-behind")
    bucket = os.environ["DATA_BUCKET"]
    for body in (b"one", b"two"):  # the data bucket is versioned: two versions
        s3.put_object(Bucket=bucket, Key="incoming/left-behind.csv", Body=body)
    s3.delete_object(Bucket=bucket, Key="incoming/left-behind.csv")  # and a delete marker
    s3.create_bucket(Bucket="left-behind")
    secrets.create_secret(Name=os.environ["RUN_SECRETS_PREFIX"] + "left-behind", SecretString="x")
    secrets.put_secret_value(SecretId=os.environ["TARGET_CREDENTIALS_SECRET"], SecretString="changed")
    events.put_rule(Name="left-behind", EventPattern=json.dumps({"source": ["x"]}))
    cloudwatch.put_metric_data(Namespace="LeftBehind", MetricData=[{"MetricName": "m", "Value": 1}])
    cloudwatch.put_metric_alarm(AlarmName="left-behind", Namespace="LeftBehind", MetricName="m", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="left-behind", StateValue="ALARM", StateReason="left behind")
    sns.create_topic(Name="left-behind")
    dynamodb.create_table(TableName="left-behind", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])


def test_a_stage_starts_from_the_deployed_stack_whatever_the_stage_before_left(tmp_path):
    with pytest.MonkeyPatch.context() as monkeypatch, functional_stage(tmp_path / "first", monkeypatch):
        deployed = inventory()
        write_everywhere()
        changed = inventory()
    assert all(changed[store] != deployed[store] for store in deployed if store != "stacks"), (
        "write_everywhere left some store as it was: the check below would prove nothing for it")
    with pytest.MonkeyPatch.context() as monkeypatch, functional_stage(tmp_path / "second", monkeypatch):
        assert inventory() == deployed
        write_everywhere()  # the same names again: nothing of the first stage is in the way
