"""The infrastructure template and the Chalice stages agree.

infra/template.json is the single source of the resources Chalice does not
manage. It is merged into `chalice package` for AWS and deployed by the local
stack into the emulator, so these tests check that it lints, that moto's
CloudFormation creates it, and that .chalice/config.json names exactly what it
creates. The deployed stages name resources by reference (`${RunsTable}`), which
tools/package.py turns into CloudFormation's; the real packaged template, with
each function's role, is checked in test_package.py.
"""
from __future__ import annotations

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
STAGE_SETTINGS_PATH = ROOT / "infra" / "stages.json"

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
STAGES = ("test", "local", "dev", "prod")
DEPLOYED_STAGES = ("dev", "prod")

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
STAGE_SETTINGS = _load(STAGE_SETTINGS_PATH)
# The functions app.py defines, by Chalice's names, and their policy files.
FUNCTIONS = {"api_handler", "api_key_authorizer", "process_work", "handle_dead_chunk", "handle_upload",
             "reap_stalled_runs"}


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
        if a["Properties"].get("Namespace") == "AWS/SQS"  # the others: tests/functional/test_observability.py
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
    assert "UploadsQueuePolicy" in TEMPLATE["Resources"]["DataBucket"]["DependsOn"]


def test_data_bucket_is_versioned_and_logged_and_its_outputs_expire():
    """GIVEN the data bucket (moto applies none of this, so checked in the template)
    THEN it is versioned, logs its accesses to the stack's logging bucket, and expires the run outputs under
    data/output/ and tenants/ after OutputExpirationDays, with their old versions a day later; other old
    versions go after 30 days."""
    bucket = TEMPLATE["Resources"]["DataBucket"]
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": "AccessLogsBucket"},
                                                  "LogFilePrefix": "data-bucket/"}
    assert "AccessLogsBucketPolicy" in bucket["DependsOn"]
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    expiring = {rule["Prefix"]: (rule["ExpirationInDays"], rule["NoncurrentVersionExpiration"])
                for rule in rules.values() if "ExpirationInDays" in rule}
    assert expiring == {prefix: ({"Ref": "OutputExpirationDays"}, {"NoncurrentDays": 1})
                        for prefix in ("data/output/", "tenants/")}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert "Prefix" not in rules["expire-old-versions"]
    # Nothing under incoming/ expires: a retry reads its run's file again.
    assert not any(rule.get("Prefix", "").startswith("incoming") for rule in rules.values())


