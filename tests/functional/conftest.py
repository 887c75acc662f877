"""Functional tests: the Chalice app in-process against moto's in-memory AWS.

The resources come from infra/template.json (deployed through moto's
CloudFormation once per session; each stage starts from a copy of moto's state
just after that deploy, see DeployedState), the API is called through
`chalice.test.Client`, and the workers are the very handlers app.py registers,
fed Lambda-shaped SQS events made from the messages really sitting in the
emulated queues. The sandbox target runs on a free loopback port for api-mode
runs.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import shutil
import threading
from typing import Iterator

import boto3
import botocore.loaders
import botocore.session
import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core.base_backend import BackendDict
from moto.sqs.models import SQSBackend

from local_stack import sandbox_target
from local_stack.environment import PROJECT_DIR

STAGE = "test"
TOKEN = "functional-test-token"
# How often a test's HTTP server checks whether it is asked to stop (socketserver's default is 0.5 s).
SERVER_POLL_SECONDS = 0.02


class Harness:
    """The app, its queues and the target, with helpers to run the workers."""

    def __init__(self, client: Client, data_root: str, target):
        self.client = client
        self.data_root = data_root
        self.target = target
        self.sqs = boto3.client("sqs")
        self.queue_urls = {name: self.sqs.get_queue_url(QueueName=os.environ[var])["QueueUrl"]
                           for name, var in (("work", "WORK_QUEUE_NAME"), ("dlq", "WORK_DLQ_NAME"),
                                             ("uploads", "UPLOADS_QUEUE_NAME"))}

    # ----------------------------------------------------------------- the API
    def post(self, path: str, body=None, raw: bytes | None = None, headers: dict | None = None):
        payload = raw if raw is not None else json.dumps(body).encode()
        return self.client.http.post(path, body=payload,
                                     headers={"Content-Type": "application/json", **(headers or {})})

    def get(self, path: str):
        return self.client.http.get(path)

    def trigger(self, **body) -> str:
        response = self.post("/api/v1/migrations/trigger", body)
        assert response.status_code == 200, response.body
        return response.json_body["run_id"]

    def status(self, run_id: str, details: bool = True) -> dict:
        response = self.get(f"/api/v1/migrations/status/{run_id}?include_details={str(details).lower()}")
        assert response.status_code == 200, response.body
        return response.json_body

    # ------------------------------------------------------------- the workers
    def receive(self, queue: str = "work", limit: int = 10) -> list[dict]:
        messages = []
        while len(messages) < limit:
            got = self.sqs.receive_message(QueueUrl=self.queue_urls[queue], MaxNumberOfMessages=10,
                                           AttributeNames=["All"]).get("Messages", [])
            if not got:
                break
            messages.extend(got)
        return messages

    def invoke(self, message: dict, handler: str = "process_work", queue: str = "work") -> None:
        """Call the handler the way Lambda does, with the message as it sits in the queue."""
        import app
        from local_stack.pollers import LambdaContext, sqs_event
        getattr(app, handler)(sqs_event(message, f"arn:aws:sqs:us-east-1:123456789012:{queue}", "us-east-1"),
                              LambdaContext(handler))

    def deliver(self, message: dict, handler: str = "process_work", queue: str = "work") -> None:
        """Invoke the handler, then delete the message as Lambda does after a success."""
        self.invoke(message, handler, queue)
        self.sqs.delete_message(QueueUrl=self.queue_urls[queue], ReceiptHandle=message["ReceiptHandle"])

    def drain(self, max_rounds: int = 100) -> int:
        """Process work messages until the queue is empty; returns how many were handled."""
        handled = 0
        for _ in range(max_rounds):
            messages = self.receive()
            if not messages:
                return handled
            for message in messages:
                self.deliver(message)
                handled += 1
        raise AssertionError("the work queue did not drain")

    def run_to_end(self, **body) -> dict:
        run_id = self.trigger(**body)
        self.drain()
        return self.status(run_id)

    def output_dir(self, run_id: str, output_dir: str = "data/output") -> str:
        return os.path.join(self.data_root, output_dir, run_id)


def stage_environment(data_root: str, target_port: int) -> dict[str, str]:
    """The functional stage's settings: moto's resources, the data root, the sandbox target on loopback."""
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "STAGE": STAGE,
        "RUNS_TABLE_NAME": f"records-migration-runs-{STAGE}",
        "WORK_QUEUE_NAME": f"records-migration-work-{STAGE}",
        "WORK_DLQ_NAME": f"records-migration-work-dlq-{STAGE}",
        "UPLOADS_QUEUE_NAME": f"records-migration-uploads-{STAGE}",
        "DATA_BUCKET": f"records-migration-data-{STAGE}-123456789012",
        "DATA_ROOT": data_root,
        "TARGET_API_URL": f"http://127.0.0.1:{target_port}",
        "TARGET_CREDENTIALS_SECRET": f"records-migration/{STAGE}/target-credentials",
        "RUN_SECRETS_PREFIX": f"records-migration/{STAGE}/runs/",
        "CHUNK_RECORDS": "100",
        "AUTH": "off",  # the open default; tests/functional/test_access.py turns it on
        "OUTBOUND_ALLOW_PRIVATE": "true",  # the sandbox target, and its token endpoint, are on loopback
    }


class DeployedState:
    """moto's state right after infra/template.json is deployed, put back whole at the start of a stage.

    Deploying the template took a third of a second per test (more on a loaded machine), for hundreds of
    tests. Instead it is deployed once, and every backend moto holds then (each service, account and
    region: tables, queues and their messages, buckets, secrets, alarms, the stack) is deep-copied. A
    stage starts in a freshly reset moto, puts back a new copy of every one of those backends and nothing
    else: what one test wrote cannot reach the next, exactly as with a new deploy.
    """

    def __init__(self):
        from local_stack import emulator
        emulator.deploy(STAGE, TOKEN)  # reads only names stage_environment gives every stage alike
        self.backends = [(backends, account, region, backend) for backends in BackendDict._instances
                         for account, per_account in backends.items() for region, backend in per_account.items()]
        self.states = self._copy({id(backend): backend.__dict__ for *_, backend in self.backends})
        self.bucket_accounts = dict(self._s3_backends().bucket_accounts)

    @staticmethod
    def _s3_backends():
        from moto.s3.models import s3_backends
        return s3_backends

    def _copy(self, states: dict) -> dict:
        # Backends and their registries stay shared (they are put back in place, not replaced); each
        # queue gets a new lock, which cannot be copied.
        memo = {id(backend): backend for *_, backend in self.backends}
        memo.update({id(backends): backends for backends, *_ in self.backends})
        for *_, backend in self.backends:
            if isinstance(backend, SQSBackend):
                for queue in states[id(backend)]["queues"].values():
                    memo[id(queue._messages_lock)] = threading.Condition()
        return copy.deepcopy(states, memo)

    def restore(self) -> None:
        """Make moto hold the deployed stack and nothing else (within an active mock_aws)."""
        BackendDict.reset()  # what mock_aws does when it starts: forget every backend made since
        states = self._copy(self.states)
        for backends, account, region, backend in self.backends:
            backends._create_account_specific_backend(account)
            dict.__setitem__(backends[account], region, backend)
            backend.__dict__ = states[id(backend)]
        bucket_accounts = self._s3_backends().bucket_accounts
        bucket_accounts.clear()
        bucket_accounts.update(self.bucket_accounts)


_deployed: DeployedState | None = None


def deployed_stack() -> None:
    """Give the active mock_aws the deployed stack: deployed on first use, restored after that."""
    global _deployed
    if _deployed is None:
        _deployed = DeployedState()
    else:
        _deployed.restore()


@functools.lru_cache(maxsize=None)
def shared_loader(search_path_string=None) -> botocore.loaders.Loader:
    """One botocore data loader for every session made during a stage.

    bootstrap makes a boto3 session per client, and mock_aws a new default session per stage; each
    parsed botocore's JSON models again (a few hundred thousand objects per test, whose garbage then
    cost a second-long full collection every few tests: a third of a functional test's time). The
    files are static and a loader's results are shared by all of its session's clients anyway.
    """
    return botocore.loaders.create_loader(search_path_string)


@contextlib.contextmanager
def functional_stage(data_root, monkeypatch) -> Iterator[Harness]:
    """The app in-process over moto's AWS, with the sandbox target on loopback, for as long as the block
    lasts: what the `harness` fixture gives each test, and a module-scoped fixture once per module."""
    target = sandbox_target.make_server(0, TOKEN)
    # shutdown() waits for serve_forever's next poll: at the default 0.5 s that was half a second idle
    # at the end of every test using the harness.
    threading.Thread(target=target.serve_forever, kwargs={"poll_interval": SERVER_POLL_SECONDS},
                     daemon=True).start()
    try:
        for name, value in stage_environment(str(data_root), target.server_address[1]).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.setattr(botocore.session, "create_loader", shared_loader)
        from chalicelib import bootstrap
        with mock_aws():
            deployed_stack()
            bootstrap.reset()
            import app
            with Client(app.app, stage_name="functional") as client:
                yield Harness(client, str(data_root), target)
            bootstrap.reset()
    finally:
        target.shutdown()


@pytest.fixture
def harness(tmp_path, monkeypatch):
    data_root = tmp_path / "root"
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), data_root / "data" / "input")
    with functional_stage(data_root, monkeypatch) as harness:
        yield harness
