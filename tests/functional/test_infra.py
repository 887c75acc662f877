"""The infrastructure template, the Chalice stages and the IAM policy agree.

infra/template.json is the single source of the resources Chalice does not
manage. It is merged into `chalice package` for AWS and deployed by the local
stack into the emulator, so these tests check that it lints, that moto's
CloudFormation creates it, and that .chalice/config.json and the IAM policy
name exactly what it creates.
"""
from __future__ import annotations

import copy
import json
import os
import re
import warnings
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
from cfnlint.api import ManualArgs, lint
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "template.json"
CONFIG_PATH = ROOT / ".chalice" / "config.json"
POLICY_PATH = ROOT / ".chalice" / "policy-dev.json"

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
STAGES = ("test", "local", "dev")

# Resource types moto 5.2.5's CloudFormation skips (with a warning) instead of
# creating. The template stays correct for AWS; tests check them statically.
MOTO_SKIPS = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::CloudWatch::Alarm"}

STAGE_VARIABLES = {
    "STAGE", "RUNS_TABLE_NAME", "WORK_QUEUE_NAME", "UPLOADS_QUEUE_NAME",
    "WORK_DLQ_NAME", "DATA_BUCKET", "DATA_ROOT", "TARGET_API_URL",
    "TARGET_CREDENTIALS_SECRET", "RUN_SECRETS_PREFIX", "CHUNK_RECORDS", "LOG_LEVEL",
    "WORKER_MAX_CONCURRENCY", "MAX_CALLS_IN_FLIGHT", "RETRY_BUDGET_SECONDS",
    "AUTH", "ACCESS_TABLE_NAME", "OUTBOUND_ALLOWLIST", "OUTBOUND_ALLOW_PRIVATE", "CORS_ALLOW_ORIGIN",
}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


TEMPLATE = _load(TEMPLATE_PATH)
CONFIG = _load(CONFIG_PATH)
POLICY = _load(POLICY_PATH)


def _lint(template: dict) -> list[str]:
    matches = lint(
        json.dumps(template),
        config=ManualArgs(regions=[REGION], include_checks=["I"]),
    )
    return [f"{m.rule.id} {m.message} ({m.path})" for m in matches]


def _resources_of_type(resource_type: str) -> dict[str, dict]:
    return {
        name: res for name, res in TEMPLATE["Resources"].items()
        if res["Type"] == resource_type
    }


@pytest.fixture(scope="module")
def deployed():
    """GIVEN a mocked AWS account
    WHEN the template is deployed through CloudFormation once per stage
    THEN the fixture yields the stacks' outputs per stage and the skipped types."""
    saved = {k: os.environ.get(k) for k in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE")}
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
    })
    # A local stack's endpoint would route the clients past the mock.
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            cfn = boto3.client("cloudformation", region_name=REGION)
            body = TEMPLATE_PATH.read_text()
            outputs: dict[str, dict[str, str]] = {}
            statuses: dict[str, str] = {}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for stage in STAGES:
                    cfn.create_stack(
                        StackName=f"records-migration-{stage}",
                        TemplateBody=body,
                        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
                    )
                    stack = cfn.describe_stacks(StackName=f"records-migration-{stage}")["Stacks"][0]
                    statuses[stage] = stack["StackStatus"]
                    outputs[stage] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            skipped = {
                match.group(1) for w in caught
                if (match := re.search(r"parse (\S+) but it's not supported", str(w.message)))
            }
            yield {"outputs": outputs, "statuses": statuses, "skipped": skipped}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- The template on its own -------------------------------------------------


def test_template_passes_cfn_lint():
    """GIVEN infra/template.json
    WHEN cfn-lint checks it, informational rules included
    THEN it reports nothing."""
    assert _lint(TEMPLATE) == []


def test_template_takes_the_stage_as_parameter():
    """GIVEN the template's parameters
    THEN Stage is a String defaulting to dev, and every named resource carries it."""
    stage = TEMPLATE["Parameters"]["Stage"]
    assert stage["Type"] == "String"
    assert stage["Default"] == "dev"
    name_props = ("TableName", "QueueName", "BucketName", "AlarmName", "DashboardName")
    for name, res in TEMPLATE["Resources"].items():
        for prop in name_props:
            if prop in res.get("Properties", {}):
                assert "${Stage}" in res["Properties"][prop]["Fn::Sub"], name


