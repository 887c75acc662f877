"""tools/package.py's rewrite of Chalice's template, on a small template (the real one: functional/test_package.py)."""
from __future__ import annotations

import pytest

from tools.package import finish, queue_arn, reference

SETTINGS = {"parameters": {"LogRetentionDays": 14}, "api_throttling": {"rate_limit": 10, "burst_limit": 20}}


def chalice_like_template() -> dict:
    """What `chalice package --merge-template` writes, cut down to what the rewrite touches."""
    return {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"},
                       "LogRetentionDays": {"Type": "Number", "Default": 30}},
        "Resources": {
            "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api"}},
            "ProcessWork": {"Type": "AWS::Serverless::Function", "Properties": {
                "Environment": {"Variables": {"STAGE": "prod", "RUNS_TABLE_NAME": "${RunsTable}"}},
                "Events": {"ProcessWorkSqsEventSource": {"Type": "SQS", "Properties": {
                    "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                                         "${WorkQueue.QueueName}"}, "BatchSize": 1}}}}},
            "WorkQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        },
    }


@pytest.mark.parametrize("value, expected", [
    ("25000", "25000"),
    ("", ""),
    ("${RunsTable}", {"Ref": "RunsTable"}),
    ("${AWS::AccountId}", {"Ref": "AWS::AccountId"}),
    ("${WorkQueue.QueueName}", {"Fn::GetAtt": ["WorkQueue", "QueueName"]}),
    ("s3://${DataBucket}/", {"Fn::Sub": "s3://${DataBucket}/"}),
    ("records-migration/${Stage}/runs/", {"Fn::Sub": "records-migration/${Stage}/runs/"}),
])
def test_a_stage_setting_becomes_the_reference_it_spells(value, expected):
    assert reference(value) == expected


def test_an_event_source_takes_its_queue_by_getatt():
    chalice = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${UploadsQueue.QueueName}"}
    assert queue_arn(chalice) == {"Fn::GetAtt": ["UploadsQueue", "Arn"]}


def test_a_queue_named_literally_is_refused():
    """GIVEN a stage that names its queue (another stack's, or a stale name)
    THEN packaging stops instead of pointing the function at it."""
    with pytest.raises(ValueError, match="QueueName"):
        queue_arn({"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:records-migration-work-dev"})


def test_finish_adds_what_chalice_cannot_say():
    """GIVEN Chalice's template of the prod stage
    WHEN it is finished
    THEN references are CloudFormation's, the function has its log group, the API its throttling, and the
    stack takes the prod stage only, with the stage's parameter defaults."""
    template = finish(chalice_like_template(), "prod", SETTINGS)
    function = template["Resources"]["ProcessWork"]["Properties"]
    assert function["Environment"]["Variables"] == {"STAGE": "prod", "RUNS_TABLE_NAME": {"Ref": "RunsTable"}}
    assert function["Events"]["ProcessWorkSqsEventSource"]["Properties"]["Queue"] == {
        "Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert template["Resources"]["ProcessWorkLogGroup"]["Properties"] == {
        "LogGroupName": {"Fn::Sub": "/aws/lambda/${ProcessWork}"}, "RetentionInDays": {"Ref": "LogRetentionDays"}}
    errors = template["Resources"]["ProcessWorkLambdaErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"], errors["Dimensions"]) == (
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": "ProcessWork"}}])
    assert template["Resources"]["ProcessWorkLambdaThrottlesAlarm"]["Properties"]["MetricName"] == "Throttles"
    assert template["Resources"]["RestAPI"]["Properties"]["MethodSettings"] == [
        {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 10, "ThrottlingBurstLimit": 20}]
    assert template["Parameters"]["Stage"] == {"Type": "String", "Default": "prod", "AllowedValues": ["prod"]}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 14


def test_a_stage_setting_for_a_parameter_the_template_lacks_is_refused():
    with pytest.raises(ValueError, match="NoSuchParameter"):
        finish(chalice_like_template(), "dev", {**SETTINGS, "parameters": {"NoSuchParameter": 1}})
