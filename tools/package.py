"""Build a deployable stage: `chalice package` with infra/ merged in, then what Chalice cannot say.

    python -m tools.package dev out/dev          (make package STAGE=dev)

writes out/dev/sam.json and out/dev/deployment.zip, for `aws cloudformation package` and `deploy` (make deploy,
docs/deploy.md). Nothing in the tree is edited for a stage or an account. Three steps:

1. The shipped files (app.py, chalicelib/, requirements.txt, .chalice/*.json, infra/template.json) are copied to a
   scratch project and `chalice package --stage <stage> --merge-template infra/template.json` runs there. So the
   package holds exactly the tree's files (no __pycache__), and Chalice's package cache, which it writes in place
   under the project's .chalice/deployments/ (a build killed half-way leaves a broken zip that the next build
   would reuse), is never shared by two builds at once.
2. Lambda's wheels come from a wheelhouse under .cache/lambda-wheels/, downloaded once per requirements.txt:
   afterwards a build needs no network.
3. `finish` rewrites the merged template:
   - an environment value holding `${...}` is a CloudFormation reference (the deployed stages of
     .chalice/config.json name their resources so: `${RunsTable}`, `records-migration/${Stage}/runs/`). Chalice
     copies it as a literal string; it becomes `Ref`, `Fn::GetAtt` or `Fn::Sub`;
   - an SQS event source takes its queue's ARN by `Fn::GetAtt` (Chalice writes the ARN from the queue name);
   - each function gets its log group, `/aws/lambda/<function name>`, kept `LogRetentionDays`. The stack creates
     it, not Lambda on the first log line: no role may create log groups, so none is ever without a retention;
   - the stack parameters take the stage's defaults, and the API stage its throttling (MethodSettings), from
     infra/stages.json; the `Stage` parameter accepts the packaged stage only, because Chalice's settings (the
     event sources' concurrency, AUTH, the environment) were read for that stage.

The command then lints the template (cfn-lint, informational rules included) and fails on any finding, or on a
package over Lambda's 250 MiB unzipped. tests/functional/test_package.py builds both stages the same way.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
STAGE_SETTINGS = ROOT / "infra" / "stages.json"
WHEELHOUSES = ROOT / ".cache" / "lambda-wheels"
TEMPLATE_NAME = "sam.json"
PACKAGE_NAME = "deployment.zip"

# Lambda's limits on a .zip package. `aws cloudformation package` uploads it to S3, where only the unzipped limit
# applies; the zipped one binds a direct upload (Lambda's API, `chalice deploy`).
UNZIPPED_LIMIT = 250 * 2**20
DIRECT_UPLOAD_LIMIT = 50 * 2**20

# Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34); x86_64 is Chalice's default architecture.
# pip takes --platform tags literally, so every glibc minor up to the runtime's is listed, as Chalice does.
LAMBDA_GLIBC = (2, 34)
LAMBDA_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(17, LAMBDA_GLIBC[1] + 1)] + \
    ["manylinux2014_x86_64"]
# What pip says when it cannot reach the index (as opposed to an index without a wheel for us).
UNREACHABLE = re.compile(r"NewConnectionError|ConnectTimeout|ReadTimeout|Name or service not known|"
                         r"Temporary failure in name resolution|Network is unreachable|ProxyError|No route to host")
REFERENCE = re.compile(r"^\$\{([A-Za-z0-9:]+)(?:\.([A-Za-z0-9.]+))?\}$")
QUEUE_BY_NAME = re.compile(r":\$\{([A-Za-z0-9]+)\.QueueName\}$")


class WheelsUnavailable(RuntimeError):
    """Lambda's wheels are not in the wheelhouse, and the package index cannot be reached to fill it."""


def build(stage: str, out_dir: Path, project: Path | None = None) -> Path:
    """Package `stage` into out_dir (sam.json and deployment.zip); the template's path. Builds of several stages
    may share one scratch `project`: the package is the same for every stage, and Chalice reuses it."""
    settings = stage_settings(stage)
    out_dir = Path(out_dir).resolve()
    with nullcontext(project) if project else scratch_project() as where:
        chalice_package(stage, where, out_dir)
    path = out_dir / TEMPLATE_NAME
    path.write_text(json.dumps(finish(json.loads(path.read_text()), stage, settings), indent=2) + "\n")
    return path