def test_alarms_watch_the_dead_letter_queues_and_the_work_queue_age():
    """GIVEN the alarms (which moto does not create, so checked in the template)
    THEN the two DLQs alarm on any visible message and the work queue on an
    oldest message older than 900 s."""
    alarms = {
        (a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0], a["Properties"]["MetricName"]):
            (a["Properties"]["ComparisonOperator"], a["Properties"]["Threshold"])
        for a in _resources_of_type("AWS::CloudWatch::Alarm").values()
    }
    assert alarms == {
        ("WorkDeadLetterQueue", "ApproximateNumberOfMessagesVisible"): ("GreaterThanThreshold", 0),
        ("UploadsDeadLetterQueue", "ApproximateNumberOfMessagesVisible"): ("GreaterThanThreshold", 0),
        ("WorkQueue", "ApproximateAgeOfOldestMessage"): ("GreaterThanThreshold", 900),
    }


def test_uploads_queue_accepts_messages_from_the_data_bucket_only():
    """GIVEN the uploads queue policy (moto skips it, so checked in the template)
    THEN it lets s3.amazonaws.com send from this stage's data bucket in this
    account, and the bucket waits for it before setting its notification."""
    policy = TEMPLATE["Resources"]["UploadsQueuePolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(
        ":s3:::records-migration-data-${Stage}-${AWS::AccountId}")
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert TEMPLATE["Resources"]["DataBucket"]["DependsOn"] == "UploadsQueuePolicy"


# --- The template deployed into moto ------------------------------------------


def test_every_stage_deploys_into_one_account(deployed):
    """GIVEN the stacks of three stages in one account
    THEN each one is complete, and moto skipped only the types known to be
    missing from its CloudFormation."""
    assert deployed["statuses"] == {stage: "CREATE_COMPLETE" for stage in STAGES}
    assert deployed["skipped"] <= MOTO_SKIPS


def test_runs_table_has_keys_indexes_and_ttl(deployed):
    """GIVEN the test stage's runs table
    THEN it is on demand, keyed pk/sk, with the sparse active-runs and the
    recent-runs indexes (projection ALL), and TTL on expires_at."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = ddb.describe_table(TableName="records-migration-runs-test")["Table"]
    assert deployed["outputs"]["test"]["RunsTableName"] == "records-migration-runs-test"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("pk", "HASH"), ("sk", "RANGE")}
    indexes = {
        g["IndexName"]: ({(k["AttributeName"], k["KeyType"]) for k in g["KeySchema"]},
                         g["Projection"]["ProjectionType"])
        for g in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "active-runs": ({("active_pk", "HASH"), ("created_at", "RANGE")}, "ALL"),
        "recent-runs": ({("recent_pk", "HASH"), ("created_at", "RANGE")}, "ALL"),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "active_pk": "S", "recent_pk": "S", "created_at": "S"}

    declared = TEMPLATE["Resources"]["RunsTable"]["Properties"]["TimeToLiveSpecification"]
    assert declared == {"AttributeName": "expires_at", "Enabled": True}
    ttl = ddb.describe_time_to_live(TableName="records-migration-runs-test")["TimeToLiveDescription"]
    # moto's CloudFormation does not apply TimeToLiveSpecification; AWS does.
    if ttl["TimeToLiveStatus"] == "ENABLED":
        assert ttl["AttributeName"] == "expires_at"


def test_queues_redrive_to_their_dead_letter_queues(deployed):
    """GIVEN the test stage's four queues
    THEN work and uploads redrive to their DLQs after 5 receives, each queue
    hides a message at least as long as its consumer may run, and the DLQs
    keep messages 14 days."""
    sqs = boto3.client("sqs", region_name=REGION)
    out = deployed["outputs"]["test"]

    def attributes(name: str) -> dict:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    work = attributes("records-migration-work-test")
    work_dlq = attributes("records-migration-work-dlq-test")
    uploads = attributes("records-migration-uploads-test")
    uploads_dlq = attributes("records-migration-uploads-dlq-test")

    assert json.loads(work["RedrivePolicy"]) == {
        "deadLetterTargetArn": work_dlq["QueueArn"], "maxReceiveCount": 5}
    assert json.loads(uploads["RedrivePolicy"]) == {
        "deadLetterTargetArn": uploads_dlq["QueueArn"], "maxReceiveCount": 5}
    assert int(work["VisibilityTimeout"]) == 960
    assert int(uploads["VisibilityTimeout"]) == 120
    assert work_dlq["MessageRetentionPeriod"] == uploads_dlq["MessageRetentionPeriod"] == "1209600"
    assert out["WorkQueueArn"] == work["QueueArn"]
    assert out["UploadsQueueArn"] == uploads["QueueArn"]
    assert out["WorkQueueUrl"].endswith("/records-migration-work-test")
    assert out["WorkDeadLetterQueueUrl"].endswith("/records-migration-work-dlq-test")
    assert out["UploadsDeadLetterQueueArn"] == uploads_dlq["QueueArn"]


def _declared_notification_as_api() -> dict:
    """The bucket's NotificationConfiguration in the shape of the S3 API."""
    declared = TEMPLATE["Resources"]["DataBucket"]["Properties"]["NotificationConfiguration"]
    (queue_config,) = declared["QueueConfigurations"]
    assert queue_config["Queue"] == {"Fn::GetAtt": ["UploadsQueue", "Arn"]}
    return {
        "Event": queue_config["Event"],
        "FilterRules": [
            {"Name": r["Name"], "Value": r["Value"]} for r in queue_config["Filter"]["S3Key"]["Rules"]
        ],
    }


