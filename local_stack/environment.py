"""The local stage's environment: `.chalice/config.json` plus the emulator's endpoint."""
from __future__ import annotations

import json
import os

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "us-east-1"
SANDBOX_TOKEN = "your-api-token"


def stage_environment(stage: str = "local") -> dict[str, str]:
    with open(os.path.join(PROJECT_DIR, ".chalice", "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def local_environment(emulator_url: str, target_url: str, data_root: str = PROJECT_DIR,
                      stage: str = "local") -> dict[str, str]:
    """Everything the app, the pollers and the AWS SDK need to talk to the emulator.

    A setting already in the environment wins over the stage's value, so
    `CHUNK_RECORDS=500 make run` (or a test's stack) means what it says.
    """
    env = {name: os.environ.get(name, value) for name, value in stage_environment(stage).items()}
    env.update({
        "AWS_ENDPOINT_URL": emulator_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # The emulator accepts any credentials; these keep boto3 from looking for real ones.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "TARGET_API_URL": target_url,
        "DATA_ROOT": data_root,
        # X-Ray needs the daemon only Lambda runs (chalicelib/observability.py would not trace here anyway).
        "POWERTOOLS_TRACE_DISABLED": "true",
    })
    return env


def apply(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
