"""The embedded AWS emulator (moto in server mode) and the deploy of infra/ into it."""
from __future__ import annotations

import functools
import json
import os
import threading
import time

import boto3
from moto.server import ThreadedMotoServer

from local_stack.environment import PROJECT_DIR

TEMPLATE = os.path.join(PROJECT_DIR, "infra", "template.json")


_WRITES_SERIALIZED = False


def serialize_dynamodb_writes() -> None:
    """Give the emulator DynamoDB's isolation: one write or transaction at a time.

    moto serves requests on several threads and checks a transaction's
    conditions, then applies it, without a lock; two workers counting the same
    chunk at the same moment could then both pass `attribute_not_exists` and
    count it twice, which DynamoDB itself never allows (found by the
    duplicate-delivery fault test).
    """
    global _WRITES_SERIALIZED
    if _WRITES_SERIALIZED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
        original = getattr(DynamoDBBackend, name)

        def serialized(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(serialized))
    _WRITES_SERIALIZED = True


_JSON_TEMPLATES = False


def parse_json_templates_as_json() -> None:
    """Read a JSON template with the JSON parser, as CloudFormation does.

    moto reads every template with PyYAML's pure-Python loader first (JSON is
    YAML too), which took a third of a second for infra/template.json on each
    deploy: each start of the local stack, and each functional test. A template
    that is not JSON (YAML with its tags) still goes to moto's own parser.
    """
    global _JSON_TEMPLATES
    if _JSON_TEMPLATES:
        return
    from moto.cloudformation.models import Stack

    yaml_or_json = Stack.parse_template

    def parse_template(template: str) -> dict:
        try:
            parsed = json.loads(template)
        except ValueError:
            parsed = None
        return parsed if isinstance(parsed, dict) else yaml_or_json(template)

    Stack.parse_template = staticmethod(parse_template)
    _JSON_TEMPLATES = True


def start_emulator(port: int) -> ThreadedMotoServer:
    serialize_dynamodb_writes()
    parse_json_templates_as_json()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def deploy(stage: str, default_token: str) -> dict[str, str]:
    """Create the stack from infra/template.json, then what moto's CloudFormation skips.

    moto creates the tables, queues and bucket from the template but does not
    apply the bucket notification or the tables' TTL, so those are set
    here directly, with the same values the template declares.
    """
    parse_json_templates_as_json()  # in this process, for moto in-process (the functional tests' mock_aws)
    cfn = boto3.client("cloudformation")
    with open(TEMPLATE, encoding="utf-8") as f:
        template = json.load(f)
    stack = f"records-migration-{stage}"
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template),
                     Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}])
    for _ in range(100):
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            break
        time.sleep(0.1)
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"deploying {TEMPLATE} into the emulator ended in {status}")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    for resource, name in (("RunsTable", "runs"), ("AccessTable", "access")):
        ttl = template["Resources"][resource]["Properties"]["TimeToLiveSpecification"]
        boto3.client("dynamodb").update_time_to_live(
            TableName=f"records-migration-{name}-{stage}",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
    sqs = boto3.client("sqs")
    # Lambda needs the work queue's visibility timeout above its 900 s timeout;
    # locally a chunk takes seconds, and a killed worker's chunk should come
    # back in about a minute, not in sixteen.
    work_url = sqs.get_queue_url(QueueName=f"records-migration-work-{stage}")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=work_url, Attributes={
        "VisibilityTimeout": os.environ.get("LOCAL_VISIBILITY_SECONDS", "60")})
    uploads_url = sqs.get_queue_url(QueueName=f"records-migration-uploads-{stage}")["QueueUrl"]
    uploads_arn = sqs.get_queue_attributes(QueueUrl=uploads_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket = os.environ["DATA_BUCKET"]
    boto3.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": uploads_arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]})
    secret = os.environ.get("TARGET_CREDENTIALS_SECRET")
    if secret:
        boto3.client("secretsmanager").create_secret(
            Name=secret, SecretString=json.dumps({"type": "bearer_token", "token": default_token}))
    return outputs