def test_data_bucket_is_encrypted_and_notifies_the_uploads_queue(deployed):
    """GIVEN the test stage's data bucket
    THEN it is named after the stage and account and encrypted with AES256,
    and object creations under incoming/ reach the uploads queue.

    moto's CloudFormation does not apply NotificationConfiguration (nor the
    public access block); where it does not, the declared configuration is
    applied through the S3 API, as the local stack has to, and the routing is
    checked that way."""
    bucket = "records-migration-data-test-" + ACCOUNT
    assert deployed["outputs"]["test"]["DataBucketName"] == bucket
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    public = TEMPLATE["Resources"]["DataBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert set(public.values()) == {True} and len(public) == 4

    declared = _declared_notification_as_api()
    assert declared == {"Event": "s3:ObjectCreated:*",
                        "FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
    uploads_url = sqs.get_queue_url(QueueName="records-migration-uploads-test")["QueueUrl"]
    uploads_arn = deployed["outputs"]["test"]["UploadsQueueArn"]

    applied = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    if applied:
        (config,) = applied
        assert config["QueueArn"] == uploads_arn
        assert config["Events"] == [declared["Event"]]
    else:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": uploads_arn,
                "Events": [declared["Event"]],
                "Filter": {"Key": {"FilterRules": declared["FilterRules"]}},
            }]},
        )
    # Drain the s3:TestEvent sent when the notification is set.
    sqs.purge_queue(QueueUrl=uploads_url)

    s3.put_object(Bucket=bucket, Key="elsewhere/disability/a.csv", Body=b"id\n1\n")
    s3.put_object(Bucket=bucket, Key="incoming/disability/b.csv", Body=b"id\n1\n")

    messages = sqs.receive_message(QueueUrl=uploads_url, MaxNumberOfMessages=10).get("Messages", [])
    # Keys in S3 events are URL-encoded (moto encodes "/" too): decode them
    # as the upload handler must.
    keys = [
        unquote_plus(record["s3"]["object"]["key"])
        for message in messages
        for record in json.loads(message["Body"]).get("Records", [])
    ]
    assert keys == ["incoming/disability/b.csv"]


