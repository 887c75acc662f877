"""The deployable stages, as they are really built: `chalice package` with infra/ merged, then tools/package.py.

For each of dev and prod the module builds the real merged template and deployment.zip (once, in a scratch
copy of the project; Lambda's wheels come from .cache/lambda-wheels/, downloaded the first time), then checks:
cfn-lint on the real output; the environment and event sources refer to the stack's own resources; each
function's role grants exactly what its code uses (the table GRANTS below) and the API's role cannot reach the
stage's default target credentials; every function has its log group; the API is throttled and answers within
API Gateway's limit; the package imports under Python 3.13 with nothing but itself on the path, and fits Lambda.

If the wheels are not cached and the package index cannot be reached, the module is skipped, saying so.
"""
from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tools import package

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STAGE_SETTINGS = json.loads((ROOT / "infra" / "stages.json").read_text())
STAGES = ("dev", "prod")

# API Gateway gives up on an integration after 29 s: the API's functions must end before it does.
API_GATEWAY_TIMEOUT = 29

LOGS = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${AWS::StackName}-"
SECRETS = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:records-migration/${Stage}/"
RUN_SECRETS = SECRETS + "runs/*"
DEFAULT_SECRET = SECRETS + "target-credentials-??????"  # Secrets Manager appends six characters to the name
EVENT_BUS = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"

TABLE_ITEM_READ_WRITE = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}  # Lambda's SQS event source
SEND = {"sqs:GetQueueUrl", "sqs:SendMessage"}  # SendMessage also covers SendMessageBatch


def own_logs_and_traces(function: str) -> dict[str, set[str]]:
    """Every function: its own log group (no CreateLogGroup: the stack makes it) and X-Ray, which takes no ARN."""
    writes = {"logs:CreateLogStream", "logs:PutLogEvents"}
    return {f"{LOGS}{function}-*": writes, f"{LOGS}{function}-*:log-stream:*": writes,
            "*": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}}