def stage_settings(stage: str) -> dict:
    stages = json.loads(STAGE_SETTINGS.read_text())
    if stage not in stages:
        raise ValueError(f"no stage {stage!r} in infra/stages.json (deployable stages: {', '.join(stages)})")
    return stages[stage]


@contextmanager
def scratch_project() -> Iterator[Path]:
    """A copy of what Chalice reads and ships, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="records-migration-package-") as tmp:
        project = Path(tmp)
        for name in ("app.py", "requirements.txt", "infra/template.json",
                     *(str(p.relative_to(ROOT)) for p in (ROOT / ".chalice").glob("*.json"))):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, project / name)
        shutil.copytree(ROOT / "chalicelib", project / "chalicelib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        yield project


def chalice_package(stage: str, project: Path, out_dir: Path) -> None:
    env = dict(os.environ)
    # Chalice asks for a region, though the template it writes names none (ARNs use ${AWS::Region}).
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no credentials are needed: do not wait on a metadata service
    if _lambda_wheels_install_here():
        # Chalice's pip first downloads for this host, then for Lambda what did not fit: both from the wheelhouse.
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse()))
    chalice = shutil.which("chalice", path=str(Path(sys.executable).parent)) or shutil.which("chalice")
    if chalice is None:
        raise RuntimeError("chalice is not installed: make venv")
    command = [chalice, "package", "--stage", stage, "--merge-template", "infra/template.json", str(out_dir)]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"chalice package --stage {stage} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def _lambda_wheels_install_here() -> bool:
    """Whether this host can take Lambda's wheels too, as Chalice's first download (for the host) needs."""
    libc, version = platform.libc_ver()
    return (sys.platform == "linux" and platform.machine() == "x86_64" and libc == "glibc"
            and tuple(int(p) for p in version.split(".")[:2]) >= LAMBDA_GLIBC)


def wheelhouse() -> Path:
    """The folder of Lambda's wheels for requirements.txt, downloaded on first use."""
    requirements = ROOT / "requirements.txt"
    python = f"{sys.version_info.major}{sys.version_info.minor}"
    key = hashlib.sha256(requirements.read_bytes() + f"cp{python} {LAMBDA_PLATFORMS}".encode()).hexdigest()[:16]
    house = WHEELHOUSES / key
    if house.is_dir():
        return house
    WHEELHOUSES.mkdir(parents=True, exist_ok=True)
    # Filled under another name and renamed when complete: a build that stops half-way leaves no half wheelhouse.
    partial = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".partial", dir=WHEELHOUSES))
    platforms = [arg for tag in LAMBDA_PLATFORMS for arg in ("--platform", tag)]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--retries", "2",
             "--timeout", "30", "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
             "--abi", f"cp{python}", "--abi", "abi3", "--abi", "none", *platforms, "--dest", str(partial),
             "-r", str(requirements)],
            capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        done = subprocess.CompletedProcess([], 1, "", "ReadTimeout: the download did not end in 600 s")
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        if UNREACHABLE.search(done.stderr):
            raise WheelsUnavailable("Lambda's wheels are not in .cache/lambda-wheels/ and the package index "
                                    "cannot be reached to download them (run `make package` once online)")
        raise RuntimeError(f"pip could not download Lambda's wheels:\n{done.stderr}")
    try:
        partial.rename(house)
    except OSError:  # another build completed it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    for old in WHEELHOUSES.iterdir():  # wheelhouses of earlier requirements
        if old != house and not old.name.endswith(".partial"):
            shutil.rmtree(old, ignore_errors=True)
    return house


def finish(template: dict, stage: str, settings: dict) -> dict:
    """Rewrite Chalice's merged template for a deployable stack (see the module's docstring)."""
    resources = template["Resources"]
    functions = [name for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"]
    for name in functions:
        properties = resources[name]["Properties"]
        variables = properties.get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            variables[key] = reference(value)
        for event in properties.get("Events", {}).values():
            if event["Type"] == "SQS":
                event["Properties"]["Queue"] = queue_arn(event["Properties"]["Queue"])
        resources[f"{name}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            # Kept when the stack goes or the function is replaced: the lines still expire after their retention.
            "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{name}}}"},
                           "RetentionInDays": {"Ref": "LogRetentionDays"}},
        }
        resources.update(function_alarms(name))
    throttling = settings["api_throttling"]
    resources["RestAPI"]["Properties"]["MethodSettings"] = [{
        "ResourcePath": "/*", "HttpMethod": "*",
        "ThrottlingRateLimit": throttling["rate_limit"], "ThrottlingBurstLimit": throttling["burst_limit"],
    }]
    parameters = template["Parameters"]
    parameters["Stage"].update(Default=stage, AllowedValues=[stage])
    for name, value in settings["parameters"].items():
        if name not in parameters:
            raise ValueError(f"infra/stages.json sets {name} for {stage}, which infra/template.json does not take")
        parameters[name]["Default"] = value
    return template


