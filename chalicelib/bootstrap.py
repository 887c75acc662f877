"""The one place that wires settings, AWS clients and adapters together.

Clients are made on first use, never at import (DESIGN 12), with endpoints
from the standard AWS settings (AWS_ENDPOINT_URL), so the same code talks to
AWS, to the embedded emulator or to LocalStack. Chalice's test client sets the
stage's environment only while a request runs, which is when these run.
"""
from __future__ import annotations

import threading
from functools import cached_property

import boto3
import requests
from botocore.config import Config

from chalicelib.config import Settings
from chalicelib.credentials import CredentialVault
from chalicelib.reaper import Reaper
from chalicelib.records import RecordSpec, load_specs
from chalicelib.runs import RunStore
from chalicelib.service import MigrationService
from chalicelib.storage import DataRoot
from chalicelib.work_queue import WorkQueue
from chalicelib.worker import Worker

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


class Components:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}

    def client(self, name: str):
        # boto3's default session is not thread-safe to create clients from;
        # the local stack serves requests on several threads.
        with self._lock:
            if name not in self._clients:
                self._clients[name] = boto3.session.Session().client(name, config=_CLIENT_CONFIG)
            return self._clients[name]

    @property
    def specs(self) -> dict[str, RecordSpec]:
        return record_specs()

    @cached_property
    def store(self) -> RunStore:
        return RunStore(self.client("dynamodb"), self.settings.runs_table_name, self.settings.marker_ttl_seconds)

    @cached_property
    def queue(self) -> WorkQueue:
        sqs = self.client("sqs")
        return WorkQueue(sqs, lambda: sqs.get_queue_url(QueueName=self.settings.work_queue_name)["QueueUrl"])

    @cached_property
    def data_root(self) -> DataRoot:
        return DataRoot(self.settings.data_root, {self.settings.data_bucket}, lambda: self.client("s3"))

    @cached_property
    def vault(self) -> CredentialVault:
        return CredentialVault(self.client("secretsmanager"), self.settings.run_secrets_prefix,
                               self.settings.target_credentials_secret)

    @cached_property
    def service(self) -> MigrationService:
        return MigrationService(self.store, self.queue, self.data_root, self.vault, self.specs)

    @cached_property
    def worker(self) -> Worker:
        return Worker(self.settings, self.store, self.queue, self.data_root, self.vault, self.specs,
                      requests.Session())

    @cached_property
    def reaper(self) -> Reaper:
        return Reaper(self.store, self.vault, self.queue, self.settings.stalled_after_seconds,
                      self.settings.replan_after_seconds)


_specs: dict[str, RecordSpec] | None = None


def record_specs() -> dict[str, RecordSpec]:
    """The record-type specs, read and checked once per process."""
    global _specs
    if _specs is None:
        _specs = load_specs()
    return _specs


_components: Components | None = None
_components_lock = threading.Lock()


def components() -> Components:
    global _components
    with _components_lock:
        if _components is None:
            _components = Components(Settings.from_environ())
        return _components


def reset() -> None:
    """Forget the wiring, so the next call reads the environment again (tests, stage switch)."""
    global _components
    with _components_lock:
        _components = None
