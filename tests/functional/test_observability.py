"""What operators see: the metrics the handlers print, the alarms and dashboard that read them, the health route.

The alarms must name metrics the code emits, with the dimensions it emits them with (an alarm on a metric that
never comes stays quiet for ever); runs through the real handlers (moto, chalice.test.Client) must print the
documents those alarms read; GET /api/v1/health answers 200 or 503 and says nothing but ok or failing.
"""
from __future__ import annotations

import json
import os
import warnings

import boto3
import pytest
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.observability import METRICS, NAMESPACE
from tests.functional.test_infra import REGION, TEMPLATE, TEMPLATE_PATH
from tests.functional.test_recovery import run_whose_second_chunk_dies

EMITTED = {metric.name: metric for metric in METRICS}
ALARMS = {name: res["Properties"] for name, res in TEMPLATE["Resources"].items()
          if res["Type"] == "AWS::CloudWatch::Alarm"}
HANDLERS = {"api_handler", "process_work", "handle_dead_chunk", "handle_upload", "reap_stalled_runs"}


def documents(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def totals(docs: list[dict], name: str, **dimensions) -> float:
    """The sum of `name` over the documents whose dimension values include `dimensions`."""
    return sum(sum(doc[name]) for doc in docs if name in doc
               and all(doc.get(key) == value for key, value in dimensions.items()))


# ---------------------------------------------------------------- the template

def test_every_alarm_on_a_custom_metric_names_one_the_code_emits_with_its_dimensions():
    custom = {name: p for name, p in ALARMS.items() if p.get("Namespace") == NAMESPACE}
    assert {p["MetricName"] for p in custom.values()} >= {"ChunksFailed", "RunsFinished", "HandlerErrors"}
    for name, alarm in custom.items():
        metric = EMITTED.get(alarm["MetricName"])
        assert metric is not None, f"{name} watches {alarm['MetricName']}, which the code never emits"
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions["Stage"] == {"Ref": "Stage"}, name
        # exactly a dimension set the code prints: [Stage], or [Stage, <its breakdown>]
        assert set(dimensions) in ({"Stage"}, {"Stage", metric.breakdown}), name
        assert alarm["Statistic"] == "Sum" and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_alarms_cover_what_is_lost_or_stuck():
    watched = {(p.get("Namespace"), p.get("MetricName"),
                tuple(sorted((d["Name"], json.dumps(d["Value"])) for d in p.get("Dimensions", []))))
               for p in ALARMS.values()}
    names = {p["MetricName"] for p in ALARMS.values() if "MetricName" in p}
    assert {"ChunksFailed", "RunsFinished", "HandlerErrors", "5XXError", "ApproximateAgeOfOldestMessage"} <= names
    assert {next(d["Value"] for d in p["Dimensions"] if d["Name"] == "Handler")
            for p in ALARMS.values() if p.get("MetricName") == "HandlerErrors"} == HANDLERS
    failed = next(p for p in ALARMS.values() if p.get("MetricName") == "RunsFinished")
    assert {"Name": "Status", "Value": "failed"} in failed["Dimensions"]
    throttled = {next(m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in p["Metrics"]
                      if "MetricStat" in m)
                 for p in ALARMS.values() if "Metrics" in p}
    assert throttled == {"RunsTable", "AccessTable"}
    assert watched  # every alarm has a metric or a metric expression


def test_every_alarm_notifies_the_stack_s_topic_and_the_extra_one_if_given():
    for name, alarm in ALARMS.items():
        for actions in ("AlarmActions", "OKActions"):
            assert alarm[actions] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}],
                                                 [{"Ref": "AlarmTopic"}]]}, name
        assert alarm["TreatMissingData"] == "notBreaching"
    subscription = TEMPLATE["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_dashboard_shows_every_metric_per_stage():
    body = TEMPLATE["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for metric in METRICS:
        assert f'"{metric.name}"' in body or f'\\"{metric.name}\\"' in body, metric.name
    assert '"RecordsMigration","RecordsProcessed","Stage","${Stage}"' in body
    assert "{RecordsMigration,Stage,RecordType}" in body


def test_each_stage_s_stack_creates_its_alarm_topic(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfn = boto3.client("cloudformation", region_name=REGION)
        for stage, email in (("quiet", ""), ("mailed", "ops@example.com")):
            cfn.create_stack(StackName=f"records-migration-{stage}", TemplateBody=TEMPLATE_PATH.read_text(),
                             Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage},
                                         {"ParameterKey": "AlarmEmail", "ParameterValue": email}])
        sns = boto3.client("sns", region_name=REGION)
        topics = {t["TopicArn"].rsplit(":", 1)[1]: t["TopicArn"] for t in sns.list_topics()["Topics"]}
        assert {"records-migration-quiet-alarms", "records-migration-mailed-alarms"} <= set(topics)
        # (moto 5.2.5's CloudFormation skips AWS::SNS::Subscription: the e-mail one is checked in the template)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in
                   cfn.describe_stacks(StackName="records-migration-mailed")["Stacks"][0]["Outputs"]}
        assert outputs["AlarmTopicArn"] == topics["records-migration-mailed-alarms"]