def test_dashboard_shows_queues_functions_and_record_metrics(deployed):
    """GIVEN the test stage's dashboard
    THEN its body is JSON with the stage's queues, the stage's functions and
    the RecordsMigration metrics."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    assert deployed["outputs"]["test"]["DashboardName"] == "records-migration-test"
    body = cw.get_dashboard(DashboardName="records-migration-test")["DashboardBody"]
    widgets = json.loads(body)["widgets"]
    text = json.dumps(widgets)
    for queue in ("records-migration-work-test", "records-migration-work-dlq-test",
                  "records-migration-uploads-dlq-test"):
        assert f'"{queue}"' in text
    assert "FunctionName=records-migration-test" in text
    for metric in ("RecordsProcessed", "RecordsFailed", "ChunkSeconds", "RecordType"):
        assert metric in text
    assert "${" not in body
    alarm_widget = next(w for w in widgets if w["type"] == "alarm")
    assert {arn.rsplit(":", 1)[1] for arn in alarm_widget["properties"]["alarms"]} == {
        a["Properties"]["AlarmName"]["Fn::Sub"].replace("${Stage}", "test")
        for a in _resources_of_type("AWS::CloudWatch::Alarm").values()
    }


# --- Chalice stages and IAM policy ---------------------------------------------


@pytest.mark.parametrize("stage", ["local", "dev"])
def test_chalice_stage_names_the_resources_the_template_creates(deployed, stage):
    """GIVEN the Chalice stage's environment variables
    WHEN the template is deployed with the same Stage
    THEN the variables name exactly the table, queues and bucket it created."""
    env = CONFIG["stages"][stage]["environment_variables"]
    out = deployed["outputs"][stage]
    assert set(env) == STAGE_VARIABLES
    assert env["STAGE"] == stage
    assert env["RUNS_TABLE_NAME"] == out["RunsTableName"]
    assert env["ACCESS_TABLE_NAME"] == out["AccessTableName"]
    assert env["WORK_QUEUE_NAME"] == out["WorkQueueName"]
    assert env["UPLOADS_QUEUE_NAME"] == out["UploadsQueueName"]
    assert env["WORK_DLQ_NAME"] == out["WorkDeadLetterQueueName"]
    # dev names the bucket with an ACCOUNT placeholder the operator fills in.
    bucket = env["DATA_BUCKET"].replace("ACCOUNT", ACCOUNT)
    assert bucket == out["DataBucketName"]
    if stage == "dev":
        assert env["DATA_ROOT"] == f"s3://{env['DATA_BUCKET']}/"
    else:
        assert env["DATA_ROOT"] == "."
    assert env["TARGET_CREDENTIALS_SECRET"] == f"records-migration/{stage}/target-credentials"
    assert env["RUN_SECRETS_PREFIX"] == f"records-migration/{stage}/runs/"
    assert int(env["CHUNK_RECORDS"]) > 0


def test_function_timeouts_fit_the_queues_that_feed_them():
    """GIVEN the dev stage's per-function timeouts
    THEN each SQS-fed function may run no longer than its queue hides a
    message (Lambda refuses the event source otherwise)."""
    dev = CONFIG["stages"]["dev"]
    functions = dev["lambda_functions"]

    def visibility(logical_id: str) -> int:
        return TEMPLATE["Resources"][logical_id]["Properties"].get("VisibilityTimeout", 30)

    assert functions["process_work"] == {"lambda_timeout": 900, "lambda_memory_size": 3008}
    assert functions["process_work"]["lambda_timeout"] <= visibility("WorkQueue")
    assert functions["handle_upload"]["lambda_timeout"] <= visibility("UploadsQueue")
    assert functions["handle_dead_chunk"]["lambda_timeout"] <= visibility("WorkDeadLetterQueue")
    assert functions["reap_stalled_runs"]["lambda_timeout"] == 300
    assert dev["lambda_timeout"] == 60
    assert dev["autogen_policy"] is False
    assert dev["iam_policy_file"] == POLICY_PATH.name
    assert dev["api_gateway_stage"] == "api"


def _merged_with_policy() -> dict:
    """What `chalice package --merge-template` produces for the policy: the
    template plus an IAM role whose inline policy is policy-dev.json."""
    merged = copy.deepcopy(TEMPLATE)
    merged["Resources"]["ProcessWorkRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"Service": "lambda.amazonaws.com"}}],
            },
            "Policies": [{"PolicyName": "ProcessWorkRolePolicy", "PolicyDocument": POLICY}],
        },
    }
    return merged


def test_policy_lints_once_merged_into_the_template():
    """GIVEN policy-dev.json, which refers to the template's resources
    WHEN it is placed in the template as Chalice places it
    THEN cfn-lint accepts it: every reference resolves, every action exists."""
    assert _lint(_merged_with_policy()) == []


def test_policy_grants_only_what_the_functions_use():
    """GIVEN policy-dev.json
    THEN it grants the listed actions on the stage's own resources only."""
    grants = {s["Sid"]: (set(s["Action"]), s["Resource"]) for s in POLICY["Statement"]}
    assert all(s["Effect"] == "Allow" for s in POLICY["Statement"])
    actions, resources = grants["RunsTable"]
    assert actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                       "dynamodb:Query", "dynamodb:ConditionCheckItem"}
    assert resources == [{"Fn::GetAtt": ["RunsTable", "Arn"]}, {"Fn::Sub": "${RunsTable.Arn}/index/*"}]
    actions, resources = grants["Queues"]
    assert actions == {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                       "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
    assert {r["Fn::GetAtt"][0] for r in resources} == set(_resources_of_type("AWS::SQS::Queue"))
    assert grants["DataBucketList"] == ({"s3:ListBucket"}, [{"Fn::GetAtt": ["DataBucket", "Arn"]}])
    assert grants["DataBucketObjects"] == ({"s3:GetObject", "s3:PutObject"},
                                           [{"Fn::Sub": "${DataBucket.Arn}/*"}])
    actions, (secrets,) = grants["StageSecrets"]
    assert actions == {"secretsmanager:CreateSecret", "secretsmanager:GetSecretValue",
                       "secretsmanager:DeleteSecret", "secretsmanager:TagResource"}
    env = CONFIG["stages"]["dev"]["environment_variables"]
    pattern = secrets["Fn::Sub"].rsplit(":secret:", 1)[1]
    assert pattern == "records-migration/dev/*"
    assert env["RUN_SECRETS_PREFIX"].startswith(pattern[:-1])
    assert env["TARGET_CREDENTIALS_SECRET"].startswith(pattern[:-1])
    metrics = next(s for s in POLICY["Statement"] if s["Sid"] == "Metrics")
    assert metrics["Action"] == ["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "RecordsMigration"}}
