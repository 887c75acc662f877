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


_LIGHT_BACKUPS = False


def light_transaction_backups() -> None:
    """Back up only what a transaction writes, not the whole table, before moto applies it.

    moto deep-copies every table a transaction names, all its items, so that it can roll a failed one
    back. With a chunk marker per counted chunk, each count copied every marker of every run: the local
    stack slowed down as a run went on (quadratic in its chunks: a 10M-record run's 400 counts copied up
    to 400 markers each) and its memory grew by megabytes a chunk. Writes are serialized
    (serialize_dynamodb_writes), so nothing but the transaction itself changes the table meanwhile: the
    backup is the table with its item maps copied and only the items the transaction names deep-copied.
    """
    global _LIGHT_BACKUPS
    if _LIGHT_BACKUPS:
        return
    import copy as real_copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    named = threading.local()  # the keys, by table, of the transaction this thread is applying

    def backup(table: Table) -> Table:
        clone = real_copy.copy(table)
        clone.items = type(table.items)(table.items.default_factory)
        for hash_value, value in table.items.items():
            clone.items[hash_value] = dict(value) if table.has_range_key else value
        for hash_value, range_value in named.keys.get(table.name, ()):
            if table.has_range_key and range_value in table.items.get(hash_value, {}):
                clone.items[hash_value][range_value] = real_copy.deepcopy(table.items[hash_value][range_value])
            elif not table.has_range_key and hash_value in table.items:
                clone.items[hash_value] = real_copy.deepcopy(table.items[hash_value])
        return clone

    class CopyModule:
        """moto.dynamodb.models' `copy`: a Table copied inside a transaction is backed up lightly."""

        def __getattr__(self, name: str):
            return getattr(real_copy, name)

        def deepcopy(self, value, memo=None):
            if isinstance(value, Table) and getattr(named, "keys", None) is not None:
                return backup(value)
            return real_copy.deepcopy(value, memo)

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items, *args, **kwargs):
        keys: dict[str, list] = {}
        for action in transact_items:
            op = next(iter(action.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr in key:
                range_value = key.get(table.range_key_attr) if table.has_range_key else None
                keys.setdefault(table.name, []).append(
                    (DynamoType(key[table.hash_key_attr]), DynamoType(range_value) if range_value else None))
        named.keys = keys
        try:
            return original(self, transact_items, *args, **kwargs)
        finally:
            named.keys = None

    models.copy = CopyModule()
    models.DynamoDBBackend.transact_write_items = functools.wraps(original)(transact_write_items)
    _LIGHT_BACKUPS = True


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


_SERVICE_LOOKUP_CACHED = False


def cache_service_lookup() -> None:
    """Find the service a request's host names once per host, not once per request.

    moto's dispatcher answers "which service is this host?" by listing its own package folder (about 150
    `isdir` calls) and then trying each service's URL patterns, on every request and under one lock that
    every request thread takes. The answer depends on the host alone (the service and region a request is
    signed for), so it is kept: the emulator's CPU time per request fell from 3.6 to 4.5 ms to 2.4 to
    3.4 ms in interleaved runs (GetItem, UpdateItem and the SQS calls a worker makes), CPU the workers it
    serves get back.
    """
    global _SERVICE_LOOKUP_CACHED
    if _SERVICE_LOOKUP_CACHED:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lookup = DomainDispatcherApplication.get_backend_for_host
    # Bounded: the region in a request's signature is the caller's to choose.
    DomainDispatcherApplication.get_backend_for_host = functools.lru_cache(maxsize=1024)(lookup)
    _SERVICE_LOOKUP_CACHED = True


_S3_EVENT_VERSIONS = False


def s3_events_name_their_version() -> None:
    """Give an S3 notification its object's versionId, as S3 does in a bucket that keeps versions.

    moto's event names the key, its size and ETag only. An upload's run reads the version its
    notification names (chalicelib.uploads); without it, a file uploaded twice before the first upload's
    run was planned had both runs read the second upload on the local stack (seen with the README's boto3
    example, the file put twice), where on AWS each run reads its own.
    """
    global _S3_EVENT_VERSIONS
    if _S3_EVENT_VERSIONS:
        return
    from moto.s3 import notifications

    event_of = notifications._get_s3_event

    def with_version(event_name, bucket, key, notification_id):
        event = event_of(event_name, bucket, key, notification_id)
        version = getattr(key, "version_id", None)
        if version and version != "null":  # "null": a bucket that does not keep versions
            for record in event["Records"]:
                record["s3"]["object"]["versionId"] = version
        return event

    notifications._get_s3_event = with_version
    _S3_EVENT_VERSIONS = True


def start_emulator(port: int) -> ThreadedMotoServer:
    serialize_dynamodb_writes()
    light_transaction_backups()
    parse_json_templates_as_json()
    cache_service_lookup()
    s3_events_name_their_version()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def deploy(stage: str, default_token: str) -> dict[str, str]:
    """Create the stack from infra/template.json, then what moto's CloudFormation skips.

    moto creates the tables, queues and bucket from the template but does not
    apply the bucket's versioning and notification or the tables' TTL, so those
    are set here directly, with the same values the template declares.
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
    # A run reads its input at the version it was queued with (chalicelib.storage): the bucket keeps versions.
    boto3.client("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration=template["Resources"]["DataBucket"]["Properties"]["VersioningConfiguration"])
    boto3.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": uploads_arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}}]})
    secret = os.environ.get("TARGET_CREDENTIALS_SECRET")
    if secret:
        boto3.client("secretsmanager").create_secret(
            Name=secret, SecretString=json.dumps({"type": "bearer_token", "token": default_token}))
    return outputs
