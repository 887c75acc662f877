"""The one place that wires settings, AWS clients and adapters together.

Clients are made on first use, never at import (DESIGN 12), with endpoints
from the standard AWS settings (AWS_ENDPOINT_URL), so the same code talks to
AWS, to the embedded emulator or to LocalStack. Chalice's test client sets the
stage's environment only while a request runs, which is when these run.
"""
from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.access import Access, KeyAdmin, KeyStore, RateLimiter
from chalicelib.config import Settings
from chalicelib.credentials import CredentialVault
from chalicelib.health import Health
from chalicelib.notifications import EventBridgeBus, RunEndNotices
from chalicelib.records.schema import RecordSpec, load_specs
from chalicelib.runs import RunStore
from chalicelib.service import MigrationService
from chalicelib.storage import DataRoot
from chalicelib.work_queue import WorkQueue

if TYPE_CHECKING:
    from chalicelib.reaper import Reaper
    from chalicelib.worker import Worker

# Every function shares this module, the API included, so what only workers need (pandas, numpy,
# requests: the worker, the delivery, the readers) is imported when a worker is first wired: an
# API cold start does not pay for it.


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
                import boto3
                from botocore.config import Config
                config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
                self._clients[name] = boto3.session.Session().client(name, config=config)
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
        from chalicelib.outbound import OutboundPolicy
        return MigrationService(self.store, self.queue, self.data_root, self.vault, self.specs,
                                OutboundPolicy.from_settings(self.settings),
                                max_active_runs_per_tenant=self.settings.max_active_runs_per_tenant,
                                notices=self.notices)

    @cached_property
    def notices(self) -> RunEndNotices:
        """What the caller that ended a run does next: its event on the default bus, its webhook queued."""
        return RunEndNotices(EventBridgeBus(lambda: self.client("events")), self.queue, self.store)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.client("dynamodb"), self.settings.access_table_name)

    @cached_property
    def access(self) -> Access:
        limiter = RateLimiter(self.client("dynamodb"), self.settings.access_table_name,
                              self.settings.rate_limit_per_minute)
        return Access(self.settings.auth, self.keys, limiter, self.settings.iam_callers,
                      self.settings.cors_allow_origin)

    @cached_property
    def key_admin(self) -> KeyAdmin:
        return KeyAdmin(self.keys)

    @cached_property
    def worker(self) -> "Worker":
        import requests

        from chalicelib.worker import Worker
        return Worker(self.settings, self.store, self.queue, self.data_root, self.vault, checked_record_specs(),
                      requests.Session(), notices=self.notices)

    @cached_property
    def reaper(self) -> "Reaper":
        from chalicelib.reaper import Reaper
        return Reaper(self.store, self.vault, self.queue, self.settings.stalled_after_seconds,
                      self.settings.replan_after_seconds, notices=self.notices)

    @cached_property
    def health(self) -> Health:
        return Health(self.client("dynamodb"), self.settings.runs_table_name, self.client("sqs"),
                      self.settings.work_queue_name)


_specs: dict[str, RecordSpec] | None = None


def record_specs() -> dict[str, RecordSpec]:
    """The record-type specs, read and checked once per process: their structure, which is all the
    API needs (and needs no numpy)."""
    global _specs
    if _specs is None:
        _specs = load_specs(check_values=False)
    return _specs


_checked_specs: dict[str, RecordSpec] | None = None


def checked_record_specs() -> dict[str, RecordSpec]:
    """The specs with their values checked too (each default run through its field's rules, which takes
    the transform engine): what a worker maps records with."""
    global _checked_specs
    if _checked_specs is None:
        _checked_specs = load_specs(check_values=True)
    return _checked_specs


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