# What each function may do, resource by resource: its code's calls, and no more. A TransactWriteItems call is
# authorized through the actions it holds (Put, Update, Delete); HeadObject through GetObject, and S3 answers a
# HEAD of a missing key with 404 (not 403) only to a caller that may ListBucket.
GRANTS: dict[str, dict[str, set[str]]] = {
    "APIHandler": {
        **own_logs_and_traces("APIHandler"),
        # runs, chunk markers (errors, retry), a retry's uncount transaction deletes a failed chunk's marker
        "RunsTable.Arn": {*TABLE_ITEM_READ_WRITE, "dynamodb:DeleteItem", "dynamodb:Query"},
        "${RunsTable.Arn}/index/active-runs": {"dynamodb:Query"},
        "${RunsTable.Arn}/index/recent-runs": {"dynamodb:Query"},
        # keys (issue, revoke) and the rate windows
        "AccessTable.Arn": TABLE_ITEM_READ_WRITE,
        "${AccessTable.Arn}/index/tenant-keys": {"dynamodb:Query"},
        "WorkQueue.Arn": SEND,  # plan messages, a retry's chunks
        "DataBucket.Arn": {"s3:ListBucket"},
        "${DataBucket.Arn}/*": {"s3:GetObject"},  # the trigger's file check, error reports
        # a request's own credentials and webhook key, kept for its run; deleted when a cancel ends the run
        RUN_SECRETS: {"secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DeleteSecret"},
        EVENT_BUS: {"events:PutEvents"},  # a cancel ends a run
    },
    "ApiKeyAuthorizer": {
        **own_logs_and_traces("ApiKeyAuthorizer"),
        "AccessTable.Arn": {"dynamodb:GetItem"},
    },
    "ProcessWork": {
        **own_logs_and_traces("ProcessWork"),
        "RunsTable.Arn": TABLE_ITEM_READ_WRITE,
        "WorkQueue.Arn": CONSUME | SEND,  # fed by it, and sends a plan's chunks to it
        "DataBucket.Arn": {"s3:ListBucket"},
        # inputs anywhere in the root, read at the version their run planned (GetObjectVersion); outputs
        "${DataBucket.Arn}/*": {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"},
        DEFAULT_SECRET: {"secretsmanager:GetSecretValue"},
        RUN_SECRETS: {"secretsmanager:GetSecretValue", "secretsmanager:DeleteSecret"},
        EVENT_BUS: {"events:PutEvents"},
    },
    "HandleDeadChunk": {
        **own_logs_and_traces("HandleDeadChunk"),
        "RunsTable.Arn": TABLE_ITEM_READ_WRITE,
        "WorkDeadLetterQueue.Arn": CONSUME,
        "WorkQueue.Arn": SEND,  # the webhook call of a run it ends
        "${DataBucket.Arn}/*": {"s3:PutObject"},  # the failed chunk's error report
        RUN_SECRETS: {"secretsmanager:DeleteSecret"},
        EVENT_BUS: {"events:PutEvents"},
    },
    "HandleUpload": {
        **own_logs_and_traces("HandleUpload"),
        # a run started or failed at once; its credentials' and webhook's pointers and outcome
        "RunsTable.Arn": TABLE_ITEM_READ_WRITE,
        "${RunsTable.Arn}/index/active-runs": {"dynamodb:Query"},  # the tenant's active-run cap
        "UploadsQueue.Arn": CONSUME,
        "WorkQueue.Arn": SEND,
        "DataBucket.Arn": {"s3:ListBucket"},
        "${DataBucket.Arn}/incoming/*": {"s3:GetObject"},  # the upload, and a manifest beside it
        # a manifest's credentials and webhook key (as a trigger's); a cancel meanwhile deletes them
        RUN_SECRETS: {"secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DeleteSecret"},
        EVENT_BUS: {"events:PutEvents"},  # an upload that cannot start is a run failed at once
    },
    "ReapStalledRuns": {
        **own_logs_and_traces("ReapStalledRuns"),
        "RunsTable.Arn": {"dynamodb:UpdateItem"},
        "${RunsTable.Arn}/index/active-runs": {"dynamodb:Query"},
        "WorkQueue.Arn": SEND,  # a lost plan sent again; the webhook call of a run it ends
        RUN_SECRETS: {"secretsmanager:DeleteSecret"},
        EVENT_BUS: {"events:PutEvents"},
    },
}

# The queue each SQS-fed function reads, by the handler's name in app.py.
EVENT_QUEUES = {"ProcessWork": "WorkQueue", "HandleDeadChunk": "WorkDeadLetterQueue", "HandleUpload": "UploadsQueue"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, dict]:
    """GIVEN each deployable stage
    WHEN it is packaged as `make package` does
    THEN the fixture yields its merged template and its deployment package."""
    stages = {}
    try:
        with package.scratch_project() as project:
            for stage in STAGES:
                out = tmp_path_factory.mktemp(f"package-{stage}")
                path = package.build(stage, out, project)
                stages[stage] = {"template": json.loads(path.read_text()), "zip": out / package.PACKAGE_NAME}
    except package.WheelsUnavailable as err:
        pytest.skip(str(err))
    return stages


@pytest.fixture(scope="module")
def unzipped(built, tmp_path_factory) -> Path:
    """The deployment package unzipped (the same for every stage)."""
    folder = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(built["dev"]["zip"]) as zipped:
        zipped.extractall(folder)
    return folder


def _functions(template: dict) -> dict[str, dict]:
    return {name: res["Properties"] for name, res in template["Resources"].items()
            if res["Type"] == "AWS::Serverless::Function"}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _resource_name(resource) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        return ".".join(resource["Fn::GetAtt"])
    return resource["Fn::Sub"]


def _role(template: dict, function: str) -> dict:
    role = _functions(template)[function]["Role"]["Fn::GetAtt"][0]
    return template["Resources"][role]["Properties"]


def _stage_auth(stage: str) -> str:
    auth = CONFIG["stages"][stage]["environment_variables"].get("AUTH", "keys")
    return "keys" if auth == "on" else auth


def _grants(role: dict) -> dict[str, set[str]]:
    """What a role allows, as {resource: actions}; every statement must be an Allow."""
    (policy,) = role["Policies"]
    grants: dict[str, set[str]] = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow" and set(statement) == {"Sid", "Effect", "Action", "Resource"}
        for resource in _listed(statement["Resource"]):
            grants.setdefault(_resource_name(resource), set()).update(_listed(statement["Action"]))
    return grants


def _resolved(pattern: str, stage: str) -> str:
    """A grant's ARN pattern in one account, region and stack of the stage."""
    return (pattern.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "eu-west-1")
            .replace("${AWS::AccountId}", "123456789012").replace("${AWS::StackName}", f"records-migration-{stage}")
            .replace("${Stage}", stage))