# ---------------------------------------------------------------- what the handlers print

def test_a_run_prints_the_metrics_the_alarms_and_dashboard_read(harness, capsys):
    # GIVEN a run to the end (file mode: 300 records, some invalid), then one whose second chunk dies
    capsys.readouterr()
    done = harness.run_to_end(file_path="data/input/sample_disability_data.csv", record_type="disability",
                              output_mode="file")
    failed = harness.status(run_whose_second_chunk_dies(harness))
    docs = documents(capsys)
    # THEN every document is of the stage, and the counts are the runs' own
    assert docs and all(doc["Stage"] == "test" for doc in docs)
    assert totals(docs, "RunsStarted", Source="api") == 2
    progress = done["progress"]
    assert totals(docs, "RecordsProcessed", RecordType="disability") == \
        progress["processed_records"] + failed["progress"]["processed_records"] - 100  # the dead chunk: no row read
    assert totals(docs, "RecordsRejected") >= progress["error_count"]
    assert totals(docs, "RecordsDelivered") >= progress["success_count"]
    assert totals(docs, "ChunksFailed") == 1
    assert totals(docs, "RunsFinished", Status="completed") == 1
    assert totals(docs, "RunsFinished", Status="failed") == 1
    assert totals(docs, "HandlerErrors") == 0
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE and directive["Dimensions"][0] == ["Stage"]


def test_api_delivery_prints_calls_latencies_and_cancel_counts_a_finished_run(harness, capsys):
    capsys.readouterr()
    harness.run_to_end(file_path="data/input/sample_disability_data.csv", record_type="disability",
                       output_mode="api")
    run_id = harness.trigger(file_path="data/input/sample_disability_data.csv", record_type="disability",
                             output_mode="file")
    assert harness.post(f"/api/v1/migrations/cancel/{run_id}", raw=b"").status_code == 200
    docs = documents(capsys)
    assert totals(docs, "DeliveryCalls") >= 1
    latencies = [value for doc in docs for value in doc.get("DeliveryLatency", [])]
    assert len(latencies) == totals(docs, "DeliveryCalls") and all(v >= 0 for v in latencies)
    assert totals(docs, "DeliveryRetries") == totals(docs, "DeliveryThrottles") == 0
    assert totals(docs, "RunsFinished", Status="cancelled") == 1


# ---------------------------------------------------------------- health

def test_health_answers_ok_when_the_table_and_the_queue_answer(harness):
    response = harness.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok", "checks": {"runs_table": "ok", "work_queue": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("setting, failing", [("RUNS_TABLE_NAME", "runs_table"), ("WORK_QUEUE_NAME", "work_queue")])
def test_health_answers_503_naming_the_component_that_fails_and_nothing_else(harness, monkeypatch, capsys,
                                                                              setting, failing):
    # GIVEN a stage whose table (or queue) name is wrong
    monkeypatch.setenv(setting, os.environ[setting] + "-missing")
    bootstrap.reset()
    try:
        # WHEN the health route is asked
        response = harness.get("/api/v1/health")
    finally:
        monkeypatch.undo()
        bootstrap.reset()
    # THEN it answers 503 with which check failed, no error text; the log names the exception's type only
    assert response.status_code == 503
    checks = {"runs_table": "ok", "work_queue": "ok"} | {failing: "failing"}
    assert response.json_body == {"status": "failing", "checks": checks}
    out = capsys.readouterr().out
    line = next(json.loads(x) for x in out.splitlines() if '"health check failed"' in x)
    assert line["check"] == failing and line["exception"] in ("ResourceNotFoundException", "QueueDoesNotExist")
    assert "missing" not in json.dumps(response.json_body)