def test_access_logs_are_kept_private_for_the_log_retention():
    """GIVEN the logging bucket and its policy (moto skips bucket policies)
    THEN only S3's log delivery may write, from this stage's data bucket in this account, under data-bucket/;
    the logs expire after LogRetentionDays and are reached over TLS only."""
    logs = TEMPLATE["Resources"]["AccessLogsBucket"]
    assert logs["DeletionPolicy"] == "Retain"
    properties = logs["Properties"]
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert properties["LifecycleConfiguration"]["Rules"] == [
        {"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": {"Ref": "LogRetentionDays"}}]
    allow, deny = TEMPLATE["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == {"Fn::Sub": "${AccessLogsBucket.Arn}/data-bucket/*"}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(
        ":s3:::records-migration-data-${Stage}-${AWS::AccountId}")
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_retention_parameters_and_every_stages_defaults():
    """GIVEN the retention parameters and infra/stages.json
    THEN each deployable stage sets a valid value for each, and its API throttling."""
    parameters = TEMPLATE["Parameters"]
    retention = parameters["LogRetentionDays"]["AllowedValues"]
    assert set(STAGE_SETTINGS) == set(DEPLOYED_STAGES)
    for stage, settings in STAGE_SETTINGS.items():
        assert set(settings["parameters"]) == {"LogRetentionDays", "OutputExpirationDays"}
        assert settings["parameters"]["LogRetentionDays"] in retention
        assert settings["parameters"]["OutputExpirationDays"] >= parameters["OutputExpirationDays"]["MinValue"]
        throttling = settings["api_throttling"]
        assert 0 < throttling["rate_limit"] <= throttling["burst_limit"]


# --- The template deployed into moto ------------------------------------------


def test_every_stage_deploys_into_one_account(deployed):
    """GIVEN the stacks of three stages in one account
    THEN each one is complete, and moto skipped only the types known to be
    missing from its CloudFormation."""
    assert deployed["statuses"] == {stage: "CREATE_COMPLETE" for stage in STAGES}
    assert deployed["skipped"] <= MOTO_SKIPS
    for stage in STAGES:
        assert deployed["outputs"][stage]["AccessLogsBucketName"] == f"records-migration-logs-{stage}-{ACCOUNT}"


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
    for metric in ("RecordsProcessed", "RecordsRejected", "ChunkSeconds", "RecordType"):
        assert metric in text
    assert "${" not in body
    alarm_widget = next(w for w in widgets if w["type"] == "alarm")
    assert {arn.rsplit(":", 1)[1] for arn in alarm_widget["properties"]["alarms"]} == {
        a["Properties"]["AlarmName"]["Fn::Sub"].replace("${Stage}", "test")
        for a in _resources_of_type("AWS::CloudWatch::Alarm").values()
    }


# --- Chalice stages and IAM policies ---------------------------------------------


def _resolved(value: str, outputs: dict[str, str], stage: str) -> str:
    """A deployed stage's setting as CloudFormation fills it in, from the stack's outputs: `${RunsTable}`,
    `${WorkQueue.QueueName}`, `${Stage}` (tools/package.py turns them into Ref, GetAtt and Sub)."""
    known = {"Stage": stage, "RunsTable": outputs["RunsTableName"], "AccessTable": outputs["AccessTableName"],
             "WorkQueue.QueueName": outputs["WorkQueueName"], "UploadsQueue.QueueName": outputs["UploadsQueueName"],
             "WorkDeadLetterQueue.QueueName": outputs["WorkDeadLetterQueueName"],
             "DataBucket": outputs["DataBucketName"]}
    return re.sub(r"\$\{([^}]+)\}", lambda m: known[m.group(1)], value)


@pytest.mark.parametrize("stage", ["local", *DEPLOYED_STAGES])
def test_chalice_stage_names_the_resources_the_template_creates(deployed, stage):
    """GIVEN the Chalice stage's environment variables
    WHEN the template is deployed with the same Stage
    THEN the variables name exactly the table, queues and bucket it created: the local stage by name, the
    deployed ones by reference to the stack's resources (no account id to fill in by hand)."""
    env = CONFIG["stages"][stage]["environment_variables"]
    out = deployed["outputs"][stage]
    assert set(env) == STAGE_VARIABLES
    assert env["STAGE"] == stage
    named = {k: _resolved(v, out, stage) for k, v in env.items()}
    assert named["RUNS_TABLE_NAME"] == out["RunsTableName"]
    assert named["ACCESS_TABLE_NAME"] == out["AccessTableName"]
    assert named["WORK_QUEUE_NAME"] == out["WorkQueueName"]
    assert named["UPLOADS_QUEUE_NAME"] == out["UploadsQueueName"]
    assert named["WORK_DLQ_NAME"] == out["WorkDeadLetterQueueName"]
    assert named["DATA_BUCKET"] == out["DataBucketName"] == f"records-migration-data-{stage}-{ACCOUNT}"
    if stage in DEPLOYED_STAGES:
        assert env["DATA_BUCKET"] == "${DataBucket}"  # never a literal account
        assert named["DATA_ROOT"] == f"s3://{out['DataBucketName']}/"
    else:
        assert env["DATA_ROOT"] == "."
    assert named["TARGET_CREDENTIALS_SECRET"] == f"records-migration/{stage}/target-credentials"
    assert named["RUN_SECRETS_PREFIX"] == f"records-migration/{stage}/runs/"
    assert int(env["CHUNK_RECORDS"]) > 0


def test_every_stage_shares_one_set_of_function_settings():
    """GIVEN .chalice/config.json
    THEN the functions' settings (policies, timeouts, memory) are set once for every stage, and the stages
    differ in their environment only."""
    assert CONFIG["autogen_policy"] is False
    assert CONFIG["api_gateway_stage"] == "api"
    assert CONFIG["lambda_timeout"] == 60 and CONFIG["lambda_memory_size"] == 1024
    assert CONFIG["xray"] is True  # active tracing, for Powertools Tracer
    for stage, settings in CONFIG["stages"].items():
        assert set(settings) == {"environment_variables"}, stage
    assert set(CONFIG["stages"]) == {"local", *DEPLOYED_STAGES}


def test_function_timeouts_fit_the_queues_that_feed_them_and_api_gateway():
    """GIVEN the per-function timeouts
    THEN each SQS-fed function may run no longer than its queue hides a
    message (Lambda refuses the event source otherwise), and the API's
    functions end before API Gateway gives up on them (29 s)."""
    functions = CONFIG["lambda_functions"]

    def timeout(function: str) -> int:
        return functions[function].get("lambda_timeout", CONFIG["lambda_timeout"])

    def visibility(logical_id: str) -> int:
        return TEMPLATE["Resources"][logical_id]["Properties"].get("VisibilityTimeout", 30)

    assert timeout("process_work") == 900 and functions["process_work"]["lambda_memory_size"] == 3008
    assert timeout("process_work") <= visibility("WorkQueue")
    assert timeout("handle_upload") <= visibility("UploadsQueue")
    assert timeout("handle_dead_chunk") <= visibility("WorkDeadLetterQueue")
    assert timeout("reap_stalled_runs") == 300
    assert timeout("api_handler") <= 28
    assert timeout("api_key_authorizer") <= 28


def test_every_function_has_a_policy_of_its_own():
    """GIVEN the functions app.py defines
    THEN each names its own policy file, every policy file is some function's, and each is a policy whose
    statements all allow (the grants themselves are checked on the packaged roles, test_package.py)."""
    functions = CONFIG["lambda_functions"]
    assert set(functions) == FUNCTIONS
    files = [functions[name]["iam_policy_file"] for name in FUNCTIONS]
    assert len(set(files)) == len(files)
    assert {p.name for p in (ROOT / ".chalice").glob("policy-*.json")} == set(files)
    for name in files:
        policy = _load(ROOT / ".chalice" / name)
        assert policy["Version"] == "2012-10-17"
        assert {s["Effect"] for s in policy["Statement"]} == {"Allow"}
        # one policy for every stage: stage names only through ${Stage}
        assert not re.search(r"/(dev|prod|local)/", json.dumps(policy)), name