@pytest.mark.parametrize("stage", STAGES)
def test_packaged_template_passes_cfn_lint(built, stage):
    """GIVEN the stage's real merged template (Chalice's SAM resources, infra/, our additions)
    WHEN cfn-lint checks it, informational rules included
    THEN it reports nothing: every reference resolves and every property is valid."""
    assert package.lint(built[stage]["template"]) == []


@pytest.mark.parametrize("stage", STAGES)
def test_functions_name_the_stacks_own_resources(built, stage):
    """GIVEN the functions of the stage's template
    THEN their environment refers to the stack's resources (no literal account, no placeholder), equal for all
    functions, and the stack takes only its own stage."""
    template = built[stage]["template"]
    environments = [f["Environment"]["Variables"] for f in _functions(template).values()]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["STAGE"] == stage
    assert env["RUNS_TABLE_NAME"] == {"Ref": "RunsTable"}
    assert env["ACCESS_TABLE_NAME"] == {"Ref": "AccessTable"}
    assert env["WORK_QUEUE_NAME"] == {"Fn::GetAtt": ["WorkQueue", "QueueName"]}
    assert env["UPLOADS_QUEUE_NAME"] == {"Fn::GetAtt": ["UploadsQueue", "QueueName"]}
    assert env["WORK_DLQ_NAME"] == {"Fn::GetAtt": ["WorkDeadLetterQueue", "QueueName"]}
    assert env["DATA_BUCKET"] == {"Ref": "DataBucket"}
    assert env["DATA_ROOT"] == {"Fn::Sub": "s3://${DataBucket}/"}
    assert env["TARGET_CREDENTIALS_SECRET"] == {"Fn::Sub": "records-migration/${Stage}/target-credentials"}
    assert env["RUN_SECRETS_PREFIX"] == {"Fn::Sub": "records-migration/${Stage}/runs/"}
    literal = json.dumps([v for v in env.values() if isinstance(v, str)])
    assert "${" not in literal and "ACCOUNT" not in literal
    assert template["Parameters"]["Stage"]["AllowedValues"] == [stage]
    assert template["Parameters"]["Stage"]["Default"] == stage
    for name, value in STAGE_SETTINGS[stage]["parameters"].items():
        assert template["Parameters"][name]["Default"] == value