# What every alarm of infra/template.json notifies: the stack's topic, and the operator's extra one if given.
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}],
                            [{"Ref": "AlarmTopic"}]]}


def function_alarms(function: str) -> dict:
    """Lambda's own Errors and Throttles of one function: only here is its name known (CloudFormation names a
    packaged function `<stack>-<logical id>-<suffix>`). They catch what the handlers' own HandlerErrors metric
    cannot: timeouts, crashes, out-of-memory, the authorizer, and invocations refused for concurrency."""
    def alarm(metric: str, what: str) -> dict:
        return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": {"Fn::Sub": f"${{{function}}}-{metric.lower()}"},
            "AlarmDescription": f"{function}: {what} (Lambda's {metric} metric). Look at its log group.",
            "Namespace": "AWS/Lambda", "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function}}],
            "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            "AlarmActions": ALARM_ACTIONS, "OKActions": ALARM_ACTIONS}}
    return {f"{function}LambdaErrorsAlarm": alarm("Errors", "invocations ended in an error or a timeout"),
            f"{function}LambdaThrottlesAlarm": alarm("Throttles", "invocations were throttled")}


def reference(value: str) -> str | dict:
    """A stage setting as CloudFormation reads it: `${Name}` is a Ref, `${Name.Attribute}` a GetAtt, any other
    value holding `${...}` a Sub; a value without one stays as it is."""
    if "${" not in value:
        return value
    whole = REFERENCE.match(value)
    if whole and whole.group(2):
        return {"Fn::GetAtt": [whole.group(1), whole.group(2)]}
    if whole:
        return {"Ref": whole.group(1)}
    return {"Fn::Sub": value}


def queue_arn(chalice_arn: dict) -> dict:
    """The queue's ARN by GetAtt, from the ARN Chalice wrote with the stage's queue name (`${WorkQueue.QueueName}`)."""
    found = QUEUE_BY_NAME.search(chalice_arn.get("Fn::Sub", "")) if isinstance(chalice_arn, dict) else None
    if found is None:
        raise ValueError(f"an SQS event source names its queue {chalice_arn!r}: name it in the stage's environment "
                         f"as ${{<queue's logical id>.QueueName}}, so the stack's own queue is used")
    return {"Fn::GetAtt": [found.group(1), "Arn"]}


def lint(template: dict) -> list[str]:
    """cfn-lint's findings on a template, informational ones included; SAM resources are linted as transformed."""
    from cfnlint.api import ManualArgs, lint as cfn_lint
    matches = cfn_lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], include_checks=["I"]))
    return [f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in m.path)})" for m in matches]


def sizes(package: Path) -> tuple[int, int]:
    """The package's size zipped, and the size of what it holds unzipped (as Lambda counts it), in bytes."""
    with zipfile.ZipFile(package) as zipped:
        return package.stat().st_size, sum(info.file_size for info in zipped.infolist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", help="a stage of infra/stages.json and .chalice/config.json (dev, prod)")
    parser.add_argument("out_dir", type=Path, help="where sam.json and deployment.zip are written")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        path = build(args.stage, args.out_dir)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    problems = lint(json.loads(path.read_text()))
    zipped, unzipped = sizes(args.out_dir / PACKAGE_NAME)
    if unzipped > UNZIPPED_LIMIT:
        problems.append(f"the package holds {unzipped / 2**20:.0f} MiB unzipped, over Lambda's 250 MiB")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{path} and {PACKAGE_NAME}: {zipped / 2**20:.1f} MiB zipped, {unzipped / 2**20:.0f} MiB unzipped; "
          f"stage {args.stage} in {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