@pytest.mark.parametrize("stage", STAGES)
def test_sqs_functions_read_the_stacks_queues(built, stage):
    """GIVEN the SQS event sources
    THEN each reads its queue by GetAtt (so the function waits for the queue), one message at a time, and the
    workers' concurrency is the stage's."""
    functions = _functions(built[stage]["template"])
    sources = {name: event["Properties"] for name, f in functions.items()
               for event in f.get("Events", {}).values() if event["Type"] == "SQS"}
    assert {name: s["Queue"] for name, s in sources.items()} == {
        name: {"Fn::GetAtt": [queue, "Arn"]} for name, queue in EVENT_QUEUES.items()}
    assert {s["BatchSize"] for s in sources.values()} == {1}
    concurrency = int(CONFIG["stages"][stage]["environment_variables"]["WORKER_MAX_CONCURRENCY"])
    assert sources["ProcessWork"]["ScalingConfig"] == {"MaximumConcurrency": concurrency}


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_has_its_own_role_granting_exactly_what_it_uses(built, stage):
    """GIVEN each function's role in the stage's template
    THEN it is that function's alone, assumed by Lambda only, and grants exactly the table GRANTS."""
    template = built[stage]["template"]
    functions = _functions(template)
    # The authorizer exists on a stage with API keys only (AUTH=keys; with AUTH=iam API Gateway checks callers).
    expected = set(GRANTS) - ({"ApiKeyAuthorizer"} if _stage_auth(stage) != "keys" else set())
    assert set(functions) == expected, "a function was added or renamed: give it a policy and a row in GRANTS"
    roles = {name: f["Role"]["Fn::GetAtt"][0] for name, f in functions.items()}
    assert len(set(roles.values())) == len(roles)
    for name in functions:
        assert functions[name]["Tracing"] == "Active"  # what the X-Ray grant is for (Powertools Tracer)
        role = _role(template, name)
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
        assert "ManagedPolicyArns" not in role
        assert _grants(role) == GRANTS[name], name


@pytest.mark.parametrize("stage", STAGES)
def test_nothing_is_granted_on_everything(built, stage):
    """GIVEN every role of the stage
    THEN no action is a wildcard, and only X-Ray (whose actions take no resource) is granted on `*`."""
    template = built[stage]["template"]
    for name in _functions(template):
        for resource, actions in _grants(_role(template, name)).items():
            assert not any("*" in action for action in actions), name
            if resource == "*":
                assert actions <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, name


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_workers_read_the_default_credentials(built, stage):
    """GIVEN the stage's default target-credentials secret, as Secrets Manager names it (six characters added)
    THEN the worker may only read it; the API (and every other function) cannot read, delete or change it,
    and the API reads no secret at all."""
    template = built[stage]["template"]
    default = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:records-migration/{stage}/target-credentials-Ab3xYz"
    run_secret = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:records-migration/{stage}/runs/0b1c-Ab3xYz"
    reach = {}
    for name in _functions(template):
        grants = _grants(_role(template, name))
        reach[name] = {action for pattern, actions in grants.items()
                       if fnmatch.fnmatchcase(default, _resolved(pattern, stage))
                       for action in actions if action.startswith("secretsmanager:")}
        if name == "APIHandler":
            assert not any("secretsmanager:GetSecretValue" in actions for actions in grants.values())
            assert {a for p, actions in grants.items() if fnmatch.fnmatchcase(run_secret, _resolved(p, stage))
                    for a in actions if a.startswith("secretsmanager:")} == GRANTS["APIHandler"][RUN_SECRETS]
    assert reach == {name: ({"secretsmanager:GetSecretValue"} if name == "ProcessWork" else set())
                     for name in _functions(template)}


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_writes_only_its_own_log_group_which_the_stack_keeps(built, stage):
    """GIVEN the functions and their log groups
    THEN each has a log group /aws/lambda/<its name>, kept LogRetentionDays, and its role's log grant matches
    its own generated name (<stack>-<logical id>-<suffix>) and no other function's."""
    template = built[stage]["template"]
    resources = template["Resources"]
    functions = _functions(template)
    for name, properties in functions.items():
        assert "FunctionName" not in properties  # CloudFormation names it <stack>-<logical id>-<suffix>
        group = resources[f"{name}LogGroup"]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"] == {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{name}}}"},
                                       "RetentionInDays": {"Ref": "LogRetentionDays"}}
        patterns = [_resolved(p, stage) for p in _grants(_role(template, name)) if ":log-group:" in p]
        for other in functions:
            arn = (f"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/records-migration-{stage}-"
                   f"{other}-1AbCdEfGhIjK:log-stream:2026/01/01/[$LATEST]0f")
            assert any(fnmatch.fnmatchcase(arn, p) for p in patterns) == (other == name), (name, other)


@pytest.mark.parametrize("stage", STAGES)
def test_api_is_throttled_and_answers_within_api_gateways_limit(built, stage):
    """GIVEN the REST API and the functions behind it
    THEN the stage is throttled as infra/stages.json says, and the API's functions end before API Gateway
    gives up (29 s)."""
    template = built[stage]["template"]
    throttling = STAGE_SETTINGS[stage]["api_throttling"]
    assert template["Resources"]["RestAPI"]["Properties"]["MethodSettings"] == [{
        "ResourcePath": "/*", "HttpMethod": "*",
        "ThrottlingRateLimit": throttling["rate_limit"], "ThrottlingBurstLimit": throttling["burst_limit"]}]
    functions = _functions(template)
    assert functions["APIHandler"]["Timeout"] < API_GATEWAY_TIMEOUT
    if "ApiKeyAuthorizer" in functions:
        assert functions["ApiKeyAuthorizer"]["Timeout"] < API_GATEWAY_TIMEOUT


def test_package_imports_with_nothing_but_itself(built, unzipped):
    """GIVEN the unzipped deployment package
    WHEN Python 3.13 imports the app with only the package and the standard library on its path (-I -S, as
    Lambda's runtime has nothing else we could rely on)
    THEN every function's handler is there, and the worker's libraries (pandas, numpy: Lambda's wheels) load
    from the package."""
    template = built["dev"]["template"]
    handlers = sorted(f["Handler"].removeprefix("app.") for f in _functions(template).values())
    env = {k: v for k, v in CONFIG["stages"]["dev"]["environment_variables"].items() if "${" not in v}
    probe = f"""
import json, sys
sys.path.insert(0, {str(unzipped)!r})
import app
missing = [name for name in {handlers!r} if not hasattr(app, name)]
from chalicelib import bootstrap, worker
bootstrap.checked_record_specs()
import numpy, pandas
outside = [m.__name__ for m in (app, worker, numpy, pandas) if not m.__file__.startswith({str(unzipped)!r})]
print(json.dumps({{"missing": missing, "outside": outside, "path": sys.path}}))
"""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert sys.version_info[:2] == (3, 13)
    assert found["missing"] == [] and found["outside"] == []
    assert not any("site-packages" in entry for entry in found["path"])


def test_package_fits_lambdas_limits(built):
    """GIVEN the deployment package
    THEN what it holds unzipped fits Lambda's 250 MiB (the limit that binds: `make deploy` uploads through S3),
    and zipped it fits the 50 MiB of a direct upload too (Lambda's API, `chalice deploy`)."""
    zipped, unzipped_size = package.sizes(built["dev"]["zip"])
    assert unzipped_size <= package.UNZIPPED_LIMIT, f"{unzipped_size / 2**20:.1f} MiB unzipped"
    assert zipped <= package.DIRECT_UPLOAD_LIMIT, (
        f"{zipped / 2**20:.1f} MiB zipped: over the direct-upload limit (deploys through S3 are not bound by it)")
    # The stages differ in their templates only.
    assert package.sizes(built["prod"]["zip"])[1] == unzipped_size


def test_package_holds_no_compiled_leftovers_or_local_files(built):
    """GIVEN the deployment package
    THEN it ships the app and chalicelib as in the tree, without __pycache__, tests or local data."""
    with zipfile.ZipFile(built["dev"]["zip"]) as zipped:
        names = zipped.namelist()
    ours = [n for n in names if n == "app.py" or n.startswith("chalicelib/")]
    assert "app.py" in ours
    assert not [n for n in ours if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if re.match(r"(tests|local_stack|data|infra|tools|\.chalice)/", n)]
